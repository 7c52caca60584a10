//! ipmasq on the nftables backend, and teardown across both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::{Sandbox, nft_rules};
use common::{nat, nets};
use libcni::spec::Attachment;
use netfilter::ipmasq::{NFT_CHAIN, NFT_POSTROUTING, NFT_TABLE};
use netfilter::tools::exec_count;
use netfilter::{Backend, MasqInstance, ipmasq};
use serde_json::json;

const NFT: Option<Backend> = Some(Backend::Nftables);

fn inst(net: &str, cid: &str, ifname: &str) -> MasqInstance {
    MasqInstance::new(net, cid, ifname).unwrap()
}

fn comments(sb: &Sandbox) -> Vec<String> {
    nft_rules(&sb.host, NFT_TABLE, NFT_CHAIN)
        .iter()
        .map(|r| r["comment"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn setup_builds_the_reference_layout() {
    let sb = Sandbox::new();
    let i = inst("n", "abc", "eth0");
    let used = sb
        .host
        .run(|| i.setup(NFT, &nets(&["10.99.0.2/24", "fd99::2/64"])))
        .unwrap();
    assert_eq!(used, Backend::Nftables);
    let rs = sb.host.nft_ruleset();
    let objs = rs["nftables"].as_array().unwrap();
    let post = objs
        .iter()
        .filter_map(|o| o.get("chain"))
        .find(|c| c["table"] == NFT_TABLE && c["name"] == NFT_POSTROUTING)
        .expect("postrouting chain");
    assert_eq!(post["family"], "inet");
    assert_eq!(post["type"], "nat");
    assert_eq!(post["hook"], "postrouting");
    assert_eq!(post["prio"], 100);
    let post_rules: Vec<_> = nft_rules(&sb.host, NFT_TABLE, NFT_POSTROUTING)
        .into_iter()
        .map(|r| r["expr"].clone())
        .collect();
    assert_eq!(
        post_rules,
        vec![
            json!([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "224.0.0.0", "len": 4}}}}, {"return": null}]),
            json!([{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": {"prefix": {"addr": "ff00::", "len": 8}}}}, {"return": null}]),
            json!([{"goto": {"target": "masq_checks"}}]),
        ]
    );
    let masq = nft_rules(&sb.host, NFT_TABLE, NFT_CHAIN);
    assert_eq!(masq.len(), 2);
    assert_eq!(masq[0]["comment"], i.nft_comment());
    assert_eq!(
        masq[0]["expr"],
        json!([
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.99.0.2"}},
            {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "10.99.0.0", "len": 24}}}},
            {"masquerade": null}
        ])
    );
    assert_eq!(masq[1]["expr"][0]["match"]["right"], "fd99::2");
    // Text form, as `nft list` shows it.
    let text = sb
        .host
        .sh_ok(&format!("nft list chain inet {NFT_TABLE} {NFT_CHAIN}"));
    assert!(
        text.contains("ip saddr 10.99.0.2 ip daddr != 10.99.0.0/24 masquerade comment"),
        "{text}"
    );
    // iptables untouched.
    assert!(!nat(&sb.host, false).iter().any(|l| l.contains("CNI-")));
    // A second pod keeps the base chain as it was (flushed and refilled).
    sb.host
        .run(|| inst("n", "def", "eth0").setup(NFT, &nets(&["10.99.0.3/24"])))
        .unwrap();
    assert_eq!(nft_rules(&sb.host, NFT_TABLE, NFT_POSTROUTING).len(), 3);
    assert_eq!(nft_rules(&sb.host, NFT_TABLE, NFT_CHAIN).len(), 3);
}

#[test]
fn teardown_with_and_without_ips() {
    let sb = Sandbox::new();
    let (a, b) = (inst("n", "a", "eth0"), inst("n", "b", "eth0"));
    let addrs_a = nets(&["10.99.0.2/24", "fd99::2/64"]);
    sb.host.run(|| {
        a.setup(NFT, &addrs_a).unwrap();
        b.setup(NFT, &nets(&["10.99.0.3/24"])).unwrap();
    });
    sb.host.run(|| a.teardown(Some(&addrs_a))).unwrap();
    assert_eq!(comments(&sb), vec![b.nft_comment()]);
    sb.host.run(|| b.teardown(None)).unwrap();
    assert!(comments(&sb).is_empty());
    // Tearing down again: succeeds; the chain still exists but the rules
    // are read over nfnetlink and nothing matches: no exec.
    let execs = sb.host.run(|| {
        let before = exec_count();
        b.teardown(None).unwrap();
        exec_count() - before
    });
    assert_eq!(execs, 0);
}

#[test]
fn teardown_matches_interface_too() {
    let sb = Sandbox::new();
    let (e0, e1) = (inst("n", "a", "eth0"), inst("n", "a", "net1"));
    sb.host.run(|| {
        e0.setup(NFT, &nets(&["10.99.0.2/24"])).unwrap();
        e1.setup(NFT, &nets(&["10.98.0.2/24"])).unwrap();
        e0.teardown(None).unwrap();
    });
    assert_eq!(comments(&sb), vec![e1.nft_comment()]);
}

#[test]
fn teardown_when_nothing_exists_runs_nothing() {
    let sb = Sandbox::new();
    let execs = sb.host.run(|| {
        let before = exec_count();
        inst("n", "abc", "eth0").teardown(None).unwrap();
        exec_count() - before
    });
    assert_eq!(execs, 0);
}

#[test]
fn teardown_cleans_both_backends() {
    let sb = Sandbox::new();
    let empty = (nat(&sb.host, false), nat(&sb.host, true));
    let i = inst("n", "abc", "eth0");
    let addrs = nets(&["10.99.0.2/24", "fd99::2/64"]);
    sb.host.run(|| {
        i.setup(Some(Backend::Iptables), &addrs).unwrap();
        i.setup(NFT, &addrs).unwrap();
    });
    assert_eq!(comments(&sb).len(), 2);
    sb.host.run(|| i.teardown(None)).unwrap();
    assert!(comments(&sb).is_empty());
    assert_eq!((nat(&sb.host, false), nat(&sb.host, true)), empty);
}

#[test]
fn check_finds_missing_rules() {
    let sb = Sandbox::new();
    let i = inst("n", "abc", "eth0");
    let addrs = nets(&["10.99.0.2/24", "fd99::2/64"]);
    let err = sb
        .host
        .run(|| i.check(NFT, &addrs))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing"), "{err}");
    sb.host.run(|| i.setup(NFT, &addrs)).unwrap();
    sb.host.run(|| i.check(NFT, &addrs)).unwrap();
    let err = sb
        .host
        .run(|| inst("n", "abc", "eth1").check(NFT, &addrs))
        .unwrap_err()
        .to_string();
    assert!(err.contains("10.99.0.2"), "{err}");
    let err = sb
        .host
        .run(|| i.check(NFT, &nets(&["10.99.0.7/24"])))
        .unwrap_err()
        .to_string();
    assert!(err.contains("10.99.0.7"), "{err}");
}

#[test]
fn gc_keeps_valid_attachments_only() {
    let sb = Sandbox::new();
    sb.host.run(|| {
        inst("n", "keep", "eth0")
            .setup(NFT, &nets(&["10.99.0.2/24"]))
            .unwrap();
        inst("n", "keep", "net1")
            .setup(NFT, &nets(&["10.98.0.2/24"]))
            .unwrap();
        inst("n", "gone", "eth0")
            .setup(NFT, &nets(&["10.99.0.3/24"]))
            .unwrap();
        inst("other", "gone", "eth0")
            .setup(NFT, &nets(&["10.97.0.3/24"]))
            .unwrap();
    });
    let valid = vec![Attachment {
        container_id: "keep".into(),
        ifname: "eth0".into(),
    }];
    sb.host.run(|| ipmasq::gc("n", &valid)).unwrap();
    let mut left = comments(&sb);
    left.sort();
    let mut want = vec![
        inst("n", "keep", "eth0").nft_comment(),
        inst("other", "gone", "eth0").nft_comment(),
    ];
    want.sort();
    assert_eq!(left, want);
}
