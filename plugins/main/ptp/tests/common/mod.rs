//! Shared helpers for the ptp plugin's integration tests: a fake node
//! (sandbox + a plugin directory holding a `ptp`, our `host-local` and our
//! `portmap` + a temp IPAM dataDir), config builders, plugin calls, and a
//! snapshot of everything an attachment may leave on the node (veths, host
//! routes, iptables nat rules, nftables rules, IPAM leases) so tests can
//! assert "nothing left".
#![allow(dead_code)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cni_sandbox::{
    Call, Netns, PluginRun, Sandbox, dir_names, ipam_records, merge, nat_rules,
    nft_attachment_rules, plugin_path, reference_plugin, veth_names, with_prev,
};
use serde_json::{Value, json};

/// The network name of every test config.
pub const NET: &str = "ptptest";
/// Deadline of one plugin call: a hung plugin fails the test, not the suite.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The IPv4 pod subnet of the base config, and its gateway.
pub const SUBNET4: &str = "10.244.0.0/24";
/// The gateway host-local gives for [`SUBNET4`].
pub const GW4: &str = "10.244.0.1";
/// The IPv6 pod subnet of the dual-stack configs, and its gateway.
pub const SUBNET6: &str = "fd00:10:244::/64";
/// The gateway host-local gives for [`SUBNET6`].
pub const GW6: &str = "fd00:10:244::1";

/// Our ptp binary (`cargo build --workspace --bins`).
pub fn our_ptp() -> PathBuf {
    plugin_path("ptp")
}

/// The reference ptp (Debian containernetworking-plugins 1.1.1).
pub fn reference_ptp() -> PathBuf {
    reference_plugin("ptp")
}

/// A fake node: the sandbox (fake host netns), a plugin directory with
/// `ptp`, `host-local` and `portmap`, and an IPAM dataDir.
#[derive(Debug)]
pub struct Node {
    /// The sandbox; plugins run in `sb.host`.
    pub sb: Sandbox,
    /// The plugin directory used as CNI_PATH.
    pub bin: PathBuf,
    /// The host-local dataDir.
    pub data_dir: PathBuf,
}

impl Node {
    /// A node running our ptp.
    pub fn new() -> Node {
        Node::with_ptp(&our_ptp())
    }

    /// A node running `ptp` (ours or the reference).
    pub fn with_ptp(ptp: &Path) -> Node {
        let sb = Sandbox::new();
        let data_dir = sb.subdir("ipam");
        let node = Node {
            bin: PathBuf::new(),
            data_dir,
            sb,
        };
        let bin = node.plugin_dir("bin", ptp);
        Node { bin, ..node }
    }

    /// Another plugin directory `name` in this sandbox with `ptp` and our
    /// host-local and portmap (to run two implementations on one node).
    pub fn plugin_dir(&self, name: &str, ptp: &Path) -> PathBuf {
        let dir = self.sb.subdir(name);
        symlink(ptp, dir.join("ptp")).unwrap();
        for p in ["host-local", "portmap"] {
            symlink(plugin_path(p), dir.join(p)).unwrap();
        }
        dir
    }

    /// Put an executable shell script `name` into the plugin directory
    /// (a stub IPAM plugin).
    pub fn stub(&self, name: &str, script: &str) {
        let p = self.bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The base config: ptp with masquerade, host-local with
    /// [`SUBNET4`] and a default route, in this node's dataDir; `extra`
    /// is merged on top ([`merge`]).
    pub fn conf(&self, extra: Value) -> Value {
        let base = json!({
            "cniVersion": "1.0.0",
            "name": NET,
            "type": "ptp",
            "ipMasq": true,
            "ipam": self.ipam(json!([[{"subnet": SUBNET4}]]), json!([{"dst": "0.0.0.0/0"}])),
        });
        merge(base, extra)
    }

    /// The base config, dual stack (default routes of both families).
    pub fn dual_conf(&self, extra: Value) -> Value {
        let ipam = self.ipam(
            json!([[{"subnet": SUBNET4}], [{"subnet": SUBNET6}]]),
            json!([{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]),
        );
        self.conf(merge(json!({ "ipam": ipam }), extra))
    }

    /// A host-local IPAM section with `ranges` and `routes` in this node's
    /// dataDir.
    pub fn ipam(&self, ranges: Value, routes: Value) -> Value {
        json!({
            "type": "host-local",
            "dataDir": self.data_dir.to_str().unwrap(),
            "ranges": ranges,
            "routes": routes,
        })
    }

    /// A call for container `cid`, interface eth0, in `netns`.
    pub fn call(&self, cmd: &str, cid: &str, netns: &str) -> Call {
        Call::attach(cmd, cid, netns, "eth0", &self.bin)
    }

    /// Run the `ptp` of this node's plugin directory.
    pub fn exec(&self, call: &Call, conf: &Value) -> PluginRun {
        self.exec_in(&self.bin, call, conf)
    }

    /// Run the `ptp` of plugin directory `dir` (also its CNI_PATH).
    pub fn exec_in(&self, dir: &Path, call: &Call, conf: &Value) -> PluginRun {
        call.clone()
            .env("CNI_PATH", dir.to_str().unwrap())
            .run_timeout(
                &self.sb.host,
                &dir.join("ptp"),
                &conf.to_string(),
                CALL_TIMEOUT,
            )
    }

    /// ADD `cid` in `pod`; asserts success and returns the result.
    pub fn add(&self, cid: &str, pod: &Netns, conf: &Value) -> Value {
        self.exec(&self.call("ADD", cid, pod.path_str()), conf)
            .expect_ok()
    }

    /// CHECK with `result` as prevResult.
    pub fn check(&self, cid: &str, pod: &Netns, conf: &Value, result: &Value) -> PluginRun {
        self.exec(
            &self.call("CHECK", cid, pod.path_str()),
            &with_prev(conf, result),
        )
    }

    /// DEL `cid` in `pod` (no prevResult); asserts success.
    pub fn del(&self, cid: &str, pod: &Netns, conf: &Value) {
        self.exec(&self.call("DEL", cid, pod.path_str()), conf)
            .expect_ok();
    }

    /// What attachments leave on the node.
    pub fn state(&self) -> State {
        let host = &self.sb.host;
        let mut routes: Vec<String> = [4, 6]
            .into_iter()
            .flat_map(|f| host.routes(f))
            .map(|r| format!("{} dev {}", r["dst"], r["dev"]))
            .collect();
        routes.sort();
        let store = self.data_dir.join(NET);
        State {
            veths: veth_names(host),
            routes,
            iptables: nat_rules(host),
            nft: nft_attachment_rules(host),
            leases: ipam_records(&store).into_keys().collect(),
            index: dir_names(&store.join(".by-attachment")),
        }
    }

    /// Assert that the node holds exactly what `base` held.
    pub fn assert_clean(&self, base: &State, what: &str) {
        assert_eq!(&self.state(), base, "{what}: something was left");
    }
}

/// What a set of attachments leaves on a node, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// veth names in the host.
    pub veths: Vec<String>,
    /// Host routes of both families ("dst dev").
    pub routes: Vec<String>,
    /// iptables nat rules and non-builtin chains, v4 and v6.
    pub iptables: Vec<String>,
    /// nftables rules and per-attachment chains.
    pub nft: Vec<String>,
    /// IPAM lease files.
    pub leases: Vec<String>,
    /// Entries of our host-local's attachment index.
    pub index: Vec<String>,
}

/// The host veth's name from an ADD result (interface 0).
pub fn host_veth(result: &Value) -> String {
    result["interfaces"][0]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Routes of `ns` of one family as "dst [via gw] [scope s] [src a]", in
/// the kernel's order, without the kernel's own IPv6 link-local route.
pub fn routes(ns: &Netns, family: u8) -> Vec<String> {
    ns.routes(family)
        .iter()
        .filter(|r| r["dst"] != "fe80::/64")
        .map(|r| {
            let mut s = r["dst"].as_str().unwrap_or_default().to_string();
            if let Some(gw) = r["gateway"].as_str() {
                s.push_str(&format!(" via {gw}"));
            }
            if let Some(scope) = r["scope"].as_str() {
                s.push_str(&format!(" scope {scope}"));
            }
            if let Some(src) = r["prefsrc"].as_str() {
                s.push_str(&format!(" src {src}"));
            }
            s
        })
        .collect()
}

/// Routes of both families of `ns` ([`routes`]).
pub fn all_routes(ns: &Netns) -> Vec<String> {
    let mut v = routes(ns, 4);
    v.extend(routes(ns, 6));
    v
}
