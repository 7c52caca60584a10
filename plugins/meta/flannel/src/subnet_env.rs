//! `subnet.env`, the file through which flanneld tells the plugin the
//! node's pod subnet (flannel `pkg/subnet` `WriteSubnetFile`): one
//! `KEY=value` per line, written atomically by flanneld when it has a
//! lease, and gone after a reboot until flanneld runs again (`/run` is a
//! tmpfs).
//!
//! Read as the reference reads it: a line is split at its first `=`,
//! nothing is trimmed or unquoted (a trailing `\r` is dropped, as Go's line
//! scanner does), unknown keys are ignored, a later line overrides an
//! earlier one, and the network keys are comma-separated lists with exact
//! duplicates dropped. The subnets are masked to their network
//! (`10.244.1.1/24` is `10.244.1.0/24`). Where the reference panics (one
//! of its keys on a line without `=`), this is an error that names the line.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use libcni::Error;

use crate::code;

/// What `subnet.env` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetEnv {
    /// `FLANNEL_NETWORK`: the cluster's IPv4 networks.
    pub networks: Vec<IpNet>,
    /// `FLANNEL_IPV6_NETWORK`: the cluster's IPv6 networks.
    pub ipv6_networks: Vec<IpNet>,
    /// `FLANNEL_SUBNET`, masked: this node's IPv4 pod subnet.
    pub subnet: Option<IpNet>,
    /// `FLANNEL_IPV6_SUBNET`, masked: this node's IPv6 pod subnet.
    pub ipv6_subnet: Option<IpNet>,
    /// `FLANNEL_MTU`: the MTU pods must use (1450 over VXLAN).
    pub mtu: u32,
    /// `FLANNEL_IPMASQ`: flanneld masquerades pod traffic itself, so the
    /// bridge must not (the delegate's `ipMasq` is its negation).
    pub ipmasq: bool,
}

/// Why `subnet.env` could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The file does not exist: flanneld has not written it yet.
    Missing(PathBuf),
    /// The file exists but cannot be read (permissions, a directory).
    Unreadable(PathBuf, String),
    /// Required keys are absent: flanneld has not finished writing the
    /// lease, or someone wrote the file by hand.
    Incomplete(PathBuf, Vec<&'static str>),
    /// A value cannot be parsed.
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
}

/// What to tell an operator to check when the file is missing or broken:
/// the file belongs to flanneld, not to the plugin.
const HINT: &str = "flanneld writes this file once it has a subnet lease for this node: \
check that flanneld runs on this node (the kube-flannel pod, or k3s's embedded flannel)";

impl LoadError {
    /// The error for ADD: code 11 (try again later) while flanneld has
    /// not written a complete file, which is the normal state of a node
    /// that just booted; 110 for a value that cannot be parsed, 5 for a
    /// file that cannot be read.
    pub fn for_add(&self) -> Error {
        // The reference's wording, which runbooks search for, then ours.
        let msg = format!(
            "failed to load flannel 'subnet.env' file: {self}. Check the flannel pod log for this node."
        );
        match self {
            LoadError::Missing(_) | LoadError::Incomplete(..) => Error::try_again(msg),
            LoadError::Unreadable(..) => Error::io(msg),
            LoadError::Invalid { .. } => Error::plugin(code::SUBNET_ENV_INVALID, msg),
        }
    }

    /// The error for STATUS: the plugin cannot take ADDs (code 50), so a
    /// runtime that asks STATUS waits instead of failing pods.
    pub fn for_status(&self) -> Error {
        Error::not_available(format!("flannel cannot take ADDs yet: {self}"))
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Missing(p) => write!(
                f,
                "open {}: no such file or directory ({HINT})",
                p.display()
            ),
            LoadError::Unreadable(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            LoadError::Incomplete(p, missing) => write!(
                f,
                "{} is missing {} ({HINT})",
                p.display(),
                missing.join(", ")
            ),
            LoadError::Invalid { path, line, why } => write!(
                f,
                "{} line {line}: {why}; flanneld rewrites this file when it restarts",
                path.display()
            ),
        }
    }
}

/// The keys the plugin reads.
const NETWORK: &str = "FLANNEL_NETWORK";
const SUBNET: &str = "FLANNEL_SUBNET";
const IPV6_NETWORK: &str = "FLANNEL_IPV6_NETWORK";
const IPV6_SUBNET: &str = "FLANNEL_IPV6_SUBNET";
const MTU: &str = "FLANNEL_MTU";
const IPMASQ: &str = "FLANNEL_IPMASQ";
const KEYS: [&str; 6] = [NETWORK, SUBNET, IPV6_NETWORK, IPV6_SUBNET, MTU, IPMASQ];

/// Read and parse `path`.
pub fn load(path: &Path) -> Result<SubnetEnv, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => LoadError::Missing(path.to_path_buf()),
        _ => LoadError::Unreadable(path.to_path_buf(), e.to_string()),
    })?;
    parse(path, &String::from_utf8_lossy(&bytes))
}

/// Parse the text of `subnet.env` (`path` only names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<SubnetEnv, LoadError> {
    let invalid = |line: usize, why: String| LoadError::Invalid {
        path: path.to_path_buf(),
        line,
        why,
    };
    let mut networks = None;
    let mut ipv6_networks = None;
    let mut subnet = None;
    let mut ipv6_subnet = None;
    let mut mtu = None;
    let mut ipmasq = None;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let Some((key, value)) = line.split_once('=') else {
            if KEYS.contains(&line) {
                return Err(invalid(n, format!("{line} has no '=' and no value")));
            }
            continue;
        };
        match key {
            NETWORK => networks = Some(cidr_list(key, value).map_err(|w| invalid(n, w))?),
            IPV6_NETWORK => {
                ipv6_networks = Some(cidr_list(key, value).map_err(|w| invalid(n, w))?);
            }
            SUBNET => subnet = Some(cidr(key, value).map_err(|w| invalid(n, w))?.trunc()),
            IPV6_SUBNET => {
                ipv6_subnet = Some(cidr(key, value).map_err(|w| invalid(n, w))?.trunc());
            }
            MTU => {
                mtu =
                    Some(value.parse::<u32>().map_err(|_| {
                        invalid(n, format!("{MTU}={value:?} is not a decimal number"))
                    })?);
            }
            // Only the exact text "true" is true, as in the reference.
            IPMASQ => ipmasq = Some(value == "true"),
            _ => {}
        }
    }
    let networks = networks.unwrap_or_default();
    let ipv6_networks = ipv6_networks.unwrap_or_default();
    let mut missing = vec![];
    if networks.is_empty() && ipv6_networks.is_empty() {
        missing.push("FLANNEL_NETWORK or FLANNEL_IPV6_NETWORK");
    }
    if subnet.is_none() && ipv6_subnet.is_none() {
        missing.push("FLANNEL_SUBNET or FLANNEL_IPV6_SUBNET");
    }
    if mtu.is_none() {
        missing.push(MTU);
    }
    if ipmasq.is_none() {
        missing.push(IPMASQ);
    }
    match (mtu, ipmasq) {
        (Some(mtu), Some(ipmasq)) if missing.is_empty() => Ok(SubnetEnv {
            networks,
            ipv6_networks,
            subnet,
            ipv6_subnet,
            mtu,
            ipmasq,
        }),
        _ => Err(LoadError::Incomplete(path.to_path_buf(), missing)),
    }
}

fn cidr(key: &str, value: &str) -> Result<IpNet, String> {
    value
        .parse::<IpNet>()
        .map_err(|_| format!("{key}={value:?} is not a CIDR (address/prefix length)"))
}

/// A comma-separated CIDR list; exact duplicates are dropped, and the
/// networks are masked, as Go's `net.ParseCIDR` returns them.
fn cidr_list(key: &str, value: &str) -> Result<Vec<IpNet>, String> {
    let mut out: Vec<IpNet> = vec![];
    for item in value.split(',') {
        let net = cidr(key, item)?.trunc();
        if !out.contains(&net) {
            out.push(net);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
