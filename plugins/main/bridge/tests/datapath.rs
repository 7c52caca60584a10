//! Real traffic through attachments made by our bridge binary: pod to pod,
//! pod to gateway, pod to an outside namespace through masquerade (both
//! firewall backends), MTU, dual-stack, hairpin and VLANs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, SocketAddr};

use cni_sandbox::{TcpServer, kernel_has_vlan_filtering, result_ip};
use common::*;
use serde_json::json;

#[test]
fn two_pods_talk_and_reach_the_gateway() {
    let node = Node::new();
    let conf = node.conf(json!({}));
    let (a, b) = (node.sb.pod(), node.sb.pod());
    let ra = node.add("ctr-a", &a, &conf);
    let rb = node.add("ctr-b", &b, &conf);

    let (ipa, ipb) = (result_ip(&ra, true), result_ip(&rb, true));
    assert_ne!(ipa, ipb);
    let server = TcpServer::start(&b, SocketAddr::new(ipb, 0));
    let seen = tcp(&a, server.addr).unwrap();
    assert_eq!(seen.seen_peer.ip(), ipa, "pod to pod is not masqueraded");

    // The gateway (first address of the subnet) lives on the bridge, and
    // both host veths are its ports.
    assert_eq!(global_addrs(&node.sb.host, "cni0"), ["10.88.0.1/24"]);
    for r in [&ra, &rb] {
        let port = node.sb.host.link(&host_veth(r)).unwrap();
        assert_eq!(port["master"], "cni0", "{port}");
    }
    assert_eq!(node.sb.host.sysctl("net/ipv4/ip_forward"), "1");
    let gw = TcpServer::start(&node.sb.host, "10.88.0.1:0".parse().unwrap());
    assert_eq!(tcp(&a, gw.addr).unwrap().seen_peer.ip(), ipa);
}

/// A pod reaches an outside namespace routed from the fake host; the
/// outside sees the node's address, with the rules in the backend asked
/// for. Without `ipMasq` the same probe fails (the outside has no route
/// back), so the test can tell masquerade from plain routing.
#[test]
fn masquerade_to_outside_on_both_backends() {
    let node = Node::new();
    let out = node.outside();
    let server = TcpServer::start(&out, "192.0.2.2:0".parse().unwrap());
    let base = node.state();
    let node_ip: IpAddr = "192.0.2.1".parse().unwrap();

    for backend in ["iptables", "nftables"] {
        let conf = node.conf(json!({"isDefaultGateway": true, "ipMasqBackend": backend}));
        let pod = node.sb.pod();
        let r = node.add("ctr-m", &pod, &conf);
        let seen = tcp(&pod, server.addr).unwrap();
        assert_eq!(seen.seen_peer.ip(), node_ip, "{backend}");

        let st = node.state();
        let ipt_chain = st.iptables.iter().any(|l| l.starts_with("4 :CNI-"));
        let nft_rule = st
            .nft
            .iter()
            .any(|l| l.contains("masq_checks") && l.contains("ctr-m"));
        match backend {
            "iptables" => assert!(ipt_chain && !nft_rule, "{st:#?}"),
            _ => assert!(nft_rule && !ipt_chain, "{st:#?}"),
        }
        node.check("ctr-m", &pod, &conf, &r).expect_ok();
        node.del("ctr-m", &pod, &conf);
        node.assert_clean(&base, backend);
    }

    let conf = node.conf(json!({"isDefaultGateway": true, "ipMasq": false}));
    let pod = node.sb.pod();
    node.add("ctr-plain", &pod, &conf);
    assert!(
        tcp_fails(&pod, server.addr),
        "reached the outside without masquerade: the test cannot tell"
    );
}

#[test]
fn mtu_is_set_on_bridge_and_both_veth_ends() {
    let node = Node::new();
    let conf = node.conf(json!({"mtu": 1400}));
    let pod = node.sb.pod();
    let r = node.add("ctr-mtu", &pod, &conf);
    let mtu = |ns: &cni_sandbox::Netns, dev: &str| ns.link(dev).unwrap()["mtu"].as_u64().unwrap();
    assert_eq!(mtu(&node.sb.host, "cni0"), 1400);
    assert_eq!(mtu(&node.sb.host, &host_veth(&r)), 1400);
    assert_eq!(mtu(&pod, "eth0"), 1400);
    // A full-size unfragmentable packet passes, one byte more does not.
    pod.sh_ok("ping -c1 -W2 -M do -s 1372 10.88.0.1 >/dev/null");
    let (ok, _, _) = pod.sh("ping -c1 -W1 -M do -s 1373 10.88.0.1");
    assert!(!ok, "a 1401-byte packet left a 1400-MTU interface");
}

#[test]
fn dual_stack_pods_gateway_and_outside() {
    let node = Node::new();
    let out = node.outside();
    let ranges = json!([[{"subnet": "10.88.0.0/24"}], [{"subnet": "fd00:88::/64"}]]);
    let conf = node.conf(json!({"isDefaultGateway": true, "ipam": node.ipam(ranges)}));
    let (a, b) = (node.sb.pod(), node.sb.pod());
    let ra = node.add("ctr-a", &a, &conf);
    let rb = node.add("ctr-b", &b, &conf);
    assert_eq!(ra["ips"].as_array().unwrap().len(), 2, "{ra}");

    let mut gws = global_addrs(&node.sb.host, "cni0");
    gws.sort();
    assert_eq!(gws, ["10.88.0.1/24", "fd00:88::1/64"]);
    assert_eq!(node.sb.host.sysctl("net/ipv6/conf/all/forwarding"), "1");
    // Default routes of both families via the gateways.
    for (fam, gw) in [(4, "10.88.0.1"), (6, "fd00:88::1")] {
        let routes = a.routes(fam);
        assert!(
            routes
                .iter()
                .any(|r| r["dst"] == "default" && r["gateway"] == gw),
            "{routes:?}"
        );
    }

    for v4 in [true, false] {
        let server = TcpServer::start(&b, SocketAddr::new(result_ip(&rb, v4), 0));
        let seen = tcp(&a, server.addr).unwrap();
        assert_eq!(seen.seen_peer.ip(), result_ip(&ra, v4));
    }
    wait_dad(&node.sb.host, "cni0");
    let gw6 = TcpServer::start(&node.sb.host, "[fd00:88::1]:0".parse().unwrap());
    assert_eq!(
        tcp(&a, gw6.addr).unwrap().seen_peer.ip(),
        result_ip(&ra, false)
    );

    // Masquerade on both families (ip6tables for v6).
    for (to, node_ip) in [
        ("192.0.2.2:0", "192.0.2.1"),
        ("[2001:db8:99::2]:0", "2001:db8:99::1"),
    ] {
        let server = TcpServer::start(&out, to.parse().unwrap());
        let seen = tcp(&a, server.addr).unwrap();
        assert_eq!(seen.seen_peer.ip(), node_ip.parse::<IpAddr>().unwrap());
    }
    let v6_rules: Vec<_> = node
        .state()
        .iptables
        .into_iter()
        .filter(|l| l.starts_with("6 -A POSTROUTING"))
        .collect();
    assert_eq!(v6_rules.len(), 2, "{v6_rules:?}");
}

/// Hairpin: a pod reaching itself through a DNAT'd service address. With
/// br_netfilter the DNAT happens in the bridge's prerouting hook and the
/// frame must go back out of the port it came in on, which the bridge
/// only does with hairpin on. The same probe without hairpin fails.
#[test]
fn hairpin_lets_a_pod_reach_itself_through_a_service_address() {
    let node = Node::new();
    let host = &node.sb.host;
    // br_netfilter's switch is per network namespace.
    host.sh_ok("sysctl -qw net.bridge.bridge-nf-call-iptables=1");

    let mut outcomes = vec![];
    for (i, hairpin) in [true, false].into_iter().enumerate() {
        let conf = node.conf(json!({
            "hairpinMode": hairpin, "isDefaultGateway": true, "ipMasq": false,
            "bridge": format!("hp{i}"),
            "ipam": node.ipam(json!([[{"subnet": format!("10.9{i}.0.0/24")}]])),
        }));
        let pod = node.sb.pod();
        let r = node.add(&format!("ctr-hp{i}"), &pod, &conf);
        let ip = result_ip(&r, true);
        let server = TcpServer::start(&pod, SocketAddr::new(ip, 0));
        let vip = format!("10.96.0.1{i}");
        host.sh_ok(&format!(
            "iptables -t nat -A PREROUTING -d {vip} -p tcp --dport 80 -j DNAT --to-destination {} && \
             iptables -t nat -A POSTROUTING -s {ip} -d {ip} -j SNAT --to-source 10.9{i}.0.1",
            server.addr
        ));
        let to: SocketAddr = format!("{vip}:80").parse().unwrap();
        let link = host.link(&host_veth(&r)).unwrap();
        assert_eq!(
            link["linkinfo"]["info_slave_data"]["hairpin"], hairpin,
            "{link}"
        );
        outcomes.push(if hairpin {
            tcp(&pod, to).map(|p| p.seen_peer.ip().to_string()).ok()
        } else {
            (!tcp_fails(&pod, to)).then(String::new)
        });
    }
    assert_eq!(
        outcomes,
        [Some("10.90.0.1".to_string()), None],
        "hairpin on: reached itself (seen from the SNAT address); off: dropped"
    );
}

/// VLAN tagging. On a kernel with bridge VLAN filtering: the port's PVID is
/// `vlan`, untagged, and a trunk's ranges are tagged. On a kernel without
/// it (CONFIG_BRIDGE_VLAN_FILTERING unset, as on the test machine) ADD must
/// fail with an error naming the missing feature and leave nothing behind.
#[test]
fn vlan_tagging_or_a_clear_error_without_kernel_support() {
    let node = Node::new();
    let base = node.state();
    let supported = kernel_has_vlan_filtering(&node.sb.host);
    let access = node.conf(json!({"vlan": 100, "bridge": "brv"}));
    let trunk = node.conf(json!({
        "bridge": "brt",
        "vlanTrunk": [{"minID": 200, "maxID": 203}, {"id": 300}],
        "ipam": node.ipam(json!([[{"subnet": "10.89.0.0/24"}]])),
    }));
    let pod = node.sb.pod();
    let pod2 = node.sb.pod();

    if !supported {
        for (conf, pod, br) in [(&access, &pod, "brv"), (&trunk, &pod2, "brt")] {
            let run = node.exec(&node.call("ADD", "ctr-vlan", pod.path_str()), conf);
            let (code, msg) = run.expect_error();
            assert!(code >= 100, "{msg}");
            assert!(
                msg.contains("VLAN filtering") && msg.contains("CONFIG_BRIDGE_VLAN_FILTERING"),
                "unclear error: {msg}"
            );
            assert!(node.sb.host.link(br).is_none(), "bridge {br} left behind");
            assert_eq!(pod.link_names(), ["lo"]);
            node.assert_clean(&base, "failed VLAN ADD");
        }
        // On an existing bridge (made by a plain ADD) the port's VLAN
        // request is what fails: same message, the veth is rolled back.
        let plain = node.conf(json!({"bridge": "brv"}));
        let r = node.add("ctr-plain", &pod, &plain);
        let base = node.state();
        let run = node.exec(&node.call("ADD", "ctr-vlan", pod2.path_str()), &access);
        let (_, msg) = run.expect_error();
        assert!(msg.contains("CONFIG_BRIDGE_VLAN_FILTERING"), "{msg}");
        assert_eq!(pod2.link_names(), ["lo"]);
        node.assert_clean(&base, "failed VLAN ADD on an existing bridge");
        node.check("ctr-plain", &pod, &plain, &r).expect_ok();
        return;
    }

    let r = node.add("ctr-vlan", &pod, &access);
    let vlans = node
        .sb
        .host
        .ip_json(&format!("-d link show {}", host_veth(&r)));
    let shown = node
        .sb
        .host
        .sh_ok(&format!("bridge -j vlan show dev {}", host_veth(&r)));
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let entries = v[0]["vlans"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["vlan"] == 100
            && e["flags"].as_array().is_some_and(
                |f| f.iter().any(|x| x == "PVID") && f.iter().any(|x| x == "Egress Untagged")
            )),
        "{v} {vlans}"
    );
    // The gateway lives on a <bridge>.<vlan> veth in that VLAN.
    assert_eq!(global_addrs(&node.sb.host, "brv.100"), ["10.88.0.1/24"]);

    let r2 = node.add("ctr-trunk", &pod2, &trunk);
    let shown = node
        .sb
        .host
        .sh_ok(&format!("bridge -j vlan show dev {}", host_veth(&r2)));
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let tagged: Vec<u64> = v[0]["vlans"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["flags"].as_array().is_none_or(|f| f.is_empty()))
        .flat_map(|e| {
            let lo = e["vlan"].as_u64().unwrap();
            let hi = e["vlanEnd"].as_u64().unwrap_or(lo);
            lo..=hi
        })
        .collect();
    assert_eq!(tagged, [200, 201, 202, 203, 300], "{v}");
}
