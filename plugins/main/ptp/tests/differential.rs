//! Our ptp against the reference build (/usr/lib/cni/ptp, Debian
//! containernetworking-plugins 1.1.1) on the same config and container ID:
//! the same routes, addresses, masquerade rules, sysctls and result; and
//! each implementation's DEL cleans up what the other's ADD made, so a
//! node can switch binaries with pods running.
//!
//! Differences (asserted, so they stay visible), all where Debian's 1.1.1
//! is older than the v1.9.1 we match:
//! - the veths' queue length: 1.1.1 sends IFLA_TXQLEN=0 (fixed in v1.6.0,
//!   plugins PR #1100), ours keeps the kernel's 1000;
//! - `keep_addr_on_down=1` on an IPv6 pod interface (v1.7.0);
//! - the reference prints an empty `"dns":{}` in the result; ours omits it;
//! - DEL after the pod's link is gone, or with `CNI_NETNS=""` only: the
//!   reference cannot learn the pod's addresses and leaks its iptables
//!   chain; ours removes it by name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use cni_sandbox::{Netns, global_addrs, wait_not_tentative, with_prev};
use common::*;
use serde_json::{Value, json};

/// Everything one attachment shows, with the random parts (host veth
/// name, MACs, netns path) replaced by placeholders.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    result: Value,
    iptables: Vec<String>,
    nft: Vec<String>,
    host_addrs: Vec<String>,
    host_routes: Vec<String>,
    pod_addrs: Vec<String>,
    pod_routes: Vec<String>,
    links: Vec<String>,
    sysctls: Vec<String>,
}

fn snapshot(node: &Node, pod: &Netns, result: &Value) -> Snapshot {
    let veth = host_veth(result);
    let mut r = result.clone();
    // The reference prints an empty `"dns":{}`; ours leaves it out.
    if r["dns"] == json!({}) {
        r.as_object_mut().unwrap().remove("dns");
    }
    for i in r["interfaces"].as_array_mut().unwrap() {
        assert_eq!(i["mac"].as_str().map(str::len), Some(17), "{i}");
        i.as_object_mut().unwrap().remove("mac");
    }
    r["interfaces"][0]["name"] = json!("<veth>");
    r["interfaces"][1]["sandbox"] = json!("<netns>");
    let host = &node.sb.host;
    let mut host_addrs = global_addrs(host, &veth);
    host_addrs.sort();
    let links = [(host, veth.as_str()), (pod, "eth0")]
        .iter()
        .map(|(ns, dev)| {
            let l = ns.link(dev).unwrap();
            format!(
                "{} {} mtu={} {}",
                l["linkinfo"]["info_kind"], l["operstate"], l["mtu"], l["flags"]
            )
        })
        .collect();
    let sysctls = [
        (host, "net/ipv4/ip_forward".to_string()),
        (host, "net/ipv6/conf/all/forwarding".to_string()),
        (host, format!("net/ipv6/conf/{veth}/accept_ra")),
        (host, format!("net/ipv4/conf/{veth}/proxy_arp")),
        (host, format!("net/ipv4/conf/{veth}/rp_filter")),
        (pod, "net/ipv4/conf/eth0/arp_notify".to_string()),
        (pod, "net/ipv6/conf/eth0/accept_dad".to_string()),
        (pod, "net/ipv6/conf/eth0/disable_ipv6".to_string()),
        (pod, "net/ipv6/conf/lo/disable_ipv6".to_string()),
    ]
    .iter()
    .map(|(ns, k)| format!("{}={}", k.replace(&veth, "<veth>"), ns.sysctl(k)))
    .collect();
    Snapshot {
        result: r,
        iptables: node.state().iptables,
        nft: node.state().nft,
        host_addrs,
        host_routes: all_routes(host),
        pod_addrs: global_addrs(pod, "eth0"),
        pod_routes: all_routes(pod),
        links,
        sysctls,
    }
}

/// The queue length of both ends and the pod's `keep_addr_on_down`: what
/// Debian's 1.1.1 does differently from v1.9.1.
fn old_vs_new(node: &Node, pod: &Netns, result: &Value) -> (Vec<u64>, String) {
    let veth = host_veth(result);
    let qlen = [(&node.sb.host, veth.as_str()), (pod, "eth0")]
        .iter()
        // `ip -j` leaves out a queue length of 0.
        .map(|(ns, dev)| ns.link(dev).unwrap()["txqlen"].as_u64().unwrap_or(0))
        .collect();
    (qlen, pod.sysctl("net/ipv6/conf/eth0/keep_addr_on_down"))
}

#[test]
fn same_config_gives_the_same_state_as_the_reference() {
    let mut snaps = vec![];
    let mut olds = vec![];
    for ptp in [our_ptp(), reference_ptp()] {
        let node = node_with(&ptp);
        let conf = node.dual_conf(json!({"mtu": 1400}));
        let pod = node.sb.pod();
        let r = node.add("ctr-diff", &pod, &conf);
        wait_not_tentative(&node.sb.host, &host_veth(&r));
        snaps.push(snapshot(&node, &pod, &r));
        olds.push(old_vs_new(&node, &pod, &r));
    }
    let (ours, theirs) = (&snaps[0], &snaps[1]);
    // The masquerade chain name is the reference's (CNI- + 24 hex of
    // sha512(network + container ID)), with the same rules.
    let chain = netfilter::MasqInstance::new(NET, "ctr-diff", "eth0")
        .unwrap()
        .chain()
        .to_string();
    for fam in ["4", "6"] {
        assert!(
            theirs.iptables.contains(&format!("{fam} :{chain} -")),
            "{:#?}",
            theirs.iptables
        );
    }
    assert_eq!(ours.iptables, theirs.iptables);
    assert_eq!(ours.pod_routes, theirs.pod_routes);
    assert_eq!(ours.host_routes, theirs.host_routes);
    assert_eq!(ours.result, theirs.result);
    assert_eq!(ours, theirs);
    assert_eq!(
        olds,
        [
            (vec![1000, 1000], "1".to_string()),
            (vec![0, 0], "0".to_string()),
        ],
        "ours: v1.9.1's queue length and keep_addr_on_down; Debian 1.1.1: neither"
    );
}

/// A node with both implementations in one sandbox: plugin dirs for ours
/// and the reference over one IPAM store.
fn mixed_node() -> (Node, PathBuf, PathBuf) {
    let node = node();
    let ours = node.bin.clone();
    let reference = node.plugin_dir("ref", &reference_ptp());
    (node, ours, reference)
}

#[test]
fn each_implementation_deletes_what_the_other_added() {
    let (node, ours, reference) = mixed_node();
    let conf = node.dual_conf(json!({}));
    let base = node.state();
    for (adder, other) in [(&reference, &ours), (&ours, &reference)] {
        // DEL by the other implementation.
        let pod = node.sb.pod();
        node.add_in(adder, "ctr-x", &pod, &conf);
        assert_ne!(node.state(), base, "{}: ADD made nothing", adder.display());
        node.del_in(other, "ctr-x", pod.path_str(), &conf);
        node.assert_clean(&base, &format!("DEL after {}", adder.display()));
        assert_eq!(pod.link_names(), ["lo"]);
        // CHECK and DEL by the other, of the result cached from one ADD.
        let pod = node.sb.pod();
        let r = node.add_in(adder, "ctr-c", &pod, &conf);
        wait_not_tentative(&node.sb.host, &host_veth(&r));
        let check = node.call("CHECK", "ctr-c", pod.path_str());
        node.exec_in(other, &check, &with_prev(&conf, &r))
            .expect_ok();
        node.del_in(other, "ctr-c", pod.path_str(), &conf);
        node.assert_clean(&base, "CHECK and DEL across implementations");
    }
}

/// DEL after the pod's link was removed by hand, and containerd's
/// `CNI_NETNS=""` DEL when it is the only one (the netns was already
/// gone): the reference learns the pod's addresses only from the link and
/// leaks its masquerade chain in both; ours finds the chain by name.
#[test]
fn del_without_the_link_reference_leaks_ours_does_not() {
    let (node, ours, reference) = mixed_node();
    let conf = node.conf(json!({}));
    let base = node.state();
    for link_gone in [true, false] {
        let mut leaked = vec![];
        for dir in [&reference, &ours] {
            let pod = node.sb.pod();
            node.add_in(dir, "ctr-l", &pod, &conf);
            let netns = if link_gone {
                pod.sh_ok("ip link del eth0");
                pod.path_str()
            } else {
                ""
            };
            node.del_in(dir, "ctr-l", netns, &conf);
            let now = node.state();
            leaked.push(now.iptables != base.iptables);
            assert_eq!(now.leases, base.leases);
            // Our DEL with the netns cleans up whatever is left.
            node.del_in(&ours, "ctr-l", pod.path_str(), &conf);
            node.assert_clean(&base, "after our DEL");
        }
        assert_eq!(
            leaked,
            [true, false],
            "link gone {link_gone}: reference leaks, ours does not"
        );
    }
}
