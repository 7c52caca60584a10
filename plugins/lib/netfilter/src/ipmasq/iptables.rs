//! The iptables side of [`super::MasqInstance`] and [`super::gc`].

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use libcni::spec::Attachment;

use super::MasqInstance;
use crate::error::FirewallError;
use crate::iptables::save::normalize;
use crate::iptables::{Dump, RestoreScript, Rule, SavedRule, Table, Target, run};
use crate::names;
use crate::nfbatch::NfBatch;
use crate::probe::{Presence, Prober};
use crate::tools::{self, IptablesVariant, Tool};
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

fn of_family(addrs: &[IpNet], family: Family) -> Vec<IpNet> {
    addrs
        .iter()
        .filter(|n| Family::of_net(n) == family)
        .copied()
        .collect()
}

/// Whether `chain` exists in `family`'s nat table, asked over nfnetlink.
/// Only meaningful for iptables-nft; `Unknown` otherwise.
fn probe(prober: &mut Option<Prober>, family: Family, chain: &ChainName) -> Presence {
    if tools::iptables_variant(family) != IptablesVariant::Nft {
        return Presence::Unknown;
    }
    match prober {
        Some(p) => p.chain(family, NAT.as_str(), chain.as_str()),
        None => Presence::Unknown,
    }
}

fn same_rule(saved: &SavedRule, rule: &Rule, family: Family) -> bool {
    rule.words(family)
        .map(|w| normalize(&w) == saved.normalized())
        .unwrap_or(false)
}

/// The common case on iptables-nft: the nat table and its POSTROUTING
/// exist (an earlier pod or any NAT rule made them) and this attachment's
/// chain does not. Then the chain, its rules and the POSTROUTING jumps of
/// every family go in one nfnetlink transaction in iptables-nft's own
/// encoding: no process, and no read of the table, which iptables-restore
/// would fetch and parse whole (its cost grows with the pods on the node).
/// `None` when this does not apply; `Some(Err)` when the kernel refused
/// (nothing changed): the caller takes the iptables-restore path.
fn fast_setup(
    prober: &mut Option<Prober>,
    chain: &ChainName,
    comment: &Comment,
    addrs: &[IpNet],
) -> Option<Result<(), FirewallError>> {
    let mut batch = NfBatch::new();
    for family in Family::ALL {
        let fa = of_family(addrs, family);
        if fa.is_empty() {
            continue;
        }
        if probe(prober, family, &postrouting()) != Presence::Present
            || probe(prober, family, chain) != Presence::Absent
        {
            return None;
        }
        let nf = family;
        batch.new_chain(nf, NAT.as_str(), chain.as_str());
        for r in chain_rules(family, &fa, comment) {
            batch
                .append_iptables_rule(family, NAT.as_str(), chain.as_str(), &r)
                .ok()?;
        }
        let mut added: Vec<Rule> = vec![];
        for net in &fa {
            let jump = jump_rule(chain, net.addr(), comment);
            if !added.contains(&jump) {
                batch
                    .append_iptables_rule(family, NAT.as_str(), POSTROUTING, &jump)
                    .ok()?;
                added.push(jump);
            }
        }
    }
    Some(batch.commit())
}

/// One nfnetlink transaction when [`fast_setup`] applies; else one
/// restore per family with addresses, with a read of POSTROUTING only
/// when the chain may already exist (re-ADD), so the jump rule is not
/// doubled.
pub(super) fn setup(inst: &MasqInstance, addrs: &[IpNet]) -> Result<(), FirewallError> {
    let comment = inst.comment()?;
    let chain = inst.chain();
    let mut prober = Prober::open();
    if let Some(Ok(())) = fast_setup(&mut prober, chain, comment, addrs) {
        return Ok(());
    }
    let mut done: Vec<IpNet> = vec![];
    for family in Family::ALL {
        let fa = of_family(addrs, family);
        if fa.is_empty() {
            continue;
        }
        let result = setup_family(&mut prober, family, chain, comment, &fa);
        if let Err(e) = result {
            // Leave nothing half-made: undo the families already set up.
            if !done.is_empty() {
                let _ = teardown(inst, Some(&done));
            }
            return Err(e);
        }
        done.extend(fa);
    }
    Ok(())
}

fn setup_family(
    prober: &mut Option<Prober>,
    family: Family,
    chain: &ChainName,
    comment: &Comment,
    addrs: &[IpNet],
) -> Result<(), FirewallError> {
    let existing: Vec<SavedRule> = match probe(prober, family, chain) {
        Presence::Absent => vec![],
        _ => run::list_chain(family, NAT, POSTROUTING)?
            .map(|d| d.rules_jumping_to(chain.as_str()).cloned().collect())
            .unwrap_or_default(),
    };
    let mut script = RestoreScript::new(family);
    // Creates the chain, or flushes a leftover one before refilling it.
    script.declare(NAT, chain);
    for r in chain_rules(family, addrs, comment) {
        script.append(NAT, chain, &r)?;
    }
    let mut added: Vec<Rule> = vec![];
    for net in addrs {
        let jump = jump_rule(chain, net.addr(), comment);
        if added.contains(&jump) || existing.iter().any(|s| same_rule(s, &jump, family)) {
            continue;
        }
        script.append(NAT, &postrouting(), &jump)?;
        added.push(jump);
    }
    run::restore(&script)
}

/// iptables-nft: the chain and every POSTROUTING rule jumping to it, for
/// all families in one nfnetlink transaction. The jumps are found by their
/// target in a dump of POSTROUTING (handles are what a delete needs; the
/// dump is the one part that grows with the node, a few µs per rule),
/// so the addresses need not be known. `iptables-restore` would read and
/// parse the whole nat table first (~10 ms at 1,000 pods) and cost a
/// process. Returns the families left to the restore path (no nfnetlink
/// answer, iptables-legacy); a family whose chain is absent is done. On
/// error nothing was changed.
fn fast_teardown(
    prober: &mut Option<Prober>,
    chain: &ChainName,
    families: &[Family],
) -> Result<Vec<Family>, FirewallError> {
    let mut rest = vec![];
    let mut batch = NfBatch::new();
    for &family in families {
        match probe(prober, family, chain) {
            Presence::Absent => continue,
            Presence::Unknown => {
                rest.push(family);
                continue;
            }
            Presence::Present => {}
        }
        let queued = prober.as_mut().is_some_and(|p| {
            batch.remove_chain_and_jumps(p, family, NAT.as_str(), POSTROUTING, chain.as_str())
        });
        if !queued {
            rest.push(family);
        }
    }
    batch.commit()?;
    Ok(rest)
}

/// Remove the chain and every POSTROUTING rule jumping to it, per family:
/// over nfnetlink where that applies ([`fast_teardown`]), else with one
/// restore per family.
pub(super) fn teardown(inst: &MasqInstance, known: Option<&[IpNet]>) -> Result<(), FirewallError> {
    let mut prober = Prober::open();
    let installed: Vec<Family> = Family::ALL
        .into_iter()
        // iptables not installed: nothing of ours can exist.
        .filter(|&f| {
            tools::find(Tool::restore(f)).is_some() && tools::find(Tool::iptables(f)).is_some()
        })
        .collect();
    let families = match fast_teardown(&mut prober, inst.chain(), &installed) {
        Ok(rest) => rest,
        // The kernel refused the transaction (nothing changed): the
        // restore path below reports what is wrong, or copes with it.
        Err(_) => installed,
    };
    let mut errs = vec![];
    for family in families {
        let known_ips: Option<Vec<IpAddr>> =
            known.map(|k| of_family(k, family).iter().map(IpNet::addr).collect());
        let presence = probe(&mut prober, family, inst.chain());
        if let Err(e) = teardown_family(family, inst, known_ips.as_deref(), presence) {
            // Like the reference, an unusable iptables is not an error.
            if run::usable(family) {
                errs.push(e);
            }
        }
    }
    FirewallError::collect(errs)
}

fn teardown_family(
    family: Family,
    inst: &MasqInstance,
    known: Option<&[IpAddr]>,
    presence: Presence,
) -> Result<(), FirewallError> {
    let chain = inst.chain();
    match (presence, known) {
        (Presence::Absent, _) => return Ok(()),
        // Without a probe, trust the known addresses: no address of this
        // family means the pod never had state here (the reference only
        // tears down the addresses it is given).
        (Presence::Unknown, Some([])) => return Ok(()),
        _ => {}
    }
    // Fast path: the rules are the ones setup wrote for the known addresses.
    if let (Some(ips), Ok(comment)) = (known, inst.comment())
        && !ips.is_empty()
    {
        let mut script = RestoreScript::new(family);
        script.declare(NAT, chain);
        for ip in ips {
            script.delete(NAT, &postrouting(), &jump_rule(chain, *ip, comment))?;
        }
        script.delete_chain(NAT, chain);
        if run::restore(&script).is_ok() {
            return Ok(());
        }
        // Something else is there (older /prefix form, duplicates, nothing
        // at all): fall through to the exact path.
    }
    let post = run::list_chain(family, NAT, POSTROUTING)?.unwrap_or_default();
    let refs: Vec<&SavedRule> = post.rules_jumping_to(chain.as_str()).collect();
    let exists = presence == Presence::Present
        || !refs.is_empty()
        || run::list_chain(family, NAT, chain.as_str())?.is_some();
    if !exists {
        return Ok(());
    }
    let mut script = RestoreScript::new(family);
    for r in refs {
        script.delete_saved(NAT, r)?;
    }
    script.declare(NAT, chain);
    script.delete_chain(NAT, chain);
    run::restore(&script)
}

/// Read the chain and POSTROUTING and compare with what setup writes.
pub(super) fn check(inst: &MasqInstance, addrs: &[IpNet]) -> Result<(), FirewallError> {
    let comment = inst.comment()?;
    let chain = inst.chain();
    for family in Family::ALL {
        let fa = of_family(addrs, family);
        if fa.is_empty() {
            continue;
        }
        let Some(dump) = run::list_chain(family, NAT, chain.as_str())? else {
            return Err(FirewallError::CheckFailed(format!(
                "masquerade chain {chain} is missing from the {} nat table",
                family.label()
            )));
        };
        let inner: Vec<&SavedRule> = dump.rules_in(chain.as_str()).collect();
        for rule in chain_rules(family, &fa, comment) {
            if !inner.iter().any(|s| same_rule(s, &rule, family)) {
                return Err(missing(family, chain.as_str(), &rule));
            }
        }
        let post = run::list_chain(family, NAT, POSTROUTING)?.unwrap_or_default();
        for net in &fa {
            let jump = jump_rule(chain, net.addr(), comment);
            if !post
                .rules_in(POSTROUTING)
                .any(|s| same_rule(s, &jump, family))
            {
                return Err(missing(family, POSTROUTING, &jump));
            }
        }
    }
    Ok(())
}

fn missing(family: Family, chain: &str, rule: &Rule) -> FirewallError {
    let text = rule
        .words(family)
        .map(|w| crate::iptables::syntax::join(&w))
        .unwrap_or_default();
    FirewallError::CheckFailed(format!(
        "masquerade rule missing from {} nat chain {chain}: {text}",
        family.label()
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

/// Delete the chains (and jumps) of containers of `network` not in `valid`.
pub(super) fn gc(network: &Ident, valid: &[Attachment]) -> Result<(), FirewallError> {
    let keep: HashSet<&str> = valid.iter().map(|a| a.container_id.as_str()).collect();
    let mut errs = vec![];
    for family in Family::ALL {
        if tools::find(Tool::restore(family)).is_none()
            || tools::find(Tool::iptables(family)).is_none()
        {
            continue;
        }
        if let Err(e) = gc_family(family, network, &keep)
            && run::usable(family)
        {
            errs.push(e);
        }
    }
    FirewallError::collect(errs)
}

fn gc_family(family: Family, network: &Ident, keep: &HashSet<&str>) -> Result<(), FirewallError> {
    let dump = run::list_table(family, NAT)?;
    let mut script = RestoreScript::new(family);
    for (chain, cid) in chains_of_network(&dump, network) {
        if keep.contains(cid.as_str()) {
            continue;
        }
        let chain = ChainName::new(&chain)?;
        for r in dump.rules_jumping_to(chain.as_str()) {
            script.delete_saved(NAT, r)?;
        }
        script.declare(NAT, &chain);
        script.delete_chain(NAT, &chain);
    }
    run::restore(&script)
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
            let ips: Vec<IpAddr> = addrs.iter().map(IpNet::addr).collect();
            sb.host
                .run(|| {
                    setup(&inst, &addrs)?;
                    teardown_family(
                        Family::V4,
                        &inst,
                        known.then_some(ips.as_slice()),
                        Presence::Present,
                    )
                })
                .unwrap();
            assert_eq!(sb.host.iptables_nat(false), empty, "known: {known}");
        }
    }
}
