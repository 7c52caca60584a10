//! Shared helpers for the ptp plugin's integration tests: a fake node
//! (sandbox + a plugin directory holding a `ptp`, our `host-local` and our
//! `portmap` + a temp IPAM dataDir), config builders, plugin calls, and a
//! snapshot of everything an attachment may leave on the node (veths, host
//! routes, iptables nat rules, nftables rules, IPAM leases) so tests can
//! assert "nothing left".
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cni_sandbox::{
    Netns, PluginNode, dir_names, ipam_records, merge, nat_rules, nft_attachment_rules,
    plugin_path, reference_plugin, route_lines, veth_names,
};
use serde_json::{Value, json};

/// The network name of every test config.
pub const NET: &str = "ptptest";
pub const CALL_TIMEOUT: std::time::Duration = cni_sandbox::CALL_TIMEOUT;
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
/// `ptp`, our `host-local` and our `portmap`, and an IPAM dataDir; the
/// configs and the state are [`PtpNode`]'s.
pub type Node = PluginNode;

/// A node running our ptp.
pub fn node() -> Node {
    node_with(&our_ptp())
}

/// A node running `ptp` (ours or the reference).
pub fn node_with(ptp: &Path) -> Node {
    let helpers = ["host-local", "portmap"].map(|p| (p, plugin_path(p)));
    PluginNode::new("ptp", ptp, &helpers)
}

/// The configs of a ptp test node and what its attachments leave.
pub trait PtpNode {
    /// The base config: ptp with masquerade, host-local with
    /// [`SUBNET4`] and a default route, in this node's dataDir; `extra`
    /// is merged on top ([`merge`]).
    fn conf(&self, extra: Value) -> Value;
    /// The base config, dual stack (default routes of both families).
    fn dual_conf(&self, extra: Value) -> Value;
    /// A host-local IPAM section with `ranges` and `routes` in this
    /// node's dataDir.
    fn ipam(&self, ranges: Value, routes: Value) -> Value;
    /// What attachments leave on the node.
    fn state(&self) -> State;
    /// Assert that the node holds exactly what `base` held.
    fn assert_clean(&self, base: &State, what: &str);
}

impl PtpNode for Node {
    fn conf(&self, extra: Value) -> Value {
        let base = json!({
            "cniVersion": "1.0.0",
            "name": NET,
            "type": "ptp",
            "ipMasq": true,
            "ipam": self.ipam(json!([[{"subnet": SUBNET4}]]), json!([{"dst": "0.0.0.0/0"}])),
        });
        merge(base, extra)
    }

    fn dual_conf(&self, extra: Value) -> Value {
        let ipam = self.ipam(
            json!([[{"subnet": SUBNET4}], [{"subnet": SUBNET6}]]),
            json!([{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]),
        );
        self.conf(merge(json!({ "ipam": ipam }), extra))
    }

    fn ipam(&self, ranges: Value, routes: Value) -> Value {
        json!({
            "type": "host-local",
            "dataDir": self.data_dir.to_str().unwrap(),
            "ranges": ranges,
            "routes": routes,
        })
    }

    fn state(&self) -> State {
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

    fn assert_clean(&self, base: &State, what: &str) {
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

/// Routes of `ns` of one family ([`cni_sandbox::route_lines`]).
pub fn routes(ns: &Netns, family: u8) -> Vec<String> {
    route_lines(ns, family)
}

/// Routes of both families of `ns` ([`routes`]).
pub fn all_routes(ns: &Netns) -> Vec<String> {
    let mut v = routes(ns, 4);
    v.extend(routes(ns, 6));
    v
}
