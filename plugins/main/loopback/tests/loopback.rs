//! The loopback plugin, run as a binary inside sandbox namespaces, and
//! the same cases against the reference build (/usr/lib/cni/loopback,
//! Debian's containernetworking-plugins 1.1.1) to show where behaviour is
//! identical and where it deliberately differs.
//!
//! Differences found (each asserted below, so the test can tell them
//! apart):
//! - 0.1.0 / 0.2.0: the reference prints a 0.3-style result (`interfaces`,
//!   `ips`) labelled with the old version, because it builds a 1.0 result
//!   tagged with the config's version and the converter then sees nothing
//!   to convert; we print the 0.2.0 format (`ip4` / `ip6`).
//! - 0.3.x / 0.4.0: for the same reason the reference's `ips[]` lack the
//!   `version` field those versions require; ours have it.
//! - the reference prints `"dns":{}`; ours leaves an empty dns out.
//! - 1.1.0: the reference (1.1.1 build) rejects it with code 1; we speak
//!   it (and GC / STATUS succeed).
//! - VERSION: the reference always answers `cniVersion` "1.0.0"; we echo
//!   the requested version.
//! - errors: the reference's JSON has no `cniVersion` and uses code 999;
//!   ours carries `cniVersion` and a plugin code >= 100.
//! - CNI_PATH: the reference requires it (code 4); we do not (no
//!   delegate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use cni_sandbox::{Call, Netns, PluginRun, Sandbox, plugin_path, reference_plugin};
use serde_json::{Value, json};

const ALL: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

#[derive(Debug, Clone)]
struct Impl {
    bin: PathBuf,
    reference: bool,
}

fn ours() -> Impl {
    Impl {
        bin: plugin_path("loopback"),
        reference: false,
    }
}

fn reference() -> Impl {
    Impl {
        bin: reference_plugin("loopback"),
        reference: true,
    }
}

fn both() -> [Impl; 2] {
    [ours(), reference()]
}

impl Impl {
    fn versions(&self) -> &'static [&'static str] {
        if self.reference { &ALL[..6] } else { &ALL }
    }

    fn call(&self, sb: &Sandbox, cmd: &str, netns: &str, conf: &Value) -> PluginRun {
        let call = Call::new(cmd)
            .env("CNI_CONTAINERID", "ctr1")
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", "/nonexistent");
        call.run(&sb.host, &self.bin, &conf.to_string())
    }
}

fn conf(version: &str) -> Value {
    json!({"cniVersion": version, "name": "lonet", "type": "loopback"})
}

fn lo_up(pod: &Netns) -> bool {
    pod.link("lo").unwrap()["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "UP")
}

fn has_check(v: &str) -> bool {
    matches!(v, "0.4.0" | "1.0.0" | "1.1.0")
}

/// Assert the ADD reply for `version`; returns it.
fn check_add_reply(imp: &Impl, version: &str, pod: &Netns, out: &Value) {
    assert_eq!(out["cniVersion"], version, "{out}");
    let legacy = matches!(version, "0.1.0" | "0.2.0");
    if legacy && !imp.reference {
        assert_eq!(out["ip4"]["ip"], "127.0.0.1/8", "{out}");
        assert_eq!(out["ip6"]["ip"], "::1/128", "{out}");
        assert!(out.get("interfaces").is_none(), "{out}");
        return;
    }
    if legacy {
        // Reference bug: a 0.3-style result under a 0.1/0.2 label.
        assert!(
            out.get("ip4").is_none() && out.get("interfaces").is_some(),
            "{out}"
        );
    }
    assert_eq!(
        out["interfaces"],
        json!([{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": pod.path_str()}])
    );
    let ips = out["ips"].as_array().unwrap();
    assert_eq!(ips.len(), 2, "{out}");
    assert_eq!(ips[0]["address"], "127.0.0.1/8");
    assert_eq!(ips[1]["address"], "::1/128");
    assert!(ips.iter().all(|i| i["interface"] == 0));
    let wants_version = matches!(version, "0.3.0" | "0.3.1" | "0.4.0");
    if wants_version && !imp.reference {
        assert_eq!(ips[0]["version"], "4");
        assert_eq!(ips[1]["version"], "6");
    } else {
        assert!(ips.iter().all(|i| i.get("version").is_none()), "{out}");
    }
    assert_eq!(
        out.get("dns").is_some(),
        imp.reference,
        "reference prints dns:{{}}: {out}"
    );
}

#[test]
fn add_check_del_across_versions() {
    let sb = Sandbox::new();
    for imp in both() {
        for &v in imp.versions() {
            let pod = sb.pod();
            pod.sh_ok("ip link set lo down");
            assert!(!lo_up(&pod));
            let out = imp.call(&sb, "ADD", pod.path_str(), &conf(v)).expect_ok();
            assert!(lo_up(&pod), "{imp:?} {v}: ADD must bring lo up");
            check_add_reply(&imp, v, &pod, &out);
            if has_check(v) {
                imp.call(&sb, "CHECK", pod.path_str(), &conf(v)).expect_ok();
            }
            imp.call(&sb, "DEL", pod.path_str(), &conf(v)).expect_ok();
            assert!(!lo_up(&pod), "{imp:?} {v}: DEL must bring lo down");
            // DEL twice: still fine.
            imp.call(&sb, "DEL", pod.path_str(), &conf(v)).expect_ok();
        }
    }
}

#[test]
fn reference_rejects_1_1_0_which_we_speak() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let r = reference().call(&sb, "ADD", pod.path_str(), &conf("1.1.0"));
    assert_eq!(r.expect_err(), 1);
    for cmd in ["GC", "STATUS"] {
        let r = Call::new(cmd).run(&sb.host, &ours().bin, &conf("1.1.0").to_string());
        r.expect_ok();
    }
}

#[test]
fn del_when_the_netns_is_gone_or_empty() {
    let sb = Sandbox::new();
    for imp in both() {
        let pod = sb.pod();
        imp.call(&sb, "ADD", pod.path_str(), &conf("1.0.0"))
            .expect_ok();
        let path = pod.path_str().to_string();
        pod.remove();
        imp.call(&sb, "DEL", &path, &conf("1.0.0")).expect_ok();
        imp.call(&sb, "DEL", "", &conf("1.0.0")).expect_ok();
    }
}

#[test]
fn check_fails_when_lo_is_down() {
    let sb = Sandbox::new();
    for imp in both() {
        let pod = sb.pod();
        imp.call(&sb, "ADD", pod.path_str(), &conf("1.0.0"))
            .expect_ok();
        pod.sh_ok("ip link set lo down");
        let r = imp.call(&sb, "CHECK", pod.path_str(), &conf("1.0.0"));
        let code = r.expect_err();
        let e = r.json();
        assert!(e["msg"].as_str().unwrap().contains("is down"), "{e}");
        if imp.reference {
            assert_eq!(code, 999);
            assert!(e.get("cniVersion").is_none(), "{e}");
        } else {
            assert!((100..999).contains(&code), "{e}");
            assert_eq!(e["cniVersion"], "1.0.0");
            assert!(e["msg"].as_str().unwrap().contains("lo is down"), "{e}");
        }
    }
}

#[test]
fn prev_result_is_passed_through() {
    let sb = Sandbox::new();
    let prev = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": "/x"}],
        "ips": [{"address": "10.1.1.2/24", "interface": 0, "gateway": "10.1.1.1"}],
    });
    for imp in both() {
        let pod = sb.pod();
        let mut c = conf("1.0.0");
        c["prevResult"] = prev.clone();
        let out = imp.call(&sb, "ADD", pod.path_str(), &c).expect_ok();
        assert_eq!(out["ips"], prev["ips"], "{imp:?}: {out}");
        assert_eq!(out["interfaces"], prev["interfaces"], "{imp:?}: {out}");
        assert!(lo_up(&pod));
    }
}

#[test]
fn non_loopback_address_on_lo_is_refused() {
    let sb = Sandbox::new();
    for imp in both() {
        let pod = sb.pod();
        pod.sh_ok("ip addr add 10.9.9.9/32 dev lo");
        let r = imp.call(&sb, "ADD", pod.path_str(), &conf("1.0.0"));
        r.expect_err();
        assert!(
            r.json()["msg"].as_str().unwrap().contains("10.9.9.9"),
            "{}",
            r.stdout
        );
    }
}

#[test]
fn no_ipv6_reported_when_the_kernel_has_none() {
    let sb = Sandbox::new();
    for imp in both() {
        let pod = sb.pod();
        pod.sh_ok("sysctl -q -w net.ipv6.conf.lo.disable_ipv6=1");
        let out = imp
            .call(&sb, "ADD", pod.path_str(), &conf("1.0.0"))
            .expect_ok();
        let ips = out["ips"].as_array().unwrap();
        assert_eq!(ips.len(), 1, "{imp:?}: {out}");
        assert_eq!(ips[0]["address"], "127.0.0.1/8");
    }
}

#[test]
fn version_reply_differs() {
    let sb = Sandbox::new();
    let ours_reply = Call::new("VERSION")
        .run(&sb.host, &ours().bin, &conf("0.4.0").to_string())
        .expect_ok();
    assert_eq!(ours_reply["cniVersion"], "0.4.0");
    assert_eq!(ours_reply["supportedVersions"], json!(ALL));
    let theirs = Call::new("VERSION")
        .run(&sb.host, &reference().bin, &conf("0.4.0").to_string())
        .expect_ok();
    assert_eq!(theirs["cniVersion"], "1.0.0");
    assert_eq!(theirs["supportedVersions"], json!(ALL[..6]));
}

#[test]
fn cni_path_is_not_needed_by_ours() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let call = Call::new("ADD")
        .env("CNI_CONTAINERID", "ctr1")
        .env("CNI_NETNS", pod.path_str())
        .env("CNI_IFNAME", "eth0");
    call.run(&sb.host, &ours().bin, &conf("1.0.0").to_string())
        .expect_ok();
    let r = call.run(&sb.host, &reference().bin, &conf("1.0.0").to_string());
    assert_eq!(r.expect_err(), 4, "the reference insists on CNI_PATH");
}

#[test]
fn add_with_a_missing_netns_is_a_bad_environment() {
    let sb = Sandbox::new();
    let r = ours().call(&sb, "ADD", "/run/netns/cnit-does-not-exist", &conf("1.0.0"));
    assert_eq!(r.expect_err(), 4);
}
