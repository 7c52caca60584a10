//! The nftables objects of the reference layout (plugins/meta/portmap,
//! portmap_nftables.go), as typed JSON commands. Pure: golden-tested.
//!
//! Per family, table `ip cni_hostport` / `ip6 cni_hostport`:
//! ```text
//! chain hostports          { [ip daddr H] P dport N dnat to POD:PORT comment "<cid>" ... }
//! chain hostip_hostports   { }                                   (legacy, kept empty)
//! chain hostports_all      { jump hostip_hostports; jump hostports }
//! chain prerouting  (nat, prerouting, -100) { <conditions> fib daddr type local jump hostports_all }
//! chain output      (nat, output, -100)     { <conditions> fib daddr type local jump hostports_all }
//! chain masquerading (nat, postrouting, 100) {
//!     ip saddr <pod subnet> ip daddr <pod> ct status dnat masquerade comment "<cid>"
//!     ip saddr 127.0.0.1 ip daddr <pod> masquerade comment "<cid>"          (IPv4)
//! }
//! ```
//! Differences from the reference, none of which another implementation
//! can trip over (every implementation finds a container's rules by their
//! comment alone):
//! - the hairpin masquerade matches the pod's subnet (as the iptables
//!   layout does) but only for DNAT-ed connections (`ct status dnat`), so
//!   a pod reaching another pod through a host port works even without
//!   br_netfilter, and `masqAll` (no source match) masquerades host-port
//!   traffic only, not every connection to the pod;
//! - the `prerouting`/`output` rules carry a comment naming their
//!   content ([`entry_marker`]), so an ADD can see over nfnetlink that they
//!   are already right and leave them alone. The reference flushes and
//!   refills them on every ADD, and a flush costs a kernel wait of 10-20 ms
//!   per transaction.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use netfilter::nft::build::{self, flush, payload, prefix, table};
use netfilter::nft::nf_family;
use netfilter::{Family, names};
use nftables::batch::Batch;
use nftables::expr::{CT, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression};
use nftables::schema::{Chain, NfListObject};
use nftables::stmt::{Match as NftMatch, NAT, Operator, Statement};
use nftables::types::NfHook;

use crate::config::{Match, PortmapConf};
use crate::pod::Pod;

/// The table name (both families).
pub const TABLE: &str = "cni_hostport";
/// Chain of every DNAT rule.
pub const HOSTPORTS: &str = "hostports";
/// Legacy chain of hostIP rules, kept (empty) for upgrades.
pub const HOSTIP_HOSTPORTS: &str = "hostip_hostports";
/// Intermediate chain jumping to both of the above.
pub const HOSTPORTS_ALL: &str = "hostports_all";
/// nat prerouting base chain.
pub const PREROUTING: &str = "prerouting";
/// nat output base chain.
pub const OUTPUT: &str = "output";
/// nat postrouting base chain with the masquerade rules.
pub const MASQUERADING: &str = "masquerading";
/// The chains holding per-container rules (found by comment on DEL).
pub const POD_CHAINS: [&str; 3] = [HOSTPORTS, HOSTIP_HOSTPORTS, MASQUERADING];

/// nft's dstnat / srcnat priorities.
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;

fn chain(family: Family, name: &'static str) -> Chain<'static> {
    build::chain(nf_family(family), TABLE, name)
}

fn base_chain(family: Family, name: &'static str, hook: NfHook, prio: i32) -> Chain<'static> {
    build::nat_chain(nf_family(family), TABLE, name, hook, prio)
}

fn rule(
    family: Family,
    chain: &'static str,
    expr: Vec<Statement<'static>>,
    comment: Option<String>,
) -> NfListObject<'static> {
    build::rule(nf_family(family), TABLE, chain, expr, comment)
}

/// An address (`a.b.c.d`) or a prefix (`a.b.c.0/24`).
fn addr(net: IpNet) -> Expression<'static> {
    if net.prefix_len() == net.max_prefix_len() {
        Expression::String(Cow::Owned(net.addr().to_string()))
    } else {
        prefix(net)
    }
}

/// `left == right`, or `left != right` when `negate`.
fn matches(
    left: Expression<'static>,
    negate: bool,
    right: Expression<'static>,
) -> Statement<'static> {
    build::matches(
        left,
        if negate { Operator::NEQ } else { Operator::EQ },
        right,
    )
}

/// The family's conditions as match statements.
fn conditions(conf: &PortmapConf, family: Family) -> Vec<Statement<'static>> {
    let ipx = family.nft_name();
    conf.conditions(family)
        .items
        .iter()
        .map(|c| match &c.what {
            Match::Source(n) => matches(payload(ipx, "saddr"), c.negate, addr(*n)),
            Match::Destination(n) => matches(payload(ipx, "daddr"), c.negate, addr(*n)),
            Match::InIface(i) => matches(
                Expression::Named(NamedExpression::Meta(Meta {
                    key: MetaKey::Iifname,
                })),
                c.negate,
                Expression::String(Cow::Owned(i.as_str().to_string())),
            ),
            Match::OutIface(i) => matches(
                Expression::Named(NamedExpression::Meta(Meta {
                    key: MetaKey::Oifname,
                })),
                c.negate,
                Expression::String(Cow::Owned(i.as_str().to_string())),
            ),
        })
        .collect()
}

/// `<conditions> fib daddr type local jump hostports_all`.
fn entry_expr(conf: &PortmapConf, family: Family) -> Vec<Statement<'static>> {
    let mut e = conditions(conf, family);
    e.push(matches(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: HashSet::from([FibFlag::Daddr]),
        })),
        false,
        Expression::String(Cow::Borrowed("local")),
    ));
    e.push(build::jump(HOSTPORTS_ALL));
    e
}

/// The comment of the `prerouting`/`output` rules: a hash of exactly what
/// they match, so "already right" is a comment comparison.
pub fn entry_marker(conf: &PortmapConf, family: Family) -> String {
    let text = serde_json::to_string(&entry_expr(conf, family)).unwrap_or_default();
    format!(
        "cni portmap entry {}",
        names::hash_with_prefix(16, "", &format!("v1 {} {text}", family.nft_name()))
    )
}

/// What of the shared objects an ADD must write: adding an object that
/// exists is not free (the kernel turns it into an update, which costs
/// about 10 ms per transaction), so only missing ones are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// Add the table.
    pub table: bool,
    /// Chains to add.
    pub chains: Vec<&'static str>,
    /// `hostports_all`'s rules: `None` = right already, `Some(flush first)`.
    pub all: Option<bool>,
    /// `prerouting`'s rule.
    pub prerouting: Option<bool>,
    /// `output`'s rule.
    pub output: Option<bool>,
}

impl Shared {
    /// Every chain this configuration uses.
    pub fn chains(conf: &PortmapConf) -> Vec<&'static str> {
        let mut c = vec![
            HOSTPORTS,
            HOSTIP_HOSTPORTS,
            HOSTPORTS_ALL,
            PREROUTING,
            OUTPUT,
        ];
        if conf.snat {
            c.push(MASQUERADING);
        }
        c
    }

    /// Nothing exists yet: add everything, flush nothing.
    pub fn fresh(conf: &PortmapConf) -> Shared {
        Shared {
            table: true,
            chains: Shared::chains(conf),
            all: Some(false),
            prerouting: Some(false),
            output: Some(false),
        }
    }

    /// Nothing is known: add everything and rewrite the shared rules.
    pub fn unknown(conf: &PortmapConf) -> Shared {
        Shared {
            all: Some(true),
            prerouting: Some(true),
            output: Some(true),
            ..Shared::fresh(conf)
        }
    }
}

fn chain_object(family: Family, name: &'static str) -> Chain<'static> {
    match name {
        PREROUTING => base_chain(family, name, NfHook::Prerouting, DSTNAT),
        OUTPUT => base_chain(family, name, NfHook::Output, DSTNAT),
        MASQUERADING => base_chain(family, name, NfHook::Postrouting, SRCNAT),
        _ => chain(family, name),
    }
}

/// Add to `b` the shared objects of `family` that `plan` asks for.
pub fn shared(b: &mut Batch<'static>, conf: &PortmapConf, family: Family, plan: &Shared) {
    if plan.table {
        b.add(table(nf_family(family), TABLE));
    }
    for name in &plan.chains {
        b.add(NfListObject::Chain(chain_object(family, name)));
    }
    let flush_chain = |b: &mut Batch<'static>, name| {
        b.add_cmd(flush(chain(family, name)));
    };
    if let Some(f) = plan.all {
        if f {
            flush_chain(b, HOSTPORTS_ALL);
        }
        b.add(rule(
            family,
            HOSTPORTS_ALL,
            vec![build::jump(HOSTIP_HOSTPORTS)],
            None,
        ));
        b.add(rule(
            family,
            HOSTPORTS_ALL,
            vec![build::jump(HOSTPORTS)],
            None,
        ));
    }
    let marker = entry_marker(conf, family);
    for (name, want) in [(PREROUTING, plan.prerouting), (OUTPUT, plan.output)] {
        if let Some(f) = want {
            if f {
                flush_chain(b, name);
            }
            b.add(rule(
                family,
                name,
                entry_expr(conf, family),
                Some(marker.clone()),
            ));
        }
    }
}

/// The DNAT rules of one container for its address `pod_net` of `family`.
pub fn dnat_rules(
    conf: &PortmapConf,
    pod: &Pod,
    family: Family,
    pod_net: IpNet,
) -> Vec<NfListObject<'static>> {
    let ipx = family.nft_name();
    conf.mappings
        .iter()
        .filter(|m| m.applies_to(family))
        .map(|m| {
            let mut e = vec![];
            if let Some(ip) = m.host_ip {
                e.push(matches(payload(ipx, "daddr"), false, addr(IpNet::from(ip))));
            }
            e.push(matches(
                payload(m.protocol.as_str(), "dport"),
                false,
                Expression::Number(u32::from(m.host_port)),
            ));
            e.push(Statement::DNAT(Some(NAT {
                addr: Some(Expression::String(Cow::Owned(pod_net.addr().to_string()))),
                family: None,
                port: Some(Expression::Number(u32::from(m.container_port))),
                flags: None,
            })));
            rule(family, HOSTPORTS, e, Some(pod.container.to_string()))
        })
        .collect()
}

/// The masquerade rules of one container (none without `snat`).
pub fn masq_rules(
    conf: &PortmapConf,
    pod: &Pod,
    family: Family,
    pod_net: IpNet,
) -> Vec<NfListObject<'static>> {
    if !conf.snat {
        return vec![];
    }
    let ipx = family.nft_name();
    let daddr = matches(
        payload(ipx, "daddr"),
        false,
        addr(IpNet::from(pod_net.addr())),
    );
    let mut out = vec![];
    let mut hairpin = vec![];
    if !conf.masq_all {
        hairpin.push(matches(payload(ipx, "saddr"), false, addr(pod_net.trunc())));
    }
    hairpin.push(daddr.clone());
    hairpin.push(Statement::Match(NftMatch {
        left: Expression::Named(NamedExpression::CT(CT {
            key: Cow::Borrowed("status"),
            family: None,
            dir: None,
        })),
        right: Expression::String(Cow::Borrowed("dnat")),
        op: Operator::IN,
    }));
    hairpin.push(Statement::Masquerade(None));
    out.push(rule(
        family,
        MASQUERADING,
        hairpin,
        Some(pod.container.to_string()),
    ));
    if family == Family::V4 && !conf.masq_all {
        let localhost = IpNet::from(IpAddr::V4(Ipv4Addr::LOCALHOST));
        out.push(rule(
            family,
            MASQUERADING,
            vec![
                matches(payload(ipx, "saddr"), false, addr(localhost)),
                daddr,
                Statement::Masquerade(None),
            ],
            Some(pod.container.to_string()),
        ));
    }
    out
}

/// How many rules with the container's comment ADD writes per chain, for
/// CHECK: (hostports, masquerading).
pub fn expected_counts(conf: &PortmapConf, family: Family) -> (usize, usize) {
    let dnat = conf
        .mappings
        .iter()
        .filter(|m| m.applies_to(family))
        .count();
    let masq = match (conf.snat, family == Family::V4 && !conf.masq_all) {
        (false, _) => 0,
        (true, true) => 2,
        (true, false) => 1,
    };
    (dnat, masq)
}

#[cfg(test)]
mod tests;
