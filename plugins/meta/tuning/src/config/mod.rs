//! The tuning plugin's configuration: every key of the reference's
//! `TuningConf` (plugins:plugins/meta/tuning/tuning.go), the precedence
//! between the places a value can come from, and the validation that
//! turns a bad value into code 7 before anything is changed.
//!
//! Which value wins: for the MAC, `args.cni.mac` > `runtimeConfig.mac`
//! (capability `mac`) > `CNI_ARGS` `MAC=` > top-level `mac`; for the
//! other keys, `args.cni.<key>` > top-level `<key>`. `args.cni.sysctl` is
//! merged into `sysctl` (its keys replace equal ones). Empty strings,
//! `promisc: false` and `mtu: 0` in `args.cni` do not override, as in the
//! reference.

mod sysctl;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use hostnet::MacAddr;
use libcni::Error;
use libcni::skel::CmdArgs;
use libcni::spec::CniArgs;

pub use sysctl::{RawSysctls, path_for};

/// Where backups are kept unless `dataDir` says otherwise (the
/// reference's default, so either implementation finds the other's).
pub const DEFAULT_DATA_DIR: &str = "/run/cni/tuning";

/// `args.cni` as tuning reads it.
#[derive(Debug, Default, Deserialize)]
struct RawArgsCni {
    #[serde(default)]
    sysctl: Option<RawSysctls>,
    #[serde(default)]
    mac: Option<String>,
    #[serde(default)]
    promisc: Option<bool>,
    #[serde(default)]
    mtu: Option<i64>,
    #[serde(default)]
    allmulti: Option<bool>,
    #[serde(rename = "txQLen", default)]
    txqlen: Option<i64>,
}

/// `args`: only `cni` matters here. A missing `cni` is empty (the
/// reference dereferences it and panics).
#[derive(Debug, Default, Deserialize)]
struct RawArgs {
    #[serde(default)]
    cni: Option<RawArgsCni>,
}

/// `runtimeConfig`: only the `mac` capability matters here.
#[derive(Debug, Default, Deserialize)]
struct RawRuntime {
    #[serde(default)]
    mac: Option<String>,
}

/// The keys as they appear in JSON; `null` is the same as absent. The
/// keys `args.cni` shares are repeated rather than `#[serde(flatten)]`ed
/// from [`RawArgsCni`]: flattening loses the key's name in decode errors
/// (`invalid type: string "1400", expected i64` without `mtu`).
#[derive(Debug, Default, Deserialize)]
struct RawConf {
    #[serde(default)]
    sysctl: Option<RawSysctls>,
    #[serde(default)]
    mac: Option<String>,
    #[serde(default)]
    promisc: Option<bool>,
    #[serde(default)]
    mtu: Option<i64>,
    #[serde(rename = "txQLen", default)]
    txqlen: Option<i64>,
    #[serde(default)]
    allmulti: Option<bool>,
    #[serde(rename = "dataDir", default)]
    data_dir: Option<String>,
    #[serde(rename = "runtimeConfig", default)]
    runtime_config: Option<RawRuntime>,
    #[serde(default)]
    args: Option<RawArgs>,
}

/// One sysctl to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// The key as written (what the allowlist is matched against).
    pub key: String,
    /// The value, written as these exact bytes.
    pub value: String,
}

/// The MAC to set, and where it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mac {
    /// The text as given: the result and CHECK use it verbatim, as the
    /// reference does.
    pub raw: String,
    /// The parsed address.
    pub addr: MacAddr,
    /// The key it came from.
    pub source: &'static str,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conf {
    /// Sysctls to write, in document order (top level, then keys that
    /// only `args.cni.sysctl` has).
    pub sysctls: Vec<Sysctl>,
    /// The MAC to set.
    pub mac: Option<Mac>,
    /// Turn promiscuous mode on (`false` leaves it alone).
    pub promisc: bool,
    /// The MTU to set (`mtu: 0` is None).
    pub mtu: Option<u32>,
    /// Turn all-multicast on or off.
    pub allmulti: Option<bool>,
    /// The transmit queue length to set (0 is a real value).
    pub txqlen: Option<u32>,
    /// Where the backup of the original link attributes is kept.
    pub data_dir: PathBuf,
}

impl Conf {
    /// Whether any link attribute is to be changed (then a backup is
    /// written first, as in the reference).
    pub fn tunes_link(&self) -> bool {
        self.mac.is_some()
            || self.promisc
            || self.mtu.is_some()
            || self.allmulti.is_some()
            || self.txqlen.is_some()
    }

    /// The file of each sysctl for interface `ifname`, relative to
    /// `/proc/sys` ([`path_for`]).
    pub fn sysctl_paths(&self, ifname: &str) -> Result<Vec<(&Sysctl, String)>, Error> {
        self.sysctls
            .iter()
            .map(|s| {
                path_for(&s.key, ifname).map(|p| (s, p)).map_err(|why| {
                    Error::invalid_config(format!("sysctl key {:?} is invalid: {why}", s.key))
                })
            })
            .collect()
    }
}

/// Load and validate the config of a call. Sysctl keys are checked
/// against `CNI_IFNAME` when the verb has one.
pub fn load(args: &CmdArgs) -> Result<Conf, Error> {
    let conf = parse(&args.stdin, &args.args)?;
    if !args.ifname.is_empty() {
        conf.sysctl_paths(&args.ifname)?;
    }
    Ok(conf)
}

/// Parse and validate `stdin` with `CNI_ARGS` (code 6 for JSON of the
/// wrong shape, code 7 for values tuning cannot use).
pub fn parse(stdin: &[u8], cni_args: &CniArgs) -> Result<Conf, Error> {
    let raw: RawConf = libcni::spec::conf::decode("network configuration", stdin)?;
    let cni = raw.args.and_then(|a| a.cni).unwrap_or_default();

    let mut sysctls = sysctls("sysctl", raw.sysctl.unwrap_or_default())?;
    for s in sysctls_from_args(cni.sysctl)? {
        match sysctls.iter_mut().find(|t| t.key == s.key) {
            Some(t) => t.value = s.value,
            None => sysctls.push(s),
        }
    }

    // Lowest precedence first; a later non-empty value replaces it.
    let env_mac = cni_args.get("MAC").map(str::to_string);
    let runtime_mac = raw.runtime_config.and_then(|r| r.mac);
    let mac = [
        ("mac", raw.mac),
        ("CNI_ARGS MAC", env_mac),
        ("runtimeConfig.mac", runtime_mac),
        ("args.cni.mac", cni.mac),
    ]
    .into_iter()
    .filter_map(|(source, v)| v.filter(|m| !m.is_empty()).map(|m| (source, m)))
    .next_back()
    .map(|(source, raw)| parse_mac(source, raw))
    .transpose()?;

    let mtu = match cni.mtu.filter(|m| *m != 0) {
        Some(m) => u32_key("args.cni.mtu", m)?,
        None => u32_key("mtu", raw.mtu.unwrap_or(0))?,
    }
    .filter(|m| *m != 0);
    let txqlen = match (cni.txqlen, raw.txqlen) {
        (Some(q), _) => u32_key("args.cni.txQLen", q)?,
        (None, Some(q)) => u32_key("txQLen", q)?,
        (None, None) => None,
    };

    Ok(Conf {
        sysctls,
        mac,
        promisc: cni.promisc == Some(true) || raw.promisc == Some(true),
        mtu,
        allmulti: cni.allmulti.or(raw.allmulti),
        txqlen,
        data_dir: data_dir(raw.data_dir)?,
    })
}

/// The backup directory for DEL and GC, read leniently: teardown must not
/// fail on a config that ADD would have refused (ADD then changed nothing
/// and wrote no backup). `None` when `dataDir` is not an absolute path:
/// no backup can exist.
pub fn teardown_data_dir(stdin: &[u8]) -> Option<PathBuf> {
    #[derive(Deserialize)]
    struct Teardown {
        #[serde(rename = "dataDir", default)]
        data_dir: Option<Value>,
    }
    let raw: Teardown = serde_json::from_slice(stdin).ok()?;
    match raw.data_dir {
        None | Some(Value::Null) => data_dir(None).ok(),
        Some(Value::String(d)) => data_dir(Some(d)).ok(),
        Some(_) => None,
    }
}

fn sysctls_from_args(raw: Option<RawSysctls>) -> Result<Vec<Sysctl>, Error> {
    sysctls("args.cni.sysctl", raw.unwrap_or_default())
}

/// Check a `sysctl` object: string values only, no key twice.
fn sysctls(what: &str, raw: RawSysctls) -> Result<Vec<Sysctl>, Error> {
    let mut out: Vec<Sysctl> = Vec::with_capacity(raw.0.len());
    for (key, value) in raw.0 {
        if out.iter().any(|s| s.key == key) {
            return Err(Error::invalid_config(format!(
                "{what}: duplicated sysctl keys are not allowed: {key:?} appears more than once; keep one"
            )));
        }
        let Value::String(value) = value else {
            return Err(Error::invalid_config(format!(
                "{what}.{key}: sysctl values must be JSON strings, got {value}; write it in quotes, e.g. \"{}\"",
                value.to_string().trim_matches('"')
            )));
        };
        out.push(Sysctl { key, value });
    }
    Ok(out)
}

fn parse_mac(source: &'static str, raw: String) -> Result<Mac, Error> {
    let addr: MacAddr = raw.parse().map_err(|_| {
        Error::invalid_config(format!(
            "{source}: {raw:?} is not a MAC address; write six hex bytes such as \"0a:58:0a:f4:00:02\""
        ))
    })?;
    Ok(Mac { raw, addr, source })
}

/// A non-negative count that fits the kernel's 32 bits; 0 stays Some(0).
fn u32_key(key: &str, v: i64) -> Result<Option<u32>, Error> {
    u32::try_from(v).map(Some).map_err(|_| {
        Error::invalid_config(format!(
            "{key}: {v} is out of range; use a value from 0 to {}",
            u32::MAX
        ))
    })
}

fn data_dir(raw: Option<String>) -> Result<PathBuf, Error> {
    let dir = raw
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| DEFAULT_DATA_DIR.to_string());
    if !dir.starts_with('/') || dir.contains('\0') {
        return Err(Error::invalid_config(format!(
            "dataDir {dir:?} must be an absolute path (the default is {DEFAULT_DATA_DIR})"
        )));
    }
    Ok(PathBuf::from(dir))
}
