//! Real traffic through attachments made by our ptp binary: pod to pod
//! (routed through the host, both families), pod to node, pod to an
//! outside namespace through masquerade (both firewall backends), and the
//! MTU.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, SocketAddr};

use cni_sandbox::{TcpServer, result_ip, tcp_fails, tcp_retry, wait_not_tentative};
use common::*;
use serde_json::json;

#[test]
fn pods_reach_each_other_and_the_node_on_both_families() {
    let node = node();
    let conf = node.dual_conf(json!({}));
    let (a, b) = (node.sb.pod(), node.sb.pod());
    let ra = node.add("ctr-a", &a, &conf);
    let rb = node.add("ctr-b", &b, &conf);
    // The gateway's IPv6 address on each host end goes through DAD (as
    // with the reference) and answers neighbour solicitations only after.
    for r in [&ra, &rb] {
        wait_not_tentative(&node.sb.host, &host_veth(r));
    }

    for v4 in [true, false] {
        let (ipa, ipb) = (result_ip(&ra, v4), result_ip(&rb, v4));
        assert_ne!(ipa, ipb);
        // Pod to pod: routed through the host, never masqueraded (the
        // chain accepts the pod subnet before MASQUERADE).
        let server = TcpServer::start(&b, SocketAddr::new(ipb, 0));
        assert_eq!(tcp_retry(&a, server.addr).unwrap().seen_peer.ip(), ipa);
        // Pod to node, at the gateway address every host end carries.
        let gw: IpAddr = if v4 { GW4 } else { GW6 }.parse().unwrap();
        let server = TcpServer::start(&node.sb.host, SocketAddr::new(gw, 0));
        assert_eq!(tcp_retry(&a, server.addr).unwrap().seen_peer.ip(), ipa);
        // Node to pod, through the host route.
        let server = TcpServer::start(&a, SocketAddr::new(ipa, 0));
        assert!(tcp_retry(&node.sb.host, server.addr).is_ok(), "{ipa}");
    }
}

/// A pod reaches an outside namespace routed from the fake host; the
/// outside sees the node's address, with the rules in the backend asked
/// for. Without `ipMasq` the same probe fails (the outside has no route
/// back), so the test can tell masquerade from plain routing. A node
/// address that is not the gateway is reached unmasqueraded.
#[test]
fn masquerade_to_outside_on_both_backends() {
    let node = node();
    let out = node.sb.outside();
    let base = node.state();
    let node_ip: IpAddr = "192.0.2.1".parse().unwrap();

    for backend in ["iptables", "nftables"] {
        let conf = node.dual_conf(json!({"ipMasqBackend": backend}));
        let pod = node.sb.pod();
        let r = node.add("ctr-m", &pod, &conf);
        wait_not_tentative(&node.sb.host, &host_veth(&r));
        for (to, node_ip) in [
            ("192.0.2.2:0", "192.0.2.1"),
            ("[2001:db8:99::2]:0", "2001:db8:99::1"),
        ] {
            let server = TcpServer::start(&out, to.parse().unwrap());
            let seen = tcp_retry(&pod, server.addr).unwrap();
            assert_eq!(seen.seen_peer.ip().to_string(), node_ip, "{backend}");
        }
        // The node's own address: local delivery, no masquerade.
        let server = TcpServer::start(&node.sb.host, SocketAddr::new(node_ip, 0));
        let seen = tcp_retry(&pod, server.addr).unwrap();
        assert_eq!(seen.seen_peer.ip(), result_ip(&r, true), "{backend}");

        // The rules are in the backend asked for, and only there: the
        // chain named after the container, or a rule of `masq_checks`
        // commented with it.
        let st = node.state();
        let chain = netfilter::MasqInstance::new(NET, "ctr-m", "eth0")
            .unwrap()
            .chain()
            .to_string();
        let in_backends = (
            st.iptables.iter().any(|l| l.contains(&chain)),
            st.nft.iter().any(|l| l.contains("masq_checks")),
        );
        let want = (backend == "iptables", backend == "nftables");
        assert_eq!(in_backends, want, "{st:#?}");
        node.check("ctr-m", &pod, &conf, &r).expect_ok();
        node.del("ctr-m", &pod, &conf);
        node.assert_clean(&base, backend);
    }

    let conf = node.conf(json!({"ipMasq": false}));
    let pod = node.sb.pod();
    node.add("ctr-plain", &pod, &conf);
    let server = TcpServer::start(&out, "192.0.2.2:0".parse().unwrap());
    assert!(
        tcp_fails(&pod, server.addr),
        "reached the outside without masquerade: the test cannot tell"
    );
}

#[test]
fn mtu_is_set_on_both_veth_ends() {
    let node = node();
    let conf = node.conf(json!({"mtu": 1400}));
    let pod = node.sb.pod();
    node.add("ctr-mtu", &pod, &conf);
    // A full-size unfragmentable packet passes, one byte more does not.
    pod.sh_ok(&format!("ping -c1 -W2 -M do -s 1372 {GW4} >/dev/null"));
    let (ok, _, _) = pod.sh(&format!("ping -c1 -W1 -M do -s 1373 {GW4}"));
    assert!(!ok, "a 1401-byte packet left a 1400-MTU interface");
}
