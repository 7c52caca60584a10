//! The host end of a pod's veth (reference `setupHostVeth`): up, no router
//! advertisements, and per pod address the gateway with a full-length
//! prefix (every ptp veth of the node carries the same one, so the host
//! answers ARP and NDP for the gateway on each link, also with
//! `arp_ignore=1`) and a `scope host` route to the pod. Nothing else:
//! no subnet route, no proxy ARP, no rp_filter change.
//!
//! ```text
//! inet 10.244.0.1/32 scope global vethXXXXXXXX
//! 10.244.0.5 dev vethXXXXXXXX scope host
//! ```

use hostnet::netlink::{AddrFlags, LinkInfo, RouteSpec, scope};
use hostnet::{Netlink, sysctl};
use libcni::Error;

use crate::p2p::Link;

/// Bring the host end up, right after the pair is made: the pod end has
/// no carrier until both ends are up, and the kernel runs IPv6 DAD on the
/// pod's addresses only then.
pub fn up(nl: &Netlink, veth: &LinkInfo) -> Result<(), Error> {
    nl.set_up(veth.index)?;
    sysctl::disable_accept_ra(veth);
    Ok(())
}

/// Put the gateway addresses and pod routes of `links` on the host end.
/// A gateway address or route that is already there (two addresses of one
/// subnet) is kept.
pub fn configure(nl: &Netlink, veth: &LinkInfo, links: &[Link]) -> Result<(), Error> {
    for l in links {
        let gw = l.gw_host();
        match nl.addr_add(veth.index, gw, AddrFlags::NONE) {
            Ok(()) => {}
            Err(e) if e.is_exists() => {}
            Err(e) => {
                return Err(Error::from(e)
                    .context(format_args!("putting the gateway {gw} on {}", veth.name)));
            }
        }
        let to_pod = RouteSpec {
            oif: Some(veth.index),
            scope: Some(scope::HOST),
            ..RouteSpec::new(l.addr_host())
        };
        match nl.route_add(&to_pod) {
            Ok(()) => {}
            Err(e) if e.is_exists() => {}
            Err(e) => {
                return Err(Error::from(e).context(format_args!(
                    "adding the route to {} on {}",
                    l.addr.addr(),
                    veth.name
                )));
            }
        }
    }
    Ok(())
}

/// Forwarding on for each family of `links` (written only when off; never
/// turned off again, as the reference).
pub fn enable_forwarding(links: &[Link]) -> Result<(), Error> {
    for v4 in [true, false] {
        if let Some(l) = links.iter().find(|l| l.gw.is_ipv4() == v4) {
            sysctl::enable_forwarding(&l.gw)?;
        }
    }
    Ok(())
}
