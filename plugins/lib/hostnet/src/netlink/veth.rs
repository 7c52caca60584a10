//! A veth pair whose far end gets a random `veth%08x` name, as the
//! reference names the host end of every pod's veth (bridge, ptp). The
//! kernel is the only judge of a free name: the pair is created with
//! `NLM_F_EXCL` and a taken random name is retried, so two ADDs racing on
//! one node can never share a name.

use std::io;

use super::link::{LinkInfo, VethSpec};
use super::{Netlink, NetlinkError};
use crate::mac::MacAddr;
use crate::netns::NetNs;
use crate::random;

/// How many random names to try when one is taken (the reference tries 10).
pub const RANDOM_PEER_TRIES: usize = 10;

/// A pair made by [`Netlink::create_veth_random_peer`].
#[derive(Debug, Clone)]
pub struct VethPair {
    /// The end created in the handle's namespace, as the kernel made it.
    pub local: LinkInfo,
    /// The random name the far end got.
    pub peer_name: String,
}

/// Why a veth pair with a random far-end name could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VethPairError {
    /// The local name is taken in the handle's namespace: retrying with
    /// another random name cannot help.
    #[error("interface {name:?} already exists")]
    NameTaken {
        /// The local name.
        name: String,
    },
    /// Every random name tried was taken in the peer's namespace.
    #[error("no free host veth name after {tries} tries: {last}")]
    NoFreeName {
        /// How many names were tried.
        tries: usize,
        /// The kernel's answer to the last try.
        last: NetlinkError,
    },
    /// The kernel gave no random bytes for a name.
    #[error("reading random bytes for a veth name: {0}")]
    Random(io::Error),
    /// Any other refusal (bad name, MTU out of range, no veth support).
    #[error(transparent)]
    Netlink(NetlinkError),
}

impl Netlink {
    /// Create a veth pair from this handle's namespace: the local end is
    /// `name` (with `mac`, or a kernel-random MAC), the far end gets a
    /// random `veth%08x` name ([`random::veth_name`]) and is created
    /// directly in `peer_netns` (beside the local end when `None`). `mtu`
    /// goes on both ends (kernel default when `None`). A taken far-end name
    /// is retried up to [`RANDOM_PEER_TRIES`] times; a taken local name is
    /// reported at once as [`VethPairError::NameTaken`].
    pub fn create_veth_random_peer(
        &self,
        name: &str,
        peer_netns: Option<&NetNs>,
        mac: Option<MacAddr>,
        mtu: Option<u32>,
    ) -> Result<VethPair, VethPairError> {
        let mut last = None;
        for _ in 0..RANDOM_PEER_TRIES {
            let peer = random::veth_name().map_err(VethPairError::Random)?;
            let spec = VethSpec {
                name,
                peer_name: &peer,
                peer_netns,
                mac,
                peer_mac: None,
                mtu,
            };
            match self.create_veth(&spec) {
                Ok(local) => {
                    return Ok(VethPair {
                        local,
                        peer_name: peer,
                    });
                }
                // EEXIST names neither end: if ours is there, stop.
                Err(e) if e.is_exists() => {
                    if self.link_by_name(name).is_ok() {
                        return Err(VethPairError::NameTaken {
                            name: name.to_string(),
                        });
                    }
                    last = Some(e);
                }
                Err(e) => return Err(VethPairError::Netlink(e)),
            }
        }
        Err(match last {
            Some(last) => VethPairError::NoFreeName {
                tries: RANDOM_PEER_TRIES,
                last,
            },
            // Unreachable with RANDOM_PEER_TRIES > 0; said plainly anyway.
            None => VethPairError::Netlink(NetlinkError::new(
                format!("create veth {name:?}"),
                None,
                "no attempt was made",
            )),
        })
    }
}
