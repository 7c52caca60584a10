//! Running the selected cases: ask each plugin for its VERSION once, pick
//! the spec version, then run every case in its own [`Ctx`] (sequentially,
//! or on `jobs` worker threads), turning failures and panics into outcomes.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cni_sandbox::{Call, Sandbox};
use libcni::{Version, spec::ALL_VERSIONS};

use crate::case::{Case, selected};
use crate::ctx::Ctx;
use crate::shape;

/// The plugins the suite drives.
pub const PLUGINS: [&str; 4] = ["bridge", "host-local", "portmap", "loopback"];

/// What the run was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The plugin directory under test.
    pub plugins: PathBuf,
    /// Selection patterns (empty: all cases).
    pub only: Vec<String>,
    /// The version for version-independent cases (`None`: the newest
    /// version every plugin claims).
    pub spec_version: Option<Version>,
    /// Worker threads (1: sequential).
    pub jobs: usize,
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It passed.
    Pass,
    /// It failed (or panicked, or a binary is missing).
    Fail,
    /// A plugin does not claim the version the case needs.
    Skip,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Case name.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// Why it failed or was skipped (empty on success).
    pub reason: String,
    /// The spec version it ran at.
    pub version: Version,
    /// Wall time in milliseconds.
    pub millis: u64,
}

/// What a plugin's VERSION reply said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The binary is not in the directory.
    Missing,
    /// A valid reply listing these versions.
    Versions(Vec<String>),
    /// The reply could not be read (the reason); cases still run.
    Unreadable(String),
}

/// Ask every plugin for VERSION (inside a throwaway fake host).
pub fn probe(dir: &Path) -> BTreeMap<&'static str, Claim> {
    let sb = Sandbox::new();
    let mut out = BTreeMap::new();
    for p in PLUGINS {
        let bin = dir.join(p);
        let claim = if !bin.is_file() {
            Claim::Missing
        } else {
            let run = Call::new("VERSION").run_timeout(
                &sb.host,
                &bin,
                r#"{"cniVersion":"1.1.0"}"#,
                crate::ctx::PLUGIN_TIMEOUT,
            );
            match shape::expect_success(&run, "VERSION").and_then(|v| shape::version_reply(&v)) {
                Ok((_, list)) => Claim::Versions(list),
                Err(e) => Claim::Unreadable(e),
            }
        };
        out.insert(p, claim);
    }
    out
}

/// The newest version every plugin that answered claims (1.0.0 when none
/// answered).
pub fn common_version(claims: &BTreeMap<&'static str, Claim>) -> Version {
    let lists: Vec<&Vec<String>> = claims
        .values()
        .filter_map(|c| match c {
            Claim::Versions(l) => Some(l),
            _ => None,
        })
        .collect();
    if lists.is_empty() {
        return Version::V1_0_0;
    }
    ALL_VERSIONS
        .iter()
        .rev()
        .copied()
        .find(|v| lists.iter().all(|l| l.iter().any(|s| s == v.as_str())))
        .unwrap_or(Version::V1_0_0)
}

/// Why `case` at `version` cannot run (missing binary: fail; version not
/// claimed: skip), if so.
fn precondition(
    case: &Case,
    version: Version,
    claims: &BTreeMap<&'static str, Claim>,
) -> Option<(Status, String)> {
    for p in &case.plugins {
        if matches!(claims.get(p), Some(Claim::Missing) | None) {
            return Some((Status::Fail, format!("binary missing: {p}")));
        }
    }
    for p in &case.plugins {
        if let Some(Claim::Versions(list)) = claims.get(p)
            && !list.iter().any(|s| s == version.as_str())
        {
            return Some((
                Status::Skip,
                format!(
                    "{p} does not claim spec {version} (its VERSION reply lists {})",
                    list.join(", ")
                ),
            ));
        }
    }
    None
}

thread_local! {
    static PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Run one case to an outcome.
pub fn run_case(
    case: &Case,
    version: Version,
    dir: &Path,
    claims: &BTreeMap<&'static str, Claim>,
) -> Outcome {
    let start = Instant::now();
    let (status, reason) = match precondition(case, version, claims) {
        Some(x) => x,
        None => {
            PANIC.with(|p| p.borrow_mut().take());
            let r = catch_unwind(AssertUnwindSafe(|| {
                let ctx = Ctx::new(dir, version);
                (case.run)(&ctx)
            }));
            match r {
                Ok(Ok(())) => (Status::Pass, String::new()),
                Ok(Err(e)) => (Status::Fail, e),
                Err(payload) => {
                    let msg = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    let located = PANIC.with(|p| p.borrow_mut().take());
                    (
                        Status::Fail,
                        format!("harness panic: {}", located.unwrap_or(msg)),
                    )
                }
            }
        }
    };
    Outcome {
        name: case.name.clone(),
        status,
        reason,
        version,
        millis: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// The cases selected by `opts`, each with the version it runs at, in
/// registry order.
pub fn select<'a>(
    cases: &'a [Case],
    opts: &Options,
    run_version: Version,
) -> Vec<(&'a Case, Version)> {
    cases
        .iter()
        .filter(|c| selected(&opts.only, &c.name))
        .filter_map(|c| c.spec.resolve(run_version).map(|v| (c, v)))
        .collect()
}

/// Run `todo` with `opts.jobs` workers, calling `report` for each outcome
/// in the order of `todo` as soon as it and all before it are done.
pub fn run_all(
    todo: &[(&Case, Version)],
    opts: &Options,
    claims: &BTreeMap<&'static str, Claim>,
    report: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
    }));
    let next = AtomicUsize::new(0);
    let done: Mutex<(usize, Vec<Option<Outcome>>)> = Mutex::new((0, vec![None; todo.len()]));
    let worker = || {
        loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            let Some((case, version)) = todo.get(i) else {
                break;
            };
            let out = run_case(case, *version, &opts.plugins, claims);
            let mut g = done.lock().unwrap_or_else(|e| e.into_inner());
            g.1[i] = Some(out);
            while g.0 < todo.len() {
                let k = g.0;
                match &g.1[k] {
                    Some(o) => report(o),
                    None => break,
                }
                g.0 += 1;
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(worker);
        }
    });
    std::panic::set_hook(prev_hook);
    let (_, v) = done.into_inner().unwrap_or_else(|e| e.into_inner());
    v.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::SpecNeed;

    fn claims(list: &[(&'static str, Claim)]) -> BTreeMap<&'static str, Claim> {
        list.iter().cloned().collect()
    }

    fn vs(v: &[&str]) -> Claim {
        Claim::Versions(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn common_version_is_newest_claimed_by_all() {
        let c = claims(&[
            ("bridge", vs(&["0.4.0", "1.0.0", "1.1.0"])),
            ("portmap", vs(&["0.4.0", "1.0.0"])),
            ("loopback", Claim::Missing),
        ]);
        assert_eq!(common_version(&c), Version::V1_0_0);
        assert_eq!(common_version(&claims(&[])), Version::V1_0_0);
    }

    #[test]
    fn missing_binary_fails_and_unclaimed_version_skips() {
        let case = Case::new("x", SpecNeed::Fixed(Version::V1_1_0), &["bridge"], |_| {
            Ok(())
        });
        let c = claims(&[("bridge", Claim::Missing)]);
        let (s, r) = precondition(&case, Version::V1_1_0, &c).unwrap();
        assert_eq!(s, Status::Fail);
        assert_eq!(r, "binary missing: bridge");
        let c = claims(&[("bridge", vs(&["1.0.0"]))]);
        let (s, r) = precondition(&case, Version::V1_1_0, &c).unwrap();
        assert_eq!(s, Status::Skip);
        assert!(r.contains("does not claim spec 1.1.0"), "{r}");
        let c = claims(&[("bridge", Claim::Unreadable("x".into()))]);
        assert!(precondition(&case, Version::V1_1_0, &c).is_none());
    }
}
