//! The numbers that go into a TBF, computed exactly as the reference
//! computes them (plugins:plugins/meta/bandwidth `createTBF`), so that a
//! qdisc made by either implementation is the same qdisc and CHECK on
//! either side accepts the other's:
//!
//! - rate and burst in whole bytes: `bits / 8`, rounded down;
//! - `buffer`: the burst as a time, `u32(burst × 10^6 / rate)` µs, then
//!   in psched ticks, `u32(µs × 15.625)`;
//! - `limit`: 25 ms of data at the rate, `u32(rate × 25000 / 10^6)`, plus
//!   the burst, in bytes.
//!
//! The `u32(…)` are Go float→uint32 conversions. On amd64 Go truncates
//! the float to a 64-bit integer and keeps its low 32 bits, and that is
//! what [`go_u32`] does on every architecture. It matters for the buffer
//! of a big burst at a low rate: containerd's default burst of
//! 4294967295 bits at 10 Mbit/s is a 429.5 s bucket, 6710886375 ticks,
//! which wraps to 2415919079 ticks (154.6 s). The reference's amd64
//! build puts that value in the kernel, so we do too (README,
//! "Compatibility").
//!
//! The limit is where we differ: when burst + 25 ms of rate passes 4 GiB,
//! the reference's u32 addition wraps to a few bytes, a queue that drops
//! every packet; ours stops at `u32::MAX`.

use hostnet::netlink::tc::{TICKS_PER_USEC, Tbf};

use crate::config::Limit;

/// The queueing latency the reference allows on top of the burst, in µs.
const LATENCY_USEC: f64 = 25_000.0;
/// Microseconds per second (the reference's `TIME_UNITS_PER_SEC`).
const USEC_PER_SEC: f64 = 1_000_000.0;

/// Go's `uint32(f)` for a float64 on amd64: truncate toward zero to an
/// int64, keep the low 32 bits. Exact for the values here, which are
/// finite, non-negative and far below 2^63 (at most 2^32 bytes × 10^6 per
/// byte per second, times 15.625).
fn go_u32(f: f64) -> u32 {
    (f as i64) as u32
}

/// The TBF for one direction's validated limit (rate ≥ 8 bits/s, burst ≥
/// 8 bits and below 4 GiB in bytes, `config::load`).
pub fn for_limit(l: Limit) -> Tbf {
    let rate = l.rate / 8;
    // Below 2^32 - 1 by validation.
    let burst = u32::try_from(l.burst / 8).unwrap_or(u32::MAX);
    let usec = go_u32(f64::from(burst) * USEC_PER_SEC / rate as f64);
    let buffer = go_u32(f64::from(usec) * TICKS_PER_USEC);
    let latency_bytes = go_u32(rate as f64 * LATENCY_USEC / USEC_PER_SEC);
    Tbf {
        rate,
        limit: latency_bytes.saturating_add(burst),
        buffer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tbf(rate: u64, burst: u64) -> Tbf {
        for_limit(Limit { rate, burst })
    }

    /// chained-plugins.md §3.2's table, and upstream's test values
    /// (Rate 1/Limit 1, Rate 2/Limit 1, Rate 1000/Limit 35).
    #[test]
    fn the_references_worked_values() {
        let cases = [
            ((8, 8), (1, 1, 15_625_000)),
            ((16, 8), (2, 1, 7_812_500)),
            ((8_000, 80), (1_000, 35, 156_250)),
            ((10_000_000, 1_000_000), (1_250_000, 156_250, 1_562_500)),
        ];
        for ((rate, burst), (r, limit, buffer)) in cases {
            assert_eq!(
                tbf(rate, burst),
                Tbf {
                    rate: r,
                    limit,
                    buffer
                },
                "{rate} bit/s, {burst} bit"
            );
        }
    }

    /// containerd's default burst: the tick count passes 2^32 and wraps as
    /// on the reference's amd64 build. The buffer values were read back
    /// from qdiscs Debian's bandwidth 1.1.1 made (`tc -r qdisc show`).
    #[test]
    fn containerd_default_burst_wraps_like_amd64_go() {
        let t = tbf(10_000_000, 4_294_967_295);
        assert_eq!(t.rate, 1_250_000);
        assert_eq!(t.limit, 536_902_161);
        assert_eq!(t.buffer, 0x8fff_ffe7);
        assert_eq!(t.buffer, (6_710_886_375u64 - (1 << 32)) as u32);
        // In the band near 15.6 Mbit/s the wrapped bucket is small (2.2 s).
        let t = tbf(15_500_000, 4_294_967_295);
        assert_eq!(t.buffer, 0x0210_840d);
        assert_eq!(t.limit, 536_919_348);
        // Above ~15.6 Mbit/s the ticks fit and nothing wraps.
        let t = tbf(100_000_000, 4_294_967_295);
        assert_eq!(t.buffer, 671_088_625); // 42949672 µs × 15.625
    }

    /// The largest accepted burst at a low rate: the reference's limit
    /// wraps to 23 bytes (observed), ours saturates.
    #[test]
    fn limit_saturates_where_the_reference_wraps() {
        let t = tbf(8_000, 34_359_738_359);
        assert_eq!(t.buffer, 0x9fff_85ee);
        assert_eq!(t.limit, u32::MAX);
    }

    #[test]
    fn rates_past_32_bits() {
        let t = tbf(100_000_000_000, 8_000_000);
        assert_eq!(t.rate, 12_500_000_000);
        assert_eq!(t.limit, 312_500_000 + 1_000_000);
    }

    #[test]
    fn go_conversion_keeps_the_low_bits() {
        assert_eq!(go_u32(4_294_967_296.0 + 5.9), 5);
        assert_eq!(go_u32(7.99), 7);
        assert_eq!(go_u32(0.0), 0);
    }
}
