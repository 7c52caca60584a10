//! How long the doctor takes on a node with 1,000 pods' worth of state: a
//! measurement, not a test of a limit (no timed assertion). Run it with
//!
//! ```sh
//! cargo test -p cni-doctor --test scale -- --ignored --nocapture
//! ```
//!
//! The fake host gets 1,000 attachments of one bridge network: host-local
//! leases, cache entries naming their veths, 1,000 veths on the bridge,
//! 1,000 masquerade chains and 1,000 portmap chains in nat, and 1,000
//! tuning backups. Half of them are missing from the cache, so every leak
//! check has 500 items to report. README "Node doctor" quotes the result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write;
use std::time::{Duration, Instant};

use common::Node;
use serde_json::json;

const PODS: usize = 1000;

fn cid(i: usize) -> String {
    format!("scale-{i:04}")
}

fn ip(i: usize) -> String {
    format!("10.88.{}.{}", 1 + i / 250, 1 + i % 250)
}

/// What 1,000 ADDs would leave, written directly.
fn fake_state(node: &Node, tuning: &std::path::Path) {
    let store = node.ipam.join("pods");
    let results = node.cache.join("results");
    let markers = tuning.join(".networks/pods");
    for d in [&store, &results, &markers] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut links = String::new();
    let mut nat = String::from("*nat\n");
    let mut rules = String::new();
    for i in 0..PODS {
        let (cid, ip, veth) = (cid(i), ip(i), format!("vs{i:04}"));
        std::fs::write(store.join(&ip), format!("{cid}\r\neth0")).unwrap();
        std::fs::write(tuning.join(format!("{cid}_eth0.json")), "{}").unwrap();
        std::fs::write(markers.join(format!("{cid}_eth0")), "").unwrap();
        if i % 2 == 0 {
            let entry = json!({
                "kind": "cniCacheV1", "containerId": cid, "config": null, "ifName": "eth0",
                "networkName": "pods", "netns": "/run/netns/none",
                "result": {"cniVersion": "1.1.0", "interfaces": [
                    {"name": "cnid0"}, {"name": veth}, {"name": "eth0", "sandbox": "/run/netns/none"}],
                    "ips": [{"address": format!("{ip}/16"), "interface": 2}]}
            });
            std::fs::write(results.join(format!("pods-{cid}-eth0")), entry.to_string()).unwrap();
        }
        let _ = writeln!(
            links,
            "link add {veth} type veth peer name vp{i:04}\nlink set {veth} master cnid0"
        );
        let chain = netfilter::names::hash_with_prefix(28, "CNI-", &format!("pods{cid}"));
        let dn = netfilter::names::hash_with_prefix(28, "CNI-DN-", &format!("pods{cid}"));
        let comment = format!("name: \\\"pods\\\" id: \\\"{cid}\\\"");
        let _ = writeln!(nat, ":{chain} - [0:0]\n:{dn} - [0:0]");
        let _ = writeln!(
            rules,
            "-A POSTROUTING -s {ip}/32 -m comment --comment \"{comment}\" -j {chain}\n\
             -A {chain} -d 10.88.0.0/16 -m comment --comment \"{comment}\" -j ACCEPT\n\
             -A {chain} ! -d 224.0.0.0/4 -m comment --comment \"{comment}\" -j MASQUERADE\n\
             -A CNI-HOSTPORT-DNAT -p tcp -m comment --comment \"dnat {comment}\" -m multiport --dports {} -j {dn}\n\
             -A {dn} -p tcp -m tcp --dport {} -j DNAT --to-destination {ip}:80",
            20000 + i,
            20000 + i
        );
    }
    nat.push_str(&rules);
    nat.push_str("COMMIT\n");
    let batch = node.sb.dir().join("links.batch");
    std::fs::write(&batch, links).unwrap();
    node.sb
        .host
        .sh_ok(&format!("ip -batch {}", batch.display()));
    let restore = node.sb.dir().join("nat.rules");
    std::fs::write(&restore, nat).unwrap();
    node.sb.host.sh_ok(&format!(
        "iptables-restore --noflush < {}",
        restore.display()
    ));
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn doctor_time_with_1000_pods_of_state() {
    let node = Node::new();
    let tuning = node.sb.subdir("tuning");
    let list = node.bridge_list(
        "pods",
        "cnid0",
        json!([[{"subnet": "10.88.0.0/16"}]]),
        &[
            json!({"type": "portmap", "capabilities": {"portMappings": true}}),
            json!({"type": "tuning", "promisc": true, "dataDir": tuning}),
        ],
    );
    node.write_conf("10-pods.conflist", &list);
    // One real pod makes the bridge and portmap's shared chains.
    let pod = node.sb.pod();
    node.add(
        "pods",
        "real",
        &pod,
        Some(
            &json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}),
        ),
    );
    fake_state(&node, &tuning);

    // What the listings the doctor makes cost by themselves.
    let out = node.sb.dir().join("listing.out");
    let tools = node.sb.host.sh_ok(&format!(
        "for c in iptables-nft-save ip6tables-nft-save 'nft -j list chains' \
                  'nft -j list ruleset'; do \
           s=$(date +%s%N); $c > {o}; e=$(date +%s%N); \
           echo \"  $c: $(( (e-s)/1000000 )) ms, $(wc -c < {o}) bytes\"; done",
        o = out.display()
    ));
    eprintln!("listings (nft -j list ruleset is not used):\n{tools}");
    let mut times = vec![];
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        let d = node.doctor(&[]);
        times.push(t.elapsed());
        last = Some(d);
    }
    let d = last.unwrap();
    let items = |id: &str| d.with_id(id)[0]["items"].as_array().unwrap().len();
    assert_eq!(items("leaked-leases"), PODS / 2);
    assert_eq!(items("leaked-veths"), PODS / 2);
    assert_eq!(items("leaked-chains"), PODS);
    assert_eq!(items("leaked-files"), PODS / 2);
    times.sort();
    let median: Duration = times[times.len() / 2];
    eprintln!(
        "doctor on {PODS} pods of state ({} cached): median {median:?} of {:?}",
        PODS / 2 + 1,
        times
    );
}
