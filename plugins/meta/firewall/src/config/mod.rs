//! The firewall plugin's configuration (plugins:plugins/meta/firewall
//! `FirewallNetConf`), every value validated before anything is changed:
//! an unknown backend or ingress policy is a code-7 error naming the
//! accepted values (the reference treats an unknown backend as "auto" and
//! fails on an unknown policy only after its rules were added).

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use libcni::skel::CmdArgs;
use libcni::{CniResult, Error};
use netfilter::{ChainName, Ident};

/// The administrator's chain, jumped to first from `CNI-FORWARD`.
pub const DEFAULT_ADMIN_CHAIN: &str = "CNI-ADMIN";
/// The firewalld zone pod addresses are bound to.
pub const DEFAULT_ZONE: &str = "trusted";
/// Where the per-attachment state files live ([`crate::state`]). Under
/// /run: like the firewall state it describes, it does not survive a
/// reboot.
pub const DEFAULT_DATA_DIR: &str = "/run/cni/firewall";

/// The `backend` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKey {
    /// Absent or "": firewalld when it owns its bus name, else iptables,
    /// else nftables when no iptables binary exists.
    Auto,
    /// "iptables".
    Iptables,
    /// "nftables" (ours; the reference has none).
    Nftables,
    /// "firewalld".
    Firewalld,
}

impl BackendKey {
    fn parse(s: Option<&str>) -> Result<BackendKey, Error> {
        Ok(match s {
            None | Some("") => BackendKey::Auto,
            Some("iptables") => BackendKey::Iptables,
            Some("nftables") => BackendKey::Nftables,
            Some("firewalld") => BackendKey::Firewalld,
            Some(other) => {
                return Err(Error::invalid_config(format!(
                    "invalid backend {other:?}: use \"\" (detect), \"iptables\", \"nftables\" or \"firewalld\""
                )));
            }
        })
    }
}

/// `ingressPolicy`: which traffic may enter the bridge's pods from other
/// bridges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngressPolicy {
    /// "" or "open": no isolation rules.
    Open,
    /// "same-bridge": traffic from another managed bridge is dropped.
    SameBridge,
    /// "isolated": also traffic between two pods of the same bridge.
    Isolated,
}

impl IngressPolicy {
    fn parse(s: Option<&str>) -> Result<IngressPolicy, Error> {
        Ok(match s {
            None | Some("" | "open") => IngressPolicy::Open,
            Some("same-bridge") => IngressPolicy::SameBridge,
            Some("isolated") => IngressPolicy::Isolated,
            Some(other) => {
                return Err(Error::invalid_config(format!(
                    "invalid ingressPolicy {other:?}: use \"open\", \"same-bridge\" or \"isolated\""
                )));
            }
        })
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IngressPolicy::Open => "open",
            IngressPolicy::SameBridge => "same-bridge",
            IngressPolicy::Isolated => "isolated",
        }
    }
}

/// The validated configuration of one call.
#[derive(Debug, Clone)]
pub struct Conf {
    /// The network name (config `name`).
    pub network: Ident,
    /// Which backend.
    pub backend: BackendKey,
    /// `iptablesAdminChainName`.
    pub admin_chain: ChainName,
    /// `firewalldZone`.
    pub zone: String,
    /// `ingressPolicy`.
    pub ingress: IngressPolicy,
    /// `dataDir`: where the per-attachment state files live.
    pub data_dir: PathBuf,
    /// The chained result (ADD and CHECK need it).
    pub prev_result: Option<CniResult>,
}

impl Conf {
    /// The chained result ADD and CHECK work from: the firewall only makes
    /// sense after an interface plugin.
    pub fn require_prev(&self) -> Result<&CniResult, Error> {
        self.prev_result.as_ref().ok_or_else(|| {
            Error::invalid_config(
                "missing prevResult from earlier plugin: put \"firewall\" after an interface plugin (e.g. bridge) in a conflist",
            )
        })
    }
}

#[derive(Debug, Deserialize)]
struct RawConf {
    #[serde(default)]
    backend: Option<String>,
    #[serde(rename = "iptablesAdminChainName", default)]
    admin_chain: Option<String>,
    #[serde(rename = "firewalldZone", default)]
    zone: Option<String>,
    #[serde(rename = "ingressPolicy", default)]
    ingress: Option<String>,
    #[serde(rename = "dataDir", default)]
    data_dir: Option<String>,
}

/// A firewalld zone name: what firewalld itself accepts for a zone file
/// name (letters, digits, '_', '-', '/' never), 1 to 64 bytes.
fn zone(s: Option<&str>) -> Result<String, Error> {
    let z = match s {
        None | Some("") => return Ok(DEFAULT_ZONE.to_string()),
        Some(z) => z,
    };
    let ok = z.len() <= 64
        && z.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(z.to_string())
    } else {
        Err(Error::invalid_config(format!(
            "invalid firewalldZone {z:?}: a zone name is 1-64 letters, digits, '_' or '-'"
        )))
    }
}

/// `iptablesAdminChainName`: an iptables chain name (the reference does
/// not check it, and iptables then fails at `-N`).
fn admin_chain(s: Option<&str>) -> Result<ChainName, Error> {
    let name = match s {
        None | Some("") => DEFAULT_ADMIN_CHAIN,
        Some(n) => n,
    };
    ChainName::new(name).map_err(|_| {
        Error::invalid_config(format!(
            "invalid iptablesAdminChainName {name:?}: an iptables chain name of 1-28 letters, digits, '-' or '_', not starting with '-'"
        ))
    })
}

/// `dataDir`: an absolute path without `..`.
fn data_dir(s: Option<&str>) -> Result<PathBuf, Error> {
    let dir = match s {
        None | Some("") => return Ok(PathBuf::from(DEFAULT_DATA_DIR)),
        Some(d) => Path::new(d),
    };
    let ok = dir.is_absolute()
        && !dir.as_os_str().as_encoded_bytes().contains(&0)
        && dir
            .components()
            .all(|c| !matches!(c, Component::ParentDir | Component::CurDir));
    if ok {
        Ok(dir.to_path_buf())
    } else {
        Err(Error::invalid_config(format!(
            "invalid dataDir {:?}: use an absolute path without '.' or '..' components",
            dir.display()
        )))
    }
}

/// Decode and validate the config of one call.
pub fn load(args: &CmdArgs) -> Result<Conf, Error> {
    let raw: RawConf = args.decode_conf()?;
    Ok(Conf {
        network: Ident::network(&args.conf.name)?,
        backend: BackendKey::parse(raw.backend.as_deref())?,
        admin_chain: admin_chain(raw.admin_chain.as_deref())?,
        zone: zone(raw.zone.as_deref())?,
        ingress: IngressPolicy::parse(raw.ingress.as_deref())?,
        data_dir: data_dir(raw.data_dir.as_deref())?,
        prev_result: args.conf.prev_result()?,
    })
}

#[cfg(test)]
mod tests;
