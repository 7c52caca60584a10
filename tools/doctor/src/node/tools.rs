//! Running the listing tools (`iptables-nft-save`, `iptables-legacy-save`,
//! `nft`): looked up by absolute path in the configured directories
//! (the system directories by default, never `$PATH`), run once each.
//! A child process inherits the network namespace of the thread that
//! starts it, so the listings are of the namespace the doctor runs in.
//!
//! A missing tool or a failed run is an [`Unread`], which becomes a
//! "could not inspect" finding: never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Unread;

/// The directories tools are looked up in.
#[derive(Debug, Clone)]
pub struct Tools {
    dirs: Vec<PathBuf>,
}

impl Tools {
    /// Look tools up in `dirs`, in order.
    pub fn new(dirs: &[PathBuf]) -> Tools {
        Tools {
            dirs: dirs.to_vec(),
        }
    }

    /// The absolute path of `name`, when installed.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        self.dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
    }

    /// Run `name args...`; its stdout on exit status 0. `what` names the
    /// inspected object in the [`Unread`].
    pub fn output(&self, what: &str, name: &str, args: &[&str]) -> Result<String, Unread> {
        let path = self.find(name).ok_or_else(|| {
            Unread::new(
                what,
                format!(
                    "{name} is not installed (looked in {})",
                    self.dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_fix(install_hint(name))
        })?;
        run(what, &path, args)
    }
}

fn run(what: &str, path: &Path, args: &[&str]) -> Result<String, Unread> {
    let shown = format!("{} {}", path.display(), args.join(" "));
    let out = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The messages are matched on nowhere, but keep them untranslated
        // for the report.
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| Unread::new(what, format!("running {shown}: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Unread::new(
            what,
            format!("{shown} failed ({}): {}", out.status, stderr.trim()),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The Debian package that provides a tool, as a command.
fn install_hint(name: &str) -> String {
    let package = if name == "nft" {
        "nftables"
    } else {
        "iptables"
    };
    format!("apt-get install {package}")
}

/// Which binary `iptables` resolves to: `Some(true)` for iptables-nft,
/// `Some(false)` for iptables-legacy, `None` when not installed or not
/// recognised (Debian's alternatives point it at `xtables-nft-multi` or
/// `xtables-legacy-multi`). Only stat calls.
pub fn iptables_is_nft(tools: &Tools) -> Option<bool> {
    let path = tools.find("iptables")?;
    let real = std::fs::canonicalize(&path).unwrap_or(path);
    let name = real.file_name()?.to_string_lossy().into_owned();
    if name.contains("nft") {
        Some(true)
    } else if name.contains("legacy") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_missing_tool_is_unread_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let tools = Tools::new(&[dir.path().to_path_buf()]);
        let e = tools.output("nftables", "nft", &["-j", "list", "ruleset"]);
        let e = e.unwrap_err();
        assert!(e.why.contains("nft is not installed"), "{e:?}");
        assert_eq!(e.fix.as_deref(), Some("apt-get install nftables"));
        assert_eq!(iptables_is_nft(&tools), None);
    }

    #[test]
    fn a_failing_tool_is_unread_with_its_stderr() {
        let tools = Tools::new(&[PathBuf::from("/bin"), PathBuf::from("/usr/bin")]);
        let e = tools.output("x", "sh", &["-c", "echo nope >&2; exit 3"]);
        let e = e.unwrap_err();
        assert!(e.why.contains("nope"), "{e:?}");
        assert_eq!(tools.output("x", "sh", &["-c", "echo hi"]).unwrap(), "hi\n");
    }
}
