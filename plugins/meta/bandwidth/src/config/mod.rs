//! The bandwidth plugin's configuration (plugins:plugins/meta/bandwidth
//! `PluginConf`): rates in bits per second and bursts in bits, for each
//! direction, either at the top level or in `runtimeConfig.bandwidth`
//! (CONVENTIONS.md capability `bandwidth`), validated before anything is
//! made.
//!
//! Which source counts is the reference's rule: when **any** of the four
//! keys appears at the top level (even as 0 or null), the top-level values
//! are used and `runtimeConfig` is ignored; only otherwise does
//! `runtimeConfig.bandwidth` apply. Keys match in any ASCII case, as Go's
//! decoder matches them: containerd sends `IngressRate`
//! (`libcni::spec::conf::go_field`).
//!
//! `unshapedSubnets` and `shapedSubnets` (v1.5.0–v1.5.1 only, removed in
//! v1.6.0) are accepted and ignored, as v1.9 ignores them.

use serde_json::{Map, Value};

use libcni::Error;
use libcni::skel::CmdArgs;
use libcni::spec::conf::go_field;

/// The four keys, in the reference's order.
const KEYS: [&str; 4] = ["ingressRate", "ingressBurst", "egressRate", "egressBurst"];
/// The largest burst in bytes the reference accepts is one less than this
/// (`burst/8 >= MaxUint32` is "burst cannot be more than 4GB"): the burst
/// in bytes must fit the u32 the kernel's TBF limit is computed in.
const BURST_BYTES_CAP: u64 = u32::MAX as u64;
/// TBF works in whole bytes: a rate or burst of fewer bits is 0 bytes.
const MIN_BITS: u64 = 8;

/// One direction's shaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Rate in bits per second (at least 8).
    pub rate: u64,
    /// Burst in bits (at least 8, below 4 GiB in bytes).
    pub burst: u64,
}

/// Where the limits came from: named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Neither: no shaping at all.
    None,
    /// The four top-level keys.
    TopLevel,
    /// `runtimeConfig.bandwidth`.
    RuntimeConfig,
}

impl Source {
    fn key(self, key: &str) -> String {
        match self {
            Source::RuntimeConfig => format!("runtimeConfig.bandwidth.{key}"),
            Source::None | Source::TopLevel => key.to_string(),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandwidthConf {
    /// Traffic into the pod: TBF on the host veth (its egress).
    pub ingress: Option<Limit>,
    /// Traffic out of the pod: TBF on the ifb the host veth's ingress is
    /// redirected to.
    pub egress: Option<Limit>,
    /// Which keys the limits came from.
    pub source: Source,
}

impl BandwidthConf {
    /// Whether there is anything to shape. The reference passes the
    /// previous result through untouched when there is not.
    pub fn shapes(&self) -> bool {
        self.ingress.is_some() || self.egress.is_some()
    }
}

/// Load and validate the configuration of a call. Wrong JSON types
/// (strings, negative numbers, floats such as `1e6`, which the
/// reference's uint64 fields reject too) are code 6 naming the key;
/// invalid combinations are code 7 naming the key and the fix.
pub fn load(args: &CmdArgs) -> Result<BandwidthConf, Error> {
    let conf = &args.conf;
    for key in ["unshapedSubnets", "shapedSubnets"] {
        if go_field(&conf.extra, key).is_some() {
            libcni::cni_warn!(
                "{key} is ignored: it existed in the reference's v1.5.x only; all traffic is shaped"
            );
        }
    }
    let top = KEYS.iter().any(|k| go_field(&conf.extra, k).is_some());
    let (source, obj) = if top {
        (Source::TopLevel, Some(&conf.extra))
    } else {
        match conf
            .runtime_config
            .as_ref()
            .and_then(|rc| go_field(rc, "bandwidth"))
        {
            None | Some(Value::Null) => (Source::None, None),
            Some(Value::Object(o)) => (Source::RuntimeConfig, Some(o)),
            Some(other) => {
                return Err(Error::decoding(format!(
                    "network configuration: key runtimeConfig.bandwidth must be an object \
                     {{ingressRate, ingressBurst, egressRate, egressBurst}}, got {other}"
                )));
            }
        }
    };
    let Some(obj) = obj else {
        return Ok(BandwidthConf {
            ingress: None,
            egress: None,
            source,
        });
    };
    let [in_rate, in_burst, out_rate, out_burst] = read_keys(obj, source)?;
    Ok(BandwidthConf {
        ingress: limit(source, "ingress", in_rate, in_burst)?,
        egress: limit(source, "egress", out_rate, out_burst)?,
        source,
    })
}

/// The four values as unsigned integers; absent or null is 0.
fn read_keys(obj: &Map<String, Value>, source: Source) -> Result<[u64; 4], Error> {
    let mut out = [0u64; 4];
    for (slot, key) in out.iter_mut().zip(KEYS) {
        *slot = match go_field(obj, key) {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_u64().ok_or_else(|| {
                let unit = if key.ends_with("Rate") {
                    "bits per second"
                } else {
                    "bits"
                };
                Error::decoding(format!(
                    "network configuration: key {}: expected a whole number of {unit} \
                     (0 to {}), got {v}",
                    source.key(key),
                    u64::MAX
                ))
            })?,
        };
    }
    Ok(out)
}

/// One direction: both zero is no shaping; otherwise both must be set,
/// at least 8 (TBF works in whole bytes), and the burst below 4 GiB.
fn limit(source: Source, dir: &str, rate: u64, burst: u64) -> Result<Option<Limit>, Error> {
    let rate_key = source.key(&format!("{dir}Rate"));
    let burst_key = source.key(&format!("{dir}Burst"));
    if rate == 0 && burst == 0 {
        return Ok(None);
    }
    if burst == 0 {
        return Err(Error::invalid_config(format!(
            "{rate_key} is {rate} but {burst_key} is not set: if rate is set, burst must also be \
             set; set {burst_key} in bits (e.g. the rate's bits for one second)"
        )));
    }
    if rate == 0 {
        return Err(Error::invalid_config(format!(
            "{burst_key} is {burst} but {rate_key} is not set: if burst is set, rate must also be \
             set; set {rate_key} in bits per second, or remove {burst_key}"
        )));
    }
    if burst / 8 >= BURST_BYTES_CAP {
        return Err(Error::invalid_config(format!(
            "{burst_key} {burst}: burst cannot be more than 4GB; use at most {} bits",
            BURST_BYTES_CAP * 8 - 1
        )));
    }
    if rate < MIN_BITS {
        return Err(Error::invalid_config(format!(
            "{rate_key} {rate} is below 8 bits per second: TBF counts whole bytes, so the rate \
             would be 0; use 8 or more"
        )));
    }
    if burst < MIN_BITS {
        return Err(Error::invalid_config(format!(
            "{burst_key} {burst} is below 8 bits: TBF counts whole bytes, so the bucket would \
             hold nothing; use 8 or more (at least the MTU in bits to pass full-size packets)"
        )));
    }
    Ok(Some(Limit { rate, burst }))
}

#[cfg(test)]
mod tests;
