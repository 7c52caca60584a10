//! The iptables backend: the reference's nat-table layout ([`rules`]),
//! written with one `iptables-restore --noflush` commit per family and
//! operation, at a cost that does not grow with the number of pods.
//!
//! What each operation costs, per family the pod has (iptables-nft, whose
//! chains the nfnetlink [`Prober`] sees without an exec):
//! - ADD: four existence probes (the three shared chains and the pod's
//!   DN chain, microseconds), then one restore that creates only the
//!   missing shared chains (with their entry rules), the DN chain and the
//!   entry rules. No read: nothing listed grows with the node. Reads
//!   happen only off the common path: a re-ADD of an existing DN chain
//!   (the old entry rules are found in CNI-HOSTPORT-DNAT), a non-default
//!   `markMasqBit` meeting existing shared chains (their one-rule content
//!   is checked, as the reference's InsertUnique does), and iptables-legacy
//!   (no probe: the small chains are listed instead).
//! - DEL: two probes (DN chain, legacy SN chain); nothing there (a second
//!   DEL, or a family the pod never had) is no exec at all. Otherwise one
//!   restore deleting the entry rules (derived from the config's mappings
//!   and conditions, which is exactly what ADD wrote: they do not depend on
//!   the pod address), flushing and deleting the DN chain. Only if that
//!   commit fails (different mappings, no mappings in the DEL config, a
//!   legacy SN chain) are the entry chains listed to delete what is
//!   really there.
//! - CHECK and GC list chains (they are not on the pod start/stop path).
//!
//! Two shortcuts compared with the reference, both because its way costs
//! a read of a chain that grows with the node: an existing shared chain is
//! trusted to have its entry rule (PREROUTING/OUTPUT/POSTROUTING jump),
//! and a repeated ADD flushes and refills the DN chain.

pub mod rules;

use std::collections::{BTreeSet, HashSet};

use ipnet::IpNet;
use libcni::spec::Attachment;
use netkit::firewall::iptables::save::normalize;
use netkit::firewall::iptables::syntax::join;
use netkit::firewall::iptables::{Dump, RestoreScript, Rule, SavedRule, Table, run};
use netkit::firewall::probe::{NfProto, Presence, Prober};
use netkit::firewall::tools::{self, IptablesVariant, Tool};
use netkit::firewall::{ChainName, Family, FirewallError, Ident, names};

use crate::config::{DEFAULT_MARK_BIT, PortmapConf};
use crate::pod::{Pod, PodAddrs};
use rules::{MASQ, OLD_TOP_SNAT, SETMARK, TOP_DNAT, chain};

const NAT: Table = Table::Nat;

/// Existence questions about nat chains, answered over nfnetlink when
/// the family's iptables is iptables-nft.
struct Probe(Option<Prober>);

impl Probe {
    fn open() -> Probe {
        Probe(Prober::open())
    }

    fn chain(&mut self, family: Family, name: &str) -> Presence {
        if tools::iptables_variant(family) != IptablesVariant::Nft {
            return Presence::Unknown;
        }
        let proto = match family {
            Family::V4 => NfProto::Ipv4,
            Family::V6 => NfProto::Ipv6,
        };
        match &mut self.0 {
            Some(p) => p.chain(proto, NAT.as_str(), name),
            None => Presence::Unknown,
        }
    }
}

fn installed(family: Family) -> bool {
    tools::find(Tool::restore(family)).is_some() && tools::find(Tool::iptables(family)).is_some()
}

fn collect(mut errs: Vec<FirewallError>) -> Result<(), FirewallError> {
    match errs.len() {
        0 => Ok(()),
        1 => Err(errs.remove(0)),
        _ => Err(FirewallError::Multiple(errs)),
    }
}

fn same_rule(saved: &SavedRule, rule: &Rule, family: Family) -> bool {
    rule.words(family)
        .map(|w| normalize(&w) == saved.normalized())
        .unwrap_or(false)
}

/// Set up the forwarding for each address the pod has. Nothing is left
/// half-made: a family that fails undoes the families already done.
pub fn setup(conf: &PortmapConf, pod: &Pod, addrs: &PodAddrs) -> Result<(), FirewallError> {
    let mut probe = Probe::open();
    let mut done = vec![];
    for (family, net) in addrs.each() {
        if let Err(e) = setup_family(&mut probe, conf, pod, family, net) {
            if !done.is_empty() {
                let _ = teardown(conf, pod, &done);
            }
            return Err(e);
        }
        done.push(family);
    }
    Ok(())
}

fn setup_family(
    probe: &mut Probe,
    conf: &PortmapConf,
    pod: &Pod,
    family: Family,
    net: IpNet,
) -> Result<(), FirewallError> {
    // A concurrent ADD may create a shared chain between our probe and our
    // commit (then `-N` fails and nothing is applied): probe again.
    let mut attempt = 0;
    loop {
        let script = setup_script(probe, conf, pod, family, net)?;
        match run::restore(&script) {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= 2 => return Err(e),
            Err(_) => attempt += 1,
        }
    }
}

/// Whether a chain exists: the probe's answer, or a listing when the probe
/// cannot tell (the listing is returned for callers that want content).
fn presence(
    probe: &mut Probe,
    family: Family,
    name: &str,
) -> Result<(bool, Option<Dump>), FirewallError> {
    match probe.chain(family, name) {
        Presence::Present => Ok((true, None)),
        Presence::Absent => Ok((false, None)),
        Presence::Unknown => {
            let d = run::list_chain(family, NAT, name)?;
            Ok((d.is_some(), d))
        }
    }
}

/// Create `name` holding exactly `rule` when it is missing; when it exists
/// and `verify` is set (or its content was read anyway), add `rule` if it
/// is not there (the reference's InsertUnique). Returns whether the chain
/// is created by this script.
fn ensure_single_rule_chain(
    script: &mut RestoreScript,
    probe: &mut Probe,
    family: Family,
    name: &'static str,
    rule: &Rule,
    verify: bool,
) -> Result<bool, FirewallError> {
    let chain = chain(name);
    let (exists, dump) = presence(probe, family, name)?;
    if !exists {
        script.new_chain(NAT, &chain);
        script.append(NAT, &chain, rule)?;
        return Ok(true);
    }
    let dump = match dump {
        Some(d) => Some(d),
        None if verify => run::list_chain(family, NAT, name)?,
        None => None,
    };
    if let Some(d) = dump
        && !d.rules_in(name).any(|r| same_rule(r, rule, family))
    {
        script.append(NAT, &chain, rule)?;
    }
    Ok(false)
}

/// The ADD script of one family (pure apart from the probes and the
/// off-path reads described in the module docs).
fn setup_script(
    probe: &mut Probe,
    conf: &PortmapConf,
    pod: &Pod,
    family: Family,
    net: IpNet,
) -> Result<RestoreScript, FirewallError> {
    let mut s = RestoreScript::new(family);
    let mark = conf.mark();
    if conf.snat && conf.external_set_mark_chain.is_none() {
        let verify = conf.mark_masq_bit != DEFAULT_MARK_BIT;
        ensure_single_rule_chain(
            &mut s,
            probe,
            family,
            SETMARK,
            &rules::setmark_rule(mark),
            verify,
        )?;
        let created =
            ensure_single_rule_chain(&mut s, probe, family, MASQ, &rules::masq_rule(mark), verify)?;
        if created {
            s.insert(NAT, &chain("POSTROUTING"), 1, &rules::masq_jump())?;
        }
    }
    let (top_exists, _) = presence(probe, family, TOP_DNAT)?;
    if !top_exists {
        s.new_chain(NAT, &chain(TOP_DNAT));
        s.append(NAT, &chain("PREROUTING"), &rules::top_jump())?;
        s.append(NAT, &chain("OUTPUT"), &rules::top_jump())?;
    }
    let dn = &pod.dn_chain;
    let (dn_exists, _) = presence(probe, family, dn.as_str())?;
    if dn_exists && top_exists {
        // Re-ADD: drop the entry rules of the earlier ADD; the DN chain
        // itself is flushed by its declaration below.
        if let Some(d) = run::list_chain(family, NAT, TOP_DNAT)? {
            for r in d.rules_jumping_to(dn.as_str()) {
                s.delete_saved(NAT, r)?;
            }
        }
    }
    s.declare(NAT, dn);
    for r in rules::dn_rules(conf, family, net) {
        s.append(NAT, dn, &r)?;
    }
    for r in rules::entry_rules(conf, pod, family) {
        s.append(NAT, &chain(TOP_DNAT), &r)?;
    }
    Ok(s)
}

/// Remove the pod's DN chain and entry rules (and a legacy SN chain) in
/// `families`. Succeeds when nothing is there; an unusable iptables is
/// skipped like the reference does.
pub fn teardown(conf: &PortmapConf, pod: &Pod, families: &[Family]) -> Result<(), FirewallError> {
    let mut probe = Probe::open();
    let mut errs = vec![];
    for family in families {
        if !installed(*family) {
            continue;
        }
        if let Err(e) = teardown_family(&mut probe, conf, pod, *family)
            && run::usable(*family)
        {
            errs.push(e);
        }
    }
    collect(errs)
}

fn teardown_family(
    probe: &mut Probe,
    conf: &PortmapConf,
    pod: &Pod,
    family: Family,
) -> Result<(), FirewallError> {
    let dn = probe.chain(family, pod.dn_chain.as_str());
    let sn = probe.chain(family, pod.sn_chain.as_str());
    if dn == Presence::Absent && sn == Presence::Absent {
        return Ok(());
    }
    if dn != Presence::Absent && sn == Presence::Absent && !conf.mappings.is_empty() {
        let mut s = RestoreScript::new(family);
        s.declare(NAT, &pod.dn_chain);
        for r in rules::entry_rules(conf, pod, family) {
            s.delete(NAT, &chain(TOP_DNAT), &r)?;
        }
        s.delete_chain(NAT, &pod.dn_chain);
        if run::restore(&s).is_ok() {
            return Ok(());
        }
    }
    let mut s = RestoreScript::new(family);
    remove_chain(&mut s, family, TOP_DNAT, &pod.dn_chain, dn)?;
    remove_chain(&mut s, family, OLD_TOP_SNAT, &pod.sn_chain, sn)?;
    run::restore(&s)
}

/// Add to `s` the removal of `target` and of every rule of `top` jumping
/// to it, as listed now.
fn remove_chain(
    s: &mut RestoreScript,
    family: Family,
    top: &str,
    target: &ChainName,
    presence: Presence,
) -> Result<(), FirewallError> {
    if presence == Presence::Absent {
        return Ok(());
    }
    let refs: Vec<SavedRule> = run::list_chain(family, NAT, top)?
        .map(|d| d.rules_jumping_to(target.as_str()).cloned().collect())
        .unwrap_or_default();
    let exists = presence == Presence::Present
        || !refs.is_empty()
        || run::list_chain(family, NAT, target.as_str())?.is_some();
    if !exists {
        return Ok(());
    }
    for r in &refs {
        s.delete_saved(NAT, r)?;
    }
    s.declare(NAT, target);
    s.delete_chain(NAT, target);
    Ok(())
}

fn missing(family: Family, chain: &str, rule: &Rule) -> FirewallError {
    let text = rule.words(family).map(|w| join(&w)).unwrap_or_default();
    FirewallError::CheckFailed(format!(
        "portmap rule missing from {} nat chain {chain}: {text}",
        family.label()
    ))
}

fn require(family: Family, name: &str, want: &[Rule]) -> Result<Vec<SavedRule>, FirewallError> {
    let dump = run::list_chain(family, NAT, name)?.ok_or_else(|| {
        FirewallError::CheckFailed(format!(
            "chain {name} is missing from the {} nat table",
            family.label()
        ))
    })?;
    let have: Vec<SavedRule> = dump.rules_in(name).cloned().collect();
    for r in want {
        if !have.iter().any(|s| same_rule(s, r, family)) {
            return Err(missing(family, name, r));
        }
    }
    Ok(have)
}

/// Verify the state ADD makes, for each family the pod has.
pub fn check(conf: &PortmapConf, pod: &Pod, addrs: &PodAddrs) -> Result<(), FirewallError> {
    for (family, net) in addrs.each() {
        require(
            family,
            pod.dn_chain.as_str(),
            &rules::dn_rules(conf, family, net),
        )?;
        require(family, TOP_DNAT, &rules::entry_rules(conf, pod, family))?;
        for entry in ["PREROUTING", "OUTPUT"] {
            require(family, entry, &[rules::top_jump()])?;
        }
        if conf.snat && conf.external_set_mark_chain.is_none() {
            require(family, SETMARK, &[rules::setmark_rule(conf.mark())])?;
            require(family, MASQ, &[rules::masq_rule(conf.mark())])?;
            require(family, "POSTROUTING", &[rules::masq_jump()])?;
        }
    }
    Ok(())
}

/// Remove the DNAT state of `network`'s containers that are not in
/// `valid` (iptables state is per container: the ifname does not matter).
/// Entry rules are attributed by their comment, and only when the chain
/// they jump to is the one derived from that network and container.
pub fn gc(network: &Ident, valid: &[Attachment]) -> Result<(), FirewallError> {
    let keep: HashSet<&str> = valid.iter().map(|a| a.container_id.as_str()).collect();
    let mut errs = vec![];
    for family in Family::ALL {
        if !installed(family) {
            continue;
        }
        if let Err(e) = gc_family(family, network, &keep)
            && run::usable(family)
        {
            errs.push(e);
        }
    }
    collect(errs)
}

fn gc_family(family: Family, network: &Ident, keep: &HashSet<&str>) -> Result<(), FirewallError> {
    let Some(top) = run::list_chain(family, NAT, TOP_DNAT)? else {
        return Ok(());
    };
    let mut script = RestoreScript::new(family);
    let mut stale: BTreeSet<ChainName> = BTreeSet::new();
    for r in top.rules_in(TOP_DNAT) {
        let Some((net, cid)) = r.comment().and_then(names::parse_dnat_comment) else {
            continue;
        };
        if &net != network || keep.contains(cid.as_str()) {
            continue;
        }
        let dn = names::dnat_chain(&net, &cid);
        if r.target() != Some(dn.as_str()) {
            continue;
        }
        script.delete_saved(NAT, r)?;
        stale.insert(dn);
    }
    for dn in &stale {
        script.declare(NAT, dn);
        script.delete_chain(NAT, dn);
    }
    run::restore(&script)
}
