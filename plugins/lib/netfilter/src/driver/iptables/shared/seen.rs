//! Reading what a family's chains hold: over nfnetlink (handles and
//! expressions) or from one `iptables -S` listing, and finding a rule in
//! either by its content.

use super::{Layout, Mode, Placed};
use crate::error::FirewallError;
use crate::iptables::nftenc::{self, Encoded};
use crate::iptables::{Dump, SavedRule, Table, run};
use crate::probe::{Prober, RuleList};
use crate::tools::{self, IptablesVariant};
use crate::types::{ChainName, Family};

/// A rule as read: its position in `Seen::rules` of its chain.
pub(super) type At = (usize, usize);

/// The chains of one family as read, from the kernel or from a listing.
#[derive(Debug)]
pub(super) struct Seen {
    pub(super) chains: Vec<(String, Option<Rules>)>,
}

/// One chain's rules as read.
#[derive(Debug)]
pub(super) enum Rules {
    /// Over nfnetlink: handle and expressions of each.
    Kernel(Vec<(u64, Vec<u8>)>),
    /// From `iptables -S`.
    Saved(Vec<SavedRule>),
}

impl Seen {
    /// Read the chains `layout` involves: over nfnetlink on iptables-nft
    /// when the kernel answers for every one, else with one listing.
    pub(super) fn read(
        table: Table,
        family: Family,
        layout: &Layout,
        prober: &mut Option<Prober>,
        mode: Mode,
    ) -> Result<Seen, FirewallError> {
        let kernel =
            mode == Mode::Kernel || tools::iptables_variant(family) == IptablesVariant::Nft;
        if kernel && let Some(seen) = Seen::from_kernel(table, family, layout, prober) {
            return Ok(seen);
        }
        if mode == Mode::Kernel {
            return Err(FirewallError::Unavailable(format!(
                "the {} {} table cannot be read over nfnetlink",
                family.label(),
                table.as_str()
            )));
        }
        Ok(Seen::from_listing(&run::list_table(family, table)?, layout))
    }

    fn from_kernel(
        table: Table,
        family: Family,
        layout: &Layout,
        prober: &mut Option<Prober>,
    ) -> Option<Seen> {
        let p = prober.as_mut()?;
        let mut chains = vec![];
        for c in layout.involved() {
            let rules = match p.rules(family, table.as_str(), c.as_str()) {
                RuleList::Unknown => return None,
                RuleList::Absent => None,
                RuleList::Rules(list) => Some(Rules::Kernel(
                    list.into_iter()
                        .map(|r| (r.handle, r.expressions))
                        .collect(),
                )),
            };
            chains.push((c.as_str().to_string(), rules));
        }
        Some(Seen { chains })
    }

    pub(super) fn from_listing(dump: &Dump, layout: &Layout) -> Seen {
        let chains = layout
            .involved()
            .into_iter()
            .map(|c| {
                let rules = dump
                    .has_chain(c.as_str())
                    .then(|| Rules::Saved(dump.rules_in(c.as_str()).cloned().collect()));
                (c.as_str().to_string(), rules)
            })
            .collect();
        Seen { chains }
    }

    pub(super) fn kernel(&self) -> bool {
        self.chains
            .iter()
            .any(|(_, r)| matches!(r, Some(Rules::Kernel(_))))
    }

    pub(super) fn has_chain(&self, c: &ChainName) -> bool {
        self.chains
            .iter()
            .any(|(n, r)| n == c.as_str() && r.is_some())
    }

    /// The first rule of `p`'s chain that is `p` in any of its forms, not
    /// in `taken`.
    pub(super) fn find(&self, p: &Placed, family: Family, taken: &[At]) -> Option<At> {
        let ci = self
            .chains
            .iter()
            .position(|(n, _)| n == p.chain.as_str())?;
        let encoded: Vec<Encoded> = p
            .forms()
            .filter_map(|r| nftenc::encode(r, family).ok())
            .collect();
        let hit = match self.chains[ci].1.as_ref()? {
            Rules::Kernel(list) => list.iter().enumerate().position(|(i, (_, e))| {
                !taken.contains(&(ci, i)) && encoded.iter().any(|x| nftenc::same_expressions(e, x))
            }),
            Rules::Saved(list) => list.iter().enumerate().position(|(i, s)| {
                !taken.contains(&(ci, i)) && p.forms().any(|r| r.is_saved_as(s, family))
            }),
        }?;
        Some((ci, hit))
    }
}
