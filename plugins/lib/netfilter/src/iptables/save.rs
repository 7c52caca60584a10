//! Reading `iptables-save` and `iptables -S` output: which chains exist and
//! which rules there are, with enough structure to find a rule's target,
//! comment and addresses.

use std::net::IpAddr;

use ipnet::IpNet;

use super::syntax::split;

/// One chain seen in a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedChain {
    /// Table (`*nat` section), `None` for `-S` output.
    pub table: Option<String>,
    /// Chain name.
    pub name: String,
    /// Policy of a built-in chain (`ACCEPT`...), `None` for user chains.
    pub policy: Option<String>,
}

/// One rule (`-A CHAIN words...`) seen in a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRule {
    /// Table (`*nat` section), `None` for `-S` output.
    pub table: Option<String>,
    /// The chain it is in.
    pub chain: String,
    /// The words after `-A CHAIN`, unquoted.
    pub words: Vec<String>,
}

/// A parsed dump.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dump {
    /// Chains in the order listed.
    pub chains: Vec<SavedChain>,
    /// Rules in the order listed (which is their order in each chain).
    pub rules: Vec<SavedRule>,
}

impl Dump {
    /// Whether a chain of that name was listed.
    pub fn has_chain(&self, name: &str) -> bool {
        self.chains.iter().any(|c| c.name == name)
    }

    /// The rules of one chain, in order.
    pub fn rules_in<'a>(&'a self, chain: &'a str) -> impl Iterator<Item = &'a SavedRule> + 'a {
        self.rules.iter().filter(move |r| r.chain == chain)
    }

    /// Every rule, in any chain, that jumps or goes to `chain`.
    pub fn rules_jumping_to<'a>(
        &'a self,
        chain: &'a str,
    ) -> impl Iterator<Item = &'a SavedRule> + 'a {
        self.rules.iter().filter(move |r| r.target() == Some(chain))
    }
}

impl SavedRule {
    /// The word following the first occurrence of `flag`.
    pub fn value(&self, flag: &str) -> Option<&str> {
        let i = self.words.iter().position(|w| w == flag)?;
        self.words.get(i + 1).map(String::as_str)
    }

    /// The `-j` (or `-g`) target.
    pub fn target(&self) -> Option<&str> {
        self.value("-j").or_else(|| self.value("-g"))
    }

    /// The `--comment` text.
    pub fn comment(&self) -> Option<&str> {
        self.value("--comment")
    }

    /// The words with every address after `-s`/`-d` written canonically
    /// (network address, explicit prefix length), so rules can be compared
    /// whatever form a tool printed them in.
    pub fn normalized(&self) -> Vec<String> {
        normalize(&self.words)
    }
}

/// See [`SavedRule::normalized`].
pub fn normalize(words: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut after_addr_flag = false;
    for w in words {
        if after_addr_flag {
            out.push(canonical_net(w).unwrap_or_else(|| w.clone()));
        } else {
            out.push(w.clone());
        }
        after_addr_flag = matches!(w.as_str(), "-s" | "-d" | "--source" | "--destination");
    }
    out
}

fn canonical_net(w: &str) -> Option<String> {
    if let Ok(net) = w.parse::<IpNet>() {
        return Some(net.trunc().to_string());
    }
    w.parse::<IpAddr>()
        .ok()
        .map(|ip| IpNet::from(ip).to_string())
}

/// Parse `iptables-save` or `iptables -S` text. Unknown line kinds and
/// unbalanced quotes are errors: a dump we do not understand must not be
/// acted on.
pub fn parse(text: &str) -> Result<Dump, String> {
    let mut dump = Dump::default();
    let mut table: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') || line == "COMMIT" {
            continue;
        }
        if let Some(t) = line.strip_prefix('*') {
            table = Some(t.to_string());
            continue;
        }
        let words = split(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let bad = || format!("line {}: unexpected {line:?}", n + 1);
        if let Some(name) = line.strip_prefix(':') {
            // ":NAME POLICY [p:b]"
            let mut parts = name.split_whitespace();
            let name = parts.next().ok_or_else(bad)?;
            let policy = parts.next().filter(|p| *p != "-").map(str::to_string);
            dump.chains.push(SavedChain {
                table: table.clone(),
                name: name.to_string(),
                policy,
            });
            continue;
        }
        match words.first().map(String::as_str) {
            Some("-P") if words.len() == 3 => dump.chains.push(SavedChain {
                table: table.clone(),
                name: words[1].clone(),
                policy: Some(words[2].clone()),
            }),
            Some("-N") if words.len() == 2 => dump.chains.push(SavedChain {
                table: table.clone(),
                name: words[1].clone(),
                policy: None,
            }),
            Some("-A") if words.len() >= 2 => dump.rules.push(SavedRule {
                table: table.clone(),
                chain: words[1].clone(),
                words: words[2..].to_vec(),
            }),
            _ => return Err(bad()),
        }
    }
    Ok(dump)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `iptables-save -t nat` after /usr/lib/cni/bridge 1.1.1 ADD (network
    /// "n", container "abc", 10.99.0.2/24, ipMasq).
    const SAVE: &str = r#"# Generated by iptables-save v1.8.9 (nf_tables) on Mon Nov 23 11:52:07 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-5a1527d2fe74c1a342e29c75 - [0:0]
-A POSTROUTING -s 10.99.0.2/32 -m comment --comment "name: \"n\" id: \"abc\"" -j CNI-5a1527d2fe74c1a342e29c75
-A CNI-5a1527d2fe74c1a342e29c75 -d 10.99.0.0/24 -m comment --comment "name: \"n\" id: \"abc\"" -j ACCEPT
-A CNI-5a1527d2fe74c1a342e29c75 ! -d 224.0.0.0/4 -m comment --comment "name: \"n\" id: \"abc\"" -j MASQUERADE
COMMIT
# Completed on Mon Nov 23 11:52:07 2026
"#;

    /// The same state as `iptables -t nat -S`.
    const DASH_S: &str = r#"-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N CNI-5a1527d2fe74c1a342e29c75
-A POSTROUTING -s 10.99.0.2/32 -m comment --comment "name: \"n\" id: \"abc\"" -j CNI-5a1527d2fe74c1a342e29c75
-A CNI-5a1527d2fe74c1a342e29c75 -d 10.99.0.0/24 -m comment --comment "name: \"n\" id: \"abc\"" -j ACCEPT
-A CNI-5a1527d2fe74c1a342e29c75 ! -d 224.0.0.0/4 -m comment --comment "name: \"n\" id: \"abc\"" -j MASQUERADE
"#;

    #[test]
    fn parses_both_formats_alike() {
        let a = parse(SAVE).unwrap();
        let b = parse(DASH_S).unwrap();
        assert_eq!(a.chains.len(), 5);
        assert_eq!(a.chains[0].table.as_deref(), Some("nat"));
        assert_eq!(a.chains[0].policy.as_deref(), Some("ACCEPT"));
        assert_eq!(a.chains[4].policy, None);
        let names = |d: &Dump| d.chains.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        let mut na = names(&a);
        let mut nb = names(&b);
        na.sort();
        nb.sort();
        assert_eq!(na, nb);
        let words = |d: &Dump| d.rules.iter().map(|r| r.words.clone()).collect::<Vec<_>>();
        assert_eq!(words(&a), words(&b));
    }

    #[test]
    fn finds_jumps_and_comments() {
        let d = parse(DASH_S).unwrap();
        let chain = "CNI-5a1527d2fe74c1a342e29c75";
        assert!(d.has_chain(chain));
        let j: Vec<_> = d.rules_jumping_to(chain).collect();
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].chain, "POSTROUTING");
        assert_eq!(j[0].comment(), Some(r#"name: "n" id: "abc""#));
        assert_eq!(j[0].value("-s"), Some("10.99.0.2/32"));
        let inner: Vec<_> = d.rules_in(chain).collect();
        assert_eq!(inner.len(), 2);
        assert_eq!(inner[1].target(), Some("MASQUERADE"));
        assert_eq!(inner[1].words[0], "!");
    }

    #[test]
    fn normalizes_addresses() {
        let w: Vec<String> = ["-s", "10.0.0.2", "-d", "10.0.0.9/24", "!", "-d", "fd00::1"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            normalize(&w),
            [
                "-s",
                "10.0.0.2/32",
                "-d",
                "10.0.0.0/24",
                "!",
                "-d",
                "fd00::1/128"
            ]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("-Z FOO\n").is_err());
        assert!(parse("-A X --comment \"open\n").is_err());
        assert!(parse("").unwrap().rules.is_empty());
    }
}
