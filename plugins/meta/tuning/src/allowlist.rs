//! The node's sysctl allowlist (reference v1.2.0+): when
//! `/etc/cni/tuning/allowlist.conf` exists, every sysctl a config asks for
//! must match one of its lines.
//!
//! Each non-blank line, trimmed, is a regular expression (Go's RE2 syntax
//! in the reference; the `regex` crate implements the same syntax) matched
//! *unanchored* against the key as written, before dots become slashes and
//! before `IFNAME` is replaced. A missing file allows everything; a file
//! that exists but cannot be read, or holds an invalid expression, fails
//! the call rather than allow everything.
//!
//! The path is fixed, as in the reference: it is the node operator's
//! control over what a network config may change, so no config key or
//! environment variable can point it elsewhere. Tests give a plugin
//! another file by running it in a private mount namespace with an
//! overlay on `/etc` (tests/allowlist.rs).

use std::io;
use std::path::Path;

use libcni::Error;
use regex::Regex;

use crate::code;

/// Where the node operator keeps the allowlist.
pub const PATH: &str = "/etc/cni/tuning/allowlist.conf";

/// The compiled allowlist.
#[derive(Debug, Clone)]
pub struct Allowlist {
    patterns: Vec<Regex>,
}

impl Allowlist {
    /// Compile the text of an allowlist file read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Allowlist, Error> {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                Regex::new(l).map_err(|e| {
                    Error::plugin(
                        code::ALLOWLIST,
                        format!(
                            "sysctl allowlist {}: line {l:?} is not a valid regular expression: {e}",
                            path.display()
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Allowlist { patterns })
    }

    /// Code 7 naming the first key that matches no line, and the lines.
    pub fn check<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
        for key in keys {
            if !self.patterns.iter().any(|p| p.is_match(key)) {
                let list: Vec<&str> = self.patterns.iter().map(Regex::as_str).collect();
                return Err(Error::invalid_config(format!(
                    "Sysctl {key} is not allowed. Only the following sysctls are allowed: {list:?} \
                     (the node's allowlist {PATH}); remove the key or ask the node operator to allow it"
                )));
            }
        }
        Ok(())
    }
}

/// The node's allowlist, or None when there is none.
pub fn load() -> Result<Option<Allowlist>, Error> {
    load_from(Path::new(PATH))
}

fn load_from(path: &Path) -> Result<Option<Allowlist>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Allowlist::parse(&text, path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::plugin(
            code::ALLOWLIST,
            format!(
                "sysctl allowlist {} exists but cannot be read: {e}",
                path.display()
            ),
        )),
    }
}

/// Check the sysctl keys of a config against the node's allowlist; a
/// config without sysctls does not read it.
pub fn check_keys<'a>(keys: impl ExactSizeIterator<Item = &'a str>) -> Result<(), Error> {
    if keys.len() == 0 {
        return Ok(());
    }
    match load()? {
        Some(list) => list.check(keys),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unanchored_match_on_the_raw_key() {
        let a = Allowlist::parse(
            "^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]+$\n\n   somaxconn  \n",
            Path::new("x"),
        )
        .unwrap();
        a.check(["net.ipv4.conf.IFNAME.arp_notify"]).unwrap();
        // Unanchored: "somaxconn" matches anywhere in the key.
        a.check(["net.core.somaxconn", "net/core/somaxconn"])
            .unwrap();
        // The raw key is matched, not the path it becomes.
        let e = a.check(["net/ipv4/conf/IFNAME/arp_notify"]).unwrap_err();
        assert_eq!(e.code, libcni::spec::error::code::INVALID_NETWORK_CONFIG);
        assert!(
            e.msg
                .starts_with("Sysctl net/ipv4/conf/IFNAME/arp_notify is not allowed"),
            "{}",
            e.msg
        );
        assert!(e.msg.contains("somaxconn"), "{}", e.msg);
    }

    #[test]
    fn an_empty_file_allows_nothing() {
        let a = Allowlist::parse("\n  \n", Path::new("x")).unwrap();
        assert!(a.check(["net.core.somaxconn"]).is_err());
        a.check([]).unwrap();
    }

    #[test]
    fn invalid_expressions_and_unreadable_files_fail() {
        let e = Allowlist::parse("net.(", Path::new("/a/b")).unwrap_err();
        assert_eq!(e.code, code::ALLOWLIST);
        assert!(
            e.msg.contains("/a/b") && e.msg.contains("net.("),
            "{}",
            e.msg
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(load_from(&dir.path().join("missing")).unwrap().is_none());
        // A directory cannot be read as a file.
        let e = load_from(dir.path()).unwrap_err();
        assert_eq!(e.code, code::ALLOWLIST);
        std::fs::write(dir.path().join("a"), "^net\\.core\\.").unwrap();
        let a = load_from(&dir.path().join("a")).unwrap().unwrap();
        a.check(["net.core.x"]).unwrap();
    }
}
