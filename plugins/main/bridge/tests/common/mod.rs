//! Shared helpers for the bridge plugin's integration tests: a fake node
//! (sandbox + a plugin directory holding our `bridge` and an IPAM binary +
//! a temp IPAM dataDir), config builders, plugin calls, and a snapshot of
//! everything an attachment may leave on the node (veths, iptables nat
//! rules, nftables rules, IPAM leases) so tests can assert "nothing left".
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use cni_sandbox::{
    Call, Netns, PluginRun, Probe, Sandbox, ipam_records, nft_items, plugin_dir, plugin_path,
    reference_plugin, supported_versions, tcp_probe,
};
use serde_json::{Value, json};

/// The network name of every test config.
pub const NET: &str = "bridgetest";
/// Deadline of one plugin call: a hung plugin fails the test, not the suite.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

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
/// removes the key.
pub fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            if v.is_null() {
                b.remove(&k);
            } else {
                b.insert(k, v);
            }
        }
    }
    base
}

/// `conf` with `prevResult` set to `result` (for CHECK and DEL).
pub fn with_prev(conf: &Value, result: &Value) -> Value {
    merge(conf.clone(), json!({ "prevResult": result }))
}

/// A fake node: the sandbox (fake host netns), a plugin directory with
/// symlinks `bridge` and `host-local`, and an IPAM dataDir.
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
    /// A node running our bridge.
    pub fn new() -> Node {
        Node::with_bridge(&our_bridge())
    }

    /// A node running `bridge` (ours or the reference).
    pub fn with_bridge(bridge: &Path) -> Node {
        let sb = Sandbox::new();
        let data_dir = sb.subdir("ipam");
        let node = Node {
            bin: PathBuf::new(),
            data_dir,
            sb,
        };
        let bin = node.plugin_dir("bin", bridge);
        Node { bin, ..node }
    }

    /// Another plugin directory `name` in this sandbox with `bridge` and
    /// the IPAM binary (to run two implementations against one node).
    pub fn plugin_dir(&self, name: &str, bridge: &Path) -> PathBuf {
        let dir = self.sb.subdir(name);
        symlink(bridge, dir.join("bridge")).unwrap();
        symlink(ipam_binary(), dir.join("host-local")).unwrap();
        dir
    }

    /// Put an executable shell script `name` into the plugin directory
    /// (a stub IPAM plugin).
    pub fn stub(&self, name: &str, script: &str) -> PathBuf {
        let p = self.bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
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

    /// A call for container `cid`, interface eth0, in `netns`.
    pub fn call(&self, cmd: &str, cid: &str, netns: &str) -> Call {
        Call::attach(cmd, cid, netns, "eth0", &self.bin)
    }

    /// Run the `bridge` of this node's plugin directory.
    pub fn exec(&self, call: &Call, conf: &Value) -> PluginRun {
        self.exec_in(&self.bin, call, conf)
    }

    /// Run the `bridge` of plugin directory `dir` (also its CNI_PATH).
    pub fn exec_in(&self, dir: &Path, call: &Call, conf: &Value) -> PluginRun {
        call.clone()
            .env("CNI_PATH", dir.to_str().unwrap())
            .run_timeout(
                &self.sb.host,
                &dir.join("bridge"),
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
    let mut out = vec![];
    for (fam, v6) in [("4", false), ("6", true)] {
        for l in ns.iptables_nat(v6) {
            let builtin = [":PREROUTING", ":INPUT", ":OUTPUT", ":POSTROUTING"]
                .iter()
                .any(|b| l.starts_with(b));
            if l.starts_with("-A") || (l.starts_with(':') && !builtin) {
                out.push(format!("{fam} {l}"));
            }
        }
    }
    out
}

/// nft rules as "family table chain: exprs comment" and chain names that
/// are not hooked (per-attachment chains), sorted. The masquerade table's
/// chains and the rules of its `postrouting` chain are network-wide state
/// that both implementations keep, so they are left out (the per-pod
/// rules in `masq_checks` are not).
pub fn nft_state(ns: &Netns) -> Vec<String> {
    let mut out = vec![];
    for item in nft_items(ns) {
        if let Some(r) = item.get("rule") {
            if r["table"] == "cni_plugins_masquerade" && r["chain"] == "postrouting" {
                continue;
            }
            out.push(format!(
                "rule {} {} {}: {} {}",
                r["family"], r["table"], r["chain"], r["expr"], r["comment"]
            ));
        } else if let Some(c) = item.get("chain")
            && c.get("hook").is_none()
            && c["table"] != "cni_plugins_masquerade"
        {
            out.push(format!(
                "chain {} {} {}",
                c["family"], c["table"], c["name"]
            ));
        }
    }
    out.sort();
    out
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
    ns.addrs(dev)
        .into_iter()
        .filter(|a| !a.starts_with("fe80:"))
        .collect()
}

/// The result interface at `index` (0 bridge, 1 host veth, 2 container).
pub fn iface(result: &Value, index: usize) -> &Value {
    &result["interfaces"][index]
}

/// The host veth's name from an ADD result.
pub fn host_veth(result: &Value) -> String {
    iface(result, 1)["name"].as_str().unwrap().to_string()
}

/// TCP probe with a bounded retry (a few short attempts; the first SYN may
/// race neighbour resolution or the port reaching forwarding state).
pub fn tcp(from: &Netns, to: SocketAddr) -> std::io::Result<Probe> {
    let mut last = None;
    for _ in 0..3 {
        match tcp_probe(from, to, Duration::from_secs(2)) {
            Ok(p) => return Ok(p),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap())
}

/// A TCP probe expected to fail: one short attempt.
pub fn tcp_fails(from: &Netns, to: SocketAddr) -> bool {
    tcp_probe(from, to, Duration::from_millis(700)).is_err()
}

fn dir_names(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The IPAM records in a host-local store: files named by an address.
pub fn lease_files(store: &std::path::Path) -> Vec<String> {
    ipam_records(store).into_keys().collect()
}
