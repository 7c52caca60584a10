//! The VERSION probe: whether a binary answers `CNI_COMMAND=VERSION` like
//! a CNI plugin (SPEC.md "VERSION"), and which spec versions it claims.
//! Tests use it to pick a delegate (our build when it is there and
//! working, else the reference) and to require a spec version.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The `supportedVersions` that `bin` reports for `CNI_COMMAND=VERSION`
/// (fed a minimal 1.0.0 config on stdin), or `None` when it does not
/// answer like a CNI plugin: it cannot be run (missing, a placeholder), or
/// its stdout is not a JSON object with a `supportedVersions` list.
/// VERSION touches no network state, so the binary runs directly.
pub fn supported_versions(bin: &Path) -> Option<Vec<String>> {
    let mut child = Command::new(bin)
        .env_clear()
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(br#"{"cniVersion":"1.0.0"}"#);
    }
    let out = child.wait_with_output().ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(
        v["supportedVersions"]
            .as_array()?
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
    )
}

/// Whether `bin` answers VERSION like a CNI plugin
/// ([`supported_versions`] is `Some`).
pub fn answers_version(bin: &Path) -> bool {
    supported_versions(bin).is_some()
}
