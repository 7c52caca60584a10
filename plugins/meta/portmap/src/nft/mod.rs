//! The nftables backend: the reference's `cni_hostport` tables
//! ([`rules`]), one transaction per operation (both families in the same
//! transaction).
//!
//! Costs: ADD asks nfnetlink (no exec) which shared objects exist and
//! whether the shared rules are already right, then applies one
//! `nft -j -f -` that only adds what is missing plus the container's
//! rules: no flush and no re-add of existing objects (both cost the kernel
//! about 10 ms per transaction), so its time does not depend on the node.
//! DEL reads the handles and comments of the per-container chains over
//! nfnetlink and deletes this container's rules by handle in one
//! nfnetlink transaction (`NfBatch`): no exec, nothing at all when
//! nothing is there. Its one cost that grows with the node is that read:
//! the kernel needs about 4 µs per rule to dump the shared chains.
//!
//! Rules are attributed by their comment, the bare container ID, as the
//! reference does; the network is not recorded in nft state, which is why
//! DEL only touches nft state when nftables is the backend in use, and GC
//! leaves nft state alone (it cannot tell which network a rule belongs
//! to, and deleting another network's live mappings is worse than keeping
//! a stale one until its pod's DEL).

pub mod rules;

use libcni::Errors;
use netfilter::nfbatch::NfBatch;
use netfilter::nft::{self, ListedRule, nf_family};
use netfilter::probe::{Presence, Prober, RuleInfo, RuleList};
use netfilter::tools::{self, Tool};
use netfilter::{Driver, Family, FirewallError};
use nftables::batch::Batch;
use nftables::schema::NfListObject;

use crate::config::PortmapConf;
use crate::forward::Forward;
use crate::pod::{Pod, PodAddrs};
use rules::{
    HOSTPORTS, HOSTPORTS_ALL, MASQUERADING, OUTPUT, POD_CHAINS, PREROUTING, Shared, TABLE,
};

/// One container's forwarding in the `cni_hostport` tables.
#[derive(Debug, Clone, Copy)]
pub struct PortmapNft<'a>(pub Forward<'a>);

impl Driver for PortmapNft<'_> {
    fn setup(&self) -> Result<(), FirewallError> {
        setup(self.0.conf, self.0.pod, &self.0.addrs)
    }

    fn teardown(&self, errs: &mut Errors) {
        errs.record(teardown(self.0.pod));
    }

    fn check(&self) -> Result<(), FirewallError> {
        check(self.0.conf, self.0.pod, &self.0.addrs)
    }
}

/// Which shared objects must be written, from what nfnetlink says is
/// there. Without an answer, everything is added and rewritten.
fn plan(prober: &mut Option<Prober>, conf: &PortmapConf, family: Family) -> Shared {
    let Some(p) = prober else {
        return Shared::unknown(conf);
    };
    let nf = family;
    match p.table(nf, TABLE) {
        Presence::Absent => return Shared::fresh(conf),
        Presence::Unknown => return Shared::unknown(conf),
        Presence::Present => {}
    }
    let marker = rules::entry_marker(conf, family);
    let mut chains = vec![];
    let mut state = |chain: &'static str, right: &dyn Fn(&[RuleInfo]) -> bool| match p
        .rules(nf, TABLE, chain)
    {
        RuleList::Absent => {
            chains.push(chain);
            Some(false)
        }
        RuleList::Rules(r) if right(&r) => None,
        RuleList::Rules(r) if r.is_empty() => Some(false),
        RuleList::Rules(_) => Some(true),
        RuleList::Unknown => {
            chains.push(chain);
            Some(true)
        }
    };
    let marked = |r: &[RuleInfo]| r.len() == 1 && r[0].comment.as_deref() == Some(marker.as_str());
    let all = state(HOSTPORTS_ALL, &|r| r.len() == 2);
    let prerouting = state(PREROUTING, &marked);
    let output = state(OUTPUT, &marked);
    for chain in Shared::chains(conf) {
        if [HOSTPORTS_ALL, PREROUTING, OUTPUT].contains(&chain) {
            continue;
        }
        if p.chain(nf, TABLE, chain) != Presence::Present {
            chains.push(chain);
        }
    }
    Shared {
        table: false,
        chains,
        all,
        prerouting,
        output,
    }
}

/// The ADD transaction (public for tests: it shows what a given kernel
/// state leads to).
pub fn setup_batch(conf: &PortmapConf, pod: &Pod, addrs: &PodAddrs) -> Batch<'static> {
    let mut prober = Prober::open();
    let mut b = Batch::new();
    for (family, net) in addrs.each() {
        let plan = plan(&mut prober, conf, family);
        rules::shared(&mut b, conf, family, &plan);
        for obj in rules::dnat_rules(conf, pod, family, net) {
            b.add(obj);
        }
        for obj in rules::masq_rules(conf, pod, family, net) {
            b.add(obj);
        }
    }
    b
}

/// Set up the forwarding for each address the pod has: one transaction.
fn setup(conf: &PortmapConf, pod: &Pod, addrs: &PodAddrs) -> Result<(), FirewallError> {
    nft::apply(&setup_batch(conf, pod, addrs))
}

/// The rules (handle, comment) of one chain: over nfnetlink, or with
/// `nft -j list chain` when the kernel cannot be asked. `None` when the
/// chain does not exist.
fn list(
    prober: &mut Option<Prober>,
    family: Family,
    chain: &str,
) -> Result<Option<Vec<ListedRule>>, FirewallError> {
    nft::list_chain_with(prober.as_mut(), nf_family(family), TABLE, chain)
}

/// Whether `family`'s table may exist (a definite "no" skips its reads).
fn table_may_exist(prober: &mut Option<Prober>, family: Family) -> bool {
    match prober {
        Some(p) => p.table(family, TABLE) != Presence::Absent,
        None => true,
    }
}

/// Delete every rule of the container (comment = container ID) in both
/// families, in one transaction; nothing there runs nothing. The rules
/// are found and deleted over nfnetlink (no exec); `nft` is used only when
/// the kernel cannot be asked that way or the batch failed (a rule
/// vanished meanwhile), after listing again.
fn teardown(pod: &Pod) -> Result<(), FirewallError> {
    let mut prober = Prober::open();
    if let Some(p) = &mut prober
        && let Some(batch) = batch_of(p, pod)
        && batch.commit().is_ok()
    {
        return Ok(());
    }
    if tools::find(Tool::Nft).is_none() {
        return Ok(());
    }
    let mut b = Batch::new();
    let cid = pod.container.as_str();
    for family in Family::ALL {
        if !table_may_exist(&mut prober, family) {
            continue;
        }
        for chain in POD_CHAINS {
            for r in list(&mut prober, family, chain)?.unwrap_or_default() {
                if r.comment.as_deref() == Some(cid) {
                    nft::delete_rule(&mut b, &r);
                }
            }
        }
    }
    nft::apply(&b)
}

/// The deletions of the container's rules, from nfnetlink dumps; `None`
/// when some answer is missing.
fn batch_of(p: &mut Prober, pod: &Pod) -> Option<NfBatch> {
    let mut b = NfBatch::new();
    for family in Family::ALL {
        let nf = family;
        match p.table(nf, TABLE) {
            Presence::Absent => continue,
            Presence::Unknown => return None,
            Presence::Present => {}
        }
        for chain in POD_CHAINS {
            match p.rules(nf, TABLE, chain) {
                RuleList::Absent => {}
                RuleList::Unknown => return None,
                RuleList::Rules(rules) => {
                    for r in rules
                        .iter()
                        .filter(|r| r.comment.as_deref() == Some(pod.container.as_str()))
                    {
                        b.delete_rule(nf, TABLE, chain, r.handle);
                    }
                }
            }
        }
    }
    Some(b)
}

/// Verify, for each family the pod has, that the table and base chains
/// exist and that every rule ADD writes for this container is there
/// (compared statement by statement with `nft -j list chain`).
fn check(conf: &PortmapConf, pod: &Pod, addrs: &PodAddrs) -> Result<(), FirewallError> {
    for (family, net) in addrs.each() {
        let nf = nf_family(family);
        let label = format!("{} {TABLE}", family.nft_name());
        let fail = |what: String| FirewallError::CheckFailed(format!("nftables {label}: {what}"));
        for chain in [PREROUTING, OUTPUT, HOSTPORTS_ALL] {
            match nft::list_chain(nf, TABLE, chain)? {
                Some(r) if !r.is_empty() => {}
                Some(_) => return Err(fail(format!("chain {chain} has no rules"))),
                None => return Err(fail(format!("chain {chain} is missing"))),
            }
        }
        let mut want: Vec<(&str, NfListObject<'static>)> =
            rules::dnat_rules(conf, pod, family, net)
                .into_iter()
                .map(|o| (HOSTPORTS, o))
                .collect();
        want.extend(
            rules::masq_rules(conf, pod, family, net)
                .into_iter()
                .map(|o| (MASQUERADING, o)),
        );
        for chain in [HOSTPORTS, MASQUERADING] {
            let expected: Vec<&NfListObject<'static>> = want
                .iter()
                .filter(|(c, _)| *c == chain)
                .map(|(_, o)| o)
                .collect();
            if expected.is_empty() {
                continue;
            }
            let have = nft::list_chain(nf, TABLE, chain)?
                .ok_or_else(|| fail(format!("chain {chain} is missing")))?;
            for obj in expected {
                let NfListObject::Rule(r) = obj else { continue };
                let expr = serde_json::to_value(&r.expr).unwrap_or_default();
                let found = have.iter().any(|h| {
                    h.comment.as_deref() == Some(pod.container.as_str()) && h.expr == expr
                });
                if !found {
                    return Err(fail(format!(
                        "rule missing from chain {chain} for container {}: {expr}",
                        pod.container
                    )));
                }
            }
        }
    }
    Ok(())
}
