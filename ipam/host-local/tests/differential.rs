//! Our binary against the reference (/usr/lib/cni/host-local, Debian
//! 1.1.1) on the same store: a node must be able to switch binaries with
//! pods running, and even run both at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{Value, json};

#[test]
fn each_binary_releases_the_others_records() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.5.0.0/24", "fd00:5::/64");
    let (ours, reference) = (ours(), reference());
    add(&reference, "r1", &c).expect_ok();
    add(&reference, "r2", &c).expect_ok();
    add(&ours, "o1", &c).expect_ok();
    add(&ours, "o2", &c).expect_ok();
    // Legacy containerID-only record, as reference versions before 0.7 wrote.
    std::fs::write(t.path().join("net/10.5.0.200"), "legacy").unwrap();
    assert_eq!(records(t.path()).len(), 9);

    // The reference's records are ours to release, and the other way round.
    del(&ours, "r1", &c).expect_ok();
    del(&reference, "o1", &c).expect_ok();
    del(&ours, "legacy", &c).expect_ok();
    let owners: HashSet<String> = records(t.path()).into_values().collect();
    assert_eq!(
        owners,
        HashSet::from(["r2\r\neth0".into(), "o2\r\neth0".into()])
    );
    // The reference's DEL also removed the index entries of o1.
    assert!(
        !index_files(t.path()).iter().any(|f| f.starts_with("o1:")),
        "{:?}",
        index_files(t.path())
    );

    // Both see the other's attachment as allocated.
    let (_, msg) = add(&ours, "r2", &c).expect_error();
    assert!(msg.contains("already allocated"), "{msg}");
    let out = add(&reference, "o2", &c);
    assert!(!out.ok(), "reference allowed a duplicate: {out:?}");
    // CHECK of a reference-made attachment.
    run(&ours, "CHECK", "r2", "eth0", "", &c).expect_ok();
    del(&reference, "r2", &c).expect_ok();
    del(&ours, "o2", &c).expect_ok();
    assert!(records(t.path()).is_empty());
    del(&ours, "nobody", &c).expect_ok();
    assert!(
        index_files(t.path()).is_empty(),
        "{:?}",
        index_files(t.path())
    );
}

/// One step of a scripted sequence: ADD (with CNI_ARGS) or DEL.
enum Step {
    Add(&'static str, &'static str),
    Del(&'static str),
}

/// Run a sequence on a fresh store; the addresses (or "error") per step.
fn play(
    bin: &std::path::Path,
    c_of: impl Fn(&std::path::Path) -> Value,
    steps: &[Step],
) -> Vec<String> {
    let t = tempfile::tempdir().unwrap();
    let c = c_of(t.path());
    steps
        .iter()
        .map(|s| match s {
            Step::Add(cid, args) => {
                let out = run(bin, "ADD", cid, "eth0", args, &c);
                if out.ok() {
                    out.ips().join(",")
                } else {
                    "error".into()
                }
            }
            Step::Del(cid) => {
                del(bin, cid, &c).expect_ok();
                "del".into()
            }
        })
        .collect()
}

#[test]
fn the_same_sequence_picks_the_same_addresses() {
    use Step::*;
    let steps = [
        Add("a", ""),
        Add("b", ""),
        Add("c", "IP=10.6.0.5"),
        Del("b"),
        Add("d", ""),
        Add("e", ""),
        Add("f", ""),
        Del("a"),
        Add("g", ""), // wraps around: .2 is free again
        Add("h", ""), // the pool is full
        Del("d"),
        Add("i", "IP=fd00:6:0:1::5"),
        Add("j", ""),
    ];
    let small = |d: &std::path::Path| {
        conf(
            d,
            json!({"ranges": [
                [{"subnet": "10.6.0.0/29"}],
                [{"subnet": "fd00:6::/64", "rangeStart": "fd00:6::fffe"}, {"subnet": "fd00:6:0:1::/64"}]
            ]}),
        )
    };
    let want = play(&reference(), small, &steps);
    let got = play(&ours(), small, &steps);
    assert_eq!(got, want);
    assert!(want.contains(&"error".to_string()), "{want:?}");
}

/// Capability `ipRanges`: both binaries put the runtime's range sets
/// first, before the legacy `ipam.subnet` and `ipam.ranges`.
#[test]
fn runtime_ip_ranges_come_first_in_both() {
    use Step::*;
    let steps = [
        Add("a", ""),
        Add("b", "IP=10.60.0.9"),
        Del("a"),
        Add("c", ""),
    ];
    let with_runtime = |d: &std::path::Path| {
        let mut c = conf(
            d,
            json!({"subnet": "10.61.0.0/24", "ranges": [[{"subnet": "fd00:62::/64"}]]}),
        );
        c["runtimeConfig"] = json!({"ipRanges": [[{"subnet": "10.60.0.0/24"}]]});
        c
    };
    let want = play(&reference(), with_runtime, &steps);
    let got = play(&ours(), with_runtime, &steps);
    assert_eq!(got, want);
    assert_eq!(want[0], "10.60.0.2,10.61.0.2,fd00:62::2");
}

/// CNI_ARGS edge cases where the reference's parser decides: repeated
/// keys (the last wins, every one must decode) and empty values.
#[test]
fn repeated_and_empty_cni_args_like_the_reference() {
    use Step::*;
    let steps = [
        Add("a", "IP=10.8.0.5;IP=10.8.0.6"),
        Add("b", "IP="),
        Add("c", "IP=10.8.0.7;IP="),
        Add("d", "IP=;IP=10.8.0.9"),
        Add("e", "IP=garbage;IP=10.8.0.10"),
        Add("f", "IP=10.8.0.11;IP=garbage"),
        Add("g", "IgnoreUnknown=1;IgnoreUnknown=0;FOO=x"),
        Add("h", "IgnoreUnknown=0;IgnoreUnknown=1;FOO=x"),
        Add("i", "IgnoreUnknown=maybe;IgnoreUnknown=1;FOO=x"),
        Add("j", "IgnoreUnknown=1;IgnoreUnknown=maybe;FOO=x"),
        Add("k", "IP"),
        Add("l", "IgnoreUnknown=1;IP"),
    ];
    let c = |d: &std::path::Path| conf(d, json!({"ranges": [[{"subnet": "10.8.0.0/24"}]]}));
    let want = play(&reference(), c, &steps);
    let got = play(&ours(), c, &steps);
    assert_eq!(got, want);
    assert_eq!(
        want,
        [
            "10.8.0.6",
            "10.8.0.7",
            "10.8.0.8",
            "10.8.0.9",
            "error",
            "error",
            "error",
            "10.8.0.10",
            "error",
            "error",
            "error",
            "error"
        ]
    );
}

#[test]
fn both_binaries_in_parallel_never_share_an_address() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.7.0.0/24", "fd00:7::/64");
    let (ours, reference) = (ours(), reference());
    let mut children = Vec::new();
    for i in 0..24 {
        children.push(spawn(&ours, "ADD", &format!("o{i}"), "eth0", "", &c));
        children.push(spawn(&reference, "ADD", &format!("r{i}"), "eth0", "", &c));
    }
    let mut seen = HashSet::new();
    for out in children.into_iter().map(wait) {
        for ip in out.ips() {
            assert!(seen.insert(ip.clone()), "{ip} handed out twice");
        }
    }
    // Cross-release half, then a second mixed round.
    let mut children = Vec::new();
    for i in 0..12 {
        children.push(spawn(&reference, "DEL", &format!("o{i}"), "eth0", "", &c));
        children.push(spawn(&ours, "DEL", &format!("r{i}"), "eth0", "", &c));
        children.push(spawn(&ours, "ADD", &format!("o2-{i}"), "eth0", "", &c));
        children.push(spawn(&reference, "ADD", &format!("r2-{i}"), "eth0", "", &c));
    }
    for out in children.into_iter().map(wait) {
        out.expect_ok();
    }
    let recs = records(t.path());
    assert_eq!(recs.len(), 2 * (48 - 24 + 24));
    let mut per_owner = std::collections::HashMap::new();
    for (ip, owner) in &recs {
        *per_owner.entry(owner.clone()).or_insert(0) += 1;
        assert!(owner.contains("\r\neth0"), "{ip}: {owner:?}");
    }
    assert!(per_owner.values().all(|n| *n == 2), "{per_owner:?}");
    for owner in per_owner.keys() {
        let cid = owner.split("\r\n").next().unwrap();
        del(&ours, cid, &c).expect_ok();
    }
    assert!(records(t.path()).is_empty());
}

#[test]
fn v6_record_names_match_the_reference_text() {
    // Record names are the address text; Go and Rust must agree on it.
    let tricky = [
        "2001:db8:0:0:1:0:0:1",
        "2001:db8:0:1:0:0:0:1",
        "2001:db8:0:1:2:3:4:5",
        "2001:DB8:ABCD::1",
        "2001:db8::ffff:a00:1",
        "2001:db8:1:2:3:4:5:6",
    ];
    let names = |bin: &std::path::Path| {
        let t = tempfile::tempdir().unwrap();
        let c = conf(t.path(), json!({"ranges": [[{"subnet": "2001:db8::/32"}]]}));
        let mut results = Vec::new();
        for (i, ip) in tricky.iter().enumerate() {
            let out = run(
                bin,
                "ADD",
                &format!("c{i}"),
                "eth0",
                &format!("IP={ip}"),
                &c,
            );
            results.push(out.ips().join(","));
        }
        let files: Vec<String> = records(t.path()).into_keys().collect();
        (results, files)
    };
    let want = names(&reference());
    assert_eq!(names(&ours()), want);
    assert!(
        want.0.contains(&"2001:db8::1:0:0:1".to_string()),
        "{want:?}"
    );
}
