//! The nftables backend on a node with no iptables binaries at all, whose
//! forward policy is a drop in the node's own nftables table: traffic,
//! and the ruleset as `nft list ruleset` shows it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use cni_sandbox::{Sandbox, TcpServer, nft_all_rules, nft_rules, plugin_path};
use common::*;
use serde_json::{Value, json};

/// A plugin directory whose binaries run where /usr/sbin holds nothing
/// but `nft` ([`with_sbin`]).
fn without_iptables(sb: &Sandbox) -> PathBuf {
    let sbin = sb.subdir("sbin");
    std::fs::copy("/usr/sbin/nft", sbin.join("nft")).unwrap();
    let bin = sb.subdir("bin");
    for name in ["bridge", "host-local", "firewall", "loopback", "portmap"] {
        with_sbin(&bin.join(name), &sbin, &plugin_path(name));
    }
    // The wrapper really hides them.
    let (ok, out, _) = sb.host.sh(&format!(
        "unshare -m --propagation private sh -c 'mount --bind {} /usr/sbin && ls /usr/sbin && ls /sbin && ls /usr/bin /usr/local/bin /usr/local/sbin | grep -c \"^ip6*tables$\"'",
        sbin.display()
    ));
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["nft", "nft", "0"],
        "{ok}"
    );
    bin
}

fn comment(r: &Value) -> &str {
    r["comment"].as_str().unwrap_or_default()
}

/// The statements of a rule as nft's JSON, for matching.
fn text(r: &Value) -> String {
    r["expr"].to_string()
}

#[test]
fn nftables_backend_on_a_node_without_iptables() {
    let node = Node::new();
    let dir = without_iptables(&node.sb);
    let node = node.with_plugins(dir);
    node.sb.host.sh_ok(
        "nft add table inet filter && \
         nft add chain inet filter forward '{ type filter hook forward priority 0; policy drop; }' && \
         nft add rule inet filter forward iifname lo accept",
    );
    let out = node.sb.outside();
    let uplink = TcpServer::start(&out, "192.0.2.2:0".parse().unwrap());
    let policy = Some(json!({"ingressPolicy": "same-bridge"}));
    let a = node.network("neta", "cnibra", "10.88.1.0/24", policy.clone());
    let b = node.network("netb", "cnibrb", "10.88.2.0/24", policy);
    let (a1, a1_ip) = node.add(&a, "a1");
    let (b1, b1_ip) = node.add(&b, "b1");
    let in_b = TcpServer::start(&b1, SocketAddr::new(b1_ip, 0));
    assert!(reaches(&a1, uplink.addr), "the node's drop policy won");
    assert!(reaches(&b1, uplink.addr));
    assert!(
        blocked(&a1, in_b.addr),
        "same-bridge let traffic cross bridges"
    );
    node.check(&a, "a1", &a1).unwrap();

    // What `nft list ruleset` shows: no iptables table at all; in the
    // node's table the jumps come first (isolation above the accept
    // path), then the administrator's rule; the pod's two rules in
    // cni_forward; our own table beside it.
    let tables = node.sb.host.sh_ok("nft list tables");
    let mut tables: Vec<&str> = tables.lines().collect();
    tables.sort_unstable();
    assert_eq!(
        tables,
        [
            "table inet cni_plugins_firewall",
            "table inet cni_plugins_masquerade",
            "table inet filter",
        ]
    );
    let forward = nft_rules(&node.sb.host, "filter", "forward");
    let forward: Vec<String> = forward.iter().map(text).collect();
    assert_eq!(forward.len(), 3, "{forward:#?}");
    assert!(forward[0].contains("\"target\":\"cni_isolation_stage_1\""));
    assert!(forward[1].contains("\"target\":\"cni_forward\""));
    assert!(forward[2].contains("\"lo\""));
    for table in ["filter", "cni_plugins_firewall"] {
        let rules = nft_rules(&node.sb.host, table, "cni_forward");
        let a1_rules: Vec<&Value> = rules
            .iter()
            .filter(|r| text(r).contains(&format!("\"{a1_ip}\"")))
            .collect();
        assert_eq!(a1_rules.len(), 2, "{table}: {rules:#?}");
        assert!(comment(a1_rules[0]).contains("net: neta, if: eth0, id: a1"));
        assert!(text(a1_rules[0]).contains("\"established\",\"related\""));
        assert!(text(&rules[0]).contains("\"target\":\"cni_admin\""));
        let stage2 = nft_rules(&node.sb.host, table, "cni_isolation_stage_2");
        assert_eq!(stage2.len(), 2, "{table}: {stage2:#?}");
    }

    // DEL leaves no rule of the pods; the shared chains and jumps stay.
    node.del(&a, "a1", &a1);
    node.del(&b, "b1", &b1);
    let left: Vec<Value> = nft_all_rules(&node.sb.host)
        .into_iter()
        .filter(|r| comment(r).contains("id: a1") || comment(r).contains("id: b1"))
        .collect();
    assert!(left.is_empty(), "{left:#?}");
    assert_eq!(nft_rules(&node.sb.host, "filter", "forward").len(), 3);
    assert!(files_under(&node.state).is_empty());
}

/// The nftables backend where the drop is iptables-nft's (Docker's
/// `FORWARD` policy): the reference's iptables layout goes into that
/// table, in iptables-nft's encoding, so iptables-save still reads it.
#[test]
fn nftables_backend_where_iptables_nft_drops() {
    let node = Node::new();
    node.forward_drop();
    let out = node.sb.outside();
    let uplink = TcpServer::start(&out, "192.0.2.2:0".parse().unwrap());
    let net = node.network(
        "n",
        "cnibr0",
        "10.88.1.0/24",
        Some(json!({"backend": "nftables"})),
    );
    let (pod, ip) = node.add(&net, "c1");
    assert!(reaches(&pod, uplink.addr));
    let (v4, _) = filter(&node.sb);
    assert_eq!(
        mentioning(&v4, &format!("{ip}/32")),
        [
            format!(
                "-A CNI-FORWARD -d {ip}/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
            ),
            format!("-A CNI-FORWARD -s {ip}/32 -j ACCEPT"),
        ]
    );
    node.check(&net, "c1", &pod).unwrap();
    node.del(&net, "c1", &pod);
    let (v4, _) = filter(&node.sb);
    assert!(mentioning(&v4, &ip.to_string()).is_empty(), "{v4:#?}");
    assert!(
        nft_all_rules(&node.sb.host)
            .iter()
            .all(|r| !comment(r).contains("id: c1"))
    );
}
