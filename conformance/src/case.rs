//! The case registry: what a case is, and how names are selected.
//!
//! A case is a named check of one spec-level property. It runs against the
//! plugins of one directory inside its own fake host netns ([`crate::Ctx`])
//! and either passes, fails with a one-line reason, or is skipped because a
//! plugin's VERSION reply does not claim the spec version the case needs.

use std::fmt;
use std::sync::Arc;

use libcni::Version;

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
    /// The run's version (`--spec-version`, by default the newest version
    /// every plugin claims), provided it is at least `min`.
    Run {
        /// The oldest version the property exists in.
        min: Version,
    },
}

impl SpecNeed {
    /// The version the case runs at in a run at `run_version`; `None` when
    /// the case does not apply to that version (not selected).
    pub fn resolve(self, run_version: Version) -> Option<Version> {
        match self {
            SpecNeed::Fixed(v) => Some(v),
            SpecNeed::Run { min } if run_version >= min => Some(run_version),
            SpecNeed::Run { .. } => None,
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
        let fixed = SpecNeed::Fixed(Version::V1_1_0);
        assert_eq!(fixed.resolve(Version::V0_4_0), Some(Version::V1_1_0));
        let run = SpecNeed::Run {
            min: Version::V0_4_0,
        };
        assert_eq!(run.resolve(Version::V1_0_0), Some(Version::V1_0_0));
        assert_eq!(run.resolve(Version::V0_3_1), None);
        assert_eq!(run.to_string(), ">=0.4.0");
    }
}
