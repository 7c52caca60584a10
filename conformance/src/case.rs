//! The case registry: what a case is, and how names are selected.
//!
//! A case is a named check of one spec-level property. It runs against the
//! plugins of one directory inside its own fake host netns ([`crate::Ctx`])
//! and either passes, fails with a one-line reason, or is skipped because a
//! plugin's VERSION reply does not claim the spec version the case needs.

use std::fmt;
use std::sync::Arc;

use libcni::Version;
use libcni::spec::ALL_VERSIONS;

use crate::ctx::Ctx;

/// What a case returns: `Err` carries the reason it failed.
pub type CaseResult = Result<(), String>;

/// The body of a case.
pub type CaseFn = Arc<dyn Fn(&Ctx) -> CaseResult + Send + Sync>;

/// The spec version a case runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecNeed {
    /// Always this version (per-version cases, 1.1.0-only verbs).
    Fixed(Version),
    /// A version of the run's choosing, at least `min`: `--spec-version`
    /// when given, else the newest version that every plugin the case runs
    /// claims.
    Run {
        /// The oldest version the property exists in.
        min: Version,
    },
}

/// What one plugin's VERSION reply claims: its name and the versions of
/// its `supportedVersions`.
pub type Claimed<'a> = (&'a str, &'a [String]);

impl SpecNeed {
    /// The oldest version the case can run at.
    pub fn min(self) -> Version {
        match self {
            SpecNeed::Fixed(v) | SpecNeed::Run { min: v } => v,
        }
    }

    /// The version the case runs at, or why it cannot run (the skip
    /// reason). `forced` is `--spec-version`; `claims` are the readable
    /// VERSION replies of the plugins the case runs (a plugin whose reply
    /// could not be read constrains nothing). A fixed case always gets its
    /// version: whether its plugins claim it is checked when it runs.
    pub fn resolve(
        self,
        forced: Option<Version>,
        claims: &[Claimed<'_>],
    ) -> Result<Version, String> {
        let min = match self {
            SpecNeed::Fixed(v) => return Ok(v),
            SpecNeed::Run { min } => min,
        };
        if let Some(v) = forced {
            return if v >= min {
                Ok(v)
            } else {
                Err(format!(
                    "excluded by --spec-version {v}: the case needs spec {min} or newer"
                ))
            };
        }
        if claims.is_empty() {
            // No plugin answered VERSION readably: run at 1.0.0 (what the
            // suite assumes of an unknown plugin), or the case's minimum.
            return Ok(min.max(Version::V1_0_0));
        }
        let claimed_by_all = |v: &Version| {
            claims
                .iter()
                .all(|(_, list)| list.iter().any(|s| s == v.as_str()))
        };
        if let Some(v) = ALL_VERSIONS
            .iter()
            .rev()
            .copied()
            .filter(|v| *v >= min)
            .find(claimed_by_all)
        {
            return Ok(v);
        }
        let describe = |(p, list): &Claimed<'_>| format!("{p} claims {}", list.join(", "));
        let short: Vec<String> = claims
            .iter()
            .filter(|(_, list)| {
                !list
                    .iter()
                    .any(|s| Version::parse(s).is_some_and(|v| v >= min))
            })
            .map(describe)
            .collect();
        if short.is_empty() {
            Err(format!(
                "no spec version {min} or newer is claimed by all of its plugins ({})",
                claims.iter().map(describe).collect::<Vec<_>>().join("; ")
            ))
        } else {
            Err(format!(
                "the case needs spec {min} or newer, but {} (VERSION reply)",
                short.join("; ")
            ))
        }
    }
}

impl fmt::Display for SpecNeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecNeed::Fixed(v) => write!(f, "{v}"),
            SpecNeed::Run { min } => write!(f, ">={min}"),
        }
    }
}

/// One conformance case.
#[derive(Clone)]
pub struct Case {
    /// Unique name, `area/plugin/what` (see the README for the areas).
    pub name: String,
    /// The spec version the case needs.
    pub spec: SpecNeed,
    /// The plugin binaries it executes (checked to exist, and whose VERSION
    /// replies decide a skip).
    pub plugins: Vec<&'static str>,
    /// The body.
    pub run: CaseFn,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .field("plugins", &self.plugins)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// A case with a body.
    pub fn new(
        name: impl Into<String>,
        spec: SpecNeed,
        plugins: &[&'static str],
        run: impl Fn(&Ctx) -> CaseResult + Send + Sync + 'static,
    ) -> Case {
        Case {
            name: name.into(),
            spec,
            plugins: plugins.to_vec(),
            run: Arc::new(run),
        }
    }
}

/// Match `name` against a selection pattern. A pattern with `*` is a glob
/// (`*` matches any run of characters, `/` included) that must match the
/// whole name; a pattern without `*` matches any name containing it.
pub fn matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return name.contains(pattern);
    }
    glob(pattern.as_bytes(), name.as_bytes())
}

/// Whole-string glob match with `*` as the only metacharacter.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Classic two-pointer wildcard match with backtracking to the last '*'.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether `name` is selected by a comma-separated list of patterns (an
/// empty list selects everything).
pub fn selected(patterns: &[String], name: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| matches(p, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_whole_names() {
        assert!(glob(b"del/*", b"del/bridge/twice"));
        assert!(glob(b"*/1.1.0", b"result/bridge/1.1.0"));
        assert!(!glob(b"*/1.1.0", b"result/bridge/1.1.0x"));
        assert!(glob(b"a*b*c", b"aXXbYYc"));
        assert!(!glob(b"a*b*c", b"aXXbYY"));
        assert!(glob(b"*", b""));
        assert!(glob(b"exact", b"exact"));
        assert!(!glob(b"exact", b"exactly"));
    }

    #[test]
    fn substring_without_star() {
        assert!(matches("bridge", "env/bridge/missing-ifname"));
        assert!(!matches("portmap", "env/bridge/missing-ifname"));
    }

    #[test]
    fn empty_selection_selects_all() {
        assert!(selected(&[], "anything"));
        let p = vec!["version/".to_string(), "del/*".to_string()];
        assert!(selected(&p, "version/bridge/reply-shape"));
        assert!(selected(&p, "del/bridge/twice"));
        assert!(!selected(&p, "env/bridge/x"));
    }

    #[test]
    fn spec_need_resolution() {
        let all: Vec<String> = ALL_VERSIONS.iter().map(|v| v.to_string()).collect();
        let old: Vec<String> = ["0.1.0", "0.2.0", "0.3.0", "0.3.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let upto_1_0: Vec<String> = all[..6].to_vec();
        let fixed = SpecNeed::Fixed(Version::V1_1_0);
        assert_eq!(
            fixed.resolve(Some(Version::V0_4_0), &[("bridge", &old)]),
            Ok(Version::V1_1_0)
        );
        let run = SpecNeed::Run {
            min: Version::V0_4_0,
        };
        assert_eq!(run.to_string(), ">=0.4.0");
        assert_eq!(run.min(), Version::V0_4_0);
        // --spec-version wins when it is new enough, and excludes with a
        // reason naming it when it is not.
        assert_eq!(
            run.resolve(Some(Version::V1_0_0), &[("bridge", &all)]),
            Ok(Version::V1_0_0)
        );
        let why = run
            .resolve(Some(Version::V0_3_1), &[("bridge", &all)])
            .unwrap_err();
        assert!(why.contains("--spec-version 0.3.1"), "{why}");
        assert!(why.contains("0.4.0"), "{why}");
        // By default: the newest version every plugin of the case claims.
        assert_eq!(
            run.resolve(None, &[("bridge", &all), ("host-local", &upto_1_0)]),
            Ok(Version::V1_0_0)
        );
        // A plugin that claims nothing new enough: skip, naming it.
        let why = run
            .resolve(None, &[("bridge", &all), ("loopback", &old)])
            .unwrap_err();
        assert!(
            why.contains("loopback claims 0.1.0, 0.2.0, 0.3.0, 0.3.1"),
            "{why}"
        );
        assert!(!why.contains("bridge"), "{why}");
        // Each claims something new enough, but nothing in common.
        let only_1_0 = vec!["1.0.0".to_string()];
        let only_0_4 = vec!["0.4.0".to_string()];
        let why = run
            .resolve(None, &[("bridge", &only_1_0), ("host-local", &only_0_4)])
            .unwrap_err();
        assert!(why.contains("claimed by all"), "{why}");
        // Nobody answered: 1.0.0.
        assert_eq!(run.resolve(None, &[]), Ok(Version::V1_0_0));
    }
}
