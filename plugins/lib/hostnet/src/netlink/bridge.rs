//! Bridge ports through `AF_BRIDGE` link messages: port flags in
//! `IFLA_PROTINFO` (hairpin, isolated, learning) and VLAN membership in
//! `IFLA_AF_SPEC` / `IFLA_BRIDGE_VLAN_INFO` (what `bridge link set` and
//! `bridge vlan add|del|show` send).

use netlink_packet_core::{DefaultNla, Nla};
use netlink_packet_route::link::{
    AfSpecBridge, BridgeFlag, BridgeVlanInfo, BridgeVlanInfoFlags, LinkAttribute, LinkExtentMask,
    LinkMessage, LinkProtoInfoBridge,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Netlink, NetlinkError};

/// `IFLA_BRPORT_MODE`: hairpin (reflective relay) mode.
const IFLA_BRPORT_MODE: u16 = 4;
/// `IFLA_BRPORT_LEARNING`: learn source MACs on this port.
const IFLA_BRPORT_LEARNING: u16 = 8;
/// `IFLA_BRPORT_ISOLATED`: isolated ports cannot talk to each other.
const IFLA_BRPORT_ISOLATED: u16 = 33;

/// Port flags to change; None leaves a flag as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgePortSettings {
    /// Hairpin mode: frames may go back out of the port they came in on
    /// (a pod reaching itself through a Service).
    pub hairpin: Option<bool>,
    /// Port isolation.
    pub isolated: Option<bool>,
    /// MAC learning.
    pub learning: Option<bool>,
}

/// A bridge port's flags as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgePortInfo {
    /// The port's interface index.
    pub index: u32,
    /// The bridge it belongs to.
    pub master: Option<u32>,
    /// Hairpin mode.
    pub hairpin: bool,
    /// Port isolation.
    pub isolated: bool,
    /// MAC learning.
    pub learning: bool,
}

/// One VLAN on a bridge port (or on the bridge itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VlanEntry {
    /// VLAN id, 1-4094.
    pub vid: u16,
    /// Untagged frames entering the port are put in this VLAN.
    pub pvid: bool,
    /// Frames of this VLAN leave the port untagged.
    pub untagged: bool,
}

impl VlanEntry {
    /// A tagged, non-PVID membership.
    pub fn tagged(vid: u16) -> VlanEntry {
        VlanEntry {
            vid,
            pvid: false,
            untagged: false,
        }
    }

    /// The port's native VLAN: PVID and untagged (`bridge vlan add vid N
    /// pvid untagged`).
    pub fn native(vid: u16) -> VlanEntry {
        VlanEntry {
            vid,
            pvid: true,
            untagged: true,
        }
    }

    fn flags(&self) -> BridgeVlanInfoFlags {
        let mut f = BridgeVlanInfoFlags::empty();
        if self.pvid {
            f |= BridgeVlanInfoFlags::Pvid;
        }
        if self.untagged {
            f |= BridgeVlanInfoFlags::Untagged;
        }
        f
    }
}

fn bridge_msg(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.interface_family = AddressFamily::Bridge;
    m.header.index = index;
    m
}

fn u8_attr(kind: u16, on: bool) -> LinkProtoInfoBridge {
    LinkProtoInfoBridge::Other(DefaultNla::new(kind, vec![u8::from(on)]))
}

/// The first byte of a port attribute, read back through `Nla` (the
/// crate keeps `DefaultNla`'s value private).
fn attr_u8(nla: &DefaultNla) -> Option<u8> {
    if nla.value_len() == 0 {
        return None;
    }
    let mut buf = vec![0u8; nla.value_len()];
    nla.emit_value(&mut buf);
    buf.first().copied()
}

fn check_vid(vid: u16) -> Result<(), NetlinkError> {
    if (1..=4094).contains(&vid) {
        Ok(())
    } else {
        Err(NetlinkError::new(
            format!("bridge vlan {vid}"),
            Some(libc::EINVAL),
            "VLAN ids are 1-4094",
        ))
    }
}

/// `RTM_SETLINK` (add) or `RTM_DELLINK` (delete) in `AF_BRIDGE` with the
/// VLAN entries in `IFLA_AF_SPEC`; `on_self` adds `BRIDGE_FLAGS_SELF` to
/// address the bridge device itself (what `bridge vlan ... self` sends).
fn vlan_message(
    add: bool,
    index: u32,
    on_self: bool,
    infos: Vec<BridgeVlanInfo>,
) -> RouteNetlinkMessage {
    let mut spec = Vec::new();
    if on_self {
        spec.push(AfSpecBridge::Flags(BridgeFlag::LowerDev));
    }
    spec.extend(infos.into_iter().map(AfSpecBridge::VlanInfo));
    let mut m = bridge_msg(index);
    m.attributes.push(LinkAttribute::AfSpecBridge(spec));
    if add {
        RouteNetlinkMessage::SetLink(m)
    } else {
        RouteNetlinkMessage::DelLink(m)
    }
}

impl Netlink {
    /// Change bridge port flags of port `index` (`IFLA_PROTINFO`, nested,
    /// in an `AF_BRIDGE` `RTM_SETLINK`). The link must be a bridge port.
    pub fn set_bridge_port(
        &self,
        index: u32,
        settings: &BridgePortSettings,
    ) -> Result<(), NetlinkError> {
        let mut attrs = Vec::new();
        if let Some(v) = settings.hairpin {
            attrs.push(u8_attr(IFLA_BRPORT_MODE, v));
        }
        if let Some(v) = settings.isolated {
            attrs.push(u8_attr(IFLA_BRPORT_ISOLATED, v));
        }
        if let Some(v) = settings.learning {
            attrs.push(u8_attr(IFLA_BRPORT_LEARNING, v));
        }
        if attrs.is_empty() {
            return Ok(());
        }
        let mut m = bridge_msg(index);
        m.attributes.push(LinkAttribute::ProtoInfoBridge(attrs));
        self.sock
            .request(RouteNetlinkMessage::SetLink(m), 0)
            .map_err(|f| f.during(format_args!("set bridge port #{index} {settings:?}")))?;
        Ok(())
    }

    /// Port flags of `index`; not-found (`ENODEV`) when it is not a
    /// bridge port.
    pub fn bridge_port(&self, index: u32) -> Result<BridgePortInfo, NetlinkError> {
        let op = || format!("get bridge port #{index}");
        let replies = self
            .sock
            .dump(|| RouteNetlinkMessage::GetLink(bridge_msg(0)))
            .map_err(|f| f.during(op()))?;
        for r in &replies {
            let RouteNetlinkMessage::NewLink(l) = r else {
                continue;
            };
            if l.header.index != index {
                continue;
            }
            let mut info = BridgePortInfo {
                index,
                master: None,
                hairpin: false,
                isolated: false,
                learning: false,
            };
            let mut is_port = false;
            for a in &l.attributes {
                match a {
                    LinkAttribute::Controller(m) if *m != 0 => info.master = Some(*m),
                    LinkAttribute::ProtoInfoBridge(p) => {
                        is_port = true;
                        for attr in p {
                            let LinkProtoInfoBridge::Other(nla) = attr else {
                                continue;
                            };
                            let v = attr_u8(nla).unwrap_or(0) != 0;
                            match nla.kind() & 0x3fff {
                                IFLA_BRPORT_MODE => info.hairpin = v,
                                IFLA_BRPORT_ISOLATED => info.isolated = v,
                                IFLA_BRPORT_LEARNING => info.learning = v,
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            if is_port {
                return Ok(info);
            }
        }
        Err(NetlinkError::new(
            op(),
            Some(libc::ENODEV),
            "not a bridge port",
        ))
    }

    fn vlan_request(
        &self,
        add: bool,
        index: u32,
        on_self: bool,
        infos: Vec<BridgeVlanInfo>,
        op: impl FnOnce() -> String,
    ) -> Result<(), NetlinkError> {
        let msg = vlan_message(add, index, on_self, infos);
        self.sock.request(msg, 0).map_err(|f| f.during(op()))?;
        Ok(())
    }

    /// Add a VLAN to port `index`. `on_self` addresses the bridge device
    /// itself (`bridge vlan add ... self`) instead of a port.
    pub fn bridge_vlan_add(
        &self,
        index: u32,
        vlan: VlanEntry,
        on_self: bool,
    ) -> Result<(), NetlinkError> {
        check_vid(vlan.vid)?;
        let info = BridgeVlanInfo {
            flags: vlan.flags(),
            vid: vlan.vid,
        };
        self.vlan_request(true, index, on_self, vec![info], || {
            format!("add vlan {vlan:?} to bridge port #{index}")
        })
    }

    /// Add the tagged VLANs `first..=last` to port `index` in one request
    /// (a trunk range).
    pub fn bridge_vlan_add_range(
        &self,
        index: u32,
        first: u16,
        last: u16,
        on_self: bool,
    ) -> Result<(), NetlinkError> {
        check_vid(first)?;
        check_vid(last)?;
        let op = || format!("add vlans {first}-{last} to bridge port #{index}");
        if first > last {
            return Err(NetlinkError::new(op(), Some(libc::EINVAL), "empty range"));
        }
        let infos = if first == last {
            vec![BridgeVlanInfo {
                flags: BridgeVlanInfoFlags::empty(),
                vid: first,
            }]
        } else {
            vec![
                BridgeVlanInfo {
                    flags: BridgeVlanInfoFlags::RangeBegin,
                    vid: first,
                },
                BridgeVlanInfo {
                    flags: BridgeVlanInfoFlags::RangeEnd,
                    vid: last,
                },
            ]
        };
        self.vlan_request(true, index, on_self, infos, op)
    }

    /// Remove VLAN `vid` from port `index`.
    pub fn bridge_vlan_del(&self, index: u32, vid: u16, on_self: bool) -> Result<(), NetlinkError> {
        check_vid(vid)?;
        let info = BridgeVlanInfo {
            flags: BridgeVlanInfoFlags::empty(),
            vid,
        };
        self.vlan_request(false, index, on_self, vec![info], || {
            format!("delete vlan {vid} from bridge port #{index}")
        })
    }

    /// Remove every VLAN from port `index` in one request (a new port gets
    /// the bridge's default PVID; the reference removes it unless told to
    /// preserve it).
    pub fn bridge_vlan_clear(&self, index: u32) -> Result<(), NetlinkError> {
        let current = self.bridge_vlans(index)?;
        if current.is_empty() {
            return Ok(());
        }
        let infos = current
            .iter()
            .map(|v| BridgeVlanInfo {
                flags: BridgeVlanInfoFlags::empty(),
                vid: v.vid,
            })
            .collect();
        self.vlan_request(false, index, false, infos, || {
            format!("delete all vlans from bridge port #{index}")
        })
    }

    /// The VLANs of port `index` (or of a bridge device's own entries),
    /// sorted by id; empty when the link has none or is not in a bridge.
    pub fn bridge_vlans(&self, index: u32) -> Result<Vec<VlanEntry>, NetlinkError> {
        let replies = self
            .sock
            .dump(|| {
                let mut m = bridge_msg(0);
                m.attributes
                    .push(LinkAttribute::ExtMask(vec![LinkExtentMask::Brvlan]));
                RouteNetlinkMessage::GetLink(m)
            })
            .map_err(|f| f.during(format_args!("list vlans of bridge port #{index}")))?;
        Ok(vlans_of(&replies, index))
    }
}

/// The VLAN entries of link `index` in an `AF_BRIDGE` dump made with
/// `RTEXT_FILTER_BRVLAN` (one `IFLA_BRIDGE_VLAN_INFO` per VLAN).
fn vlans_of(replies: &[RouteNetlinkMessage], index: u32) -> Vec<VlanEntry> {
    let mut out = Vec::new();
    for r in replies {
        let RouteNetlinkMessage::NewLink(l) = r else {
            continue;
        };
        if l.header.index != index {
            continue;
        }
        for a in &l.attributes {
            let LinkAttribute::AfSpecBridge(spec) = a else {
                continue;
            };
            for s in spec {
                if let AfSpecBridge::VlanInfo(v) = s {
                    out.push(VlanEntry {
                        vid: v.vid,
                        pvid: v.flags.contains(BridgeVlanInfoFlags::Pvid),
                        untagged: v.flags.contains(BridgeVlanInfoFlags::Untagged),
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_flags() {
        assert_eq!(
            VlanEntry::native(10).flags(),
            BridgeVlanInfoFlags::Pvid | BridgeVlanInfoFlags::Untagged
        );
        assert!(VlanEntry::tagged(10).flags().is_empty());
    }

    #[test]
    fn vid_range_checked() {
        assert!(check_vid(0).is_err());
        assert!(check_vid(4095).is_err());
        check_vid(1).unwrap();
        check_vid(4094).unwrap();
    }

    fn bytes(m: &RouteNetlinkMessage) -> Vec<u8> {
        use netlink_packet_core::Emitable;
        let mut b = vec![0u8; m.buffer_len()];
        m.emit(&mut b);
        b
    }

    /// ifinfomsg for AF_BRIDGE (7) on ifindex 4.
    fn ifinfo(index: u32) -> Vec<u8> {
        let mut v = vec![7u8, 0, 0, 0];
        v.extend_from_slice(&index.to_ne_bytes());
        v.extend_from_slice(&[0; 8]);
        v
    }

    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v
    }

    fn vlan_info(flags: u16, vid: u16) -> Vec<u8> {
        let mut v = flags.to_ne_bytes().to_vec();
        v.extend_from_slice(&vid.to_ne_bytes());
        nla(2, &v)
    }

    // The expected bytes are what iproute2's `bridge vlan` sends (seen
    // with strace): the kernel on the test machine may lack
    // CONFIG_BRIDGE_VLAN_FILTERING, so the layout is pinned here too.
    #[test]
    fn vlan_add_matches_iproute2_bytes() {
        let m = vlan_message(
            true,
            4,
            false,
            vec![BridgeVlanInfo {
                flags: VlanEntry::native(10).flags(),
                vid: 10,
            }],
        );
        assert!(matches!(m, RouteNetlinkMessage::SetLink(_)));
        let mut want = ifinfo(4);
        want.extend(nla(26, &vlan_info(0x2 | 0x4, 10)));
        assert_eq!(bytes(&m), want);
    }

    #[test]
    fn vlan_self_range_and_delete_match_iproute2_bytes() {
        let m = vlan_message(
            true,
            3,
            true,
            vec![BridgeVlanInfo {
                flags: BridgeVlanInfoFlags::empty(),
                vid: 10,
            }],
        );
        let mut inner = nla(0, &2u16.to_ne_bytes());
        inner.extend(vlan_info(0, 10));
        let mut want = ifinfo(3);
        want.extend(nla(26, &inner));
        assert_eq!(bytes(&m), want);

        let m = vlan_message(
            true,
            4,
            false,
            vec![
                BridgeVlanInfo {
                    flags: BridgeVlanInfoFlags::RangeBegin,
                    vid: 100,
                },
                BridgeVlanInfo {
                    flags: BridgeVlanInfoFlags::RangeEnd,
                    vid: 102,
                },
            ],
        );
        let mut inner = vlan_info(0x8, 100);
        inner.extend(vlan_info(0x10, 102));
        let mut want = ifinfo(4);
        want.extend(nla(26, &inner));
        assert_eq!(bytes(&m), want);

        let m = vlan_message(
            false,
            4,
            false,
            vec![BridgeVlanInfo {
                flags: BridgeVlanInfoFlags::empty(),
                vid: 10,
            }],
        );
        assert!(matches!(m, RouteNetlinkMessage::DelLink(_)));
        let mut want = ifinfo(4);
        want.extend(nla(26, &vlan_info(0, 10)));
        assert_eq!(bytes(&m), want);
    }

    #[test]
    fn vlan_dump_is_parsed() {
        use netlink_packet_core::Parseable;
        let mut inner = vlan_info(0x2 | 0x4, 1);
        inner.extend(vlan_info(0, 300));
        let mut raw = ifinfo(4);
        raw.extend(nla(3, b"hv0\0"));
        raw.extend(nla(26, &inner));
        let msg = LinkMessage::parse(&raw[..]).unwrap();
        let mut other = msg.clone();
        other.header.index = 5;
        let replies = vec![
            RouteNetlinkMessage::NewLink(other),
            RouteNetlinkMessage::NewLink(msg),
        ];
        assert_eq!(
            vlans_of(&replies, 4),
            vec![VlanEntry::native(1), VlanEntry::tagged(300)]
        );
        assert!(vlans_of(&replies[..1], 4).is_empty());
    }

    #[test]
    fn port_attributes_read_back() {
        let a = u8_attr(IFLA_BRPORT_ISOLATED, true);
        let LinkProtoInfoBridge::Other(nla) = a else {
            panic!()
        };
        assert_eq!(nla.kind(), IFLA_BRPORT_ISOLATED);
        assert_eq!(attr_u8(&nla), Some(1));
    }
}
