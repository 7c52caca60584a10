//! Running the selected cases: ask each plugin for its VERSION once, pick
//! each case's spec version (or why it is skipped) from the replies of the
//! plugins it runs, then run every case in its own [`Ctx`] (sequentially,
//! or on `jobs` worker threads), turning failures and panics into outcomes.
//! Every selected case ends as an outcome: none is dropped silently.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cni_sandbox::{Call, Sandbox};
use libcni::{Version, spec::ALL_VERSIONS};

use crate::case::{Case, Claimed, selected};
use crate::ctx::Ctx;
use crate::shape;

/// The plugins the suite drives.
pub const PLUGINS: [&str; 9] = [
    "bridge",
    "host-local",
    "portmap",
    "loopback",
    "ptp",
    "firewall",
    "tuning",
    "bandwidth",
    "flannel",
];

/// What the run was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The plugin directory under test.
    pub plugins: PathBuf,
    /// Selection patterns (empty: all cases).
    pub only: Vec<String>,
    /// The version for version-independent cases (`None`: per case, the
    /// newest version every plugin of the case claims).
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
/// answered). Reported as the run's version; each case picks its own from
/// the plugins it runs ([`select`]).
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

/// A selected case and how it will run: at `version`, or skipped for
/// `skip` without running.
#[derive(Debug, Clone)]
pub struct Planned<'a> {
    /// The case.
    pub case: &'a Case,
    /// The version it runs at (when skipped: the oldest it could run at).
    pub version: Version,
    /// Why the run's version choice excludes it, if it does.
    pub skip: Option<String>,
}

/// Run one case to an outcome. A missing binary fails it before anything
/// else; a planned skip or an unclaimed version skips it.
pub fn run_case(plan: &Planned<'_>, dir: &Path, claims: &BTreeMap<&'static str, Claim>) -> Outcome {
    let (case, version) = (plan.case, plan.version);
    let start = Instant::now();
    let pre = match precondition(case, version, claims) {
        Some((Status::Fail, r)) => Some((Status::Fail, r)),
        other => plan.skip.clone().map(|r| (Status::Skip, r)).or(other),
    };
    let (status, reason) = match pre {
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

/// The cases selected by `opts`, in registry order, each with the version
/// it runs at: `--spec-version` or, by default, the newest version every
/// plugin of the case claims (see [`SpecNeed::resolve`]). A case that no
/// such version fits is still selected, planned as a skip with the reason.
///
/// [`SpecNeed::resolve`]: crate::case::SpecNeed::resolve
pub fn select<'a>(
    cases: &'a [Case],
    opts: &Options,
    claims: &BTreeMap<&'static str, Claim>,
) -> Vec<Planned<'a>> {
    cases
        .iter()
        .filter(|c| selected(&opts.only, &c.name))
        .map(|c| {
            let readable: Vec<Claimed<'_>> = c
                .plugins
                .iter()
                .filter_map(|p| match claims.get(p) {
                    Some(Claim::Versions(l)) => Some((*p, l.as_slice())),
                    _ => None,
                })
                .collect();
            match c.spec.resolve(opts.spec_version, &readable) {
                Ok(version) => Planned {
                    case: c,
                    version,
                    skip: None,
                },
                Err(why) => Planned {
                    case: c,
                    version: c.spec.min(),
                    skip: Some(why),
                },
            }
        })
        .collect()
}

/// Run `todo` with `opts.jobs` workers, calling `report` for each outcome
/// in the order of `todo` as soon as it and all before it are done.
pub fn run_all(
    todo: &[Planned<'_>],
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
            let Some(plan) = todo.get(i) else {
                break;
            };
            let out = run_case(plan, &opts.plugins, claims);
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

    fn opts(only: &[&str], spec_version: Option<Version>) -> Options {
        Options {
            plugins: PathBuf::from("/nonexistent"),
            only: only.iter().map(|s| s.to_string()).collect(),
            spec_version,
            jobs: 1,
        }
    }

    fn registry() -> Vec<Case> {
        let run04 = SpecNeed::Run {
            min: Version::V0_4_0,
        };
        let any = SpecNeed::Run {
            min: Version::V0_1_0,
        };
        vec![
            Case::new("check/bridge/x", run04, &["bridge", "host-local"], |_| {
                Ok(())
            }),
            Case::new("check/loopback/x", run04, &["loopback"], |_| Ok(())),
            Case::new("add/loopback/x", any, &["loopback"], |_| Ok(())),
        ]
    }

    /// A case excluded by --spec-version is selected, planned as a skip
    /// naming the option, reported as `skip NAME: reason` and counted.
    #[test]
    fn spec_version_exclusion_is_a_counted_skip() {
        let all = vs(&[
            "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
        ]);
        let c = claims(&[
            ("bridge", all.clone()),
            ("host-local", all.clone()),
            ("loopback", all),
        ]);
        let cases = registry();
        let o = opts(&[], Some(Version::V0_3_1));
        let todo = select(&cases, &o, &c);
        assert_eq!(todo.len(), 3, "no case may be dropped");
        let outs = run_all(&todo[..2], &o, &c, &|_| {});
        for out in &outs {
            assert_eq!(out.status, Status::Skip, "{out:?}");
            assert!(out.reason.contains("--spec-version 0.3.1"), "{out:?}");
        }
        assert_eq!(
            crate::report::line(&outs[0]),
            "skip check/bridge/x: excluded by --spec-version 0.3.1: the case needs spec 0.4.0 or newer"
        );
        assert_eq!(
            crate::report::summary(&outs),
            "0 passed, 0 failed, 2 skipped"
        );
        assert_eq!(todo[2].skip, None);
        assert_eq!(todo[2].version, Version::V0_3_1);
    }

    /// Each case's version comes from the plugins it runs: an old loopback
    /// does not hold back the bridge CHECK case, and only loopback's own
    /// CHECK case is skipped, naming loopback and what it claims.
    #[test]
    fn version_is_chosen_per_case() {
        let c = claims(&[
            ("bridge", vs(&["0.3.1", "0.4.0", "1.0.0", "1.1.0"])),
            ("host-local", vs(&["0.4.0", "1.0.0"])),
            ("loopback", vs(&["0.2.0", "0.3.1"])),
        ]);
        let cases = registry();
        let todo = select(&cases, &opts(&[], None), &c);
        assert_eq!(todo.len(), 3);
        assert_eq!(todo[0].version, Version::V1_0_0);
        assert_eq!(todo[0].skip, None);
        let why = todo[1].skip.as_deref().unwrap_or_default();
        assert!(why.contains("loopback claims 0.2.0, 0.3.1"), "{why}");
        assert_eq!(todo[2].version, Version::V0_3_1);
        assert_eq!(todo[2].skip, None);
        // --only still narrows the selection.
        assert_eq!(select(&cases, &opts(&["check/*"], None), &c).len(), 2);
    }

    /// A missing binary fails the case even when the version choice would
    /// skip it.
    #[test]
    fn missing_binary_beats_a_planned_skip() {
        let c = claims(&[("loopback", Claim::Missing)]);
        let cases = registry();
        let o = opts(&["check/loopback/x"], Some(Version::V0_3_1));
        let todo = select(&cases, &o, &c);
        assert!(todo[0].skip.is_some());
        let out = run_case(&todo[0], Path::new("/nonexistent"), &c);
        assert_eq!(out.status, Status::Fail);
        assert_eq!(out.reason, "binary missing: loopback");
    }
}
