//! Shared helpers for the bridge plugin's integration tests: a fake node
//! (sandbox + a plugin directory holding our `bridge` and an IPAM binary +
//! a temp IPAM dataDir), config builders, plugin calls, and a snapshot of
//! everything an attachment may leave on the node (veths, iptables nat
//! rules, nftables rules, IPAM leases) so tests can assert "nothing left".
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use cni_sandbox::{
    Netns, PluginNode, Probe, ipam_records, plugin_dir, plugin_path, reference_plugin,
    supported_versions,
};
use serde_json::{Value, json};

/// The network name of every test config.
pub const NET: &str = "bridgetest";
/// Deadline of one plugin call: a hung plugin fails the test, not the suite.
pub const CALL_TIMEOUT: std::time::Duration = cni_sandbox::CALL_TIMEOUT;

/// Our `host-local`, when it is built in the target dir and answers
/// VERSION (the branch that writes it may not be merged yet: until then
/// the target dir holds a placeholder or nothing).
pub fn our_host_local() -> Option<PathBuf> {
    static OURS: OnceLock<Option<PathBuf>> = OnceLock::new();
    OURS.get_or_init(|| {
        let p = plugin_dir().join("host-local");
        (p.is_file() && supported_versions(&p).is_some()).then_some(p)
    })
    .clone()
}

/// Our `host-local` if it supports spec 1.1.0 (GC, STATUS); panics with
/// the reason otherwise (the tests that need it are `#[ignore]`d until
/// it is merged).
pub fn our_host_local_1_1() -> PathBuf {
    let p = our_host_local().expect(
        "our host-local is not built (or is a placeholder): build it with \
         `cargo build -p host-local --bins`; the reference host-local cannot do spec 1.1.0",
    );
    let v = supported_versions(&p).unwrap_or_default();
    assert!(
        v.iter().any(|s| s == "1.1.0"),
        "{} does not support spec 1.1.0: {v:?}",
        p.display()
    );
    p
}

/// The IPAM delegate of these tests: our host-local when it is built,
/// else the reference one.
pub fn ipam_binary() -> PathBuf {
    our_host_local().unwrap_or_else(|| reference_plugin("host-local"))
}

/// Our bridge binary (`cargo build -p cni-bridge --bins`).
pub fn our_bridge() -> PathBuf {
    plugin_path("bridge")
}

/// The reference bridge (Debian containernetworking-plugins 1.1.1).
pub fn reference_bridge() -> PathBuf {
    reference_plugin("bridge")
}

/// Shallow merge: keys of `extra` replace those of `base`; a `null` value
/// removes the key ([`cni_sandbox::merge`]).
pub fn merge(base: Value, extra: Value) -> Value {
    cni_sandbox::merge(base, extra)
}

/// `conf` with `prevResult` set to `result` (for CHECK and DEL).
pub fn with_prev(conf: &Value, result: &Value) -> Value {
    cni_sandbox::with_prev(conf, result)
}

/// A fake node: the sandbox (fake host netns), a plugin directory with
/// symlinks `bridge` and `host-local`, and an IPAM dataDir; the calls are
/// [`PluginNode`]'s.
#[derive(Debug)]
pub struct Node(PluginNode);

impl std::ops::Deref for Node {
    type Target = PluginNode;
    fn deref(&self) -> &PluginNode {
        &self.0
    }
}

impl Node {
    /// A node running our bridge.
    pub fn new() -> Node {
        Node::with_bridge(&our_bridge())
    }

    /// A node running `bridge` (ours or the reference).
    pub fn with_bridge(bridge: &Path) -> Node {
        Node(PluginNode::new(
            "bridge",
            bridge,
            &[("host-local", ipam_binary())],
        ))
    }

    /// The base config: bridge `cni0`, gateway on it, masquerade, and
    /// host-local with `10.88.0.0/24` in this node's dataDir; `extra`
    /// is merged on top (see [`merge`]).
    pub fn conf(&self, extra: Value) -> Value {
        let base = json!({
            "cniVersion": "1.0.0",
            "name": NET,
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": true,
            "ipMasq": true,
            "ipam": self.ipam(json!([[{"subnet": "10.88.0.0/24"}]])),
        });
        merge(base, extra)
    }

    /// A host-local IPAM section with `ranges` in this node's dataDir.
    pub fn ipam(&self, ranges: Value) -> Value {
        json!({
            "type": "host-local",
            "dataDir": self.data_dir.to_str().unwrap(),
            "ranges": ranges,
        })
    }

    /// IPAM lease files of the test network (not the lock or the
    /// last-reserved markers).
    pub fn leases(&self) -> Vec<String> {
        lease_files(&self.data_dir.join(NET))
    }

    /// Entries of our host-local's per-attachment index
    /// (`.by-attachment/`, which the reference does not have): they must
    /// go with the records.
    pub fn index_entries(&self) -> Vec<String> {
        dir_names(&self.data_dir.join(NET).join(".by-attachment"))
    }

    /// What attachments leave on the node.
    pub fn state(&self) -> State {
        let host = &self.sb.host;
        State {
            veths: host
                .links()
                .iter()
                .filter(|l| l["linkinfo"]["info_kind"] == "veth")
                .filter_map(|l| l["ifname"].as_str().map(str::to_string))
                .collect(),
            iptables: iptables_rules(host),
            nft: nft_state(host),
            leases: self.leases(),
            index: self.index_entries(),
        }
    }

    /// Assert that the node holds exactly what `base` held (the bridge
    /// itself, its addresses and the network-wide nft masquerade chain
    /// are allowed to stay, as with the reference).
    pub fn assert_clean(&self, base: &State, what: &str) {
        let now = self.state();
        assert_eq!(now.veths, base.veths, "{what}: veths left");
        assert_eq!(now.iptables, base.iptables, "{what}: iptables rules left");
        assert_eq!(now.nft, base.nft, "{what}: nftables rules left");
        assert_eq!(now.leases, base.leases, "{what}: IPAM leases left");
        assert_eq!(now.index, base.index, "{what}: IPAM index entries left");
    }

    /// An "outside" namespace routed from the fake host
    /// ([`Sandbox::outside`]).
    pub fn outside(&self) -> Netns {
        self.sb.outside()
    }
}

/// What a set of attachments leaves on a node, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// veth names in the host.
    pub veths: BTreeSet<String>,
    /// iptables nat rules and non-builtin chains, v4 and v6.
    pub iptables: Vec<String>,
    /// nftables rules (handles removed) and non-base chains, except the
    /// network-wide masquerade chains and the rules of its base chain.
    pub nft: Vec<String>,
    /// IPAM lease files.
    pub leases: Vec<String>,
    /// Entries of our host-local's attachment index.
    pub index: Vec<String>,
}

/// iptables nat rules (`-A ...`) and user chains, prefixed with the family.
pub fn iptables_rules(ns: &Netns) -> Vec<String> {
    cni_sandbox::nat_rules(ns)
}

/// nft rules and per-attachment chains ([`cni_sandbox::nft_attachment_rules`]).
pub fn nft_state(ns: &Netns) -> Vec<String> {
    cni_sandbox::nft_attachment_rules(ns)
}

/// Wait (bounded, asking the kernel) until no address of `dev` in `ns`
/// is tentative: a new IPv6 gateway address on the bridge goes through
/// duplicate address detection (as with the reference) and cannot be
/// bound or reached before.
pub fn wait_dad(ns: &Netns, dev: &str) {
    let nl = hostnet::Netlink::in_netns(&hostnet::NetNs::open(ns.path()).unwrap()).unwrap();
    let link = nl.link_by_name(dev).unwrap();
    nl.wait_dad(link.index, Duration::from_secs(5)).unwrap();
}

/// Global-scope addresses of `dev` in `ns` ("addr/prefix").
pub fn global_addrs(ns: &Netns, dev: &str) -> Vec<String> {
    cni_sandbox::global_addrs(ns, dev)
}

/// The result interface at `index` (0 bridge, 1 host veth, 2 container).
pub fn iface(result: &Value, index: usize) -> &Value {
    &result["interfaces"][index]
}

/// The host veth's name from an ADD result.
pub fn host_veth(result: &Value) -> String {
    iface(result, 1)["name"].as_str().unwrap().to_string()
}

/// TCP probe with a bounded retry ([`cni_sandbox::tcp_retry`]).
pub fn tcp(from: &Netns, to: SocketAddr) -> std::io::Result<Probe> {
    cni_sandbox::tcp_retry(from, to)
}

/// A TCP probe expected to fail: one short attempt.
pub fn tcp_fails(from: &Netns, to: SocketAddr) -> bool {
    cni_sandbox::tcp_fails(from, to)
}

fn dir_names(dir: &std::path::Path) -> Vec<String> {
    cni_sandbox::dir_names(dir)
}

/// The IPAM records in a host-local store: files named by an address.
pub fn lease_files(store: &std::path::Path) -> Vec<String> {
    ipam_records(store).into_keys().collect()
}
