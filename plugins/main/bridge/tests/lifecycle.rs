//! CHECK, DEL and ADD rollback of our bridge binary: CHECK notices what
//! was removed; DEL is idempotent and complete whatever is already gone
//! (link, netns, chain; containerd's double DEL); a failed ADD leaves no
//! veth, no lease and no rules, whether IPAM or a later step failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use cni_sandbox::result_ip;
use common::*;
use serde_json::{Value, json};

/// veths of a removed netns die in the kernel's namespace cleanup work,
/// which runs asynchronously: wait (bounded) until the host sees that.
fn wait_veth_gone(node: &Node, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.sb.host.link(name).is_some() {
        assert!(
            Instant::now() < deadline,
            "{name} outlived its netns by 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A config with masquerade and macspoofchk, so every kind of state an
/// attachment makes is there to be removed.
fn full_conf(node: &Node) -> Value {
    node.conf(json!({"isDefaultGateway": true, "macspoofchk": true}))
}

#[test]
fn check_passes_then_notices_what_was_removed() {
    let node = Node::new();
    let conf = full_conf(&node);
    let check_msg =
        |cid: &str, pod, r: &Value| -> String { node.check(cid, pod, &conf, r).expect_error().1 };

    // Address removed from the pod.
    let pod = node.sb.pod();
    let r = node.add("ctr-addr", &pod, &conf);
    node.check("ctr-addr", &pod, &conf, &r).expect_ok();
    let ip = r["ips"][0]["address"].as_str().unwrap();
    pod.sh_ok(&format!("ip addr del {ip} dev eth0"));
    let msg = check_msg("ctr-addr", &pod, &r);
    assert!(msg.contains(ip) && msg.contains("missing"), "{msg}");

    // Host veth deleted (which takes the pod end with it).
    let pod = node.sb.pod();
    let r = node.add("ctr-veth", &pod, &conf);
    node.check("ctr-veth", &pod, &conf, &r).expect_ok();
    node.sb
        .host
        .sh_ok(&format!("ip link del {}", host_veth(&r)));
    let msg = check_msg("ctr-veth", &pod, &r);
    assert!(msg.contains("eth0") && msg.contains("not found"), "{msg}");

    // Host veth taken off the bridge.
    let pod = node.sb.pod();
    let r = node.add("ctr-port", &pod, &conf);
    node.sb
        .host
        .sh_ok(&format!("ip link set {} nomaster", host_veth(&r)));
    let msg = check_msg("ctr-port", &pod, &r);
    assert!(msg.contains("host veth") && msg.contains("cni0"), "{msg}");

    // Masquerade chain or spoof check removed by hand.
    let pod = node.sb.pod();
    let r = node.add("ctr-masq", &pod, &conf);
    let chain = masq_chain(&node, "ctr-masq");
    remove_chain_by_hand(&node, &chain);
    let msg = check_msg("ctr-masq", &pod, &r);
    assert!(msg.contains("masquerade") && msg.contains(&chain), "{msg}");

    let pod = node.sb.pod();
    let r = node.add("ctr-spoof", &pod, &conf);
    node.sb
        .host
        .sh_ok("nft delete chain bridge nat cni-br-iface-ctr-spoof-eth0-mac || true; nft flush chain bridge nat PREROUTING");
    let msg = check_msg("ctr-spoof", &pod, &r);
    assert!(msg.contains("macspoofchk"), "{msg}");

    // CHECK needs prevResult.
    let run = node.exec(&node.call("CHECK", "ctr-spoof", pod.path_str()), &conf);
    let (code, msg) = run.expect_error();
    assert_eq!(code, 7, "{msg}");
    assert!(msg.contains("prevResult"), "{msg}");
}

/// With `ipMasqBackend: nftables` CHECK looks for the pod's rule in table
/// `inet cni_plugins_masquerade` and notices when it is gone.
#[test]
fn check_notices_a_removed_nft_masquerade_rule() {
    let node = Node::new();
    let conf = node.conf(json!({"ipMasqBackend": "nftables"}));
    let pod = node.sb.pod();
    let r = node.add("ctr-nft", &pod, &conf);
    node.check("ctr-nft", &pod, &conf, &r).expect_ok();
    let ruleset = node
        .sb
        .host
        .sh_ok("nft list table inet cni_plugins_masquerade");
    assert!(ruleset.contains("ctr-nft"), "{ruleset}");
    node.sb
        .host
        .sh_ok("nft flush chain inet cni_plugins_masquerade masq_checks");
    let (code, msg) = node.check("ctr-nft", &pod, &conf, &r).expect_error();
    assert!(code >= 100 && msg.contains("masquerade"), "{code}: {msg}");
}

/// The masquerade chain of container `cid`, asserted present.
fn masq_chain(node: &Node, cid: &str) -> String {
    let chain = netfilter::MasqInstance::new(NET, cid, "eth0")
        .unwrap()
        .chain()
        .to_string();
    let decl = format!("4 :{chain} -");
    let rules = node.state().iptables;
    assert!(rules.contains(&decl), "{chain} missing: {rules:?}");
    chain
}

/// Remove an iptables masquerade chain and its POSTROUTING jump by hand.
fn remove_chain_by_hand(node: &Node, chain: &str) {
    node.sb.host.sh_ok(&format!(
        "iptables-save -t nat | grep -v -- '{chain}' | iptables-restore"
    ));
    assert!(!node.state().iptables.iter().any(|l| l.contains(chain)));
}

#[test]
fn l2_only_attachment_checks_and_deletes_without_ipam() {
    let node = Node::new();
    let conf = node.conf(json!({"ipam": {}, "isGateway": false, "ipMasq": false}));
    let base = node.state();
    let pod = node.sb.pod();
    let r = node.add("ctr-l2", &pod, &conf);
    assert!(
        r.get("ips")
            .is_none_or(|i| i.as_array().unwrap().is_empty()),
        "{r}"
    );
    let eth0 = pod.link("eth0").unwrap();
    assert_eq!(eth0["operstate"], "UP", "{eth0}");
    node.check("ctr-l2", &pod, &conf, &r).expect_ok();
    node.del("ctr-l2", &pod, &conf);
    node.assert_clean(&base, "L2 DEL");
}

#[test]
fn del_twice_and_del_after_parts_are_gone() {
    let node = Node::new();
    let conf = full_conf(&node);
    let base = node.state();
    let call = |cmd: &str, cid: &str, pod: &cni_sandbox::Netns| node.call(cmd, cid, pod.path_str());

    // Twice.
    let pod = node.sb.pod();
    node.add("ctr-twice", &pod, &conf);
    node.del("ctr-twice", &pod, &conf);
    node.assert_clean(&base, "first DEL");
    node.del("ctr-twice", &pod, &conf);
    node.assert_clean(&base, "second DEL");

    // Link removed by hand: the addresses are unknown, the chain is
    // still found by its name.
    let pod = node.sb.pod();
    node.add("ctr-link", &pod, &conf);
    pod.sh_ok("ip link del eth0");
    node.del("ctr-link", &pod, &conf);
    node.assert_clean(&base, "DEL after the link");

    // Netns removed: the path no longer exists.
    let pod = node.sb.pod();
    let r = node.add("ctr-ns", &pod, &conf);
    pod.remove();
    wait_veth_gone(&node, &host_veth(&r));
    node.exec(&call("DEL", "ctr-ns", &pod), &conf).expect_ok();
    node.assert_clean(&base, "DEL after the netns");

    // Netns path that is a plain file now (a stale mount point).
    let pod = node.sb.pod();
    let r = node.add("ctr-stale", &pod, &conf);
    pod.remove();
    wait_veth_gone(&node, &host_veth(&r));
    std::fs::write(pod.path(), b"").unwrap();
    let run = node.exec(&call("DEL", "ctr-stale", &pod), &conf);
    let _ = std::fs::remove_file(pod.path());
    run.expect_ok();
    node.assert_clean(&base, "DEL with a stale netns path");

    // Masquerade chain and spoof check removed by hand, on both
    // backends.
    for backend in ["iptables", "nftables"] {
        let conf = merge(conf.clone(), json!({"ipMasqBackend": backend}));
        let pod = node.sb.pod();
        node.add("ctr-chain", &pod, &conf);
        if backend == "iptables" {
            let chain = masq_chain(&node, "ctr-chain");
            remove_chain_by_hand(&node, &chain);
        } else {
            node.sb
                .host
                .sh_ok("nft flush chain inet cni_plugins_masquerade masq_checks");
        }
        node.sb.host.sh_ok(
            "nft flush chain bridge nat PREROUTING && \
             nft delete chain bridge nat cni-br-iface-ctr-chain-eth0 && \
             nft delete chain bridge nat cni-br-iface-ctr-chain-eth0-mac",
        );
        node.del("ctr-chain", &pod, &conf);
        node.assert_clean(&base, &format!("DEL after the {backend} rules"));
    }
}

/// containerd deletes each pod twice: first with the netns and the cached
/// result, then with `CNI_NETNS=""` and no prevResult. Both succeed and
/// the node ends clean; the second alone (netns unknown) still releases
/// the lease and the rules.
#[test]
fn containerd_double_del() {
    let node = Node::new();
    let conf = full_conf(&node);
    let base = node.state();

    let pod = node.sb.pod();
    let r = node.add("ctr-cd", &pod, &conf);
    node.exec(
        &node.call("DEL", "ctr-cd", pod.path_str()),
        &with_prev(&conf, &r),
    )
    .expect_ok();
    node.assert_clean(&base, "first DEL");
    node.exec(&node.call("DEL", "ctr-cd", ""), &conf)
        .expect_ok();
    node.assert_clean(&base, "second DEL");

    // Only the netns-less DEL (the first one was lost): lease and
    // rules go; the veth goes with the pod's netns.
    let pod = node.sb.pod();
    let r = node.add("ctr-cd2", &pod, &conf);
    node.exec(&node.call("DEL", "ctr-cd2", ""), &conf)
        .expect_ok();
    pod.remove();
    wait_veth_gone(&node, &host_veth(&r));
    node.assert_clean(&base, "netns-less DEL");
}

/// An IPAM plugin that fails: nothing the ADD made before stays.
#[test]
fn rollback_after_ipam_failure() {
    let node = Node::new();
    node.stub(
        "fail-ipam",
        r#"echo '{"cniVersion":"1.0.0","code":11,"msg":"injected: pool exhausted"}'; exit 1"#,
    );
    let conf = merge(full_conf(&node), json!({"ipam": {"type": "fail-ipam"}}));
    let base = node.state();
    let pod = node.sb.pod();
    let run = node.exec(&node.call("ADD", "ctr-fail", pod.path_str()), &conf);
    let (code, msg) = run.expect_error();
    assert_eq!(code, 11, "the IPAM code is passed on: {msg}");
    assert!(
        msg.contains("injected: pool exhausted") && msg.contains("fail-ipam"),
        "{msg}"
    );
    assert_eq!(pod.link_names(), ["lo"]);
    node.assert_clean(&base, "ADD with failing IPAM");

    // The rollback removed the bridge's only port, which leaves a bridge
    // without a MAC of its own (all zeros): the retried ADD must still
    // work and pin a real MAC.
    let conf = full_conf(&node);
    let r = node.add("ctr-fail", &pod, &conf);
    let br = node.sb.host.link("cni0").unwrap();
    assert_ne!(br["address"], "00:00:00:00:00:00", "{br}");
    assert_eq!(iface(&r, 0)["mac"], br["address"]);
}

/// IPAM succeeds, then a later step fails: the lease is released again,
/// the veth and the spoof-check rules go.
#[test]
fn rollback_after_a_later_step_fails() {
    let node = Node::new();
    let base = node.state();

    // A route IPAM returned that cannot be added (gateway not on-link).
    let mut ipam = node.ipam(json!([[{"subnet": "10.88.0.0/24"}]]));
    ipam["routes"] = json!([{"dst": "192.0.2.0/24", "gw": "203.0.113.1"}]);
    let conf = merge(full_conf(&node), json!({"ipam": ipam}));
    let pod = node.sb.pod();
    let run = node.exec(&node.call("ADD", "ctr-route", pod.path_str()), &conf);
    let (_, msg) = run.expect_error();
    assert!(msg.contains("192.0.2.0/24"), "{msg}");
    assert_eq!(pod.link_names(), ["lo"]);
    node.assert_clean(&base, "ADD with a bad route");

    // Masquerade setup itself fails (the network name makes the iptables
    // comment longer than 255 bytes): the last step before the port wait.
    let long = "n".repeat(240);
    let conf = merge(full_conf(&node), json!({"name": long}));
    let run = node.exec(&node.call("ADD", "ctr-masq", pod.path_str()), &conf);
    let (_, msg) = run.expect_error();
    assert!(msg.contains("network name"), "{msg}");
    assert_eq!(pod.link_names(), ["lo"]);
    node.assert_clean(&base, "ADD with a failing masquerade setup");
    let store = node.data_dir.join(&long);
    let leases = lease_files(&store);
    assert!(leases.is_empty(), "lease left: {leases:?}");

    // The bridge holds another IPv4 address and forceAddress is off.
    node.sb
        .host
        .sh_ok("ip link add br9 type bridge && ip addr add 10.77.0.1/24 dev br9");
    let conf = node.conf(json!({"bridge": "br9", "macspoofchk": true}));
    let run = node.exec(&node.call("ADD", "ctr-force", pod.path_str()), &conf);
    let (_, msg) = run.expect_error();
    assert!(
        msg.contains("10.77.0.1/24") && msg.contains("forceAddress"),
        "{msg}"
    );
    assert_eq!(pod.link_names(), ["lo"]);
    node.assert_clean(&base, "ADD with a gateway address conflict");
    assert_eq!(global_addrs(&node.sb.host, "br9"), ["10.77.0.1/24"]);

    // With forceAddress the old address is replaced.
    let conf = merge(conf, json!({"forceAddress": true}));
    node.add("ctr-force", &pod, &conf);
    assert_eq!(global_addrs(&node.sb.host, "br9"), ["10.88.0.1/24"]);
}

/// Pods added and deleted concurrently on one new bridge (both backends):
/// every ADD succeeds with its own address, and the concurrent DELs leave
/// the node clean.
#[test]
fn concurrent_add_and_del() {
    let node = Node::new();
    let base = node.state();
    let pods: Vec<_> = (0..6).map(|_| node.sb.pod()).collect();
    let conf = |i: usize| {
        let backend = if i.is_multiple_of(2) {
            "iptables"
        } else {
            "nftables"
        };
        merge(full_conf(&node), json!({"ipMasqBackend": backend}))
    };
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .enumerate()
            .map(|(i, pod)| {
                let node = &node;
                let conf = conf(i);
                s.spawn(move || node.add(&format!("ctr-par{i}"), pod, &conf))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips: Vec<_> = results.iter().map(|r| result_ip(r, true)).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6, "{ips:?}");
    assert_eq!(node.leases().len(), 6);
    for (i, (pod, r)) in pods.iter().zip(&results).enumerate() {
        node.check(&format!("ctr-par{i}"), pod, &conf(i), r)
            .expect_ok();
    }
    std::thread::scope(|s| {
        for (i, pod) in pods.iter().enumerate() {
            let node = &node;
            let conf = conf(i);
            s.spawn(move || node.del(&format!("ctr-par{i}"), pod, &conf));
        }
    });
    node.assert_clean(&base, "concurrent DEL");
}

/// Older spec versions: ADD answers in that version's format, CHECK (from
/// 0.4.0) and DEL work, nothing is left.
#[test]
fn older_spec_versions() {
    let node = Node::new();
    let base = node.state();
    for v in ["0.3.0", "0.3.1", "0.4.0"] {
        let conf = node.conf(json!({"cniVersion": v}));
        let pod = node.sb.pod();
        let r = node.add("ctr-old", &pod, &conf);
        assert_eq!(r["cniVersion"], v, "{r}");
        assert_eq!(r["ips"][0]["version"], "4", "{r}");
        assert_eq!(r["ips"][0]["interface"], 2, "{r}");
        if v == "0.4.0" {
            node.check("ctr-old", &pod, &conf, &r).expect_ok();
        }
        node.del("ctr-old", &pod, &conf);
        node.assert_clean(&base, v);
    }
    // 0.2.0: the flat ip4 result.
    let conf = node.conf(json!({"cniVersion": "0.2.0"}));
    let pod = node.sb.pod();
    let r = node.add("ctr-old", &pod, &conf);
    let ip = r["ip4"]["ip"].as_str().unwrap();
    assert_eq!(global_addrs(&pod, "eth0"), [ip], "{r}");
    assert_eq!(r["ip4"]["gateway"], "10.88.0.1", "{r}");
    node.del("ctr-old", &pod, &conf);
    node.assert_clean(&base, "0.2.0");
}

/// ADD of an attachment that exists (no DEL in between) fails clearly
/// and takes nothing: the first attachment keeps working and no second
/// lease or veth appears.
#[test]
fn add_twice_fails_and_keeps_the_first_attachment() {
    let node = Node::new();
    let conf = full_conf(&node);
    let pod = node.sb.pod();
    let r = node.add("ctr-2x", &pod, &conf);
    let before = node.state();
    let run = node.exec(&node.call("ADD", "ctr-2x", pod.path_str()), &conf);
    let (code, msg) = run.expect_error();
    assert_eq!(code, u64::from(cni_bridge::code::INTERFACE_EXISTS), "{msg}");
    assert!(
        msg.contains("eth0") && msg.contains("already exists"),
        "{msg}"
    );
    assert_eq!(node.state(), before);
    node.check("ctr-2x", &pod, &conf, &r).expect_ok();
}

/// Without a gateway address nothing else pins the bridge's MAC, and an
/// unpinned bridge takes the lowest MAC of its ports: CHECK of an older pod
/// would then fail as pods come and go (as it does with the reference). We
/// pin the MAC when we create the bridge, so it stays what ADD reported.
#[test]
fn check_of_an_older_pod_passes_after_others_join_without_gateway() {
    let node = Node::new();
    let conf = node.conf(json!({"isGateway": false}));
    let first = node.sb.pod();
    let r = node.add("ctr-first", &first, &conf);
    let others: Vec<_> = (0..4).map(|_| node.sb.pod()).collect();
    for (i, pod) in others.iter().enumerate() {
        node.add(&format!("ctr-other{i}"), pod, &conf);
    }
    node.check("ctr-first", &first, &conf, &r).expect_ok();
    let br = node.sb.host.link("cni0").unwrap_or_default();
    assert_eq!(br["address"], iface(&r, 0)["mac"], "{br}");
}
