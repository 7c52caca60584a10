//! Our tuning against the reference build (/usr/lib/cni/tuning, Debian
//! containernetworking-plugins 1.1.1) on the same config: the same
//! sysctls, link attributes, result and backup file bytes; and each
//! side's DEL restores what the other's ADD tuned, so a node can switch
//! binaries with pods running.
//!
//! Differences (asserted, so they stay visible):
//! - Debian 1.1.1 substitutes `IFNAME` before turning dots into slashes,
//!   so a dotted interface name (VLAN `eth0.100`) breaks it; ours (and
//!   v1.2.0+) handle it.
//! - A second ADD: the reference overwrites the backup with the tuned
//!   values; ours keeps the originals.
//! - A bad key after good ones: the reference has written the good ones
//!   when it fails (code 999); ours refuses before writing (code 7).
//! - Debian 1.1.1 does not know `txQLen` (v1.4.0), so it is not compared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

const CID: &str = "c0ffee";

/// Everything an ADD of `conf_extra` leaves, from one implementation.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    result: Value,
    link: LinkState,
    sysctls: Vec<String>,
    backup: Option<String>,
}

const WATCHED: [&str; 3] = [
    "net/ipv4/conf/eth0/arp_notify",
    "net/core/somaxconn",
    "net/ipv4/conf/eth0/accept_local",
];

fn sysctls(node: &Node) -> Vec<String> {
    WATCHED
        .iter()
        .map(|k| format!("{k}={}", node.sysctl(k)))
        .collect()
}

fn add(binary: &Path, extra: &Value, env: &str) -> (Node, Outcome) {
    let node = Node::new();
    let call = node.call("ADD", CID, IFNAME).env("CNI_ARGS", env);
    let run = node.run(binary, &call, &node.conf(extra.clone()));
    let result = normalize(&run.expect_ok());
    let out = Outcome {
        result,
        link: node.link(IFNAME),
        sysctls: sysctls(&node),
        backup: node.backup(CID, IFNAME),
    };
    (node, out)
}

fn original(node: &Node) -> (LinkState, Vec<String>) {
    (node.link(IFNAME), sysctls(node))
}

/// The configs compared: each key alone and together, and each place a
/// MAC can come from.
fn cases() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "sysctls",
            json!({"sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1", "net.core.somaxconn": "500",
                              "net/ipv4/conf/IFNAME/accept_local": "1"}}),
            "",
        ),
        ("mac", json!({"mac": "0a:00:00:00:aa:01"}), ""),
        (
            "everything",
            json!({"mac": "0A:00:00:00:AA:02", "mtu": 1400, "promisc": true, "allmulti": true,
                   "sysctl": {"net.core.somaxconn": "600"}}),
            "",
        ),
        ("allmulti-off", json!({"allmulti": false, "mtu": 9000}), ""),
        (
            "cni-args-mac",
            json!({"mac": "0a:00:00:00:aa:03"}),
            "IgnoreUnknown=1;K8S_POD_NAME=p;MAC=0a:00:00:00:aa:04",
        ),
        (
            "runtime-config-mac",
            json!({"mac": "0a:00:00:00:aa:05", "runtimeConfig": {"mac": "0a:00:00:00:aa:06"}}),
            "MAC=0a:00:00:00:aa:07",
        ),
        (
            "args-cni",
            json!({"mtu": 1300, "runtimeConfig": {"mac": "0a:00:00:00:aa:08"},
                   "sysctl": {"net.core.somaxconn": "700"},
                   "args": {"cni": {"mac": "0a:00:00:00:aa:09", "mtu": 1280, "promisc": true,
                                    "sysctl": {"net.core.somaxconn": "800"}}}}),
            "",
        ),
    ]
}

#[test]
fn same_config_same_state_result_and_backup() {
    for (name, extra, env) in cases() {
        let (on, ours_out) = add(&ours(), &extra, env);
        let (rn, ref_out) = add(&reference(), &extra, env);
        assert_eq!(ours_out, ref_out, "case {name}");
        // DEL on each side restores the same original state.
        let before = original(&Node::new());
        for (node, bin) in [(&on, ours()), (&rn, reference())] {
            node.exec(&bin, "DEL", CID, &node.conf(extra.clone()))
                .expect_ok();
            assert_eq!(
                node.link(IFNAME),
                before.0,
                "case {name}: {}",
                bin.display()
            );
            assert_eq!(node.backup(CID, IFNAME), None, "case {name}");
        }
    }
}

#[test]
fn results_agree_at_older_versions() {
    let extra = json!({"mac": "0a:00:00:00:ee:01"});
    for version in ["0.3.0", "0.3.1", "0.4.0"] {
        let mut results = Vec::new();
        for bin in [ours(), reference()] {
            let node = Node::new();
            let mut conf = node.conf_at(version, IFNAME, extra.clone());
            conf["prevResult"]["cniVersion"] = json!(version);
            conf["prevResult"]["ips"][0]["version"] = json!("4");
            let r = node.exec(&bin, "ADD", CID, &conf).expect_ok();
            assert_eq!(r["cniVersion"], version);
            assert_eq!(r["interfaces"][1]["mac"], "0a:00:00:00:ee:01");
            results.push(normalize(&r));
        }
        assert_eq!(results[0], results[1], "{version}");
    }
}

#[test]
fn cross_del_restores_what_the_other_side_tuned() {
    let extra = json!({"mac": "0a:00:00:00:bb:01", "mtu": 1350, "promisc": true, "allmulti": true});
    for (adder, deleter) in [(ours(), reference()), (reference(), ours())] {
        let node = Node::new();
        let (before, _) = original(&node);
        let conf = node.conf(extra.clone());
        node.exec(&adder, "ADD", CID, &conf).expect_ok();
        let tuned = node.link(IFNAME);
        assert_eq!(tuned.mac, "0a:00:00:00:bb:01");
        assert_eq!(tuned.mtu, 1350);
        assert!(tuned.promisc && tuned.allmulti);
        assert!(node.backup(CID, IFNAME).is_some());
        node.exec(&deleter, "DEL", CID, &conf).expect_ok();
        assert_eq!(
            node.link(IFNAME),
            before,
            "ADD by {}, DEL by {}",
            adder.display(),
            deleter.display()
        );
        assert_eq!(node.backup(CID, IFNAME), None);
        // A second DEL of either side is a no-op.
        node.exec(&ours(), "DEL", CID, &conf).expect_ok();
        node.exec(&reference(), "DEL", CID, &conf).expect_ok();
        assert_eq!(node.link(IFNAME), before);
    }
}

#[test]
fn a_second_add_keeps_the_originals_unlike_the_reference() {
    let first = json!({"mtu": 1400});
    let second = json!({"mtu": 1300, "mac": "0a:00:00:00:cc:01"});
    for bin in [ours(), reference()] {
        let node = Node::new();
        let (before, _) = original(&node);
        node.exec(&bin, "ADD", CID, &node.conf(first.clone()))
            .expect_ok();
        node.exec(&bin, "ADD", CID, &node.conf(second.clone()))
            .expect_ok();
        let backup: Value = serde_json::from_str(&node.backup(CID, IFNAME).unwrap()).unwrap();
        node.exec(&bin, "DEL", CID, &node.conf(second.clone()))
            .expect_ok();
        if bin == ours() {
            assert_eq!(backup, json!({"mac": POD_MAC, "mtu": 1500}));
            assert_eq!(node.link(IFNAME), before);
        } else {
            // The reference recorded the MTU its first ADD had set.
            assert_eq!(backup, json!({"mac": POD_MAC, "mtu": 1400}));
            assert_eq!(node.link(IFNAME).mtu, 1400);
        }
    }
}

#[test]
fn a_bad_key_after_good_ones_changes_nothing_here_but_not_in_the_reference() {
    let extra = json!({"sysctl": {"net.core.somaxconn": "900", "kernel.hostname": "evil"}});
    let node = Node::new();
    let (_, before) = original(&node);
    let (code, msg) = node
        .exec(&ours(), "ADD", CID, &node.conf(extra.clone()))
        .expect_error();
    assert_eq!(code, 7, "{msg}");
    assert!(
        msg.contains("kernel.hostname") && msg.contains("/proc/sys/net/"),
        "{msg}"
    );
    assert_eq!(sysctls(&node), before);

    let node = Node::new();
    let run = node.exec(&reference(), "ADD", CID, &node.conf(extra));
    let code = run.expect_err();
    assert_eq!(code, 999);
    // Go's map order is random: the good key may or may not be written
    // before the bad one fails. Either way it is refused.
    assert!(
        run.stdout.contains("invalid net sysctl key"),
        "{}",
        run.stdout
    );
}

#[test]
fn dotted_interface_names_work_here_but_not_in_debian_1_1_1() {
    let ifname = "eth0.100";
    let extra = json!({"sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}});
    let key = "net/ipv4/conf/eth0.100/arp_notify";
    let node = Node::with_ifname(ifname);
    let conf = node.conf_at("1.0.0", ifname, extra.clone());
    node.run(&ours(), &node.call("ADD", CID, ifname), &conf)
        .expect_ok();
    assert_eq!(node.sysctl(key), "1");
    node.run(&ours(), &node.call("CHECK", CID, ifname), &conf)
        .expect_ok();

    let node = Node::with_ifname(ifname);
    let conf = node.conf_at("1.0.0", ifname, extra);
    let run = node.run(&reference(), &node.call("ADD", CID, ifname), &conf);
    // 1.1.1 builds net/ipv4/conf/eth0/100/arp_notify.
    assert_eq!(run.expect_err(), 999, "{}", run.stdout);
    assert_eq!(node.sysctl(key), "0");
}

#[test]
fn check_agrees_with_the_reference() {
    let extra = json!({"mac": "0a:00:00:00:dd:01", "mtu": 1450, "allmulti": true,
                       "sysctl": {"net.core.somaxconn": "321"}});
    for bin in [ours(), reference()] {
        let node = Node::new();
        let conf = node.conf(extra.clone());
        node.exec(&bin, "ADD", CID, &conf).expect_ok();
        node.exec(&bin, "CHECK", CID, &conf).expect_ok();
        // Drift in each attribute fails CHECK on both sides.
        for drift in [
            "ip link set eth0 mtu 1400",
            "ip link set eth0 address 0a:00:00:00:dd:02",
            "ip link set eth0 promisc on",
            "ip link set eth0 allmulticast off",
            "sysctl -qw net.core.somaxconn=322",
        ] {
            let node = Node::new();
            node.exec(&bin, "ADD", CID, &conf_for(&node, &extra))
                .expect_ok();
            node.pod.sh_ok(drift);
            let run = node.exec(&bin, "CHECK", CID, &conf_for(&node, &extra));
            assert!(!run.ok(), "{}: CHECK passed after `{drift}`", bin.display());
            if bin == ours() {
                assert_eq!(run.expect_err(), 112, "{drift}: {}", run.stdout);
            }
        }
    }
}

fn conf_for(node: &Node, extra: &Value) -> Value {
    node.conf(extra.clone())
}
