//! Every conformance case, by area. Each area module has `cases()`; the
//! helpers here prepare a call to one plugin on its own.

mod add;
mod bad_input;
mod bandwidth;
mod check;
mod datapath;
mod del;
mod env;
mod firewall;
mod flannel;
mod gc;
mod ptp;
mod result;
mod tuning;
mod version;

use cni_sandbox::{Call, Netns, PluginRun};
use libcni::Version;
use libcni::spec::{CniResult, Interface, IpConfig, Route};
use serde_json::Value;

use crate::case::{Case, SpecNeed};
use crate::ctx::{Attachment, Ctx};
use crate::net::{BRIDGE, GATEWAY4, Net, plugin_conf};

/// Every case, in the order they run.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(version::cases());
    v.extend(env::cases());
    v.extend(result::cases());
    v.extend(add::cases());
    v.extend(del::cases());
    v.extend(check::cases());
    v.extend(gc::cases());
    v.extend(datapath::cases());
    v.extend(bad_input::cases());
    v.extend(tuning::cases());
    v.extend(bandwidth::cases());
    v.extend(ptp::cases());
    v.extend(firewall::cases());
    v.extend(flannel::cases());
    v
}

/// The binaries a case about plugin `p` executes (bridge delegates to
/// host-local; portmap and bandwidth are chained after bridge).
pub fn needs(p: &'static str) -> &'static [&'static str] {
    match p {
        "bridge" => &["bridge", "host-local"],
        "portmap" => &["bridge", "host-local", "portmap"],
        "tuning" => &["bridge", "host-local", "tuning"],
        "firewall" => &["bridge", "host-local", "firewall"],
        "host-local" => &["host-local"],
        "bandwidth" => &["bridge", "host-local", "bandwidth"],
        "ptp" => &["ptp", "host-local"],
        "flannel" => &["flannel", "bridge", "host-local"],
        _ => &["loopback"],
    }
}

/// The spec version a version-independent case about plugin `p` needs at
/// least: portmap and bandwidth only exist chained (0.3.0+), the others
/// from 0.1.0.
pub fn run_min(p: &str) -> SpecNeed {
    let min = if p == "portmap" || p == "bandwidth" {
        Version::V0_3_0
    } else {
        Version::V0_1_0
    };
    SpecNeed::Run { min }
}

/// The plugins every per-plugin area covers.
pub const ALL: [&str; 4] = ["bridge", "host-local", "portmap", "loopback"];

/// Fail with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(msg()) }
}

/// Failures collected across the sub-checks of one case, so that one run
/// reports all of them (the first one leads the reason).
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Record the outcome of one sub-check.
    pub fn note(&mut self, r: Result<(), String>) {
        if let Err(e) = r {
            self.0.push(e);
        }
    }

    /// `Ok` when nothing failed; else every problem, first one first.
    pub fn into_result(self) -> Result<(), String> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.join("")),
            n => Err(format!("{} problems: {}", n, self.0.join("; "))),
        }
    }
}

/// One plugin called on its own, as the runtime would call it: its conf
/// list, its index in the list, and the `prevResult` it gets.
#[derive(Debug, Clone)]
pub struct Single {
    /// The list the plugin belongs to.
    pub net: Net,
    /// The plugin's index in the list.
    pub idx: usize,
    /// `prevResult` for ADD (portmap) and for CHECK/DEL.
    pub prev: Option<Value>,
}

impl Single {
    /// Prepare plugin `p` for attachment `att` at the case's version. For
    /// portmap this ADDs the bridge first (portmap needs a real pod and a
    /// `prevResult`), so the attachment should carry port mappings.
    pub fn new(ctx: &Ctx, p: &str, att: &Attachment) -> Result<Single, String> {
        Ok(match p {
            "bridge" => Single {
                net: ctx.bridge_net(),
                idx: 0,
                prev: None,
            },
            "host-local" => Single {
                net: ctx.host_local_net(),
                idx: 0,
                prev: None,
            },
            "portmap" => {
                let net = ctx.portmap_net();
                let bridge_only = Net::bridge(ctx.version, &ctx.data_dir);
                let prev = ctx.add_ok(&bridge_only, att)?;
                Single {
                    net,
                    idx: 1,
                    prev: Some(prev),
                }
            }
            _ => Single {
                net: Net::loopback(ctx.version),
                idx: 0,
                prev: None,
            },
        })
    }

    /// The plugin's type.
    pub fn plugin(&self) -> String {
        self.net.plugin_type(self.idx)
    }

    /// The stdin config for `att`, with `prev` as `prevResult` when given.
    pub fn stdin(&self, att: &Attachment, prev: Option<&Value>) -> String {
        plugin_conf(&self.net, &self.net.plugins()[self.idx], &att.runtime, prev).to_string()
    }

    /// Run the plugin with `call` and the standard stdin (with the chain's
    /// `prevResult` for ADD; with `prev_for_check` for CHECK/DEL).
    pub fn exec(
        &self,
        ctx: &Ctx,
        call: &Call,
        att: &Attachment,
        prev: Option<&Value>,
    ) -> PluginRun {
        let prev = prev.or(self.prev.as_ref());
        ctx.exec(&self.plugin(), call, &self.stdin(att, prev))
    }

    /// ADD the plugin; returns its result.
    pub fn add(&self, ctx: &Ctx, att: &Attachment) -> Result<Value, String> {
        let run = self.exec(ctx, &ctx.call("ADD", att), att, None);
        crate::shape::expect_success(&run, &format!("{} ADD", self.plugin()))
    }
}

/// A plausible `prevResult` for a pod in `netns` at `version` (for calls
/// that fail before using it, e.g. CHECK with a bad environment).
pub fn sample_result(netns: &str, version: Version) -> Value {
    let gw = GATEWAY4.parse().ok();
    let r = CniResult {
        interfaces: vec![
            Interface {
                name: BRIDGE.into(),
                mac: "0a:58:0a:4d:00:01".into(),
                ..Default::default()
            },
            Interface {
                name: "eth0".into(),
                mac: "0a:58:0a:4d:00:02".into(),
                sandbox: netns.into(),
                ..Default::default()
            },
        ],
        ips: vec![IpConfig {
            interface: Some(1),
            address: "10.77.0.2/24"
                .parse()
                .unwrap_or_else(|_| ipnet::IpNet::default()),
            gateway: gw,
        }],
        routes: vec![Route::new(
            "0.0.0.0/0"
                .parse()
                .unwrap_or_else(|_| ipnet::IpNet::default()),
            None,
        )],
        dns: Default::default(),
    };
    r.to_value(version).unwrap_or(Value::Null)
}

/// Runtime-style `CNI_ARGS` (what containerd and cri-o send).
pub fn runtime_cni_args(att: &Attachment) -> String {
    format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod;K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID=0b1c2d3e",
        att.id
    )
}

/// The IPs of a result (any version) as parsed by libcni.
pub fn result_ips(result: &Value, version: Version) -> Result<Vec<IpConfig>, String> {
    CniResult::parse(result, version)
        .map(|(r, _)| r.ips)
        .map_err(|e| format!("result does not parse: {e}: {result}"))
}

/// The first IPv4 address of a result.
pub fn first_v4(result: &Value, version: Version) -> Result<std::net::IpAddr, String> {
    result_ips(result, version)?
        .iter()
        .find(|i| i.is_v4())
        .map(|i| i.address.addr())
        .ok_or_else(|| format!("the result has no IPv4 address: {result}"))
}

/// The first IPv6 address of a result.
pub fn first_v6(result: &Value, version: Version) -> Result<std::net::IpAddr, String> {
    result_ips(result, version)?
        .iter()
        .find(|i| !i.is_v4())
        .map(|i| i.address.addr())
        .ok_or_else(|| format!("the result has no IPv6 address: {result}"))
}

/// Whether the `lo` of `ns` is up.
pub fn lo_is_up(ns: &Netns) -> bool {
    ns.link("lo")
        .and_then(|l| l["flags"].as_array().cloned())
        .is_some_and(|f| f.iter().any(|x| x == "UP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let cases = all();
        let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate case names");
        for c in &cases {
            let parts: Vec<&str> = c.name.split('/').collect();
            assert_eq!(parts.len(), 3, "{} is not area/subject/what", c.name);
            assert!(
                c.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/-._".contains(&b)),
                "{} has characters the expected-failures format cannot hold",
                c.name
            );
            assert!(!c.plugins.is_empty(), "{} runs no plugin", c.name);
        }
    }

    #[test]
    fn every_area_is_covered() {
        let cases = all();
        for area in [
            "version",
            "env",
            "result",
            "add",
            "del",
            "check",
            "gc",
            "status",
            "datapath",
            "bad-input",
        ] {
            assert!(
                cases
                    .iter()
                    .any(|c| c.name.starts_with(&format!("{area}/"))),
                "no {area} case"
            );
        }
    }
}
