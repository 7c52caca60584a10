//! `CNI_ARGS`: the legacy `K=V;K=V` argument string (SPEC.md "Parameters",
//! cni:pkg/types/args.go).
//!
//! Each plugin knows a few keys (`IP` for host-local, `MAC` for bridge);
//! any other key is an error unless `IgnoreUnknown` is true somewhere in the
//! string, which every container runtime sends because it adds its own
//! `K8S_POD_*` keys. Keys are matched case-insensitively: the reference
//! wants `IP` but its own docs say `ip`, and both are in use.

use super::error::Error;

/// A parsed `CNI_ARGS` string, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    pairs: Vec<(String, String)>,
}

impl CniArgs {
    /// Parse `K=V;K=V`. Empty segments (a trailing `;`) are skipped; a
    /// value may contain `=` (everything after the first `=` is the value);
    /// a segment without `=` or with an empty key is an error (code 4).
    pub fn parse(raw: &str) -> Result<CniArgs, Error> {
        let mut pairs = Vec::new();
        for seg in raw.split(';') {
            if seg.is_empty() {
                continue;
            }
            match seg.split_once('=') {
                Some((k, v)) if !k.is_empty() => pairs.push((k.to_string(), v.to_string())),
                _ => {
                    return Err(Error::invalid_env(format!(
                        "CNI_ARGS: invalid pair {seg:?}: expected KEY=VALUE separated by ';'"
                    )));
                }
            }
        }
        Ok(CniArgs { pairs })
    }

    /// All pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The value of `key` (case-insensitive); the last occurrence wins, as
    /// when the reference assigns a struct field twice. An empty value
    /// (`IP=`) is `Some("")`, and as the last occurrence it overrides an
    /// earlier one, like the reference's decoding of an empty value.
    ///
    /// The reference decodes every occurrence, so an invalid earlier value
    /// is an error even when a later one is valid: a plugin that validates
    /// a key's value checks each one of [`CniArgs::get_all`].
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_all(key).last()
    }

    /// Every value of `key` (case-insensitive), in the order given.
    pub fn get_all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `IgnoreUnknown` is set to `1` or `true` (any case). As in
    /// the reference, which decodes each occurrence into one field, every
    /// occurrence must be a boolean (else code 4) and the last one wins.
    pub fn ignore_unknown(&self) -> Result<bool, Error> {
        let mut ignore = false;
        for v in self.get_all("IgnoreUnknown") {
            ignore = parse_bool(v).ok_or_else(|| {
                Error::invalid_env(format!(
                    "CNI_ARGS: IgnoreUnknown={v:?} is not a boolean (use 1, 0, true or false)"
                ))
            })?;
        }
        Ok(ignore)
    }

    /// Reject keys outside `known` (plus `IgnoreUnknown`) unless
    /// `IgnoreUnknown` is true. Code 4, naming the unknown keys.
    pub fn check_known(&self, known: &[&str]) -> Result<(), Error> {
        let ignore = self.ignore_unknown()?;
        if ignore {
            return Ok(());
        }
        let unknown: Vec<&str> = self
            .pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| {
                !k.eq_ignore_ascii_case("IgnoreUnknown")
                    && !known.iter().any(|n| n.eq_ignore_ascii_case(k))
            })
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_env(format!(
                "CNI_ARGS: unknown keys {unknown:?} (this plugin knows {known:?}); add IgnoreUnknown=1 to pass extra keys"
            )))
        }
    }
}

/// Boolean text as the reference accepts it in CNI_ARGS: 1/0/true/false in
/// any case.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_string_has_no_pairs() {
        let a = CniArgs::parse("").unwrap();
        assert!(a.is_empty());
        a.check_known(&[]).unwrap();
    }

    #[test]
    fn trailing_separator_is_fine() {
        let a = CniArgs::parse("IP=10.0.0.2;").unwrap();
        assert_eq!(a.pairs().len(), 1);
        assert_eq!(a.get("ip"), Some("10.0.0.2"));
    }

    #[test]
    fn equals_sign_inside_value() {
        let a = CniArgs::parse("K=a=b;X=").unwrap();
        assert_eq!(a.get("K"), Some("a=b"));
        assert_eq!(a.get("X"), Some(""));
    }

    #[test]
    fn missing_equals_is_code_4() {
        let e = CniArgs::parse("IP=1.2.3.4;garbage").unwrap_err();
        assert_eq!(e.code, 4);
        assert!(e.msg.contains("garbage"), "{}", e.msg);
        assert_eq!(CniArgs::parse("=v").unwrap_err().code, 4);
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let a = CniArgs::parse("MAC=aa;mac=bb").unwrap();
        assert_eq!(a.get("MAC"), Some("bb"));
    }

    #[test]
    fn unknown_keys_rejected_without_ignore() {
        let a = CniArgs::parse("K8S_POD_NAME=x;IP=1.2.3.4").unwrap();
        let e = a.check_known(&["IP"]).unwrap_err();
        assert_eq!(e.code, 4);
        assert!(e.msg.contains("K8S_POD_NAME"), "{}", e.msg);
    }

    #[test]
    fn ignore_unknown_anywhere_in_the_string() {
        for s in [
            "IgnoreUnknown=1;K8S_POD_NAME=x",
            "K8S_POD_NAME=x;IgnoreUnknown=true",
            "K8S_POD_NAME=x;ignoreunknown=TRUE;K8S_POD_UID=u",
        ] {
            CniArgs::parse(s).unwrap().check_known(&["IP"]).unwrap();
        }
    }

    #[test]
    fn ignore_unknown_false_still_rejects() {
        let a = CniArgs::parse("IgnoreUnknown=0;FOO=1").unwrap();
        assert_eq!(a.check_known(&[]).unwrap_err().code, 4);
        let a = CniArgs::parse("IgnoreUnknown=maybe").unwrap();
        assert_eq!(a.check_known(&[]).unwrap_err().code, 4);
    }

    // Repeated keys, empty values and keys without '=' behave as in the
    // reference parser (cni:pkg/types/args.go `LoadArgs`): it decodes each
    // pair into the struct field in order, so the last occurrence wins and
    // any occurrence that does not decode is an error.

    #[test]
    fn repeated_ignore_unknown_last_wins() {
        let e = CniArgs::parse("IgnoreUnknown=1;IgnoreUnknown=0;FOO=x")
            .unwrap()
            .check_known(&["IP"])
            .unwrap_err();
        assert_eq!(e.code, 4);
        assert!(e.msg.contains("FOO"), "{}", e.msg);
        CniArgs::parse("IgnoreUnknown=0;ignoreunknown=true;FOO=x")
            .unwrap()
            .check_known(&["IP"])
            .unwrap();
    }

    #[test]
    fn every_ignore_unknown_must_be_a_boolean() {
        // A later valid value does not excuse an earlier invalid one, nor
        // the other way round.
        for s in [
            "IgnoreUnknown=maybe;IgnoreUnknown=1;FOO=x",
            "IgnoreUnknown=1;IgnoreUnknown=maybe;FOO=x",
            "IgnoreUnknown=;IgnoreUnknown=1",
        ] {
            let a = CniArgs::parse(s).unwrap();
            let e = a.ignore_unknown().unwrap_err();
            assert_eq!(e.code, 4, "{s}");
            assert!(e.msg.contains("IgnoreUnknown="), "{s}: {}", e.msg);
            assert_eq!(a.check_known(&["FOO"]).unwrap_err().code, 4, "{s}");
        }
    }

    #[test]
    fn repeated_ip_last_wins_and_all_are_kept() {
        let a = CniArgs::parse("IP=10.0.0.5;K8S_POD_NAME=p;ip=10.0.0.6").unwrap();
        assert_eq!(a.get("IP"), Some("10.0.0.6"));
        assert_eq!(
            a.get_all("IP").collect::<Vec<_>>(),
            ["10.0.0.5", "10.0.0.6"]
        );
        assert_eq!(a.get_all("MAC").count(), 0);
    }

    #[test]
    fn empty_value_is_present_and_overrides() {
        let a = CniArgs::parse("IP=").unwrap();
        assert_eq!(a.pairs(), [("IP".to_string(), String::new())]);
        assert_eq!(a.get("IP"), Some(""));
        a.check_known(&["IP"]).unwrap();
        let a = CniArgs::parse("IP=10.0.0.5;IP=").unwrap();
        assert_eq!(a.get("IP"), Some(""));
    }

    #[test]
    fn key_without_equals_is_code_4_even_with_ignore_unknown() {
        for s in ["IP", "IgnoreUnknown=1;IP", "IP;IgnoreUnknown=1"] {
            let e = CniArgs::parse(s).unwrap_err();
            assert_eq!(e.code, 4, "{s}");
            assert!(e.msg.contains("\"IP\""), "{s}: {}", e.msg);
        }
    }

    #[test]
    fn known_keys_case_insensitive() {
        CniArgs::parse("ip=10.1.1.1")
            .unwrap()
            .check_known(&["IP"])
            .unwrap();
    }
}
