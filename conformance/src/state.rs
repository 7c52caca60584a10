//! Snapshots of the fake host's state, to prove that DEL is complete, that
//! GC touches only stale attachments and that a rejected input created
//! nothing: take a snapshot, act, take another, and compare.
//!
//! The comparison is implementation-neutral: whatever chains, tables or
//! store files a plugin uses, the state after ADD X + DEL X must equal the
//! state before ADD X (once shared top-level state exists, which a
//! neighbour attachment ensures).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use cni_sandbox::Netns;

use crate::ctx::Ctx;

/// The host netns state that attachments change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Host link names.
    pub links: Vec<String>,
    /// Global host addresses as "dev addr/prefix".
    pub addrs: Vec<String>,
    /// Host routes (main and other tables; local/broadcast/link-local left
    /// out), normalised.
    pub routes: Vec<String>,
    /// Firewall state: `iptables-save`, `ip6tables-save` and `nft list
    /// ruleset` lines without counters and comments, sorted.
    pub firewall: Vec<String>,
    /// IPAM store records: files under the dataDir whose name is an IP
    /// address, with their contents (path relative to the dataDir).
    pub store: BTreeMap<String, String>,
}

const SEP: &str = "@@cni-conformance@@";

/// Remove `counter packets N bytes M` (nft) so that traffic does not
/// change a snapshot.
fn strip_nft_counters(line: &str) -> String {
    let mut out = Vec::new();
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if (w == "packets" || w == "bytes") && words.peek().is_some() {
            words.next();
            continue;
        }
        out.push(w);
    }
    out.join(" ")
}

/// Built-in chains of the iptables tables (also the base chains that
/// iptables-nft creates).
const BUILTIN_CHAINS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// Lines that only declare structure which holds no rule: a table header,
/// a built-in chain with policy ACCEPT, an nft base chain's hook line. A
/// plugin may create an empty table on its first touch (the reference's
/// DEL creates the ip6tables nat table); that is not state left behind.
fn is_empty_structure(l: &str) -> bool {
    if l.starts_with('*')
        || l.starts_with("table ")
        || (l.starts_with("type ") && l.contains(" hook "))
    {
        return true;
    }
    if let Some(rest) = l.strip_prefix(':') {
        return BUILTIN_CHAINS.iter().any(|c| rest == format!("{c} ACCEPT"));
    }
    if let Some(rest) = l.strip_prefix("chain ") {
        return BUILTIN_CHAINS.iter().any(|c| rest == format!("{c} {{"));
    }
    false
}

fn firewall_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != "}" && *l != "COMMIT")
        .map(|l| match l.find(" [") {
            // iptables-save ":CHAIN POLICY [p:b]" -> ":CHAIN POLICY"
            Some(i) if l.starts_with(':') => l[..i].to_string(),
            _ => strip_nft_counters(l),
        })
        .filter(|l| !is_empty_structure(l))
        .collect();
    out.sort();
    out
}

/// Store records under `dir`: files named by an IP address.
pub fn store_records(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if e.file_name().to_string_lossy().parse::<IpAddr>().is_ok() {
                let rel = p
                    .strip_prefix(base)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Every path under `dir` (relative), to prove a rejected input wrote
/// nowhere (e.g. a path-like network name escaping the dataDir).
pub fn file_tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(
                p.strip_prefix(base)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned(),
            );
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

impl Snapshot {
    /// Read the fake host's state (one shell, so it stays cheap).
    pub fn take(ctx: &Ctx) -> Snapshot {
        let script = format!(
            "ip -o link show; echo {SEP}; ip -o addr show scope global; echo {SEP}; \
             ip -4 route show table all; ip -6 route show table all; echo {SEP}; \
             iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; nft list ruleset 2>/dev/null"
        );
        let (_, out, _) = ctx.host().sh(&script);
        let mut parts = out.split(SEP);
        let mut next = || parts.next().unwrap_or_default().to_string();
        let (links, addrs, routes, fw) = (next(), next(), next(), next());
        let mut links: Vec<String> = links
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect();
        links.sort();
        let mut addrs: Vec<String> = addrs
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some(format!("{} {}", f.get(1)?, f.get(3)?))
            })
            .collect();
        addrs.sort();
        let mut routes: Vec<String> = routes
            .lines()
            .filter(|l| {
                !(l.starts_with("local ")
                    || l.starts_with("broadcast ")
                    || l.starts_with("multicast ")
                    || l.starts_with("fe80:")
                    || l.starts_with("ff00:")
                    || l.contains("table local"))
            })
            .map(|l| {
                l.split_whitespace()
                    .filter(|w| *w != "linkdown")
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        routes.sort();
        Snapshot {
            links,
            addrs,
            routes,
            firewall: firewall_lines(&fw),
            store: store_records(&ctx.data_dir),
        }
    }

    /// Every difference from `self` (before) to `after`, as "+ what" and
    /// "- what" lines.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut d = Vec::new();
        list_diff("link", &self.links, &after.links, &mut d);
        list_diff("address", &self.addrs, &after.addrs, &mut d);
        list_diff("route", &self.routes, &after.routes, &mut d);
        d.extend(self.diff_firewall_store(after));
        d
    }

    /// Differences in firewall state and store records only (GC leaves
    /// interfaces alone: it is not a DEL).
    pub fn diff_firewall_store(&self, after: &Snapshot) -> Vec<String> {
        let mut d = Vec::new();
        list_diff("rule", &self.firewall, &after.firewall, &mut d);
        for (k, v) in &after.store {
            match self.store.get(k) {
                None => d.push(format!("+ store record {k}")),
                Some(old) if old != v => d.push(format!("~ store record {k} changed")),
                Some(_) => {}
            }
        }
        for k in self.store.keys() {
            if !after.store.contains_key(k) {
                d.push(format!("- store record {k}"));
            }
        }
        d
    }

    /// `Ok` when nothing changed from `self` to `after`; else a reason
    /// listing the first differences, prefixed by `what`.
    pub fn expect_same(&self, after: &Snapshot, what: &str) -> Result<(), String> {
        summarize(what, self.diff(after))
    }
}

/// Turn a list of differences into a failure reason (first few shown).
pub fn summarize(what: &str, diff: Vec<String>) -> Result<(), String> {
    if diff.is_empty() {
        return Ok(());
    }
    let n = diff.len();
    let shown: Vec<String> = diff.into_iter().take(6).collect();
    let more = if n > 6 {
        format!(" (+{} more)", n - 6)
    } else {
        String::new()
    };
    Err(format!("{what}: {}{more}", shown.join("; ")))
}

/// Multiset difference of two sorted lists.
fn list_diff(kind: &str, before: &[String], after: &[String], out: &mut Vec<String>) {
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                out.push(format!("- {kind} {a}"));
                i += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                out.push(format!("+ {kind} {b}"));
                j += 1;
            }
            (Some(a), None) => {
                out.push(format!("- {kind} {a}"));
                i += 1;
            }
            (None, None) => break,
        }
    }
}

/// The pod netns holds nothing but `lo`.
pub fn pod_is_empty(pod: &Netns) -> Result<(), String> {
    let names = pod.link_names();
    if names.iter().all(|n| n == "lo") {
        Ok(())
    } else {
        Err(format!("the pod netns still has links {names:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firewall_normalisation_drops_counters_and_comments() {
        let text = "# Generated by iptables-save\n*nat\n:POSTROUTING ACCEPT [3:180]\n:CNI-x - [0:0]\n\
                    -A POSTROUTING -s 10.0.0.2/32 -j CNI-x\nCOMMIT\n\
                    table ip t {\n chain c {\n  ip saddr 10.0.0.2 counter packets 5 bytes 300 masquerade\n }\n}\n";
        let l = firewall_lines(text);
        assert!(!l.contains(&":POSTROUTING ACCEPT".to_string()), "{l:?}");
        assert!(!l.contains(&"*nat".to_string()), "{l:?}");
        assert!(
            l.contains(&"-A POSTROUTING -s 10.0.0.2/32 -j CNI-x".to_string()),
            "{l:?}"
        );
        assert!(
            l.contains(&"ip saddr 10.0.0.2 counter masquerade".to_string()),
            "{l:?}"
        );
        assert!(l.contains(&":CNI-x -".to_string()), "{l:?}");
        assert!(
            !l.iter()
                .any(|x| x.starts_with('#') || x == "COMMIT" || x == "}")
        );
    }

    #[test]
    fn diff_reports_added_and_removed() {
        let a = Snapshot {
            firewall: vec!["a".into(), "b".into(), "b".into()],
            ..Default::default()
        };
        let mut b = a.clone();
        b.firewall = vec!["b".into(), "c".into()];
        b.store.insert("net/10.0.0.2".into(), "id".into());
        let d = a.diff(&b);
        assert_eq!(
            d,
            [
                "- rule a",
                "- rule b",
                "+ rule c",
                "+ store record net/10.0.0.2"
            ]
        );
        assert!(a.expect_same(&a, "x").is_ok());
        let e = a.expect_same(&b, "left behind").unwrap_err();
        assert!(e.starts_with("left behind: - rule a"), "{e}");
    }
}
