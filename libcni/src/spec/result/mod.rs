//! The ADD result (SPEC.md "Success"), held internally in its newest form
//! (spec 1.1.0) and converted on the edge to and from every older version.
//!
//! One code path reads any version ([`CniResult::parse`]) and one writes any
//! version ([`CniResult::to_value`]), so a plugin never handles legacy
//! formats itself (ARCHITECTURE.md principle 3).

mod legacy;

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::Error;
use super::version::{ResultFormat, Version};

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// An interface the plugin created or touched (`interfaces[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Hardware address, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// MTU (1.1.0); 0 means not reported.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtu: u32,
    /// The netns path for interfaces inside the container; empty on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
    /// vhost-user socket path (1.1.0).
    #[serde(
        rename = "socketPath",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub socket_path: String,
    /// PCI address of a device (1.1.0).
    #[serde(rename = "pciID", default, skip_serializing_if = "String::is_empty")]
    pub pci_id: String,
}

/// An assigned address (`ips[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Index into `interfaces` of the interface holding the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    /// The address with its prefix length ("10.1.0.5/24"; host bits kept).
    pub address: IpNet,
    /// The default gateway for this subnet, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

impl IpConfig {
    /// True for an IPv4 address.
    pub fn is_v4(&self) -> bool {
        self.address.addr().is_ipv4()
    }
}

/// A route to install in the container (`routes[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination prefix.
    pub dst: IpNet,
    /// Next hop; absent means the default gateway of the matching `ips` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// Route MTU (1.1.0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtu: u32,
    /// Advertised MSS (1.1.0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub advmss: u32,
    /// Route priority / metric (1.1.0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: u32,
    /// Routing table (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// Route scope (1.1.0): 0 universe, 253 link, 254 host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
}

impl Route {
    /// A plain route to `dst` via `gw`.
    pub fn new(dst: IpNet, gw: Option<IpAddr>) -> Self {
        Route {
            dst,
            gw,
            mtu: 0,
            advmss: 0,
            priority: 0,
            table: None,
            scope: None,
        }
    }
}

/// DNS settings (`dns`); every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Name server addresses, in priority order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Local domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// True when no field is set; an empty `dns` is left out of 1.x output.
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

/// The result of ADD in spec 1.1.0 form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniResult {
    /// Interfaces created or used, host side first by convention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Assigned addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// Routes in the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// DNS configuration.
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

/// Map a JSON decoding failure to code 6 naming the path of the bad field.
fn decode_err(what: &str, e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    if path == "." || path.is_empty() {
        Error::decoding(format!("{what}: {}", e.inner()))
    } else {
        Error::decoding(format!("{what}: field {path}: {}", e.inner()))
    }
}

/// Deserialize `T` from a JSON value, reporting the failing field path.
pub(crate) fn from_value_path<T: serde::de::DeserializeOwned>(
    what: &str,
    v: &Value,
) -> Result<T, Error> {
    serde_path_to_error::deserialize(v).map_err(|e| decode_err(what, e))
}

impl CniResult {
    /// Read a result in any spec version. The version comes from the
    /// result's own `cniVersion`; a result without one is read as
    /// `fallback` (the config's version; cni issue #895). Returns the
    /// result and the version it was written in.
    pub fn parse(v: &Value, fallback: Version) -> Result<(CniResult, Version), Error> {
        let Value::Object(map) = v else {
            return Err(Error::decoding("result is not a JSON object"));
        };
        let version = match map.get("cniVersion") {
            None | Some(Value::Null) => fallback,
            Some(Value::String(s)) if s.is_empty() => fallback,
            Some(Value::String(s)) => s.parse().map_err(|e: super::version::UnknownVersion| {
                Error::incompatible_version(format!("result: {e}"))
            })?,
            Some(other) => {
                return Err(Error::decoding(format!(
                    "result: cniVersion must be a string, got {other}"
                )));
            }
        };
        let result = match version.result_format() {
            ResultFormat::V02 => legacy::V02Result::parse(v)?.into_current(),
            ResultFormat::V04 => legacy::V04Result::parse(v)?.into_current(),
            ResultFormat::V1 => from_value_path("result", v)?,
        };
        Ok((result, version))
    }

    /// Read a result from bytes; see [`CniResult::parse`].
    pub fn parse_bytes(bytes: &[u8], fallback: Version) -> Result<(CniResult, Version), Error> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::decoding(format!("result is not valid JSON: {e}")))?;
        Self::parse(&v, fallback)
    }

    /// The result as JSON in `version`'s format, with `cniVersion` set.
    /// Fails (code 1) only when going down to 0.1.0/0.2.0 and there is no
    /// address to report: those versions cannot express such a result.
    pub fn to_value(&self, version: Version) -> Result<Value, Error> {
        let older;
        let this = if version < Version::V1_1_0 {
            older = self.without_v1_1_fields();
            &older
        } else {
            self
        };
        let body = match version.result_format() {
            ResultFormat::V02 => legacy::V02Result::from_current(this)?.to_value(),
            ResultFormat::V04 => legacy::V04Result::from_current(this).to_value(),
            ResultFormat::V1 => serde_json::to_value(this),
        }
        .map_err(|e| Error::internal(format!("encoding result: {e}")))?;
        let mut out = serde_json::Map::new();
        out.insert("cniVersion".into(), Value::String(version.as_str().into()));
        if let Value::Object(m) = body {
            out.extend(m);
        }
        Ok(Value::Object(out))
    }

    /// This result without the keys spec 1.1.0 added (interface `mtu`,
    /// `socketPath`, `pciID`; route `mtu`, `advmss`, `priority`, `table`,
    /// `scope`): an older version's result must not carry keys its spec
    /// does not define.
    fn without_v1_1_fields(&self) -> CniResult {
        let mut r = self.clone();
        for i in &mut r.interfaces {
            i.mtu = 0;
            i.socket_path.clear();
            i.pci_id.clear();
        }
        for rt in &mut r.routes {
            *rt = Route::new(rt.dst, rt.gw);
        }
        r
    }

    /// [`CniResult::to_value`] as compact JSON text.
    pub fn to_json(&self, version: Version) -> Result<String, Error> {
        Ok(self.to_value(version)?.to_string())
    }

    /// Addresses assigned to interface index `idx`.
    pub fn ips_on(&self, idx: usize) -> impl Iterator<Item = &IpConfig> {
        self.ips.iter().filter(move |ip| ip.interface == Some(idx))
    }
}

#[cfg(test)]
mod tests;
