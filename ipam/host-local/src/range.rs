//! Address ranges (`ipam.ranges[i][j]`) and range sets (`ipam.ranges[i]`).
//!
//! A [`Range`] is a subnet with an inclusive `[start, end]` window and a
//! gateway; a [`RangeSet`] is a pool of disjoint ranges of one family from
//! which exactly one address is handed out per attachment. Defaults and
//! checks follow the reference (plugins:plugins/ipam/host-local/backend/
//! allocator/range.go): gateway and start default to network + 1, end to
//! the last address before the IPv4 broadcast (the last address for IPv6).

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use libcni::Error;

/// An address as an integer, for arithmetic on both families.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of family `v4` with integer value `v` (truncated to 32 bits
/// for IPv4).
pub fn from_u128(v: u128, v4: bool) -> IpAddr {
    if v4 {
        // Truncation is intended: IPv4 values never exceed 32 bits here.
        IpAddr::V4(Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

/// Whether two addresses are of the same family.
pub fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// One range: a subnet and the window of it that may be handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The subnet (network address, prefix length); results carry its
    /// prefix length.
    pub subnet: IpNet,
    /// First address that may be handed out (inclusive).
    pub start: IpAddr,
    /// Last address that may be handed out (inclusive).
    pub end: IpAddr,
    /// The gateway reported in results; never handed out.
    pub gateway: IpAddr,
}

impl Range {
    /// Validate one configured range and fill in its defaults. `key` names
    /// the range in messages (`ipam.ranges[0][1]`). Every problem is code 7.
    pub fn new(
        key: &str,
        subnet: IpNet,
        start: Option<IpAddr>,
        end: Option<IpAddr>,
        gateway: Option<IpAddr>,
    ) -> Result<Range, Error> {
        let bad = |msg: String| Err(Error::invalid_config(msg));
        // An IPv4-mapped IPv6 subnet would be a v4 address with a v6 mask:
        // the reference rejects it too ("IP and Mask version mismatch").
        if let IpAddr::V6(a) = subnet.addr()
            && a.to_ipv4_mapped().is_some()
        {
            return bad(format!(
                "{key}.subnet {subnet}: an IPv4-mapped IPv6 subnet is not supported; write the IPv4 subnet instead"
            ));
        }
        // /31 and /32 (/127 and /128) leave nothing to allocate once the
        // network and broadcast (or gateway) addresses are set aside.
        if subnet.prefix_len() + 2 > subnet.max_prefix_len() {
            return bad(format!(
                "{key}.subnet {subnet} is too small to allocate from: use /{} or shorter",
                subnet.max_prefix_len() - 2
            ));
        }
        if subnet.addr() != subnet.network() {
            return bad(format!(
                "{key}.subnet {subnet} has host bits set: for a /{} the network address is {}; write {}",
                subnet.prefix_len(),
                subnet.network(),
                subnet.trunc()
            ));
        }
        let net = to_u128(subnet.network());
        let v4 = subnet.addr().is_ipv4();
        let first = from_u128(net + 1, v4);
        let last = if v4 {
            from_u128(to_u128(subnet.broadcast()) - 1, v4)
        } else {
            subnet.broadcast()
        };

        let canon = |ip: IpAddr| ip.to_canonical();
        let gateway = match gateway.map(canon) {
            None => first,
            Some(g) if !same_family(g, subnet.addr()) => {
                return bad(format!(
                    "{key}.gateway {g} is {} but {key}.subnet {subnet} is {}",
                    family(g),
                    family(subnet.addr())
                ));
            }
            // Like the reference, a gateway outside the subnet is allowed
            // (on-link gateways); it is simply never handed out.
            Some(g) => g,
        };
        let check_inside = |what: &str, ip: IpAddr| {
            if subnet.contains(&ip) {
                Ok(ip)
            } else {
                Err(Error::invalid_config(format!(
                    "{key}.{what} {ip} is not in {key}.subnet {subnet}"
                )))
            }
        };
        let start = match start.map(canon) {
            None => first,
            Some(s) => check_inside("rangeStart", s)?,
        };
        let end = match end.map(canon) {
            None => last,
            Some(e) => check_inside("rangeEnd", e)?,
        };
        if to_u128(end) < to_u128(start) {
            return bad(format!(
                "{key}: rangeEnd {end} is before rangeStart {start}; the window [rangeStart, rangeEnd] must not be empty"
            ));
        }
        Ok(Range {
            subnet,
            start,
            end,
            gateway,
        })
    }

    /// True for an IPv4 range.
    pub fn is_v4(&self) -> bool {
        self.subnet.addr().is_ipv4()
    }

    /// Whether `ip` lies in `[start, end]` (same family, inside the subnet).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        same_family(ip, self.start)
            && self.subnet.contains(&ip)
            && to_u128(self.start) <= to_u128(ip)
            && to_u128(ip) <= to_u128(self.end)
    }

    /// Whether the windows of two ranges share an address.
    pub fn overlaps(&self, other: &Range) -> bool {
        same_family(self.start, other.start)
            && to_u128(self.start) <= to_u128(other.end)
            && to_u128(other.start) <= to_u128(self.end)
    }

    /// Addresses in the window that are never handed out: the gateway, the
    /// network address (IPv6: the subnet-router anycast address) and the
    /// IPv4 broadcast address.
    pub fn is_reserved(&self, ip: IpAddr) -> bool {
        ip == self.gateway
            || ip == self.subnet.network()
            || (self.is_v4() && ip == self.subnet.broadcast())
    }

    /// Whether `ip` may be handed out from this range.
    pub fn is_allocatable(&self, ip: IpAddr) -> bool {
        self.contains(ip) && !self.is_reserved(ip)
    }

    /// How many addresses this range can hand out (saturating).
    pub fn capacity(&self) -> u128 {
        let mut reserved = vec![self.gateway, self.subnet.network()];
        if self.is_v4() {
            reserved.push(self.subnet.broadcast());
        }
        reserved.sort();
        reserved.dedup();
        let skipped = reserved.iter().filter(|ip| self.contains(**ip)).count() as u128;
        self.window_len().saturating_sub(skipped)
    }

    /// Whether every address this range can hand out is in `taken`: the
    /// allocator's walk would find nothing free here.
    pub fn is_full(&self, taken: &HashSet<IpAddr>) -> bool {
        let held = taken.iter().filter(|ip| self.is_allocatable(**ip)).count() as u128;
        held >= self.capacity()
    }

    /// Number of addresses in `[start, end]` (saturating at `u128::MAX`).
    pub fn window_len(&self) -> u128 {
        (to_u128(self.end) - to_u128(self.start)).saturating_add(1)
    }

    /// `ip` with this range's prefix length, as reported in results.
    pub fn with_prefix(&self, ip: IpAddr) -> IpNet {
        // The prefix length comes from a valid subnet of the same family.
        IpNet::new(ip, self.subnet.prefix_len()).unwrap_or(self.subnet)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A pool of disjoint ranges of one family: one address per attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    /// The ranges, in configured order (allocation walks them in order).
    pub ranges: Vec<Range>,
}

impl RangeSet {
    /// Validate a set: not empty, one family, no overlapping windows.
    /// `key` names the set in messages (`ipam.ranges[2]`).
    pub fn new(key: &str, ranges: Vec<Range>) -> Result<RangeSet, Error> {
        let Some(first) = ranges.first() else {
            return Err(Error::invalid_config(format!(
                "{key} is an empty range set: give at least one {{\"subnet\": ...}}"
            )));
        };
        for (j, r) in ranges.iter().enumerate() {
            if r.is_v4() != first.is_v4() {
                return Err(Error::invalid_config(format!(
                    "{key} mixes address families: {key}[0] ({}) is {} but {key}[{j}] ({}) is {}; put each family in its own range set",
                    first.subnet,
                    family(first.subnet.addr()),
                    r.subnet,
                    family(r.subnet.addr())
                )));
            }
        }
        for (i, a) in ranges.iter().enumerate() {
            for (j, b) in ranges.iter().enumerate().skip(i + 1) {
                if a.overlaps(b) {
                    return Err(Error::invalid_config(format!(
                        "{key}[{i}] ({a}) overlaps {key}[{j}] ({b}): the ranges of a set must be disjoint"
                    )));
                }
            }
        }
        Ok(RangeSet { ranges })
    }

    /// True for an IPv4 set.
    pub fn is_v4(&self) -> bool {
        self.ranges.first().is_some_and(Range::is_v4)
    }

    /// The first range whose window contains `ip`.
    pub fn range_for(&self, ip: IpAddr) -> Option<&Range> {
        self.ranges.iter().find(|r| r.contains(ip))
    }

    /// Whether any range of the set contains `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.range_for(ip).is_some()
    }

    /// Whether any range of this set overlaps any range of `other`.
    pub fn overlaps(&self, other: &RangeSet) -> bool {
        self.ranges
            .iter()
            .any(|a| other.ranges.iter().any(|b| a.overlaps(b)))
    }

    /// Whether `ip` may be handed out from this set.
    pub fn is_allocatable(&self, ip: IpAddr) -> bool {
        self.range_for(ip).is_some_and(|r| !r.is_reserved(ip))
    }

    /// Whether ADD can get no address from this set: every range of the
    /// pool is full. One full range is not enough, the walk moves on to
    /// the next range of the set.
    pub fn is_exhausted(&self, taken: &HashSet<IpAddr>) -> bool {
        self.ranges.iter().all(|r| r.is_full(taken))
    }

    /// How many addresses the whole set can hand out (saturating).
    pub fn capacity(&self) -> u128 {
        self.ranges
            .iter()
            .fold(0u128, |acc, r| acc.saturating_add(r.capacity()))
    }
}

impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn range(s: &str) -> Result<Range, Error> {
        Range::new("r", net(s), None, None, None)
    }

    #[test]
    fn v4_defaults_follow_the_reference_code() {
        let r = range("10.1.2.0/24").unwrap();
        assert_eq!(r.gateway, ip("10.1.2.1"));
        assert_eq!(r.start, ip("10.1.2.1"));
        assert_eq!(r.end, ip("10.1.2.254"));
        // .1 is the gateway: 253 addresses left.
        assert_eq!(r.capacity(), 253);
        assert_eq!(r.to_string(), "10.1.2.1-10.1.2.254");
    }

    #[test]
    fn v6_defaults_end_at_the_last_address() {
        let r = range("fd00::/120").unwrap();
        assert_eq!(r.start, ip("fd00::1"));
        assert_eq!(r.end, ip("fd00::ff"));
        assert_eq!(r.gateway, ip("fd00::1"));
        assert_eq!(r.capacity(), 254);
    }

    #[test]
    fn too_small_subnets_are_rejected() {
        for s in ["10.0.0.0/31", "10.0.0.1/32", "fd00::/127", "fd00::1/128"] {
            let e = range(s).unwrap_err();
            assert_eq!(e.code, 7, "{s}");
            assert!(
                e.msg.contains("r.subnet") && e.msg.contains("too small"),
                "{}",
                e.msg
            );
        }
        range("10.0.0.0/30").unwrap();
        range("fd00::/126").unwrap();
    }

    #[test]
    fn host_bits_are_rejected_with_the_fix() {
        let e = range("10.1.2.5/24").unwrap_err();
        assert_eq!(e.code, 7);
        assert!(
            e.msg.contains("host bits") && e.msg.contains("10.1.2.0/24"),
            "{}",
            e.msg
        );
    }

    #[test]
    fn start_and_end_must_be_inside_and_ordered() {
        let n = net("10.1.2.0/24");
        let e = Range::new("r", n, Some(ip("10.1.3.1")), None, None).unwrap_err();
        assert!(e.msg.contains("r.rangeStart 10.1.3.1"), "{}", e.msg);
        let e = Range::new("r", n, None, Some(ip("10.2.0.1")), None).unwrap_err();
        assert!(e.msg.contains("r.rangeEnd 10.2.0.1"), "{}", e.msg);
        let e = Range::new("r", n, Some(ip("10.1.2.9")), Some(ip("10.1.2.5")), None).unwrap_err();
        assert!(e.msg.contains("before rangeStart"), "{}", e.msg);
        let e = Range::new("r", n, Some(ip("fd00::1")), None, None).unwrap_err();
        assert_eq!(e.code, 7);
        let r = Range::new("r", n, Some(ip("10.1.2.10")), Some(ip("10.1.2.20")), None).unwrap();
        assert!(r.contains(ip("10.1.2.10")) && r.contains(ip("10.1.2.20")));
        assert!(!r.contains(ip("10.1.2.9")) && !r.contains(ip("10.1.2.21")));
        assert_eq!(r.capacity(), 11);
    }

    #[test]
    fn gateway_family_must_match() {
        let e = Range::new("r", net("10.0.0.0/24"), None, None, Some(ip("fd00::1"))).unwrap_err();
        assert!(e.msg.contains("r.gateway"), "{}", e.msg);
        // Outside the subnet but same family is allowed, like the reference.
        Range::new("r", net("10.0.0.0/24"), None, None, Some(ip("10.9.0.1"))).unwrap();
    }

    #[test]
    fn mapped_addresses_are_canonicalized() {
        let r = Range::new(
            "r",
            net("10.0.0.0/24"),
            Some(ip("::ffff:10.0.0.5")),
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.start, ip("10.0.0.5"));
        assert!(r.contains(ip("::ffff:10.0.0.7")));
        assert!(range("::ffff:10.0.0.0/120").is_err());
    }

    #[test]
    fn reserved_addresses() {
        let n = net("10.0.0.0/24");
        let r = Range::new("r", n, Some(ip("10.0.0.0")), Some(ip("10.0.0.255")), None).unwrap();
        assert!(r.is_reserved(ip("10.0.0.0")));
        assert!(r.is_reserved(ip("10.0.0.1")));
        assert!(r.is_reserved(ip("10.0.0.255")));
        assert!(!r.is_reserved(ip("10.0.0.2")));
        assert_eq!(r.capacity(), 253);
    }

    #[test]
    fn sets_reject_mixed_families_and_overlaps() {
        let a = range("10.0.0.0/24").unwrap();
        let b = range("fd00::/64").unwrap();
        let e = RangeSet::new("ipam.ranges[0]", vec![a.clone(), b]).unwrap_err();
        assert!(e.msg.contains("mixes address families"), "{}", e.msg);
        let c = range("10.0.0.0/25").unwrap();
        let e = RangeSet::new("ipam.ranges[0]", vec![a.clone(), c]).unwrap_err();
        assert!(e.msg.contains("overlaps"), "{}", e.msg);
        assert!(RangeSet::new("ipam.ranges[0]", vec![]).is_err());
        // Disjoint windows of one subnet are fine (as in the reference).
        let n = net("10.0.0.0/24");
        let lo = Range::new("r", n, Some(ip("10.0.0.10")), Some(ip("10.0.0.20")), None).unwrap();
        let hi = Range::new("r", n, Some(ip("10.0.0.30")), Some(ip("10.0.0.40")), None).unwrap();
        let set = RangeSet::new("s", vec![lo, hi]).unwrap();
        assert_eq!(set.capacity(), 22);
        assert_eq!(set.to_string(), "10.0.0.10-10.0.0.20,10.0.0.30-10.0.0.40");
        assert!(set.contains(ip("10.0.0.35")) && !set.contains(ip("10.0.0.25")));
    }

    #[test]
    fn a_set_is_exhausted_only_when_every_range_is_full() {
        let n = net("10.0.0.0/24");
        let lo = Range::new("r", n, Some(ip("10.0.0.10")), Some(ip("10.0.0.11")), None).unwrap();
        let hi = Range::new("r", n, Some(ip("10.0.0.20")), Some(ip("10.0.0.21")), None).unwrap();
        let set = RangeSet::new("s", vec![lo.clone(), hi.clone()]).unwrap();
        let taken = |ips: &[&str]| ips.iter().map(|s| ip(s)).collect::<HashSet<IpAddr>>();
        let lo_full = taken(&["10.0.0.10", "10.0.0.11", "10.0.0.20"]);
        assert!(lo.is_full(&lo_full));
        assert!(!hi.is_full(&lo_full));
        assert!(!set.is_exhausted(&lo_full));
        let all = taken(&["10.0.0.10", "10.0.0.11", "10.0.0.20", "10.0.0.21"]);
        assert!(set.is_exhausted(&all));
        // Addresses outside the windows do not count.
        let outside = taken(&[
            "10.0.0.10",
            "10.0.0.12",
            "10.0.0.1",
            "10.0.0.20",
            "10.0.0.21",
        ]);
        assert!(!lo.is_full(&outside) && hi.is_full(&outside));
        assert!(!set.is_exhausted(&outside));
        // Nor does a record of a reserved address (here the gateway).
        let gw = Range::new(
            "r",
            n,
            Some(ip("10.0.0.10")),
            Some(ip("10.0.0.12")),
            Some(ip("10.0.0.11")),
        )
        .unwrap();
        assert!(!gw.is_full(&taken(&["10.0.0.10", "10.0.0.11"])));
        assert!(gw.is_full(&taken(&["10.0.0.10", "10.0.0.12"])));
    }
}
