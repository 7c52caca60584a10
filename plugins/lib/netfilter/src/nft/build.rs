//! The nftables objects every rule set writes (tables, chains, rules,
//! matches), built with the `nftables` crate's typed schema so that no
//! text is ever pasted into a command.

use std::borrow::Cow;

use ipnet::IpNet;
use nftables::expr::{
    CT, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
};
use nftables::schema::{Chain, FlushObject, NfCmd, NfListObject, Rule, Table};
use nftables::stmt::{JumpTarget, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

/// `add table <family> <name>`.
pub fn table(family: NfFamily, name: impl Into<Cow<'static, str>>) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family,
        name: name.into(),
        handle: None,
    })
}

/// A regular chain of `family table`.
pub fn chain(
    family: NfFamily,
    table: impl Into<Cow<'static, str>>,
    name: impl Into<Cow<'static, str>>,
) -> Chain<'static> {
    Chain {
        family,
        table: table.into(),
        name: name.into(),
        newname: None,
        handle: None,
        _type: None,
        hook: None,
        prio: None,
        dev: None,
        policy: None,
    }
}

/// A nat base chain of `family table` on `hook` at priority `prio`.
pub fn nat_chain(
    family: NfFamily,
    table: &'static str,
    name: impl Into<Cow<'static, str>>,
    hook: NfHook,
    prio: i32,
) -> Chain<'static> {
    Chain {
        _type: Some(NfChainType::NAT),
        hook: Some(hook),
        prio: Some(prio),
        ..chain(family, table, name)
    }
}

/// A filter base chain of `family table` on `hook` at priority `prio`,
/// with policy accept.
pub fn filter_chain(
    family: NfFamily,
    table: impl Into<Cow<'static, str>>,
    name: impl Into<Cow<'static, str>>,
    hook: NfHook,
    prio: i32,
) -> Chain<'static> {
    Chain {
        _type: Some(NfChainType::Filter),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(NfChainPolicy::Accept),
        ..chain(family, table, name)
    }
}

/// `flush chain ...`.
pub fn flush(chain: Chain<'static>) -> NfCmd<'static> {
    NfCmd::Flush(FlushObject::Chain(chain))
}

/// A rule of `family table chain` with these statements and comment.
pub fn rule(
    family: NfFamily,
    table: impl Into<Cow<'static, str>>,
    chain: impl Into<Cow<'static, str>>,
    expr: Vec<Statement<'static>>,
    comment: Option<String>,
) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family,
        table: table.into(),
        chain: chain.into(),
        expr: Cow::Owned(expr),
        handle: None,
        index: None,
        comment: comment.map(Cow::Owned),
    })
}

/// A header field: `ip saddr`, `tcp dport`...
pub fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

/// A packet meta key: `iifname`, `oifname`...
pub fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

/// A conntrack key of the packet's connection: `ct state`...
pub fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: Cow::Borrowed(key),
        family: None,
        dir: None,
    }))
}

/// `a.b.c.0/24`: the network of `net` with its prefix length.
pub fn prefix(net: IpNet) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(Cow::Owned(net.network().to_string()))),
        len: u32::from(net.prefix_len()),
    }))
}

/// `left op right`.
pub fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

/// `jump <target>`.
pub fn jump(target: impl Into<Cow<'static, str>>) -> Statement<'static> {
    Statement::Jump(JumpTarget {
        target: target.into(),
    })
}

/// `goto <target>`.
pub fn goto(target: impl Into<Cow<'static, str>>) -> Statement<'static> {
    Statement::Goto(JumpTarget {
        target: target.into(),
    })
}
