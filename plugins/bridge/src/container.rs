//! Inside the pod: interface sysctls, addresses, link up, DAD and routes
//! (the reference's `ConfigureIface`, plugins:pkg/ipam/ipam_linux.go).

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use libcni::{CniResult, Error};
use netkit::netlink::{AddrFlags, RouteSpec, scope};
use netkit::{NetNs, Netlink, sysctl};

/// How long to wait for IPv6 duplicate address detection (as the reference).
const DAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Interface sysctls written before the addresses go on: DAD on or off,
/// gratuitous ARP on link changes, and for IPv6 pods the switches that keep
/// IPv6 working (`disable_ipv6=0` on lo and the interface, addresses kept
/// when the link goes down). Written from inside the pod netns because
/// /proc/sys/net belongs to the namespace of the thread that opens it.
pub fn set_sysctls(
    netns: &NetNs,
    ifname: &str,
    enable_dad: bool,
    has_v6: bool,
) -> Result<(), Error> {
    netns.run(|| -> Result<(), Error> {
        let v6 = format!("net/ipv6/conf/{ifname}");
        // Best effort, as the reference: these keys are absent when the
        // kernel has IPv6 disabled.
        if enable_dad {
            let _ = sysctl::set(&format!("{v6}/enhanced_dad"), "1");
            let _ = sysctl::set(&format!("{v6}/accept_dad"), "1");
        } else {
            let _ = sysctl::set(&format!("{v6}/accept_dad"), "0");
        }
        let _ = sysctl::set(&format!("net/ipv4/conf/{ifname}/arp_notify"), "1");
        if has_v6 {
            sysctl::set("net/ipv6/conf/lo/disable_ipv6", "0")?;
            sysctl::set(&format!("{v6}/disable_ipv6"), "0")?;
            let _ = sysctl::set(&format!("{v6}/keep_addr_on_down"), "1");
        }
        Ok(())
    })?
}

/// Put the result's addresses and routes on link `index` (named `ifname`)
/// and bring it up. Routes without a gateway use the gateway of the first
/// address of their family, as the reference does. DAD is waited for only
/// when it is on and there is an IPv6 gateway to reach.
pub fn configure(
    nl: &Netlink,
    index: u32,
    result: &CniResult,
    enable_dad: bool,
) -> Result<(), Error> {
    for ip in &result.ips {
        match nl.addr_add(index, ip.address, AddrFlags::default()) {
            Ok(()) => {}
            Err(e) if e.is_exists() => {}
            Err(e) => return Err(e.into()),
        }
    }
    nl.set_up(index)?;
    let v6_gw = result
        .ips
        .iter()
        .any(|ip| !ip.is_v4() && ip.gateway.is_some());
    if enable_dad && v6_gw {
        nl.wait_dad(index, DAD_TIMEOUT)?;
    }
    for r in &result.routes {
        let gw = r.gw.or_else(|| default_gw(result, r.dst));
        let spec = RouteSpec {
            table: r.table,
            scope: r.scope,
            priority: (r.priority != 0).then_some(r.priority),
            mtu: (r.mtu != 0).then_some(r.mtu),
            advmss: (r.advmss != 0).then_some(r.advmss),
            ..RouteSpec::via(r.dst, gw, index)
        };
        nl.route_add_ecmp(&spec)
            .map_err(|e| Error::plugin(100, format!("adding route {} via {:?}: {e}", r.dst, gw)))?;
    }
    Ok(())
}

/// The gateway of the first address of `dst`'s family.
fn default_gw(result: &CniResult, dst: IpNet) -> Option<IpAddr> {
    result
        .ips
        .iter()
        .find(|ip| ip.address.addr().is_ipv4() == dst.addr().is_ipv4())
        .and_then(|ip| ip.gateway)
}

/// Global addresses of link `index` (what DEL tears masquerade down for).
pub fn global_addrs(nl: &Netlink, index: u32) -> Result<Vec<IpNet>, Error> {
    let mut out = Vec::new();
    for family in [netkit::netlink::Family::V4, netkit::netlink::Family::V6] {
        out.extend(
            nl.addrs(Some(index), family)?
                .into_iter()
                .filter(|a| a.scope == scope::UNIVERSE)
                .map(|a| a.addr),
        );
    }
    Ok(out)
}
