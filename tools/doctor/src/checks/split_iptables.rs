//! Finding 4: rules in both iptables-legacy and iptables-nft. The kernel
//! runs both rule sets (x_tables and nf_tables register at the same
//! netfilter hooks), a packet must get through both, and each tool shows
//! only its own: a DROP one of them holds is invisible to whoever
//! debugs with the other, and kube-proxy, the plugins and the runtime may
//! each write to a different one.

use std::collections::BTreeSet;

use netfilter::Family;

use crate::finding::{Finding, Severity};
use crate::node::Node;
use crate::node::firewall::{Listing, Variant, family_label, rule_count};

fn count(node: &Node, v: Variant) -> usize {
    node.iptables
        .iter()
        .filter(|l| l.variant == v)
        .filter_map(Listing::rules)
        .map(rule_count)
        .sum()
}

/// The commands that save and then clear one variant's rules, per family
/// and table that has any.
fn clear(node: &Node, v: Variant) -> Vec<String> {
    let mut cmds = vec![];
    for l in node.iptables.iter().filter(|l| l.variant == v) {
        let Some(dump) = l.rules() else { continue };
        if rule_count(dump) == 0 {
            continue;
        }
        let suffix = match l.family {
            Family::V4 => "v4",
            Family::V6 => "v6",
        };
        cmds.push(format!(
            "{} > {}-{suffix}.rules",
            v.save_command(l.family),
            v.label()
        ));
        let tool = v.command(l.family);
        let tables: BTreeSet<&str> = dump
            .chains
            .iter()
            .filter_map(|c| c.table.as_deref())
            .collect();
        for t in tables {
            let busy = dump.rules.iter().any(|r| r.table.as_deref() == Some(t))
                || dump.chains.iter().any(|c| {
                    c.table.as_deref() == Some(t)
                        && (c.policy.is_none() || c.policy.as_deref() != Some("ACCEPT"))
                });
            if !busy {
                continue;
            }
            cmds.push(format!("{tool} -t {t} -F"));
            cmds.push(format!("{tool} -t {t} -X"));
            for c in dump.chains.iter().filter(|c| {
                c.table.as_deref() == Some(t) && c.policy.as_deref().is_some_and(|p| p != "ACCEPT")
            }) {
                cmds.push(format!("{tool} -t {t} -P {} ACCEPT", c.name));
            }
        }
    }
    cmds
}

fn describe(node: &Node, v: Variant) -> String {
    let parts: Vec<String> = node
        .iptables
        .iter()
        .filter(|l| l.variant == v)
        .filter_map(|l| {
            let d = l.rules()?;
            let n = rule_count(d);
            (n > 0).then(|| {
                let policies = d
                    .chains
                    .iter()
                    .filter(|c| c.policy.as_deref().is_some_and(|p| p != "ACCEPT"))
                    .filter_map(|c| c.table.as_deref());
                let tables: BTreeSet<&str> = d
                    .rules
                    .iter()
                    .filter_map(|r| r.table.as_deref())
                    .chain(policies)
                    .collect();
                format!(
                    "{} {}: {n} rules and non-ACCEPT policies (tables: {})",
                    v.save_command(l.family),
                    family_label(l.family),
                    tables.into_iter().collect::<Vec<_>>().join(", ")
                )
            })
        })
        .collect();
    parts.join("; ")
}

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    let (nft, legacy) = (count(node, Variant::Nft), count(node, Variant::Legacy));
    if nft == 0 || legacy == 0 {
        return vec![];
    }
    let (keep, stray) = match node.iptables_default_nft {
        Some(true) => (Variant::Nft, Variant::Legacy),
        Some(false) => (Variant::Legacy, Variant::Nft),
        None if nft >= legacy => (Variant::Nft, Variant::Legacy),
        None => (Variant::Legacy, Variant::Nft),
    };
    let default = match node.iptables_default_nft {
        Some(true) => "`iptables` on this node runs iptables-nft".to_string(),
        Some(false) => "`iptables` on this node runs iptables-legacy".to_string(),
        None => format!(
            "`iptables` is not a known variant; {} holds more rules",
            keep.label()
        ),
    };
    vec![
        Finding::new(
            "iptables-split",
            Severity::Error,
            format!(
                "rules in both iptables-legacy ({legacy}) and iptables-nft ({nft}), each invisible to the other"
            ),
            "The kernel runs both rule sets and a packet must pass both: a DROP or a missing \
             ACCEPT in the one nobody looks at breaks pods while the other looks right, and \
             kube-proxy, the runtime and the plugins may each be writing to a different one.",
        )
        .evidence(describe(node, Variant::Nft))
        .evidence(describe(node, Variant::Legacy))
        .evidence(default)
        .fix(clear(node, stray).join(" && "))
        .note(format!(
            "The command saves the {} rules to files in the current directory, then clears \
             them. Re-create with {} any of them you still need; then everything uses one rule \
             set.",
            stray.label(),
            keep.label()
        )),
    ]
}
