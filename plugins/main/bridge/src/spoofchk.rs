//! `macspoofchk`: drop frames from the pod whose source MAC is not the
//! pod's own, in nftables' `bridge nat` table with the reference's layout
//! (plugins:pkg/link/spoofcheck.go), so either implementation removes the
//! other's rules:
//!
//! ```text
//! table bridge nat {
//!   chain PREROUTING { type filter hook prerouting priority -300; policy accept;
//!     iifname "<host veth>" jump cni-br-iface-<cid>-<if>  # comment macspoofchk-<cid>-<if>
//!   }
//!   chain cni-br-iface-<cid>-<if> { jump cni-br-iface-<cid>-<if>-mac }
//!   chain cni-br-iface-<cid>-<if>-mac { ether saddr <mac> return; drop }
//! }
//! ```

use std::borrow::Cow;

use hostnet::MacAddr;
use libcni::Error;
use netfilter::TableFamily;
use netfilter::nft;
use netfilter::probe::{Presence, Prober};
use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField};
use nftables::schema::{Chain, FlushObject, NfCmd, NfListObject, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainType, NfFamily, NfHook};

const TABLE: &str = "nat";
const BASE_CHAIN: &str = "PREROUTING";
/// Before the bridge's own nat/filter hooks, as the reference.
const PRIORITY: i32 = -300;

/// The spoof check of one attachment.
#[derive(Debug, Clone)]
pub struct SpoofCheck {
    ref_id: String,
}

fn chain(name: String) -> Chain<'static> {
    nft::build::chain(NfFamily::Bridge, TABLE, name)
}

fn rule(chain: &str, expr: Vec<Statement<'static>>, comment: &str) -> NfListObject<'static> {
    nft::build::rule(
        NfFamily::Bridge,
        TABLE,
        chain.to_string(),
        expr,
        Some(comment.to_string()),
    )
}

fn jump(to: &str) -> Statement<'static> {
    nft::build::jump(to.to_string())
}

impl SpoofCheck {
    /// The check for container `cid`, interface `ifname` (both validated
    /// by the skeleton: letters, digits, `_.-` only).
    pub fn new(cid: &str, ifname: &str) -> SpoofCheck {
        SpoofCheck {
            ref_id: format!("{cid}-{ifname}"),
        }
    }

    fn iface_chain(&self) -> String {
        format!("cni-br-iface-{}", self.ref_id)
    }

    fn mac_chain(&self) -> String {
        format!("{}-mac", self.iface_chain())
    }

    fn comment(&self) -> String {
        format!("macspoofchk-{}", self.ref_id)
    }

    /// The setup transaction (pure, for tests): declare the table and
    /// chains, empty this attachment's chains, add the rules.
    pub fn setup_batch(&self, host_veth: &str, mac: MacAddr) -> Batch<'static> {
        let (iface, macc, comment) = (self.iface_chain(), self.mac_chain(), self.comment());
        let mut b = Batch::new();
        b.add(NfListObject::Table(Table {
            family: NfFamily::Bridge,
            name: Cow::Borrowed(TABLE),
            handle: None,
        }));
        b.add(NfListObject::Chain(Chain {
            _type: Some(NfChainType::Filter),
            hook: Some(NfHook::Prerouting),
            prio: Some(PRIORITY),
            policy: Some(nftables::types::NfChainPolicy::Accept),
            ..chain(BASE_CHAIN.to_string())
        }));
        b.add(NfListObject::Chain(chain(iface.clone())));
        b.add(NfListObject::Chain(chain(macc.clone())));
        b.add_cmd(NfCmd::Flush(FlushObject::Chain(chain(iface.clone()))));
        b.add_cmd(NfCmd::Flush(FlushObject::Chain(chain(macc.clone()))));
        b.add(rule(
            BASE_CHAIN,
            vec![
                Statement::Match(Match {
                    left: Expression::Named(NamedExpression::Meta(Meta {
                        key: MetaKey::Iifname,
                    })),
                    right: Expression::String(Cow::Owned(host_veth.to_string())),
                    op: Operator::EQ,
                }),
                jump(&iface),
            ],
            &comment,
        ));
        b.add(rule(&iface, vec![jump(&macc)], &comment));
        b.add(rule(
            &macc,
            vec![
                Statement::Match(Match {
                    left: Expression::Named(NamedExpression::Payload(Payload::PayloadField(
                        PayloadField {
                            protocol: Cow::Borrowed("ether"),
                            field: Cow::Borrowed("saddr"),
                        },
                    ))),
                    right: Expression::String(Cow::Owned(mac.to_string())),
                    op: Operator::EQ,
                }),
                Statement::Return(None),
            ],
            &comment,
        ));
        b.add(rule(&macc, vec![Statement::Drop(None)], &comment));
        b
    }

    /// Install the check for `host_veth` allowing only `mac`: one `nft`
    /// transaction.
    pub fn setup(&self, host_veth: &str, mac: MacAddr) -> Result<(), Error> {
        nft::apply(&self.setup_batch(host_veth, mac))
            .map_err(|e| Error::from(e).context("setting up macspoofchk"))
    }

    /// Remove this attachment's rule from `PREROUTING` and its two chains;
    /// nothing to do (and no exec) when they are gone.
    pub fn teardown(&self) -> Result<(), Error> {
        let wrap = |e: netfilter::FirewallError| Error::from(e).context("removing macspoofchk");
        let comment = self.comment();
        let mut b = Batch::new();
        if let Some(rules) =
            nft::list_chain_fast(NfFamily::Bridge, TABLE, BASE_CHAIN).map_err(wrap)?
        {
            for r in rules
                .iter()
                .filter(|r| r.comment.as_deref() == Some(comment.as_str()))
            {
                nft::delete_rule(&mut b, r);
            }
        }
        let mut prober = Prober::open();
        for name in [self.iface_chain(), self.mac_chain()] {
            let present = prober.as_mut().map_or(Presence::Unknown, |p| {
                p.chain(TableFamily::Bridge, TABLE, &name)
            });
            if present != Presence::Absent {
                // iface chain first: it references the mac chain.
                b.add_cmd(NfCmd::Delete(NfListObject::Chain(chain(name))));
            }
        }
        nft::apply(&b).map_err(wrap)
    }

    /// True when the base-chain rule of this attachment exists.
    pub fn is_present(&self) -> Result<bool, Error> {
        let comment = self.comment();
        let rules = nft::list_chain_fast(NfFamily::Bridge, TABLE, BASE_CHAIN)
            .map_err(|e| Error::from(e).context("checking macspoofchk"))?;
        Ok(rules
            .unwrap_or_default()
            .iter()
            .any(|r| r.comment.as_deref() == Some(comment.as_str())))
    }
}
