//! Result formats older than 1.0.0 and their conversion to and from the
//! internal 1.1.0 form (cni:pkg/types/020, cni:pkg/types/040).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CniResult, Dns, Interface, IpConfig, Route, from_value_path};
use crate::spec::error::Error;

/// `ip4`/`ip6` object of a 0.1.0/0.2.0 result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct V02Ip {
    ip: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    routes: Vec<V02Route>,
}

/// 0.2.0 routes carry only a destination and gateway.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct V02Route {
    dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gw: Option<IpAddr>,
}

/// A 0.1.0/0.2.0 result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct V02Result {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip4: Option<V02Ip>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip6: Option<V02Ip>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    dns: Dns,
}

impl V02Result {
    pub(super) fn parse(v: &Value) -> Result<Self, Error> {
        from_value_path("result (0.2.0 format)", v)
    }

    pub(super) fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }

    /// Upconvert: each of ip4/ip6 becomes an `ips` entry without an
    /// interface index; their routes are concatenated, v4 first.
    pub(super) fn into_current(self) -> CniResult {
        let mut out = CniResult {
            dns: self.dns,
            ..CniResult::default()
        };
        for ip in [self.ip4, self.ip6].into_iter().flatten() {
            out.ips.push(IpConfig {
                interface: None,
                address: ip.ip,
                gateway: ip.gateway,
            });
            out.routes
                .extend(ip.routes.into_iter().map(|r| Route::new(r.dst, r.gw)));
        }
        out
    }

    /// Downconvert: keep the first v4 and the first v6 address, and the
    /// routes of each family that has an address. Fails when there is no
    /// address at all (a 0.2.0 result cannot be empty).
    pub(super) fn from_current(r: &CniResult) -> Result<Self, Error> {
        let pick = |v4: bool| {
            r.ips.iter().find(|ip| ip.is_v4() == v4).map(|ip| V02Ip {
                ip: ip.address,
                gateway: ip.gateway,
                routes: r
                    .routes
                    .iter()
                    .filter(|rt| rt.dst.addr().is_ipv4() == v4)
                    .map(|rt| V02Route {
                        dst: rt.dst,
                        gw: rt.gw,
                    })
                    .collect(),
            })
        };
        let out = V02Result {
            ip4: pick(true),
            ip6: pick(false),
            dns: r.dns.clone(),
        };
        if out.ip4.is_none() && out.ip6.is_none() {
            return Err(Error::incompatible_version(
                "cannot express the result in CNI 0.1.0/0.2.0: it has no IP address; use cniVersion 0.3.0 or newer",
            ));
        }
        Ok(out)
    }
}

/// `interfaces[]` entry of a 0.3.x/0.4.0 result.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct V04Interface {
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    mac: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sandbox: String,
}

/// `ips[]` entry of a 0.3.x/0.4.0 result: carries the family as "4"/"6".
#[derive(Debug, Clone, Serialize, Deserialize)]
struct V04Ip {
    #[serde(default)]
    version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interface: Option<usize>,
    address: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
}

/// A 0.3.0/0.3.1/0.4.0 result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct V04Result {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    interfaces: Vec<V04Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ips: Vec<V04Ip>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    dns: Dns,
}

impl V04Result {
    pub(super) fn parse(v: &Value) -> Result<Self, Error> {
        let r: V04Result = from_value_path("result (0.4.0 format)", v)?;
        for (i, ip) in r.ips.iter().enumerate() {
            let want = if ip.address.addr().is_ipv4() {
                "4"
            } else {
                "6"
            };
            if !ip.version.is_empty() && ip.version != want {
                return Err(Error::decoding(format!(
                    "result: ips[{i}].version is {:?} but address {} is IPv{want}",
                    ip.version, ip.address
                )));
            }
        }
        Ok(r)
    }

    pub(super) fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }

    pub(super) fn into_current(self) -> CniResult {
        CniResult {
            interfaces: self
                .interfaces
                .into_iter()
                .map(|i| Interface {
                    name: i.name,
                    mac: i.mac,
                    sandbox: i.sandbox,
                    ..Interface::default()
                })
                .collect(),
            ips: self
                .ips
                .into_iter()
                .map(|ip| IpConfig {
                    interface: ip.interface,
                    address: ip.address,
                    gateway: ip.gateway,
                })
                .collect(),
            routes: self.routes,
            dns: self.dns,
        }
    }

    pub(super) fn from_current(r: &CniResult) -> Self {
        V04Result {
            interfaces: r
                .interfaces
                .iter()
                .map(|i| V04Interface {
                    name: i.name.clone(),
                    mac: i.mac.clone(),
                    sandbox: i.sandbox.clone(),
                })
                .collect(),
            ips: r
                .ips
                .iter()
                .map(|ip| V04Ip {
                    version: if ip.is_v4() { "4" } else { "6" }.to_string(),
                    interface: ip.interface,
                    address: ip.address,
                    gateway: ip.gateway,
                })
                .collect(),
            routes: r.routes.clone(),
            dns: r.dns.clone(),
        }
    }
}
