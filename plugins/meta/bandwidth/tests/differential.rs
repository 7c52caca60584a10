//! Our bandwidth against the reference build (/usr/lib/cni/bandwidth,
//! Debian containernetworking-plugins 1.1.1) on the same input: the same
//! qdiscs with the same raw numbers, the same filter, the same ifb and
//! the same result; and each implementation's CHECK and DEL accept what
//! the other's ADD made, so a node can switch binaries with pods running.
//!
//! Differences (asserted, so they stay visible):
//! - The largest bursts at low rates: the reference's TBF limit wraps past
//!   4 GiB to a few bytes (a queue that drops everything); ours stops at
//!   4294967295 bytes.
//! - A failure part-way (the kernel refuses the egress TBF): the reference
//!   leaves the ifb, the ingress qdisc and the filter for DEL; ours leaves
//!   nothing. Ours refuses rates below 8 bits/s with code 7 before that.
//! - The reference prints an empty `"dns":{}`; ours omits it. Errors are
//!   code 999 there, spec codes here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use cni_sandbox::Sandbox;
use common::*;
use serde_json::{Value, json};

/// One node running `bin`, with the same veth, MTU and container ID as
/// the other side.
fn node(cid: &str) -> (Sandbox, Pod) {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwdiff0", cid, Some(1450));
    (sb, pod)
}

/// The result with what differs between two nodes by chance (MACs, the
/// pod's netns path) and an empty `dns` normalised.
fn normal(mut r: Value) -> Value {
    if let Some(ifs) = r["interfaces"].as_array_mut() {
        for i in ifs {
            for key in ["mac", "sandbox"] {
                if i.get(key).is_some() {
                    i[key] = json!(format!("<{key}>"));
                }
            }
        }
    }
    if r["dns"] == json!({}) {
        r.as_object_mut().unwrap().remove("dns");
    }
    r
}

/// ADD `keys` with `bin` on a fresh node; the node, pod, result and
/// shaping.
fn add(bin: &Path, version: &str, keys: &Value) -> (Sandbox, Pod, Value, Value) {
    let (sb, pod) = node("diff1");
    let c = conf(version, keys.clone());
    let r = pod.call(&sb, bin, "ADD", &c).expect_ok();
    let r = normal(r);
    let s = shaping(&sb, &pod);
    (sb, pod, r, s)
}

#[test]
fn same_input_same_kernel_state_and_result() {
    let vectors = [
        ("1.0.0", both(10_000_000, 1_000_000, 8_000, 80)),
        ("1.0.0", json!({"ingressRate": 8, "ingressBurst": 8})),
        ("0.4.0", json!({"egressRate": 16, "egressBurst": 8})),
        ("0.3.1", both(1_000_000, 80_000, 2_000_000, 160_000)),
        // containerd's default burst: the buffer wraps on both sides.
        (
            "1.0.0",
            json!({"runtimeConfig": {"bandwidth": {
                "IngressRate": 10_000_000, "IngressBurst": 4_294_967_295u64,
                "EgressRate": 15_500_000, "EgressBurst": 4_294_967_295u64}}}),
        ),
        (
            "1.0.0",
            both(100_000_000, 4_294_967_295, 100_000_000, 1_000_000),
        ),
        // Past 32 bits of bytes per second (TCA_TBF_RATE64).
        (
            "1.0.0",
            json!({"ingressRate": 100_000_000_000u64, "ingressBurst": 80_000_000}),
        ),
    ];
    for (version, keys) in vectors {
        let (_sr, _pr, ref_result, ref_state) = add(&reference(), version, &keys);
        let (_so, _po, our_result, our_state) = add(&ours(), version, &keys);
        assert_eq!(our_state, ref_state, "{version} {keys}");
        assert_eq!(our_result, ref_result, "{version} {keys}");
    }
}

#[test]
fn largest_burst_at_a_low_rate_differs_only_in_the_limit() {
    let keys = json!({"ingressRate": 8000, "ingressBurst": 34_359_738_359u64});
    let (sr, pr, _, _) = add(&reference(), "1.0.0", &keys);
    let (so, po, _, _) = add(&ours(), "1.0.0", &keys);
    let theirs = root_qdisc(&sr.host, &pr.veth);
    let mine = root_qdisc(&so.host, &po.veth);
    assert_eq!(theirs["options"]["burst_raw"], mine["options"]["burst_raw"]);
    assert_eq!(theirs["options"]["rate"], mine["options"]["rate"]);
    assert_eq!(theirs["options"]["limit"], 23, "the reference's u32 wrap");
    assert_eq!(mine["options"]["limit"], u64::from(u32::MAX));
}

/// ADD with one implementation, CHECK and DEL with the other.
fn cross(add_with: &Path, other: &Path, keys: Value) {
    let (sb, pod) = node("cross1");
    let c = conf("1.0.0", keys);
    pod.call(&sb, add_with, "ADD", &c).expect_ok();
    pod.call(&sb, other, "CHECK", &c).expect_ok();
    pod.call(&sb, other, "DEL", &c).expect_ok();
    assert!(ifbs(&sb.host).is_empty(), "{:?}", ifbs(&sb.host));
    pod.call(&sb, add_with, "DEL", &c).expect_ok();
}

/// Plain limits, and containerd's burst whose buffer wraps.
fn cross_vectors() -> [Value; 2] {
    [
        both(10_000_000, 1_000_000, 8_000_000, 800_000),
        both(10_000_000, 4_294_967_295, 15_500_000, 4_294_967_295),
    ]
}

#[test]
fn ours_checks_and_deletes_what_the_reference_made() {
    for keys in cross_vectors() {
        cross(&reference(), &ours(), keys);
    }
}

#[test]
fn the_reference_checks_and_deletes_what_ours_made() {
    for keys in cross_vectors() {
        cross(&ours(), &reference(), keys);
    }
}

#[test]
fn both_reject_bad_input() {
    let cases = [
        json!({"ingressRate": 8000}),
        json!({"egressBurst": 8000}),
        json!({"ingressRate": 8000, "ingressBurst": 34_359_738_360u64}),
        json!({"ingressRate": "8000", "ingressBurst": 8000}),
        json!({"ingressRate": 7, "ingressBurst": 8000}),
    ];
    for keys in cases {
        for bin in [reference(), ours()] {
            let (sb, pod) = node("reject1");
            let (code, msg) = pod
                .call(&sb, &bin, "ADD", &conf("1.0.0", keys.clone()))
                .expect_error();
            assert!(
                code == 999 || (6..=7).contains(&code),
                "{keys}: {code} {msg}"
            );
            assert_unshaped(&sb, &pod);
        }
    }
}

/// The kernel refuses the egress TBF (a rate of 7 bit/s is 0 bytes/s):
/// the reference has made the ifb, the ingress qdisc and the filter by
/// then and leaves them; ours rejects the config before making anything.
#[test]
fn a_failure_part_way_leaves_nothing_of_ours() {
    let keys = json!({"egressRate": 7, "egressBurst": 8000});
    let (sb, pod) = node("partial1");
    let c = conf("1.0.0", keys.clone());
    pod.call(&sb, &reference(), "ADD", &c).expect_error();
    assert_eq!(ifbs(&sb.host), [pod.ifb()], "the reference leaves its ifb");
    let (sb, pod) = node("partial1");
    let (code, _) = pod.call(&sb, &ours(), "ADD", &c).expect_error();
    assert_eq!(code, 7);
    assert_unshaped(&sb, &pod);
}
