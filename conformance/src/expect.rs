//! The expected-failures list (`--expect-failures FILE`): which cases an
//! implementation is known to fail or skip, each with its reason. A run
//! with a list succeeds iff the failing and skipped cases are exactly the
//! listed ones, so a fixed bug (a listed case now passing) and a
//! regression (an unlisted failure) both fail the run.
//!
//! Format, one entry a line; blank lines and `#` comments are ignored:
//!
//! ```text
//! fail  del/bridge/link-gone   masquerade chain leaks when the link is gone
//! skip  gc/*                   the reference claims spec <= 1.0.0
//! ```
//!
//! The pattern is a case name or a glob with `*`; every case it matches
//! (among those run) must end with that status.

use crate::case::glob;
use crate::runner::{Outcome, Status};

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Expected status (fail or skip).
    pub status: Status,
    /// Case name or `*` glob.
    pub pattern: String,
    /// Why (required).
    pub reason: String,
    /// 1-based line number, for messages.
    pub line: usize,
}

impl Entry {
    fn matches(&self, name: &str) -> bool {
        glob(self.pattern.as_bytes(), name.as_bytes())
    }
}

/// The first whitespace-separated word of `s` and the rest after the
/// whitespace that follows it.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// Parse a list; errors name the line.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (first, rest) = split_word(line);
        let (pattern, reason) = split_word(rest);
        let status = match Some(first).filter(|w| !w.is_empty()) {
            Some("fail") => Status::Fail,
            Some("skip") => Status::Skip,
            other => {
                return Err(format!(
                    "line {}: expected `fail` or `skip` first, found {:?}",
                    i + 1,
                    other.unwrap_or_default()
                ));
            }
        };
        let (pattern, reason) = (pattern.to_string(), reason.trim().to_string());
        if pattern.is_empty() {
            return Err(format!("line {}: missing case name", i + 1));
        }
        if reason.is_empty() {
            return Err(format!("line {}: {pattern}: a reason is required", i + 1));
        }
        out.push(Entry {
            status,
            pattern,
            reason,
            line: i + 1,
        });
    }
    Ok(out)
}

/// Entries that match no case of the suite at all (typos, removed cases).
pub fn unknown_entries(entries: &[Entry], all_names: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| !all_names.iter().any(|n| e.matches(n)))
        .map(|e| {
            format!(
                "line {}: `{}` matches no case of the suite",
                e.line, e.pattern
            )
        })
        .collect()
}

/// Every way `outcomes` differ from the list (empty: exactly as expected).
/// Cases not run (not selected) are not judged.
pub fn compare(entries: &[Entry], outcomes: &[Outcome], all_names: &[String]) -> Vec<String> {
    let mut problems = unknown_entries(entries, all_names);
    for o in outcomes {
        let expected = entries.iter().find(|e| e.matches(&o.name));
        match (o.status, expected) {
            (Status::Pass, None) => {}
            (Status::Pass, Some(e)) => problems.push(format!(
                "{}: passed, but line {} expects it to {} ({})",
                o.name,
                e.line,
                if e.status == Status::Fail {
                    "fail"
                } else {
                    "be skipped"
                },
                e.reason
            )),
            (s, Some(e)) if e.status == s => {}
            (Status::Fail, _) => {
                problems.push(format!("{}: unexpected failure: {}", o.name, o.reason));
            }
            (Status::Skip, _) => {
                problems.push(format!("{}: unexpected skip: {}", o.name, o.reason));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcni::Version;

    fn o(name: &str, status: Status) -> Outcome {
        Outcome {
            name: name.into(),
            status,
            reason: "r".into(),
            version: Version::V1_0_0,
            millis: 0,
        }
    }

    const LIST: &str = "# reference\n\nfail del/bridge/link-gone  masq chain leaks\n\
                        skip \t gc/*   claims <= 1.0.0\n";

    #[test]
    fn parses_entries() {
        let e = parse(LIST).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].status, Status::Fail);
        assert_eq!(e[0].pattern, "del/bridge/link-gone");
        assert_eq!(e[0].reason, "masq chain leaks");
        assert_eq!(e[0].line, 3);
        assert_eq!(e[1].status, Status::Skip);
        assert_eq!(e[1].pattern, "gc/*");
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse("broken x y").unwrap_err().contains("line 1"));
        assert!(parse("fail a").unwrap_err().contains("reason is required"));
        assert!(parse("fail").unwrap_err().contains("missing case name"));
    }

    #[test]
    fn exact_match_succeeds() {
        let e = parse(LIST).unwrap();
        let names: Vec<String> = ["del/bridge/link-gone", "gc/a", "gc/b", "ok/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let outs = vec![
            o("del/bridge/link-gone", Status::Fail),
            o("gc/a", Status::Skip),
            o("gc/b", Status::Skip),
            o("ok/x", Status::Pass),
        ];
        assert!(compare(&e, &outs, &names).is_empty());
        // Not selected: not judged.
        assert!(compare(&e, &outs[3..], &names).is_empty());
    }

    #[test]
    fn every_kind_of_mismatch_is_reported() {
        let e = parse(LIST).unwrap();
        let names: Vec<String> = ["del/bridge/link-gone", "gc/a", "ok/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let outs = vec![
            o("del/bridge/link-gone", Status::Pass),
            o("gc/a", Status::Fail),
            o("ok/x", Status::Fail),
        ];
        let p = compare(&e, &outs, &names);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("passed, but line 3 expects it to fail"));
        assert!(p[1].contains("unexpected failure"));
        assert!(p[2].contains("unexpected failure"));
        let typo = parse("fail nosuch/case  why").unwrap();
        let p = compare(&typo, &[], &names);
        assert!(p[0].contains("matches no case"), "{p:?}");
    }
}
