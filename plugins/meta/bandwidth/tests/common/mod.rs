//! Shared helpers for the bandwidth plugin's integration tests: a pod
//! wired to the fake host by a veth pair (what an interface plugin
//! would have made, with the `prevResult` it would have returned),
//! config builders, plugin calls, and the tc and link state an
//! attachment leaves, with the random parts normalised.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use cni_sandbox::{Call, Netns, PluginRun, Sandbox, plugin_dir, plugin_path, reference_plugin};
use serde_json::{Value, json};

/// The network name of every test config.
pub const NET: &str = "bwtest";
/// Deadline of one plugin call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Our bandwidth binary (`cargo build --workspace --bins`).
pub fn ours() -> PathBuf {
    plugin_path("bandwidth")
}

/// The reference (Debian containernetworking-plugins 1.1.1).
pub fn reference() -> PathBuf {
    reference_plugin("bandwidth")
}

/// The ifb of container `cid` on [`NET`].
pub fn ifb_of(cid: &str) -> String {
    cni_bandwidth::ifb::name(NET, cid)
}

/// A pod: its namespace and the host end of its veth.
#[derive(Debug)]
pub struct Pod {
    /// The pod's namespace (interface `eth0`, 10.99.0.2/24).
    pub ns: Netns,
    /// The host end of the veth (10.99.0.1/24).
    pub veth: String,
    /// The container ID the runtime would use.
    pub cid: String,
}

/// The host end's address, and the pod's.
pub const HOST_IP: &str = "10.99.0.1";
/// The pod's address.
pub const POD_IP: &str = "10.99.0.2";

impl Pod {
    /// A veth pair `veth` (host) / `eth0` (pod), up, with addresses,
    /// and `mtu` on both ends when given.
    pub fn new(sb: &Sandbox, veth: &str, cid: &str, mtu: Option<u32>) -> Pod {
        let ns = sb.pod();
        let mtu = mtu.map(|m| format!(" mtu {m}")).unwrap_or_default();
        sb.host.sh_ok(&format!(
            "ip link add {veth}{mtu} type veth peer name eth0{mtu} netns {pod} && \
             ip addr add {HOST_IP}/24 dev {veth} && ip link set {veth} up",
            pod = ns.name()
        ));
        ns.sh_ok(&format!(
            "ip addr add {POD_IP}/24 dev eth0 && ip link set eth0 up"
        ));
        Pod {
            ns,
            veth: veth.to_string(),
            cid: cid.to_string(),
        }
    }

    /// The interface plugin's result at `version`: the host veth, the pod's
    /// eth0 and its address.
    pub fn prev(&self, sb: &Sandbox, version: &str) -> Value {
        let host_mac = sb.host.link(&self.veth).unwrap()["address"].clone();
        let pod_mac = self.ns.link("eth0").unwrap()["address"].clone();
        let mut ip = json!({"address": format!("{POD_IP}/24"), "interface": 1});
        if version.starts_with("0.") {
            ip["version"] = json!("4");
        }
        json!({
            "cniVersion": version,
            "interfaces": [
                {"name": self.veth, "mac": host_mac},
                {"name": "eth0", "mac": pod_mac, "sandbox": self.ns.path_str()},
            ],
            "ips": [ip],
        })
    }

    /// Run `bin` for `verb` with `conf` and this pod's prevResult (at
    /// `conf`'s version).
    pub fn call(&self, sb: &Sandbox, bin: &Path, verb: &str, conf: &Value) -> PluginRun {
        let version = conf["cniVersion"].as_str().unwrap_or("1.0.0");
        let mut c = conf.clone();
        if c.get("prevResult").is_none() {
            c["prevResult"] = self.prev(sb, version);
        }
        self.call_raw(sb, bin, verb, &c)
    }

    /// Run `bin` for `verb` with exactly `conf` on stdin.
    pub fn call_raw(&self, sb: &Sandbox, bin: &Path, verb: &str, conf: &Value) -> PluginRun {
        Call::attach(verb, &self.cid, self.ns.path_str(), "eth0", &plugin_dir()).run_timeout(
            &sb.host,
            bin,
            &conf.to_string(),
            CALL_TIMEOUT,
        )
    }

    /// The ifb of this pod.
    pub fn ifb(&self) -> String {
        ifb_of(&self.cid)
    }
}

/// A fake host with pod `cid` (host veth `bwveth0`) and our ADD of
/// `keys` at 1.0.0 done; the sandbox, the pod and the config.
pub fn added(cid: &str, keys: Value) -> (Sandbox, Pod, Value) {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", cid, None);
    let c = conf("1.0.0", keys);
    pod.call(&sb, &ours(), "ADD", &c).expect_ok();
    (sb, pod, c)
}

/// A config for [`NET`] at `version` with `keys` merged in.
pub fn conf(version: &str, keys: Value) -> Value {
    let mut c = json!({"cniVersion": version, "name": NET, "type": "bandwidth"});
    if let Value::Object(m) = keys {
        for (k, v) in m {
            c[k] = v;
        }
    }
    c
}

/// Rates and bursts in both directions, top-level keys.
pub fn both(in_rate: u64, in_burst: u64, out_rate: u64, out_burst: u64) -> Value {
    json!({
        "ingressRate": in_rate, "ingressBurst": in_burst,
        "egressRate": out_rate, "egressBurst": out_burst,
    })
}

/// `tc -r -d -j qdisc show dev <dev>`.
pub fn qdiscs(ns: &Netns, dev: &str) -> Vec<Value> {
    ns.tc_json(&format!("-r -d qdisc show dev {dev}"))
}

/// The root qdisc of `dev`.
pub fn root_qdisc(ns: &Netns, dev: &str) -> Value {
    qdiscs(ns, dev)
        .into_iter()
        .find(|q| q["root"] == true)
        .unwrap_or_else(|| panic!("{dev} has no root qdisc"))
}

/// `tc -j filter show dev <dev> parent ffff:`.
pub fn filters(ns: &Netns, dev: &str) -> Vec<Value> {
    ns.tc_json(&format!("filter show dev {dev} parent ffff:"))
}

/// The names of every ifb in `ns`.
pub fn ifbs(ns: &Netns) -> Vec<String> {
    ns.links()
        .into_iter()
        .filter(|l| l["linkinfo"]["info_kind"] == "ifb")
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

/// What the shaping of `pod` looks like in the kernel, comparable across
/// implementations: the qdiscs of the host veth and of the ifb (raw
/// numbers), the filters on the veth's ingress without the kernel's
/// action indexes, and the ifb's link attributes without index and MAC.
pub fn shaping(sb: &Sandbox, pod: &Pod) -> Value {
    let strip = |mut v: Value, keys: &[&str]| {
        if let Value::Object(m) = &mut v {
            for k in keys {
                m.remove(*k);
            }
        }
        v
    };
    let filters: Vec<Value> = filters(&sb.host, &pod.veth)
        .into_iter()
        .map(|mut f| {
            if let Some(acts) = f["options"]["actions"].as_array_mut() {
                for a in acts {
                    *a = strip(a.clone(), &["index", "ref", "bind"]);
                }
            }
            f
        })
        .collect();
    let link = sb.host.link(&pod.ifb());
    let ifb_qdiscs = link.as_ref().map(|_| qdiscs(&sb.host, &pod.ifb()));
    let ifb_kind = link.as_ref().map(|l| l["linkinfo"]["info_kind"].clone());
    let ifb = link.map(|l| {
        strip(
            l,
            &["ifindex", "address", "broadcast", "linkinfo", "operstate"],
        )
    });
    json!({
        "veth": qdiscs(&sb.host, &pod.veth),
        "filters": filters,
        "ifb": ifb,
        "ifb_kind": ifb_kind,
        "ifb_qdiscs": ifb_qdiscs,
    })
}

/// Nothing of the plugin on the node: the host veth back to its default
/// qdisc, no ingress qdisc, no ifb.
pub fn assert_unshaped(sb: &Sandbox, pod: &Pod) {
    let q = qdiscs(&sb.host, &pod.veth);
    assert!(
        q.iter().all(|q| q["kind"] == "noqueue"),
        "qdiscs left on {}: {q:?}",
        pod.veth
    );
    assert!(filters(&sb.host, &pod.veth).is_empty());
    assert!(ifbs(&sb.host).is_empty(), "ifbs left: {:?}", ifbs(&sb.host));
}

/// The `interfaces` of a result.
pub fn interfaces(result: &Value) -> Vec<Value> {
    result["interfaces"].as_array().cloned().unwrap_or_default()
}
