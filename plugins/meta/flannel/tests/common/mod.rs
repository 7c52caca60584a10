//! Shared helpers of the flannel plugin's integration tests: a fake node
//! whose plugin directory holds our flannel, bridge and host-local, a
//! `subnet.env` written as flanneld writes it, and the flannel config of
//! kube-flannel's conflist pointed at the sandbox's files.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use cni_sandbox::{PluginNode, plugin_path};
use serde_json::{Value, json};

/// The network name kube-flannel and k3s use.
pub const NET: &str = "cbr0";

/// What flanneld writes for node 1 of a 10.244.0.0/16 cluster over VXLAN.
pub const SUBNET_ENV: &str = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

/// A fake node running our flannel with our bridge and host-local.
pub struct Node {
    /// The node (sandbox, plugin dir, IPAM dataDir).
    pub node: PluginNode,
    /// The `subnetFile` (not written until [`Node::write_env`]).
    pub env: PathBuf,
    /// flannel's `dataDir`.
    pub data: PathBuf,
}

impl Node {
    /// A node with `SUBNET_ENV` in place.
    pub fn new() -> Node {
        let n = Node::without_env();
        n.write_env(SUBNET_ENV);
        n
    }

    /// A node where flanneld has not written `subnet.env` yet.
    pub fn without_env() -> Node {
        let node = PluginNode::new(
            "flannel",
            &plugin_path("flannel"),
            &[
                ("bridge", plugin_path("bridge")),
                ("host-local", plugin_path("host-local")),
            ],
        );
        let env = node.sb.dir().join("run-flannel/subnet.env");
        let data = node.sb.dir().join("flannel");
        Node { node, env, data }
    }

    /// Write `subnet.env` as flanneld does.
    pub fn write_env(&self, text: &str) {
        std::fs::create_dir_all(self.env.parent().unwrap()).unwrap();
        std::fs::write(&self.env, text).unwrap();
    }

    /// kube-flannel's flannel config at `version`, with the sandbox's
    /// subnet file, dataDir and IPAM dataDir (so nothing lands in /run or
    /// /var/lib/cni).
    pub fn conf(&self, version: &str) -> Value {
        json!({
            "name": NET,
            "cniVersion": version,
            "type": "flannel",
            "subnetFile": self.env,
            "dataDir": self.data,
            "delegate": {"hairpinMode": true, "isDefaultGateway": true},
            "ipam": {"dataDir": self.node.data_dir},
        })
    }

    /// The saved delegate config files, sorted by name.
    pub fn scratch_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.data)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Host-local's leases of the network: address -> record.
    pub fn leases(&self) -> BTreeMap<String, String> {
        cni_sandbox::ipam_records(&self.node.data_dir.join(NET))
    }
}
