//! The iptables rule set: the reference's nat-table layout ([`rules`]), as
//! netfilter's iptables driver ([`netfilter::driver::iptables`]) writes,
//! removes and collects it, at a cost that does not grow with the number
//! of pods.
//!
//! What each operation costs (iptables-nft, whose chains the nfnetlink
//! probe sees without an exec):
//! - ADD, common case (shared chains exist, default mark bit, new pod):
//!   existence probes (microseconds), then the DN chain, its rules and the
//!   entry rules of every family in one nfnetlink transaction, written in
//!   iptables-nft's own encoding (netfilter's `nftenc`): no exec, no read.
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
//!   both families in one nfnetlink transaction (`NfBatch`): no exec,
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

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;

use ipnet::IpNet;
use libcni::spec::Attachment;
use netfilter::driver::iptables::{
    ChainProbe, IptablesGc, IptablesRules, Stale, Written, first_missing,
};
use netfilter::iptables::{RestoreScript, Rule, SavedRule, Table, run};
use netfilter::probe::Presence;
use netfilter::{ChainName, Family, FirewallError, Ident};

use crate::config::{DEFAULT_MARK_BIT, PortmapConf};
use crate::forward::Forward;
use crate::pod::{self, Pod};
use rules::{MASQ, OLD_TOP_SNAT, SETMARK, TOP_DNAT, chain};

const NAT: Table = Table::Nat;

/// One container's forwarding in the nat table: its `CNI-DN-` chain, the
/// entry rules in `CNI-HOSTPORT-DNAT` that jump to it, and the shared
/// chains they need.
#[derive(Debug, Clone, Copy)]
pub struct PortmapNat<'a>(pub Forward<'a>);

impl IptablesRules for PortmapNat<'_> {
    fn families(&self) -> Vec<Family> {
        self.0.addrs.families()
    }

    fn chain(&self) -> &ChainName {
        &self.0.pod.dn_chain
    }

    fn entry_chain(&self) -> &'static str {
        TOP_DNAT
    }

    fn legacy_chains(&self) -> Vec<(&'static str, &ChainName)> {
        vec![(OLD_TOP_SNAT, &self.0.pod.sn_chain)]
    }

    /// The shared chains, with the default mark bit (a different one means
    /// checking the shared chains' rule: the restore path).
    fn fast_requires(&self, _family: Family) -> Option<Vec<&'static str>> {
        (self.0.conf.mark_masq_bit == DEFAULT_MARK_BIT).then(|| shared_chains(self.0.conf))
    }

    fn chain_rules(&self, family: Family) -> Result<Vec<Rule>, FirewallError> {
        Ok(match self.0.addrs.get(family) {
            Some(net) => rules::dn_rules(self.0.conf, family, net),
            None => vec![],
        })
    }

    fn entry_rules(&self, family: Family) -> Result<Vec<Rule>, FirewallError> {
        Ok(rules::entry_rules(self.0.conf, self.0.pod, family))
    }

    fn restore_setup(&self, probe: &mut ChainProbe, family: Family) -> Result<(), FirewallError> {
        match self.0.addrs.get(family) {
            Some(net) => setup_family(probe, self.0.conf, self.0.pod, family, net),
            None => Ok(()),
        }
    }

    /// The entry rules derived from the config (what ADD wrote: they do not
    /// depend on the pod address); unknown without mappings.
    fn written(&self, family: Family) -> Written {
        if self.0.conf.mappings.is_empty() {
            Written::Unknown
        } else {
            Written::Rules(rules::entry_rules(self.0.conf, self.0.pod, family))
        }
    }

    fn check(&self, family: Family) -> Result<(), FirewallError> {
        let Forward { conf, pod, addrs } = self.0;
        let Some(net) = addrs.get(family) else {
            return Ok(());
        };
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
        Ok(())
    }
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
fn lock_if_creating(probe: &mut ChainProbe, conf: &PortmapConf, family: Family) -> Option<File> {
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
    probe: &mut ChainProbe,
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

/// Create `name` holding exactly `rule` when it is missing; when it exists
/// and `verify` is set (or its content was read anyway), add `rule` if it
/// is not there (the reference's InsertUnique). Returns whether the chain
/// is created by this script.
fn ensure_single_rule_chain(
    script: &mut RestoreScript,
    probe: &mut ChainProbe,
    family: Family,
    name: &'static str,
    rule: &Rule,
    verify: bool,
) -> Result<bool, FirewallError> {
    let chain = chain(name);
    let (exists, dump) = probe.exists(family, name)?;
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
        && !d.rules_in(name).any(|r| rule.is_saved_as(r, family))
    {
        script.append(NAT, &chain, rule)?;
    }
    Ok(false)
}

/// The ADD script of one family (pure apart from the probes and the
/// off-path reads described in the module docs).
fn setup_script(
    probe: &mut ChainProbe,
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
    let (top_exists, _) = probe.exists(family, TOP_DNAT)?;
    if !top_exists {
        s.new_chain(NAT, &chain(TOP_DNAT));
        s.append(NAT, &chain("PREROUTING"), &rules::top_jump())?;
        s.append(NAT, &chain("OUTPUT"), &rules::top_jump())?;
    }
    let dn = &pod.dn_chain;
    let (dn_exists, _) = probe.exists(family, dn.as_str())?;
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

/// CHECK: `name` exists in `family`'s nat table and holds every rule of
/// `want`.
fn require(family: Family, name: &str, want: &[Rule]) -> Result<(), FirewallError> {
    let dump = run::list_chain(family, NAT, name)?.ok_or_else(|| {
        FirewallError::CheckFailed(format!(
            "chain {name} is missing from the {} nat table",
            family.label()
        ))
    })?;
    let have: Vec<&SavedRule> = dump.rules_in(name).collect();
    match first_missing(family, &have, want) {
        Some(r) => Err(FirewallError::CheckFailed(format!(
            "portmap rule missing from {} nat chain {name}: {}",
            family.label(),
            r.text(family)
        ))),
        None => Ok(()),
    }
}

/// The DNAT state of one network for GC: iptables state is per container
/// (the ifname does not matter), so a container ID in `valid` keeps its
/// chain.
#[derive(Debug, Clone, Copy)]
pub struct PortmapGc<'a> {
    /// The network whose state is collected.
    pub network: &'a Ident,
    /// `cni.dev/valid-attachments`.
    pub valid: &'a [Attachment],
}

impl IptablesGc for PortmapGc<'_> {
    /// One read of CNI-HOSTPORT-DNAT. Entry rules are attributed by their
    /// comment, and only when the chain they jump to is the one derived
    /// from that network and container.
    fn stale(&self, family: Family) -> Result<Vec<Stale>, FirewallError> {
        let keep: HashSet<&str> = self.valid.iter().map(|a| a.container_id.as_str()).collect();
        let Some(top) = run::list_chain(family, NAT, TOP_DNAT)? else {
            return Ok(vec![]);
        };
        let mut stale: BTreeMap<ChainName, Vec<SavedRule>> = BTreeMap::new();
        for r in top.rules_in(TOP_DNAT) {
            let Some((net, cid)) = r.comment().and_then(pod::parse_dnat_comment) else {
                continue;
            };
            if &net != self.network || keep.contains(cid.as_str()) {
                continue;
            }
            let dn = pod::dnat_chain(&net, &cid)?;
            if r.target() != Some(dn.as_str()) {
                continue;
            }
            stale.entry(dn).or_default().push(r.clone());
        }
        Ok(stale
            .into_iter()
            .map(|(chain, jumps)| Stale { chain, jumps })
            .collect())
    }
}
