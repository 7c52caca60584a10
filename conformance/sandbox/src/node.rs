//! What the interface plugins' tests (bridge, ptp) ask of a fake node:
//! a node that runs one plugin ([`PluginNode`]), the state attachments
//! leave (veths, routes, nat rules, nftables rules, global addresses,
//! store entries) in a form two runs can compare, an "outside" namespace
//! to masquerade towards, TCP reachability with a bounded retry, and a
//! bounded wait for IPv6 DAD.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Call, Netns, PluginRun, Probe, Sandbox, nft_items, tcp_probe};

/// Deadline of one plugin call: a hung plugin fails the test, not the suite.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A fake node that runs one plugin: the sandbox (plugins run in its
/// fake host), a plugin directory (also `CNI_PATH`) holding the plugin
/// and the binaries it delegates or chains to, and an IPAM dataDir.
#[derive(Debug)]
pub struct PluginNode {
    /// The sandbox; plugins run in `sb.host`.
    pub sb: Sandbox,
    /// The plugin directory used as CNI_PATH.
    pub bin: PathBuf,
    /// The IPAM dataDir.
    pub data_dir: PathBuf,
    /// The plugin's binary name (`bridge`, `ptp`).
    pub plugin: &'static str,
    /// The other binaries of every plugin directory, by name.
    helpers: Vec<(&'static str, PathBuf)>,
}

impl PluginNode {
    /// A node running `binary` as `plugin`, beside `helpers` (name, path:
    /// the IPAM plugin, chained plugins).
    pub fn new(plugin: &'static str, binary: &Path, helpers: &[(&'static str, PathBuf)]) -> Self {
        let sb = Sandbox::new();
        let data_dir = sb.subdir("ipam");
        let mut node = PluginNode {
            bin: PathBuf::new(),
            data_dir,
            sb,
            plugin,
            helpers: helpers.to_vec(),
        };
        node.bin = node.plugin_dir("bin", binary);
        node
    }

    /// Another plugin directory `name` in this sandbox with `binary` as the
    /// plugin and the same helpers (to run two implementations against one
    /// node).
    pub fn plugin_dir(&self, name: &str, binary: &Path) -> PathBuf {
        let dir = self.sb.subdir(name);
        symlink(binary, dir.join(self.plugin)).expect("linking the plugin");
        for (n, p) in &self.helpers {
            symlink(p, dir.join(n)).expect("linking a helper plugin");
        }
        dir
    }

    /// Put an executable shell script `name` into the plugin directory
    /// (a stub IPAM plugin).
    pub fn stub(&self, name: &str, script: &str) -> PathBuf {
        let p = self.bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).expect("writing a stub");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .expect("making a stub executable");
        p
    }

    /// A call for container `cid`, interface eth0, in `netns`.
    pub fn call(&self, cmd: &str, cid: &str, netns: &str) -> Call {
        Call::attach(cmd, cid, netns, "eth0", &self.bin)
    }

    /// Run the plugin of this node's plugin directory.
    pub fn exec(&self, call: &Call, conf: &Value) -> PluginRun {
        self.exec_in(&self.bin, call, conf)
    }

    /// Run the plugin of plugin directory `dir` (also its CNI_PATH).
    pub fn exec_in(&self, dir: &Path, call: &Call, conf: &Value) -> PluginRun {
        call.clone()
            .env("CNI_PATH", &dir.to_string_lossy())
            .run_timeout(
                &self.sb.host,
                &dir.join(self.plugin),
                &conf.to_string(),
                CALL_TIMEOUT,
            )
    }

    /// ADD `cid` in `pod` with the plugin of `dir`; asserts success and
    /// returns the result.
    pub fn add_in(&self, dir: &Path, cid: &str, pod: &Netns, conf: &Value) -> Value {
        self.exec_in(dir, &self.call("ADD", cid, pod.path_str()), conf)
            .expect_ok()
    }

    /// DEL `cid` (no prevResult) with the plugin of `dir`, `netns` as
    /// given (may be empty); asserts success.
    pub fn del_in(&self, dir: &Path, cid: &str, netns: &str, conf: &Value) {
        self.exec_in(dir, &self.call("DEL", cid, netns), conf)
            .expect_ok();
    }

    /// ADD `cid` in `pod`; asserts success and returns the result.
    pub fn add(&self, cid: &str, pod: &Netns, conf: &Value) -> Value {
        self.add_in(&self.bin, cid, pod, conf)
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
        self.del_in(&self.bin, cid, pod.path_str(), conf);
    }
}

/// Routes of `ns` of one family (`4`, `6`) in the main table as
/// "dst [via gw] [scope s] [src a]", in the kernel's order, without the
/// kernel's IPv6 link-local route: the layout a plugin made, comparable
/// across runs.
pub fn route_lines(ns: &Netns, family: u8) -> Vec<String> {
    ns.routes(family)
        .iter()
        .filter(|r| r["dst"] != "fe80::/64")
        .map(|r| {
            let mut s = r["dst"].as_str().unwrap_or_default().to_string();
            for (k, label) in [("gateway", "via"), ("scope", "scope"), ("prefsrc", "src")] {
                if let Some(x) = r[k].as_str() {
                    s.push_str(&format!(" {label} {x}"));
                }
            }
            s
        })
        .collect()
}

/// Shallow merge of two configs: keys of `extra` replace those of `base`;
/// a `null` value removes the key.
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

/// iptables nat rules (`-A ...`) and user chains of both families, each
/// prefixed with the family (`4 `, `6 `).
pub fn nat_rules(ns: &Netns) -> Vec<String> {
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
/// that the reference keeps once made, so they are left out (the per-pod
/// rules in `masq_checks` are not).
pub fn nft_attachment_rules(ns: &Netns) -> Vec<String> {
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

/// Names of the veths in `ns`, sorted.
pub fn veth_names(ns: &Netns) -> Vec<String> {
    let mut out: Vec<String> = ns
        .links()
        .iter()
        .filter(|l| l["linkinfo"]["info_kind"] == "veth")
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

/// Addresses of `dev` in `ns` other than IPv6 link-local ("addr/prefix").
pub fn global_addrs(ns: &Netns, dev: &str) -> Vec<String> {
    ns.addrs(dev)
        .into_iter()
        .filter(|a| !a.starts_with("fe80:"))
        .collect()
}

/// The names in `dir`, sorted; none when it does not exist.
pub fn dir_names(dir: &Path) -> Vec<String> {
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

/// TCP probe with a bounded retry (a few short attempts; the first SYN may
/// race neighbour resolution or a port reaching forwarding state).
pub fn tcp_retry(from: &Netns, to: SocketAddr) -> io::Result<Probe> {
    let mut last = io::Error::from(io::ErrorKind::TimedOut);
    for _ in 0..3 {
        match tcp_probe(from, to, Duration::from_secs(2)) {
            Ok(p) => return Ok(p),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A TCP probe expected to fail: one short attempt.
pub fn tcp_fails(from: &Netns, to: SocketAddr) -> bool {
    tcp_probe(from, to, Duration::from_millis(700)).is_err()
}

/// Wait (at most 5 s, looking every 20 ms) until no address of `dev` in
/// `ns` is tentative: a new IPv6 address goes through duplicate address
/// detection and cannot be bound or answer neighbour solicitations
/// before. Panics if it is still tentative then.
pub fn wait_not_tentative(ns: &Netns, dev: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = ns.ip_json(&format!("addr show dev {dev}"));
        let tentative = v[0]["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["tentative"] == true);
        if !tentative {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{dev} in {} still has tentative addresses: {v}",
            ns.name()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
