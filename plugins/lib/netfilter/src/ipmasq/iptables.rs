//! The iptables side of the masquerade rule set: what it writes, for the
//! shared iptables driver ([`crate::driver::iptables`]), and how GC
//! attributes chains to a network.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use libcni::spec::Attachment;

use super::MasqInstance;
use crate::driver::iptables::{
    ChainProbe, IptablesGc, IptablesRules, Stale, Written, first_missing,
};
use crate::error::FirewallError;
use crate::iptables::{Dump, RestoreScript, Rule, SavedRule, Table, Target, run};
use crate::names;
use crate::probe::Presence;
use crate::types::{ChainName, Comment, Family, Ident};

const NAT: Table = Table::Nat;
const POSTROUTING: &str = "POSTROUTING";

fn postrouting() -> ChainName {
    ChainName(POSTROUTING.to_string())
}

/// The chain's rules for the addresses of one family, in the reference's
/// order: it appends (uniquely) ACCEPT for the subnet, then MASQUERADE,
/// address by address, so a second subnet's ACCEPT lands after the
/// MASQUERADE rule. Kept identical for state compatibility.
fn chain_rules(family: Family, addrs: &[IpNet], comment: &Comment) -> Vec<Rule> {
    let mut rules: Vec<Rule> = vec![];
    for net in addrs {
        let accept = Rule::new(Target::Accept)
            .destination(net.trunc(), false)
            .comment(comment.clone());
        let masq = Rule::new(Target::Masquerade)
            .destination(family.multicast(), true)
            .comment(comment.clone());
        for r in [accept, masq] {
            if !rules.contains(&r) {
                rules.push(r);
            }
        }
    }
    rules
}

/// `POSTROUTING -s <ip>/32 -m comment --comment .. -j <chain>`.
fn jump_rule(chain: &ChainName, ip: IpAddr, comment: &Comment) -> Rule {
    Rule::new(Target::Jump(chain.clone()))
        .source(Family::host(ip), false)
        .comment(comment.clone())
}

/// The POSTROUTING jumps of `addrs`, each once.
fn jump_rules(chain: &ChainName, addrs: &[IpNet], comment: &Comment) -> Vec<Rule> {
    let mut jumps: Vec<Rule> = vec![];
    for net in addrs {
        let jump = jump_rule(chain, net.addr(), comment);
        if !jumps.contains(&jump) {
            jumps.push(jump);
        }
    }
    jumps
}

fn of_family(addrs: &[IpNet], family: Family) -> Vec<IpNet> {
    addrs
        .iter()
        .filter(|n| Family::of_net(n) == family)
        .copied()
        .collect()
}

/// One attachment's masquerade rules in the nat table: the chain
/// `CNI-<24 hex>` per family and the POSTROUTING jumps of its addresses
/// (`None`: unknown, at teardown when the link is already gone).
#[derive(Debug, Clone, Copy)]
pub(super) struct MasqNat<'a> {
    pub(super) inst: &'a MasqInstance,
    pub(super) addrs: Option<&'a [IpNet]>,
}

impl MasqNat<'_> {
    fn addrs_of(&self, family: Family) -> Vec<IpNet> {
        of_family(self.addrs.unwrap_or_default(), family)
    }
}

impl IptablesRules for MasqNat<'_> {
    fn families(&self) -> Vec<Family> {
        Family::ALL
            .into_iter()
            .filter(|f| !self.addrs_of(*f).is_empty())
            .collect()
    }

    fn chain(&self) -> &ChainName {
        self.inst.chain()
    }

    fn entry_chain(&self) -> &'static str {
        POSTROUTING
    }

    /// nat POSTROUTING exists once an earlier pod (or any NAT rule) made
    /// the table.
    fn fast_requires(&self, _family: Family) -> Option<Vec<&'static str>> {
        Some(vec![POSTROUTING])
    }

    fn chain_rules(&self, family: Family) -> Result<Vec<Rule>, FirewallError> {
        Ok(chain_rules(
            family,
            &self.addrs_of(family),
            self.inst.comment()?,
        ))
    }

    fn entry_rules(&self, family: Family) -> Result<Vec<Rule>, FirewallError> {
        Ok(jump_rules(
            self.inst.chain(),
            &self.addrs_of(family),
            self.inst.comment()?,
        ))
    }

    /// One restore, with a read of POSTROUTING only when the chain may
    /// already exist (re-ADD), so the jump rule is not doubled.
    fn restore_setup(&self, probe: &mut ChainProbe, family: Family) -> Result<(), FirewallError> {
        let chain = self.inst.chain();
        let comment = self.inst.comment()?;
        let addrs = self.addrs_of(family);
        let existing: Vec<SavedRule> = match probe.chain(family, chain.as_str()) {
            Presence::Absent => vec![],
            _ => run::list_chain(family, NAT, POSTROUTING)?
                .map(|d| d.rules_jumping_to(chain.as_str()).cloned().collect())
                .unwrap_or_default(),
        };
        let mut script = RestoreScript::new(family);
        // Creates the chain, or flushes a leftover one before refilling it.
        script.declare(NAT, chain);
        for r in chain_rules(family, &addrs, comment) {
            script.append(NAT, chain, &r)?;
        }
        for jump in jump_rules(chain, &addrs, comment) {
            if !existing.iter().any(|s| jump.is_saved_as(s, family)) {
                script.append(NAT, &postrouting(), &jump)?;
            }
        }
        run::restore(&script)
    }

    /// The jumps of the known addresses (not deduplicated: a duplicate
    /// makes the blind delete fail and teardown read what is there).
    fn written(&self, family: Family) -> Written {
        let Some(addrs) = self.addrs else {
            return Written::Unknown;
        };
        let ips: Vec<IpAddr> = of_family(addrs, family).iter().map(IpNet::addr).collect();
        if ips.is_empty() {
            return Written::Nothing;
        }
        match self.inst.comment() {
            Ok(c) => Written::Rules(
                ips.into_iter()
                    .map(|ip| jump_rule(self.inst.chain(), ip, c))
                    .collect(),
            ),
            Err(_) => Written::Unknown,
        }
    }

    /// Read the chain and POSTROUTING and compare with what setup writes.
    fn check(&self, family: Family) -> Result<(), FirewallError> {
        let comment = self.inst.comment()?;
        let chain = self.inst.chain();
        let addrs = self.addrs_of(family);
        let Some(dump) = run::list_chain(family, NAT, chain.as_str())? else {
            return Err(FirewallError::CheckFailed(format!(
                "masquerade chain {chain} is missing from the {} nat table",
                family.label()
            )));
        };
        let inner: Vec<&SavedRule> = dump.rules_in(chain.as_str()).collect();
        if let Some(rule) = first_missing(family, &inner, &chain_rules(family, &addrs, comment)) {
            return Err(missing(family, chain.as_str(), rule));
        }
        let post = run::list_chain(family, NAT, POSTROUTING)?.unwrap_or_default();
        let post: Vec<&SavedRule> = post.rules_in(POSTROUTING).collect();
        let jumps: Vec<Rule> = addrs
            .iter()
            .map(|net| jump_rule(chain, net.addr(), comment))
            .collect();
        match first_missing(family, &post, &jumps) {
            Some(jump) => Err(missing(family, POSTROUTING, jump)),
            None => Ok(()),
        }
    }
}

fn missing(family: Family, chain: &str, rule: &Rule) -> FirewallError {
    FirewallError::CheckFailed(format!(
        "masquerade rule missing from {} nat chain {chain}: {}",
        family.label(),
        rule.text(family)
    ))
}

/// The masquerade chains of `network` in a nat dump, by container ID. A
/// chain counts only if its name is the one derived from (network, id)
/// named in a comment of its own rules or of a rule jumping to it.
fn chains_of_network(dump: &Dump, network: &Ident) -> BTreeMap<String, Ident> {
    let mut found = BTreeMap::new();
    for r in &dump.rules {
        let Some((net, cid)) = r.comment().and_then(names::parse_masq_comment) else {
            continue;
        };
        if &net != network {
            continue;
        }
        let expected = names::masq_chain(&net, &cid);
        let mentions = r.chain == expected.as_str() || r.target() == Some(expected.as_str());
        if mentions {
            found.insert(expected.as_str().to_string(), cid);
        }
    }
    found
}

/// The masquerade state of one network for GC. iptables chains are per
/// container (the reference ignores the ifname there), so a container ID
/// in `valid` keeps its chain.
#[derive(Debug, Clone, Copy)]
pub(super) struct MasqGc<'a> {
    pub(super) network: &'a Ident,
    pub(super) valid: &'a [Attachment],
}

impl IptablesGc for MasqGc<'_> {
    /// One read of the whole nat table (masquerade chains hang off
    /// POSTROUTING among every other NAT rule of the node).
    fn stale(&self, family: Family) -> Result<Vec<Stale>, FirewallError> {
        let keep: HashSet<&str> = self.valid.iter().map(|a| a.container_id.as_str()).collect();
        let dump = run::list_table(family, NAT)?;
        let mut stale = vec![];
        for (chain, cid) in chains_of_network(&dump, self.network) {
            if keep.contains(cid.as_str()) {
                continue;
            }
            stale.push(Stale {
                jumps: dump.rules_jumping_to(&chain).cloned().collect(),
                chain: ChainName::new(&chain)?,
            });
        }
        Ok(stale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::{save, syntax::join};

    fn words(family: Family, rules: &[Rule]) -> Vec<String> {
        rules
            .iter()
            .map(|r| join(&r.words(family).unwrap()))
            .collect()
    }

    #[test]
    fn chain_rules_follow_reference_order() {
        let c = Comment::new(r#"name: "n" id: "abc""#).unwrap();
        let addrs: Vec<IpNet> = vec![
            "10.1.0.5/24".parse().unwrap(),
            "10.1.0.6/24".parse().unwrap(),
            "10.2.0.5/16".parse().unwrap(),
        ];
        let w = words(Family::V4, &chain_rules(Family::V4, &addrs, &c));
        assert_eq!(w.len(), 3);
        assert!(w[0].starts_with("-d 10.1.0.0/24 "), "{w:?}");
        assert!(w[1].starts_with("! -d 224.0.0.0/4 "), "{w:?}");
        assert!(w[2].starts_with("-d 10.2.0.0/16 "), "{w:?}");
        let v6 = words(
            Family::V6,
            &chain_rules(Family::V6, &["fd00::5/64".parse().unwrap()], &c),
        );
        assert!(v6[1].starts_with("! -d ff00::/8 "), "{v6:?}");
    }

    #[test]
    fn gc_attribution() {
        let dump = save::parse(concat!(
            "-N CNI-5a1527d2fe74c1a342e29c75\n",
            "-A POSTROUTING -s 10.99.0.2/32 -m comment --comment \"name: \\\"n\\\" id: \\\"abc\\\"\" -j CNI-5a1527d2fe74c1a342e29c75\n",
            "-A CNI-5a1527d2fe74c1a342e29c75 -d 10.99.0.0/24 -m comment --comment \"name: \\\"n\\\" id: \\\"abc\\\"\" -j ACCEPT\n",
            // A comment naming our network but jumping elsewhere: not ours.
            "-A POSTROUTING -s 10.99.0.3/32 -m comment --comment \"name: \\\"n\\\" id: \\\"zzz\\\"\" -j CNI-000000000000000000000000\n",
            // Another network.
            "-A POSTROUTING -s 10.98.0.3/32 -m comment --comment \"name: \\\"m\\\" id: \\\"abc\\\"\" -j CNI-111111111111111111111111\n",
        ))
        .unwrap();
        let n = Ident::network("n").unwrap();
        let found = chains_of_network(&dump, &n);
        assert_eq!(found.len(), 1);
        assert_eq!(found["CNI-5a1527d2fe74c1a342e29c75"].as_str(), "abc");
    }
}

#[cfg(test)]
mod restore_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::driver::Driver;
    use crate::driver::iptables::{Iptables, restore_teardown};
    use cni_sandbox::Sandbox;

    /// The restore path, which DEL takes where nfnetlink cannot answer
    /// (iptables-legacy) or the kernel refused the transaction: with the
    /// addresses known (blind delete) and unknown (read, then delete).
    #[test]
    fn restore_teardown_leaves_nothing() {
        let sb = Sandbox::new();
        let empty = sb.host.iptables_nat(false);
        for known in [true, false] {
            let inst = MasqInstance::new("n", "abc", "eth0").unwrap();
            let addrs: Vec<IpNet> = vec!["10.99.0.2/24".parse().unwrap()];
            let rules = MasqNat {
                inst: &inst,
                addrs: Some(&addrs),
            };
            let torn = MasqNat {
                inst: &inst,
                addrs: known.then_some(addrs.as_slice()),
            };
            sb.host
                .run(|| {
                    Iptables(rules).setup()?;
                    restore_teardown(&torn, &mut ChainProbe::unanswered(), Family::V4)
                })
                .unwrap();
            assert_eq!(sb.host.iptables_nat(false), empty, "known: {known}");
        }
    }
}
