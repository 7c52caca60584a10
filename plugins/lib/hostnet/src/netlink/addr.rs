//! Interface addresses (`RTM_NEWADDR` / `RTM_DELADDR` / `RTM_GETADDR`).

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Netlink, NetlinkError};

/// An address family filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
    /// Both.
    All,
}

impl Family {
    pub(crate) fn to_nl(self) -> AddressFamily {
        match self {
            Family::V4 => AddressFamily::Inet,
            Family::V6 => AddressFamily::Inet6,
            Family::All => AddressFamily::Unspec,
        }
    }

    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
}

/// `IFA_F_*` address flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddrFlags(pub u32);

impl AddrFlags {
    /// No flags.
    pub const NONE: AddrFlags = AddrFlags(0);
    /// `IFA_F_NODAD`: skip IPv6 duplicate address detection.
    pub const NODAD: AddrFlags = AddrFlags(0x02);
    /// `IFA_F_OPTIMISTIC`: usable during DAD.
    pub const OPTIMISTIC: AddrFlags = AddrFlags(0x04);
    /// `IFA_F_DADFAILED`: DAD found a duplicate; the address is unusable.
    pub const DADFAILED: AddrFlags = AddrFlags(0x08);
    /// `IFA_F_TENTATIVE`: DAD still running; the address is unusable.
    pub const TENTATIVE: AddrFlags = AddrFlags(0x40);
    /// `IFA_F_PERMANENT`: configured (not learnt from RA).
    pub const PERMANENT: AddrFlags = AddrFlags(0x80);
    /// `IFA_F_NOPREFIXROUTE`: do not add the prefix route.
    pub const NOPREFIXROUTE: AddrFlags = AddrFlags(0x200);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: AddrFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for AddrFlags {
    type Output = AddrFlags;
    fn bitor(self, rhs: AddrFlags) -> AddrFlags {
        AddrFlags(self.0 | rhs.0)
    }
}

/// An address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    /// The interface holding it.
    pub index: u32,
    /// Address and prefix length (host bits kept, as CNI results carry).
    pub addr: IpNet,
    /// `RT_SCOPE_*` (see [`super::scope`]).
    pub scope: u8,
    /// Flags (from `IFA_FLAGS`, which carries more than the header's byte).
    pub flags: AddrFlags,
}

impl AddrInfo {
    /// DAD is still running on this address.
    pub fn is_tentative(&self) -> bool {
        self.flags.contains(AddrFlags::TENTATIVE)
    }
    /// DAD failed on this address.
    pub fn is_dadfailed(&self) -> bool {
        self.flags.contains(AddrFlags::DADFAILED)
    }
    /// Configured rather than autoconfigured.
    pub fn is_permanent(&self) -> bool {
        self.flags.contains(AddrFlags::PERMANENT)
    }

    fn from_message(m: &AddressMessage) -> Option<AddrInfo> {
        let mut local = None;
        let mut address = None;
        let mut flags = u32::from(m.header.flags.bits());
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Flags(f) => flags = f.bits(),
                _ => {}
            }
        }
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the
        // peer on point-to-point links and the same address elsewhere.
        let ip = local.or(address)?;
        Some(AddrInfo {
            index: m.header.index,
            addr: IpNet::new(ip, m.header.prefix_len).ok()?,
            scope: u8::from(m.header.scope),
            flags: AddrFlags(flags),
        })
    }
}

fn addr_message(index: u32, addr: &IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = Family::of(&addr.addr()).to_nl();
    m.header.prefix_len = addr.prefix_len();
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(addr.addr()));
    m.attributes.push(AddressAttribute::Address(addr.addr()));
    m
}

/// The message for adding `addr` (public for unit tests of its layout).
fn add_message(index: u32, addr: &IpNet, flags: AddrFlags) -> AddressMessage {
    let mut m = addr_message(index, addr);
    // The reference (vishvananda/netlink AddrAdd) sets the broadcast
    // address for IPv4 prefixes shorter than /31, so `ip addr` shows
    // "brd"; do the same so pods look identical.
    if let IpNet::V4(v4) = addr
        && v4.prefix_len() < 31
    {
        m.attributes
            .push(AddressAttribute::Broadcast(v4.broadcast()));
    }
    if flags.0 != 0 {
        m.header.flags = AddressHeaderFlags::from_bits_retain((flags.0 & 0xff) as u8);
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::from_bits_retain(
                flags.0,
            )));
    }
    m.header.scope = AddressScope::Universe;
    m
}

impl Netlink {
    /// Add `addr` (address/prefix) to link `index`, with `IFA_F_*` flags
    /// such as [`AddrFlags::NODAD`]. An address already present fails with
    /// [`NetlinkError::is_exists`].
    pub fn addr_add(&self, index: u32, addr: IpNet, flags: AddrFlags) -> Result<(), NetlinkError> {
        let m = add_message(index, &addr, flags);
        self.sock
            .request(
                RouteNetlinkMessage::NewAddress(m),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .map_err(|f| f.during(format_args!("add address {addr} to link #{index}")))?;
        Ok(())
    }

    /// Remove `addr` from link `index` (`EADDRNOTAVAIL` ->
    /// [`NetlinkError::is_not_found`] when it is not there).
    pub fn addr_del(&self, index: u32, addr: IpNet) -> Result<(), NetlinkError> {
        let m = addr_message(index, &addr);
        self.sock
            .request(RouteNetlinkMessage::DelAddress(m), 0)
            .map_err(|f| f.during(format_args!("delete address {addr} from link #{index}")))?;
        Ok(())
    }

    /// Addresses of `family`, on link `index` only when given.
    pub fn addrs(&self, index: Option<u32>, family: Family) -> Result<Vec<AddrInfo>, NetlinkError> {
        let replies = self
            .sock
            .dump(|| {
                let mut m = AddressMessage::default();
                m.header.family = family.to_nl();
                RouteNetlinkMessage::GetAddress(m)
            })
            .map_err(|f| match index {
                Some(i) => f.during(format_args!("list addresses of link #{i}")),
                None => f.during("list addresses"),
            })?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a) => AddrInfo::from_message(a),
                _ => None,
            })
            .filter(|a| index.is_none_or(|i| a.index == i))
            .filter(|a| match family {
                Family::V4 => a.addr.addr().is_ipv4(),
                Family::V6 => a.addr.addr().is_ipv6(),
                Family::All => true,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_add_sets_local_address_and_broadcast() {
        let net: IpNet = "10.1.2.3/24".parse().unwrap();
        let m = add_message(5, &net, AddrFlags::NONE);
        assert_eq!(m.header.prefix_len, 24);
        assert_eq!(m.header.index, 5);
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert!(
            m.attributes
                .contains(&AddressAttribute::Broadcast("10.1.2.255".parse().unwrap()))
        );
        assert!(
            m.attributes
                .contains(&AddressAttribute::Local("10.1.2.3".parse().unwrap()))
        );
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Flags(_)))
        );
        let p2p: IpNet = "10.1.2.3/31".parse().unwrap();
        assert!(
            !add_message(5, &p2p, AddrFlags::NONE)
                .attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Broadcast(_)))
        );
    }

    #[test]
    fn v6_add_carries_nodad() {
        let net: IpNet = "fd00::5/64".parse().unwrap();
        let m = add_message(5, &net, AddrFlags::NODAD);
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert!(
            m.attributes
                .contains(&AddressAttribute::Flags(AddressFlags::Nodad))
        );
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Broadcast(_)))
        );
    }

    #[test]
    fn info_prefers_local_and_full_flags() {
        let mut m = AddressMessage::default();
        m.header.prefix_len = 64;
        m.header.index = 3;
        m.header.flags = AddressHeaderFlags::Permanent;
        m.attributes
            .push(AddressAttribute::Address("fd00::1".parse().unwrap()));
        m.attributes.push(AddressAttribute::Flags(
            AddressFlags::Permanent | AddressFlags::Tentative | AddressFlags::Noprefixroute,
        ));
        let a = AddrInfo::from_message(&m).unwrap();
        assert_eq!(a.addr.to_string(), "fd00::1/64");
        assert!(a.is_tentative() && a.is_permanent() && !a.is_dadfailed());
        assert!(a.flags.contains(AddrFlags::NOPREFIXROUTE));
    }
}
