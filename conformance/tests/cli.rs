//! The `cni-conformance` binary end to end: the full suite against the
//! reference plugins matches the checked-in expected-failures list; a plugin
//! directory with missing binaries gives failing cases, not a crash; a
//! listed case that passes fails the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cni-conformance"))
}

fn expected_list() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("expected/reference-1.1.1.txt")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The closing line `N passed, N failed[, N skipped]` parsed.
fn summary(o: &Output) -> (usize, usize, usize) {
    let out = String::from_utf8_lossy(&o.stdout);
    let last = out.lines().last().unwrap_or_default().to_string();
    let nums: Vec<usize> = last
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        last.contains(" passed, ") && last.contains(" failed"),
        "bad summary line {last:?}\n{}",
        text(o)
    );
    (nums[0], nums[1], nums.get(2).copied().unwrap_or(0))
}

#[test]
fn reference_plugins_fail_exactly_the_listed_cases() {
    cni_sandbox::require_root();
    let reference = cni_sandbox::reference_dir();
    cni_sandbox::reference_plugin("bridge");
    let json = tempfile::NamedTempFile::new().unwrap();
    let out = bin()
        .arg("--plugins")
        .arg(&reference)
        .arg("--expect-failures")
        .arg(expected_list())
        .arg("--json")
        .arg(json.path())
        .arg("--jobs")
        .arg("2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (passed, failed, skipped) = summary(&out);
    assert!(passed > 100 && failed > 0 && skipped > 0, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("expectation: the failing and skipped cases are exactly the listed ones")
    );
    // One line per case, then the expectation lines and the summary.
    let case_lines = stdout
        .lines()
        .filter(|l| l.starts_with("ok   ") || l.starts_with("FAIL ") || l.starts_with("skip "))
        .count();
    assert_eq!(case_lines, passed + failed + skipped);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json.path()).unwrap()).unwrap();
    assert_eq!(report["failed"], failed);
    assert_eq!(report["expectedFailures"]["matched"], true);
    assert_eq!(report["specVersion"], "1.0.0");
}

#[test]
fn missing_binaries_fail_their_cases_without_a_crash() {
    cni_sandbox::require_root();
    let dir = tempfile::tempdir().unwrap();
    // Only loopback is present.
    std::fs::copy(
        cni_sandbox::reference_plugin("loopback"),
        dir.path().join("loopback"),
    )
    .unwrap();
    let out = bin()
        .arg("--plugins")
        .arg(dir.path())
        .arg("--only")
        .arg("version/bridge/reply-shape,version/loopback/reply-shape,del/chain/complete")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAIL version/bridge/reply-shape: binary missing: bridge"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("FAIL del/chain/complete: binary missing: bridge"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("ok   version/loopback/reply-shape"),
        "{}",
        text(&out)
    );
    assert_eq!(summary(&out), (1, 2, 0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn a_listed_failure_that_passes_fails_the_run() {
    cni_sandbox::require_root();
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        list.path(),
        "fail version/loopback/reply-shape  pretend the reference fails this\n",
    )
    .unwrap();
    let out = bin()
        .arg("--plugins")
        .arg(cni_sandbox::reference_dir())
        .arg("--only")
        .arg("version/loopback/reply-shape")
        .arg("--expect-failures")
        .arg(list.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("passed, but line 1 expects it to fail"),
        "{}",
        text(&out)
    );
    assert_eq!(summary(&out), (1, 0, 0));
}

#[test]
fn list_and_usage_errors() {
    let out = bin().arg("--list").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.lines().count() > 150, "{listing}");
    assert!(listing.contains("del/chain/after-link-gone\t>=0.3.0\tbridge,host-local,portmap"));
    // No plugin directory, a bad version, a bad list: exit 2.
    assert_eq!(bin().output().unwrap().status.code(), Some(2));
    let bad_version = bin()
        .args(["--plugins", "/nonexistent", "--spec-version", "2.0.0"])
        .output()
        .unwrap();
    assert_eq!(bad_version.status.code(), Some(2));
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(list.path(), "fial some/case/x  typo\n").unwrap();
    let bad_list = bin()
        .args(["--plugins", "/nonexistent", "--expect-failures"])
        .arg(list.path())
        .output()
        .unwrap();
    assert_eq!(bad_list.status.code(), Some(2), "{}", text(&bad_list));
}

#[test]
fn a_case_excluded_by_spec_version_is_printed_as_skip_and_counted() {
    cni_sandbox::require_root();
    let out = bin()
        .arg("--plugins")
        .arg(cni_sandbox::reference_dir())
        .args(["--spec-version", "0.3.1", "--only"])
        .arg(
            "check/bridge/passes-after-add,del/chain/without-prev-result,add/loopback/brings-lo-up",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in [
        "check/bridge/passes-after-add",
        "del/chain/without-prev-result",
    ] {
        assert!(
            stdout.contains(&format!(
                "skip {name}: excluded by --spec-version 0.3.1: the case needs spec 0.4.0 or newer"
            )),
            "{}",
            text(&out)
        );
    }
    assert!(
        stdout.contains("ok   add/loopback/brings-lo-up"),
        "{}",
        text(&out)
    );
    assert_eq!(summary(&out), (1, 0, 2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3 cases against"),
        "{}",
        text(&out)
    );
}
