//! Every verb of our binary, run as a process on a temp store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

#[test]
fn add_returns_an_ipam_result_and_writes_compatible_records() {
    let t = tempfile::tempdir().unwrap();
    let resolv = t.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 10.0.0.10\nsearch a.example\noptions ndots:2\n",
    )
    .unwrap();
    let c = conf(
        t.path(),
        json!({
            "ranges": [[{"subnet": "10.1.0.0/24"}], [{"subnet": "fd00::/64", "gateway": "fd00::fe"}]],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.9.0.0/16", "gw": "10.1.0.254", "mtu": 1400}],
            "resolvConf": resolv,
        }),
    );
    let out = add(&ours(), "c1", &c);
    let v = out.expect_ok();
    assert_eq!(v["cniVersion"], "1.0.0");
    assert!(v.get("interfaces").is_none(), "{v}");
    assert_eq!(
        v["ips"],
        json!([
            {"address": "10.1.0.2/24", "gateway": "10.1.0.1"},
            {"address": "fd00::1/64", "gateway": "fd00::fe"}
        ])
    );
    // Route mtu is a 1.1.0 field: a 1.0.0 result leaves it out.
    assert_eq!(v["routes"][1]["gw"], "10.1.0.254");
    assert!(v["routes"][1].get("mtu").is_none(), "{v}");
    assert_eq!(v["dns"]["nameservers"], json!(["10.0.0.10"]));
    assert_eq!(v["dns"]["search"], json!(["a.example"]));
    let recs = records(t.path());
    assert_eq!(recs["10.1.0.2"], "c1\r\neth0");
    assert_eq!(recs["fd00::1"], "c1\r\neth0");
    let net = t.path().join("net");
    assert_eq!(
        std::fs::read_to_string(net.join("last_reserved_ip.0")).unwrap(),
        "10.1.0.2"
    );
    assert_eq!(
        std::fs::read_to_string(net.join("last_reserved_ip.1")).unwrap(),
        "fd00::1"
    );
}

#[test]
fn add_converts_to_old_versions() {
    let t = tempfile::tempdir().unwrap();
    let mut c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    c["cniVersion"] = json!("0.2.0");
    let v = add(&ours(), "c1", &c).expect_ok();
    assert_eq!(v["ip4"]["ip"], "10.1.0.2/24");
    assert_eq!(v["ip6"]["ip"], "fd00::2/64");
    c["cniVersion"] = json!("0.4.0");
    let v = add(&ours(), "c2", &c).expect_ok();
    assert_eq!(v["ips"][0]["version"], "4");
    assert!(v["ips"][0].get("interface").is_none(), "{v}");
}

#[test]
fn second_add_of_one_attachment_is_already_allocated() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    add(&ours(), "c1", &c).expect_ok();
    let (code, msg) = add(&ours(), "c1", &c).expect_error();
    assert!(code >= 100, "{code}");
    assert!(
        msg.contains("already allocated") && msg.contains("10.1.0.2"),
        "{msg}"
    );
    // Another interface of the same container is a different attachment.
    run(&ours(), "ADD", "c1", "eth1", "", &c).expect_ok();
    assert_eq!(records(t.path()).len(), 4);
}

#[test]
fn requested_addresses_and_rollback() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    let out = run(&ours(), "ADD", "c1", "eth0", "IP=10.1.0.50,fd00::50", &c);
    assert_eq!(out.ips(), ["10.1.0.50", "fd00::50"]);
    let mut c2 = c.clone();
    c2["runtimeConfig"] = json!({"ips": ["10.1.0.60"]});
    c2["args"] = json!({"cni": {"ips": ["fd00::50"]}});
    // fd00::50 is taken: the whole ADD fails and 10.1.0.60 is released.
    let (code, msg) = run(&ours(), "ADD", "c2", "eth0", "", &c2).expect_error();
    assert!(code >= 100 && msg.contains("fd00::50"), "{code} {msg}");
    assert!(!records(t.path()).contains_key("10.1.0.60"));
    let (code, msg) = run(&ours(), "ADD", "c3", "eth0", "IP=10.1.0.1", &c).expect_error();
    assert_eq!(code, 7);
    assert!(msg.contains("10.1.0.1") && msg.contains("gateway"), "{msg}");
    let (code, msg) = run(&ours(), "ADD", "c3", "eth0", "IP=10.7.0.1", &c).expect_error();
    assert_eq!(code, 7);
    assert!(msg.contains("10.7.0.1"), "{msg}");
    assert_eq!(records(t.path()).len(), 2);
}

#[test]
fn unknown_cni_args_fail_add_but_not_del() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    let (code, msg) = run(&ours(), "ADD", "c1", "eth0", "K8S_POD_NAME=x", &c).expect_error();
    assert_eq!(code, 4);
    assert!(msg.contains("K8S_POD_NAME"), "{msg}");
    run(
        &ours(),
        "ADD",
        "c1",
        "eth0",
        "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.0.9",
        &c,
    )
    .expect_ok();
    run(&ours(), "DEL", "c1", "eth0", "K8S_POD_NAME=x;garbage", &c).expect_ok();
    assert!(records(t.path()).is_empty());
}

#[test]
fn exhausted_pool_names_the_range() {
    let t = tempfile::tempdir().unwrap();
    let c = conf(t.path(), json!({"subnet": "10.1.0.0/30"}));
    add(&ours(), "c1", &c).expect_ok(); // .2: .1 is the gateway, .3 broadcast
    let (code, msg) = add(&ours(), "c2", &c).expect_error();
    assert!(code >= 100, "{code}");
    assert!(msg.contains("10.1.0.1-10.1.0.2"), "{msg}");
}

#[test]
fn del_is_idempotent_and_needs_only_the_store() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    // Nothing there yet, no store directory: success, nothing created.
    del(&ours(), "c1", &c).expect_ok();
    assert!(!t.path().join("net").exists());
    add(&ours(), "c1", &c).expect_ok();
    add(&ours(), "c2", &c).expect_ok();
    // A config that no longer validates still finds the store.
    let mut broken = c.clone();
    broken["ipam"]["ranges"] = json!([[{"subnet": "10.1.0.5/24"}]]);
    del(&ours(), "c1", &broken).expect_ok();
    del(&ours(), "c1", &broken).expect_ok();
    // An unreadable unrelated file does not matter.
    std::fs::create_dir(t.path().join("net/10.1.0.200")).unwrap();
    del(&ours(), "c2", &c).expect_ok();
    assert!(records_without_dirs(t.path()).is_empty());
}

fn records_without_dirs(data_dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(data_dir.join("net"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect()
}

#[test]
fn check_compares_the_record_with_prev_result() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    let result = add(&ours(), "c1", &c).expect_ok();
    let mut chk = c.clone();
    chk["prevResult"] = result.clone();
    run(&ours(), "CHECK", "c1", "eth0", "", &chk).expect_ok();
    // Without prevResult: the record must exist.
    run(&ours(), "CHECK", "c1", "eth0", "", &c).expect_ok();
    let (code, msg) = run(&ours(), "CHECK", "c9", "eth0", "", &c).expect_error();
    assert!(code >= 100 && msg.contains("c9"), "{msg}");
    let mut wrong = chk.clone();
    wrong["prevResult"]["ips"][0]["address"] = json!("10.1.0.77/24");
    let (code, msg) = run(&ours(), "CHECK", "c1", "eth0", "", &wrong).expect_error();
    assert!(code >= 100 && msg.contains("10.1.0.77"), "{msg}");
}

#[test]
fn gc_releases_what_is_not_valid() {
    let t = tempfile::tempdir().unwrap();
    let mut c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    c["cniVersion"] = json!("1.1.0");
    for cid in ["keep1", "keep2", "stale"] {
        add(&ours(), cid, &c).expect_ok();
    }
    run(&ours(), "ADD", "keep1", "eth1", "", &c).expect_ok();
    // A record the reference left empty after a crash.
    std::fs::write(t.path().join("net/10.1.0.99"), "").unwrap();
    // Without a list, GC assumes nothing.
    run(&ours(), "GC", "", "", "", &c).expect_ok();
    assert_eq!(records(t.path()).len(), 9);
    let mut gc = c.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "keep1", "ifname": "eth0"}, {"containerID": "keep2", "ifname": "eth0"}]);
    run(&ours(), "GC", "", "", "", &gc).expect_ok();
    let owners: Vec<String> = records(t.path()).into_values().collect();
    assert_eq!(owners.len(), 4, "{owners:?}");
    assert!(
        owners
            .iter()
            .all(|o| o == "keep1\r\neth0" || o == "keep2\r\neth0"),
        "{owners:?}"
    );
    // The older key works too.
    let mut gc = c.clone();
    gc["cni.dev/attachments"] = json!([{"containerID": "keep2", "ifname": "eth0"}]);
    run(&ours(), "GC", "", "", "", &gc).expect_ok();
    assert!(records(t.path()).values().all(|o| o == "keep2\r\neth0"));
    assert_eq!(
        index_files(t.path()).len(),
        1,
        "{:?}",
        index_files(t.path())
    );
}

/// Records in the legacy format (only the container ID, as reference
/// versions before 0.7 wrote) belong to every interface of their
/// container: GC keeps them when the container has any valid attachment,
/// and releases them when it has none.
#[test]
fn gc_keeps_legacy_records_of_valid_containers() {
    let t = tempfile::tempdir().unwrap();
    let mut c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    c["cniVersion"] = json!("1.1.0");
    add(&ours(), "keep", &c).expect_ok();
    let net = t.path().join("net");
    std::fs::write(net.join("10.1.0.50"), "oldvalid").unwrap();
    std::fs::write(net.join("fd00::50"), "oldvalid").unwrap();
    std::fs::write(net.join("10.1.0.51"), "oldstale").unwrap();
    let mut gc = c.clone();
    gc["cni.dev/valid-attachments"] = json!([
        {"containerID": "keep", "ifname": "eth0"},
        {"containerID": "oldvalid", "ifname": "net7"}
    ]);
    run(&ours(), "GC", "", "", "", &gc).expect_ok();
    let recs = records(t.path());
    assert_eq!(recs.len(), 4, "{recs:?}");
    assert_eq!(recs["10.1.0.50"], "oldvalid");
    assert_eq!(recs["fd00::50"], "oldvalid");
    assert!(!recs.contains_key("10.1.0.51"), "{recs:?}");
    // GC also indexed the legacy records under their container.
    assert!(
        index_files(t.path())
            .iter()
            .any(|f| f.starts_with("oldvalid -> ") && f.contains("10.1.0.50")),
        "{:?}",
        index_files(t.path())
    );
    // A list without the container releases them.
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    run(&ours(), "GC", "", "", "", &gc).expect_ok();
    assert!(
        records(t.path()).values().all(|o| o == "keep\r\neth0"),
        "{:?}",
        records(t.path())
    );
    assert_eq!(records(t.path()).len(), 2);
}

/// CHECK fails when the store holds an address of the attachment (in a
/// configured set) that prevResult does not list; addresses of prevResult
/// outside every configured set belong to someone else and are ignored.
#[test]
fn check_fails_on_a_recorded_address_missing_from_prev_result() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    let result = add(&ours(), "c1", &c).expect_ok();
    let mut chk = c.clone();
    chk["prevResult"] = result.clone();
    chk["prevResult"]["ips"]
        .as_array_mut()
        .unwrap()
        .push(json!({"address": "192.168.9.9/24"}));
    run(&ours(), "CHECK", "c1", "eth0", "", &chk).expect_ok();
    // Drop the IPv6 address from prevResult: the record still holds it.
    chk["prevResult"]["ips"].as_array_mut().unwrap().remove(1);
    let (code, msg) = run(&ours(), "CHECK", "c1", "eth0", "", &chk).expect_error();
    assert_eq!(code, 103, "{msg}");
    assert!(
        msg.contains("fd00::2") && msg.contains("missing from prevResult"),
        "{msg}"
    );
}

/// CHECK of a container whose record is in the legacy format: the record
/// counts for any interface of the container, as in the reference's
/// lookup, and is compared with prevResult like any other.
#[test]
fn check_against_a_legacy_record() {
    let t = tempfile::tempdir().unwrap();
    let c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    add(&ours(), "other", &c).expect_ok();
    std::fs::write(t.path().join("net/10.1.0.50"), "old").unwrap();
    run(&ours(), "CHECK", "old", "eth0", "", &c).expect_ok();
    run(&ours(), "CHECK", "old", "net1", "", &c).expect_ok();
    let (code, _) = run(&ours(), "CHECK", "older", "eth0", "", &c).expect_error();
    assert_eq!(code, 103);
    let mut chk = c.clone();
    chk["prevResult"] = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.50/24"}]});
    run(&ours(), "CHECK", "old", "eth0", "", &chk).expect_ok();
    chk["prevResult"]["ips"][0]["address"] = json!("10.1.0.51/24");
    let (code, msg) = run(&ours(), "CHECK", "old", "eth0", "", &chk).expect_error();
    assert_eq!(code, 103, "{msg}");
    assert!(
        msg.contains("10.1.0.51") && msg.contains("not recorded"),
        "{msg}"
    );
    // ADD counts the legacy record as the attachment's, as CHECK does.
    let (code, msg) = add(&ours(), "old", &c).expect_error();
    assert_eq!(code, 102, "{msg}");
    assert!(msg.contains("10.1.0.50"), "{msg}");
}

/// Capability `ipRanges`: range sets from runtimeConfig come before the
/// configured ones (result order, set numbers, requested addresses).
#[test]
fn runtime_config_ip_ranges_come_first() {
    let t = tempfile::tempdir().unwrap();
    let mut c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    c["capabilities"] = json!({"ipRanges": true});
    c["runtimeConfig"] =
        json!({"ipRanges": [[{"subnet": "10.50.0.0/24", "gateway": "10.50.0.254"}]]});
    let v = add(&ours(), "c1", &c).expect_ok();
    assert_eq!(
        v["ips"],
        json!([
            {"address": "10.50.0.1/24", "gateway": "10.50.0.254"},
            {"address": "10.1.0.2/24", "gateway": "10.1.0.1"},
            {"address": "fd00::2/64", "gateway": "fd00::1"}
        ])
    );
    let net = t.path().join("net");
    let last = |n: u32| std::fs::read_to_string(net.join(format!("last_reserved_ip.{n}"))).unwrap();
    assert_eq!(
        [last(0), last(1), last(2)],
        ["10.50.0.1", "10.1.0.2", "fd00::2"]
    );
    // A requested address lands in the runtime set.
    let ips = run(&ours(), "ADD", "c2", "eth0", "IP=10.50.0.9", &c).ips();
    assert_eq!(ips, ["10.50.0.9", "10.1.0.3", "fd00::3"]);
    // A runtime range overlapping a configured one is an invalid config.
    let mut bad = c.clone();
    bad["runtimeConfig"] = json!({"ipRanges": [[{"subnet": "10.1.0.0/25"}]]});
    let (code, msg) = add(&ours(), "c3", &bad).expect_error();
    assert_eq!(code, 7, "{msg}");
    assert!(msg.contains("overlaps"), "{msg}");
    // DEL with the same config releases all three.
    del(&ours(), "c1", &c).expect_ok();
    del(&ours(), "c2", &c).expect_ok();
    assert!(records(t.path()).is_empty(), "{:?}", records(t.path()));
}

#[test]
fn status_reports_50_and_51() {
    let t = tempfile::tempdir().unwrap();
    let mut c = conf(t.path(), json!({"subnet": "10.1.0.0/30"}));
    c["cniVersion"] = json!("1.1.0");
    run(&ours(), "STATUS", "", "", "", &c).expect_ok();
    add(&ours(), "c1", &c).expect_ok();
    let (code, msg) = run(&ours(), "STATUS", "", "", "", &c).expect_error();
    assert_eq!(code, 51);
    assert!(msg.contains("10.1.0.1-10.1.0.2"), "{msg}");
    // dataDir below a regular file cannot be created.
    let file = t.path().join("plain");
    std::fs::write(&file, "").unwrap();
    c["ipam"]["dataDir"] = json!(file.join("sub"));
    let (code, _) = run(&ours(), "STATUS", "", "", "", &c).expect_error();
    assert_eq!(code, 50);
}

/// Two range sets, the second one full: 51 naming that set only (an ADD
/// needs an address from every set, so one exhausted set is enough).
#[test]
fn status_51_names_the_exhausted_set() {
    let t = tempfile::tempdir().unwrap();
    let mut c = conf(
        t.path(),
        json!({"ranges": [[{"subnet": "10.1.0.0/24"}], [{"subnet": "10.2.0.0/30"}]]}),
    );
    c["cniVersion"] = json!("1.1.0");
    run(&ours(), "STATUS", "", "", "", &c).expect_ok();
    assert_eq!(add(&ours(), "c1", &c).ips(), ["10.1.0.2", "10.2.0.2"]);
    let (code, msg) = run(&ours(), "STATUS", "", "", "", &c).expect_error();
    assert_eq!(code, 51, "{msg}");
    assert!(
        msg.contains("range set 1 (10.2.0.1-10.2.0.2)") && !msg.contains("range set 0"),
        "{msg}"
    );
    // And ADD does fail, on that set.
    let (code, msg) = add(&ours(), "c2", &c).expect_error();
    assert_eq!(code, 100);
    assert!(msg.contains("range set 1"), "{msg}");
}

/// One set whose pool has two ranges: a full range is not an exhausted
/// set as long as the other range has room (ADD walks on to it).
#[test]
fn status_51_only_when_every_range_of_the_set_is_full() {
    let t = tempfile::tempdir().unwrap();
    let mut c = conf(
        t.path(),
        json!({"ranges": [[{"subnet": "10.1.0.0/30"}, {"subnet": "10.1.1.0/30"}]]}),
    );
    c["cniVersion"] = json!("1.1.0");
    assert_eq!(add(&ours(), "c1", &c).ips(), ["10.1.0.2"]);
    // First range full, second empty.
    run(&ours(), "STATUS", "", "", "", &c).expect_ok();
    assert_eq!(add(&ours(), "c2", &c).ips(), ["10.1.1.2"]);
    let (code, msg) = run(&ours(), "STATUS", "", "", "", &c).expect_error();
    assert_eq!(code, 51, "{msg}");
    assert!(
        msg.contains("range set 0 (10.1.0.1-10.1.0.2,10.1.1.1-10.1.1.2)"),
        "{msg}"
    );
    // Second range full, first free again.
    del(&ours(), "c1", &c).expect_ok();
    run(&ours(), "STATUS", "", "", "", &c).expect_ok();
    assert_eq!(add(&ours(), "c3", &c).ips(), ["10.1.0.2"]);
}

/// A store directory that exists but cannot be written is code 50: when
/// even the lock cannot be opened for writing, and when only the lock can
/// (the test record fails). Root ignores file modes, so the store is made
/// read-only with a bind mount in a private mount namespace of the plugin
/// process alone.
#[test]
fn status_50_when_the_store_is_read_only() {
    let t = tempfile::tempdir().unwrap();
    let mut c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    c["cniVersion"] = json!("1.1.0");
    add(&ours(), "c1", &c).expect_ok();
    run(&ours(), "STATUS", "", "", "", &c).expect_ok();
    let net = t.path().join("net");

    let out = run_readonly(&net, &[], &ours(), "STATUS", &c);
    let (code, msg) = out.expect_error();
    assert_eq!(code, 50, "{msg}");
    assert!(
        msg.contains("net/lock") && msg.contains("Read-only file system"),
        "{msg}"
    );

    let lock = net.join("lock");
    let out = run_readonly(&net, &[&lock], &ours(), "STATUS", &c);
    let (code, msg) = out.expect_error();
    assert_eq!(code, 50, "{msg}");
    assert!(
        msg.contains("writing a record") && msg.contains("Read-only file system"),
        "{msg}"
    );

    // Our own mount namespace never saw those mounts.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&*t.path().to_string_lossy()), "{mounts}");
    run(&ours(), "STATUS", "", "", "", &c).expect_ok();
    add(&ours(), "c2", &c).expect_ok();
}

#[test]
fn invalid_config_is_code_7_naming_the_key() {
    let t = tempfile::tempdir().unwrap();
    let c = conf(
        t.path(),
        json!({"ranges": [[{"subnet": "10.1.0.0/24"}, {"subnet": "fd00::/64"}]]}),
    );
    let (code, msg) = add(&ours(), "c1", &c).expect_error();
    assert_eq!(code, 7);
    assert!(msg.contains("ipam.ranges[0]"), "{msg}");
    let mut c = dual(t.path(), "10.1.0.0/24", "fd00::/64");
    c["name"] = json!("../escape");
    let (code, _) = add(&ours(), "c1", &c).expect_error();
    assert_eq!(code, 7);
    assert!(!t.path().parent().unwrap().join("escape").exists());
}
