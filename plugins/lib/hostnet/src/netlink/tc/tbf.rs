//! The token bucket filter's options (`TCA_OPTIONS` of a `tbf` qdisc,
//! the kernel's `net/sched/sch_tbf.c`): `TCA_TBF_PARMS` carries
//! `struct tc_tbf_qopt`, and `TCA_TBF_RATE64` the rate when it does not
//! fit the struct's 32 bits.

use netlink_packet_core::{DefaultNla, Nla};
use netlink_packet_route::tc::TcOption;

use crate::netlink::error::Fail;
use crate::nlsock;

/// `TCA_TBF_PARMS`: `struct tc_tbf_qopt`.
const TCA_TBF_PARMS: u16 = 1;
/// `TCA_TBF_RATE64`: the rate in bytes per second, when it is 2^32 or more.
const TCA_TBF_RATE64: u16 = 4;
/// `struct tc_ratespec`: cell_log u8, linklayer u8, overhead u16,
/// cell_align i16, mpu u16, rate u32.
const RATESPEC_LEN: usize = 12;
/// `struct tc_tbf_qopt`: rate and peakrate ratespecs, then limit, buffer
/// and mtu (u32 each).
const QOPT_LEN: usize = 2 * RATESPEC_LEN + 12;
/// Where `tc_ratespec.rate` sits in a ratespec.
const RATE_OFFSET: usize = 8;
const LIMIT_OFFSET: usize = 2 * RATESPEC_LEN;
const BUFFER_OFFSET: usize = LIMIT_OFFSET + 4;

/// A token bucket filter, in the kernel's units. Only what a plain TBF
/// needs: no peak rate, no MTU, no rate table (the kernel computes the
/// rate itself since 3.8, `psched_ratecfg_precompute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tbf {
    /// Rate in bytes per second.
    pub rate: u64,
    /// Queue limit in bytes (`tc_tbf_qopt.limit`).
    pub limit: u32,
    /// Bucket size as a time in psched ticks (`tc_tbf_qopt.buffer`; see
    /// [`super::TICKS_PER_USEC`]).
    pub buffer: u32,
}

impl Tbf {
    /// The nested attributes of `TCA_OPTIONS`. `tc_ratespec.rate` holds the
    /// rate capped at `u32::MAX` (what the kernel reports back), and
    /// `TCA_TBF_RATE64` the full rate when it does not fit.
    pub(crate) fn options(&self) -> Vec<TcOption> {
        let mut qopt = [0u8; QOPT_LEN];
        let rate32 = u32::try_from(self.rate).unwrap_or(u32::MAX);
        qopt[RATE_OFFSET..RATE_OFFSET + 4].copy_from_slice(&rate32.to_ne_bytes());
        qopt[LIMIT_OFFSET..LIMIT_OFFSET + 4].copy_from_slice(&self.limit.to_ne_bytes());
        qopt[BUFFER_OFFSET..BUFFER_OFFSET + 4].copy_from_slice(&self.buffer.to_ne_bytes());
        let mut out = vec![TcOption::Other(DefaultNla::new(
            TCA_TBF_PARMS,
            qopt.to_vec(),
        ))];
        if self.rate > u64::from(u32::MAX) {
            out.push(TcOption::Other(DefaultNla::new(
                TCA_TBF_RATE64,
                self.rate.to_ne_bytes().to_vec(),
            )));
        }
        out
    }

    /// Read the options of a dumped `tbf` qdisc. netlink-packet-route does
    /// not know TBF, so it hands over `TCA_OPTIONS` whole, as one opaque
    /// attribute whose value is the nested run.
    pub(crate) fn from_options(opts: &[TcOption]) -> Result<Tbf, Fail> {
        let mut nested = Vec::new();
        for o in opts {
            if let TcOption::Other(nla) = o {
                let mut v = vec![0u8; nla.value_len()];
                nla.emit_value(&mut v);
                nested.extend_from_slice(&v);
            }
        }
        Tbf::parse(&nested)
    }

    /// Parse the nested attributes of a TBF `TCA_OPTIONS`.
    pub(crate) fn parse(nested: &[u8]) -> Result<Tbf, Fail> {
        let mut tbf = None;
        let mut rate64 = None;
        for attr in nlsock::attributes(nested) {
            let attr = attr.map_err(|e| Fail::protocol(e.to_string()))?;
            match attr.kind {
                TCA_TBF_PARMS if attr.value.len() >= QOPT_LEN => {
                    let u32_at = |at: usize| {
                        u32::from_ne_bytes([
                            attr.value[at],
                            attr.value[at + 1],
                            attr.value[at + 2],
                            attr.value[at + 3],
                        ])
                    };
                    tbf = Some(Tbf {
                        rate: u64::from(u32_at(RATE_OFFSET)),
                        limit: u32_at(LIMIT_OFFSET),
                        buffer: u32_at(BUFFER_OFFSET),
                    });
                }
                TCA_TBF_RATE64 => {
                    let bytes: [u8; 8] = attr.value.try_into().map_err(|_| {
                        Fail::protocol(format!("TCA_TBF_RATE64 of {} bytes", attr.value.len()))
                    })?;
                    rate64 = Some(u64::from_ne_bytes(bytes));
                }
                _ => {}
            }
        }
        let mut tbf =
            tbf.ok_or_else(|| Fail::protocol("a tbf qdisc without TCA_TBF_PARMS".to_string()))?;
        if let Some(r) = rate64 {
            tbf.rate = r;
        }
        Ok(tbf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(opts: &[TcOption]) -> Vec<u8> {
        let mut out = Vec::new();
        for o in opts {
            let mut v = vec![0u8; o.value_len()];
            o.emit_value(&mut v);
            let len = (4 + v.len()) as u16;
            out.extend_from_slice(&len.to_ne_bytes());
            out.extend_from_slice(&o.kind().to_ne_bytes());
            out.extend_from_slice(&v);
            out.resize(nlsock::align4(out.len()), 0);
        }
        out
    }

    #[test]
    fn qopt_layout_is_the_kernels() {
        let t = Tbf {
            rate: 1_250_000,
            limit: 156_250,
            buffer: 1_562_500,
        };
        let opts = t.options();
        assert_eq!(opts.len(), 1, "no RATE64 below 2^32");
        let bytes = encode(&opts);
        // nlattr header, then the 36-byte struct.
        assert_eq!(bytes.len(), 4 + 36);
        assert_eq!(u16::from_ne_bytes([bytes[2], bytes[3]]), TCA_TBF_PARMS);
        let q = &bytes[4..];
        assert_eq!(&q[..8], &[0; 8], "rate ratespec header is zero");
        assert_eq!(q[8..12], 1_250_000u32.to_ne_bytes());
        assert_eq!(&q[12..24], &[0; 12], "no peak rate");
        assert_eq!(q[24..28], 156_250u32.to_ne_bytes());
        assert_eq!(q[28..32], 1_562_500u32.to_ne_bytes());
        assert_eq!(q[32..36], [0; 4], "no mtu");
        assert_eq!(Tbf::parse(&bytes).unwrap(), t);
    }

    #[test]
    fn rates_past_32_bits_travel_in_rate64() {
        let t = Tbf {
            rate: 5_000_000_000,
            limit: 1,
            buffer: 2,
        };
        let bytes = encode(&t.options());
        assert_eq!(bytes.len(), 40 + 12);
        assert_eq!(bytes[12..16], u32::MAX.to_ne_bytes());
        assert_eq!(Tbf::parse(&bytes).unwrap(), t);
    }

    #[test]
    fn parms_are_required() {
        assert!(Tbf::parse(&[]).is_err());
    }
}
