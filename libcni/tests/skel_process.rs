//! The plugin skeleton as a real process (the test kit's test-only binary
//! `cni-skel-testplugin`, built by `cargo build --workspace --bins`): what
//! a runtime sees when a plugin panics. The in-process tests of
//! `skel::dispatch` cannot show the exit status, the panic hook's output
//! or what reaches stdout. No root needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::Output;

use cni_sandbox::{Call, plugin_path};
use serde_json::{Value, json};

/// Run one call of the test plugin with a clean CNI environment.
fn call(verb: &str, stdin: &Value, extra_env: &[(&str, &str)]) -> Output {
    let mut env = Call::attach(
        verb,
        "c1",
        "/proc/self/ns/net",
        "eth0",
        Path::new("/nonexistent"),
    )
    .env("CNI_NETNS_OVERRIDE", "1");
    for (k, v) in extra_env {
        env = env.env(k, v);
    }
    let mut child = env
        .command(&plugin_path("cni-skel-testplugin"))
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.to_string().as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// stdout must be exactly one JSON object (and its newline).
fn one_object(stdout: &[u8]) -> Value {
    let text = std::str::from_utf8(stdout).unwrap();
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let v = values.next().unwrap().unwrap();
    assert!(
        values.next().is_none(),
        "more than one JSON value: {text:?}"
    );
    assert!(v.is_object(), "{text:?}");
    assert_eq!(text.trim_end(), text.trim(), "{text:?}");
    assert!(text.ends_with("}\n"), "{text:?}");
    v
}

#[test]
fn a_panic_is_exit_1_with_one_error_object_on_stdout() {
    for (version, backtrace) in [("1.0.0", "0"), ("0.4.0", "full")] {
        let conf = json!({
            "cniVersion": version,
            "name": "n",
            "type": "cni-skel-testplugin",
            "panic": "boom from the config"
        });
        let out = call("ADD", &conf, &[("RUST_BACKTRACE", backtrace)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Exit 1 like any error: not Rust's 101 for a panic, not a signal
        // (which is what `panic = "abort"` would give).
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let v = one_object(&out.stdout);
        assert_eq!(v["code"], 999, "{v}");
        assert_eq!(v["cniVersion"], version, "{v}");
        let msg = v["msg"].as_str().unwrap();
        assert!(
            msg.contains("plugin panicked") && msg.contains("boom from the config"),
            "{msg}"
        );
        // The panic hook's report (and backtrace) went to stderr only.
        for noise in [
            "panicked at",
            "thread '",
            "stack backtrace",
            "RUST_BACKTRACE",
        ] {
            assert!(!stdout.contains(noise), "{noise:?} on stdout: {stdout}");
        }
        assert!(
            stderr.contains("panicked at") && stderr.contains("boom from the config"),
            "{stderr}"
        );
    }
}

/// The same binary without the panic: the difference above is the panic.
#[test]
fn without_the_panic_the_same_call_succeeds() {
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "type": "cni-skel-testplugin"});
    let out = call("ADD", &conf, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = one_object(&out.stdout);
    assert_eq!(v["cniVersion"], "1.0.0", "{v}");
    assert!(v.get("code").is_none(), "{v}");
    assert!(out.stderr.is_empty(), "{out:?}");
    // DEL prints nothing.
    let out = call("DEL", &conf, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

/// Release builds must unwind: with `panic = "abort"` the skeleton cannot
/// turn a panic into an error reply, and a release plugin would die of
/// SIGABRT with nothing on stdout. Guard the workspace profile, since the
/// process test above usually runs in the debug profile.
#[test]
fn release_profile_unwinds() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut section = String::new();
    let mut release_unwinds = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() == "panic" {
            let value = value.trim();
            assert_ne!(value, "\"abort\"", "{section} sets panic = \"abort\"");
            if section == "[profile.release]" && value == "\"unwind\"" {
                release_unwinds = true;
            }
        }
    }
    assert!(
        release_unwinds,
        "[profile.release] must say panic = \"unwind\""
    );
}
