//! The portmap plugin's configuration (plugins:plugins/meta/portmap
//! `PortMapConf`) and `runtimeConfig.portMappings` (CONVENTIONS.md), with
//! every value validated before it can reach a firewall rule.

pub mod conditions;

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use libcni::skel::CmdArgs;
// containerd sends `HostPort`, podman `hostPort`: the reference accepts both.
use libcni::spec::conf::{go_field as field, lenient_opt_bool};
use libcni::{CniResult, Error};
pub use netfilter::{Backend, Family, Protocol};
use netfilter::{ChainName, Ident};

pub use conditions::{Condition, Conditions, Match, Syntax};

/// The default mark bit meaning "masquerade this" (Kubernetes uses 14 and
/// 15, Calico 20-31).
pub const DEFAULT_MARK_BIT: u8 = 13;

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

impl PortMapping {
    /// Whether this mapping applies to traffic of `family`: always without
    /// a hostIP, else only to the hostIP's family (the reference skips a
    /// mapping whose hostIP family differs from the pod address's).
    pub fn applies_to(&self, family: Family) -> bool {
        self.host_ip.is_none_or(|ip| Family::of(ip) == family)
    }
}

/// The validated portmap configuration of one call.
#[derive(Debug, Clone)]
pub struct PortmapConf {
    /// The network name (config `name`), validated: it is part of chain
    /// names and comments.
    pub network: Ident,
    /// Firewall backend; `None` = detect like the reference.
    pub backend: Option<Backend>,
    /// Masquerade hairpin and localhost traffic (default true).
    pub snat: bool,
    /// Masquerade all traffic to the host port, not just hairpin/localhost.
    pub masq_all: bool,
    /// The mark bit for "needs masquerade" (iptables only).
    pub mark_masq_bit: u8,
    /// Whether `markMasqBit` was given (an iptables-only option).
    pub mark_masq_bit_set: bool,
    /// Use this existing chain to set the masquerade mark instead of our own
    /// (iptables only).
    pub external_set_mark_chain: Option<ChainName>,
    /// Extra match conditions for IPv4 entry rules.
    pub conditions_v4: Conditions,
    /// Extra match conditions for IPv6 entry rules.
    pub conditions_v6: Conditions,
    /// The mappings; empty means the plugin does nothing.
    pub mappings: Vec<PortMapping>,
    /// The chained result (ADD/CHECK need it).
    pub prev_result: Option<CniResult>,
}

impl PortmapConf {
    /// The conditions of one family.
    pub fn conditions(&self, family: Family) -> &Conditions {
        match family {
            Family::V4 => &self.conditions_v4,
            Family::V6 => &self.conditions_v6,
        }
    }

    /// The "needs masquerade" mark value (and mask): `1 << markMasqBit`.
    pub fn mark(&self) -> u32 {
        1u32 << self.mark_masq_bit
    }

    /// The chained result ADD and CHECK work from: portmap only makes
    /// sense after an interface plugin.
    pub fn require_prev(&self) -> Result<CniResult, Error> {
        self.prev_result.clone().ok_or_else(|| {
            Error::invalid_config(
                "portmap must be called as a chained plugin: the configuration has no prevResult; \
                 put it after an interface plugin (e.g. bridge) in a conflist",
            )
        })
    }

    /// Reject options that belong to the other backend (the reference
    /// fails the same way once it knows the backend).
    pub fn check_backend(&self, backend: Backend) -> Result<(), Error> {
        let mut wrong: Vec<&str> = vec![];
        if backend == Backend::Nftables {
            if self.mark_masq_bit_set {
                wrong.push("markMasqBit");
            }
            if self.external_set_mark_chain.is_some() {
                wrong.push("externalSetMarkChain");
            }
        }
        for (key, c) in [
            ("conditionsV4", &self.conditions_v4),
            ("conditionsV6", &self.conditions_v6),
        ] {
            if let Some(syntax) = c.syntax
                && syntax.as_str() != backend.as_str()
            {
                wrong.push(key);
            }
        }
        if wrong.is_empty() {
            return Ok(());
        }
        let other = match backend {
            Backend::Iptables => "nftables",
            Backend::Nftables => "iptables",
        };
        Err(Error::invalid_config(format!(
            "the {backend} backend is in use but {} {} written for {other}; remove {} or set \"backend\": \"{other}\"",
            wrong.join(", "),
            if wrong.len() == 1 { "is" } else { "are" },
            if wrong.len() == 1 { "it" } else { "them" },
        )))
    }
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
            // Go's net.IP treats ::ffff:a.b.c.d as IPv4; so do we.
            let ip = ip.to_canonical();
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

/// Decode and validate the config of one call.
pub fn load(args: &CmdArgs) -> Result<PortmapConf, Error> {
    let raw: RawConf = args.decode_conf()?;
    let network = Ident::network(&args.conf.name).map_err(Error::from)?;
    let backend = Backend::from_config("backend", raw.backend.as_deref())?;
    if raw.mark_masq_bit.is_some() && raw.external_set_mark_chain.is_some() {
        return Err(Error::invalid_config(
            "cannot specify both externalSetMarkChain and markMasqBit: remove one",
        ));
    }
    let mark_masq_bit = match raw.mark_masq_bit {
        None => DEFAULT_MARK_BIT,
        Some(b) => u8::try_from(b).ok().filter(|b| *b <= 31).ok_or_else(|| {
            Error::invalid_config(format!("markMasqBit {b} must be between 0 and 31"))
        })?,
    };
    let external_set_mark_chain = raw
        .external_set_mark_chain
        .as_deref()
        .map(|chain| {
            ChainName::new(chain).map_err(|_| {
                Error::invalid_config(format!(
                    "invalid externalSetMarkChain {chain:?}: an iptables chain name of up to 28 letters, digits, '-' or '_'"
                ))
            })
        })
        .transpose()?;
    let conditions_v4 = conditions::parse(
        "conditionsV4",
        Family::V4,
        raw.conditions_v4.as_deref().unwrap_or_default(),
    )?;
    let conditions_v6 = conditions::parse(
        "conditionsV6",
        Family::V6,
        raw.conditions_v6.as_deref().unwrap_or_default(),
    )?;
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
    let conf = PortmapConf {
        network,
        backend,
        snat: raw.snat.unwrap_or(true),
        masq_all: raw.masq_all.unwrap_or(false),
        mark_masq_bit,
        mark_masq_bit_set: raw.mark_masq_bit.is_some(),
        external_set_mark_chain,
        conditions_v4,
        conditions_v6,
        mappings,
        prev_result: args.conf.prev_result()?,
    };
    if let Some(b) = backend {
        conf.check_backend(b)?;
    }
    Ok(conf)
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
