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

use libcni::Error;
use netkit::Netlink;
use netkit::firewall::IfName;
use netkit::sysctl;

/// The interface the kernel routes `ip` through, if any.
pub fn route_interface(ip: Ipv4Addr) -> Option<IfName> {
    let nl = Netlink::new().ok()?;
    let route = nl.route_get(ip.into()).ok()?;
    let link = nl.link_by_index(route.oif?).ok()?;
    IfName::new(&link.name).ok()
}

/// Set `net.ipv4.conf.<ifname>.route_localnet = 1` (written only when it
/// is not already on).
pub fn enable_route_localnet(ifname: &IfName) -> Result<(), Error> {
    // Slashes: an interface name may contain dots (`br0.100`).
    let key = format!("net/ipv4/conf/{ifname}/route_localnet");
    sysctl::set(&key, "1").map(|_| ()).map_err(|e| {
        Error::plugin(
            netkit::firewall::CODE_FIREWALL,
            format!("unable to enable route_localnet on {ifname}: {e}"),
        )
    })
}
