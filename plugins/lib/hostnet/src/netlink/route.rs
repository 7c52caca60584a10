//! Routes (`RTM_NEWROUTE` / `RTM_DELROUTE` / `RTM_GETROUTE`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric,
    RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::addr::Family;
use super::error::Fail;
use super::{Netlink, NetlinkError, scope};

/// The main routing table (`RT_TABLE_MAIN`).
pub const TABLE_MAIN: u32 = 254;
/// The local routing table (`RT_TABLE_LOCAL`).
pub const TABLE_LOCAL: u32 = 255;

/// A route to add, replace or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination prefix (`0.0.0.0/0` / `::/0` for a default route).
    pub dst: IpNet,
    /// Next hop.
    pub gw: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Routing table; None is the main table.
    pub table: Option<u32>,
    /// `RT_SCOPE_*`; None is universe with a gateway, link without one
    /// (what `ip route add` and the reference's `AddRoute` choose).
    pub scope: Option<u8>,
    /// Priority (metric).
    pub priority: Option<u32>,
    /// `RTAX_MTU` metric.
    pub mtu: Option<u32>,
    /// `RTAX_ADVMSS` metric.
    pub advmss: Option<u32>,
    /// Preferred source address (`RTA_PREFSRC`).
    pub src: Option<IpAddr>,
}

impl RouteSpec {
    /// A route to `dst` with nothing else set.
    pub fn new(dst: IpNet) -> RouteSpec {
        RouteSpec {
            dst,
            gw: None,
            oif: None,
            table: None,
            scope: None,
            priority: None,
            mtu: None,
            advmss: None,
            src: None,
        }
    }

    /// A route to `dst` via `gw` out of link `oif`.
    pub fn via(dst: IpNet, gw: Option<IpAddr>, oif: u32) -> RouteSpec {
        RouteSpec {
            gw,
            oif: Some(oif),
            ..RouteSpec::new(dst)
        }
    }

    fn describe(&self) -> String {
        let mut s = format!("route {}", self.dst);
        if let Some(gw) = self.gw {
            s.push_str(&format!(" via {gw}"));
        }
        if let Some(oif) = self.oif {
            s.push_str(&format!(" dev #{oif}"));
        }
        if let Some(t) = self.table {
            s.push_str(&format!(" table {t}"));
        }
        if let Some(p) = self.priority {
            s.push_str(&format!(" metric {p}"));
        }
        s
    }
}

/// One next hop of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    /// Gateway.
    pub gw: Option<IpAddr>,
    /// Output interface index.
    pub oif: u32,
    /// Weight (`rtnh_hops` + 1).
    pub weight: u16,
}

/// A route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// Destination prefix.
    pub dst: IpNet,
    /// Next hop (single-path routes).
    pub gw: Option<IpAddr>,
    /// Output interface (single-path routes).
    pub oif: Option<u32>,
    /// Routing table.
    pub table: u32,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// Priority (metric); 0 when unset.
    pub priority: u32,
    /// `RTPROT_*` (2 kernel, 3 boot, 4 static...).
    pub protocol: u8,
    /// `RTN_*` (1 unicast, 2 local...).
    pub kind: u8,
    /// `RTAX_MTU`; 0 when unset.
    pub mtu: u32,
    /// `RTAX_ADVMSS`; 0 when unset.
    pub advmss: u32,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    /// Next hops of a multipath (ECMP) route; empty otherwise.
    pub multipath: Vec<NextHop>,
}

fn nl_family(dst: &IpNet) -> AddressFamily {
    Family::of(&dst.addr()).to_nl()
}

fn route_addr(ip: IpAddr) -> RouteAddress {
    RouteAddress::from(ip)
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Build the message for `spec`; `delete` leaves type, protocol and scope
/// as wildcards (as `ip route del` does) so that any matching route goes.
pub(crate) fn route_message(spec: &RouteSpec, delete: bool) -> RouteMessage {
    let mut m = RouteMessage::default();
    let table = spec.table.unwrap_or(TABLE_MAIN);
    m.header.address_family = nl_family(&spec.dst);
    m.header.destination_prefix_length = spec.dst.prefix_len();
    m.header.table = if table < 256 {
        table as u8
    } else {
        RouteHeader::RT_TABLE_UNSPEC
    };
    if delete {
        m.header.scope = RouteScope::from(spec.scope.unwrap_or(scope::NOWHERE));
        m.header.protocol = RouteProtocol::Unspec;
        m.header.kind = RouteType::Unspec;
    } else {
        let default_scope = if spec.gw.is_some() {
            scope::UNIVERSE
        } else {
            scope::LINK
        };
        m.header.scope = RouteScope::from(spec.scope.unwrap_or(default_scope));
        m.header.protocol = RouteProtocol::Boot;
        m.header.kind = RouteType::Unicast;
    }
    if spec.dst.prefix_len() > 0 {
        m.attributes
            .push(RouteAttribute::Destination(route_addr(spec.dst.network())));
    }
    if let Some(gw) = spec.gw {
        m.attributes.push(RouteAttribute::Gateway(route_addr(gw)));
    }
    if let Some(oif) = spec.oif {
        m.attributes.push(RouteAttribute::Oif(oif));
    }
    if let Some(p) = spec.priority {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    if let Some(src) = spec.src {
        m.attributes
            .push(RouteAttribute::PrefSource(route_addr(src)));
    }
    m.attributes.push(RouteAttribute::Table(table));
    let mut metrics = Vec::new();
    if let Some(mtu) = spec.mtu {
        metrics.push(RouteMetric::Mtu(mtu));
    }
    if let Some(advmss) = spec.advmss {
        metrics.push(RouteMetric::Advmss(advmss));
    }
    if !metrics.is_empty() && !delete {
        m.attributes.push(RouteAttribute::Metrics(metrics));
    }
    m
}

impl RouteInfo {
    pub(crate) fn from_message(m: &RouteMessage) -> Option<RouteInfo> {
        let h = &m.header;
        let unspecified = match h.address_family {
            AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => return None,
        };
        let mut dst = unspecified;
        let mut info = RouteInfo {
            dst: IpNet::new(unspecified, 0).ok()?,
            gw: None,
            oif: None,
            table: u32::from(h.table),
            scope: u8::from(h.scope),
            priority: 0,
            protocol: u8::from(h.protocol),
            kind: u8::from(h.kind),
            mtu: 0,
            advmss: 0,
            src: None,
            multipath: Vec::new(),
        };
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(d) => dst = ip_of(d).unwrap_or(dst),
                RouteAttribute::Gateway(g) => info.gw = ip_of(g),
                RouteAttribute::Oif(i) => info.oif = Some(*i),
                RouteAttribute::Table(t) => info.table = *t,
                RouteAttribute::Priority(p) => info.priority = *p,
                RouteAttribute::PrefSource(s) => info.src = ip_of(s),
                RouteAttribute::Metrics(ms) => {
                    for metric in ms {
                        match metric {
                            RouteMetric::Mtu(v) => info.mtu = *v,
                            RouteMetric::Advmss(v) => info.advmss = *v,
                            _ => {}
                        }
                    }
                }
                RouteAttribute::MultiPath(hops) => {
                    for hop in hops {
                        let gw = hop.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Gateway(g) => ip_of(g),
                            _ => None,
                        });
                        info.multipath.push(NextHop {
                            gw,
                            oif: hop.interface_index,
                            weight: u16::from(hop.hops) + 1,
                        });
                    }
                }
                _ => {}
            }
        }
        info.dst = IpNet::new(dst, h.destination_prefix_length).ok()?;
        Some(info)
    }

    /// The gateways of this route: its own, or those of its next hops.
    pub fn gateways(&self) -> Vec<IpAddr> {
        if self.multipath.is_empty() {
            self.gw.into_iter().collect()
        } else {
            self.multipath.iter().filter_map(|h| h.gw).collect()
        }
    }
}

impl Netlink {
    fn route_new(&self, spec: &RouteSpec, flags: u16, verb: &str) -> Result<(), NetlinkError> {
        let m = route_message(spec, false);
        self.sock
            .request(RouteNetlinkMessage::NewRoute(m), flags)
            .map_err(|f| f.during(format_args!("{verb} {}", spec.describe())))?;
        Ok(())
    }

    /// Add a route; an identical destination/metric already in the table
    /// fails with [`NetlinkError::is_exists`] (`ip route add`).
    pub fn route_add(&self, spec: &RouteSpec) -> Result<(), NetlinkError> {
        self.route_new(spec, NLM_F_CREATE | NLM_F_EXCL, "add")
    }

    /// Add or replace (`ip route replace`).
    pub fn route_replace(&self, spec: &RouteSpec) -> Result<(), NetlinkError> {
        self.route_new(spec, NLM_F_CREATE | NLM_F_REPLACE, "replace")
    }

    /// Append (`ip route append`): keep existing routes to the same
    /// destination and add this one after them.
    pub fn route_append(&self, spec: &RouteSpec) -> Result<(), NetlinkError> {
        self.route_new(spec, NLM_F_CREATE | NLM_F_APPEND, "append")
    }

    /// Add like the reference's `RouteAddEcmp` (`NLM_F_CREATE` without
    /// `NLM_F_EXCL`): a route to an existing destination and metric via
    /// another gateway is added next to it instead of failing. IPv6 merges
    /// it into one multipath route (ECMP); IPv4 keeps a second route entry
    /// in front of the first. An exact duplicate still fails with
    /// [`NetlinkError::is_exists`].
    pub fn route_add_ecmp(&self, spec: &RouteSpec) -> Result<(), NetlinkError> {
        self.route_new(spec, NLM_F_CREATE, "add (ecmp)")
    }

    /// Delete the route matching `spec` (fields left None match anything);
    /// `ESRCH` -> [`NetlinkError::is_not_found`] when none matches.
    pub fn route_del(&self, spec: &RouteSpec) -> Result<(), NetlinkError> {
        let m = route_message(spec, true);
        self.sock
            .request(RouteNetlinkMessage::DelRoute(m), 0)
            .map_err(|f| f.during(format_args!("delete {}", spec.describe())))?;
        Ok(())
    }

    /// Routes of `family` in `table` (all tables when None), without
    /// cached clones.
    pub fn routes(
        &self,
        family: Family,
        table: Option<u32>,
    ) -> Result<Vec<RouteInfo>, NetlinkError> {
        let replies = self
            .sock
            .dump(|| {
                let mut m = RouteMessage::default();
                m.header.address_family = family.to_nl();
                RouteNetlinkMessage::GetRoute(m)
            })
            .map_err(|f| f.during("list routes"))?;
        Ok(replies
            .iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewRoute(m)
                    if !m.header.flags.contains(RouteFlags::Cloned) =>
                {
                    RouteInfo::from_message(m)
                }
                _ => None,
            })
            .filter(|r| table.is_none_or(|t| r.table == t))
            .filter(|r| match family {
                Family::V4 => r.dst.addr().is_ipv4(),
                Family::V6 => r.dst.addr().is_ipv6(),
                Family::All => true,
            })
            .collect())
    }

    /// The route the kernel would use to reach `dst` (`ip route get`):
    /// its `oif`, `gw` and preferred source.
    pub fn route_get(&self, dst: IpAddr) -> Result<RouteInfo, NetlinkError> {
        let op = || format!("get route to {dst}");
        let mut m = RouteMessage::default();
        let host = IpNet::from(dst);
        m.header.address_family = nl_family(&host);
        m.header.destination_prefix_length = host.prefix_len();
        m.attributes
            .push(RouteAttribute::Destination(route_addr(dst)));
        let replies = self
            .sock
            .request(RouteNetlinkMessage::GetRoute(m), 0)
            .map_err(|f| f.during(op()))?;
        replies
            .iter()
            .find_map(|r| match r {
                RouteNetlinkMessage::NewRoute(m) => RouteInfo::from_message(m),
                _ => None,
            })
            .ok_or_else(|| Fail::protocol("the kernel answered without a route").during(op()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_message_defaults_scope_by_gateway_and_sets_metrics() {
        let mut spec = RouteSpec::via("10.0.0.0/8".parse().unwrap(), None, 4);
        spec.mtu = Some(1400);
        spec.advmss = Some(1360);
        spec.table = Some(1000);
        let m = route_message(&spec, false);
        assert_eq!(u8::from(m.header.scope), scope::LINK);
        assert_eq!(m.header.table, 0, "tables above 255 go in RTA_TABLE only");
        assert!(m.attributes.contains(&RouteAttribute::Table(1000)));
        assert!(m.attributes.contains(&RouteAttribute::Metrics(vec![
            RouteMetric::Mtu(1400),
            RouteMetric::Advmss(1360)
        ])));
        let gw = RouteSpec::via(
            "0.0.0.0/0".parse().unwrap(),
            Some("10.0.0.1".parse().unwrap()),
            4,
        );
        let m = route_message(&gw, false);
        assert_eq!(u8::from(m.header.scope), scope::UNIVERSE);
        assert_eq!(m.header.table, 254);
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Destination(_)))
        );
    }

    #[test]
    fn delete_message_is_a_wildcard() {
        let spec = RouteSpec::new("fd00::/64".parse().unwrap());
        let m = route_message(&spec, true);
        assert_eq!(u8::from(m.header.scope), scope::NOWHERE);
        assert_eq!(m.header.kind, RouteType::Unspec);
        assert_eq!(m.header.address_family, AddressFamily::Inet6);
    }

    #[test]
    fn info_round_trip() {
        let mut spec = RouteSpec::via(
            "10.2.0.0/16".parse().unwrap(),
            Some("10.0.0.1".parse().unwrap()),
            3,
        );
        spec.priority = Some(50);
        spec.mtu = Some(1300);
        let info = RouteInfo::from_message(&route_message(&spec, false)).unwrap();
        assert_eq!(info.dst.to_string(), "10.2.0.0/16");
        assert_eq!(info.gw, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(info.oif, Some(3));
        assert_eq!(info.priority, 50);
        assert_eq!(info.mtu, 1300);
        assert_eq!(info.table, 254);
        assert_eq!(info.gateways(), vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
    }
}
