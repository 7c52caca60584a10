//! Which address to hand out next, and ADD across all range sets.
//!
//! [`Candidates`] walks a range set round robin exactly like the reference
//! iterator (plugins:.../backend/allocator/allocator.go `RangeIter`): start
//! just after the last reserved address when it is still in the set (else at
//! the first range's start), run to the end of that range, continue with the
//! next range, wrap around once, and stop after every address was offered.
//! So a released address is not handed out again until the whole pool has
//! been walked, and both binaries pick the same address for the same store.

use std::net::IpAddr;

use libcni::Error;
use libcni::spec::IpConfig;

use crate::range::{RangeSet, from_u128, to_u128};
use crate::store::{Key, Store};

/// The round-robin walk over one range set; yields `(range index, address)`
/// for every address that may be handed out, each at most once.
#[derive(Debug, Clone)]
pub struct Candidates<'a> {
    set: &'a RangeSet,
    idx: usize,
    cur: u128,
    /// Positions (addresses in windows) still to visit.
    left: u128,
}

impl<'a> Candidates<'a> {
    /// The walk for `set` given the set's last reserved address.
    pub fn new(set: &'a RangeSet, last_reserved: Option<IpAddr>) -> Candidates<'a> {
        let total = set
            .ranges
            .iter()
            .fold(0u128, |acc, r| acc.saturating_add(r.window_len()));
        let start = last_reserved
            .map(|ip| ip.to_canonical())
            .and_then(|ip| {
                let idx = set.ranges.iter().position(|r| r.contains(ip))?;
                Some((idx, to_u128(ip)))
            })
            .map(|(idx, cur)| step(set, idx, cur));
        let (idx, cur) =
            start.unwrap_or_else(|| (0, set.ranges.first().map_or(0, |r| to_u128(r.start))));
        Candidates {
            set,
            idx,
            cur,
            left: if set.ranges.is_empty() { 0 } else { total },
        }
    }
}

/// The position after `cur` in range `idx`: the next address, or the start
/// of the next range (cyclically) after a range's end.
fn step(set: &RangeSet, idx: usize, cur: u128) -> (usize, u128) {
    let r = &set.ranges[idx];
    if cur >= to_u128(r.end) {
        let next = (idx + 1) % set.ranges.len();
        (next, to_u128(set.ranges[next].start))
    } else {
        (idx, cur + 1)
    }
}

impl Iterator for Candidates<'_> {
    type Item = (usize, IpAddr);

    fn next(&mut self) -> Option<(usize, IpAddr)> {
        while self.left > 0 {
            self.left -= 1;
            let (idx, cur) = (self.idx, self.cur);
            (self.idx, self.cur) = step(self.set, idx, cur);
            let r = &self.set.ranges[idx];
            let ip = from_u128(cur, r.is_v4());
            if !r.is_reserved(ip) {
                return Some((idx, ip));
            }
        }
        None
    }
}

/// Reserve one address per range set for `key` (the ADD work inside the
/// store lock). `requested[i]` is the address asked for in set `i`, if
/// any. On any failure every address reserved by this call is released
/// again, so a failed ADD leaves the store as it found it.
pub fn allocate(
    store: &mut Store,
    key: &Key,
    sets: &[RangeSet],
    requested: &[Option<IpAddr>],
) -> Result<Vec<IpConfig>, Error> {
    // One attachment holds at most one address per set (SPEC: ADD twice
    // without DEL is a runtime error); say so instead of handing out more.
    let held = store.addresses_of(key)?;
    for (i, set) in sets.iter().enumerate() {
        if let Some(ip) = held.iter().find(|ip| set.contains(**ip)) {
            return Err(Error::plugin(
                crate::code::ALREADY_ALLOCATED,
                format!(
                    "container {} interface {} already has address {ip} from range set {i} ({set}): it is already allocated; DEL it before adding it again",
                    key.container_id, key.ifname
                ),
            ));
        }
    }

    let mut taken: Vec<IpAddr> = Vec::new();
    let mut out = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        match reserve_in_set(store, key, i, set, requested.get(i).copied().flatten()) {
            Ok(cfg) => {
                taken.push(cfg.address.addr());
                out.push(cfg);
            }
            Err(e) => {
                for ip in &taken {
                    if let Err(re) = store.release_one(key, *ip) {
                        libcni::cni_warn!("rolling back {ip}: {re}");
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(out)
}

fn reserve_in_set(
    store: &mut Store,
    key: &Key,
    i: usize,
    set: &RangeSet,
    requested: Option<IpAddr>,
) -> Result<IpConfig, Error> {
    let config = |ip: IpAddr| {
        // The caller only offers addresses of this set.
        let r = set.range_for(ip).unwrap_or(&set.ranges[0]);
        IpConfig {
            interface: None,
            address: r.with_prefix(ip),
            gateway: Some(r.gateway),
        }
    };
    if let Some(ip) = requested {
        if store.reserve(key, i, std::iter::once(ip))?.is_some() {
            return Ok(config(ip));
        }
        return Err(Error::plugin(
            crate::code::REQUESTED_UNAVAILABLE,
            format!(
                "requested address {ip} is already in use in range set {i} ({set}); pick a free address or let host-local choose"
            ),
        ));
    }
    let last = store.last_reserved(i);
    let candidates = Candidates::new(set, last).map(|(_, ip)| ip);
    match store.reserve(key, i, candidates)? {
        Some(ip) => Ok(config(ip)),
        None => Err(Error::plugin(
            crate::code::EXHAUSTED,
            format!(
                "no IP addresses available in range set {i} ({set}): every address is allocated; release some (DEL, GC) or enlarge the range"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::Range;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// (subnet, rangeStart, rangeEnd, gateway)
    type Spec<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

    fn set(specs: &[Spec<'_>]) -> RangeSet {
        let ranges = specs
            .iter()
            .map(|(n, s, e, g)| {
                Range::new("r", n.parse().unwrap(), s.map(ip), e.map(ip), g.map(ip)).unwrap()
            })
            .collect();
        RangeSet::new("s", ranges).unwrap()
    }

    fn walk(s: &RangeSet, last: Option<&str>) -> Vec<String> {
        Candidates::new(s, last.map(ip))
            .map(|(_, a)| a.to_string())
            .collect()
    }

    #[test]
    fn fresh_v4_walk_skips_the_gateway() {
        let s = set(&[("10.0.0.0/29", None, None, None)]);
        // .1 is the gateway; .7 the broadcast (excluded by the default end).
        assert_eq!(
            walk(&s, None),
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        );
    }

    #[test]
    fn walk_resumes_after_last_reserved_and_wraps_once() {
        let s = set(&[("10.0.0.0/29", None, None, None)]);
        assert_eq!(
            walk(&s, Some("10.0.0.4")),
            ["10.0.0.5", "10.0.0.6", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
        );
        // Last reserved at the end of the window: start over.
        assert_eq!(walk(&s, Some("10.0.0.6"))[0], "10.0.0.2");
        // Last reserved outside the set: ignored.
        assert_eq!(walk(&s, Some("192.168.0.1"))[0], "10.0.0.2");
    }

    #[test]
    fn walk_crosses_ranges_in_order() {
        let s = set(&[
            ("10.0.0.0/24", Some("10.0.0.10"), Some("10.0.0.11"), None),
            ("10.0.1.0/24", Some("10.0.1.1"), Some("10.0.1.3"), None),
        ]);
        assert_eq!(
            walk(&s, None),
            ["10.0.0.10", "10.0.0.11", "10.0.1.2", "10.0.1.3"]
        );
        assert_eq!(
            walk(&s, Some("10.0.0.11")),
            ["10.0.1.2", "10.0.1.3", "10.0.0.10", "10.0.0.11"]
        );
        let idx: Vec<usize> = Candidates::new(&s, None).map(|(i, _)| i).collect();
        assert_eq!(idx, [0, 0, 1, 1]);
    }

    #[test]
    fn explicit_window_skips_network_broadcast_and_gateway() {
        let s = set(&[(
            "10.0.0.0/29",
            Some("10.0.0.0"),
            Some("10.0.0.7"),
            Some("10.0.0.3"),
        )]);
        assert_eq!(
            walk(&s, None),
            ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        );
    }

    #[test]
    fn v6_walk_includes_the_last_address_and_wraps() {
        let s = set(&[("fd00::/125", None, None, None)]);
        assert_eq!(
            walk(&s, None),
            [
                "fd00::2", "fd00::3", "fd00::4", "fd00::5", "fd00::6", "fd00::7"
            ]
        );
        assert_eq!(walk(&s, Some("fd00::7"))[0], "fd00::2");
        assert_eq!(
            walk(&s, Some("fd00::5"))[..3],
            ["fd00::6", "fd00::7", "fd00::2"]
        );
    }

    #[test]
    fn huge_v6_ranges_do_not_overflow() {
        let s = set(&[("fd00::/64", None, None, None)]);
        let first: Vec<String> = Candidates::new(&s, Some(ip("fd00::ffff:ffff:ffff:fffe")))
            .take(2)
            .map(|(_, a)| a.to_string())
            .collect();
        assert_eq!(first, ["fd00::ffff:ffff:ffff:ffff", "fd00::2"]);
        let s = set(&[("::/0", Some("::"), None, None)]);
        assert_eq!(Candidates::new(&s, None).next().unwrap().1, ip("::2"));
    }
}
