//! The nftables driver: commands are built with the `nftables` crate's
//! typed JSON schema and applied as one transaction with `nft -j -f -`
//! (absolute path); state is read with `nft -j list chain ...`, or, where
//! only handles and comments are needed, over nfnetlink without an exec.
//!
//! Limitation of nft 1.0.6 (Debian 12): its JSON parser ignores `comment`
//! on tables and chains (rule comments work), and the crate has no field
//! for them either, so the cosmetic table/chain comments the reference
//! writes through nft's text syntax are not set.

pub mod build;

use std::borrow::Cow;

use nftables::batch::Batch;
use nftables::schema::{NfCmd, NfListObject, Rule};
use nftables::types::NfFamily;
use serde::Deserialize;

use super::error::FirewallError;
use super::probe::{Presence, Prober, RuleList};
use super::tools::{self, Tool};
use super::types::{Family, TableFamily};

/// The family keyword nft uses on its command line.
pub(crate) fn family_name(f: NfFamily) -> &'static str {
    match f {
        NfFamily::IP => "ip",
        NfFamily::IP6 => "ip6",
        NfFamily::INet => "inet",
        NfFamily::ARP => "arp",
        NfFamily::Bridge => "bridge",
        NfFamily::NetDev => "netdev",
    }
}

/// The table family of an nft family, for probes.
pub(crate) fn proto(f: NfFamily) -> Option<TableFamily> {
    match f {
        NfFamily::IP => Some(TableFamily::Ip(Family::V4)),
        NfFamily::IP6 => Some(TableFamily::Ip(Family::V6)),
        NfFamily::INet => Some(TableFamily::Inet),
        NfFamily::Bridge => Some(TableFamily::Bridge),
        _ => None,
    }
}

/// The nft table family of an IP family (`ip` / `ip6`).
pub fn nf_family(family: Family) -> NfFamily {
    match family {
        Family::V4 => NfFamily::IP,
        Family::V6 => NfFamily::IP6,
    }
}

/// The JSON text of a batch (what [`apply`] feeds to nft).
pub fn to_json(batch: &Batch<'_>) -> Result<String, FirewallError> {
    serde_json::to_string(&batch.clone().to_nftables()).map_err(|e| FirewallError::Parse {
        tool: "nftables JSON encoder".into(),
        detail: e.to_string(),
    })
}

/// Apply `batch` as one transaction: one exec of `nft -j -f -`. An empty
/// batch runs nothing.
pub fn apply(batch: &Batch<'_>) -> Result<(), FirewallError> {
    let json = to_json(batch)?;
    if json == r#"{"nftables":[]}"# {
        return Ok(());
    }
    let out = tools::run(Tool::Nft, &["-j", "-f", "-"], Some(&json))?;
    if out.success {
        Ok(())
    } else {
        Err(out.error(None))
    }
}

/// A rule read back from `nft -j list`: where it is, its handle and its
/// comment; the expression is kept as raw JSON (only inspected, never
/// re-sent), so rules the crate's schema does not know cannot break a read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ListedRule {
    /// Table family.
    pub family: NfFamily,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// Rule handle (what a delete names).
    pub handle: u32,
    /// Rule comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// The statements, as nft printed them.
    #[serde(default)]
    pub expr: serde_json::Value,
}

#[derive(Deserialize)]
struct Listing {
    nftables: Vec<serde_json::Value>,
}

/// Parse the output of `nft -j list ...` into its rules.
pub(crate) fn parse_rules(json: &str) -> Result<Vec<ListedRule>, FirewallError> {
    let err = |detail: String| FirewallError::Parse {
        tool: "nft".into(),
        detail,
    };
    let listing: Listing = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
    let mut rules = vec![];
    for obj in listing.nftables {
        if let Some(rule) = obj.get("rule") {
            rules.push(ListedRule::deserialize(rule).map_err(|e| err(e.to_string()))?);
        }
    }
    Ok(rules)
}

/// `nft -j list chain family table chain`: the chain's rules, or `None`
/// when the table or chain does not exist.
pub fn list_chain(
    family: NfFamily,
    table: &str,
    chain: &str,
) -> Result<Option<Vec<ListedRule>>, FirewallError> {
    let out = tools::run(
        Tool::Nft,
        &["-j", "list", "chain", family_name(family), table, chain],
        None,
    )?;
    if !out.success {
        if out.stderr.contains("No such file or directory") {
            return Ok(None);
        }
        return Err(out.error(None));
    }
    parse_rules(&out.stdout).map(Some)
}

/// The rules of a chain (handle and comment; `expr` is left `Null`), read
/// over nfnetlink without an exec ([`Prober::rules`]); falls back to
/// [`list_chain`] when the kernel cannot be asked. `None` when the chain
/// does not exist or nft is not installed.
pub fn list_chain_fast(
    family: NfFamily,
    table: &str,
    chain: &str,
) -> Result<Option<Vec<ListedRule>>, FirewallError> {
    list_chain_with(Prober::open().as_mut(), family, table, chain)
}

/// [`list_chain_fast`] with the caller's prober (`None`: no nfnetlink).
pub fn list_chain_with(
    prober: Option<&mut Prober>,
    family: NfFamily,
    table: &str,
    chain: &str,
) -> Result<Option<Vec<ListedRule>>, FirewallError> {
    if let (Some(p), Some(prober)) = (proto(family), prober) {
        match prober.rules(p, table, chain) {
            RuleList::Absent => return Ok(None),
            RuleList::Rules(infos) => {
                let converted: Option<Vec<ListedRule>> = infos
                    .into_iter()
                    .map(|i| {
                        Some(ListedRule {
                            family,
                            table: table.to_string(),
                            chain: chain.to_string(),
                            handle: u32::try_from(i.handle).ok()?,
                            comment: i.comment,
                            expr: serde_json::Value::Null,
                        })
                    })
                    .collect();
                if let Some(rules) = converted {
                    return Ok(Some(rules));
                }
            }
            RuleList::Unknown => {}
        }
    }
    if tools::find(Tool::Nft).is_none() {
        return Ok(None);
    }
    list_chain(family, table, chain)
}

/// Add a `delete rule ... handle N` command for `rule` to `batch`.
pub fn delete_rule(batch: &mut Batch<'_>, rule: &ListedRule) {
    batch.add_cmd(NfCmd::Delete(NfListObject::Rule(Rule {
        family: rule.family,
        table: Cow::Owned(rule.table.clone()),
        chain: Cow::Owned(rule.chain.clone()),
        expr: Cow::Owned(vec![]),
        handle: Some(rule.handle),
        index: None,
        comment: None,
    })));
}

/// Whether nftables can be used: `nft` is installed and the kernel answers
/// nf_tables requests (the reference runs `nft --check`; a probe costs no
/// exec).
pub(crate) fn usable() -> bool {
    tools::find(Tool::Nft).is_some()
        && Prober::open().is_some_and(|mut p| {
            p.table(TableFamily::Inet, "cni_probe_nonexistent") != Presence::Unknown
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listing() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
          {"chain": {"family": "inet", "table": "t", "name": "masq_checks", "handle": 1}},
          {"rule": {"family": "inet", "table": "t", "chain": "masq_checks", "handle": 6, "comment": "abc, net: n",
            "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.99.0.2"}}, {"masquerade": null}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "masq_checks", "handle": 7, "expr": [{"xt": null}]}}]}"#;
        let rules = parse_rules(json).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].handle, 6);
        assert_eq!(rules[0].comment.as_deref(), Some("abc, net: n"));
        assert_eq!(rules[0].family, NfFamily::INet);
        assert_eq!(rules[1].comment, None);
        assert!(parse_rules("not json").is_err());
    }

    #[test]
    fn delete_by_handle_json() {
        let r = ListedRule {
            family: NfFamily::INet,
            table: "t".into(),
            chain: "c".into(),
            handle: 9,
            comment: None,
            expr: serde_json::Value::Null,
        };
        let mut b = Batch::new();
        delete_rule(&mut b, &r);
        assert_eq!(
            to_json(&b).unwrap(),
            r#"{"nftables":[{"delete":{"rule":{"family":"inet","table":"t","chain":"c","expr":[],"handle":9}}}]}"#
        );
    }
}
