//! The nftables objects of the backend, built with netfilter's typed
//! builders (no text pasted into a command). Pure: the golden test pins
//! the JSON.

use std::borrow::Cow;
use std::net::IpAddr;

use nftables::expr::{Expression, MetaKey};
use nftables::schema::NfListObject;
use nftables::stmt::{Operator, Statement};
use nftables::types::NfFamily;

use netfilter::nft::build::{ct, jump, matches, meta, payload, rule};
use netfilter::{Family, IfName};

use crate::config::IngressPolicy;
use crate::iptables::{ISOLATION_COMMENT, policy_comment};

/// Our own table (inet), the anchor that always exists.
pub const TABLE: &str = "cni_plugins_firewall";
/// Its base chain: filter, forward hook, priority `filter` (0).
pub const BASE: &str = "forward";
/// The chain of the per-address accept rules, in every anchor table.
pub const CHAIN: &str = "cni_forward";
/// The administrator's chain, jumped to first from [`CHAIN`] (what
/// `iptablesAdminChainName` is to iptables).
pub const ADMIN: &str = "cni_admin";
/// The isolation chains.
pub const STAGE_1: &str = "cni_isolation_stage_1";
/// The second isolation chain.
pub const STAGE_2: &str = "cni_isolation_stage_2";

/// One table the rules go to, and its filter base chains on the forward
/// hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The table's family (`ip`, `ip6`, `inet`).
    pub family: NfFamily,
    /// The table.
    pub table: String,
    /// Its filter base chains on the forward hook.
    pub bases: Vec<String>,
}

impl Anchor {
    /// Whether the table sees traffic of `family`.
    pub fn admits(&self, family: Family) -> bool {
        matches!(
            (self.family, family),
            (NfFamily::INet, _) | (NfFamily::IP, Family::V4) | (NfFamily::IP6, Family::V6)
        )
    }

    /// A rule of this table.
    pub fn rule(
        &self,
        chain: &'static str,
        expr: Vec<Statement<'static>>,
        comment: impl Into<String>,
    ) -> NfListObject<'static> {
        rule(
            self.family,
            Cow::Owned(self.table.clone()),
            chain,
            expr,
            Some(comment.into()),
        )
    }

    /// A rule of one of this table's base chains.
    pub fn base_rule(
        &self,
        base: &str,
        expr: Vec<Statement<'static>>,
        comment: &str,
    ) -> NfListObject<'static> {
        rule(
            self.family,
            Cow::Owned(self.table.clone()),
            Cow::Owned(base.to_string()),
            expr,
            Some(comment.to_string()),
        )
    }
}

fn addr(ip: IpAddr, field: &'static str) -> Statement<'static> {
    matches(
        payload(Family::of(ip).nft_name(), field),
        Operator::EQ,
        Expression::String(Cow::Owned(ip.to_string())),
    )
}

fn ifname(key: MetaKey, op: Operator, name: &IfName) -> Statement<'static> {
    matches(
        meta(key),
        op,
        Expression::String(Cow::Owned(name.as_str().to_string())),
    )
}

/// `ip daddr <ip> ct state established,related accept` and
/// `ip saddr <ip> accept`: the reference's two rules per address.
pub fn accepts(ip: IpAddr) -> [Vec<Statement<'static>>; 2] {
    let states = Expression::List(vec![
        Expression::String(Cow::Borrowed("established")),
        Expression::String(Cow::Borrowed("related")),
    ]);
    [
        vec![
            addr(ip, "daddr"),
            matches(ct("state"), Operator::IN, states),
            Statement::Accept(None),
        ],
        vec![addr(ip, "saddr"), Statement::Accept(None)],
    ]
}

/// `jump <chain>`.
pub fn jump_to(chain: &'static str) -> Vec<Statement<'static>> {
    vec![jump(chain)]
}

/// One isolation rule: chain, statements, comment, and the chain it jumps
/// to (how it is found again, with the comment).
#[derive(Debug, Clone)]
pub struct IsolationRule {
    /// The chain it is in.
    pub chain: &'static str,
    /// Its statements.
    pub expr: Vec<Statement<'static>>,
    /// Its comment: the iptables comment and the bridge, so that rules of
    /// two bridges are told apart without reading their expressions.
    pub comment: String,
    /// Its jump target, if it jumps.
    pub target: Option<&'static str>,
}

/// The per-bridge isolation rules, each put first in its chain when
/// missing, in this order (so stage 1's DROP ends above its jump), as on
/// iptables. The RETURNs of the iptables layout are implicit in nftables.
pub fn isolation(policy: IngressPolicy, bridge: &IfName) -> Vec<IsolationRule> {
    let tag = |c: &str| format!("{c} bridge: {bridge}");
    let mut out = vec![IsolationRule {
        chain: STAGE_1,
        expr: vec![
            ifname(MetaKey::Iifname, Operator::EQ, bridge),
            ifname(MetaKey::Oifname, Operator::NEQ, bridge),
            jump(STAGE_2),
        ],
        comment: tag(&policy_comment(policy)),
        target: Some(STAGE_2),
    }];
    if policy == IngressPolicy::Isolated {
        out.push(IsolationRule {
            chain: STAGE_1,
            expr: vec![
                ifname(MetaKey::Iifname, Operator::EQ, bridge),
                ifname(MetaKey::Oifname, Operator::EQ, bridge),
                Statement::Drop(None),
            ],
            comment: tag(&policy_comment(policy)),
            target: None,
        });
    }
    out.push(IsolationRule {
        chain: STAGE_2,
        expr: vec![
            ifname(MetaKey::Oifname, Operator::EQ, bridge),
            Statement::Drop(None),
        ],
        comment: tag(ISOLATION_COMMENT),
        target: None,
    });
    out
}
