//! Inside the pod: interface sysctls, addresses, link up, DAD and the
//! IPAM routes (the reference's `ConfigureIface`,
//! plugins:pkg/ipam/ipam_linux.go, which bridge and ptp share).

use std::net::IpAddr;
use std::time::Duration;

use hostnet::netlink::{AddrFlags, Family, Inet6DevConf, InetDevConf, LinkInfo, RouteSpec, scope};
use hostnet::{NetNs, Netlink, sysctl};
use ipnet::IpNet;
use libcni::{CniResult, Error};

/// How long to wait for IPv6 duplicate address detection (as the reference).
pub const DAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The pod interface sysctls a plugin wants before the addresses go on.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodSysctls {
    /// `arp_notify=1`: a gratuitous ARP when the link comes up (bridge;
    /// ptp sets nothing of the kind since v1.1.0).
    pub arp_notify: bool,
    /// DAD on (`accept_dad=1`, `enhanced_dad=1`) or off (`accept_dad=0`);
    /// `None` leaves the kernel's default (ptp).
    pub dad: Option<bool>,
    /// The pod gets an IPv6 address: `disable_ipv6=0` on lo and the
    /// interface, and `keep_addr_on_down=1`.
    pub ipv6: bool,
}

/// Set the sysctls `want` asks for on `link` (in `netns`, where `nl` is a
/// socket).
///
/// The current values come with the link (`IFLA_AF_SPEC`) and only keys
/// that differ are written: each lookup under /proc/sys/net/ipv{4,6} walks
/// one cached dentry per namespace on the node, so reads there would make
/// ADD slower as the node fills. IPv4 keys are set over rtnetlink; IPv6
/// keys have no rtnetlink setter and are written under /proc/sys from
/// inside the pod netns (/proc/sys/net belongs to the namespace of the
/// thread that opens it).
pub fn set_sysctls(
    netns: &NetNs,
    nl: &Netlink,
    link: &LinkInfo,
    want: PodSysctls,
) -> Result<(), Error> {
    let ifname = &link.name;
    if want.arp_notify && link.ipv4_conf.is_none_or(|c| c.arp_notify != 1) {
        let mut c = InetDevConf::default();
        c.arp_notify = 1;
        // Best effort, as the reference.
        if let Err(e) = nl.set_ipv4_conf(link.index, c) {
            libcni::cni_warn!("setting arp_notify on {ifname}: {e}");
        }
    }

    // (key, value, required): keys that are not required are absent when
    // the kernel has IPv6 disabled, and the reference ignores them then.
    let v6 = format!("net/ipv6/conf/{ifname}");
    let cur = link.ipv6_conf;
    let differs = |get: fn(&Inet6DevConf) -> i32, want: i32| cur.is_none_or(|c| get(&c) != want);
    let mut writes: Vec<(String, &str, bool)> = Vec::new();
    match want.dad {
        Some(true) => {
            if differs(|c| c.enhanced_dad, 1) {
                writes.push((format!("{v6}/enhanced_dad"), "1", false));
            }
            if differs(|c| c.accept_dad, 1) {
                writes.push((format!("{v6}/accept_dad"), "1", false));
            }
        }
        Some(false) if differs(|c| c.accept_dad, 0) => {
            writes.push((format!("{v6}/accept_dad"), "0", false));
        }
        _ => {}
    }
    if want.ipv6 {
        let lo = nl.link_by_name("lo")?.ipv6_conf;
        if lo.is_none_or(|c| c.disable_ipv6 != 0) {
            writes.push(("net/ipv6/conf/lo/disable_ipv6".into(), "0", true));
        }
        if differs(|c| c.disable_ipv6, 0) {
            writes.push((format!("{v6}/disable_ipv6"), "0", true));
        }
        if differs(|c| c.keep_addr_on_down, 1) {
            writes.push((format!("{v6}/keep_addr_on_down"), "1", false));
        }
    }
    if writes.is_empty() {
        return Ok(());
    }
    netns.run(|| -> Result<(), Error> {
        for (key, value, required) in &writes {
            match sysctl::write(key, value) {
                Ok(()) => {}
                Err(e) if *required => return Err(e.into()),
                Err(_) => {}
            }
        }
        Ok(())
    })?
}

/// Put the result's addresses and routes on link `index` and bring it up.
/// Routes without a gateway use the gateway of the first address of their
/// family, as the reference does. DAD is waited for only when `wait_dad`
/// and there is an IPv6 gateway to reach.
pub fn configure(
    nl: &Netlink,
    index: u32,
    result: &CniResult,
    wait_dad: bool,
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
    if wait_dad && v6_gw {
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
        nl.route_add_ecmp(&spec).map_err(|e| {
            Error::from(e).context(format_args!("adding route {} via {:?}", r.dst, gw))
        })?;
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
    for family in [Family::V4, Family::V6] {
        out.extend(
            nl.addrs(Some(index), family)?
                .into_iter()
                .filter(|a| a.scope == scope::UNIVERSE)
                .map(|a| a.addr),
        );
    }
    Ok(out)
}
