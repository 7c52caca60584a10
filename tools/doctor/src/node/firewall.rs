//! The firewall state: `nft -j list ruleset` once, and the iptables rules
//! of each variant and family with one `*-save` each, parsed with the
//! netfilter crate's reader of save output.
//!
//! iptables-legacy (x_tables) and iptables-nft (nf_tables) are separate
//! rule sets in the kernel: both are consulted at every hook, a packet has
//! to get through both, and neither tool shows the other's rules. So both
//! are read. A save is skipped when the kernel says there is nothing to
//! list: x_tables registers a legacy table in a namespace only once it is
//! used there (`/proc/net/ip_tables_names` is then non-empty), and
//! iptables-nft's tables are nf_tables tables (`ip filter`, `ip6 nat`...)
//! that the nft listing shows.

use netfilter::Family;
use netfilter::iptables::save::{self, Dump};
use serde_json::Value;

use super::Unread;
use super::tools::Tools;

/// An iptables variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// iptables-nft: rules in nf_tables tables.
    Nft,
    /// iptables-legacy: rules in x_tables.
    Legacy,
}

impl Variant {
    /// Both, nft first.
    pub const ALL: [Variant; 2] = [Variant::Nft, Variant::Legacy];

    /// The command of a family (`iptables-nft`, `ip6tables-legacy`...).
    pub fn command(self, family: Family) -> &'static str {
        match (self, family) {
            (Variant::Nft, Family::V4) => "iptables-nft",
            (Variant::Nft, Family::V6) => "ip6tables-nft",
            (Variant::Legacy, Family::V4) => "iptables-legacy",
            (Variant::Legacy, Family::V6) => "ip6tables-legacy",
        }
    }

    /// The save command of a family.
    pub fn save_command(self, family: Family) -> String {
        format!("{}-save", self.command(family))
    }

    /// `iptables-nft` / `iptables-legacy`.
    pub fn label(self) -> &'static str {
        self.command(Family::V4)
    }
}

/// The label of a family.
pub fn family_label(family: Family) -> &'static str {
    match family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

/// The rules of one variant and family.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Which variant.
    pub variant: Variant,
    /// Which family.
    pub family: Family,
    /// Its tables (empty when there are none).
    pub dump: Result<Dump, Unread>,
}

impl Listing {
    /// The dump, empty when it could not be read.
    pub fn rules(&self) -> Option<&Dump> {
        self.dump.as_ref().ok()
    }
}

fn nft_items(tools: &Tools, what: &str, args: &[&str]) -> Result<Vec<Value>, Unread> {
    let text = tools.output(what, "nft", args)?;
    if text.trim().is_empty() {
        return Ok(vec![]);
    }
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Unread::new(what, format!("nft printed no JSON: {e}")))?;
    match v.get("nftables") {
        Some(Value::Array(items)) => Ok(items.clone()),
        _ => Err(Unread::new(what, "nft printed no \"nftables\" array")),
    }
}

/// The nftables tables whose rules the checks read: the masquerade and
/// host-port tables of the plugins, and any table with a forward base
/// chain that drops by default.
fn wanted(chain: &Value) -> bool {
    let (Some(family), Some(table)) = (chain["family"].as_str(), chain["table"].as_str()) else {
        return false;
    };
    table == netfilter::ipmasq::NFT_TABLE
        || table == HOSTPORT_TABLE
        || (chain["hook"] == "forward" && chain["policy"] == "drop" && !is_xt_table(family, table))
}

/// portmap's nftables table (both families).
pub const HOSTPORT_TABLE: &str = "cni_hostport";

/// The nftables state, as the items of `nft -j` listings: every chain
/// (`nft -j list chains`, which carries hooks and policies but no rules),
/// then the rules of the tables [`wanted`] by a check, one `nft -j list
/// table` each. Listing the whole ruleset would also make nft translate
/// every iptables-nft rule, which on a node with 1,000 pods costs more than
/// everything else the doctor does (about 270 ms of the 300 ms of `nft -j
/// list ruleset` there).
pub fn nft_ruleset(tools: &Tools) -> Result<Vec<Value>, Unread> {
    const WHAT: &str = "the nftables ruleset";
    let mut items = nft_items(tools, WHAT, &["-j", "list", "chains"])?;
    let mut tables: Vec<(String, String)> = vec![];
    for c in items
        .iter()
        .filter_map(|i| i.get("chain"))
        .filter(|c| wanted(c))
    {
        let key = (
            c["family"].as_str().unwrap_or_default().to_string(),
            c["table"].as_str().unwrap_or_default().to_string(),
        );
        if !tables.contains(&key) {
            tables.push(key);
        }
    }
    for (family, table) in &tables {
        let listed = nft_items(tools, WHAT, &["-j", "list", "table", family, table])?;
        items.extend(listed.into_iter().filter(|i| i.get("rule").is_some()));
    }
    Ok(items)
}

/// The iptables table names iptables-nft makes.
const XT_TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];

/// Whether an nft table is one of iptables-nft's (`ip filter`, `ip6 nat`...).
pub fn is_xt_table(family: &str, name: &str) -> bool {
    matches!(family, "ip" | "ip6") && XT_TABLES.contains(&name)
}

fn nft_family(family: Family) -> &'static str {
    match family {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

/// Whether the legacy tables of a family are in use in this namespace.
fn legacy_in_use(family: Family) -> bool {
    let file = match family {
        Family::V4 => "ip_tables_names",
        Family::V6 => "ip6_tables_names",
    };
    std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))
        .is_ok_and(|names| !names.trim().is_empty())
}

/// Every variant and family.
pub fn listings(tools: &Tools, nft: &Result<Vec<Value>, Unread>) -> Vec<Listing> {
    let mut out = vec![];
    for variant in Variant::ALL {
        for family in Family::ALL {
            let needed = match variant {
                Variant::Legacy => legacy_in_use(family),
                // Without the nft listing, ask iptables-nft itself.
                Variant::Nft => nft.as_ref().map_or(true, |items| {
                    items.iter().filter_map(|i| i.get("chain")).any(|c| {
                        c["family"] == nft_family(family)
                            && c["table"].as_str().is_some_and(|n| XT_TABLES.contains(&n))
                    })
                }),
            };
            let dump = if needed {
                read(tools, variant, family)
            } else {
                Ok(Dump::default())
            };
            out.push(Listing {
                variant,
                family,
                dump,
            });
        }
    }
    out
}

fn read(tools: &Tools, variant: Variant, family: Family) -> Result<Dump, Unread> {
    let what = format!("the {} rules ({})", variant.label(), family_label(family));
    let tool = variant.save_command(family);
    let text = tools.output(&what, &tool, &[])?;
    save::parse(&text).map_err(|e| Unread::new(what, format!("{tool} output: {e}")))
}

/// Rules (`-A`) and non-ACCEPT policies of built-in chains in a dump.
pub fn rule_count(dump: &Dump) -> usize {
    dump.rules.len()
        + dump
            .chains
            .iter()
            .filter(|c| c.policy.as_deref().is_some_and(|p| p != "ACCEPT"))
            .count()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn xt_tables_are_recognised() {
        assert!(is_xt_table("ip", "filter"));
        assert!(is_xt_table("ip6", "nat"));
        assert!(!is_xt_table("inet", "filter"));
        assert!(!is_xt_table("ip", "cni_hostport"));
    }

    #[test]
    fn counts_rules_and_drop_policies() {
        let d = save::parse(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n",
        )
        .unwrap();
        assert_eq!(rule_count(&d), 2);
        assert_eq!(rule_count(&Dump::default()), 0);
    }

    #[test]
    fn nft_listing_decides_whether_iptables_nft_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let tools = Tools::new(&[dir.path().to_path_buf()]);
        let none: Result<Vec<Value>, Unread> = Ok(vec![]);
        let l = listings(&tools, &none);
        let nft: Vec<_> = l.iter().filter(|l| l.variant == Variant::Nft).collect();
        assert!(
            nft.iter()
                .all(|l| l.dump.as_ref().unwrap().rules.is_empty())
        );
        let with_filter: Result<Vec<Value>, Unread> = Ok(vec![
            serde_json::json!({"chain": {"family": "ip", "table": "filter", "name": "FORWARD"}}),
        ]);
        let l = listings(&tools, &with_filter);
        let v4 = l
            .iter()
            .find(|l| l.variant == Variant::Nft && l.family == Family::V4)
            .unwrap();
        let e = v4.dump.as_ref().unwrap_err();
        assert!(
            e.why.contains("iptables-nft-save is not installed"),
            "{e:?}"
        );
    }
}
