//! A small blocking rtnetlink layer: exactly the link, address, route,
//! bridge and traffic control ([`tc`]) operations the plugins need (and
//! veth pairs with the reference's random host names), over
//! `netlink-packet-route` message types, with one socket per network
//! namespace (ARCHITECTURE.md principle 2).
//!
//! Every operation is one request answered by the kernel (an ACK, an
//! error, or the requested object) or one dump; nothing sleeps or polls.
//! The two waits ([`Netlink::wait_dad`], [`Netlink::wait_oper_up`]) join
//! a multicast group first, then look at the current state, then block on
//! the socket until the kernel reports a change or the deadline passes.
//!
//! Errors are [`NetlinkError`]s naming the operation and object, with the
//! kernel's errno (and extended-ACK text when given).

mod addr;
mod bridge;
mod error;
mod ifb;
mod link;
mod route;
mod socket;
pub mod tc;
mod veth;
mod wait;

pub use addr::{AddrFlags, AddrInfo, Family};
pub use bridge::{BridgePortInfo, BridgePortSettings, VlanEntry};
pub use error::NetlinkError;
pub use ifb::IfbSpec;
pub use link::{LinkInfo, OperState, VethSpec};
/// Per-link IPv4 and IPv6 settings as rtnetlink carries them ([`LinkInfo::ipv4_conf`]).
pub use netlink_packet_route::link::{Inet6DevConf, InetDevConf};
pub use route::{NextHop, RouteInfo, RouteSpec, TABLE_LOCAL, TABLE_MAIN};
pub use veth::{RANDOM_PEER_TRIES, VethPair, VethPairError};

/// `RT_SCOPE_*` values, for addresses and routes.
pub mod scope {
    /// Global.
    pub const UNIVERSE: u8 = 0;
    /// Site-local (IPv6 legacy).
    pub const SITE: u8 = 200;
    /// Directly attached network.
    pub const LINK: u8 = 253;
    /// This host only.
    pub const HOST: u8 = 254;
    /// No destination (also the wildcard in route deletes).
    pub const NOWHERE: u8 = 255;
}

use crate::netns::NetNs;
use error::Fail;
use socket::Socket;

/// A netlink handle bound to one network namespace.
#[derive(Debug)]
pub struct Netlink {
    sock: Socket,
    /// The namespace of `sock` when it is not the one the handle was made
    /// in, so that waits can open their event socket beside it.
    ns: Option<NetNs>,
}

impl Netlink {
    /// A handle on the calling thread's current network namespace.
    pub fn new() -> Result<Netlink, NetlinkError> {
        let sock = Socket::open().map_err(|e| Fail::io(&e).during("open a netlink socket"))?;
        Ok(Netlink { sock, ns: None })
    }

    /// A handle on `ns`: the thread enters `ns` only to open the socket
    /// and is back in its own namespace when this returns (also on error).
    pub fn in_netns(ns: &NetNs) -> Result<Netlink, NetlinkError> {
        let ns2 = ns.try_clone().map_err(|e| {
            NetlinkError::new(
                format!("duplicate the handle of {}", ns.path().display()),
                io_errno(&e),
                e.to_string(),
            )
        })?;
        match ns.run(Socket::open) {
            Ok(Ok(sock)) => Ok(Netlink {
                sock,
                ns: Some(ns2),
            }),
            Ok(Err(e)) => Err(Fail::io(&e).during(format_args!(
                "open a netlink socket in {}",
                ns.path().display()
            ))),
            Err(e) => Err(NetlinkError::new(
                format!("enter network namespace {}", ns.path().display()),
                io_errno(&e),
                e.to_string(),
            )),
        }
    }
}

fn io_errno(e: &crate::netns::NetNsError) -> Option<i32> {
    match e {
        crate::netns::NetNsError::NotFound { .. } => Some(libc::ENOENT),
        crate::netns::NetNsError::Io { source, .. } => source.raw_os_error(),
        crate::netns::NetNsError::NotNetns { .. } => Some(libc::EINVAL),
    }
}
