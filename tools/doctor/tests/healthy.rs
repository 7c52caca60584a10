//! Healthy nodes report nothing (exit 0), and the doctor without `--gc`
//! changes nothing at all, even on a node with plenty to report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use common::{Node, evidence, fix};
use serde_json::json;

#[test]
fn a_single_node_with_bridge_host_local_portmap_and_one_pod() {
    let node = Node::new();
    node.simple("pods", "cni0", "10.88.0.0/24");
    let pod = node.sb.pod();
    node.add(
        "pods",
        "pod-a",
        &pod,
        Some(
            &json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}),
        ),
    );
    let d = node.doctor(&[]);
    d.assert_healthy();
    assert_eq!(d.json["inspected"]["networks"], json!(["pods"]));
    assert_eq!(d.json["inspected"]["attachments"], 1);
    let (code, text, _) = node.cnitool(&["doctor"], &[]);
    assert_eq!(code, 0);
    assert!(text.starts_with("healthy: nothing wrong found"), "{text}");
}

#[test]
fn a_flannel_node() {
    let node = Node::flannel();
    let pod = node.sb.pod();
    node.add("cbr0", "pod-a", &pod, None);
    let cni0 = node.sb.host.link("cni0").unwrap();
    assert_eq!(cni0["mtu"], 1450);
    node.doctor(&[]).assert_healthy();
}

#[test]
fn a_flannel_mtu_below_the_bridge() {
    let node = Node::flannel();
    let pod = node.sb.pod();
    node.add("cbr0", "pod-a", &pod, None);
    // flanneld moved to a smaller MTU (a new uplink); cni0 kept 1450.
    std::fs::write(
        node.subnet_env(),
        common::SUBNET_ENV.replace("FLANNEL_MTU=1450", "FLANNEL_MTU=1400"),
    )
    .unwrap();
    node.sb.host.sh_ok("ip link set flannel.1 mtu 1400");
    let f = node.doctor(&[]).only("mtu-mismatch");
    let ev = evidence(&f);
    assert!(ev.contains("cni0 (bridge) MTU 1450"), "{ev}");
    assert!(ev.contains("FLANNEL_MTU=1400 in"), "{ev}");
    assert_eq!(fix(&f), "ip link set dev cni0 mtu 1400");
    node.apply(&fix(&f));
    node.doctor(&[]).assert_healthy();
}

/// Names and content hashes of every file under `dir` (symlinks by
/// target).
fn tree(dir: &Path, out: &mut BTreeMap<String, u64>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let p = e.path();
        let t = e.file_type().unwrap();
        let mut h = DefaultHasher::new();
        if t.is_dir() {
            out.insert(format!("{}/", p.display()), 0);
            tree(&p, out);
            continue;
        } else if t.is_symlink() {
            std::fs::read_link(&p).unwrap().hash(&mut h);
        } else {
            std::fs::read(&p).unwrap().hash(&mut h);
        }
        out.insert(p.display().to_string(), h.finish());
    }
}

/// Everything the doctor reads, as an administrator would list it, without
/// what the kernel changes by itself (timers, counters, DAD and operstate).
fn state(node: &Node) -> (Vec<String>, BTreeMap<String, u64>) {
    let listing = node.sb.host.sh_ok(
        "for t in iptables-nft-save ip6tables-nft-save iptables-legacy-save ip6tables-legacy-save; do \
           $t 2>/dev/null | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]$//'; done; \
         nft -s list ruleset; ip route show table all; ip -6 route show table all; \
         sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.bridge.bridge-nf-call-iptables",
    );
    let mut lines: Vec<String> = listing.lines().map(str::to_string).collect();
    for l in node.sb.host.links() {
        lines.push(format!(
            "link {} {} mtu {} master {} {}",
            l["ifname"], l["linkinfo"]["info_kind"], l["mtu"], l["master"], l["address"]
        ));
    }
    for l in node.sb.host.ip_json("addr show").as_array().unwrap() {
        for a in l["addr_info"].as_array().unwrap() {
            lines.push(format!(
                "addr {} {}/{}",
                l["ifname"], a["local"], a["prefixlen"]
            ));
        }
    }
    let mut files = BTreeMap::new();
    tree(node.sb.dir(), &mut files);
    (lines, files)
}

#[test]
fn without_gc_nothing_changes() {
    let node = Node::new();
    node.pods(&[
        json!({"type": "portmap", "capabilities": {"portMappings": true}}),
        json!({"type": "tuning", "promisc": true, "dataDir": node.sb.subdir("tuning")}),
        json!({"type": "bandwidth", "egressRate": 8_000_000, "egressBurst": 800_000}),
    ]);
    node.simple("astray", "cnid9", "10.99.0.0/24");
    let pods: Vec<_> = (0..3).map(|_| node.sb.pod()).collect();
    let maps =
        json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]});
    for (i, p) in pods.iter().enumerate() {
        node.add("pods", &format!("pod-{i}"), p, Some(&maps));
    }
    node.lose("pods", "pod-1");
    node.sb.host.sh_ok(
        "iptables -P FORWARD DROP && iptables-legacy -A INPUT -s 192.0.2.1 -j ACCEPT && \
         sysctl -qw net.ipv4.ip_forward=0",
    );
    let before = state(&node);
    let d = node.doctor(&[]);
    assert_eq!(d.code, 1);
    for id in [
        "forward-drop",
        "ip-forward-off",
        "iptables-split",
        "several-networks",
        "leaked-leases",
        "leaked-veths",
        "leaked-chains",
        "leaked-ifbs",
        "leaked-files",
    ] {
        assert!(
            d.ids().iter().any(|i| i == id),
            "{id} missing: {:?}",
            d.ids()
        );
    }
    let (code, _, _) = node.cnitool(&["doctor"], &[]);
    assert_eq!(code, 1);
    let after = state(&node);
    assert_eq!(before.0, after.0, "kernel state changed");
    assert_eq!(before.1, after.1, "files changed");
}
