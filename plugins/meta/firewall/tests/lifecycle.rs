//! One attachment's life through the binary: DEL without prevResult, GC of
//! a lost attachment, CHECK without side effects, STATUS, the spec
//! versions, bad input, and a node without ip6tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use cni_sandbox::{Call, Sandbox, nft_all_rules, plugin_dir};
use common::*;
use serde_json::{Value, json};

/// The node's firewall state that a pod can leave behind: every rule line
/// of both filter tables and every nftables rule.
fn everything(sb: &Sandbox) -> (Vec<String>, Vec<String>, Vec<Value>) {
    let (v4, v6) = filter(sb);
    (rules(&v4), rules(&v6), nft_all_rules(&sb.host))
}

#[test]
fn del_without_prev_result_leaves_nothing() {
    for backend in ["iptables", "nftables"] {
        let sb = Sandbox::new();
        let state = sb.subdir("state");
        let pod = sb.pod();
        let extra = json!({"backend": backend});
        let with_prev = conf(
            "n",
            &state,
            extra.clone(),
            Some(prev("cni0", &["10.88.0.2/16", "fd88::2/64"])),
        );
        // A first pod makes the shared chains of both families, which
        // stay.
        let other = sb.pod();
        let c0 = conf(
            "n",
            &state,
            extra.clone(),
            Some(prev("cni0", &["10.88.0.9/16", "fd88::9/64"])),
        );
        call(&sb, &ours(), "ADD", "first", &other, &c0).expect_ok();
        let before = everything(&sb);
        call(&sb, &ours(), "ADD", "c1", &pod, &with_prev).expect_ok();
        assert_ne!(everything(&sb), before, "{backend}: ADD changed nothing");
        assert_eq!(files_under(&state).len(), 2);
        let bare = conf("n", &state, extra.clone(), None);
        call(&sb, &ours(), "DEL", "c1", &pod, &bare).expect_ok();
        assert_eq!(everything(&sb), before, "{backend}");
        assert_eq!(files_under(&state).len(), 1);
        // Idempotent, also after the netns is gone.
        pod.remove();
        call(&sb, &ours(), "DEL", "c1", &pod, &bare).expect_ok();
        call(&sb, &ours(), "DEL", "c1", &pod, &with_prev).expect_ok();
        assert_eq!(everything(&sb), before, "{backend}");
    }
}

#[test]
fn gc_of_a_lost_attachment_leaves_nothing() {
    let sb = Sandbox::new();
    let state = sb.subdir("state");
    let keep = sb.pod();
    let lost = sb.pod();
    let c_keep = conf(
        "n",
        &state,
        json!({}),
        Some(prev("cni0", &["10.88.0.2/16"])),
    );
    let c_lost = conf(
        "n",
        &state,
        json!({}),
        Some(prev("cni0", &["10.88.0.3/16", "fd88::3/64"])),
    );
    call(&sb, &ours(), "ADD", "keep", &keep, &c_keep).expect_ok();
    let before = everything(&sb);
    call(&sb, &ours(), "ADD", "lost", &lost, &c_lost).expect_ok();
    // Another network's attachment is not this GC's business.
    let other = conf(
        "m",
        &state,
        json!({}),
        Some(prev("cni1", &["10.99.0.3/24"])),
    );
    call(&sb, &ours(), "ADD", "lost", &lost, &other).expect_ok();
    let gc = |valid: Value| {
        let mut c = conf("n", &state, json!({}), None);
        c["cniVersion"] = json!("1.1.0");
        c["cni.dev/valid-attachments"] = valid;
        Call::new("GC")
            .env("CNI_PATH", &plugin_dir().to_string_lossy())
            .run(&sb.host, &ours(), &c.to_string())
    };
    gc(json!([{"containerID": "keep", "ifname": "eth0"}])).expect_ok();
    let (v4, v6, _) = everything(&sb);
    assert!(mentioning(&v4, "10.88.0.3").is_empty(), "{v4:#?}");
    assert!(mentioning(&v6, "fd88::3").is_empty(), "{v6:#?}");
    assert_eq!(mentioning(&v4, "10.88.0.2").len(), 2);
    assert_eq!(mentioning(&v4, "10.99.0.3").len(), 2);
    assert!(state.join("n/keep:eth0").is_file());
    assert!(!state.join("n/lost:eth0").exists());
    assert!(state.join("m/lost:eth0").is_file());
    // GC without the list removes nothing; an empty list removes all.
    let mut c = conf("n", &state, json!({}), None);
    c["cniVersion"] = json!("1.1.0");
    Call::new("GC")
        .run(&sb.host, &ours(), &c.to_string())
        .expect_ok();
    assert!(state.join("n/keep:eth0").is_file());
    gc(json!([])).expect_ok();
    let (v4, _, _) = everything(&sb);
    assert!(mentioning(&v4, "10.88.0.2").is_empty(), "{v4:#?}");
    let (b4, _, _) = before;
    assert_eq!(
        v4.iter().filter(|l| !l.contains("10.99.0.3")).count(),
        b4.len() - 2
    );
}

#[test]
fn check_changes_nothing_and_notices_what_is_missing() {
    let sb = Sandbox::new();
    let state = sb.subdir("state");
    let pod = sb.pod();
    let c = conf(
        "n",
        &state,
        json!({"ingressPolicy": "isolated"}),
        Some(prev("cni0", &["10.88.0.2/16"])),
    );
    // On an empty node, CHECK fails and creates nothing (the reference
    // creates the chains).
    let empty = filter(&sb);
    let (code, msg) = call(&sb, &ours(), "CHECK", "c1", &pod, &c).expect_error();
    assert_eq!(code, 110, "{msg}");
    assert_eq!(filter(&sb), empty);
    call(&sb, &ours(), "ADD", "c1", &pod, &c).expect_ok();
    let made = filter(&sb);
    call(&sb, &ours(), "CHECK", "c1", &pod, &c).expect_ok();
    assert_eq!(filter(&sb), made);
    for (delete, needle) in [
        (
            "-D CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT",
            "-s 10.88.0.2/32 -j ACCEPT",
        ),
        (
            "-D CNI-ISOLATION-STAGE-2 -o cni0 -m comment --comment \"CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)\" -j DROP",
            "-o cni0",
        ),
    ] {
        call(&sb, &ours(), "ADD", "c1", &pod, &c).expect_ok();
        sb.host.sh_ok(&format!("iptables {delete}"));
        let (code, msg) = call(&sb, &ours(), "CHECK", "c1", &pod, &c).expect_error();
        assert_eq!(code, 110);
        assert!(msg.contains(needle), "{msg}");
    }
    // A CHECK without prevResult is a config error.
    let bare = conf("n", &state, json!({}), None);
    let (code, _) = call(&sb, &ours(), "CHECK", "c1", &pod, &bare).expect_error();
    assert_eq!(code, 7);
}

#[test]
fn versions_status_and_bad_input() {
    let sb = Sandbox::new();
    let state = sb.subdir("state");
    let pod = sb.pod();
    // The reference v1.9.1's versions: 0.4.0, 1.0.0, 1.1.0.
    let v = Call::new("VERSION")
        .run(&sb.host, &ours(), "{}")
        .expect_ok();
    assert_eq!(v["supportedVersions"], json!(["0.4.0", "1.0.0", "1.1.0"]));
    let mut old = conf(
        "n",
        &state,
        json!({}),
        Some(prev("cni0", &["10.88.0.2/16"])),
    );
    old["cniVersion"] = json!("0.3.1");
    let (code, _) = call(&sb, &ours(), "ADD", "c1", &pod, &old).expect_error();
    assert_eq!(code, 1);
    // STATUS says whether the backend can be used.
    let mut s = conf("n", &state, json!({"backend": "nftables"}), None);
    s["cniVersion"] = json!("1.1.0");
    Call::new("STATUS")
        .run(&sb.host, &ours(), &s.to_string())
        .expect_ok();
    s["backend"] = json!("firewalld");
    let (code, msg) = Call::new("STATUS")
        .run(&sb.host, &ours(), &s.to_string())
        .expect_error();
    assert_eq!(code, 50, "{msg}");
    // Bad values are code 7 and change nothing.
    let before = filter(&sb);
    for extra in [
        json!({"backend": "pf"}),
        json!({"ingressPolicy": "closed"}),
        json!({"iptablesAdminChainName": "THIS-NAME-IS-LONGER-THAN-28-CHARS"}),
    ] {
        let c = conf(
            "n",
            &state,
            extra.clone(),
            Some(prev("cni0", &["10.88.0.2/16"])),
        );
        let (code, msg) = call(&sb, &ours(), "ADD", "c1", &pod, &c).expect_error();
        assert_eq!(code, 7, "{extra}: {msg}");
    }
    // ingressPolicy without a bridge in prevResult fails before anything.
    let mut noif = prev("cni0", &["10.88.0.2/16"]);
    noif["interfaces"] = json!([]);
    noif["ips"][0].as_object_mut().unwrap().remove("interface");
    let c = conf(
        "n",
        &state,
        json!({"ingressPolicy": "same-bridge"}),
        Some(noif),
    );
    let (code, msg) = call(&sb, &ours(), "ADD", "c1", &pod, &c).expect_error();
    assert_eq!(code, 7, "{msg}");
    assert_eq!(filter(&sb), before);
    assert!(files_under(&state).is_empty());
    // A firewalld backend that is not running fails ADD clearly.
    let c = conf(
        "n",
        &state,
        json!({"backend": "firewalld"}),
        Some(prev("cni0", &["10.88.0.2/16"])),
    );
    let (code, msg) = call(&sb, &ours(), "ADD", "c1", &pod, &c).expect_error();
    assert_eq!(code, 111, "{msg}");
    assert!(files_under(&state).is_empty());
}

/// The about line (no CNI_COMMAND, empty environment) names a semver
/// that passes nerdctl's >= 1.7.1 check and Nomad's >= 0.4.0.
#[test]
fn about_line() {
    let out = std::process::Command::new(ours())
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with("CNI firewall plugin v1.9.1+cni-rs."),
        "{first}"
    );
    assert_eq!(
        err.lines().nth(1),
        Some("CNI protocol versions supported: 0.4.0, 1.0.0, 1.1.0")
    );
}

/// A node with iptables but no ip6tables: an IPv4 pod works (the
/// reference fails every call there, even DEL).
#[test]
fn no_ip6tables_is_fine_for_ipv4() {
    let sb = Sandbox::new();
    let state = sb.subdir("state");
    // /usr/sbin with iptables-nft's binaries but none of ip6tables'.
    let sbin = sb.subdir("sbin");
    std::fs::copy(
        "/usr/sbin/xtables-nft-multi",
        sbin.join("xtables-nft-multi"),
    )
    .unwrap();
    for name in ["iptables", "iptables-restore", "iptables-save"] {
        std::os::unix::fs::symlink("xtables-nft-multi", sbin.join(name)).unwrap();
    }
    std::fs::copy("/usr/sbin/nft", sbin.join("nft")).unwrap();
    let wrapper: PathBuf = sb.dir().join("firewall");
    with_sbin(&wrapper, &sbin, &ours());
    let pod = sb.pod();
    let c = conf(
        "n",
        &state,
        json!({}),
        Some(prev("cni0", &["10.88.0.2/16"])),
    );
    call(&sb, &wrapper, "ADD", "c1", &pod, &c).expect_ok();
    call(&sb, &wrapper, "CHECK", "c1", &pod, &c).expect_ok();
    let (v4, _) = filter(&sb);
    assert_eq!(mentioning(&v4, "10.88.0.2").len(), 2);
    call(&sb, &wrapper, "DEL", "c1", &pod, &c).expect_ok();
    let (v4, _) = filter(&sb);
    assert!(mentioning(&v4, "10.88.0.2").is_empty());
    // The reference cannot even start there.
    with_sbin(&sb.dir().join("ref"), &sbin, &reference());
    let r = call(&sb, &sb.dir().join("ref"), "ADD", "c1", &pod, &c);
    assert!(
        !r.ok(),
        "the reference worked without ip6tables: {}",
        r.stdout
    );
}
