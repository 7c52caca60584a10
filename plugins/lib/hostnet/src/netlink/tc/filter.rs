//! Traffic filters (`RTM_NEWTFILTER` / `RTM_GETTFILTER`): the u32 filter
//! that matches every packet and redirects it to another device with
//! `mirred` actions, and reading filters back with their redirect
//! targets.
//!
//! `tc filter add dev <if> parent ffff: protocol all prio 1 u32 match u32
//! 0 0 flowid 1:1 action mirred egress redirect dev <ifb>` is this module's
//! [`U32MatchAll`] with one [`Redirect`].

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionGeneric, TcActionMirrorOption, TcActionOption,
    TcAttribute, TcFilterU32Option, TcHandle, TcMessage, TcMirror, TcMirrorActionType, TcOption,
    TcU32Key, TcU32Selector, TcU32SelectorFlags,
};

use super::Handle;
use crate::netlink::{Netlink, NetlinkError};

/// `ETH_P_ALL`: a filter for every protocol (`protocol all`).
pub const ETH_P_ALL: u16 = 0x0003;

/// What a `mirred` action lets happen after it redirected the packet:
/// the `tc_gen` control action.
pub use netlink_packet_route::tc::TcActionType as Verdict;

/// One `mirred egress redirect` action: the packet is sent out of
/// `ifindex`, then `verdict` decides what the filter does next
/// ([`Verdict::Stolen`] ends classification, as `tc` writes it by
/// default; [`Verdict::Ok`] is "pass").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    /// The device the packet is redirected to.
    pub ifindex: u32,
    /// The control action after the redirect.
    pub verdict: Verdict,
}

/// A u32 filter with one key that matches every packet (value 0, mask 0
/// at offset 0, terminal), a flow id, and `mirred egress redirect`
/// actions in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct U32MatchAll {
    /// The qdisc it attaches to (e.g. [`Handle::INGRESS_HANDLE`], `ffff:`).
    pub parent: Handle,
    /// Priority (`pref`); lower runs first.
    pub prio: u16,
    /// Ethernet protocol in host order ([`ETH_P_ALL`] for all).
    pub protocol: u16,
    /// The class the match selects (`flowid`).
    pub classid: Handle,
    /// The redirect actions, in order (`action order 1, 2, ...`).
    pub redirects: Vec<Redirect>,
}

/// One u32 selector key (`match u32 <value> <mask> at <offset>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U32Key {
    /// The value, in host order (the kernel keeps it big-endian).
    pub value: u32,
    /// The mask, in host order.
    pub mask: u32,
    /// Offset into the packet.
    pub offset: i32,
}

/// A filter as the kernel reports it. u32 dumps list the hash table
/// (`fh 800:`) as an entry of its own, without keys or actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The device.
    pub ifindex: u32,
    /// The qdisc it is attached to.
    pub parent: Handle,
    /// Its handle (`800::800` for the first u32 rule).
    pub handle: u32,
    /// Priority (`pref`).
    pub prio: u16,
    /// Ethernet protocol, in host order.
    pub protocol: u16,
    /// `TCA_KIND`: "u32", "matchall", "flower", ...
    pub kind: String,
    /// The flow id of a u32 rule.
    pub classid: Option<Handle>,
    /// The u32 selector keys.
    pub keys: Vec<U32Key>,
    /// Every `mirred` redirect (egress or ingress) among its actions.
    pub redirects: Vec<Redirect>,
}

impl Filter {
    /// A u32 rule whose every key has mask 0: it matches all packets.
    pub fn is_match_all(&self) -> bool {
        self.kind == "u32" && !self.keys.is_empty() && self.keys.iter().all(|k| k.mask == 0)
    }

    fn from_message(m: &TcMessage) -> Filter {
        let mut f = Filter {
            ifindex: u32::try_from(m.header.index).unwrap_or_default(),
            parent: Handle(m.header.parent.into()),
            handle: m.header.handle.into(),
            // tcm_info is TC_H_MAKE(prio << 16, htons(protocol)).
            prio: (m.header.info >> 16) as u16,
            protocol: u16::from_be((m.header.info & 0xffff) as u16),
            kind: String::new(),
            classid: None,
            keys: Vec::new(),
            redirects: Vec::new(),
        };
        for a in &m.attributes {
            match a {
                TcAttribute::Kind(k) => f.kind = k.clone(),
                TcAttribute::Options(opts) => {
                    for o in opts {
                        match o {
                            TcOption::U32(TcFilterU32Option::ClassId(h)) => {
                                f.classid = Some(Handle((*h).into()));
                            }
                            TcOption::U32(TcFilterU32Option::Selector(s)) => {
                                f.keys = s
                                    .keys
                                    .iter()
                                    .map(|k| U32Key {
                                        value: k.val,
                                        mask: k.mask,
                                        offset: k.off,
                                    })
                                    .collect();
                            }
                            TcOption::U32(TcFilterU32Option::Action(acts)) => {
                                f.redirects.extend(acts.iter().filter_map(redirect_of));
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        f
    }
}

/// The target and verdict of a `mirred` redirect action.
fn redirect_of(a: &TcAction) -> Option<Redirect> {
    a.attributes.iter().find_map(|attr| match attr {
        TcActionAttribute::Options(opts) => opts.iter().find_map(|o| match o {
            TcActionOption::Mirror(TcActionMirrorOption::Parms(p))
                if matches!(
                    p.eaction,
                    TcMirrorActionType::EgressRedir | TcMirrorActionType::IngressRedir
                ) =>
            {
                Some(Redirect {
                    ifindex: p.ifindex,
                    verdict: p.generic.action,
                })
            }
            _ => None,
        }),
        _ => None,
    })
}

/// The `mirred egress redirect` action at position `order` (1-based).
fn mirred(order: u16, r: &Redirect) -> TcAction {
    let mut generic = TcActionGeneric::default();
    generic.action = r.verdict;
    let mut parms = TcMirror::default();
    parms.generic = generic;
    parms.eaction = TcMirrorActionType::EgressRedir;
    parms.ifindex = r.ifindex;
    let mut a = TcAction::default();
    a.tab = order;
    a.attributes = vec![
        TcActionAttribute::Kind("mirred".into()),
        TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
            parms,
        ))]),
    ];
    a
}

impl U32MatchAll {
    /// Every packet of every protocol redirected to `ifindex`, with one
    /// mirred action per verdict, in order.
    pub fn redirect_to(
        parent: Handle,
        prio: u16,
        classid: Handle,
        ifindex: u32,
        verdicts: &[Verdict],
    ) -> U32MatchAll {
        U32MatchAll {
            parent,
            prio,
            protocol: ETH_P_ALL,
            classid,
            redirects: verdicts
                .iter()
                .map(|&verdict| Redirect { ifindex, verdict })
                .collect(),
        }
    }

    fn message(&self, ifindex: u32) -> TcMessage {
        let mut m = TcMessage::with_index(ifindex.try_into().unwrap_or(i32::MAX));
        m.header.parent = TcHandle::from(self.parent.0);
        m.header.info = (u32::from(self.prio) << 16) | u32::from(self.protocol.to_be());
        // One key, value 0 under mask 0: every packet matches.
        let mut sel = TcU32Selector::default();
        sel.flags = TcU32SelectorFlags::Terminal;
        sel.nkeys = 1;
        sel.keys = vec![TcU32Key::default()];
        let actions = self
            .redirects
            .iter()
            .zip(1u16..)
            .map(|(r, order)| mirred(order, r))
            .collect();
        m.attributes.push(TcAttribute::Kind("u32".into()));
        m.attributes.push(TcAttribute::Options(vec![
            TcOption::U32(TcFilterU32Option::ClassId(TcHandle::from(self.classid.0))),
            TcOption::U32(TcFilterU32Option::Selector(sel)),
            TcOption::U32(TcFilterU32Option::Action(actions)),
        ]));
        m
    }
}

impl Netlink {
    /// Add a u32 filter that matches every packet and redirects it (see
    /// [`U32MatchAll`]). The kernel picks the handle (`800::800` for the
    /// first rule of the default hash table). A redirect to a device that
    /// does not exist fails (`ENODEV`) and adds nothing.
    pub fn add_u32_match_all(&self, ifindex: u32, f: &U32MatchAll) -> Result<(), NetlinkError> {
        self.sock
            .request(
                RouteNetlinkMessage::NewTrafficFilter(f.message(ifindex)),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .map_err(|e| {
                let to: Vec<String> = f
                    .redirects
                    .iter()
                    .map(|r| format!("#{}", r.ifindex))
                    .collect();
                e.during(format_args!(
                    "add u32 filter on link #{ifindex} parent {} prio {} redirecting to {}",
                    f.parent,
                    f.prio,
                    to.join(", ")
                ))
            })?;
        Ok(())
    }

    /// The filters attached to `parent` of a device (`tc filter show dev
    /// <if> parent <parent>`). A device without that qdisc has none.
    pub fn filters(&self, ifindex: u32, parent: Handle) -> Result<Vec<Filter>, NetlinkError> {
        let replies = match self.sock.dump(|| {
            let mut m = TcMessage::with_index(ifindex.try_into().unwrap_or(i32::MAX));
            m.header.parent = TcHandle::from(parent.0);
            RouteNetlinkMessage::GetTrafficFilter(m)
        }) {
            Ok(r) => r,
            Err(f) if matches!(f.errno, Some(libc::ENOENT | libc::EINVAL)) => return Ok(vec![]),
            Err(f) => {
                return Err(f.during(format_args!(
                    "list filters of link #{ifindex} parent {parent}"
                )));
            }
        };
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewTrafficFilter(m) => Some(Filter::from_message(m)),
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    #[test]
    fn match_all_message_as_tc_builds_it() {
        let f = U32MatchAll::redirect_to(
            Handle::INGRESS_HANDLE,
            1,
            Handle::new(1, 1),
            7,
            &[Verdict::Stolen, Verdict::Ok],
        );
        let m = f.message(3);
        // The header as tc fills it: ifindex, parent ffff:0, no handle,
        // info = prio 1 << 16 | htons(ETH_P_ALL).
        let mut hdr = vec![0u8; m.header.buffer_len()];
        m.header.emit(&mut hdr);
        assert_eq!(hdr[4..8], 3i32.to_ne_bytes());
        assert_eq!(hdr[8..12], [0; 4]);
        assert_eq!(hdr[12..16], 0xffff_0000u32.to_ne_bytes());
        let info = 0x0001_0000u32 | u32::from(ETH_P_ALL.to_be());
        assert_eq!(hdr[16..20], info.to_ne_bytes());
        // What we send is what a dump of it reads back.
        let back = Filter::from_message(&m);
        assert_eq!(back.prio, 1);
        assert_eq!(back.protocol, ETH_P_ALL);
        assert_eq!(back.classid, Some(Handle::new(1, 1)));
        assert!(back.is_match_all());
        assert_eq!(back.redirects, f.redirects);
    }
}
