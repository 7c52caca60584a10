//! One container's port forwarding as netfilter's driver runs it
//! ([`netfilter::Firewall`]): this plugin's iptables and nftables rule
//! sets, where DEL looks for state, and which options bar a backend.

use netfilter::driver::iptables::Iptables;
use netfilter::{Backend, Driver, Firewall};

use crate::config::PortmapConf;
use crate::iptables::PortmapNat;
use crate::nft::PortmapNft;
use crate::pod::{Pod, PodAddrs};

/// The forwarding of `pod`'s host ports to its `addrs` (empty on DEL,
/// which finds the state by name).
#[derive(Debug, Clone, Copy)]
pub struct Forward<'a> {
    /// The validated config.
    pub conf: &'a PortmapConf,
    /// The container and its names.
    pub pod: &'a Pod,
    /// Where traffic goes.
    pub addrs: PodAddrs,
}

impl Firewall for Forward<'_> {
    fn iptables(&self) -> impl Driver + '_ {
        Iptables(PortmapNat(*self))
    }

    fn nftables(&self) -> impl Driver + '_ {
        PortmapNft(*self)
    }

    /// iptables state is named after network + container: removing it is
    /// always safe, and free when nothing is there. nft state only carries
    /// the container ID (the reference's layout): touched only when
    /// nftables is this network's backend.
    fn may_hold_state(&self, backend: Backend) -> bool {
        backend == Backend::Iptables || Backend::choose(self.conf.backend) == Backend::Nftables
    }

    /// Options written for the other backend (the reference fails the same
    /// way once it knows the backend).
    fn unsupported_on(&self, backend: Backend) -> Option<String> {
        self.conf.check_backend(backend).err().map(|e| e.msg)
    }
}
