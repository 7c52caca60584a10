//! `route_localnet` on the host interface that routes to the pod, so that
//! connections to `127.0.0.1:<hostPort>` can be DNAT-ed to the pod (the
//! kernel otherwise treats 127/8 as martian once it leaves `lo`;
//! ip-sysctl.rst `route_localnet`). IPv4 only: IPv6 has no equivalent and
//! `::1` cannot be forwarded.
//!
//! The interface is the one the kernel would send the pod address to
//! (RTM_GETROUTE, as the reference's `RouteGet`). No route, or no such
//! link, means there is nothing to set (the reference does the same).

use std::net::Ipv4Addr;

use hostnet::Netlink;
use hostnet::netlink::{InetDevConf, LinkInfo};
use libcni::Error;

/// The link the kernel routes `ip` through, if any, with its settings.
pub fn route_interface(ip: Ipv4Addr) -> Option<(Netlink, LinkInfo)> {
    let nl = Netlink::new().ok()?;
    let route = nl.route_get(ip.into()).ok()?;
    let link = nl.link_by_index(route.oif?).ok()?;
    Some((nl, link))
}

/// Set `net.ipv4.conf.<link>.route_localnet = 1` unless it is already on.
/// Read from the link and written over rtnetlink rather than under
/// /proc/sys/net/ipv4, where every lookup walks one cached dentry per
/// namespace on the node.
pub fn enable_route_localnet(nl: &Netlink, link: &LinkInfo) -> Result<(), Error> {
    if link.ipv4_conf.is_some_and(|c| c.route_localnet == 1) {
        return Ok(());
    }
    let mut c = InetDevConf::default();
    c.route_localnet = 1;
    // A netlink failure: the host kit's NETLINK code.
    nl.set_ipv4_conf(link.index, c).map_err(|e| {
        Error::from(e).context(format!("unable to enable route_localnet on {}", link.name))
    })
}
