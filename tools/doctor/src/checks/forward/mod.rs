//! Finding 1: the forward path drops by default (the iptables filter
//! FORWARD policy is DROP, or an nftables base chain at the forward hook
//! has policy drop) and a network's pod subnets are not accepted in front
//! of it.
//!
//! A network that chains the `firewall` plugin is fine: the plugin accepts
//! each pod's addresses in front of the policy (iptables, and every
//! nftables table with a forward chain). Otherwise the chain is walked for
//! both directions of each subnet ([`eval`]).

mod eval;
mod iptables;
mod nft;

use ipnet::IpNet;
use netfilter::Family;

use crate::finding::{Finding, Severity};
use crate::fixcmd::{and_then, quote};
use crate::node::firewall::family_label;
use crate::node::{Network, Node};

const ID: &str = "forward-drop";

const WHY: &str = "The node forwards every packet a pod sends off the node and every reply \
coming back. A forward chain whose policy drops discards each forwarded packet no rule \
accepted first, so these pods cannot reach anything beyond the node (with br_netfilter, not \
even other pods on the bridge).";

fn family_of(net: &IpNet) -> Family {
    if net.addr().is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

fn finding(net: &Network, location: String, subnets: &[IpNet], fix: String) -> Finding {
    let list = subnets
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Finding::new(
        ID,
        Severity::Error,
        format!(
            "{location} drops forwarded traffic and pod subnet {list} of network {:?} is not accepted in front of it",
            net.name
        ),
        WHY,
    )
    .fix(fix)
    .note(format!(
        "Or chain {{\"type\": \"firewall\"}} after the interface plugin in {}: it accepts each \
         pod's addresses in front of the policy, on iptables and nftables.",
        net.file.display()
    ))
}

fn no_firewall(net: &Network) -> String {
    format!(
        "network {:?} ({}) chains no firewall plugin",
        net.name,
        net.file.display()
    )
}

fn not_accepted(chain: &str, subnets: &[IpNet]) -> Vec<String> {
    subnets
        .iter()
        .map(|s| {
            format!(
                "nothing in {chain} (or a chain it jumps to) accepts both traffic from {s} and \
                 the replies to {s} before the policy"
            )
        })
        .collect()
}

/// The iptables side: each variant and family whose filter FORWARD
/// policy is DROP.
fn iptables_findings(node: &Node, net: &Network, bridge: Option<&str>, out: &mut Vec<Finding>) {
    for listing in &node.iptables {
        let Some(dump) = listing.rules() else {
            continue;
        };
        let drops = dump.chains.iter().any(|c| {
            c.table.as_deref() == Some("filter")
                && c.name == "FORWARD"
                && c.policy.as_deref() == Some("DROP")
        });
        if !drops {
            continue;
        }
        let rules = iptables::table_rules(dump, "filter");
        let rules_of = |c: &str| rules.get(c).map(Vec::as_slice);
        let blocked: Vec<IpNet> = net
            .subnets()
            .iter()
            .filter(|s| family_of(s) == listing.family)
            .filter(|s| !eval::accepted(&rules_of, "FORWARD", **s, bridge))
            .copied()
            .collect();
        if blocked.is_empty() {
            continue;
        }
        let cmd = listing.variant.command(listing.family);
        let fix = and_then(blocked.iter().flat_map(|s| {
            [
                format!("{cmd} -I FORWARD -s {s} -j ACCEPT"),
                format!(
                    "{cmd} -I FORWARD -d {s} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
                ),
            ]
        }));
        let location = format!(
            "the {} ({}) filter FORWARD chain (policy DROP)",
            listing.variant.label(),
            family_label(listing.family)
        );
        let mut f = finding(net, location, &blocked, fix).evidence(format!(
            "{}: filter FORWARD policy DROP",
            listing.variant.save_command(listing.family)
        ));
        f.evidence.extend(not_accepted("FORWARD", &blocked));
        out.push(f.evidence(no_firewall(net)));
    }
}

/// The nftables side: each forward base chain with policy drop.
fn nft_findings(node: &Node, net: &Network, bridge: Option<&str>, out: &mut Vec<Finding>) {
    let Ok(items) = &node.nft else {
        return;
    };
    for dc in nft::drop_chains(items) {
        let rules = nft::table_rules(items, &dc.family, &dc.table);
        let rules_of = |c: &str| rules.get(c).map(Vec::as_slice);
        let blocked: Vec<IpNet> = net
            .subnets()
            .iter()
            .filter(|s| dc.sees(s))
            .filter(|s| !eval::accepted(&rules_of, &dc.chain, **s, bridge))
            .copied()
            .collect();
        if blocked.is_empty() {
            continue;
        }
        let (fam, table, chain) = (quote(&dc.family), quote(&dc.table), quote(&dc.chain));
        let fix = and_then(blocked.iter().flat_map(|s| {
            let ip = if s.addr().is_ipv4() { "ip" } else { "ip6" };
            [
                format!("nft insert rule {fam} {table} {chain} {ip} saddr {s} accept"),
                format!(
                    "nft insert rule {fam} {table} {chain} {ip} daddr {s} ct state established,related accept"
                ),
            ]
        }));
        let location = format!(
            "the nftables chain {} {} {} (forward hook, policy drop)",
            dc.family, dc.table, dc.chain
        );
        let mut f = finding(net, location, &blocked, fix).evidence(format!(
            "nft list chain {} {} {}: type filter hook forward policy drop",
            dc.family, dc.table, dc.chain
        ));
        f.evidence.extend(not_accepted(&dc.chain, &blocked));
        out.push(f.evidence(no_firewall(net)));
    }
}

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    let mut out = vec![];
    for net in node.networks.iter().filter(|n| !n.has_firewall) {
        let bridge = net.iface.as_ref().and_then(|i| i.bridge());
        iptables_findings(node, net, bridge, &mut out);
        nft_findings(node, net, bridge, &mut out);
    }
    out
}
