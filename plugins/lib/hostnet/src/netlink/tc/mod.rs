//! Traffic control (tc) over rtnetlink: the qdiscs and filters a plugin
//! shapes traffic with. What exists is what the bandwidth plugin needs: a
//! token bucket filter ([`Tbf`]) at any handle, the ingress qdisc, a u32
//! filter that matches everything and redirects it with `mirred`
//! ([`U32MatchAll`]), and reading all of them back ([`Qdisc`],
//! [`Filter`]).
//!
//! netlink-packet-route carries the messages, the u32 selector and the
//! mirred action; it does not know TBF, whose options are encoded in
//! `tbf.rs`.

mod filter;
mod qdisc;
mod tbf;

use std::fmt;

pub use filter::{ETH_P_ALL, Filter, Redirect, U32Key, U32MatchAll, Verdict};
pub use qdisc::Qdisc;
pub use tbf::Tbf;

/// Psched ticks per microsecond: the unit of [`Tbf::buffer`]. The kernel
/// counts qdisc time in ticks of 2^`PSCHED_SHIFT` = 64 ns
/// (`include/net/pkt_sched.h`) and says so in `/proc/net/psched` (1000
/// ns per µs, 64 ns per tick, a 1 MHz clock resolution), which tc and
/// the reference's netlink library read to find this same 15.625.
pub const TICKS_PER_USEC: f64 = 1000.0 / 64.0;

/// A tc handle or parent, `major:minor` in one u32 (`TC_H_MAKE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(pub u32);

impl Handle {
    /// `TC_H_ROOT`: the device's root (egress) qdisc.
    pub const ROOT: Handle = Handle(0xffff_ffff);
    /// `TC_H_INGRESS` (`ffff:fff1`): the parent of the ingress qdisc.
    pub const INGRESS: Handle = Handle(0xffff_fff1);
    /// `ffff:`: the ingress qdisc's own handle, the parent of its filters.
    pub const INGRESS_HANDLE: Handle = Handle(0xffff_0000);

    /// `major:minor`.
    pub const fn new(major: u16, minor: u16) -> Handle {
        Handle(((major as u32) << 16) | minor as u32)
    }

    /// The major number.
    pub fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The minor number.
    pub fn minor(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

impl fmt::Display for Handle {
    /// As tc prints it: `root`, `ffff:fff1`, `1:` (minor 0), `1:1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Handle::ROOT => write!(f, "root"),
            h if h.minor() == 0 => write!(f, "{:x}:", h.major()),
            h => write!(f, "{:x}:{:x}", h.major(), h.minor()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_print_as_tc_does() {
        assert_eq!(Handle::ROOT.to_string(), "root");
        assert_eq!(Handle::INGRESS.to_string(), "ffff:fff1");
        assert_eq!(Handle::INGRESS_HANDLE.to_string(), "ffff:");
        assert_eq!(Handle::new(1, 0).to_string(), "1:");
        assert_eq!(Handle::new(1, 1).to_string(), "1:1");
        assert_eq!(Handle::new(1, 1).0, 0x0001_0001);
    }

    /// The tick constant is what this kernel advertises (tc derives it the
    /// same way: t2us / us2t * clock_res / 1e6, with t2us = us2t for a
    /// 1 GHz clock_res).
    #[test]
    fn ticks_per_usec_matches_proc_net_psched() {
        let text = std::fs::read_to_string("/proc/net/psched").unwrap();
        let f: Vec<u32> = text
            .split_whitespace()
            .map(|w| u32::from_str_radix(w, 16).unwrap())
            .collect();
        let (mut t2us, us2t, clock_res) = (f[0], f[1], f[2]);
        if clock_res == 1_000_000_000 {
            t2us = us2t;
        }
        let tick = f64::from(t2us) / f64::from(us2t) * (f64::from(clock_res) / 1e6);
        assert_eq!(tick, TICKS_PER_USEC);
    }
}
