//! The iptables driver of every rule set: one attachment's chain in the
//! nat table, the entry rules in a shared chain that jump to it, and the
//! way they are written, removed and collected. A rule set says what its
//! rules are ([`IptablesRules`]); [`Iptables`] does the rest, the same way
//! for all of them.
//!
//! Costs (execs), the reason for each path:
//! - setup, on iptables-nft, when the shared chains exist and the
//!   attachment's chain does not (every pod but the first): existence
//!   probes over nfnetlink ([`ChainProbe`], microseconds), then the chain,
//!   its rules and the entry rules of every family in ONE nfnetlink
//!   transaction in iptables-nft's own encoding ([`NfBatch`]): no process
//!   and no read. `iptables-restore` would fetch and parse the whole nat
//!   table first (3.7 ms on an empty node, 10 ms at 1,000 pods).
//! - setup otherwise (iptables-legacy, the first pod, a re-ADD, a rule the
//!   encoder does not cover, a refused transaction): the rule set's own
//!   `iptables-restore --noflush` script, one per family; a family that
//!   fails undoes the families already done.
//! - teardown, on iptables-nft: probes for the chain (nothing there, as on
//!   containerd's second DEL, costs nothing more); else the entry chain's
//!   rules are dumped over nfnetlink (handle and jump target, ~4 µs per
//!   rule: the one cost that grows with the node) and the jumps are
//!   deleted by handle with the chain, for both families in one
//!   transaction. The addresses need not be known.
//! - teardown otherwise: per family, one restore deleting the entry rules
//!   setup wrote when they are known; only when that fails (or they are
//!   unknown) are the chains listed to delete what is really there.
//! - GC lists what it needs per family and writes one restore per family.
//!
//! Like the reference, a family whose iptables is not installed, or not
//! usable, holds nothing to remove: its failures are not errors.

pub mod shared;

use libcni::Errors;

use super::Driver;
use crate::error::FirewallError;
use crate::iptables::{Dump, RestoreScript, Rule, SavedRule, Table, run};
use crate::nfbatch::NfBatch;
use crate::probe::{Presence, Prober};
use crate::tools::{self, IptablesVariant, Tool};
use crate::types::{ChainName, Family};

/// Every rule set here lives in the nat table.
const NAT: Table = Table::Nat;

/// Existence questions about nat chains for one operation, answered over
/// nfnetlink where the family's iptables is iptables-nft (whose chains are
/// nf_tables chains); `Unknown` elsewhere.
#[derive(Debug)]
pub struct ChainProbe(Option<Prober>);

impl ChainProbe {
    /// One nfnetlink socket in the calling thread's namespace, if any.
    pub fn open() -> ChainProbe {
        ChainProbe(Prober::open())
    }

    /// A probe that never answers: every question takes the listing path.
    #[cfg(test)]
    pub(crate) fn unanswered() -> ChainProbe {
        ChainProbe(None)
    }

    /// Whether `name` exists in `family`'s nat table.
    pub fn chain(&mut self, family: Family, name: &str) -> Presence {
        if tools::iptables_variant(family) != IptablesVariant::Nft {
            return Presence::Unknown;
        }
        match &mut self.0 {
            Some(p) => p.chain(family, NAT.as_str(), name),
            None => Presence::Unknown,
        }
    }

    /// Whether `name` exists: the probe's answer, or a listing of the chain
    /// when the probe cannot tell (returned for callers that want its
    /// rules).
    pub fn exists(
        &mut self,
        family: Family,
        name: &str,
    ) -> Result<(bool, Option<Dump>), FirewallError> {
        match self.chain(family, name) {
            Presence::Present => Ok((true, None)),
            Presence::Absent => Ok((false, None)),
            Presence::Unknown => {
                let d = run::list_chain(family, NAT, name)?;
                Ok((d.is_some(), d))
            }
        }
    }
}

/// Whether `family`'s iptables is installed at all (nothing of ours can
/// exist without it).
fn installed(family: Family) -> bool {
    tools::find(Tool::restore(family)).is_some() && tools::find(Tool::iptables(family)).is_some()
}

/// The entry rules setup wrote for one family, as far as teardown knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// These rules, in the entry chain: teardown first tries to delete
    /// exactly them (no read).
    Rules(Vec<Rule>),
    /// Nothing in this family (no address of it): trusted when the probe
    /// cannot tell whether the chain exists.
    Nothing,
    /// Not known: teardown reads the entry chain.
    Unknown,
}

/// One attachment's rules in the nat table: what [`Iptables`] needs to
/// know to write, remove and check them.
pub trait IptablesRules {
    /// The families the attachment has an address in (setup and check).
    fn families(&self) -> Vec<Family>;

    /// The attachment's own chain (the same name in both families).
    fn chain(&self) -> &ChainName;

    /// The shared chain whose rules jump to [`IptablesRules::chain`].
    fn entry_chain(&self) -> &'static str;

    /// Chains of the attachment left by older versions: removed (with the
    /// rules of the given shared chain that jump to them) but never made.
    fn legacy_chains(&self) -> Vec<(&'static str, &ChainName)> {
        Vec::new()
    }

    /// The shared chains that must exist in `family` for the one-
    /// transaction setup, or `None` when that setup does not apply to
    /// these rules at all.
    fn fast_requires(&self, family: Family) -> Option<Vec<&'static str>>;

    /// The rules of the attachment's chain in `family`.
    fn chain_rules(&self, family: Family) -> Result<Vec<Rule>, FirewallError>;

    /// The entry rules of `family`, appended to the entry chain.
    fn entry_rules(&self, family: Family) -> Result<Vec<Rule>, FirewallError>;

    /// Set up `family` with `iptables-restore`, when the one-transaction
    /// setup did not apply or was refused. Must leave the family unchanged
    /// on error.
    fn restore_setup(&self, probe: &mut ChainProbe, family: Family) -> Result<(), FirewallError>;

    /// What teardown may assume setup wrote in `family`.
    fn written(&self, family: Family) -> Written;

    /// Verify one family.
    fn check(&self, family: Family) -> Result<(), FirewallError>;
}

/// The driver of a rule set on iptables.
#[derive(Debug)]
pub struct Iptables<R>(pub R);

impl<R: IptablesRules> Driver for Iptables<R> {
    fn setup(&self) -> Result<(), FirewallError> {
        let rules = &self.0;
        let mut probe = ChainProbe::open();
        if let Some(Ok(())) = fast_setup(rules, &mut probe) {
            return Ok(());
        }
        let mut done = vec![];
        for family in rules.families() {
            if let Err(e) = rules.restore_setup(&mut probe, family) {
                // Leave nothing half-made: undo the families already done.
                if !done.is_empty() {
                    teardown_families(rules, &done, &mut Errors::new());
                }
                return Err(e);
            }
            done.push(family);
        }
        Ok(())
    }

    fn teardown(&self, errs: &mut Errors) {
        teardown_families(&self.0, &Family::ALL, errs);
    }

    fn check(&self) -> Result<(), FirewallError> {
        self.0
            .families()
            .into_iter()
            .try_for_each(|family| self.0.check(family))
    }
}

/// The one-transaction setup (see the module docs). `None` when it does
/// not apply; `Some(Err)` when the kernel refused it (nothing changed, e.g.
/// a concurrent ADD made the chain): the caller takes the restore path.
fn fast_setup<R: IptablesRules>(
    rules: &R,
    probe: &mut ChainProbe,
) -> Option<Result<(), FirewallError>> {
    let chain = rules.chain().as_str();
    let entry = rules.entry_chain();
    let mut batch = NfBatch::new();
    for family in rules.families() {
        let shared = rules.fast_requires(family)?;
        if shared
            .iter()
            .any(|c| probe.chain(family, c) != Presence::Present)
            || probe.chain(family, chain) != Presence::Absent
        {
            return None;
        }
        let nf = family;
        batch.new_chain(nf, NAT.as_str(), chain);
        for r in rules.chain_rules(family).ok()? {
            batch
                .append_iptables_rule(family, NAT.as_str(), chain, &r)
                .ok()?;
        }
        for r in rules.entry_rules(family).ok()? {
            batch
                .append_iptables_rule(family, NAT.as_str(), entry, &r)
                .ok()?;
        }
    }
    Some(batch.commit())
}

/// Remove the attachment's state in `families`: over nfnetlink where that
/// applies ([`fast_teardown`]), else with one restore per family.
fn teardown_families<R: IptablesRules>(rules: &R, families: &[Family], errs: &mut Errors) {
    let mut probe = ChainProbe::open();
    let installed: Vec<Family> = families.iter().copied().filter(|f| installed(*f)).collect();
    let rest = match fast_teardown(rules, &mut probe, &installed) {
        Ok(rest) => rest,
        // The kernel refused the transaction (nothing changed): the
        // restore path reports what is wrong, or copes with it.
        Err(_) => installed,
    };
    for family in rest {
        if let Err(e) = restore_teardown(rules, &mut probe, family)
            && run::usable(family)
        {
            errs.push(e);
        }
    }
}

/// iptables-nft: the chain and every entry rule jumping to it, for all
/// families in one nfnetlink transaction. Returns the families left to the
/// restore path (no nfnetlink answer, iptables-legacy, a legacy chain to
/// remove); a family whose chain is absent is done. On error nothing was
/// changed.
fn fast_teardown<R: IptablesRules>(
    rules: &R,
    probe: &mut ChainProbe,
    families: &[Family],
) -> Result<Vec<Family>, FirewallError> {
    let chain = rules.chain().as_str();
    let mut rest = vec![];
    let mut batch = NfBatch::new();
    for &family in families {
        let own = probe.chain(family, chain);
        let legacy_absent = rules
            .legacy_chains()
            .iter()
            .all(|(_, c)| probe.chain(family, c.as_str()) == Presence::Absent);
        match own {
            _ if !legacy_absent => {
                rest.push(family);
                continue;
            }
            Presence::Absent => continue,
            Presence::Unknown => {
                rest.push(family);
                continue;
            }
            Presence::Present => {}
        }
        let queued = probe.0.as_mut().is_some_and(|p| {
            batch.remove_chain_and_jumps(p, family, NAT.as_str(), rules.entry_chain(), chain)
        });
        if !queued {
            rest.push(family);
        }
    }
    batch.commit()?;
    Ok(rest)
}

/// One family with `iptables-restore`: delete what setup wrote when that
/// is known (no read), else (or when that fails: an older form, a
/// duplicate, nothing at all) list the entry chains and delete what is
/// really there.
pub(crate) fn restore_teardown<R: IptablesRules>(
    rules: &R,
    probe: &mut ChainProbe,
    family: Family,
) -> Result<(), FirewallError> {
    let chain = rules.chain();
    let own = probe.chain(family, chain.as_str());
    let legacy: Vec<(&str, &ChainName, Presence)> = rules
        .legacy_chains()
        .into_iter()
        .map(|(from, c)| (from, c, probe.chain(family, c.as_str())))
        .collect();
    let legacy_absent = legacy.iter().all(|(_, _, p)| *p == Presence::Absent);
    if own == Presence::Absent && legacy_absent {
        return Ok(());
    }
    match rules.written(family) {
        // Without a probe, trust what is known: no address of this family
        // means the attachment never had state here (the reference only
        // tears down the addresses it is given).
        Written::Nothing if own == Presence::Unknown && legacy_absent => return Ok(()),
        Written::Rules(entries) if !entries.is_empty() && legacy_absent => {
            let entry = ChainName::new(rules.entry_chain())?;
            let mut s = RestoreScript::new(family);
            s.declare(NAT, chain);
            for r in &entries {
                s.delete(NAT, &entry, r)?;
            }
            s.delete_chain(NAT, chain);
            if run::restore(&s).is_ok() {
                return Ok(());
            }
        }
        _ => {}
    }
    let mut s = RestoreScript::new(family);
    remove_chain(&mut s, family, rules.entry_chain(), chain, own)?;
    for (from, c, p) in legacy {
        remove_chain(&mut s, family, from, c, p)?;
    }
    run::restore(&s)
}

/// Add to `s` the removal of `target` and of every rule of `from` jumping
/// to it, as listed now (nothing when neither exists).
fn remove_chain(
    s: &mut RestoreScript,
    family: Family,
    from: &str,
    target: &ChainName,
    presence: Presence,
) -> Result<(), FirewallError> {
    if presence == Presence::Absent {
        return Ok(());
    }
    let refs: Vec<SavedRule> = run::list_chain(family, NAT, from)?
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

/// A chain GC found stale, with the rules (as listed) that jump to it.
#[derive(Debug, Clone)]
pub struct Stale {
    /// The attachment's chain.
    pub chain: ChainName,
    /// The entry rules jumping to it.
    pub jumps: Vec<SavedRule>,
}

/// A network's rules in the nat table, as GC sees them.
pub trait IptablesGc {
    /// The chains of `family` that belong to attachments of the network no
    /// longer in the valid list, each with the rules jumping to it.
    fn stale(&self, family: Family) -> Result<Vec<Stale>, FirewallError>;
}

/// Remove the stale chains (and their jumps) of both families: one read
/// and at most one restore per family. Failures are recorded in `errs`.
pub fn gc<G: IptablesGc + ?Sized>(network: &G, errs: &mut Errors) {
    for family in Family::ALL {
        if !installed(family) {
            continue;
        }
        if let Err(e) = gc_family(network, family)
            && run::usable(family)
        {
            errs.push(e);
        }
    }
}

fn gc_family<G: IptablesGc + ?Sized>(network: &G, family: Family) -> Result<(), FirewallError> {
    let mut script = RestoreScript::new(family);
    for stale in network.stale(family)? {
        for r in &stale.jumps {
            script.delete_saved(NAT, r)?;
        }
        script.declare(NAT, &stale.chain);
        script.delete_chain(NAT, &stale.chain);
    }
    run::restore(&script)
}

/// The rules of `want` that `have` (a chain's listing) lacks, first one
/// first: what CHECK reports.
pub fn first_missing<'a>(
    family: Family,
    have: &[&SavedRule],
    want: &'a [Rule],
) -> Option<&'a Rule> {
    want.iter()
        .find(|r| !have.iter().any(|s| r.is_saved_as(s, family)))
}
