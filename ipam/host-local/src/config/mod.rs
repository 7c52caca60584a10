//! The host-local configuration: the `ipam` section, `runtimeConfig`
//! (`ipRanges`, `ips`), `args.cni.ips` and `CNI_ARGS IP=`, decoded and
//! validated into a [`Config`] (plugins:.../backend/allocator/config.go).
//!
//! Decoding errors (wrong JSON types, unparsable addresses) are code 6 and
//! name the key path; semantic errors are code 7 and name the key too.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use libcni::Error;
use libcni::skel::CmdArgs;
use libcni::spec::{Route, Version};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::range::{Range, RangeSet};

/// Where stores live when `ipam.dataDir` is not set (the reference's
/// default).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// An optional address that may also be written as "" (Go's net.IP reads
/// an empty string as "not set").
fn opt_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid IP address {t:?}"))),
    }
}

/// One `ranges[i][j]` entry as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RangeConf {
    /// The subnet ("10.1.0.0/16").
    #[serde(default)]
    pub subnet: Option<IpNet>,
    /// First address to hand out.
    #[serde(rename = "rangeStart", default, deserialize_with = "opt_ip")]
    pub range_start: Option<IpAddr>,
    /// Last address to hand out.
    #[serde(rename = "rangeEnd", default, deserialize_with = "opt_ip")]
    pub range_end: Option<IpAddr>,
    /// Gateway reported in results.
    #[serde(default, deserialize_with = "opt_ip")]
    pub gateway: Option<IpAddr>,
}

/// The `ipam` section as written.
#[derive(Debug, Clone, Default, Deserialize)]
struct IpamConf {
    #[serde(default)]
    subnet: Option<IpNet>,
    #[serde(rename = "rangeStart", default, deserialize_with = "opt_ip")]
    range_start: Option<IpAddr>,
    #[serde(rename = "rangeEnd", default, deserialize_with = "opt_ip")]
    range_end: Option<IpAddr>,
    #[serde(default, deserialize_with = "opt_ip")]
    gateway: Option<IpAddr>,
    #[serde(default)]
    ranges: Option<Vec<Vec<RangeConf>>>,
    #[serde(default)]
    routes: Option<Vec<Route>>,
    #[serde(rename = "dataDir", default)]
    data_dir: Option<String>,
    #[serde(rename = "resolvConf", default)]
    resolv_conf: Option<String>,
}

/// The capability arguments host-local reads.
#[derive(Debug, Clone, Default, Deserialize)]
struct RuntimeConf {
    #[serde(rename = "ipRanges", default)]
    ip_ranges: Option<Vec<Vec<RangeConf>>>,
    #[serde(default)]
    ips: Option<Vec<String>>,
}

/// The parts of the whole network config host-local reads.
#[derive(Debug, Clone, Default, Deserialize)]
struct NetFile {
    #[serde(default)]
    ipam: Option<IpamConf>,
    #[serde(rename = "runtimeConfig", default)]
    runtime_config: Option<RuntimeConf>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `ipam.dataDir` (default [`DEFAULT_DATA_DIR`]).
    pub data_dir: PathBuf,
    /// Range sets in allocation order: `runtimeConfig.ipRanges`, then the
    /// legacy top-level range, then `ipam.ranges`.
    pub range_sets: Vec<RangeSet>,
    /// `ipam.routes`, returned as they are.
    pub routes: Vec<Route>,
    /// `ipam.resolvConf`: a resolv.conf whose settings become `dns`.
    pub resolv_conf: Option<PathBuf>,
    /// The address requested in each range set (ADD only).
    pub requested: Vec<Option<IpAddr>>,
}

fn data_dir(raw: Option<&str>) -> Result<PathBuf, Error> {
    match raw {
        None | Some("") => Ok(PathBuf::from(DEFAULT_DATA_DIR)),
        Some(d) if d.contains('\0') => Err(Error::invalid_config(
            "ipam.dataDir contains a NUL byte; give a directory path",
        )),
        Some(d) => Ok(PathBuf::from(d)),
    }
}

/// The store directory from the config, reading as little as possible:
/// DEL and GC must work even when the rest of the config is invalid, as
/// long as the store can be found.
pub fn data_dir_lenient(stdin: &[u8]) -> Result<PathBuf, Error> {
    let v: Value = serde_json::from_slice(stdin)
        .map_err(|e| Error::decoding(format!("network configuration: {e}")))?;
    match v.pointer("/ipam/dataDir") {
        None | Some(Value::Null) => data_dir(None),
        Some(Value::String(s)) => data_dir(Some(s)),
        Some(other) => Err(Error::decoding(format!(
            "network configuration: key ipam.dataDir: expected a string, got {other}"
        ))),
    }
}

fn build_set(key: &str, confs: &[RangeConf]) -> Result<RangeSet, Error> {
    let mut ranges = Vec::with_capacity(confs.len());
    for (j, c) in confs.iter().enumerate() {
        let rkey = format!("{key}[{j}]");
        let Some(subnet) = c.subnet else {
            return Err(Error::invalid_config(format!(
                "{rkey}.subnet is missing: every range needs a subnet such as \"10.1.0.0/24\""
            )));
        };
        ranges.push(Range::new(
            &rkey,
            subnet,
            c.range_start,
            c.range_end,
            c.gateway,
        )?);
    }
    RangeSet::new(key, ranges)
}

/// Parse a requested address: "ip" or "ip/prefix" (the prefix is ignored,
/// as by the reference).
pub fn parse_requested(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let ip = match s.split_once('/') {
        Some(_) => s.parse::<IpNet>().ok()?.addr(),
        None => s.parse::<IpAddr>().ok()?,
    };
    Some(ip.to_canonical())
}

/// Every requested address with where it came from: the union of
/// `CNI_ARGS IP=` (a comma-separated list), `args.cni.ips` and
/// `runtimeConfig.ips`, duplicates removed.
fn requested_ips(args: &CmdArgs, runtime: &[String]) -> Result<Vec<(IpAddr, &'static str)>, Error> {
    let mut out: Vec<(IpAddr, &'static str)> = Vec::new();
    let mut push = |ip: IpAddr, src: &'static str| {
        if !out.iter().any(|(a, _)| *a == ip) {
            out.push((ip, src));
        }
    };
    // Like the reference, which decodes every `IP=` into one field: each
    // occurrence must decode, and the last one is the request (an empty
    // `IP=` requests nothing).
    let mut from_env = Vec::new();
    for list in args.args.get_all("IP") {
        from_env.clear();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let ip = parse_requested(item).ok_or_else(|| {
                Error::invalid_env(format!(
                    "CNI_ARGS IP={list:?}: {item:?} is not an IP address (use IP=10.1.0.5 or IP=10.1.0.5,fd00::5)"
                ))
            })?;
            from_env.push(ip);
        }
    }
    for ip in from_env {
        push(ip, "CNI_ARGS IP");
    }
    let cni_ips = args
        .conf
        .args_cni()
        .map(|a| a.ips.as_slice())
        .unwrap_or(&[]);
    for (src, list) in [("args.cni.ips", cni_ips), ("runtimeConfig.ips", runtime)] {
        for item in list {
            let ip = parse_requested(item).ok_or_else(|| {
                Error::invalid_config(format!("{src}: {item:?} is not an IP address"))
            })?;
            push(ip, src);
        }
    }
    Ok(out)
}

/// Place each requested address in the first range set containing it.
fn assign(
    sets: &[RangeSet],
    requests: &[(IpAddr, &'static str)],
) -> Result<Vec<Option<IpAddr>>, Error> {
    let mut out = vec![None; sets.len()];
    for &(ip, src) in requests {
        let Some(i) = sets.iter().position(|s| s.contains(ip)) else {
            let all: Vec<String> = sets.iter().map(ToString::to_string).collect();
            return Err(Error::invalid_config(format!(
                "requested address {ip} ({src}) is not in any range set ({}): request an address inside a configured range",
                all.join("; ")
            )));
        };
        if let Some(r) = sets[i].range_for(ip).filter(|r| r.is_reserved(ip)) {
            return Err(Error::invalid_config(format!(
                "requested address {ip} ({src}) cannot be handed out: it is the gateway, network or broadcast address of range {r} (gateway {})",
                r.gateway
            )));
        }
        if let Some(other) = out[i] {
            return Err(Error::invalid_config(format!(
                "requested addresses {other} and {ip} ({src}) are both in range set {i} ({}): only one address per range set",
                sets[i]
            )));
        }
        out[i] = Some(ip);
    }
    Ok(out)
}

impl Config {
    /// Decode and validate the config of a call. `with_requests` also reads
    /// the requested addresses (ADD).
    pub fn load(args: &CmdArgs, with_requests: bool) -> Result<Config, Error> {
        let file: NetFile = args.decode_conf()?;
        let Some(ipam) = file.ipam else {
            return Err(Error::invalid_config(
                "missing \"ipam\" section: host-local reads its ranges from the ipam object",
            ));
        };
        let runtime = file.runtime_config.unwrap_or_default();

        let mut sets = Vec::new();
        for (i, set) in runtime.ip_ranges.iter().flatten().enumerate() {
            sets.push(build_set(&format!("runtimeConfig.ipRanges[{i}]"), set)?);
        }
        match ipam.subnet {
            Some(subnet) => {
                let r = Range::new(
                    "ipam",
                    subnet,
                    ipam.range_start,
                    ipam.range_end,
                    ipam.gateway,
                )?;
                sets.push(RangeSet::new("ipam", vec![r])?);
            }
            None if ipam.range_start.is_some()
                || ipam.range_end.is_some()
                || ipam.gateway.is_some() =>
            {
                // The reference ignores these silently; keep accepting the
                // config, but say why they have no effect.
                libcni::cni_warn!(
                    "ipam.rangeStart/rangeEnd/gateway are ignored because ipam.subnet is not set"
                );
            }
            None => {}
        }
        for (i, set) in ipam.ranges.iter().flatten().enumerate() {
            sets.push(build_set(&format!("ipam.ranges[{i}]"), set)?);
        }
        if sets.is_empty() {
            return Err(Error::invalid_config(
                "no IP ranges: set ipam.ranges (e.g. [[{\"subnet\": \"10.1.0.0/24\"}]]) or ipam.subnet",
            ));
        }
        let v4 = sets.iter().filter(|s| s.is_v4()).count();
        let v6 = sets.len() - v4;
        if (v4 > 1 || v6 > 1) && args.version < Version::V0_3_0 {
            return Err(Error::invalid_config(format!(
                "cniVersion {} allows only one address per family, but {v4} IPv4 and {v6} IPv6 range sets are configured: use cniVersion 0.3.0 or newer",
                args.version
            )));
        }
        for (i, a) in sets.iter().enumerate() {
            for (j, b) in sets.iter().enumerate().skip(i + 1) {
                if a.overlaps(b) {
                    return Err(Error::invalid_config(format!(
                        "range set {i} ({a}) overlaps range set {j} ({b}): range sets must be disjoint (sets are numbered runtimeConfig.ipRanges, then ipam.subnet, then ipam.ranges)"
                    )));
                }
            }
        }
        let requested = if with_requests {
            assign(
                &sets,
                &requested_ips(args, runtime.ips.as_deref().unwrap_or(&[]))?,
            )?
        } else {
            vec![None; sets.len()]
        };
        Ok(Config {
            data_dir: data_dir(ipam.data_dir.as_deref())?,
            range_sets: sets,
            routes: ipam.routes.unwrap_or_default(),
            resolv_conf: ipam
                .resolv_conf
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            requested,
        })
    }
}

#[cfg(test)]
mod tests;
