//! Links, routes and sysctls of the namespace the doctor runs in, through
//! hostnet: one rtnetlink socket, one link dump, one route dump.

use std::path::Path;

use hostnet::Netlink;
use hostnet::netlink::{Family, LinkInfo, RouteInfo};

use super::Unread;

/// `net.ipv4.ip_forward`: routing between interfaces for IPv4. Off, the
/// kernel drops every packet it would have to forward (`ip_forward()` is
/// never reached: `ip_route_input` gives such packets no forwarding route).
pub const IP_FORWARD: &str = "net/ipv4/ip_forward";
/// `net.ipv6.conf.all.forwarding`: the same for IPv6.
pub const IPV6_FORWARDING: &str = "net/ipv6/conf/all/forwarding";
/// `net.bridge.bridge-nf-call-iptables`: with br_netfilter loaded, bridged
/// IPv4 frames also traverse the iptables/nftables IP hooks (a setting of
/// each network namespace on current kernels). The directory `net/bridge`
/// exists only while br_netfilter is loaded (or built in): the module
/// registers these sysctls.
pub const BRIDGE_NF_IPTABLES: &str = "net/bridge/bridge-nf-call-iptables";
/// `net.bridge.bridge-nf-call-ip6tables`: the same for IPv6.
pub const BRIDGE_NF_IP6TABLES: &str = "net/bridge/bridge-nf-call-ip6tables";

/// One link dump and one route dump (every table, both families).
pub fn links_and_routes() -> (
    Result<Vec<LinkInfo>, Unread>,
    Result<Vec<RouteInfo>, Unread>,
) {
    let nl = match Netlink::new() {
        Ok(nl) => nl,
        Err(e) => {
            let why = e.to_string();
            return (
                Err(Unread::new("links", why.clone())),
                Err(Unread::new("routes", why)),
            );
        }
    };
    let links = nl.links().map_err(|e| Unread::new("links", e.to_string()));
    let routes = nl
        .routes(Family::All, None)
        .map_err(|e| Unread::new("routes", e.to_string()));
    (links, routes)
}

/// Read sysctl `key` (slash form): from the kernel (as seen from the
/// calling thread's namespace: procfs resolves `/proc/sys/net` per task)
/// or from files under `root`. `Ok(None)` when the key does not exist.
pub fn sysctl(root: Option<&Path>, key: &str) -> Result<Option<String>, Unread> {
    let what = || format!("sysctl {}", key.replace('/', "."));
    match root {
        None => match hostnet::sysctl::get(key) {
            Ok(v) => Ok(Some(v.trim().to_string())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(Unread::new(what(), e.to_string())),
        },
        Some(root) => match std::fs::read_to_string(root.join(key)) {
            Ok(v) => Ok(Some(v.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Unread::new(what(), e.to_string())),
        },
    }
}

/// The dotted form of a sysctl key, as `sysctl -w` takes it.
pub fn dotted(key: &str) -> String {
    key.replace('/', ".")
}

/// Whether a link is an overlay device whose MTU bounds what pods can
/// send across nodes: VXLAN (flannel.1), Geneve, WireGuard, IP-in-IP.
pub fn is_overlay(link: &LinkInfo) -> bool {
    matches!(
        link.kind.as_deref(),
        Some("vxlan" | "geneve" | "wireguard" | "ipip" | "ip6tnl" | "gre" | "ip6gre")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sysctls_from_a_fake_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net/ipv4")).unwrap();
        std::fs::write(dir.path().join(IP_FORWARD), "1\n").unwrap();
        assert_eq!(
            sysctl(Some(dir.path()), IP_FORWARD).unwrap().as_deref(),
            Some("1")
        );
        assert_eq!(sysctl(Some(dir.path()), BRIDGE_NF_IPTABLES).unwrap(), None);
        assert_eq!(
            dotted(BRIDGE_NF_IPTABLES),
            "net.bridge.bridge-nf-call-iptables"
        );
    }

    #[test]
    fn kernel_sysctls_read_and_absent() {
        assert_eq!(
            sysctl(None, "kernel/ostype").unwrap().as_deref(),
            Some("Linux")
        );
        assert_eq!(sysctl(None, "net/nonexistent/key").unwrap(), None);
    }
}
