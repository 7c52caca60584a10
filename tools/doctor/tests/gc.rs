//! `--gc` after chaos: pods the runtime lost (their cache entries gone,
//! everything else left) and an ADD killed halfway. Afterwards no lease,
//! NAT chain, ifb, tuning backup, firewall state, flannel config or veth of
//! a pod the cache does not know remains, and every live pod keeps all of
//! its state. The state is checked with the administrator's tools, not
//! with the doctor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cni_sandbox::{dir_names, ipam_records, veth_names};
use common::{Node, fix, script};
use serde_json::{Value, json};

const LIVE: [&str; 3] = ["pod-0", "pod-2", "pod-4"];
const LOST: [&str; 4] = ["pod-1", "pod-3", "pod-5", "pod-killed"];

/// ADD `cid` with a list whose last plugin hangs, and kill cnitool once
/// every other plugin has run: nothing is cached, nothing is rolled back.
fn killed_add(node: &Node, list: &Value, cid: &str, pod: &cni_sandbox::Netns) {
    let dir = node.sb.subdir("net.d-killed");
    let pidfile = node.sb.dir().join("hang.pid");
    script(
        &node.bin.join("hang"),
        &format!(
            "case \"$CNI_COMMAND\" in\nVERSION) echo '{{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"1.1.0\"]}}' ;;\nADD) echo $$ > {}; exec sleep 60 ;;\nesac",
            pidfile.display()
        ),
    );
    let mut hanging = list.clone();
    hanging["plugins"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "hang"}));
    std::fs::write(dir.join("10-pods.conflist"), hanging.to_string()).unwrap();
    let mut child = node
        .command(&common::cnitool())
        .env("NETCONFPATH", &dir)
        .env(
            "CAP_ARGS",
            r#"{"portMappings":[{"hostPort":8090,"containerPort":80,"protocol":"tcp"}]}"#,
        )
        .args(["--cache-dir"])
        .arg(&node.cache)
        .args(["--container-id", cid, "add", "pods", pod.path_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the hanging plugin never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // The plugin this test's cnitool started, by its pid.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

fn comments(node: &Node) -> String {
    node.sb.host.iptables_nat(false).join("\n")
}

fn ifbs(node: &Node) -> Vec<String> {
    let mut v: Vec<String> = node
        .sb
        .host
        .links()
        .iter()
        .filter(|l| l["linkinfo"]["info_kind"] == "ifb")
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn ifb_of(cid: &str) -> String {
    netfilter::names::hash_with_prefix(15, "bwp", &format!("pods{cid}"))
}

#[test]
fn gc_after_chaos_reclaims_every_leak_and_keeps_live_pods() {
    let node = Node::new();
    let (tuning, fw) = (node.sb.subdir("tuning"), node.sb.subdir("fw"));
    let list = node.pods(&[
        json!({"type": "portmap", "capabilities": {"portMappings": true}}),
        json!({"type": "tuning", "promisc": true, "dataDir": tuning}),
        json!({"type": "bandwidth", "egressRate": 8_000_000, "egressBurst": 800_000}),
        json!({"type": "firewall", "backend": "iptables", "dataDir": fw}),
    ]);
    let pods: Vec<_> = (0..7).map(|_| node.sb.pod()).collect();
    let mut results = vec![];
    for (i, pod) in pods.iter().take(6).enumerate() {
        let maps = json!({"portMappings": [{"hostPort": 8080 + i, "containerPort": 80, "protocol": "tcp"}]});
        results.push(node.add("pods", &format!("pod-{i}"), pod, Some(&maps)));
    }
    for cid in &LOST[..3] {
        node.lose("pods", cid);
    }
    killed_add(&node, &list, "pod-killed", &pods[6]);
    assert_eq!(dir_names(&node.cache.join("results")).len(), 3);

    let d = node.doctor(&[]);
    assert_eq!(d.code, 1);
    let count = |id: &str| {
        d.with_id(id)
            .first()
            .map_or(0, |f| f["items"].as_array().unwrap().len())
    };
    assert_eq!(count("leaked-leases"), 4, "{:#}", d.json);
    assert_eq!(count("leaked-veths"), 4, "{:#}", d.json);
    assert_eq!(
        count("leaked-chains"),
        8,
        "masquerade and portmap chains: {:#}",
        d.json
    );
    assert_eq!(count("leaked-ifbs"), 4, "{:#}", d.json);
    assert_eq!(
        count("leaked-files"),
        8,
        "tuning backups and firewall state: {:#}",
        d.json
    );
    let gc_fix = fix(&d.with_id("leaked-leases")[0]);
    assert!(gc_fix.ends_with("doctor --gc"), "{gc_fix}");
    for id in [
        "leaked-veths",
        "leaked-chains",
        "leaked-ifbs",
        "leaked-files",
    ] {
        assert_eq!(fix(&d.with_id(id)[0]), gc_fix);
    }

    let out: Value = serde_json::from_str(&node.apply(&format!("{gc_fix} --json"))).unwrap();
    assert_eq!(out["healthy"], true, "{out:#}");
    assert_eq!(
        out["gc"]["reclaimed"].as_array().unwrap().len(),
        28,
        "{out:#}"
    );
    assert_eq!(out["gc"]["veths"].as_array().unwrap().len(), 4, "{out:#}");
    assert_eq!(out["gc"]["networks"][0]["valid"], 3, "{out:#}");
    node.doctor(&[]).assert_healthy();

    // Leases: the live pods' only.
    let leases: Vec<String> = ipam_records(&node.ipam.join("pods"))
        .values()
        .map(|v| v.split("\r\n").next().unwrap().to_string())
        .collect();
    let mut want: Vec<String> = LIVE.iter().map(ToString::to_string).collect();
    let mut got = leases.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // NAT: every live pod's chains, none of the lost ones'.
    let nat = comments(&node);
    for cid in LIVE {
        assert!(
            nat.contains(&format!("id: \\\"{cid}\\\"")),
            "{cid} lost its NAT state:\n{nat}"
        );
    }
    for cid in LOST {
        assert!(
            !nat.contains(&format!("\\\"{cid}\\\"")),
            "{cid} NAT state left:\n{nat}"
        );
    }
    // Links: the live pods' veths and ifbs only.
    let mut host_veths: Vec<String> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, r)| {
            r["interfaces"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["name"].as_str().unwrap().starts_with("veth"))
                .unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    host_veths.sort();
    assert_eq!(veth_names(&node.sb.host), host_veths);
    let mut want_ifbs: Vec<String> = LIVE.iter().map(|c| ifb_of(c)).collect();
    want_ifbs.sort();
    assert_eq!(ifbs(&node), want_ifbs);
    // Files: the live pods' backups and firewall state only.
    let files = |dir: &Path| -> Vec<String> {
        dir_names(dir)
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    assert_eq!(
        files(&tuning),
        ["pod-0_eth0.json", "pod-2_eth0.json", "pod-4_eth0.json"]
    );
    assert_eq!(
        files(&fw.join("pods")),
        ["pod-0:eth0", "pod-2:eth0", "pod-4:eth0"]
    );
    // And the live pods still pass CHECK.
    for cid in LIVE {
        let i: usize = cid[4..].parse().unwrap();
        let (code, out, err) = node.cnitool(
            &["--container-id", cid, "check", "pods", pods[i].path_str()],
            &[],
        );
        assert_eq!(code, 0, "CHECK {cid}: {out}\n{err}");
    }
}

#[test]
fn gc_on_a_flannel_node_reaches_the_delegate_through_an_old_list() {
    let node = Node::flannel();
    let pods: Vec<_> = (0..3).map(|_| node.sb.pod()).collect();
    for (i, p) in pods.iter().enumerate() {
        node.add("cbr0", &format!("pod-{i}"), p, None);
    }
    node.lose("cbr0", "pod-1");
    let d = node.doctor(&[]);
    let ids = d.ids();
    assert_eq!(
        ids,
        ["leaked-files", "leaked-leases", "leaked-veths"],
        "{:#}",
        d.json
    );
    let files = d.with_id("leaked-files")[0]["items"].clone();
    assert_eq!(
        files.as_array().unwrap().len(),
        2,
        "both saved configs: {files:#}"
    );
    let out: Value =
        serde_json::from_str(&node.apply(&format!("{} --json", fix(&d.findings()[0])))).unwrap();
    assert_eq!(out["healthy"], true, "{out:#}");
    assert_eq!(out["gc"]["networks"][0]["version"], "1.1.0", "{out:#}");
    let saved = dir_names(&node.sb.dir().join("flannel"));
    assert_eq!(saved, ["pod-0", "pod-0:eth0", "pod-2", "pod-2:eth0"]);
    assert_eq!(ipam_records(&node.ipam.join("cbr0")).len(), 2);
    assert_eq!(veth_names(&node.sb.host).len(), 2);
}
