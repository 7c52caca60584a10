//! CNI specification versions and what each one allows.
//!
//! The spec has seven released versions (SPEC.md "Version"); a plugin
//! advertises the ones it speaks in its VERSION reply, and a runtime picks the
//! one to use from `cniVersion` (or the newest supported entry of
//! `cniVersions`, spec 1.1.0).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One released CNI spec version. Ordered oldest to newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// 0.1.0: ADD and DEL only.
    V0_1_0,
    /// 0.2.0: adds VERSION.
    V0_2_0,
    /// 0.3.0: the rich result (interfaces, ips, routes) and chaining.
    V0_3_0,
    /// 0.3.1: typo fix of 0.3.0, same wire format.
    V0_3_1,
    /// 0.4.0: CHECK and prevResult on DEL.
    V0_4_0,
    /// 1.0.0: removes `ips[].version` and single-plugin configs.
    V1_0_0,
    /// 1.1.0: GC, STATUS, `cniVersions` and the extra interface/route fields.
    V1_1_0,
}

/// Every version, oldest first: what our plugins put in `supportedVersions`.
pub const ALL_VERSIONS: [Version; 7] = [
    Version::V0_1_0,
    Version::V0_2_0,
    Version::V0_3_0,
    Version::V0_3_1,
    Version::V0_4_0,
    Version::V1_0_0,
    Version::V1_1_0,
];

/// The wire format family a version's result uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    /// 0.1.0 and 0.2.0: `ip4`/`ip6` objects.
    V02,
    /// 0.3.0, 0.3.1 and 0.4.0: `interfaces`/`ips` with `version`.
    V04,
    /// 1.0.0 and 1.1.0.
    V1,
}

impl Version {
    /// The newest version we implement.
    pub const LATEST: Version = Version::V1_1_0;

    /// The version a config without `cniVersion` is read as (spec: absent
    /// means 0.1.0, which is also what the reference's decoder assumes).
    pub const DEFAULT: Version = Version::V0_1_0;

    /// The version string exactly as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1_0 => "0.1.0",
            Version::V0_2_0 => "0.2.0",
            Version::V0_3_0 => "0.3.0",
            Version::V0_3_1 => "0.3.1",
            Version::V0_4_0 => "0.4.0",
            Version::V1_0_0 => "1.0.0",
            Version::V1_1_0 => "1.1.0",
        }
    }

    /// Which result wire format this version uses.
    pub fn result_format(self) -> ResultFormat {
        match self {
            Version::V0_1_0 | Version::V0_2_0 => ResultFormat::V02,
            Version::V0_3_0 | Version::V0_3_1 | Version::V0_4_0 => ResultFormat::V04,
            Version::V1_0_0 | Version::V1_1_0 => ResultFormat::V1,
        }
    }

    /// CHECK exists from 0.4.0 on.
    pub fn has_check(self) -> bool {
        self >= Version::V0_4_0
    }

    /// GC and STATUS exist from 1.1.0 on.
    pub fn has_gc_status(self) -> bool {
        self >= Version::V1_1_0
    }

    /// VERSION exists from 0.2.0 on.
    pub fn has_version(self) -> bool {
        self >= Version::V0_2_0
    }

    /// Chaining (`prevResult`, conf lists) exists from 0.3.0 on.
    pub fn has_chaining(self) -> bool {
        self >= Version::V0_3_0
    }

    /// The result carries more than one address per family from 0.3.0 on.
    pub fn allows_multiple_ips(self) -> bool {
        self >= Version::V0_3_0
    }

    /// Parse a version string; `None` for anything that is not one of the
    /// seven released versions.
    pub fn parse(s: &str) -> Option<Version> {
        ALL_VERSIONS.iter().copied().find(|v| v.as_str() == s)
    }

    /// From a 1.1.0 `cniVersions` list, the newest entry we support
    /// (libcni: "the highest version that is <= the library's own").
    /// Unknown or malformed entries are ignored.
    pub fn pick_from<'a>(candidates: impl IntoIterator<Item = &'a str>) -> Option<Version> {
        candidates.into_iter().filter_map(Version::parse).max()
    }
}

/// Compare two dotted version strings numerically ("0.10.0" > "0.4.0").
/// Used for versions we may not know (a newer plugin's VERSION reply).
/// Returns `None` when either side is not `major.minor.patch` numbers.
pub fn compare_version_strings(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    fn parts(s: &str) -> Option<[u64; 3]> {
        let mut it = s.split('.');
        let mut out = [0u64; 3];
        for slot in &mut out {
            *slot = it.next()?.parse().ok()?;
        }
        if it.next().is_some() {
            return None;
        }
        Some(out)
    }
    Some(parts(a)?.cmp(&parts(b)?))
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`Version::from_str`]: names the rejected string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported CNI version {0:?} (supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)"
)]
pub struct UnknownVersion(pub String);

impl FromStr for Version {
    type Err = UnknownVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s).ok_or_else(|| UnknownVersion(s.to_string()))
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for v in ALL_VERSIONS {
            assert_eq!(Version::parse(v.as_str()), Some(v));
            assert_eq!(v.to_string(), v.as_str());
        }
        assert_eq!(Version::parse("1.2.0"), None);
        assert_eq!(Version::parse(""), None);
        assert_eq!(Version::parse("1.0"), None);
    }

    #[test]
    fn order_is_chronological() {
        let mut sorted = ALL_VERSIONS;
        sorted.sort();
        assert_eq!(sorted, ALL_VERSIONS);
        assert!(Version::V0_3_1 > Version::V0_3_0);
    }

    #[test]
    fn verb_gates() {
        assert!(!Version::V0_3_1.has_check());
        assert!(Version::V0_4_0.has_check());
        assert!(!Version::V1_0_0.has_gc_status());
        assert!(Version::V1_1_0.has_gc_status());
        assert!(!Version::V0_1_0.has_version());
        assert!(Version::V0_2_0.has_version());
    }

    #[test]
    fn pick_highest_supported() {
        assert_eq!(
            Version::pick_from(["0.4.0", "1.0.0", "9.9.9", "junk"]),
            Some(Version::V1_0_0)
        );
        assert_eq!(Version::pick_from(["2.0.0"]), None);
        assert_eq!(Version::pick_from([]), None);
    }

    #[test]
    fn numeric_comparison() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_version_strings("0.10.0", "0.4.0"), Some(Greater));
        assert_eq!(compare_version_strings("1.0.0", "1.0.0"), Some(Equal));
        assert_eq!(compare_version_strings("1.0", "1.0.0"), None);
        assert_eq!(compare_version_strings("1.0.0.0", "1.0.0"), None);
    }
}
