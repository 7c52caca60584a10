//! Differential tests against the reference firewall (/usr/lib/cni,
//! Debian's 1.1.1): the same input gives the same `iptables-save`, and
//! either side's DEL removes the other side's rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::Sandbox;
use common::*;
use serde_json::{Value, json};

/// ADD of pod `n` (10.88.0.n, plus fd88::n when `dual`) with `extra`.
fn add(sb: &Sandbox, bin: &std::path::Path, n: u8, dual: bool, extra: &Value) {
    let pod = sb.pod();
    let mut ips = vec![format!("10.88.0.{n}/16")];
    if dual {
        ips.push(format!("fd88::{n}/64"));
    }
    let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
    let c = conf(
        "podnet",
        &sb.subdir("state"),
        extra.clone(),
        Some(prev("cni0", &ips)),
    );
    call(sb, bin, "ADD", &format!("pod{n}"), &pod, &c).expect_ok();
}

#[test]
fn same_input_same_iptables_save() {
    for (dual, extra) in [
        (false, json!({})),
        (true, json!({"backend": "iptables"})),
        (false, json!({"iptablesAdminChainName": "NOMAD-ADMIN"})),
    ] {
        let a = Sandbox::new();
        let b = Sandbox::new();
        // The first pod on the node makes the chains; the second finds
        // them (our one-transaction path).
        for n in [2, 3] {
            add(&a, &reference(), n, dual, &extra);
            add(&b, &ours(), n, dual, &extra);
            assert_eq!(filter(&b), filter(&a), "dual {dual}, {extra}, pod {n}");
        }
        let (v4, v6) = filter(&b);
        assert_eq!(rules(&v4).len(), 2 + 4, "{v4:#?}");
        assert_eq!(rules(&v6).len(), if dual { 6 } else { 0 }, "{v6:#?}");
    }
}

#[test]
fn either_sides_del_removes_the_others_rules() {
    for (adder, deleter) in [(reference(), ours()), (ours(), reference())] {
        let sb = Sandbox::new();
        let state = sb.subdir("state");
        let pod = sb.pod();
        let c = conf(
            "podnet",
            &state,
            json!({}),
            Some(prev("cni0", &["10.88.0.5/16", "fd88::5/64"])),
        );
        // Another pod whose rules must stay.
        add(&sb, &adder, 9, true, &json!({}));
        let before = filter(&sb);
        call(&sb, &adder, "ADD", "victim", &pod, &c).expect_ok();
        call(&sb, &deleter, "DEL", "victim", &pod, &c).expect_ok();
        assert_eq!(filter(&sb), before, "{adder:?} then {deleter:?}");
        // And DEL again is fine.
        call(&sb, &deleter, "DEL", "victim", &pod, &c).expect_ok();
    }
}

/// The reference 1.1.1 writes every isolation rule with the old comment;
/// we write the v1.7+ comments. Ours on a node where 1.1.1 ran adds no
/// second set, and our layout is the reference's but for the comments.
#[test]
fn ingress_policy_same_bridge() {
    let policy = json!({"ingressPolicy": "same-bridge"});
    let a = Sandbox::new();
    let b = Sandbox::new();
    add(&a, &reference(), 2, false, &policy);
    add(&b, &ours(), 2, false, &policy);
    let old = "CNI firewall plugin rules (ingressPolicy: same-bridge)\"";
    let new_any = "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)\"";
    let (ref_v4, _) = filter(&a);
    let (our_v4, _) = filter(&b);
    // Every isolation rule but the per-bridge jump has the common comment
    // in v1.7+; with it written back to the old one, the tables are equal.
    let renamed: Vec<String> = our_v4.iter().map(|l| l.replace(new_any, old)).collect();
    assert_eq!(renamed, ref_v4);
    assert_eq!(mentioning(&our_v4, "ISOLATION").len(), 2 + 5, "{our_v4:#?}");
    // Upgrade: our ADD of a second pod on the same bridge, on the node
    // where the reference made the isolation rules, adds only its own two.
    add(&a, &ours(), 3, false, &policy);
    let (after, _) = filter(&a);
    let added: Vec<&String> = after.iter().filter(|l| !ref_v4.contains(l)).collect();
    assert_eq!(
        added,
        [
            "-A CNI-FORWARD -d 10.88.0.3/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-A CNI-FORWARD -s 10.88.0.3/32 -j ACCEPT"
        ]
    );
    // A second bridge: its rules go first, as the reference puts them.
    let pod = a.pod();
    let c = conf(
        "other",
        &a.subdir("state"),
        policy.clone(),
        Some(prev("cni1", &["10.89.0.2/24"])),
    );
    call(&a, &ours(), "ADD", "pod-b", &pod, &c).expect_ok();
    let (v4, _) = filter(&a);
    let stage1 = mentioning(&v4, "-A CNI-ISOLATION-STAGE-1");
    assert!(stage1[0].contains("-i cni1 ! -o cni1"), "{stage1:#?}");
    assert!(stage1[1].contains("-i cni0 ! -o cni0"), "{stage1:#?}");
    let stage2 = mentioning(&v4, "-A CNI-ISOLATION-STAGE-2");
    assert!(stage2[0].contains("-o cni1"), "{stage2:#?}");
}
