//! Bad input: each gives a clear error with a spec code and leaves the
//! pod exactly as it was (sysctls, link attributes) and no backup. A
//! change the kernel refuses after earlier ones succeeded is undone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

const CID: &str = "bad";
const SOMAXCONN: &str = "net/core/somaxconn";

fn state(node: &Node) -> (LinkState, String, String) {
    (
        node.link(IFNAME),
        node.sysctl(SOMAXCONN),
        node.sysctl("net/ipv4/conf/eth0/arp_notify"),
    )
}

/// ADD `conf` (with `CNI_ARGS` `env`) fails with `code`, its message
/// contains every one of `words`, and nothing changed.
fn refused(node: &Node, conf: &Value, env: &str, code: u64, words: &[&str]) {
    let before = state(node);
    let call = node.call("ADD", CID, IFNAME).env("CNI_ARGS", env);
    let (got, msg) = node.run(&ours(), &call, conf).expect_error();
    assert_eq!(got, code, "{conf}: {msg}");
    for w in words {
        assert!(msg.contains(w), "{conf}: {msg:?} does not mention {w:?}");
    }
    assert_eq!(state(node), before, "{conf}: the pod changed");
    assert_eq!(node.backup(CID, IFNAME), None, "{conf}: a backup was left");
    assert!(
        !node
            .data
            .join(".networks")
            .join(NET)
            .join("bad_eth0")
            .exists(),
        "{conf}: a GC marker was left"
    );
}

/// Every key is set together with the bad one, so that a half-made ADD
/// would show.
fn with_good(node: &Node, bad: Value) -> Value {
    let mut c = node.conf(json!({
        "mac": "0a:00:00:00:ff:01", "mtu": 1400, "promisc": true, "allmulti": true,
        "txQLen": 5, "sysctl": {"net.core.somaxconn": "1234"}
    }));
    for (k, v) in bad.as_object().unwrap() {
        if let (true, Some(map)) = (k == "sysctl", v.as_object()) {
            for (sk, sv) in map {
                c["sysctl"][sk] = sv.clone();
            }
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[test]
fn config_errors_are_code_7_and_change_nothing() {
    let node = Node::new();
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!({"sysctl": {"kernel.hostname": "x"}}),
            &["kernel.hostname", "/proc/sys/net/"],
        ),
        (json!({"sysctl": {"net/../../etc/passwd": "x"}}), &["'..'"]),
        (json!({"sysctl": {"net.ipv4..ip_forward": "1"}}), &["'..'"]),
        (
            json!({"sysctl": {"net.ipv4.conf.IFNAME.arp_notify": 1}}),
            &["JSON strings", "\"1\""],
        ),
        (json!({"sysctl": {"net.core.x": true}}), &["JSON strings"]),
        (
            json!({"mac": "0a:00:00:00:ff"}),
            &["mac", "not a MAC address"],
        ),
        (json!({"mtu": -1}), &["mtu", "out of range"]),
        (json!({"mtu": 10}), &["mtu 10", "68"]),
        (json!({"mtu": 70000}), &["mtu 70000"]),
        (json!({"txQLen": -1}), &["txQLen"]),
        (json!({"dataDir": "relative"}), &["dataDir"]),
        (
            json!({"runtimeConfig": {"mac": "xx"}}),
            &["runtimeConfig.mac"],
        ),
        (json!({"args": {"cni": {"mtu": -5}}}), &["args.cni.mtu"]),
    ];
    for (bad, words) in cases {
        refused(&node, &with_good(&node, bad), "", 7, words);
    }
    // Duplicate keys cannot be written with json!: raw text.
    let mut text = with_good(&node, json!({})).to_string();
    text = text.replacen(
        "\"sysctl\":{",
        "\"sysctl\":{\"net.core.somaxconn\":\"1\",",
        1,
    );
    let before = state(&node);
    let run =
        node.call("ADD", CID, IFNAME)
            .run_timeout(&node.sb.host, &ours(), &text, CALL_TIMEOUT);
    let (code, msg) = run.expect_error();
    assert_eq!(code, 7, "{msg}");
    assert!(msg.contains("duplicated sysctl keys"), "{msg}");
    assert_eq!(state(&node), before);
    // Without prevResult.
    let mut c = with_good(&node, json!({}));
    c.as_object_mut().unwrap().remove("prevResult");
    refused(&node, &c, "", 7, &["prevResult"]);
}

#[test]
fn environment_and_decoding_errors_have_their_spec_codes() {
    let node = Node::new();
    let good = with_good(&node, json!({}));
    refused(
        &node,
        &good,
        "MAC=0a:00:00:00:ff:02;FOO=1",
        4,
        &["FOO", "IgnoreUnknown"],
    );
    refused(
        &node,
        &good,
        "IgnoreUnknown=1;MAC=nope",
        7,
        &["CNI_ARGS MAC"],
    );
    refused(
        &node,
        &with_good(&node, json!({"mtu": "1400"})),
        "",
        6,
        &["mtu"],
    );
    refused(
        &node,
        &with_good(&node, json!({"sysctl": ["a=b"]})),
        "",
        6,
        &["sysctl"],
    );
    let call = node
        .call("ADD", CID, IFNAME)
        .env("CNI_NETNS", "/run/netns/does-not-exist");
    let (code, _) = node.run(&ours(), &call, &good).expect_error();
    assert_eq!(code, 4);
    let call = node.call("ADD", CID, "nosuch0");
    let (code, msg) = node.run(&ours(), &call, &good).expect_error();
    assert_eq!(code, 101, "{msg}");
    assert!(msg.contains("nosuch0"), "{msg}");
}

#[test]
fn a_change_the_kernel_refuses_is_undone() {
    // The sysctl value is not a number: the kernel refuses it after
    // somaxconn was written.
    let node = Node::new();
    let conf = with_good(
        &node,
        json!({"sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "not-a-number"}}),
    );
    refused(&node, &conf, "", 103, &["arp_notify"]);

    // A multicast MAC parses but the kernel refuses it after every sysctl
    // and the backup were written.
    let node = Node::new();
    let conf = with_good(
        &node,
        json!({"mac": "01:00:5e:00:00:01", "sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}}),
    );
    refused(&node, &conf, "", 101, &["01:00:5e:00:00:01"]);

    // A failed second ADD leaves the first one's backup as it was.
    let node = Node::new();
    let first = node.conf(json!({"mtu": 1400}));
    node.exec(&ours(), "ADD", CID, &first).expect_ok();
    let backup = node.backup(CID, IFNAME).unwrap();
    let before = state(&node);
    let second = node.conf(json!({"mtu": 1300, "mac": "01:00:5e:00:00:02"}));
    let (code, _) = node.exec(&ours(), "ADD", CID, &second).expect_error();
    assert_eq!(code, 101);
    assert_eq!(state(&node), before);
    assert_eq!(node.backup(CID, IFNAME).unwrap(), backup);
    node.exec(&ours(), "DEL", CID, &first).expect_ok();
    assert_eq!(node.link(IFNAME).mtu, POD_MTU);
}
