//! The iptables driver of rule sets that own no chain: an attachment's
//! rules live in chains it shares with every other attachment (the
//! firewall plugin's `CNI-FORWARD` in the filter table), next to node-level
//! rules that are made once and never removed (the `FORWARD` jump).
//!
//! A rule set describes, per family, what must exist ([`Layout`]): chains
//! (created when absent, never flushed or removed), node-level rules and
//! the attachment's own rules, each with where it goes when missing
//! ([`Place`]). [`Shared`] reads what is there, adds exactly what is
//! missing in one commit, removes exactly the attachment's own rules, and
//! checks without changing anything.
//!
//! Costs (execs):
//! - reads, on iptables-nft: the chains involved are dumped over
//!   nfnetlink (microseconds; a rule without a comment is recognised by
//!   its expressions, [`nftenc::same_expressions`]); elsewhere one
//!   `iptables -t <table> -S` per family.
//! - setup, on iptables-nft when the table's built-in chains exist: ONE
//!   nfnetlink transaction for every family, in iptables-nft's own
//!   encoding, no process; otherwise one `iptables-restore --noflush` per
//!   family (the first attachment on a node, iptables-legacy). A commit
//!   refused because another attachment changed the chains meanwhile is
//!   retried after a new read.
//! - teardown: the attachment's rules found by content and deleted by
//!   handle in one transaction (iptables-nft), or one restore of `-D`
//!   lines per family.
//! - node-level changes (a missing chain or shared rule) happen under a
//!   lock file named by the rule set, so two first attachments racing
//!   cannot both insert the same jump.
//!
//! Like the rest of the driver, a family whose iptables is not installed
//! holds nothing to remove.

mod seen;

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;

use libcni::Errors;

use super::super::Driver;
use super::installed;
use crate::error::FirewallError;
use crate::iptables::{RestoreScript, Rule, Table, run};
use crate::nfbatch::NfBatch;
use crate::probe::Prober;
use crate::types::{ChainName, Family};
use seen::{Rules, Seen};

/// How often a commit refused by a concurrent change is retried.
const ATTEMPTS: usize = 3;

/// Where a missing rule goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// First in the chain (`-I CHAIN 1`).
    Head,
    /// Last in the chain (`-A CHAIN`).
    Tail,
}

/// One rule a rule set needs in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The chain.
    pub chain: ChainName,
    /// The rule, as it is written when missing.
    pub rule: Rule,
    /// Where it goes when missing.
    pub place: Place,
    /// Other forms of the same rule, written by older versions (another
    /// comment): the rule counts as present when one of them is.
    pub also: Vec<Rule>,
}

impl Placed {
    /// `rule` in `chain`, placed at `place`, with no other form.
    pub fn new(chain: ChainName, rule: Rule, place: Place) -> Placed {
        Placed {
            chain,
            rule,
            place,
            also: vec![],
        }
    }

    /// The same, also recognised in the form `older`.
    pub fn or(mut self, older: Rule) -> Placed {
        self.also.push(older);
        self
    }

    fn forms(&self) -> impl Iterator<Item = &Rule> {
        std::iter::once(&self.rule).chain(&self.also)
    }
}

/// What one family of a rule set needs. Entries are made in this order
/// (chains, then node-level rules, then the attachment's), so two rules
/// placed at the head of one chain end up in the reverse of their order
/// here, as with two `-I CHAIN 1` in a row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Regular chains: created when absent, never flushed or removed.
    pub chains: Vec<ChainName>,
    /// Node-level rules: added when absent, never removed.
    pub shared: Vec<Placed>,
    /// The attachment's own rules: added when absent, removed by its
    /// teardown (one occurrence each, as `iptables -D` removes one).
    pub own: Vec<Placed>,
}

impl Layout {
    /// Add another part (the accept rules and the isolation rules of one
    /// attachment, written in one commit).
    pub fn extend(&mut self, other: Layout) {
        for c in other.chains {
            if !self.chains.contains(&c) {
                self.chains.push(c);
            }
        }
        self.shared.extend(other.shared);
        self.own.extend(other.own);
    }

    /// Every chain a rule of the layout is in, and every chain it creates,
    /// each once.
    fn involved(&self) -> Vec<&ChainName> {
        let mut out: Vec<&ChainName> = vec![];
        for c in self
            .chains
            .iter()
            .chain(self.shared.iter().chain(&self.own).map(|p| &p.chain))
        {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }
}

/// An attachment's rules in shared chains, as [`Shared`] writes them.
pub trait SharedRules {
    /// The table (the same in both families).
    fn table(&self) -> Table;

    /// The families with something to set up or check.
    fn families(&self) -> Vec<Family>;

    /// What `family` needs.
    fn layout(&self, family: Family) -> Result<Layout, FirewallError>;

    /// The lock file that serialises node-level changes (a missing chain
    /// or shared rule), or `None` to take none.
    fn lock_path(&self) -> Option<&'static str>;
}

/// The driver of a [`SharedRules`] rule set.
#[derive(Debug)]
pub struct Shared<R>(pub R);

/// The driver of a [`SharedRules`] rule set written into iptables-nft's
/// tables over nfnetlink only, whatever iptables is installed (or none),
/// and never with an exec: for a backend that does not use iptables but
/// must put its rules where an iptables-nft table already drops traffic
/// (the firewall plugin's nftables backend). The table and its built-in
/// chains must exist; nothing is created if they do not.
#[derive(Debug)]
pub struct InKernel<R>(pub R);

/// How chains are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Over nfnetlink where iptables-nft is the installed iptables, else
    /// with the tools.
    Auto,
    /// Over nfnetlink only.
    Kernel,
}

impl<R: SharedRules> Driver for Shared<R> {
    fn setup(&self) -> Result<(), FirewallError> {
        setup(&self.0, Mode::Auto)
    }

    fn teardown(&self, errs: &mut Errors) {
        let families: Vec<Family> = self
            .0
            .families()
            .into_iter()
            .filter(|f| installed(*f))
            .collect();
        if let Err(e) = remove_own(&self.0, &families, Mode::Auto) {
            errs.push(e);
        }
    }

    fn check(&self) -> Result<(), FirewallError> {
        check(&self.0, Mode::Auto)
    }
}

impl<R: SharedRules> Driver for InKernel<R> {
    fn setup(&self) -> Result<(), FirewallError> {
        setup(&self.0, Mode::Kernel)
    }

    fn teardown(&self, errs: &mut Errors) {
        if let Err(e) = remove_own(&self.0, &self.0.families(), Mode::Kernel) {
            errs.push(e);
        }
    }

    fn check(&self) -> Result<(), FirewallError> {
        check(&self.0, Mode::Kernel)
    }
}

fn check<R: SharedRules>(rules: &R, mode: Mode) -> Result<(), FirewallError> {
    let table = rules.table();
    for family in rules.families() {
        let layout = rules.layout(family)?;
        let seen = Seen::read(table, family, &layout, &mut Prober::open(), mode)?;
        if let Some(c) = layout.chains.iter().find(|c| !seen.has_chain(c)) {
            return Err(FirewallError::CheckFailed(format!(
                "chain {c} is missing from the {} {} table",
                family.label(),
                table.as_str()
            )));
        }
        let mut taken = vec![];
        for p in layout.shared.iter().chain(&layout.own) {
            let Some(at) = seen.find(p, family, &taken) else {
                return Err(FirewallError::CheckFailed(format!(
                    "rule missing from {} {} chain {}: {}",
                    family.label(),
                    table.as_str(),
                    p.chain,
                    p.rule.text(family)
                )));
            };
            // The attachment's rules must each be there once more: an
            // identical rule of another attachment counts once.
            if layout.own.contains(p) {
                taken.push(at);
            }
        }
    }
    Ok(())
}

/// What one family lacks.
#[derive(Debug, Default)]
struct Missing<'a> {
    chains: Vec<&'a ChainName>,
    shared: Vec<&'a Placed>,
    own: Vec<&'a Placed>,
}

impl Missing<'_> {
    fn node_level(&self) -> bool {
        !self.chains.is_empty() || !self.shared.is_empty()
    }

    fn is_empty(&self) -> bool {
        !self.node_level() && self.own.is_empty()
    }
}

fn missing<'a>(layout: &'a Layout, seen: &Seen, family: Family) -> Missing<'a> {
    let mut m = Missing {
        chains: layout
            .chains
            .iter()
            .filter(|c| !seen.has_chain(c))
            .collect(),
        ..Missing::default()
    };
    for p in &layout.shared {
        if seen.find(p, family, &[]).is_none() {
            m.shared.push(p);
        }
    }
    let mut taken = vec![];
    for p in &layout.own {
        match seen.find(p, family, &taken) {
            Some(at) => taken.push(at),
            None => m.own.push(p),
        }
    }
    m
}

/// The built-in chains a layout's rules are in (those it does not create)
/// all exist: without them (no table yet) only iptables-restore can make
/// the table.
fn builtins_exist(layout: &Layout, seen: &Seen) -> bool {
    layout
        .shared
        .iter()
        .chain(&layout.own)
        .map(|p| &p.chain)
        .filter(|c| !layout.chains.contains(c))
        .all(|c| seen.has_chain(c))
}

/// Take `path` (an flock held until the file is dropped), to serialize
/// node-level changes: shared chains and the jumps to them, which two
/// first attachments racing would both add. A lock that cannot be taken
/// is reported and skipped: the retry on a refused commit still keeps the
/// chains consistent.
pub fn lock(path: &str) -> Option<File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path);
    match file.and_then(|f| f.lock().map(|()| f)) {
        Ok(f) => Some(f),
        Err(e) => {
            libcni::cni_warn!("not serializing the creation of shared chains: {path}: {e}");
            None
        }
    }
}

fn setup<R: SharedRules>(rules: &R, mode: Mode) -> Result<(), FirewallError> {
    let families = rules.families();
    let layouts: Vec<(Family, Layout)> = families
        .iter()
        .map(|f| rules.layout(*f).map(|l| (*f, l)))
        .collect::<Result<_, _>>()?;
    let mut prober = Prober::open();
    let mut _held: Option<File> = None;
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let seen: Vec<Seen> = layouts
            .iter()
            .map(|(f, l)| Seen::read(rules.table(), *f, l, &mut prober, mode))
            .collect::<Result<_, _>>()?;
        let lacking: Vec<Missing<'_>> = layouts
            .iter()
            .zip(&seen)
            .map(|((f, l), s)| missing(l, s, *f))
            .collect();
        if lacking.iter().all(Missing::is_empty) {
            return Ok(());
        }
        // Node-level changes under the lock, decided on a read made while
        // holding it.
        if _held.is_none()
            && lacking.iter().any(Missing::node_level)
            && let Some(path) = rules.lock_path()
        {
            _held = lock(path);
            if _held.is_some() {
                continue;
            }
        }
        let fast = layouts
            .iter()
            .zip(&seen)
            .all(|((_, l), s)| s.kernel() && builtins_exist(l, s));
        let outcome = if fast {
            commit_batch(rules.table(), &layouts, &lacking)
        } else if mode == Mode::Kernel {
            return Err(FirewallError::Unavailable(format!(
                "the {} table or its built-in chains do not exist",
                rules.table().as_str()
            )));
        } else {
            commit_restore(rules, &layouts, &lacking)
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| FirewallError::CheckFailed("setup did not converge".into())))
}

/// Everything missing, every family, one nfnetlink transaction. An
/// encoding the encoder lacks is an error here: the fast path is only
/// taken where reading worked, which needs the same encoder.
fn commit_batch(
    table: Table,
    layouts: &[(Family, Layout)],
    lacking: &[Missing<'_>],
) -> Result<(), FirewallError> {
    let mut batch = NfBatch::new();
    for ((family, _), m) in layouts.iter().zip(lacking) {
        for c in &m.chains {
            batch.new_chain(*family, table.as_str(), c.as_str());
        }
        for p in m.shared.iter().chain(&m.own) {
            let queued = match p.place {
                Place::Head => {
                    batch.insert_iptables_rule(*family, table.as_str(), p.chain.as_str(), &p.rule)
                }
                Place::Tail => {
                    batch.append_iptables_rule(*family, table.as_str(), p.chain.as_str(), &p.rule)
                }
            };
            queued.map_err(|u| {
                FirewallError::invalid("rule", p.rule.text(*family), u.0.to_string())
            })?;
        }
    }
    batch.commit()
}

/// One restore per family; a family that fails undoes the attachment's
/// rules of the families already done.
fn commit_restore<R: SharedRules>(
    rules: &R,
    layouts: &[(Family, Layout)],
    lacking: &[Missing<'_>],
) -> Result<(), FirewallError> {
    let table = rules.table();
    let mut done = vec![];
    for ((family, _), m) in layouts.iter().zip(lacking) {
        let mut s = RestoreScript::new(*family);
        for c in &m.chains {
            s.new_chain(table, c);
        }
        for p in m.shared.iter().chain(&m.own) {
            match p.place {
                Place::Head => s.insert(table, &p.chain, 1, &p.rule)?,
                Place::Tail => s.append(table, &p.chain, &p.rule)?,
            }
        }
        if let Err(e) = run::restore(&s) {
            if !done.is_empty() {
                let _ = remove_own(rules, &done, Mode::Auto);
            }
            return Err(e);
        }
        done.push(*family);
    }
    Ok(())
}

/// Remove one occurrence of each of the attachment's own rules in
/// `families`: by handle in one transaction where the kernel answers,
/// else one restore per family. When the transaction is refused (an
/// identical rule deleted meanwhile), the chains are listed with the tools
/// and what is really there is deleted.
fn remove_own<R: SharedRules>(
    rules: &R,
    families: &[Family],
    mode: Mode,
) -> Result<(), FirewallError> {
    match remove_with(rules, families, &mut Prober::open(), mode) {
        Ok(()) => Ok(()),
        Err(_) if mode == Mode::Auto => remove_with(rules, families, &mut None, mode),
        // Read again: a rule deleted meanwhile is not deleted twice.
        Err(_) => remove_with(rules, families, &mut Prober::open(), mode),
    }
}

fn remove_with<R: SharedRules>(
    rules: &R,
    families: &[Family],
    prober: &mut Option<Prober>,
    mode: Mode,
) -> Result<(), FirewallError> {
    let table = rules.table();
    let mut batch = NfBatch::new();
    let mut scripts = vec![];
    for &family in families {
        let own = Layout {
            own: rules.layout(family)?.own,
            ..Layout::default()
        };
        let seen = match Seen::read(table, family, &own, prober, mode) {
            Ok(s) => s,
            // An iptables that cannot be used holds nothing of ours.
            Err(_) if mode == Mode::Auto && !run::usable(family) => continue,
            Err(e) => return Err(e),
        };
        let mut taken = vec![];
        let mut script = RestoreScript::new(family);
        for p in &own.own {
            let Some(at) = seen.find(p, family, &taken) else {
                continue;
            };
            taken.push(at);
            match seen.chains[at.0].1.as_ref() {
                Some(Rules::Kernel(list)) => {
                    batch.delete_rule(family, table.as_str(), p.chain.as_str(), list[at.1].0);
                }
                Some(Rules::Saved(list)) => script.delete_saved(table, &list[at.1])?,
                None => {}
            }
        }
        scripts.push(script);
    }
    batch.commit()?;
    scripts.iter().try_for_each(run::restore)
}

#[cfg(test)]
mod tests;
