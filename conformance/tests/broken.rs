//! Deliberately broken plugins: the suite must catch them. Each test builds
//! a plugin directory of our built plugins (symlinks into the cargo target
//! directory) in which one binary is a wrapper script around the real one
//! that breaks exactly one behaviour, runs the suite on the cases that
//! should catch it plus control cases that the breakage does not touch,
//! and asserts `FAIL` for the former and `ok` for the latter.
//!
//! This is what README.md's "Adding a case" asks of a new case when the
//! reference does not already fail it: proof that it can fail. To add a
//! breakage, write the shell that replaces the behaviour (`$REAL` is the
//! real binary; stdin and the environment are passed through) and list
//! the cases that must now fail.
//!
//! Needs root and `cargo build --workspace --bins` first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::process::{Command, Output};

use tempfile::TempDir;

const PLUGINS: [&str; 7] = [
    "bridge",
    "host-local",
    "portmap",
    "loopback",
    "bandwidth",
    "ptp",
    "firewall",
];

/// A plugin directory where `plugin` runs `body` (a `sh` script with
/// `$REAL` set to our real binary) and the others are our binaries.
fn fixture(plugin: &str, body: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in PLUGINS {
        let real = cni_sandbox::plugin_path(p);
        let path = dir.path().join(p);
        if p == plugin {
            std::fs::write(
                &path,
                format!("#!/bin/sh\nREAL='{}'\n{body}\n", real.display()),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            symlink(&real, &path).unwrap();
        }
    }
    dir
}

fn run_suite(dir: &TempDir, cases: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
        .arg("--plugins")
        .arg(dir.path())
        .arg("--only")
        .arg(cases.join(","))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run `must_fail` and `controls` against the broken directory: exactly
/// the cases of `must_fail` are reported `FAIL`, every control `ok`, the
/// run exits 1 and the closing line counts them. (Selection patterns match
/// by substring, so a control may bring along cases with a longer name;
/// those must pass too.)
fn expect_caught(plugin: &str, body: &str, must_fail: &[&str], controls: &[&str]) {
    cni_sandbox::require_root();
    let dir = fixture(plugin, body);
    let all: Vec<&str> = must_fail.iter().chain(controls).copied().collect();
    let out = run_suite(&dir, &all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut failed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .filter_map(|l| l.split(": ").next())
        .collect();
    failed.sort_unstable();
    let mut want = must_fail.to_vec();
    want.sort_unstable();
    assert_eq!(
        failed,
        want,
        "the broken {plugin} must fail exactly these cases\n{}",
        text(&out)
    );
    for name in controls {
        assert!(
            stdout.lines().any(|l| l == format!("ok   {name}")),
            "control {name} should pass with the broken {plugin}\n{}",
            text(&out)
        );
    }
    let passed = stdout.lines().filter(|l| l.starts_with("ok   ")).count();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout.ends_with(&format!("{passed} passed, {} failed\n", must_fail.len())),
        "{}",
        text(&out)
    );
}

/// loopback ADD that reports success but leaves `lo` down.
#[test]
fn loopback_leaving_lo_down() {
    expect_caught(
        "loopback",
        r#"if [ "$CNI_COMMAND" = ADD ]; then
  out=$("$REAL"); rc=$?
  nsenter --net="$CNI_NETNS" ip link set lo down
  printf '%s\n' "$out"; exit $rc
fi
exec "$REAL""#,
        &["add/loopback/brings-lo-up"],
        &["del/loopback/idempotent", "result/loopback/1.0.0"],
    );
}

/// loopback CHECK that always passes.
#[test]
fn loopback_check_that_checks_nothing() {
    expect_caught(
        "loopback",
        r#"[ "$CNI_COMMAND" = CHECK ] && exit 0
exec "$REAL""#,
        &["check/loopback/fails-after-lo-down"],
        &["add/loopback/brings-lo-up"],
    );
}

/// host-local DEL that succeeds without releasing anything.
#[test]
fn host_local_forgetting_del() {
    expect_caught(
        "host-local",
        r#"[ "$CNI_COMMAND" = DEL ] && exit 0
exec "$REAL""#,
        &[
            "del/host-local/twice-releases-lease",
            "del/chain/complete",
            "del/chain/twice",
        ],
        &[
            "add/host-local/distinct-addresses",
            "check/host-local/fails-after-lease-removed",
        ],
    );
}

/// host-local CHECK that does not look at its store.
#[test]
fn host_local_check_ignoring_the_store() {
    expect_caught(
        "host-local",
        r#"[ "$CNI_COMMAND" = CHECK ] && exit 0
exec "$REAL""#,
        &["check/host-local/fails-after-lease-removed"],
        &["del/host-local/twice-releases-lease"],
    );
}

/// bridge ADD that labels its result 0.3.0 whatever the config says (a
/// 0.3.0 config is the control: there the label is right).
#[test]
fn bridge_printing_a_wrong_cni_version() {
    expect_caught(
        "bridge",
        r#"if [ "$CNI_COMMAND" = ADD ]; then
  out=$("$REAL"); rc=$?
  printf '%s\n' "$out" | sed -E 's/"cniVersion": *"[^"]*"/"cniVersion":"0.3.0"/'
  exit $rc
fi
exec "$REAL""#,
        &["result/bridge/1.0.0", "result/bridge/0.4.0"],
        &["result/bridge/0.3.0", "result/host-local/1.0.0"],
    );
}

/// bridge DEL that, like the reference, stops at the first error of its
/// IPAM delegate: with the IPAM plugin unreachable the veth and the
/// masquerade rules are left.
#[test]
fn bridge_del_giving_up_without_its_ipam_plugin() {
    expect_caught(
        "bridge",
        r#"if [ "$CNI_COMMAND" = DEL ] && ! [ -x "$CNI_PATH/host-local" ]; then
  cat >/dev/null
  echo '{"cniVersion":"1.1.0","code":4,"msg":"IPAM plugin not found"}'
  exit 1
fi
exec "$REAL""#,
        &[
            "del/bridge/without-path-cleans-up",
            "del/bridge/ipam-plugin-missing-cleans-up",
        ],
        &["del/chain/twice", "check/bridge/fails-without-ipam-plugin"],
    );
}

/// portmap DEL that succeeds without removing the DNAT rules.
#[test]
fn portmap_forgetting_del() {
    expect_caught(
        "portmap",
        r#"[ "$CNI_COMMAND" = DEL ] && exit 0
exec "$REAL""#,
        &["del/chain/complete", "del/chain/without-prev-result"],
        &[
            "del/chain/never-added",
            "check/portmap/fails-after-rule-drift",
        ],
    );
}

/// bandwidth ADD that reports success but removes the qdiscs and the ifb
/// it made: nothing is shaped.
#[test]
fn bandwidth_shaping_nothing() {
    expect_caught(
        "bandwidth",
        r#"if [ "$CNI_COMMAND" = ADD ]; then
  out=$("$REAL"); rc=$?
  for d in $(ip -o link show type ifb | sed -E 's/^[0-9]+: ([^:@]+).*/\1/'); do ip link del "$d"; done
  for d in $(ip -o link show type veth | sed -E 's/^[0-9]+: ([^:@]+).*/\1/'); do
    tc qdisc del dev "$d" root 2>/dev/null; tc qdisc del dev "$d" ingress 2>/dev/null
  done
  printf '%s\n' "$out"; exit $rc
fi
exec "$REAL""#,
        &[
            "add/bandwidth/shapes-veth-and-ifb",
            "add/bandwidth/capability-runtime-config",
            "check/bandwidth/passes-after-add",
            "datapath/bandwidth/rate-limited-both-ways",
        ],
        &[
            "add/bandwidth/no-limits-passes-result-through",
            "status/bandwidth/ready-on-fresh-node",
        ],
    );
}

/// bandwidth ADD that shapes even without limits (8 kbit/s into the pod).
#[test]
fn bandwidth_shaping_without_limits() {
    expect_caught(
        "bandwidth",
        r#"if [ "$CNI_COMMAND" = ADD ]; then
  sed 's/"type":"bandwidth"/"type":"bandwidth","ingressRate":8000,"ingressBurst":80000/' | "$REAL"
  exit $?
fi
exec "$REAL""#,
        &["add/bandwidth/no-limits-passes-result-through"],
        &["status/bandwidth/ready-on-fresh-node"],
    );
}

/// bandwidth DEL that succeeds without deleting the ifb.
#[test]
fn bandwidth_forgetting_del() {
    expect_caught(
        "bandwidth",
        r#"[ "$CNI_COMMAND" = DEL ] && exit 0
exec "$REAL""#,
        &[
            "del/bandwidth/removes-ifb-twice",
            "del/bandwidth/without-netns",
        ],
        &["add/bandwidth/shapes-veth-and-ifb"],
    );
}

/// bandwidth CHECK that checks nothing.
#[test]
fn bandwidth_check_that_checks_nothing() {
    expect_caught(
        "bandwidth",
        r#"[ "$CNI_COMMAND" = CHECK ] && exit 0
exec "$REAL""#,
        &[
            "check/bandwidth/fails-after-tbf-drift",
            "check/bandwidth/fails-after-filter-drift",
        ],
        &[
            "check/bandwidth/passes-after-add",
            "check/bandwidth/passes-without-limits",
        ],
    );
}

/// bandwidth whose GC does nothing and whose STATUS says it is not ready.
#[test]
fn bandwidth_idle_gc_and_unready_status() {
    expect_caught(
        "bandwidth",
        r#"case "$CNI_COMMAND" in
GC) exit 0 ;;
STATUS) cat >/dev/null; echo '{"cniVersion":"1.1.0","code":50,"msg":"not ready"}'; exit 1 ;;
esac
exec "$REAL""#,
        &[
            "gc/bandwidth/removes-orphaned-ifb",
            "status/bandwidth/ready-on-fresh-node",
        ],
        &["del/bandwidth/removes-ifb-twice"],
    );
}

/// Not a breakage but an old plugin: a loopback whose VERSION reply stops
/// at 0.3.1 gets its CHECK case skipped (naming loopback and its claim)
/// and its other cases run at 0.3.1, while bridge's CHECK case still runs
/// at the newest version bridge and host-local claim.
#[test]
fn an_old_loopback_holds_back_only_its_own_cases() {
    cni_sandbox::require_root();
    let dir = fixture(
        "loopback",
        r#"if [ "$CNI_COMMAND" = VERSION ]; then
  cat >/dev/null
  echo '{"cniVersion":"0.3.1","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1"]}'
  exit 0
fi
exec "$REAL""#,
    );
    let json = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
        .arg("--plugins")
        .arg(dir.path())
        .args(["--only"])
        .arg("check/bridge/passes-after-add,check/loopback/fails-after-lo-down,add/loopback/brings-lo-up")
        .arg("--json")
        .arg(json.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "skip check/loopback/fails-after-lo-down: the case needs spec 0.4.0 or newer, but loopback claims 0.1.0, 0.2.0, 0.3.0, 0.3.1"
        ),
        "{}",
        text(&out)
    );
    assert!(
        stdout.ends_with("2 passed, 0 failed, 1 skipped\n"),
        "{}",
        text(&out)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json.path()).unwrap()).unwrap();
    let version_of = |name: &str| {
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["specVersion"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(version_of("check/bridge/passes-after-add"), "1.1.0");
    assert_eq!(version_of("add/loopback/brings-lo-up"), "0.3.1");
}

/// ptp ADD that puts the pod's connected route back: the pod would reach
/// its subnet directly instead of through the gateway.
#[test]
fn ptp_keeping_the_connected_route() {
    expect_caught(
        "ptp",
        r#"if [ "$CNI_COMMAND" = ADD ]; then
  out=$("$REAL"); rc=$?
  nsenter --net="$CNI_NETNS" ip route append 10.77.0.0/24 dev "$CNI_IFNAME" scope link
  printf '%s\n' "$out"; exit $rc
fi
exec "$REAL""#,
        &[
            "add/ptp/point-to-point-layout",
            "add/ptp/point-to-point-layout-dual-stack",
        ],
        &["result/ptp/1.0.0", "del/ptp/complete"],
    );
}

/// ptp DEL that succeeds without removing anything.
#[test]
fn ptp_forgetting_del() {
    expect_caught(
        "ptp",
        r#"[ "$CNI_COMMAND" = DEL ] && exit 0
exec "$REAL""#,
        &["del/ptp/complete", "del/ptp/twice"],
        &["add/ptp/second-add-keeps-the-first"],
    );
}

/// ptp CHECK that always passes.
#[test]
fn ptp_check_that_checks_nothing() {
    expect_caught(
        "ptp",
        r#"[ "$CNI_COMMAND" = CHECK ] && exit 0
exec "$REAL""#,
        &["check/ptp/fails-after-route-drift"],
        &["check/ptp/passes-after-add"],
    );
}

/// firewall ADD that reports success but writes no accept rule.
#[test]
fn firewall_adding_nothing() {
    expect_caught(
        "firewall",
        r#"if [ "$CNI_COMMAND" = ADD ]; then
  out=$("$REAL"); rc=$?
  iptables -F CNI-FORWARD
  printf '%s\n' "$out"; exit $rc
fi
exec "$REAL""#,
        &[
            "add/firewall/accepts-and-passes-prev-result",
            "datapath/firewall/forward-drop-to-outside",
            "check/firewall/after-add",
        ],
        &["bad-input/firewall/unknown-backend"],
    );
}

/// firewall DEL that removes every pod's rules, and CHECK that checks
/// nothing.
#[test]
fn firewall_del_too_much_check_nothing() {
    expect_caught(
        "firewall",
        r#"[ "$CNI_COMMAND" = CHECK ] && exit 0
if [ "$CNI_COMMAND" = DEL ]; then "$REAL"; rc=$?; iptables -F CNI-FORWARD; exit $rc; fi
exec "$REAL""#,
        &[
            "del/firewall/removes-only-its-rules",
            "check/firewall/notices-a-missing-rule",
        ],
        &["add/firewall/accepts-and-passes-prev-result"],
    );
}
