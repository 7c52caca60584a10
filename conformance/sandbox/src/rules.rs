//! Listing the firewall state of a namespace, as the user-space tools show
//! it: the iptables nat table (`iptables-save`) and the nftables ruleset
//! (`nft -j list ruleset`). Tests compare these listings before and after
//! a plugin call, so they are read with the tools an administrator would
//! use, not with the code under test (ARCHITECTURE.md principle 5: DEL
//! must leave nothing behind, which only an independent listing shows).

use serde_json::Value;

use crate::Netns;

/// `iptables-save` (or `ip6tables-save` with `v6`) of the nat table of
/// `ns`, with comment lines and counters removed so that dumps compare
/// equal. Empty when the tool fails (no nat table loaded yet).
pub fn iptables_nat(ns: &Netns, v6: bool) -> Vec<String> {
    iptables_table(ns, "nat", v6)
}

/// [`iptables_nat`] for any table (`filter`, `mangle`...).
pub fn iptables_table(ns: &Netns, table: &str, v6: bool) -> Vec<String> {
    let tool = if v6 {
        "ip6tables-save"
    } else {
        "iptables-save"
    };
    let (_, out, _) = ns.sh(&format!("{tool} -t {table} 2>/dev/null"));
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            // ":CHAIN POLICY [p:b]" -> ":CHAIN POLICY"
            match l.find(" [") {
                Some(i) if l.starts_with(':') => l[..i].to_string(),
                _ => l.to_string(),
            }
        })
        .collect()
}

/// The nftables ruleset of `ns` as JSON (`nft -j list ruleset`); Null when
/// nft fails.
pub fn nft_ruleset(ns: &Netns) -> Value {
    let (_, out, _) = ns.sh("nft -j list ruleset 2>/dev/null");
    serde_json::from_str(&out).unwrap_or(Value::Null)
}

/// The objects of the ruleset (`metainfo`, `table`, `chain`, `rule`, ...),
/// each still wrapped in its one-key object, in nft's order.
pub fn nft_items(ns: &Netns) -> Vec<Value> {
    match nft_ruleset(ns).get_mut("nftables").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => vec![],
    }
}

/// Every rule of the ruleset (the inner objects of the `rule` items: they
/// carry `family`, `table`, `chain`, `handle`, `expr` and `comment`).
pub fn nft_all_rules(ns: &Netns) -> Vec<Value> {
    nft_items(ns)
        .into_iter()
        .filter_map(|mut item| item.get_mut("rule").map(Value::take))
        .collect()
}

/// The rules of chain `chain` of table `table`, in any family.
pub fn nft_rules(ns: &Netns, table: &str, chain: &str) -> Vec<Value> {
    nft_all_rules(ns)
        .into_iter()
        .filter(|r| r["table"] == table && r["chain"] == chain)
        .collect()
}

/// The rules of chain `chain` of table `family table` (`ip`, `ip6`,
/// `inet`, ...).
pub fn nft_family_rules(ns: &Netns, family: &str, table: &str, chain: &str) -> Vec<Value> {
    nft_rules(ns, table, chain)
        .into_iter()
        .filter(|r| r["family"] == family)
        .collect()
}
