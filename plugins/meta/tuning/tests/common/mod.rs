//! Shared helpers for the tuning plugin's integration tests: a fake node
//! with one pod whose `eth0` is a veth to the host (as a main plugin would
//! leave it), the chained config with its `prevResult`, plugin calls, and
//! the pod link's state as iproute2 reports it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use cni_sandbox::{Call, Netns, PluginRun, Sandbox, plugin_path, reference_plugin};
use serde_json::{Value, json};

/// The network name of every test config.
pub const NET: &str = "tuningtest";
/// The pod interface.
pub const IFNAME: &str = "eth0";
/// The pod interface's MAC before tuning.
pub const POD_MAC: &str = "0a:58:0a:63:00:02";
/// Its MTU before tuning.
pub const POD_MTU: u64 = 1500;
/// The host end's address, and the pod's.
pub const HOST_IP: &str = "10.99.0.1";
/// The pod's address.
pub const POD_IP: &str = "10.99.0.2";
/// Deadline of one plugin call: a hung plugin fails the test, not the suite.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Our build of the plugin.
pub fn ours() -> PathBuf {
    plugin_path("tuning")
}

/// The reference build (/usr/lib/cni/tuning, Debian 1.1.1).
pub fn reference() -> PathBuf {
    reference_plugin("tuning")
}

/// A fake node with one pod: `vh0` in the host and `eth0` in the pod, a
/// veth pair with addresses and a fixed MAC, both up.
#[derive(Debug)]
pub struct Node {
    /// The sandbox (fake host netns and temp dir).
    pub sb: Sandbox,
    /// The pod.
    pub pod: Netns,
    /// The tuning dataDir.
    pub data: PathBuf,
}

impl Node {
    /// A node whose pod interface is named `ifname`.
    pub fn with_ifname(ifname: &str) -> Node {
        let sb = Sandbox::new();
        let pod = sb.pod();
        let data = sb.dir().join("tuning");
        sb.host.sh_ok(&format!(
            "ip link add vh0 type veth peer name {ifname} netns {pod} && \
             ip addr add {HOST_IP}/24 dev vh0 && ip link set vh0 up",
            pod = pod.name()
        ));
        pod.sh_ok(&format!(
            "ip link set {ifname} address {POD_MAC} mtu {POD_MTU} && \
             ip addr add {POD_IP}/24 dev {ifname} && ip link set {ifname} up"
        ));
        Node { sb, pod, data }
    }

    /// A node whose pod interface is `eth0`.
    pub fn new() -> Node {
        Node::with_ifname(IFNAME)
    }

    /// The `prevResult` a main plugin would have returned (1.0.0 form).
    pub fn prev_result(&self, ifname: &str) -> Value {
        json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "vh0", "mac": "0a:58:0a:63:00:01"},
                {"name": ifname, "mac": POD_MAC, "sandbox": self.pod.path_str()}
            ],
            "ips": [{"address": format!("{POD_IP}/24"), "interface": 1, "gateway": HOST_IP}]
        })
    }

    /// The chained config at `version` with the keys of `extra`, this
    /// node's dataDir and a `prevResult` for `ifname`.
    pub fn conf_at(&self, version: &str, ifname: &str, extra: Value) -> Value {
        let mut c = json!({
            "cniVersion": version,
            "name": NET,
            "type": "tuning",
            "dataDir": self.data.to_string_lossy(),
            "prevResult": self.prev_result(ifname),
        });
        for (k, v) in extra.as_object().expect("extra keys are an object") {
            c[k] = v.clone();
        }
        c
    }

    /// The chained config at 1.0.0 for `eth0`.
    pub fn conf(&self, extra: Value) -> Value {
        self.conf_at("1.0.0", IFNAME, extra)
    }

    /// A per-attachment call for container `cid` on `ifname`.
    pub fn call(&self, command: &str, cid: &str, ifname: &str) -> Call {
        Call::attach(command, cid, self.pod.path_str(), ifname, self.sb.dir())
    }

    /// Run `binary` with `call` and `conf` inside the fake host.
    pub fn run(&self, binary: &Path, call: &Call, conf: &Value) -> PluginRun {
        call.run_timeout(&self.sb.host, binary, &conf.to_string(), CALL_TIMEOUT)
    }

    /// Run `command` of `binary` for container `cid` on `eth0`.
    pub fn exec(&self, binary: &Path, command: &str, cid: &str, conf: &Value) -> PluginRun {
        self.run(binary, &self.call(command, cid, IFNAME), conf)
    }

    /// The backup file of `cid` on `ifname`, if any.
    pub fn backup(&self, cid: &str, ifname: &str) -> Option<String> {
        std::fs::read_to_string(self.data.join(format!("{cid}_{ifname}.json"))).ok()
    }

    /// The pod link's attributes tuning may change.
    pub fn link(&self, ifname: &str) -> LinkState {
        LinkState::of(&self.pod, ifname)
    }

    /// A sysctl of the pod (`net/...`).
    pub fn sysctl(&self, key: &str) -> String {
        self.pod.sysctl(key)
    }
}

impl Default for Node {
    fn default() -> Self {
        Node::new()
    }
}

/// What tuning changes on a link, as `ip -j -d link` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// MAC address.
    pub mac: String,
    /// MTU.
    pub mtu: u64,
    /// PROMISC flag.
    pub promisc: bool,
    /// ALLMULTI flag.
    pub allmulti: bool,
    /// txqlen (iproute2 omits 0).
    pub txqlen: u64,
}

impl LinkState {
    /// The state of `ifname` in `ns`.
    pub fn of(ns: &Netns, ifname: &str) -> LinkState {
        let l = ns
            .link(ifname)
            .unwrap_or_else(|| panic!("no link {ifname} in {}", ns.name()));
        let flags: Vec<&str> = l["flags"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        LinkState {
            mac: l["address"].as_str().unwrap_or_default().to_string(),
            mtu: l["mtu"].as_u64().unwrap_or_default(),
            promisc: flags.contains(&"PROMISC"),
            allmulti: flags.contains(&"ALLMULTI"),
            txqlen: l["txqlen"].as_u64().unwrap_or(0),
        }
    }
}

/// The result with the pod's netns path replaced, so results from two
/// pods compare equal.
pub fn normalize(result: &Value) -> Value {
    let mut r = result.clone();
    if let Some(ifs) = r["interfaces"].as_array_mut() {
        for i in ifs {
            if i.get("sandbox").is_some() {
                i["sandbox"] = json!("<netns>");
            }
        }
    }
    if r.get("dns") == Some(&json!({})) {
        r.as_object_mut().map(|o| o.remove("dns"));
    }
    r
}
