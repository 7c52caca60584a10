//! Output: one line per case, the closing summary line, and the JSON
//! report (`--json`).

use serde_json::{Value, json};

use crate::runner::{Outcome, Status};

/// Longest reason printed on a case line (the JSON report has it whole).
const MAX_REASON: usize = 600;

/// A reason on one line, shortened for the terminal.
pub fn one_line(reason: &str) -> String {
    let flat = reason
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if flat.chars().count() > MAX_REASON {
        let cut: String = flat.chars().take(MAX_REASON).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

/// The line printed for one case: `ok   NAME`, `FAIL NAME: reason` or
/// `skip NAME: reason`.
pub fn line(o: &Outcome) -> String {
    let tag = match o.status {
        Status::Pass => "ok  ",
        Status::Fail => "FAIL",
        Status::Skip => "skip",
    };
    if o.reason.is_empty() {
        format!("{tag} {}", o.name)
    } else {
        format!("{tag} {}: {}", o.name, one_line(&o.reason))
    }
}

/// Counts of passed, failed and skipped cases.
pub fn counts(outcomes: &[Outcome]) -> (usize, usize, usize) {
    let n = |s| outcomes.iter().filter(|o| o.status == s).count();
    (n(Status::Pass), n(Status::Fail), n(Status::Skip))
}

/// The closing line: `N passed, N failed` and `, N skipped` when any were.
pub fn summary(outcomes: &[Outcome]) -> String {
    let (p, f, s) = counts(outcomes);
    if s > 0 {
        format!("{p} passed, {f} failed, {s} skipped")
    } else {
        format!("{p} passed, {f} failed")
    }
}

/// The machine-readable report.
pub fn to_json(
    plugins_dir: &str,
    spec_version: &str,
    outcomes: &[Outcome],
    expectation: Option<&[String]>,
) -> Value {
    let (p, f, s) = counts(outcomes);
    let cases: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            json!({
                "name": o.name,
                "status": match o.status {
                    Status::Pass => "pass",
                    Status::Fail => "fail",
                    Status::Skip => "skip",
                },
                "reason": o.reason,
                "specVersion": o.version.as_str(),
                "millis": o.millis,
            })
        })
        .collect();
    let mut v = json!({
        "pluginsDir": plugins_dir,
        "specVersion": spec_version,
        "passed": p,
        "failed": f,
        "skipped": s,
        "cases": cases,
    });
    if let Some(problems) = expectation {
        v["expectedFailures"] = json!({
            "matched": problems.is_empty(),
            "problems": problems,
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcni::Version;

    fn o(name: &str, status: Status, reason: &str) -> Outcome {
        Outcome {
            name: name.into(),
            status,
            reason: reason.into(),
            version: Version::V1_0_0,
            millis: 3,
        }
    }

    #[test]
    fn lines() {
        assert_eq!(line(&o("a/b", Status::Pass, "")), "ok   a/b");
        assert_eq!(
            line(&o("a/b", Status::Fail, "exit 2\nstderr: x\n")),
            "FAIL a/b: exit 2 | stderr: x"
        );
        assert_eq!(
            line(&o("a/c", Status::Skip, "bridge does not claim spec 1.1.0")),
            "skip a/c: bridge does not claim spec 1.1.0"
        );
        let long = "x".repeat(2000);
        assert!(line(&o("a", Status::Fail, &long)).len() < 700);
    }

    #[test]
    fn summary_line() {
        let v = vec![o("a", Status::Pass, ""), o("b", Status::Fail, "r")];
        assert_eq!(summary(&v), "1 passed, 1 failed");
        let mut v2 = v.clone();
        v2.push(o("c", Status::Skip, "r"));
        v2.push(o("d", Status::Pass, ""));
        assert_eq!(summary(&v2), "2 passed, 1 failed, 1 skipped");
        assert_eq!(summary(&[]), "0 passed, 0 failed");
    }

    #[test]
    fn json_report() {
        let v = vec![o("a", Status::Pass, ""), o("b", Status::Skip, "why")];
        let j = to_json(
            "/d",
            "1.0.0",
            &v,
            Some(&["unexpected failure: x".to_string()]),
        );
        assert_eq!(j["passed"], 1);
        assert_eq!(j["skipped"], 1);
        assert_eq!(j["cases"][1]["status"], "skip");
        assert_eq!(j["cases"][1]["reason"], "why");
        assert_eq!(j["expectedFailures"]["matched"], false);
        assert!(
            to_json("/d", "1.0.0", &v, None)
                .get("expectedFailures")
                .is_none()
        );
    }
}
