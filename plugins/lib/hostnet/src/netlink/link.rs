//! Links: lookup, listing, bridge and veth creation, and the per-link
//! settings the plugins change (up/down, master, MTU, MAC, promisc,
//! allmulticast, transmit queue length, name).

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    AfSpecInet, AfSpecInet6, AfSpecUnspec, Inet6DevConf, InetDevConf, InfoBridge, InfoData,
    InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo as NlLinkInfo,
    LinkMessage, State,
};
use std::os::fd::AsRawFd;

use crate::mac::MacAddr;
use crate::netns::NetNs;

use super::error::Fail;
use super::{Netlink, NetlinkError};

/// `IF_OPER_*` (RFC 2863 operational state), as the kernel reports it in
/// `IFLA_OPERSTATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperState {
    /// `IF_OPER_UNKNOWN` (e.g. loopback, or a driver that does not say).
    Unknown,
    /// `IF_OPER_NOTPRESENT`.
    NotPresent,
    /// `IF_OPER_DOWN`.
    Down,
    /// `IF_OPER_LOWERLAYERDOWN` (e.g. a veth whose peer is down).
    LowerLayerDown,
    /// `IF_OPER_TESTING`.
    Testing,
    /// `IF_OPER_DORMANT`.
    Dormant,
    /// `IF_OPER_UP`: able to pass packets.
    Up,
    /// A value this crate does not know.
    Other(u8),
}

impl From<State> for OperState {
    fn from(s: State) -> Self {
        match u8::from(s) {
            0 => OperState::Unknown,
            1 => OperState::NotPresent,
            2 => OperState::Down,
            3 => OperState::LowerLayerDown,
            4 => OperState::Testing,
            5 => OperState::Dormant,
            6 => OperState::Up,
            n => OperState::Other(n),
        }
    }
}

/// What the plugins need to know about a link (`RTM_NEWLINK` contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index (unique within its namespace).
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// `IFLA_INFO_KIND`: "bridge", "veth", ...; None for devices without a
    /// link type (loopback, physical NICs).
    pub kind: Option<String>,
    /// Hardware address, when it is an Ethernet-sized one.
    pub mac: Option<MacAddr>,
    /// MTU.
    pub mtu: u32,
    /// `IFLA_MIN_MTU` and `IFLA_MAX_MTU`: the MTUs the driver accepts
    /// (Linux 4.10+; None when the kernel does not say), so a caller can
    /// reject an MTU before it changes anything else.
    pub mtu_range: Option<(u32, u32)>,
    /// Raw `IFF_*` flags.
    pub flags: u32,
    /// `IFF_UP`: administratively up.
    pub up: bool,
    /// `IFF_PROMISC` as the user set it (the kernel reports the requested
    /// flag, not the count of in-kernel users such as a bridge port).
    pub promisc: bool,
    /// `IFF_ALLMULTI` as the user set it (reported like `promisc`).
    pub allmulti: bool,
    /// `IFLA_TXQLEN`: the transmit queue length (`ip link ... qlen`).
    pub txqlen: u32,
    /// `IFF_LOWER_UP`: carrier.
    pub lower_up: bool,
    /// Operational state.
    pub operstate: OperState,
    /// `IFLA_MASTER`: index of the bridge (or bond...) this link is a port of.
    pub master: Option<u32>,
    /// `IFLA_LINK`: for a veth, the peer's index, in the namespace named by
    /// `link_netnsid` when that is set, else in this namespace.
    pub link: Option<u32>,
    /// `IFLA_LINK_NETNSID`: the peer's namespace id as seen from here.
    pub link_netnsid: Option<i32>,
    /// For bridges: whether VLAN filtering is on.
    pub vlan_filtering: Option<bool>,
    /// The link's IPv4 settings, `net/ipv4/conf/<if>/*` (`IFLA_AF_SPEC` /
    /// `AF_INET` / `IFLA_INET_CONF`); None when the kernel sent none.
    ///
    /// Read here rather than under /proc/sys: every lookup below
    /// /proc/sys/net/ipv4 walks one cached dentry per network namespace
    /// that was ever looked at (proc_sys_compare), so on a node with 1,000
    /// pods each open costs ~0.3 ms, while this arrives with the link.
    pub ipv4_conf: Option<InetDevConf>,
    /// The link's IPv6 settings, `net/ipv6/conf/<if>/*` (`AF_INET6` /
    /// `IFLA_INET6_CONF`); None when IPv6 is disabled in the kernel.
    pub ipv6_conf: Option<Inet6DevConf>,
}

impl LinkInfo {
    /// True for a Linux bridge.
    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some("bridge")
    }

    /// True for one end of a veth pair.
    pub fn is_veth(&self) -> bool {
        self.kind.as_deref() == Some("veth")
    }

    pub(crate) fn from_message(m: &LinkMessage) -> LinkInfo {
        let flags = m.header.flags;
        let mut info = LinkInfo {
            index: m.header.index,
            name: String::new(),
            kind: None,
            mac: None,
            mtu: 0,
            mtu_range: None,
            flags: flags.bits(),
            up: flags.contains(LinkFlags::Up),
            promisc: flags.contains(LinkFlags::Promisc),
            allmulti: flags.contains(LinkFlags::Allmulti),
            txqlen: 0,
            lower_up: flags.contains(LinkFlags::LowerUp),
            operstate: OperState::Unknown,
            master: None,
            link: None,
            link_netnsid: None,
            vlan_filtering: None,
            ipv4_conf: None,
            ipv6_conf: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => info.name = n.clone(),
                LinkAttribute::Address(b) => info.mac = MacAddr::from_slice(b),
                LinkAttribute::Mtu(v) => info.mtu = *v,
                LinkAttribute::TxQueueLen(v) => info.txqlen = *v,
                LinkAttribute::MinMtu(v) => {
                    info.mtu_range = Some((*v, info.mtu_range.map_or(u32::MAX, |r| r.1)));
                }
                LinkAttribute::MaxMtu(v) => {
                    info.mtu_range = Some((info.mtu_range.map_or(0, |r| r.0), *v));
                }
                LinkAttribute::OperState(s) => info.operstate = (*s).into(),
                LinkAttribute::Controller(i) if *i != 0 => info.master = Some(*i),
                LinkAttribute::Link(i) if *i != 0 => info.link = Some(*i),
                LinkAttribute::LinkNetNsId(id) => info.link_netnsid = Some(*id),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            NlLinkInfo::Kind(k) => info.kind = Some(k.to_string()),
                            NlLinkInfo::Data(InfoData::Bridge(opts)) => {
                                for o in opts {
                                    if let InfoBridge::VlanFiltering(v) = o {
                                        info.vlan_filtering = Some(*v);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                LinkAttribute::AfSpecUnspec(specs) => {
                    for spec in specs {
                        match spec {
                            AfSpecUnspec::Inet(v4) => {
                                for a in v4 {
                                    if let AfSpecInet::DevConf(c) = a {
                                        info.ipv4_conf = Some(*c);
                                    }
                                }
                            }
                            AfSpecUnspec::Inet6(v6) => {
                                for a in v6 {
                                    if let AfSpecInet6::DevConf(c) = a {
                                        info.ipv6_conf = Some(*c);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        info
    }
}

/// A veth pair to create: `name` in the socket's namespace, `peer_name`
/// directly in `peer_netns` (or beside it when None).
#[derive(Debug, Clone, Copy)]
pub struct VethSpec<'a> {
    /// Name of the end created in the socket's namespace.
    pub name: &'a str,
    /// Name of the other end.
    pub peer_name: &'a str,
    /// Namespace the peer is created in (`IFLA_NET_NS_FD`), None for the
    /// socket's own namespace.
    pub peer_netns: Option<&'a NetNs>,
    /// MAC for the local end (kernel-random when None).
    pub mac: Option<MacAddr>,
    /// MAC for the peer (kernel-random when None).
    pub peer_mac: Option<MacAddr>,
    /// MTU for both ends (kernel default when None).
    pub mtu: Option<u32>,
}

/// Linux limits interface names to IFNAMSIZ-1 bytes, without '/', ':',
/// whitespace, and not "." or "..". Checked here so that the message
/// says which name is wrong instead of a bare EINVAL.
pub(super) fn check_ifname(what: &str, name: &str) -> Result<(), NetlinkError> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0');
    if bad {
        return Err(NetlinkError::new(
            format!("{what} {name:?}"),
            Some(libc::EINVAL),
            "interface names are 1-15 bytes without '/', ':' or whitespace",
        ));
    }
    Ok(())
}

pub(super) fn link_msg(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

impl Netlink {
    /// The link named `name` (`ENODEV` -> [`NetlinkError::is_not_found`]).
    pub fn link_by_name(&self, name: &str) -> Result<LinkInfo, NetlinkError> {
        check_ifname("get link", name)?;
        let mut m = link_msg(0);
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.get_link(m)
            .map_err(|f| f.during(format_args!("get link {name:?}")))
    }

    /// The link with interface index `index`.
    pub fn link_by_index(&self, index: u32) -> Result<LinkInfo, NetlinkError> {
        let mut m = link_msg(index);
        m.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.get_link(m)
            .map_err(|f| f.during(format_args!("get link #{index}")))
    }

    fn get_link(&self, m: LinkMessage) -> Result<LinkInfo, Fail> {
        let replies = self.sock.request(RouteNetlinkMessage::GetLink(m), 0)?;
        replies
            .iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(LinkInfo::from_message(l)),
                _ => None,
            })
            .ok_or_else(|| Fail::protocol("the kernel answered without a link"))
    }

    /// Every link in the namespace.
    pub fn links(&self) -> Result<Vec<LinkInfo>, NetlinkError> {
        let replies = self
            .sock
            .dump(|| {
                let mut m = link_msg(0);
                m.attributes
                    .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
                RouteNetlinkMessage::GetLink(m)
            })
            .map_err(|f| f.during("list links"))?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(LinkInfo::from_message(l)),
                _ => None,
            })
            .collect())
    }

    /// Create a bridge. Fails with [`NetlinkError::is_exists`] when the
    /// name is taken (by a bridge or anything else: the caller decides).
    pub fn create_bridge(
        &self,
        name: &str,
        mtu: Option<u32>,
        vlan_filtering: bool,
    ) -> Result<(), NetlinkError> {
        check_ifname("create bridge", name)?;
        let mut m = link_msg(0);
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        let mut info = vec![NlLinkInfo::Kind(InfoKind::Bridge)];
        if vlan_filtering {
            info.push(NlLinkInfo::Data(InfoData::Bridge(vec![
                InfoBridge::VlanFiltering(true),
            ])));
        }
        m.attributes.push(LinkAttribute::LinkInfo(info));
        self.sock
            .request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(|f| f.during(format_args!("create bridge {name:?}")))?;
        Ok(())
    }

    /// Create a veth pair in one request: `spec.name` here and
    /// `spec.peer_name` directly inside `spec.peer_netns` (no move
    /// afterwards, so the peer never appears in this namespace). Fails
    /// with [`NetlinkError::is_exists`] when either name is taken in its
    /// namespace. Returns the local end.
    pub fn create_veth(&self, spec: &VethSpec<'_>) -> Result<LinkInfo, NetlinkError> {
        check_ifname("create veth", spec.name)?;
        check_ifname("create veth peer", spec.peer_name)?;
        let op = || {
            format!(
                "create veth {:?} with peer {:?}{}",
                spec.name,
                spec.peer_name,
                spec.peer_netns
                    .map(|n| format!(" in {}", n.path().display()))
                    .unwrap_or_default()
            )
        };
        let mut peer = link_msg(0);
        peer.attributes
            .push(LinkAttribute::IfName(spec.peer_name.to_string()));
        if let Some(ns) = spec.peer_netns {
            peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        }
        if let Some(mtu) = spec.mtu {
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = spec.peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        }
        let mut m = link_msg(0);
        m.attributes
            .push(LinkAttribute::IfName(spec.name.to_string()));
        if let Some(mtu) = spec.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = spec.mac {
            m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::Veth),
            NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.sock
            .request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(|f| f.during(op()))?;
        self.link_by_name(spec.name)
    }

    fn set_link(&self, m: LinkMessage, op: impl FnOnce() -> String) -> Result<(), NetlinkError> {
        self.sock
            .request(RouteNetlinkMessage::SetLink(m), 0)
            .map_err(|f| f.during(op()))?;
        Ok(())
    }

    fn set_flag(
        &self,
        index: u32,
        flag: LinkFlags,
        on: bool,
        what: &str,
    ) -> Result<(), NetlinkError> {
        let mut m = link_msg(index);
        m.header.change_mask = flag;
        if on {
            m.header.flags = flag;
        }
        self.set_link(m, || format!("set link #{index} {what}"))
    }

    /// Bring a link up (`IFF_UP`).
    pub fn set_up(&self, index: u32) -> Result<(), NetlinkError> {
        self.set_flag(index, LinkFlags::Up, true, "up")
    }

    /// Bring a link down.
    pub fn set_down(&self, index: u32) -> Result<(), NetlinkError> {
        self.set_flag(index, LinkFlags::Up, false, "down")
    }

    /// Turn promiscuous mode on or off (the user-requested `IFF_PROMISC`,
    /// as `ip link set promisc on|off` does).
    pub fn set_promisc(&self, index: u32, on: bool) -> Result<(), NetlinkError> {
        let what = if on { "promisc on" } else { "promisc off" };
        self.set_flag(index, LinkFlags::Promisc, on, what)
    }

    /// Turn all-multicast reception on or off (the user-requested
    /// `IFF_ALLMULTI`, as `ip link set allmulticast on|off` does).
    pub fn set_allmulti(&self, index: u32, on: bool) -> Result<(), NetlinkError> {
        let what = if on {
            "allmulticast on"
        } else {
            "allmulticast off"
        };
        self.set_flag(index, LinkFlags::Allmulti, on, what)
    }

    /// Set the transmit queue length (`IFLA_TXQLEN`, as `ip link set
    /// txqueuelen N` does). 0 is a valid length (no queue).
    pub fn set_txqlen(&self, index: u32, qlen: u32) -> Result<(), NetlinkError> {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::TxQueueLen(qlen));
        self.set_link(m, || format!("set link #{index} txqueuelen {qlen}"))
    }

    /// Turn IPv4 settings of link `index` on, as writing
    /// `net/ipv4/conf/<if>/<key>` would, but over rtnetlink
    /// (`IFLA_AF_SPEC`/`AF_INET`/`IFLA_INET_CONF`, the kernel's
    /// `inet_set_link_af`), which costs the same on a node with thousands of
    /// namespaces as on an empty one (see [`LinkInfo::ipv4_conf`]). Only the
    /// fields of `conf` that are nonzero are sent, so start from
    /// `InetDevConf::default()` and set the keys to change.
    pub fn set_ipv4_conf(&self, index: u32, conf: InetDevConf) -> Result<(), NetlinkError> {
        let mut m = link_msg(index);
        m.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet(vec![
                AfSpecInet::DevConfRequest(conf),
            ])]));
        self.set_link(m, || format!("set IPv4 settings of link #{index}"))
    }

    /// Make `index` a port of the bridge `master`.
    pub fn set_master(&self, index: u32, master: u32) -> Result<(), NetlinkError> {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::Controller(master));
        self.set_link(m, || format!("set link #{index} master #{master}"))
    }

    /// Detach `index` from its bridge.
    pub fn set_nomaster(&self, index: u32) -> Result<(), NetlinkError> {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::Controller(0));
        self.set_link(m, || format!("set link #{index} nomaster"))
    }

    /// Set the MTU.
    pub fn set_mtu(&self, index: u32, mtu: u32) -> Result<(), NetlinkError> {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::Mtu(mtu));
        self.set_link(m, || format!("set link #{index} mtu {mtu}"))
    }

    /// Set the hardware address. Setting a bridge's address to its current
    /// value pins it (the kernel stops following its ports' addresses).
    pub fn set_mac(&self, index: u32, mac: MacAddr) -> Result<(), NetlinkError> {
        let mut m = link_msg(index);
        m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        self.set_link(m, || format!("set link #{index} address {mac}"))
    }

    /// Rename a link (the kernel refuses while it is up on older kernels).
    pub fn rename_link(&self, index: u32, new_name: &str) -> Result<(), NetlinkError> {
        check_ifname("rename link", new_name)?;
        let mut m = link_msg(index);
        m.attributes
            .push(LinkAttribute::IfName(new_name.to_string()));
        self.set_link(m, || format!("rename link #{index} to {new_name:?}"))
    }

    /// Delete a link (for a veth, the peer goes with it).
    pub fn delete_link(&self, index: u32) -> Result<(), NetlinkError> {
        self.sock
            .request(RouteNetlinkMessage::DelLink(link_msg(index)), 0)
            .map_err(|f| f.during(format_args!("delete link #{index}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked_before_the_kernel() {
        for bad in ["", "a-very-long-name-x", "a/b", "a:b", "a b", ".", ".."] {
            let e = check_ifname("create bridge", bad).unwrap_err();
            assert_eq!(e.errno(), Some(libc::EINVAL), "{bad}");
            assert!(e.to_string().contains("create bridge"), "{e}");
        }
        check_ifname("x", "cni0").unwrap();
        check_ifname("x", "veth0123abcd").unwrap();
        check_ifname("x", "fifteen-chars15").unwrap();
    }

    #[test]
    fn link_info_from_a_bridge_message() {
        let mut m = link_msg(7);
        m.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        m.attributes.push(LinkAttribute::IfName("cni0".into()));
        m.attributes.push(LinkAttribute::Mtu(1400));
        m.attributes
            .push(LinkAttribute::Address(vec![0x0a, 0x58, 0, 0, 0, 1]));
        m.attributes.push(LinkAttribute::OperState(State::Up));
        m.attributes.push(LinkAttribute::TxQueueLen(1000));
        m.attributes.push(LinkAttribute::MaxMtu(65535));
        m.attributes.push(LinkAttribute::MinMtu(68));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::Bridge),
            NlLinkInfo::Data(InfoData::Bridge(vec![InfoBridge::VlanFiltering(true)])),
        ]));
        let i = LinkInfo::from_message(&m);
        assert_eq!(i.index, 7);
        assert_eq!(i.name, "cni0");
        assert!(i.is_bridge() && !i.is_veth());
        assert_eq!(i.mtu, 1400);
        assert_eq!(i.mac.unwrap().to_string(), "0a:58:00:00:00:01");
        assert!(i.up && i.lower_up && !i.promisc && !i.allmulti);
        assert_eq!(i.txqlen, 1000);
        assert_eq!(i.mtu_range, Some((68, 65535)));
        assert_eq!(i.operstate, OperState::Up);
        assert_eq!(i.vlan_filtering, Some(true));
        assert_eq!(i.master, None);
    }
}
