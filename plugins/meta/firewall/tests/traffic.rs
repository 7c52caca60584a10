//! Real traffic on a fake node whose FORWARD policy is DROP (what Docker
//! or a hardened distribution sets): the reason the plugin exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use cni_sandbox::{Call, TcpServer, plugin_dir};
use common::*;
use serde_json::json;

#[test]
fn a_pod_reaches_the_outside_only_with_firewall_in_the_chain() {
    let node = Node::new();
    node.forward_drop();
    let out = node.sb.outside();
    let server = TcpServer::start(&out, "192.0.2.2:0".parse().unwrap());
    let bare = node.network("bare", "cnibr0", "10.88.1.0/24", None);
    let (pod, _) = node.add(&bare, "c-bare");
    assert!(blocked(&pod, server.addr), "FORWARD DROP let the pod out");
    for backend in ["", "iptables", "nftables"] {
        let fw = node.network(
            "withfw",
            "cnibr1",
            "10.88.2.0/24",
            Some(json!({"backend": backend})),
        );
        let (pod, _) = node.add(&fw, "c-fw");
        assert!(reaches(&pod, server.addr), "backend {backend:?}");
        node.check(&fw, "c-fw", &pod).unwrap();
        node.del(&fw, "c-fw", &pod);
    }
    node.del(&bare, "c-bare", &pod);
}

#[test]
fn same_bridge_stops_traffic_between_bridges_and_allows_the_uplink() {
    for backend in ["iptables", "nftables"] {
        let node = Node::new();
        node.forward_drop();
        let out = node.sb.outside();
        let uplink = TcpServer::start(&out, "192.0.2.2:0".parse().unwrap());
        let policy = Some(json!({"ingressPolicy": "same-bridge", "backend": backend}));
        let a = node.network("neta", "cnibra", "10.88.1.0/24", policy.clone());
        let b = node.network("netb", "cnibrb", "10.88.2.0/24", policy);
        let (a1, _) = node.add(&a, "a1");
        let (a2, a2_ip) = node.add(&a, "a2");
        let (b1, b1_ip) = node.add(&b, "b1");
        let in_b = TcpServer::start(&b1, SocketAddr::new(b1_ip, 0));
        let in_a = TcpServer::start(&a2, SocketAddr::new(a2_ip, 0));
        assert!(
            blocked(&a1, in_b.addr),
            "{backend}: a pod crossed to another bridge"
        );
        assert!(
            reaches(&a1, uplink.addr),
            "{backend}: the uplink is blocked"
        );
        assert!(
            reaches(&b1, uplink.addr),
            "{backend}: the uplink is blocked"
        );
        assert!(reaches(&a1, in_a.addr), "{backend}: same bridge blocked");
        node.check(&a, "a1", &a1).unwrap();
        for (list, cid, pod) in [(&a, "a1", &a1), (&a, "a2", &a2), (&b, "b1", &b1)] {
            node.del(list, cid, pod);
        }
    }
}

/// `isolated` also stops traffic between two pods of one bridge, which
/// reaches the IP hooks only through br_netfilter with
/// `net.bridge.bridge-nf-call-iptables=1`. The finding on this kernel:
/// br_netfilter is built in and every new namespace starts with the key at
/// 1, so the rule works; with the key at 0 the pods talk and ADD says why
/// on stderr.
#[test]
fn isolated_needs_bridge_netfilter() {
    let node = Node::new();
    assert_eq!(
        node.sb.host.sysctl("net/bridge/bridge-nf-call-iptables"),
        "1",
        "a fresh namespace of this kernel has bridge-nf-call-iptables at 1"
    );
    node.forward_drop();
    let net = node.network(
        "iso",
        "cnibri",
        "10.88.3.0/24",
        Some(json!({"ingressPolicy": "isolated"})),
    );
    let (p1, _) = node.add(&net, "p1");
    let (p2, p2_ip) = node.add(&net, "p2");
    let server = TcpServer::start(&p2, SocketAddr::new(p2_ip, 0));
    assert!(
        blocked(&p1, server.addr),
        "isolated let two pods of one bridge talk"
    );
    node.sb
        .host
        .sh_ok("sysctl -qw net.bridge.bridge-nf-call-iptables=0");
    assert!(
        reaches(&p1, server.addr),
        "without br_netfilter the bridge forwards on its own"
    );
    // ADD warns when the key is off.
    let pod = node.sb.pod();
    let conf = conf(
        "iso",
        &node.state,
        json!({"ingressPolicy": "isolated"}),
        Some(prev("cnibri", &["10.88.3.77/24"])),
    );
    let run = Call::attach("ADD", "p3", pod.path_str(), "eth0", &plugin_dir()).run(
        &node.sb.host,
        &ours(),
        &conf.to_string(),
    );
    run.expect_ok();
    assert!(
        run.stderr
            .contains("net.bridge.bridge-nf-call-iptables is 0"),
        "{}",
        run.stderr
    );
    Call::attach("DEL", "p3", pod.path_str(), "eth0", &plugin_dir())
        .run(&node.sb.host, &ours(), &conf.to_string())
        .expect_ok();
    node.del(&net, "p1", &p1);
    node.del(&net, "p2", &p2);
}
