//! Veth pairs with a reference-style random host name (`veth%08x`).

use crate::code;
use hostnet::netlink::VethSpec;
use hostnet::{MacAddr, NetNs, Netlink, random};
use libcni::Error;

/// How many random names to try when one is taken (the reference tries 10).
const NAME_TRIES: usize = 10;

/// Create a veth pair from `nl`'s namespace: the local end is `name` (with
/// `mac`), the peer gets a random `veth%08x` name and is created directly
/// in `peer_netns` (or beside the local end when `None`). Returns the
/// peer's name. A taken local name is reported as such; a taken random
/// name is retried.
pub fn create_with_random_peer(
    nl: &Netlink,
    name: &str,
    peer_netns: Option<&NetNs>,
    mac: Option<MacAddr>,
    mtu: u32,
) -> Result<String, Error> {
    let mut last = None;
    for _ in 0..NAME_TRIES {
        let peer = random::veth_name().map_err(|e| {
            Error::plugin(
                code::VETH_NAME,
                format!("reading random bytes for a veth name: {e}"),
            )
        })?;
        let spec = VethSpec {
            name,
            peer_name: &peer,
            peer_netns,
            mac,
            peer_mac: None,
            mtu: (mtu != 0).then_some(mtu),
        };
        match nl.create_veth(&spec) {
            Ok(_) => return Ok(peer),
            Err(e) if e.is_exists() => {
                // Either end may be the taken one: if it is ours, stop.
                if nl.link_by_name(name).is_ok() {
                    return Err(Error::plugin(
                        code::INTERFACE_EXISTS,
                        format!(
                            "interface {name:?} already exists in the container network namespace"
                        ),
                    ));
                }
                last = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or_else(
        || Error::plugin(code::VETH_NAME, "could not create a veth pair"),
        |e| {
            Error::plugin(
                code::VETH_NAME,
                format!("no free host veth name after {NAME_TRIES} tries: {e}"),
            )
        },
    ))
}
