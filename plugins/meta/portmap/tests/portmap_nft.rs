//! The nftables backend: the reference's tables and chains, one
//! transaction per operation, DEL by comment (idempotent, without
//! prevResult), CHECK positive and negative, conditions, and shared rules
//! written by the reference taken over once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::{TcpServer, tcp_probe};
use common::*;
use serde_json::{Value, json};

fn nft() -> Value {
    json!({"backend": "nftables"})
}

fn maps() -> Value {
    json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8081, "containerPort": 81, "protocol": "udp"},
        {"hostPort": 8082, "containerPort": 82, "protocol": "tcp", "hostIP": "fd50::1"}
    ])
}

fn handles(rules: &[Value]) -> Vec<u64> {
    rules
        .iter()
        .map(|r| r["handle"].as_u64().unwrap())
        .collect()
}

#[test]
fn layout_and_del() {
    let node = Node::new(true);
    let host = &node.sb.host;
    let a = node.pod_with(&ours(), "podA", &maps(), &nft());
    // Tables and chains of both families; no iptables state.
    for fam in ["ip", "ip6"] {
        for chain in ["prerouting", "output", "hostports_all"] {
            assert!(
                !hostport_rules(host, fam, chain).is_empty(),
                "{fam} {chain}"
            );
        }
        assert!(hostport_rules(host, fam, "hostip_hostports").is_empty());
    }
    assert!(!node.nat().0.iter().any(|l| l.contains("CNI-HOSTPORT")));
    // v4: two DNAT rules (the fd50::1 hostIP mapping is skipped), two
    // masquerade rules; v6: three DNAT rules, one masquerade rule.
    let count = |fam: &str, chain: &str| {
        hostport_rules(host, fam, chain)
            .iter()
            .filter(|r| r["comment"] == "podA")
            .count()
    };
    assert_eq!(count("ip", "hostports"), 2);
    assert_eq!(count("ip", "masquerading"), 2);
    assert_eq!(count("ip6", "hostports"), 3);
    assert_eq!(count("ip6", "masquerading"), 1);

    // A second pod only adds: the shared rules keep their handles.
    let pre = handles(&hostport_rules(host, "ip", "prerouting"));
    let all = handles(&hostport_rules(host, "ip", "hostports_all"));
    let b = node.pod_with(&ours(), "podB", &maps(), &nft());
    assert_eq!(handles(&hostport_rules(host, "ip", "prerouting")), pre);
    assert_eq!(handles(&hostport_rules(host, "ip", "hostports_all")), all);
    assert_eq!(hostport_rules_of(host, "podB").len(), 8);

    // DEL removes exactly podA's rules; twice; without prevResult.
    node.del(&ours(), &a, &maps(), &nft(), true).expect_ok();
    assert!(hostport_rules_of(host, "podA").is_empty());
    assert_eq!(hostport_rules_of(host, "podB").len(), 8);
    node.del(&ours(), &a, &maps(), &nft(), false).expect_ok();
    let bare =
        json!({"cniVersion": VERSION, "name": NET, "type": "portmap", "backend": "nftables"});
    node.run(&ours(), "DEL", &b.cid, "", &bare).expect_ok();
    assert!(hostport_rules_of(host, "podB").is_empty());
    node.run(&ours(), "DEL", &b.cid, "", &bare).expect_ok();
}

#[test]
fn check_passes_then_catches_a_rule_deleted_by_hand() {
    let node = Node::new(true);
    let host = &node.sb.host;
    let a = node.pod_with(&ours(), "podA", &maps(), &nft());
    let conf = node.portmap_conf(&maps(), &nft(), Some(&a.prev));
    node.run(&ours(), "CHECK", &a.cid, a.ns.path_str(), &conf)
        .expect_ok();
    let victim = hostport_rules(host, "ip6", "hostports")
        .into_iter()
        .find(|r| r["comment"] == "podA")
        .unwrap();
    host.sh_ok(&format!(
        "nft delete rule ip6 cni_hostport hostports handle {}",
        victim["handle"]
    ));
    let r = node.run(&ours(), "CHECK", &a.cid, a.ns.path_str(), &conf);
    assert_eq!(r.expect_err(), u64::from(cni_portmap::code::CHECK_FAILED));
    assert!(r.stdout.contains("hostports"), "{}", r.stdout);
    // An IPv4-only pod passes (nothing is expected in ip6).
    let node = Node::new(false);
    let m = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    let a = node.pod_with(&ours(), "podA", &m, &nft());
    let conf = node.portmap_conf(&m, &nft(), Some(&a.prev));
    node.run(&ours(), "CHECK", &a.cid, a.ns.path_str(), &conf)
        .expect_ok();
    node.sb
        .host
        .sh_ok("nft flush chain ip cni_hostport masquerading");
    let r = node.run(&ours(), "CHECK", &a.cid, a.ns.path_str(), &conf);
    assert_eq!(r.expect_err(), u64::from(cni_portmap::code::CHECK_FAILED));
    assert!(r.stdout.contains("masquerading"), "{}", r.stdout);
}

#[test]
fn conditions_restrict_and_reference_shaped_entries_are_replaced() {
    let node = Node::new(false);
    let host = &node.sb.host;
    // Entry rules as the reference writes them (no comment), plus a stray
    // one: our ADD must replace them with exactly one marked rule.
    host.sh_ok(
        "nft add table ip cni_hostport && \
         nft add chain ip cni_hostport hostports && \
         nft add chain ip cni_hostport hostip_hostports && \
         nft add chain ip cni_hostport hostports_all && \
         nft add rule ip cni_hostport hostports_all jump hostip_hostports && \
         nft add rule ip cni_hostport hostports_all jump hostports && \
         nft 'add chain ip cni_hostport prerouting { type nat hook prerouting priority -100 ; }' && \
         nft add rule ip cni_hostport prerouting fib daddr type local jump hostports_all && \
         nft add rule ip cni_hostport prerouting fib daddr type local jump hostports_all",
    );
    let m = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    let extra = json!({"backend": "nftables", "conditionsV4": ["ip saddr != 192.168.50.0/24"]});
    let a = node.pod_with(&ours(), "podA", &m, &extra);
    let pre = hostport_rules(host, "ip", "prerouting");
    assert_eq!(pre.len(), 1, "{pre:#?}");
    assert!(
        pre[0]["comment"]
            .as_str()
            .unwrap()
            .starts_with("cni portmap entry ")
    );
    assert_eq!(hostport_rules(host, "ip", "hostports_all").len(), 2);
    let _s = TcpServer::start(&a.ns, sa("0.0.0.0", 80));
    // The external peer is in 192.168.50.0/24: excluded.
    assert!(tcp_probe(&node.ext, sa(HOST4, 8080), FAIL).is_err());
    // The node itself from 127.0.0.1 is not.
    tcp_probe(host, sa("127.0.0.1", 8080), OK).unwrap();
    // New conditions on a later ADD rewrite the entry rules (last wins,
    // as in the reference).
    let b = node.pod_with(
        &ours(),
        "podB",
        &json!([{"hostPort": 8090, "containerPort": 80}]),
        &nft(),
    );
    let pre2 = hostport_rules(host, "ip", "prerouting");
    assert_eq!(pre2.len(), 1);
    assert_ne!(pre2[0]["comment"], pre[0]["comment"]);
    let r = tcp_probe(&node.ext, sa(HOST4, 8080), OK);
    assert!(r.is_ok(), "{r:?}\n{}", host.sh_ok("nft list ruleset"));
    drop(b);
}

#[test]
fn reference_style_rules_are_deleted_by_comment() {
    // A rule written by another implementation, with only the container
    // ID as comment, is removed by our DEL.
    let node = Node::new(false);
    let host = &node.sb.host;
    let m = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    let a = node.pod_with(&ours(), "podA", &m, &nft());
    host.sh_ok(
        "nft add rule ip cni_hostport hostports ip protocol tcp th dport 9999 dnat ip addr . port to 10.99.0.2 . 80 comment '\"podA\"'",
    );
    assert_eq!(hostport_rules_of(host, "podA").len(), 4);
    node.del(&ours(), &a, &m, &nft(), true).expect_ok();
    assert!(hostport_rules_of(host, "podA").is_empty());
}
