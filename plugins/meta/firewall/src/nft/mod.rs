//! The nftables backend (the reference has none): it needs no iptables
//! binary at all, only `nft` for ADD (DEL and GC use nfnetlink alone).
//!
//! # Where the accept path goes
//!
//! nftables runs every base chain registered at a hook, each on its own:
//! an `accept` ends the evaluation of one base chain only, and a `drop` in
//! any of them is final. Accepting a pod's traffic in a table of our own
//! therefore does nothing against a node whose forward policy is drop in
//! another table. So the accept path is written into every table that
//! holds a filter base chain on the forward hook (an "anchor"), the same
//! way the iptables backend writes it into `FORWARD`:
//!
//! ```text
//! table inet filter {                       # the node's own, policy drop
//!     chain forward { type filter hook forward priority filter; policy drop;
//!         jump cni_isolation_stage_1 comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)"
//!         jump cni_forward comment "CNI firewall plugin rules"
//!         ...the administrator's rules...
//!     }
//!     chain cni_forward {
//!         jump cni_admin comment "CNI firewall plugin admin overrides"
//!         ip daddr 10.88.0.2 ct state established,related accept comment "<hash>, net: .., if: .., id: .."
//!         ip saddr 10.88.0.2 accept comment "<hash>, net: .., if: .., id: .."
//!     }
//!     chain cni_admin { }
//!     chain cni_isolation_stage_1 { iifname "cni0" oifname != "cni0" jump cni_isolation_stage_2 comment ".. bridge: cni0" }
//!     chain cni_isolation_stage_2 { oifname "cni0" drop comment ".. bridge: cni0" }
//! }
//! ```
//!
//! Our own table `inet cni_plugins_firewall` (a `forward` base chain with
//! policy accept) is always one of the anchors, so the rules exist, can be
//! checked and listed also on a node with no forward chain of its own.
//! The jumps are put first in each forward base chain when missing and
//! never moved or removed (like the iptables `FORWARD` jump); the chains
//! `cni_forward`, `cni_admin` and the isolation chains are shared and
//! stay. Only the per-address rules belong to the attachment: they carry
//! its comment (the masquerade rules' form, whose hash prefix names the
//! attachment), which is how DEL and GC find them in every table, without
//! knowing the addresses.
//!
//! A table iptables-nft manages (`ip`/`ip6 filter` with a `FORWARD` base
//! chain: Docker's `FORWARD` policy drop lives there) gets the reference's
//! iptables layout instead ([`crate::iptables`]), written over nfnetlink in
//! iptables-nft's own encoding (netfilter's `InKernel` driver): a native
//! rule there would make iptables-nft refuse to list the table, and no
//! iptables binary is needed for it.
//!
//! A base chain created after ADD (the administrator loads a ruleset) has
//! no accept path for pods already running; the next ADD puts the jump
//! there, CHECK reports it.

pub mod rules;

use std::borrow::Cow;
use std::net::IpAddr;

use libcni::Errors;
use nftables::batch::Batch;
use nftables::schema::{NfCmd, NfListObject, Rule as NftRule};
use nftables::types::{NfFamily, NfHook};

use netfilter::driver::iptables::shared::{InKernel, lock};
use netfilter::nft::build::{chain, filter_chain, table};
use netfilter::probe::{ChainInfo, Hook, Prober, RuleInfo, RuleList};
use netfilter::{ChainName, Driver, Family, FirewallError, IfName, TableFamily, nft};

use crate::config::IngressPolicy;
use crate::iptables::FilterRules;
use crate::iptables::{ADMIN_COMMENT, ISOLATION_COMMENT, RULES_COMMENT, SETUP_LOCK};
use crate::pod::Pod;
use rules::{ADMIN, Anchor, BASE, CHAIN, STAGE_1, STAGE_2, TABLE};

/// nft's `filter` priority.
const FILTER_PRIORITY: i32 = 0;

/// One attachment's rules on nftables.
#[derive(Debug, Clone, Copy)]
pub struct NftRules<'a> {
    /// The attachment (its rules' comment).
    pub pod: &'a Pod,
    /// Its addresses.
    pub ips: &'a [IpAddr],
    /// The accept path, with this admin chain (used in iptables-nft's
    /// tables); `None` with firewalld, which only needs isolation here.
    pub admin: Option<&'a ChainName>,
    /// The policy and bridge, when isolation rules are wanted.
    pub isolation: Option<(IngressPolicy, &'a IfName)>,
}

fn nf_family(f: TableFamily) -> Option<NfFamily> {
    match f {
        TableFamily::Ip(Family::V4) => Some(NfFamily::IP),
        TableFamily::Ip(Family::V6) => Some(NfFamily::IP6),
        TableFamily::Inet => Some(NfFamily::INet),
        TableFamily::Bridge => None,
    }
}

fn table_family(f: NfFamily) -> TableFamily {
    match f {
        NfFamily::IP6 => TableFamily::Ip(Family::V6),
        NfFamily::IP => TableFamily::Ip(Family::V4),
        _ => TableFamily::Inet,
    }
}

/// Whether `c` is the `FORWARD` chain of a table iptables-nft manages.
fn iptables_nft_forward(c: &ChainInfo) -> bool {
    matches!(c.family, TableFamily::Ip(_)) && c.table == "filter" && c.name == "FORWARD"
}

fn is_forward_filter(c: &ChainInfo) -> bool {
    matches!(c.hook, Some((Hook::Forward, _))) && c.kind.as_deref() == Some("filter")
}

/// The anchors among `chains` (ours first, always), and the iptables-nft
/// `FORWARD` chains left out.
pub fn anchors(chains: &[ChainInfo]) -> (Vec<Anchor>, Vec<&ChainInfo>) {
    let mut out = vec![Anchor {
        family: NfFamily::INet,
        table: TABLE.to_string(),
        bases: vec![BASE.to_string()],
    }];
    let mut skipped = vec![];
    for c in chains.iter().filter(|c| is_forward_filter(c)) {
        if iptables_nft_forward(c) {
            skipped.push(c);
            continue;
        }
        let Some(family) = nf_family(c.family) else {
            continue;
        };
        match out
            .iter_mut()
            .find(|a| a.family == family && a.table == c.table)
        {
            Some(a) if !a.bases.contains(&c.name) => a.bases.push(c.name.clone()),
            Some(_) => {}
            None => out.push(Anchor {
                family,
                table: c.table.clone(),
                bases: vec![c.name.clone()],
            }),
        }
    }
    (out, skipped)
}

/// Rules of one chain as the kernel lists them (empty when absent).
fn listed(p: &mut Prober, a: &Anchor, chain: &str) -> Result<Vec<RuleInfo>, FirewallError> {
    match p.rules(table_family(a.family), &a.table, chain) {
        RuleList::Rules(r) => Ok(r),
        RuleList::Absent => Ok(vec![]),
        RuleList::Unknown => Err(unreachable_kernel()),
    }
}

fn unreachable_kernel() -> FirewallError {
    FirewallError::Unavailable("nf_tables does not answer over nfnetlink".into())
}

fn open() -> Result<(Prober, Vec<ChainInfo>), FirewallError> {
    let mut p = Prober::open().ok_or_else(unreachable_kernel)?;
    let chains = p.ip_chains().ok_or_else(unreachable_kernel)?;
    Ok((p, chains))
}

fn jumps_to(rules: &[RuleInfo], target: &str) -> bool {
    rules.iter().any(|r| r.target.as_deref() == Some(target))
}

/// `insert rule ...`: first in its chain.
fn insert(b: &mut Batch<'static>, rule: NfListObject<'static>) {
    b.add_cmd(NfCmd::Insert(rule));
}

fn delete(b: &mut Batch<'static>, a: &Anchor, chain: &'static str, handle: u64) {
    let Ok(handle) = u32::try_from(handle) else {
        return;
    };
    b.add_cmd(NfCmd::Delete(NfListObject::Rule(NftRule {
        family: a.family,
        table: Cow::Owned(a.table.clone()),
        chain: Cow::Borrowed(chain),
        expr: Cow::Owned(vec![]),
        handle: Some(handle),
        index: None,
        comment: None,
    })));
}

impl NftRules<'_> {
    /// The setup transaction, from what the kernel holds now, and whether
    /// it changes node-level state (a jump, a shared chain's jump).
    fn batch(
        &self,
        p: &mut Prober,
        anchors: &[Anchor],
    ) -> Result<(Batch<'static>, bool), FirewallError> {
        let mut node_level = false;
        let mut b = Batch::new();
        b.add(table(NfFamily::INet, TABLE));
        b.add(NfListObject::Chain(filter_chain(
            NfFamily::INet,
            TABLE,
            BASE,
            NfHook::Forward,
            FILTER_PRIORITY,
        )));
        let comment = self.pod.nft_comment();
        let prefix = self.pod.nft_prefix();
        for a in anchors {
            let t = || Cow::Owned(a.table.clone());
            let bases: Vec<(String, Vec<RuleInfo>)> = a
                .bases
                .iter()
                .map(|base| listed(p, a, base).map(|r| (base.clone(), r)))
                .collect::<Result<_, _>>()?;
            if self.admin.is_some() {
                for c in [CHAIN, ADMIN] {
                    b.add(NfListObject::Chain(chain(a.family, t(), c)));
                }
                let have = listed(p, a, CHAIN)?;
                if !jumps_to(&have, ADMIN) {
                    node_level = true;
                    insert(&mut b, a.rule(CHAIN, rules::jump_to(ADMIN), ADMIN_COMMENT));
                }
                // A repeated ADD replaces the attachment's rules.
                for r in have.iter().filter(|r| has_prefix(r, &prefix)) {
                    delete(&mut b, a, CHAIN, r.handle);
                }
                for ip in self.ips.iter().filter(|ip| a.admits(Family::of(**ip))) {
                    for expr in rules::accepts(*ip) {
                        b.add(a.rule(CHAIN, expr, comment.clone()));
                    }
                }
                for (base, have) in &bases {
                    if !jumps_to(have, CHAIN) {
                        node_level = true;
                        insert(
                            &mut b,
                            a.base_rule(base, rules::jump_to(CHAIN), RULES_COMMENT),
                        );
                    }
                }
            }
            if let Some((policy, bridge)) = self.isolation {
                for c in [STAGE_1, STAGE_2] {
                    b.add(NfListObject::Chain(chain(a.family, t(), c)));
                }
                let stage1 = listed(p, a, STAGE_1)?;
                let stage2 = listed(p, a, STAGE_2)?;
                for r in rules::isolation(policy, bridge) {
                    let have = if r.chain == STAGE_1 { &stage1 } else { &stage2 };
                    let present = have.iter().any(|h| {
                        h.comment.as_deref() == Some(r.comment.as_str())
                            && h.target.as_deref() == r.target
                    });
                    if !present {
                        node_level = true;
                        insert(&mut b, a.rule(r.chain, r.expr, r.comment));
                    }
                }
                for (base, have) in &bases {
                    if !jumps_to(have, STAGE_1) {
                        node_level = true;
                        insert(
                            &mut b,
                            a.base_rule(base, rules::jump_to(STAGE_1), ISOLATION_COMMENT),
                        );
                    }
                }
            }
        }
        Ok((b, node_level))
    }
}

fn has_prefix(r: &RuleInfo, prefix: &str) -> bool {
    r.comment.as_deref().is_some_and(|c| c.starts_with(prefix))
}

/// The IP families whose iptables-nft `FORWARD` chain exists.
fn iptables_nft_families(skipped: &[&ChainInfo]) -> Vec<Family> {
    Family::ALL
        .into_iter()
        .filter(|f| skipped.iter().any(|c| c.family == TableFamily::Ip(*f)))
        .collect()
}

impl<'a> NftRules<'a> {
    /// The part of the rules for iptables-nft's tables of `families`, over
    /// `ips` (the addresses of those families).
    fn in_iptables(&self, ips: &'a [IpAddr]) -> InKernel<FilterRules<'a>> {
        InKernel(FilterRules {
            ips,
            admin: self.admin,
            isolation: self.isolation,
        })
    }
}

fn of_families(ips: &[IpAddr], families: &[Family]) -> Vec<IpAddr> {
    ips.iter()
        .copied()
        .filter(|ip| families.contains(&Family::of(*ip)))
        .collect()
}

impl Driver for NftRules<'_> {
    fn setup(&self) -> Result<(), FirewallError> {
        let (mut p, chains) = open()?;
        let (anchors, skipped) = anchors(&chains);
        {
            let (mut batch, node_level) = self.batch(&mut p, &anchors)?;
            // Jumps are added under the lock, decided on a read made while
            // holding it, so two first pods cannot both add one. It is
            // released before the iptables-nft part, which takes it again
            // (an flock is per open file: taking it twice would wait on
            // ourselves).
            let held = node_level.then(|| lock(SETUP_LOCK)).flatten();
            if held.is_some() {
                batch = self.batch(&mut p, &anchors)?.0;
            }
            nft::apply(&batch)?;
        }
        let ips = of_families(self.ips, &iptables_nft_families(&skipped));
        if ips.is_empty() {
            return Ok(());
        }
        self.in_iptables(&ips).setup().inspect_err(|_| {
            // Nothing half-made: the native rules go again.
            let _ = remove(self.pod);
        })
    }

    /// The attachment's rules, found by their comment in every table that
    /// has a `cni_forward` chain, deleted by handle in one nfnetlink
    /// transaction, and its rules in iptables-nft's tables, found by their
    /// content: no exec.
    fn teardown(&self, errs: &mut Errors) {
        errs.record(remove(self.pod));
        self.in_iptables(self.ips).teardown(errs);
    }

    fn check(&self) -> Result<(), FirewallError> {
        let (mut p, chains) = open()?;
        let (anchors, skipped) = anchors(&chains);
        let ips = of_families(self.ips, &iptables_nft_families(&skipped));
        if !ips.is_empty() {
            self.in_iptables(&ips).check()?;
        }
        let missing = |what: String| Err(FirewallError::CheckFailed(what));
        let comment = self.pod.nft_comment();
        for a in &anchors {
            let name = format!("{} {}", a.family_name(), a.table);
            for base in &a.bases {
                let have = listed(&mut p, a, base)?;
                if self.admin.is_some() && !jumps_to(&have, CHAIN) {
                    return missing(format!(
                        "no jump to {CHAIN} in chain {base} of table {name}"
                    ));
                }
                if self.isolation.is_some() && !jumps_to(&have, STAGE_1) {
                    return missing(format!(
                        "no jump to {STAGE_1} in chain {base} of table {name}"
                    ));
                }
            }
            if self.admin.is_some() {
                let listing = nft::list_chain(a.family, &a.table, CHAIN)?.unwrap_or_default();
                for ip in self.ips.iter().filter(|ip| a.admits(Family::of(**ip))) {
                    for field in ["daddr", "saddr"] {
                        let found = listing.iter().any(|r| {
                            r.comment.as_deref() == Some(comment.as_str())
                                && matches_addr(&r.expr, field, *ip)
                        });
                        if !found {
                            return missing(format!(
                                "no rule accepting {field} {ip} in chain {CHAIN} of table {name}"
                            ));
                        }
                    }
                }
            }
            if let Some((policy, bridge)) = self.isolation {
                for r in rules::isolation(policy, bridge) {
                    let have = listed(&mut p, a, r.chain)?;
                    if !have.iter().any(|h| {
                        h.comment.as_deref() == Some(r.comment.as_str())
                            && h.target.as_deref() == r.target
                    }) {
                        return missing(format!(
                            "isolation rule \"{}\" missing from chain {} of table {name}",
                            r.comment, r.chain
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Anchor {
    fn family_name(&self) -> &'static str {
        table_family(self.family).name()
    }
}

/// Whether a listed rule's statements match `field` (`saddr`/`daddr`)
/// against exactly `ip`.
fn matches_addr(expr: &serde_json::Value, field: &str, ip: IpAddr) -> bool {
    let want = ip.to_string();
    expr.as_array().is_some_and(|stmts| {
        stmts.iter().any(|st| {
            let Some(m) = st.get("match") else {
                return false;
            };
            m.get("left")
                .and_then(|l| l.get("payload"))
                .and_then(|p| p.get("field"))
                .is_some_and(|f| f == field)
                && m.get("right").and_then(|r| r.as_str()) == Some(want.as_str())
        })
    })
}

/// Delete `pod`'s rules from every `cni_forward` chain (DEL, GC).
pub fn remove(pod: &Pod) -> Result<(), FirewallError> {
    let (mut p, chains) = match open() {
        Ok(x) => x,
        // No nf_tables: nothing of ours can exist.
        Err(_) => return Ok(()),
    };
    let prefix = pod.nft_prefix();
    let mut batch = netfilter::nfbatch::NfBatch::new();
    for c in chains.iter().filter(|c| c.name == CHAIN) {
        let RuleList::Rules(rules) = p.rules(c.family, &c.table, CHAIN) else {
            continue;
        };
        for r in rules.iter().filter(|r| has_prefix(r, &prefix)) {
            batch.delete_rule(c.family, &c.table, CHAIN, r.handle);
        }
    }
    batch.commit()
}

#[cfg(test)]
mod tests;
