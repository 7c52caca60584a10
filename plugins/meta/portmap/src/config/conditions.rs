//! `conditionsV4` / `conditionsV6`: extra matches on the entry rules,
//! parsed into typed values so nothing from the config is pasted into a
//! rule (ARCHITECTURE.md principle 7).
//!
//! The reference passes the strings through verbatim: as iptables
//! arguments on the per-container entry rules, or as nft rule text in front
//! of the `prerouting`/`output` jumps. Which syntax a list uses is decided
//! like the reference decides it: the first token starting with `-` or `!`
//! means iptables, anything else nftables. We accept the matches people
//! use these lists for (restricting by address or interface) and reject
//! everything else with a message listing what is supported:
//!
//! - iptables: `[!] -s|--source|--src ADDR[/LEN]`, `[!] -d|--destination|--dst ADDR[/LEN]`,
//!   `[!] -i|--in-interface NAME`, `[!] -o|--out-interface NAME`, each at
//!   most once (as iptables itself requires);
//! - nftables: `ip|ip6 saddr|daddr [==|!=] ADDR[/LEN]`,
//!   `iifname|oifname [==|!=] NAME`.
//!
//! Words may be given one per array element (as the reference requires for
//! iptables) or several in one element.

use ipnet::IpNet;
use libcni::Error;
use netfilter::{Family, IfName};

/// The syntax a condition list is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// iptables match arguments.
    Iptables,
    /// nft rule text.
    Nftables,
}

impl Syntax {
    /// The backend name of this syntax, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Syntax::Iptables => "iptables",
            Syntax::Nftables => "nftables",
        }
    }
}

/// What one condition matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Source address or prefix.
    Source(IpNet),
    /// Destination address or prefix.
    Destination(IpNet),
    /// Input interface name.
    InIface(IfName),
    /// Output interface name.
    OutIface(IfName),
}

/// One condition: a match, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The match.
    pub what: Match,
    /// `!` / `!=`.
    pub negate: bool,
}

/// A parsed condition list; `syntax` is `None` when the list is absent or
/// empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The syntax it was written in.
    pub syntax: Option<Syntax>,
    /// The conditions, in order.
    pub items: Vec<Condition>,
}

impl Conditions {
    /// True when there is nothing to match.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

const IPT_HELP: &str = "supported iptables conditions: [!] -s/--source ADDR[/LEN], [!] -d/--destination ADDR[/LEN], [!] -i/--in-interface NAME, [!] -o/--out-interface NAME";
const NFT_HELP: &str = "supported nftables conditions: ip|ip6 saddr|daddr [==|!=] ADDR[/LEN], iifname|oifname [==|!=] NAME";

/// Parse `key` (conditionsV4 / conditionsV6) for `family`.
pub fn parse(key: &str, family: Family, raw: &[String]) -> Result<Conditions, Error> {
    let words: Vec<&str> = raw.iter().flat_map(|s| s.split_whitespace()).collect();
    let Some(first) = words.first() else {
        return Ok(Conditions::default());
    };
    let syntax = if first.starts_with('-') || first.starts_with('!') {
        Syntax::Iptables
    } else {
        Syntax::Nftables
    };
    let p = Parser { key, family, words };
    let items = match syntax {
        Syntax::Iptables => p.iptables()?,
        Syntax::Nftables => p.nftables()?,
    };
    Ok(Conditions {
        syntax: Some(syntax),
        items,
    })
}

struct Parser<'a> {
    key: &'a str,
    family: Family,
    words: Vec<&'a str>,
}

impl Parser<'_> {
    fn err(&self, problem: String, help: &str) -> Error {
        Error::invalid_config(format!("{} {:?}: {problem}; {help}", self.key, self.words))
    }

    fn net(&self, value: &str, help: &str) -> Result<IpNet, Error> {
        let net = value
            .parse::<IpNet>()
            .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| self.err(format!("{value:?} is not an address or prefix"), help))?;
        if Family::of_net(&net) != self.family {
            return Err(self.err(
                format!(
                    "{value} is not an {} address; {} conditions apply to {} traffic only",
                    self.family.label(),
                    self.key,
                    self.family.label()
                ),
                help,
            ));
        }
        Ok(net)
    }

    fn ifname(&self, value: &str, help: &str) -> Result<IfName, Error> {
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        IfName::new(unquoted).map_err(|e| self.err(e.to_string(), help))
    }

    fn iptables(&self) -> Result<Vec<Condition>, Error> {
        let mut out: Vec<Condition> = vec![];
        let mut it = self.words.iter().copied();
        while let Some(mut word) = it.next() {
            let negate = word == "!";
            if negate {
                word = it
                    .next()
                    .ok_or_else(|| self.err("'!' at the end".into(), IPT_HELP))?;
            }
            let value = it
                .next()
                .ok_or_else(|| self.err(format!("{word} needs a value"), IPT_HELP))?;
            let what = match word {
                "-s" | "--source" | "--src" => Match::Source(self.net(value, IPT_HELP)?),
                "-d" | "--destination" | "--dst" => Match::Destination(self.net(value, IPT_HELP)?),
                "-i" | "--in-interface" => Match::InIface(self.ifname(value, IPT_HELP)?),
                "-o" | "--out-interface" => Match::OutIface(self.ifname(value, IPT_HELP)?),
                other => {
                    return Err(self.err(format!("{other:?} is not supported"), IPT_HELP));
                }
            };
            if out
                .iter()
                .any(|c| std::mem::discriminant(&c.what) == std::mem::discriminant(&what))
            {
                return Err(self.err(format!("{word} is given twice"), IPT_HELP));
            }
            out.push(Condition { what, negate });
        }
        Ok(out)
    }

    fn nftables(&self) -> Result<Vec<Condition>, Error> {
        let mut out = vec![];
        let mut i = 0;
        let w = &self.words;
        let word = |i: usize| -> Result<&str, Error> {
            w.get(i)
                .copied()
                .ok_or_else(|| self.err("the condition is incomplete".into(), NFT_HELP))
        };
        while i < w.len() {
            let head = w[i];
            let (field, family_word) = match head {
                "ip" | "ip6" => {
                    i += 1;
                    (word(i)?, Some(head))
                }
                "iifname" | "oifname" => (head, None),
                other => {
                    return Err(self.err(format!("{other:?} is not supported"), NFT_HELP));
                }
            };
            if let Some(fw) = family_word {
                let want = match self.family {
                    Family::V4 => "ip",
                    Family::V6 => "ip6",
                };
                if fw != want {
                    return Err(self.err(
                        format!(
                            "{fw} matches do not apply to {} traffic",
                            self.family.label()
                        ),
                        NFT_HELP,
                    ));
                }
            }
            i += 1;
            let mut negate = false;
            match word(i)? {
                "==" => i += 1,
                "!=" => {
                    negate = true;
                    i += 1;
                }
                _ => {}
            }
            let value = word(i)?;
            i += 1;
            let what = match (family_word.is_some(), field) {
                (true, "saddr") => Match::Source(self.net(value, NFT_HELP)?),
                (true, "daddr") => Match::Destination(self.net(value, NFT_HELP)?),
                (false, "iifname") => Match::InIface(self.ifname(value, NFT_HELP)?),
                (false, "oifname") => Match::OutIface(self.ifname(value, NFT_HELP)?),
                (_, other) => {
                    return Err(self.err(format!("{other:?} is not supported"), NFT_HELP));
                }
            };
            out.push(Condition { what, negate });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(family: Family, words: &[&str]) -> Result<Conditions, Error> {
        let raw: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        parse("conditionsV4", family, &raw)
    }

    #[test]
    fn iptables_matches() {
        let c = p(
            Family::V4,
            &["!", "-s", "10.0.0.0/8", "-d 192.168.1.5", "-i", "eth0"],
        )
        .unwrap();
        assert_eq!(c.syntax, Some(Syntax::Iptables));
        assert_eq!(c.items.len(), 3);
        assert!(c.items[0].negate);
        assert_eq!(
            c.items[0].what,
            Match::Source("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            c.items[1].what,
            Match::Destination("192.168.1.5/32".parse().unwrap())
        );
        assert!(matches!(&c.items[2].what, Match::InIface(n) if n.as_str() == "eth0"));
    }

    #[test]
    fn nft_matches() {
        let c = p(
            Family::V6,
            &[
                "ip6 saddr != fd00::/8",
                "iifname",
                "\"eth0\"",
                "ip6",
                "daddr",
                "fd01::1",
            ],
        )
        .unwrap();
        assert_eq!(c.syntax, Some(Syntax::Nftables));
        assert_eq!(c.items.len(), 3);
        assert!(c.items[0].negate);
        assert!(matches!(&c.items[1].what, Match::InIface(n) if n.as_str() == "eth0"));
        assert_eq!(
            c.items[2].what,
            Match::Destination("fd01::1/128".parse().unwrap())
        );
    }

    #[test]
    fn empty_is_no_conditions() {
        let c = p(Family::V4, &[]).unwrap();
        assert!(c.is_empty());
        assert_eq!(c.syntax, None);
        assert!(p(Family::V4, &["", "  "]).unwrap().is_empty());
    }

    #[test]
    fn rejects_what_it_cannot_type() {
        for (family, words) in [
            (Family::V4, vec!["-j", "ACCEPT"]),
            (Family::V4, vec!["-m", "comment", "--comment", "x"]),
            (Family::V4, vec!["-s", "10.0.0.1", "-s", "10.0.0.2"]),
            (Family::V4, vec!["-s"]),
            (Family::V4, vec!["-s", "fd00::1"]),
            (Family::V4, vec!["-s", "10.0.0.1; rm -rf /"]),
            (Family::V4, vec!["-i", "a\"b"]),
            (Family::V4, vec!["!"]),
            (Family::V4, vec!["ip6", "saddr", "fd00::1"]),
            (Family::V4, vec!["ip", "saddr"]),
            (Family::V4, vec!["ip", "protocol", "tcp"]),
            (Family::V4, vec!["counter"]),
            (Family::V4, vec!["meta", "mark", "1"]),
            (Family::V6, vec!["ip", "saddr", "10.0.0.1"]),
        ] {
            let e = p(family, &words).unwrap_err();
            assert_eq!(e.code, 7, "{words:?}");
            assert!(e.msg.contains("conditionsV4"), "{}", e.msg);
            assert!(e.msg.contains("supported"), "{}", e.msg);
        }
    }
}
