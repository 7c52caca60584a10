//! The nftables side of the masquerade rule set (layout of cni:plugins
//! pkg/ip/ipmasq_nftables_linux.go).

use std::collections::HashSet;

use ipnet::IpNet;
use libcni::Errors;
use libcni::spec::Attachment;
use nftables::batch::Batch;
use nftables::expr::Expression;
use nftables::schema::NfListObject;
use nftables::stmt::{Operator, Statement};
use nftables::types::{NfFamily, NfHook};

use super::{MasqInstance, NFT_CHAIN, NFT_POSTROUTING, NFT_TABLE};
use crate::driver::Driver;
use crate::error::FirewallError;
use crate::names;
use crate::nft::build::{chain, flush, goto, matches, nat_chain, payload, prefix, table};
use crate::nft::{self, ListedRule};
use crate::types::{Family, Ident};

/// nft's `srcnat` priority for the nat postrouting hook.
const SRCNAT_PRIORITY: i32 = 100;

const INET: NfFamily = NfFamily::INet;

fn rule(
    chain: &'static str,
    expr: Vec<Statement<'static>>,
    comment: Option<String>,
) -> NfListObject<'static> {
    nft::build::rule(INET, NFT_TABLE, chain, expr, comment)
}

/// The setup transaction: ensure the table and chains, refill
/// `postrouting`, add one rule per address. Pure, for golden tests.
pub(super) fn setup_batch(inst: &MasqInstance, addrs: &[IpNet]) -> Batch<'static> {
    let mut b = Batch::new();
    b.add(table(INET, NFT_TABLE));
    b.add(NfListObject::Chain(chain(INET, NFT_TABLE, NFT_CHAIN)));
    b.add(NfListObject::Chain(nat_chain(
        INET,
        NFT_TABLE,
        NFT_POSTROUTING,
        NfHook::Postrouting,
        SRCNAT_PRIORITY,
    )));
    b.add_cmd(flush(chain(INET, NFT_TABLE, NFT_POSTROUTING)));
    for family in Family::ALL {
        b.add(rule(
            NFT_POSTROUTING,
            vec![
                matches(
                    payload(family.nft_name(), "daddr"),
                    Operator::EQ,
                    prefix(family.multicast()),
                ),
                Statement::Return(None),
            ],
            None,
        ));
    }
    b.add(rule(NFT_POSTROUTING, vec![goto(NFT_CHAIN)], None));
    let comment = inst.nft_comment();
    for net in addrs {
        let family = Family::of_net(net);
        b.add(rule(
            NFT_CHAIN,
            vec![
                matches(
                    payload(family.nft_name(), "saddr"),
                    Operator::EQ,
                    Expression::String(net.addr().to_string().into()),
                ),
                matches(
                    payload(family.nft_name(), "daddr"),
                    Operator::NEQ,
                    prefix(net.trunc()),
                ),
                Statement::Masquerade(None),
            ],
            Some(comment.clone()),
        ));
    }
    b
}

/// One attachment's masquerade rules in nftables (addresses `None`:
/// unknown; teardown finds the rules by comment).
#[derive(Debug, Clone, Copy)]
pub(super) struct MasqNft<'a> {
    pub(super) inst: &'a MasqInstance,
    pub(super) addrs: Option<&'a [IpNet]>,
}

impl Driver for MasqNft<'_> {
    fn setup(&self) -> Result<(), FirewallError> {
        setup(self.inst, self.addrs.unwrap_or_default())
    }

    fn teardown(&self, errs: &mut Errors) {
        errs.record(teardown(self.inst));
    }

    fn check(&self) -> Result<(), FirewallError> {
        check(self.inst, self.addrs.unwrap_or_default())
    }
}

/// One `nft -j -f -`, no read. (The reference first lists `masq_checks` to
/// drop stale rules of the same attachment; a repeated ADD without DEL is
/// excluded by the spec, and duplicates would be removed together by
/// teardown and GC, which match by comment.)
fn setup(inst: &MasqInstance, addrs: &[IpNet]) -> Result<(), FirewallError> {
    nft::apply(&setup_batch(inst, addrs))
}

fn list() -> Result<Option<Vec<ListedRule>>, FirewallError> {
    nft::list_chain_fast(NfFamily::INet, NFT_TABLE, NFT_CHAIN)
}

/// Delete this attachment's rules (comment prefix = instance hash). The
/// rules are read over nfnetlink, so this is one exec when there is
/// something to delete and none otherwise.
fn teardown(inst: &MasqInstance) -> Result<(), FirewallError> {
    let prefix = names::nft_instance_hash(inst.network(), inst.ifname(), inst.container_id());
    let Some(rules) = list()? else {
        return Ok(());
    };
    let mut b = Batch::new();
    for r in rules
        .iter()
        .filter(|r| r.comment.as_deref().is_some_and(|c| c.starts_with(&prefix)))
    {
        nft::delete_rule(&mut b, r);
    }
    nft::apply(&b)
}

/// The address a masquerade rule matches as source (`ip saddr == X`).
fn rule_saddr(expr: &serde_json::Value) -> Option<&str> {
    expr.as_array()?.iter().find_map(|st| {
        let m = st.get("match")?;
        let field = m.get("left")?.get("payload")?.get("field")?;
        if field == "saddr" {
            m.get("right")?.as_str()
        } else {
            None
        }
    })
}

/// Every address must have a rule with this attachment's comment.
fn check(inst: &MasqInstance, addrs: &[IpNet]) -> Result<(), FirewallError> {
    let rules = nft::list_chain(NfFamily::INet, NFT_TABLE, NFT_CHAIN)?.ok_or_else(|| {
        FirewallError::CheckFailed(format!(
            "nftables chain inet {NFT_TABLE} {NFT_CHAIN} is missing"
        ))
    })?;
    let comment = inst.nft_comment();
    for net in addrs {
        let ip = net.addr().to_string();
        let found = rules.iter().any(|r| {
            r.comment.as_deref() == Some(comment.as_str()) && rule_saddr(&r.expr) == Some(&ip)
        });
        if !found {
            return Err(FirewallError::CheckFailed(format!(
                "nftables masquerade rule for {ip} ({comment}) is missing from inet {NFT_TABLE} {NFT_CHAIN}"
            )));
        }
    }
    Ok(())
}

/// Delete rules of `network` whose comment is not one of `valid`'s.
pub(super) fn gc(network: &Ident, valid: &[Attachment]) -> Result<(), FirewallError> {
    let result = (|| {
        let Some(rules) = list()? else {
            return Ok(());
        };
        let net_hash = names::nft_network_hash(network);
        let keep: HashSet<String> = valid
            .iter()
            .map(|a| names::nft_masq_comment_raw(network.as_str(), &a.ifname, &a.container_id))
            .collect();
        let mut b = Batch::new();
        for r in &rules {
            let Some(c) = r.comment.as_deref() else {
                continue;
            };
            if c.starts_with(&net_hash) && !keep.contains(c) {
                nft::delete_rule(&mut b, r);
            }
        }
        nft::apply(&b)
    })();
    match result {
        Err(_) if !nft::usable() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_setup_json() {
        let inst = MasqInstance::new("n", "abc", "eth0").unwrap();
        let addrs: Vec<IpNet> = vec![
            "10.99.0.2/24".parse().unwrap(),
            "fd00::2/64".parse().unwrap(),
        ];
        let json = nft::to_json(&setup_batch(&inst, &addrs)).unwrap();
        let c = inst.nft_comment();
        let t = r#""family":"inet","table":"cni_plugins_masquerade""#;
        let expected = format!(
            concat!(
                r#"{{"nftables":["#,
                r#"{{"add":{{"table":{{"family":"inet","name":"cni_plugins_masquerade"}}}}}},"#,
                r#"{{"add":{{"chain":{{{t},"name":"masq_checks"}}}}}},"#,
                r#"{{"add":{{"chain":{{{t},"name":"postrouting","type":"nat","hook":"postrouting","prio":100}}}}}},"#,
                r#"{{"flush":{{"chain":{{{t},"name":"postrouting"}}}}}},"#,
                r#"{{"add":{{"rule":{{{t},"chain":"postrouting","expr":[{{"match":{{"left":{{"payload":{{"protocol":"ip","field":"daddr"}}}},"right":{{"prefix":{{"addr":"224.0.0.0","len":4}}}},"op":"=="}}}},{{"return":null}}]}}}}}},"#,
                r#"{{"add":{{"rule":{{{t},"chain":"postrouting","expr":[{{"match":{{"left":{{"payload":{{"protocol":"ip6","field":"daddr"}}}},"right":{{"prefix":{{"addr":"ff00::","len":8}}}},"op":"=="}}}},{{"return":null}}]}}}}}},"#,
                r#"{{"add":{{"rule":{{{t},"chain":"postrouting","expr":[{{"goto":{{"target":"masq_checks"}}}}]}}}}}},"#,
                r#"{{"add":{{"rule":{{{t},"chain":"masq_checks","expr":[{{"match":{{"left":{{"payload":{{"protocol":"ip","field":"saddr"}}}},"right":"10.99.0.2","op":"=="}}}},{{"match":{{"left":{{"payload":{{"protocol":"ip","field":"daddr"}}}},"right":{{"prefix":{{"addr":"10.99.0.0","len":24}}}},"op":"!="}}}},{{"masquerade":null}}],"comment":"{c}"}}}}}},"#,
                r#"{{"add":{{"rule":{{{t},"chain":"masq_checks","expr":[{{"match":{{"left":{{"payload":{{"protocol":"ip6","field":"saddr"}}}},"right":"fd00::2","op":"=="}}}},{{"match":{{"left":{{"payload":{{"protocol":"ip6","field":"daddr"}}}},"right":{{"prefix":{{"addr":"fd00::","len":64}}}},"op":"!="}}}},{{"masquerade":null}}],"comment":"{c}"}}}}}}"#,
                "]}}"
            ),
            t = t,
            c = c
        );
        assert_eq!(json, expected);
    }

    #[test]
    fn finds_saddr() {
        let v: serde_json::Value = serde_json::from_str(
            r#"[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"10.0.0.2"}},{"masquerade":null}]"#,
        )
        .unwrap();
        assert_eq!(rule_saddr(&v), Some("10.0.0.2"));
        assert_eq!(rule_saddr(&serde_json::Value::Null), None);
    }
}
