//! Our tuning through its whole life on a real pod: what the pod sees
//! (its MAC on the wire, its MTU in a real transfer), txQLen, DEL in every
//! state the attachment can be in, GC, STATUS and CHECK corner cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

const CID: &str = "c1";

#[test]
fn the_pod_uses_the_tuned_mac_and_mtu() {
    let node = Node::new();
    let conf = node.conf(json!({"mac": "0a:00:00:12:34:56", "mtu": 1280}));
    node.exec(&ours(), "ADD", CID, &conf).expect_ok();
    // The host learns the pod's new MAC from the pod's own traffic.
    node.pod
        .sh_ok(&format!("ping -c 1 -W 5 {HOST_IP} >/dev/null"));
    let neigh = node
        .sb
        .host
        .sh_ok(&format!("ip neigh show {POD_IP} dev vh0"));
    assert!(neigh.contains("0a:00:00:12:34:56"), "{neigh}");
    // Packets that fit the new MTU leave the pod unfragmented; bigger ones
    // are refused by the pod's own stack.
    node.pod.sh_ok(&format!(
        "ping -c 1 -W 5 -M do -s 1252 {HOST_IP} >/dev/null"
    ));
    let (ok, _, err) = node
        .pod
        .sh(&format!("ping -c 1 -W 5 -M do -s 1400 {HOST_IP}"));
    assert!(!ok, "a 1428-byte packet left a pod with MTU 1280");
    assert!(err.contains("1280") || err.contains("too long"), "{err}");
    // DEL puts the original MAC back on the wire too.
    node.exec(&ours(), "DEL", CID, &conf).expect_ok();
    node.sb.host.sh_ok("ip neigh flush dev vh0");
    node.pod.sh_ok(&format!(
        "ping -c 1 -W 5 -M do -s 1400 {HOST_IP} >/dev/null"
    ));
    let neigh = node
        .sb
        .host
        .sh_ok(&format!("ip neigh show {POD_IP} dev vh0"));
    assert!(neigh.contains(POD_MAC), "{neigh}");
}

#[test]
fn txqlen_is_set_and_restored_including_zero() {
    for q in [0u64, 42] {
        let node = Node::new();
        let conf = node.conf(json!({"txQLen": q}));
        node.exec(&ours(), "ADD", CID, &conf).expect_ok();
        assert_eq!(node.link(IFNAME).txqlen, q);
        assert_eq!(node.backup(CID, IFNAME).unwrap(), "{\n \"txQLen\": 1000\n}");
        node.exec(&ours(), "CHECK", CID, &conf).expect_ok();
        node.exec(&ours(), "DEL", CID, &conf).expect_ok();
        assert_eq!(node.link(IFNAME).txqlen, 1000);
    }
}

#[test]
fn spec_1_1_0_add_check_del() {
    let node = Node::new();
    let conf = node.conf_at(
        "1.1.0",
        IFNAME,
        json!({"mtu": 1400, "sysctl": {"net.core.somaxconn": "77"}}),
    );
    let r = node.exec(&ours(), "ADD", CID, &conf).expect_ok();
    assert_eq!(r["cniVersion"], "1.1.0");
    node.exec(&ours(), "CHECK", CID, &conf).expect_ok();
    node.exec(&ours(), "DEL", CID, &conf).expect_ok();
    assert_eq!(node.link(IFNAME).mtu, POD_MTU);
}

#[test]
fn check_without_top_level_sysctl_uses_args_and_does_not_panic() {
    let node = Node::new();
    let conf = node.conf(json!({"args": {"cni": {"sysctl": {"net.core.somaxconn": "88"}}}}));
    node.exec(&ours(), "ADD", CID, &conf).expect_ok();
    assert_eq!(node.sysctl("net/core/somaxconn"), "88");
    node.exec(&ours(), "CHECK", CID, &conf).expect_ok();
    node.pod.sh_ok("sysctl -qw net.core.somaxconn=89");
    let (code, msg) = node.exec(&ours(), "CHECK", CID, &conf).expect_error();
    assert_eq!(code, 112);
    assert!(msg.contains("somaxconn") && msg.contains("\"89\""), "{msg}");
}

#[test]
fn check_without_link_or_prev_result_fails_clearly() {
    let node = Node::new();
    let conf = node.conf(json!({"mtu": 1400}));
    node.exec(&ours(), "ADD", CID, &conf).expect_ok();
    let mut no_prev = conf.clone();
    no_prev.as_object_mut().unwrap().remove("prevResult");
    let (code, msg) = node.exec(&ours(), "CHECK", CID, &no_prev).expect_error();
    assert_eq!(code, 7);
    assert!(msg.contains("prevResult"), "{msg}");
    node.pod.sh_ok("ip link del eth0");
    let (code, msg) = node.exec(&ours(), "CHECK", CID, &conf).expect_error();
    assert_eq!(code, 112);
    assert!(msg.contains("eth0"), "{msg}");
}

#[test]
fn del_is_idempotent_and_removes_backups_that_can_no_longer_be_restored() {
    let extra = json!({"mtu": 1400});
    // The link is gone (the main plugin's DEL ran first).
    let node = Node::new();
    let conf = node.conf(extra.clone());
    node.exec(&ours(), "ADD", CID, &conf).expect_ok();
    node.pod.sh_ok("ip link del eth0");
    node.exec(&ours(), "DEL", CID, &conf).expect_ok();
    assert_eq!(node.backup(CID, IFNAME), None);
    node.exec(&ours(), "DEL", CID, &conf).expect_ok();

    // The netns is gone, or not given (containerd's second DEL).
    for gone in ["remove", "empty"] {
        let node = Node::new();
        let conf = node.conf(extra.clone());
        node.exec(&ours(), "ADD", CID, &conf).expect_ok();
        let call = if gone == "remove" {
            node.pod.remove();
            node.call("DEL", CID, IFNAME)
        } else {
            node.call("DEL", CID, IFNAME).env("CNI_NETNS", "")
        };
        node.run(&ours(), &call, &conf).expect_ok();
        assert_eq!(node.backup(CID, IFNAME), None, "{gone}");
        assert!(
            !node
                .data
                .join(".networks")
                .join(NET)
                .join("c1_eth0")
                .exists(),
            "{gone}: marker left"
        );
    }

    // A backup that does not parse is removed, the link left alone.
    let node = Node::new();
    let conf = node.conf(extra.clone());
    std::fs::create_dir_all(&node.data).unwrap();
    std::fs::write(node.data.join("c1_eth0.json"), "{\"mtu\": 1400").unwrap();
    node.exec(&ours(), "DEL", CID, &conf).expect_ok();
    assert_eq!(node.backup(CID, IFNAME), None);
    assert_eq!(node.link(IFNAME).mtu, POD_MTU);

    // DEL with a config ADD would refuse still restores.
    let node = Node::new();
    let conf = node.conf(extra);
    node.exec(&ours(), "ADD", CID, &conf).expect_ok();
    let bad = node.conf(json!({"mtu": "x", "mac": "nonsense", "sysctl": {"kernel.x": 1}}));
    node.exec(&ours(), "DEL", CID, &bad).expect_ok();
    assert_eq!(node.link(IFNAME).mtu, POD_MTU);
    assert_eq!(node.backup(CID, IFNAME), None);
}

#[test]
fn gc_removes_backups_of_attachments_that_are_not_valid_in_this_network_only() {
    let node = Node::new();
    let conf = node.conf(json!({"mtu": 1400}));
    node.exec(&ours(), "ADD", "keep", &conf).expect_ok();
    node.exec(&ours(), "ADD", "stale", &conf).expect_ok();
    // Another network sharing the dataDir.
    let mut other = conf.clone();
    other["name"] = json!("othernet");
    node.exec(&ours(), "ADD", "elsewhere", &other).expect_ok();

    let mut gc = json!({
        "cniVersion": "1.1.0", "name": NET, "type": "tuning",
        "dataDir": node.data.to_string_lossy(),
        "cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "eth0"}]
    });
    let call = cni_sandbox::Call::new("GC").env("CNI_PATH", &node.sb.dir().to_string_lossy());
    node.run(&ours(), &call, &gc).expect_ok();
    assert!(node.backup("keep", IFNAME).is_some());
    assert!(node.backup("stale", IFNAME).is_none());
    assert!(node.backup("elsewhere", IFNAME).is_some());
    // Without a valid list nothing is removed.
    gc.as_object_mut()
        .unwrap()
        .remove("cni.dev/valid-attachments");
    node.run(&ours(), &call, &gc).expect_ok();
    assert!(node.backup("keep", IFNAME).is_some());
}

#[test]
fn status_reports_a_node_that_cannot_take_adds() {
    let node = Node::new();
    let status = |data: &str| {
        let conf = json!({"cniVersion": "1.1.0", "name": NET, "type": "tuning",
                          "dataDir": data, "mtu": 1400});
        let call =
            cni_sandbox::Call::new("STATUS").env("CNI_PATH", &node.sb.dir().to_string_lossy());
        node.run(&ours(), &call, &conf)
    };
    status(&node.data.to_string_lossy()).expect_ok();
    let file = node.sb.dir().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, msg) = status(&file.to_string_lossy()).expect_error();
    assert_eq!(code, 50);
    assert!(msg.contains("a-file"), "{msg}");
}
