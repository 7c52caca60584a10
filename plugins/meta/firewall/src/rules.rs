//! One attachment's rules as netfilter's driver runs them
//! ([`netfilter::Firewall`]): the reference's iptables layout
//! ([`crate::iptables`]) or the nftables backend ([`crate::nft`]), and
//! where teardown looks.

use std::net::IpAddr;

use netfilter::driver::iptables::shared::Shared;
use netfilter::{Backend, ChainName, Driver, Firewall, IfName};

use crate::backend::Used;
use crate::config::IngressPolicy;
use crate::iptables::FilterRules;
use crate::nft::NftRules;
use crate::pod::Pod;

/// What one attachment asks of the firewall.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// The attachment.
    pub pod: &'a Pod,
    /// Its addresses.
    pub ips: &'a [IpAddr],
    /// The accept path, with this admin chain (iptables); `None` with the
    /// firewalld backend, which only needs the isolation rules here.
    pub admin: Option<&'a ChainName>,
    /// The isolation rules of its bridge (ADD and CHECK; teardown leaves
    /// them, as the reference does: they are the bridge's).
    pub isolation: Option<(IngressPolicy, IfName)>,
    /// The backend ADD used, when its state file says (teardown looks
    /// only there); `None` looks on both.
    pub used: Option<Used>,
}

impl Firewall for Rules<'_> {
    fn iptables(&self) -> impl Driver + '_ {
        Shared(FilterRules {
            ips: self.ips,
            admin: self.admin,
            isolation: self.isolation.as_ref().map(|(p, b)| (*p, b)),
        })
    }

    fn nftables(&self) -> impl Driver + '_ {
        NftRules {
            pod: self.pod,
            ips: self.ips,
            admin: self.admin,
            isolation: self.isolation.as_ref().map(|(p, b)| (*p, b)),
        }
    }

    fn may_hold_state(&self, backend: Backend) -> bool {
        self.used.is_none_or(|u| u.netfilter() == Some(backend))
    }
}
