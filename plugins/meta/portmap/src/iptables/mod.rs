//! The iptables backend: the reference's nat-table layout ([`rules`]),
//! written with one `iptables-restore --noflush` commit per family and
//! operation, at a cost that does not grow with the number of pods.
//!
//! What each operation costs (iptables-nft, whose chains the nfnetlink
//! [`Prober`] sees without an exec):
//! - ADD, common case (shared chains exist, default mark bit, new pod):
//!   existence probes (microseconds), then the DN chain, its rules and the
//!   entry rules of every family in one nfnetlink transaction, written in
//!   iptables-nft's own encoding (hostnet `nftenc`): no exec, no read.
//!   iptables-restore is not used here because iptables-nft 1.8 fetches
//!   and parses the whole nat table before any change (3.7 ms on an empty
//!   node, 10 ms with 1,000 pods). The kernel still validates the
//!   table's jump graph when the transaction commits (a few ms with
//!   thousands of rules); every writer pays that.
//! - ADD otherwise (first pod on the node, a shared chain missing, a
//!   non-default `markMasqBit`, SCTP ports, a re-ADD, iptables-legacy):
//!   one `iptables-restore --noflush` per family that creates only the
//!   missing shared chains (with their entry rules), the DN chain and the
//!   entry rules. Reads happen only here: a re-ADD finds the old entry
//!   rules in CNI-HOSTPORT-DNAT, a non-default mark bit checks the
//!   shared chains' one rule (the reference's InsertUnique), and
//!   iptables-legacy lists the small chains instead of probing.
//! - DEL (iptables-nft): probes for the DN chain and the legacy SN chain;
//!   nothing there (a second DEL, a family the pod never had) costs no
//!   more. Otherwise the rules of CNI-HOSTPORT-DNAT are read over
//!   nfnetlink (handle and jump target; the kernel dump is the one part
//!   that grows with the node, about 4 µs per rule) and the rules jumping
//!   to the DN chain are deleted by handle together with the DN chain, for
//!   both families in one nfnetlink transaction ([`NfBatch`]): no exec,
//!   one kernel wait. `iptables-restore -D <rule>` would make iptables
//!   fetch and parse the whole shared chain (16 ms more at 1,000 pods).
//! - DEL (iptables-legacy, or a legacy SN chain present): one restore per
//!   family deleting the entry rules derived from the config (what ADD
//!   wrote: they do not depend on the pod address); only if that commit
//!   fails are the entry chains listed to delete what is really there.
//! - CHECK and GC list chains (they are not on the pod start/stop path).
//!
//! Two shortcuts compared with the reference, both because its way costs
//! a read of a chain that grows with the node: an existing shared chain is
//! trusted to have its entry rule (PREROUTING/OUTPUT/POSTROUTING jump),
//! and a repeated ADD flushes and refills the DN chain.

pub mod rules;

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;

use ipnet::IpNet;
use libcni::spec::Attachment;
use netfilter::iptables::save::normalize;
use netfilter::iptables::syntax::join;
use netfilter::iptables::{Dump, RestoreScript, Rule, SavedRule, Table, run};
use netfilter::nfbatch::NfBatch;
use netfilter::probe::{Presence, Prober};
use netfilter::tools::{self, IptablesVariant, Tool};
use netfilter::{ChainName, Family, FirewallError, Ident, names};

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
        match &mut self.0 {
            Some(p) => p.chain(family, NAT.as_str(), name),
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
    if let Some(Ok(())) = fast_setup(&mut probe, conf, pod, addrs) {
        return Ok(());
    }
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

/// The common case on iptables-nft: the shared chains exist (with the
/// default mark bit) and the pod's DN chain does not. Then the DN chain,
/// its rules and the entry rules of every family go in one nfnetlink
/// transaction, written in iptables-nft's own encoding (no exec, and no
/// read of the table, which iptables-restore would fetch and parse
/// whole). `None` when this does not apply; an error when the kernel
/// refused (nothing was changed, e.g. a concurrent ADD): the caller then
/// takes the iptables-restore path.
fn fast_setup(
    probe: &mut Probe,
    conf: &PortmapConf,
    pod: &Pod,
    addrs: &PodAddrs,
) -> Option<Result<(), FirewallError>> {
    if conf.mark_masq_bit != DEFAULT_MARK_BIT {
        return None;
    }
    let shared = shared_chains(conf);
    let mut batch = NfBatch::new();
    for (family, net) in addrs.each() {
        if shared
            .iter()
            .any(|c| probe.chain(family, c) != Presence::Present)
            || probe.chain(family, pod.dn_chain.as_str()) != Presence::Absent
        {
            return None;
        }
        let nf = family;
        let dn = pod.dn_chain.as_str();
        batch.new_chain(nf, NAT.as_str(), dn);
        for r in rules::dn_rules(conf, family, net) {
            batch
                .append_iptables_rule(family, NAT.as_str(), dn, &r)
                .ok()?;
        }
        for r in rules::entry_rules(conf, pod, family) {
            batch
                .append_iptables_rule(family, NAT.as_str(), TOP_DNAT, &r)
                .ok()?;
        }
    }
    Some(batch.commit())
}

/// The shared chains an ADD with `conf` needs: the DNAT entry chain, and
/// the mark and masquerade chains unless snat is off or an external chain
/// sets the mark.
fn shared_chains(conf: &PortmapConf) -> Vec<&'static str> {
    let mut shared = vec![TOP_DNAT];
    if conf.snat && conf.external_set_mark_chain.is_none() {
        shared.extend([SETMARK, MASQ]);
    }
    shared
}

/// Serializes the creation of the shared chains on a node. Two first ADDs
/// racing would both append the entry rules (PREROUTING, OUTPUT,
/// POSTROUTING): iptables-nft-restore replays its appends when the ruleset
/// changed under it, so `-N` failing does not stop them. The lock is taken
/// only while a shared chain is missing (once per node and family); it is
/// our own file, not the xtables lock, which iptables-legacy-restore
/// `--wait` takes itself.
const SETUP_LOCK: &str = "/run/cni-portmap-setup.lock";

/// Take [`SETUP_LOCK`] when one of the shared chains `family` needs is not
/// known to exist. None when nothing is missing, or when the lock file
/// cannot be opened (then the retry below is all there is).
fn lock_if_creating(probe: &mut Probe, conf: &PortmapConf, family: Family) -> Option<File> {
    if shared_chains(conf)
        .iter()
        .all(|c| probe.chain(family, c) == Presence::Present)
    {
        return None;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(SETUP_LOCK);
    match file.and_then(|f| f.lock().map(|()| f)) {
        Ok(f) => Some(f),
        Err(e) => {
            libcni::cni_warn!(
                "portmap: not serializing the shared chains' creation: {SETUP_LOCK}: {e}"
            );
            None
        }
    }
}

fn setup_family(
    probe: &mut Probe,
    conf: &PortmapConf,
    pod: &Pod,
    family: Family,
    net: IpNet,
) -> Result<(), FirewallError> {
    // Held until the script is committed; the probes below see what an
    // ADD that held it before us made.
    let _lock = lock_if_creating(probe, conf, family);
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
    let families: Vec<Family> = families.iter().copied().filter(|f| installed(*f)).collect();
    let rest = match fast_teardown(&mut probe, pod, &families) {
        Ok(rest) => rest,
        Err(_) => families,
    };
    let mut errs = vec![];
    for family in rest {
        if let Err(e) = teardown_family(&mut probe, conf, pod, family)
            && run::usable(family)
        {
            errs.push(e);
        }
    }
    collect(errs)
}

/// iptables-nft: delete the DN chain and every CNI-HOSTPORT-DNAT rule that
/// jumps to it, for all families in one nfnetlink transaction (no exec,
/// no parsing of the shared chain by iptables). Returns the families it
/// could not handle (no probe answer, a legacy SN chain to remove); on
/// error nothing was changed.
fn fast_teardown(
    probe: &mut Probe,
    pod: &Pod,
    families: &[Family],
) -> Result<Vec<Family>, FirewallError> {
    let mut rest = vec![];
    let mut batch = NfBatch::new();
    for &family in families {
        let dn = probe.chain(family, pod.dn_chain.as_str());
        let sn = probe.chain(family, pod.sn_chain.as_str());
        let (Some(p), Presence::Absent) = (probe.0.as_mut(), sn) else {
            rest.push(family);
            continue;
        };
        match dn {
            Presence::Absent => continue,
            Presence::Unknown => {
                rest.push(family);
                continue;
            }
            Presence::Present => {}
        }
        let nf = family;
        if !batch.remove_chain_and_jumps(p, nf, NAT.as_str(), TOP_DNAT, pod.dn_chain.as_str()) {
            rest.push(family);
        }
    }
    batch.commit()?;
    Ok(rest)
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
