//! One thing the doctor found: how bad it is, what is wrong, the evidence,
//! why it breaks pods, and the command that fixes it.

use serde_json::{Value, json};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Pods are broken now, or will be at their next ADD.
    Error,
    /// Pods work, but something that depends on this does not (Services,
    /// hairpin, another runtime, disk or address space over time).
    Warning,
    /// Part of the node could not be inspected: the report is incomplete.
    Unknown,
}

impl Severity {
    /// The spelling in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Unknown => "unknown",
        }
    }
}

/// One finding. `id` is stable (scripts match on it); the texts are for
/// people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable identifier, e.g. `forward-drop`, `leaked-leases`.
    pub id: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub summary: String,
    /// What shows it: the rule, the sysctl and its value, the file.
    pub evidence: Vec<String>,
    /// Why it breaks pods.
    pub why: String,
    /// The exact command that fixes it, when there is one.
    pub fix: Option<String>,
    /// Another way to fix it, or what the command does not cover.
    pub note: Option<String>,
    /// The individual objects at fault (leaked leases, chains...), each as
    /// one stable line: `--gc` compares them before and after.
    pub items: Vec<String>,
}

impl Finding {
    /// A finding without evidence, fix or items yet.
    pub fn new(
        id: &'static str,
        severity: Severity,
        summary: impl Into<String>,
        why: impl Into<String>,
    ) -> Finding {
        Finding {
            id,
            severity,
            summary: summary.into(),
            evidence: vec![],
            why: why.into(),
            fix: None,
            note: None,
            items: vec![],
        }
    }

    /// Add one line of evidence.
    pub fn evidence(mut self, line: impl Into<String>) -> Finding {
        self.evidence.push(line.into());
        self
    }

    /// Set the fix command.
    pub fn fix(mut self, command: impl Into<String>) -> Finding {
        self.fix = Some(command.into());
        self
    }

    /// Set the note.
    pub fn note(mut self, text: impl Into<String>) -> Finding {
        self.note = Some(text.into());
        self
    }

    /// The finding as JSON (`--json`).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "severity": self.severity.as_str(),
            "summary": self.summary,
            "evidence": self.evidence,
            "why": self.why,
            "fix": self.fix,
            "note": self.note,
            "items": self.items,
        })
    }
}

/// The finding for a part of the node that could not be read.
pub fn not_inspected(what: &str, why: &str, fix: Option<&str>) -> Finding {
    let mut f = Finding::new(
        "not-inspected",
        Severity::Unknown,
        format!("could not inspect {what}"),
        format!(
            "{why}. What depends on it was not checked, so this report may miss \
             problems there."
        ),
    );
    f.fix = fix.map(str::to_string);
    f
}
