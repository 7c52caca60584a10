//! The portmap plugin's configuration (plugins:plugins/meta/portmap
//! `PortMapConf`) and `runtimeConfig.portMappings` (CONVENTIONS.md), with
//! every value validated before it can reach a firewall rule.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use libcni::skel::CmdArgs;
use libcni::spec::conf::lenient_opt_bool;
use libcni::{CniResult, Error};

/// The default mark bit meaning "masquerade this" (Kubernetes uses 14 and
/// 15, Calico 20-31).
pub const DEFAULT_MARK_BIT: u8 = 13;

/// Transport protocol of a mapping. Parsed from any case; never pasted
/// from input into a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The lower-case name iptables and nft use.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// Which firewall implements the mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// iptables-restore.
    Iptables,
    /// nft.
    Nftables,
}

/// One validated port mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// Port on the host.
    pub host_port: u16,
    /// Port in the container.
    pub container_port: u16,
    /// Protocol.
    pub protocol: Protocol,
    /// Only traffic to this host address (None = any; `0.0.0.0`/`::` mean
    /// any too).
    pub host_ip: Option<IpAddr>,
}

/// The validated portmap configuration of one call.
#[derive(Debug, Clone)]
pub struct PortmapConf {
    /// Firewall backend; `None` = detect like the reference.
    pub backend: Option<Backend>,
    /// Masquerade hairpin and localhost traffic (default true).
    pub snat: bool,
    /// Masquerade all traffic to the host port, not just hairpin/localhost.
    pub masq_all: bool,
    /// The mark bit for "needs masquerade" (iptables only).
    pub mark_masq_bit: u8,
    /// Use this existing chain to set the masquerade mark instead of our own
    /// (iptables only).
    pub external_set_mark_chain: Option<String>,
    /// Extra match conditions for IPv4 entry rules.
    pub conditions_v4: Option<Vec<String>>,
    /// Extra match conditions for IPv6 entry rules.
    pub conditions_v6: Option<Vec<String>>,
    /// The mappings; empty means the plugin does nothing.
    pub mappings: Vec<PortMapping>,
    /// The chained result (ADD/CHECK need it).
    pub prev_result: Option<CniResult>,
}

#[derive(Debug, Deserialize)]
struct RawConf {
    #[serde(default)]
    backend: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    snat: Option<bool>,
    #[serde(rename = "masqAll", default, deserialize_with = "lenient_opt_bool")]
    masq_all: Option<bool>,
    #[serde(rename = "markMasqBit", default)]
    mark_masq_bit: Option<i64>,
    #[serde(rename = "externalSetMarkChain", default)]
    external_set_mark_chain: Option<String>,
    #[serde(rename = "conditionsV4", default)]
    conditions_v4: Option<Vec<String>>,
    #[serde(rename = "conditionsV6", default)]
    conditions_v6: Option<Vec<String>>,
}

/// Find a key case-insensitively, as Go's encoding/json does: containerd
/// sends `HostPort`, podman `hostPort`, and the reference accepts both.
fn field<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn port(entry: usize, key: &str, v: Option<&Value>) -> Result<u16, Error> {
    let n = match v {
        Some(Value::Number(n)) => n.as_i64(),
        None | Some(Value::Null) => Some(0),
        Some(other) => {
            return Err(Error::decoding(format!(
                "runtimeConfig.portMappings[{entry}].{key} must be a number, got {other}"
            )));
        }
    };
    n.and_then(|n| u16::try_from(n).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            Error::invalid_config(format!(
                "runtimeConfig.portMappings[{entry}].{key} {}: a port must be between 1 and 65535",
                v.map_or_else(|| "missing".to_string(), Value::to_string)
            ))
        })
}

fn mapping(entry: usize, v: &Value) -> Result<PortMapping, Error> {
    let Value::Object(obj) = v else {
        return Err(Error::decoding(format!(
            "runtimeConfig.portMappings[{entry}] must be an object, got {v}"
        )));
    };
    let host_port = port(entry, "hostPort", field(obj, "hostPort"))?;
    let container_port = port(entry, "containerPort", field(obj, "containerPort"))?;
    let protocol = match field(obj, "protocol") {
        // Every runtime sets it; Kubernetes' default is TCP.
        None | Some(Value::Null) => Protocol::Tcp,
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "" | "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "sctp" => Protocol::Sctp,
            _ => {
                return Err(Error::invalid_config(format!(
                    "runtimeConfig.portMappings[{entry}].protocol {s:?}: use tcp, udp or sctp"
                )));
            }
        },
        Some(other) => {
            return Err(Error::decoding(format!(
                "runtimeConfig.portMappings[{entry}].protocol must be a string, got {other}"
            )));
        }
    };
    let host_ip = match field(obj, "hostIP") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            let ip: IpAddr = s.parse().map_err(|_| {
                Error::invalid_config(format!(
                    "runtimeConfig.portMappings[{entry}].hostIP {s:?} is not an IP address"
                ))
            })?;
            (!ip.is_unspecified()).then_some(ip)
        }
        Some(other) => {
            return Err(Error::decoding(format!(
                "runtimeConfig.portMappings[{entry}].hostIP must be a string, got {other}"
            )));
        }
    };
    Ok(PortMapping {
        host_port,
        container_port,
        protocol,
        host_ip,
    })
}

/// True when a condition list is written for iptables (its first token
/// starts with '-' or '!'), as the reference decides.
fn conditions_are_iptables(c: &[String]) -> Option<bool> {
    let first = c.iter().flat_map(|s| s.split_whitespace()).next()?;
    Some(first.starts_with('-') || first.starts_with('!'))
}

/// Decode and validate the config of one call.
pub fn load(args: &CmdArgs) -> Result<PortmapConf, Error> {
    let raw: RawConf = args.decode_conf()?;
    let backend = match raw.backend.as_deref() {
        None | Some("") => None,
        Some("iptables") => Some(Backend::Iptables),
        Some("nftables") => Some(Backend::Nftables),
        Some(other) => {
            return Err(Error::invalid_config(format!(
                "invalid backend {other:?}: use \"iptables\" or \"nftables\""
            )));
        }
    };
    if raw.mark_masq_bit.is_some() && raw.external_set_mark_chain.is_some() {
        return Err(Error::invalid_config(
            "cannot specify both externalSetMarkChain and markMasqBit",
        ));
    }
    let mark_masq_bit = match raw.mark_masq_bit {
        None => DEFAULT_MARK_BIT,
        Some(b) => u8::try_from(b).ok().filter(|b| *b <= 31).ok_or_else(|| {
            Error::invalid_config(format!("markMasqBit {b} must be between 0 and 31"))
        })?,
    };
    if let Some(chain) = &raw.external_set_mark_chain
        && (chain.is_empty()
            || chain.len() > 28
            || !chain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(Error::invalid_config(format!(
            "invalid externalSetMarkChain {chain:?}: an iptables chain name of up to 28 letters, digits, '-' or '_'"
        )));
    }
    if backend == Some(Backend::Nftables)
        && (raw.mark_masq_bit.is_some() || raw.external_set_mark_chain.is_some())
    {
        return Err(Error::invalid_config(
            "markMasqBit and externalSetMarkChain are iptables options; remove them or use backend \"iptables\"",
        ));
    }
    for (key, c) in [
        ("conditionsV4", &raw.conditions_v4),
        ("conditionsV6", &raw.conditions_v6),
    ] {
        let Some(c) = c else { continue };
        if let (Some(b), Some(ipt)) = (backend, conditions_are_iptables(c))
            && (b == Backend::Iptables) != ipt
        {
            return Err(Error::invalid_config(format!(
                "{key} are written for {} but the backend is {}",
                if ipt { "iptables" } else { "nftables" },
                if b == Backend::Iptables {
                    "iptables"
                } else {
                    "nftables"
                }
            )));
        }
    }
    let mappings = match args.conf.runtime("portMappings") {
        None => Vec::new(),
        Some(Value::Array(entries)) => entries
            .iter()
            .enumerate()
            .map(|(i, v)| mapping(i, v))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(Error::decoding(format!(
                "runtimeConfig.portMappings must be a list, got {other}"
            )));
        }
    };
    Ok(PortmapConf {
        backend,
        snat: raw.snat.unwrap_or(true),
        masq_all: raw.masq_all.unwrap_or(false),
        mark_masq_bit,
        external_set_mark_chain: raw.external_set_mark_chain,
        conditions_v4: raw.conditions_v4,
        conditions_v6: raw.conditions_v6,
        mappings,
        prev_result: args.conf.prev_result()?,
    })
}

/// The container addresses to forward to: the first IPv4 and first IPv6
/// address of `prevResult` on `ifname` inside a sandbox (addresses without
/// an interface index count too), as the reference picks them.
pub fn container_ips(
    result: &CniResult,
    ifname: &str,
) -> (Option<ipnet::IpNet>, Option<ipnet::IpNet>) {
    let mut v4 = None;
    let mut v6 = None;
    for ip in &result.ips {
        if let Some(idx) = ip.interface
            && let Some(intf) = result.interfaces.get(idx)
            && (intf.name != ifname || intf.sandbox.is_empty())
        {
            continue;
        }
        let slot = if ip.is_v4() { &mut v4 } else { &mut v6 };
        if slot.is_none() {
            *slot = Some(ip.address);
        }
    }
    (v4, v6)
}

#[cfg(test)]
mod tests;
