//! Real traffic through host ports, on both backends: a server in a pod is
//! reached from an external host, from the node itself (127.0.0.1 and its
//! own address), from the same pod (hairpin) and from another pod, over
//! TCP and UDP, IPv4 and IPv6; hostIP restricts; masqAll masquerades
//! everything; and a UDP flow that hit the port before the pod existed
//! gets through after ADD (stale conntrack entry deleted).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;

use cni_sandbox::{TcpServer, UdpServer, tcp_probe, udp_probe, udp_probe_from};
use common::*;
use serde_json::{Value, json};

fn backend(name: &str) -> Value {
    json!({"backend": name})
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Every path, TCP and UDP, IPv4, for one backend.
fn all_paths_v4(backend_name: &str) {
    let node = Node::new(false);
    let maps = json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8081, "containerPort": 81, "protocol": "udp"}
    ]);
    let a = node.pod_with(&ours(), "podA", &maps, &backend(backend_name));
    let b = node.pod("podB");
    let _tcp = TcpServer::start(&a.ns, sa("0.0.0.0", 80));
    let _udp = UdpServer::start(&a.ns, sa("0.0.0.0", 81));
    let host = &node.sb.host;
    let ctx = |what: &str| format!("{backend_name}: {what}");

    // External client: no masquerade, the pod sees the client.
    let p = tcp_probe(&node.ext, sa(HOST4, 8080), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("tcp external")));
    assert_eq!(seen(&p), ip(EXT4), "{}", ctx("tcp external source"));
    let p = udp_probe(&node.ext, sa(HOST4, 8081), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("udp external")));
    assert_eq!(seen(&p), ip(EXT4));

    // The node itself via 127.0.0.1 (route_localnet + masquerade).
    let p = tcp_probe(host, sa("127.0.0.1", 8080), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("tcp localhost")));
    assert_eq!(seen(&p), ip(GW4), "{}", ctx("localhost is masqueraded"));
    let p = udp_probe(host, sa("127.0.0.1", 8081), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("udp localhost")));
    assert_eq!(seen(&p), ip(GW4));
    assert_eq!(host.sysctl("net/ipv4/conf/cnibr0/route_localnet"), "1");

    // The node via its own address.
    let p = tcp_probe(host, sa(HOST4, 8080), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("tcp own address")));
    assert_eq!(seen(&p), ip(HOST4));
    udp_probe(host, sa(HOST4, 8081), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("udp own address")));

    // Hairpin: the pod through its own host port, masqueraded.
    let p = tcp_probe(&a.ns, sa(HOST4, 8080), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("tcp hairpin")));
    assert_eq!(seen(&p), ip(GW4), "{}", ctx("hairpin is masqueraded"));
    let p = udp_probe(&a.ns, sa(HOST4, 8081), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("udp hairpin")));
    assert_eq!(seen(&p), ip(GW4));

    // Another pod through the host port (also via the gateway address).
    let p = tcp_probe(&b.ns, sa(HOST4, 8080), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("tcp other pod")));
    assert_eq!(seen(&p), ip(GW4));
    tcp_probe(&b.ns, sa(GW4, 8080), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("tcp other pod via gateway")));
    udp_probe(&b.ns, sa(HOST4, 8081), OK)
        .unwrap_or_else(|e| panic!("{}: {e}", ctx("udp other pod")));

    // DEL: the port is closed again on every path.
    node.del(&ours(), &a, &maps, &backend(backend_name), true)
        .expect_ok();
    assert!(tcp_probe(&node.ext, sa(HOST4, 8080), FAIL).is_err());
    assert!(tcp_probe(host, sa("127.0.0.1", 8080), FAIL).is_err());
    assert!(udp_probe(&node.ext, sa(HOST4, 8081), FAIL).is_err());
}

#[test]
fn all_paths_iptables() {
    all_paths_v4("iptables");
}

#[test]
fn all_paths_nftables() {
    all_paths_v4("nftables");
}

/// The same without br_netfilter (bridged traffic not seen by the IP
/// hooks): pod to pod through the host port still works on both backends.
#[test]
fn other_pod_without_br_netfilter() {
    for b in ["iptables", "nftables"] {
        let node = Node::new(false);
        node.sb
            .host
            .sh_ok("sysctl -qw net.bridge.bridge-nf-call-iptables=0");
        let maps = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
        let a = node.pod_with(&ours(), "podA", &maps, &backend(b));
        let other = node.pod("podB");
        let _s = TcpServer::start(&a.ns, sa("0.0.0.0", 80));
        let p = tcp_probe(&other.ns, sa(HOST4, 8080), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert_eq!(seen(&p), ip(GW4), "{b}");
    }
}

#[test]
fn ipv6_paths_on_both_backends() {
    for b in ["iptables", "nftables"] {
        let node = Node::new(true);
        let maps = json!([
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
            {"hostPort": 8081, "containerPort": 81, "protocol": "udp"}
        ]);
        let a = node.pod_with(&ours(), "podA", &maps, &backend(b));
        let other = node.pod("podB");
        let _tcp = TcpServer::start(&a.ns, sa("::", 80));
        let _udp6 = UdpServer::start(&a.ns, sa("::", 81));
        let p = tcp_probe(&node.ext, sa(HOST6, 8080), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert_eq!(seen(&p), ip(EXT6), "{b}");
        let p = udp_probe(&node.ext, sa(HOST6, 8081), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert_eq!(seen(&p), ip(EXT6), "{b}");
        tcp_probe(&node.sb.host, sa(HOST6, 8080), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        let p = tcp_probe(&a.ns, sa(HOST6, 8080), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert_eq!(seen(&p), ip(GW6), "{b}: v6 hairpin is masqueraded");
        tcp_probe(&other.ns, sa(HOST6, 8080), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        // The same pod over IPv4 too (dual stack: one mapping, both families).
        let p = tcp_probe(&node.ext, sa(HOST4, 8080), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert_eq!(seen(&p), ip(EXT4));
        node.del(&ours(), &a, &maps, &backend(b), true).expect_ok();
        assert!(tcp_probe(&node.ext, sa(HOST6, 8080), FAIL).is_err(), "{b}");
    }
}

#[test]
fn host_ip_restricts_to_that_address() {
    for b in ["iptables", "nftables"] {
        let node = Node::new(true);
        let maps = json!([
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": HOST4_B},
            {"hostPort": 8082, "containerPort": 80, "protocol": "tcp", "hostIP": HOST6}
        ]);
        let a = node.pod_with(&ours(), "podA", &maps, &backend(b));
        let _s = TcpServer::start(&a.ns, sa("::", 80));
        tcp_probe(&node.ext, sa(HOST4_B, 8080), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert!(
            tcp_probe(&node.ext, sa(HOST4, 8080), FAIL).is_err(),
            "{b}: reachable on another host address"
        );
        tcp_probe(&node.ext, sa(HOST6, 8082), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        // An IPv6 hostIP does not open the port on IPv4.
        assert!(tcp_probe(&node.ext, sa(HOST4, 8082), FAIL).is_err(), "{b}");
    }
}

#[test]
fn masq_all_masquerades_external_clients() {
    for b in ["iptables", "nftables"] {
        let node = Node::new(false);
        let maps = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
        let extra = json!({"backend": b, "masqAll": true});
        let a = node.pod_with(&ours(), "podA", &maps, &extra);
        let _s = TcpServer::start(&a.ns, sa("0.0.0.0", 80));
        let p = tcp_probe(&node.ext, sa(HOST4, 8080), OK).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert_eq!(seen(&p), ip(GW4), "{b}: masqAll");
        // Direct pod traffic (no host port) is not masqueraded.
        let other = node.pod("podB");
        let direct = sa(&a.ip(false).to_string(), 80);
        let p = tcp_probe(&other.ns, direct, OK).unwrap();
        assert_eq!(seen(&p), other.ip(false), "{b}: direct traffic");
    }
}

#[test]
fn containerd_keys_work() {
    let node = Node::new(false);
    let maps = json!([{"HostPort": 8083, "ContainerPort": 80, "Protocol": "TCP", "HostIP": ""}]);
    let a = node.pod_with(&ours(), "podA", &maps, &json!({}));
    let _s = TcpServer::start(&a.ns, sa("0.0.0.0", 80));
    tcp_probe(&node.ext, sa(HOST4, 8083), OK).unwrap();
    node.del(&ours(), &a, &maps, &json!({}), false).expect_ok();
    assert!(tcp_probe(&node.ext, sa(HOST4, 8083), FAIL).is_err());
}

/// A UDP flow that reached the host port before the pod existed left a
/// conntrack entry without NAT; after ADD the same flow (same source
/// port) reaches the pod, and DEL removes the flow's DNAT-ed entry.
#[test]
fn stale_udp_conntrack_is_flushed() {
    for b in ["iptables", "nftables"] {
        let node = Node::new(false);
        let extra = backend(b);
        // Some nat state so that conntrack runs in the host.
        let maps_other = json!([{"hostPort": 9090, "containerPort": 90, "protocol": "tcp"}]);
        let _other = node.pod_with(&ours(), "other", &maps_other, &extra);
        let client = sa(EXT4, 40000);
        assert!(udp_probe_from(&node.ext, Some(client), sa(HOST4, 8081), FAIL).is_err());
        let before = node
            .sb
            .host
            .sh_ok("conntrack -L -p udp --dport 8081 2>/dev/null");
        assert!(
            before.contains("sport=40000"),
            "{b}: no stale entry: {before}"
        );

        let maps = json!([{"hostPort": 8081, "containerPort": 81, "protocol": "udp"}]);
        let a = node.pod_with(&ours(), "podA", &maps, &extra);
        let _udp = UdpServer::start(&a.ns, sa("0.0.0.0", 81));
        let p = udp_probe_from(&node.ext, Some(client), sa(HOST4, 8081), OK)
            .unwrap_or_else(|e| panic!("{b}: the old flow is still blackholed: {e}"));
        assert_eq!(seen(&p), ip(EXT4));
        let during = node
            .sb
            .host
            .sh_ok("conntrack -L -p udp --dport 8081 2>/dev/null");
        assert!(
            during.contains(&format!("src={}", a.ip(false))),
            "{b}: {during}"
        );

        node.del(&ours(), &a, &maps, &extra, true).expect_ok();
        let after = node
            .sb
            .host
            .sh_ok("conntrack -L -p udp --dport 8081 2>/dev/null");
        assert!(!after.contains("dport=8081"), "{b}: DEL left {after}");
    }
}
