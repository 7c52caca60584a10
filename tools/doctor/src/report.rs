//! The doctor's answer: the findings, what was looked at, the exit code,
//! and its two renderings (text for people, JSON for tools).

use std::fmt::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::finding::{Finding, Severity};
use crate::gc::GcOutcome;
use crate::node::Node;

/// Exit code: nothing found.
pub const EXIT_HEALTHY: i32 = 0;
/// Exit code: at least one error or warning.
pub const EXIT_FINDINGS: i32 = 1;
/// Exit code: no error or warning, but part of the node could not be
/// inspected (or the doctor could not run at all).
pub const EXIT_UNINSPECTED: i32 = 2;

/// What the doctor found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The findings, the worst first.
    pub findings: Vec<Finding>,
    /// The conf dirs read.
    pub conf_dirs: Vec<PathBuf>,
    /// The bin dirs searched.
    pub bin_dirs: Vec<PathBuf>,
    /// The result cache directory.
    pub cache_dir: PathBuf,
    /// The networks found.
    pub networks: Vec<String>,
    /// How many attachments the cache holds.
    pub attachments: usize,
    /// What `--gc` did, when it ran.
    pub gc: Option<GcOutcome>,
}

impl Report {
    /// The report of a snapshot.
    pub fn new(node: &Node, findings: Vec<Finding>) -> Report {
        Report {
            findings,
            conf_dirs: node.opts.conf_dirs.clone(),
            bin_dirs: node.opts.bin_dirs.clone(),
            cache_dir: node.opts.cache_dir.clone(),
            networks: node.networks.iter().map(|n| n.name.clone()).collect(),
            attachments: node.attachments().len(),
            gc: None,
        }
    }

    fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// 0 healthy, 1 findings, 2 could not inspect (see the constants).
    pub fn exit_code(&self) -> i32 {
        if self.count(Severity::Error) + self.count(Severity::Warning) > 0 {
            EXIT_FINDINGS
        } else if self.count(Severity::Unknown) > 0 {
            EXIT_UNINSPECTED
        } else {
            EXIT_HEALTHY
        }
    }

    /// The findings with id `id`.
    pub fn with_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.id == id)
    }

    /// The report as JSON (`--json`).
    pub fn to_json(&self) -> Value {
        let paths =
            |v: &[PathBuf]| -> Vec<String> { v.iter().map(|p| p.display().to_string()).collect() };
        let mut v = json!({
            "healthy": self.exit_code() == EXIT_HEALTHY,
            "exitCode": self.exit_code(),
            "counts": {
                "error": self.count(Severity::Error),
                "warning": self.count(Severity::Warning),
                "unknown": self.count(Severity::Unknown),
            },
            "inspected": {
                "confDirs": paths(&self.conf_dirs),
                "binDirs": paths(&self.bin_dirs),
                "cacheDir": self.cache_dir.display().to_string(),
                "networks": self.networks,
                "attachments": self.attachments,
            },
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        });
        if let Some(gc) = &self.gc {
            v["gc"] = gc.to_json();
        }
        v
    }

    /// The report as text; ANSI colours when `colour`.
    pub fn render(&self, colour: bool) -> String {
        let paint = |code: &str, text: &str| {
            if colour {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let mut out = String::new();
        if let Some(gc) = &self.gc {
            out.push_str(&gc.render());
            out.push('\n');
        }
        let (e, w, u) = (
            self.count(Severity::Error),
            self.count(Severity::Warning),
            self.count(Severity::Unknown),
        );
        let scope = format!(
            "{} networks ({}), {} cached attachments; conf {}; bin {}; cache {}",
            self.networks.len(),
            self.networks.join(", "),
            self.attachments,
            join(&self.conf_dirs),
            join(&self.bin_dirs),
            self.cache_dir.display()
        );
        if self.findings.is_empty() {
            let _ = writeln!(out, "{}: nothing wrong found", paint("1;32", "healthy"));
            let _ = writeln!(out, "  {scope}");
            return out;
        }
        let _ = writeln!(out, "{e} errors, {w} warnings, {u} not inspected");
        let _ = writeln!(out, "  {scope}");
        for f in &self.findings {
            let tag = match f.severity {
                Severity::Error => paint("1;31", "ERROR"),
                Severity::Warning => paint("1;33", "WARNING"),
                Severity::Unknown => paint("1;35", "NOT INSPECTED"),
            };
            let _ = writeln!(out, "\n{tag} [{}] {}", f.id, f.summary);
            for line in &f.evidence {
                let _ = writeln!(out, "  evidence: {line}");
            }
            let _ = writeln!(out, "  why:      {}", f.why);
            if let Some(fix) = &f.fix {
                let _ = writeln!(out, "  fix:      {}", paint("1", fix));
            }
            if let Some(note) = &f.note {
                let _ = writeln!(out, "  note:     {note}");
            }
        }
        out
    }
}

fn join(v: &[PathBuf]) -> String {
    v.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            findings,
            conf_dirs: vec![PathBuf::from("/etc/cni/net.d")],
            bin_dirs: vec![PathBuf::from("/opt/cni/bin")],
            cache_dir: PathBuf::from("/var/lib/cni"),
            networks: vec!["n".into()],
            attachments: 0,
            gc: None,
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(report(vec![]).exit_code(), 0);
        let unknown = crate::finding::not_inspected("x", "y", None);
        assert_eq!(report(vec![unknown.clone()]).exit_code(), 2);
        let warn = Finding::new("w", Severity::Warning, "s", "w");
        assert_eq!(report(vec![unknown, warn]).exit_code(), 1);
    }

    #[test]
    fn text_and_json() {
        let f = Finding::new("ip-forward-off", Severity::Error, "off", "because")
            .evidence("net.ipv4.ip_forward = 0")
            .fix("sysctl -w net.ipv4.ip_forward=1");
        let r = report(vec![f]);
        let text = r.render(false);
        assert!(text.contains("ERROR [ip-forward-off] off"), "{text}");
        assert!(
            text.contains("fix:      sysctl -w net.ipv4.ip_forward=1"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
        assert!(r.render(true).contains("\x1b[1;31mERROR"));
        let j = r.to_json();
        assert_eq!(j["exitCode"], 1);
        assert_eq!(j["findings"][0]["fix"], "sysctl -w net.ipv4.ip_forward=1");
        assert_eq!(j["counts"]["error"], 1);
        assert!(report(vec![]).render(false).contains("healthy"));
    }
}
