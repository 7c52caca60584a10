//! Leaked NAT state: bridge and ptp masquerade chains (`CNI-<24 hex>` in
//! nat, comment `name: "<net>" id: "<cid>"`; or rules in the nftables
//! table `cni_plugins_masquerade`, comment `<hash>, net: .., if: .., id:
//! ..`) and portmap's (`CNI-DN-<hex>` chains behind `CNI-HOSTPORT-DNAT`
//! rules commented `dnat name: "<net>" id: "<cid>"`; or rules in the
//! `cni_hostport` tables commented with the container ID), read the way
//! the plugins' own GC reads them (netfilter's names).

use std::collections::{BTreeSet, HashSet};

use netfilter::iptables::save::Dump;
use netfilter::names::{
    hash_with_prefix, looks_like_masq_chain, nft_masq_comment_raw, parse_masq_comment,
};
use serde_json::Value;

use super::{Known, Leak, finding};
use crate::finding::Finding;
use crate::fixcmd::quote;
use crate::node::firewall::family_label;
use crate::node::{Listing, Node};

/// portmap's per-container chains in nftables.
const HOSTPORT_CHAINS: [&str; 3] = ["hostports", "hostip_hostports", "masquerading"];

fn nat_rules(dump: &Dump) -> impl Iterator<Item = &netfilter::iptables::SavedRule> {
    dump.rules
        .iter()
        .filter(|r| r.table.as_deref() == Some("nat"))
}

fn iptables_leaks(node: &Node, known: &Known<'_>, l: &Listing, out: &mut Vec<Leak>) {
    let Some(dump) = l.rules() else { return };
    let where_ = format!("{} {}", l.variant.label(), family_label(l.family));
    let configured = |net: &str| node.network(net).is_some();
    let mut seen = BTreeSet::new();
    for r in nat_rules(dump) {
        let Some(text) = r.comment() else { continue };
        // Masquerade: the rule sits in the chain or jumps to it.
        if let Some((net, cid)) = parse_masq_comment(text) {
            let chain = [Some(r.chain.as_str()), r.target()]
                .into_iter()
                .flatten()
                .find(|c| looks_like_masq_chain(c));
            if let Some(chain) = chain
                && configured(net.as_str())
                && !known.has_container(net.as_str(), cid.as_str())
                && seen.insert(chain.to_string())
            {
                out.push(Leak::gc(format!(
                    "{where_} nat chain {chain} (masquerade; network {net}, container {cid})"
                )));
            }
        }
        // portmap: the entry rule in CNI-HOSTPORT-DNAT jumps to CNI-DN-*.
        if let Some((net, cid)) = text.strip_prefix("dnat ").and_then(parse_masq_comment)
            && let Some(chain) = r.target().filter(|t| t.starts_with("CNI-DN-"))
            && configured(net.as_str())
            && !known.has_container(net.as_str(), cid.as_str())
            && seen.insert(chain.to_string())
        {
            out.push(Leak::gc(format!(
                "{where_} nat chain {chain} (portmap; network {net}, container {cid})"
            )));
        }
    }
}

fn nft_leaks(node: &Node, known: &Known<'_>, items: &[Value], out: &mut Vec<Leak>) {
    // Per network: the prefix of its masquerade comments, and the comments
    // of its cached attachments.
    let masq: Vec<(String, HashSet<String>)> = node
        .networks
        .iter()
        .map(|net| {
            let keep = known
                .attachments()
                .iter()
                .filter(|a| a.network == net.name)
                .map(|a| nft_masq_comment_raw(&net.name, &a.ifname, &a.container_id))
                .collect();
            (hash_with_prefix(16, "", &net.name), keep)
        })
        .collect();
    for r in items.iter().filter_map(|i| i.get("rule")) {
        let (Some(family), Some(table), Some(chain), Some(comment), Some(handle)) = (
            r["family"].as_str(),
            r["table"].as_str(),
            r["chain"].as_str(),
            r["comment"].as_str(),
            r["handle"].as_u64(),
        ) else {
            continue;
        };
        if table == netfilter::ipmasq::NFT_TABLE {
            if masq
                .iter()
                .any(|(hash, keep)| comment.starts_with(hash.as_str()) && !keep.contains(comment))
            {
                out.push(Leak::gc(format!(
                    "nft {family} {table} {chain} rule handle {handle} (masquerade; {comment})"
                )));
            }
        } else if table == crate::node::firewall::HOSTPORT_TABLE
            && HOSTPORT_CHAINS.contains(&chain)
            && !known.has_container_anywhere(comment)
        {
            // portmap's GC leaves nftables alone (its rules do not name
            // the network), so this one is removed by hand.
            out.push(Leak::manual(
                format!("nft {family} {table} {chain} rule handle {handle} (portmap; container {comment})"),
                format!(
                    "nft delete rule {family} {table} {} handle {handle}",
                    quote(chain)
                ),
            ));
        }
    }
}

/// The leaked chains and rules.
pub fn leaked(node: &Node, known: &Known<'_>) -> Vec<Leak> {
    let mut out = vec![];
    for l in &node.iptables {
        iptables_leaks(node, known, l, &mut out);
    }
    if let Ok(items) = &node.nft {
        nft_leaks(node, known, items, &mut out);
    }
    out
}

/// The finding.
pub fn check(node: &Node, known: &Known<'_>) -> Option<Finding> {
    finding(
        node,
        "leaked-chains",
        "NAT chains and rules",
        "Masquerade and host-port rules of pods that are gone stay in the nat table: every \
         new connection walks them, a host port stays taken, and a new pod that gets the old \
         address inherits the old pod's port mappings.",
        leaked(node, known),
    )
}
