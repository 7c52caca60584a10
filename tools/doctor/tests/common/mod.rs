//! A fake node for the doctor's tests: a sandbox host namespace, a conf
//! dir, a bin dir with our plugins, a result cache and plugin data dirs,
//! all in the sandbox's temp dir; our cnitool (built by `cargo build
//! --workspace --bins`) runs inside the host namespace with NETCONFPATH,
//! CNI_PATH and --cache-dir pointing there. Nothing touches the machine's
//! root namespace or /etc/cni, /opt/cni, /var/lib/cni, /run/flannel.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use cni_sandbox::{Netns, Sandbox, plugin_path};
use serde_json::{Value, json};

/// The plugins linked into the bin dir.
pub const PLUGINS: [&str; 9] = [
    "bridge",
    "host-local",
    "portmap",
    "firewall",
    "tuning",
    "bandwidth",
    "flannel",
    "loopback",
    "ptp",
];

/// Our cnitool.
pub fn cnitool() -> PathBuf {
    plugin_path("cnitool")
}

/// What one doctor run said.
#[derive(Debug)]
pub struct Doctor {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
}

impl Doctor {
    /// The findings with id `id`.
    pub fn with_id(&self, id: &str) -> Vec<Value> {
        self.findings()
            .into_iter()
            .filter(|f| f["id"] == id)
            .collect()
    }

    /// Every finding.
    pub fn findings(&self) -> Vec<Value> {
        self.json["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The ids of the findings, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .findings()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }

    /// Assert the node is healthy (exit 0, no finding).
    pub fn assert_healthy(&self) {
        assert_eq!(
            (self.code, self.ids()),
            (0, vec![]),
            "expected a healthy node: {:#}\n{}",
            self.json,
            self.stderr
        );
    }

    /// Assert that the findings are exactly one of `id` (exit 1) and
    /// return it.
    pub fn only(&self, id: &str) -> Value {
        assert_eq!(
            (self.code, self.ids()),
            (1, vec![id.to_string()]),
            "expected exactly one {id}: {:#}\n{}",
            self.json,
            self.stderr
        );
        self.with_id(id).remove(0)
    }
}

/// The evidence lines of a finding, joined.
pub fn evidence(f: &Value) -> String {
    f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fix command of a finding.
pub fn fix(f: &Value) -> String {
    f["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("no fix in {f:#}"))
        .to_string()
}

/// A fake node.
#[derive(Debug)]
pub struct Node {
    pub sb: Sandbox,
    pub conf: PathBuf,
    pub bin: PathBuf,
    pub cache: PathBuf,
    pub ipam: PathBuf,
}

impl Node {
    /// A node whose host forwards IPv4 and IPv6 (as a node that runs pods
    /// does), with our plugins in its bin dir and an empty conf dir.
    pub fn new() -> Node {
        let sb = Sandbox::new();
        let conf = sb.subdir("net.d");
        let bin = sb.subdir("bin");
        let cache = sb.subdir("cache");
        let ipam = sb.subdir("ipam");
        for p in PLUGINS {
            symlink(plugin_path(p), bin.join(p)).unwrap();
        }
        sb.host
            .sh_ok("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1");
        Node {
            sb,
            conf,
            bin,
            cache,
            ipam,
        }
    }

    /// Write `file` into the conf dir.
    pub fn write_conf(&self, file: &str, conf: &Value) {
        std::fs::write(
            self.conf.join(file),
            serde_json::to_vec_pretty(conf).unwrap(),
        )
        .unwrap();
    }

    /// A bridge + host-local conflist with `extra` plugins after bridge.
    pub fn bridge_list(&self, name: &str, bridge: &str, ranges: Value, extra: &[Value]) -> Value {
        let mut plugins = vec![json!({
            "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true,
            "ipam": {"type": "host-local", "dataDir": self.ipam, "ranges": ranges}
        })];
        plugins.extend(extra.iter().cloned());
        json!({"cniVersion": "1.1.0", "name": name, "plugins": plugins})
    }

    /// Write `10-pods.conflist`: network `pods`, bridge `cnid0` on
    /// 10.88.0.0/24, then `extra`; returns the list.
    pub fn pods(&self, extra: &[Value]) -> Value {
        let list = self.bridge_list(
            "pods",
            "cnid0",
            json!([[{"subnet": "10.88.0.0/24"}]]),
            extra,
        );
        self.write_conf("10-pods.conflist", &list);
        list
    }

    /// Write `10-<name>.conflist`: bridge `bridge` on `subnet`, portmap.
    pub fn simple(&self, name: &str, bridge: &str, subnet: &str) {
        let list = self.bridge_list(
            name,
            bridge,
            json!([[{"subnet": subnet}]]),
            &[json!({"type": "portmap", "capabilities": {"portMappings": true}})],
        );
        self.write_conf(&format!("10-{name}.conflist"), &list);
    }

    /// A command running `program` in the host with the node's settings.
    pub fn command(&self, program: &Path) -> std::process::Command {
        let mut cmd = self.sb.host.command(program);
        cmd.env_clear()
            .env("PATH", self.path_var())
            .env("NETCONFPATH", &self.conf)
            .env("CNI_PATH", &self.bin)
            .current_dir(self.sb.dir())
            .stdin(Stdio::null());
        cmd
    }

    /// PATH with cnitool's directory first (fix commands call `cnitool`).
    pub fn path_var(&self) -> String {
        format!(
            "{}:/usr/sbin:/usr/bin:/sbin:/bin",
            cnitool().parent().unwrap().display()
        )
    }

    /// Run cnitool with `args` after `--cache-dir`; (exit code, stdout,
    /// stderr).
    pub fn cnitool(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let out = self
            .command(&cnitool())
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `cnitool add <net> <pod>` with container ID `cid`; the result.
    pub fn add(&self, net: &str, cid: &str, pod: &Netns, cap_args: Option<&Value>) -> Value {
        let caps = cap_args.map(ToString::to_string).unwrap_or_default();
        let mut env = vec![];
        if cap_args.is_some() {
            env.push(("CAP_ARGS", caps.as_str()));
        }
        let (code, out, err) =
            self.cnitool(&["--container-id", cid, "add", net, pod.path_str()], &env);
        assert_eq!(code, 0, "add {net} {cid}: {out}\n{err}");
        serde_json::from_str(&out).unwrap()
    }

    /// `cnitool doctor --json` with `extra` arguments.
    pub fn doctor(&self, extra: &[&str]) -> Doctor {
        let mut args = vec!["doctor", "--json"];
        args.extend_from_slice(extra);
        let (code, out, stderr) = self.cnitool(&args, &[]);
        let json = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {out}\n{stderr}"));
        Doctor { code, json, stderr }
    }

    /// Run a fix command in the host, as a user pastes it: a shell with
    /// cnitool on PATH and the node's settings in the environment, in the
    /// sandbox's directory. Its stdout.
    pub fn apply(&self, command: &str) -> String {
        let out = self
            .command(Path::new("/bin/sh"))
            .arg("-ec")
            .arg(command)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "fix `{command}` failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Forget an attachment as a runtime that lost it would: remove its
    /// cache entry, keep everything the plugins made.
    pub fn lose(&self, net: &str, cid: &str) {
        let f = self.cache.join("results").join(format!("{net}-{cid}-eth0"));
        std::fs::remove_file(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

/// Write an executable script.
pub fn script(path: &Path, body: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A stub plugin that answers VERSION with `versions` and succeeds at
/// every other verb without output (it is never asked to ADD).
pub fn stub_plugin(path: &Path, versions: &[&str]) {
    let v = json!({"cniVersion": versions[versions.len() - 1], "supportedVersions": versions});
    script(
        path,
        &format!("if [ \"$CNI_COMMAND\" = VERSION ]; then echo '{v}'; fi"),
    );
}

/// flanneld's lease for this node.
pub const SUBNET_ENV: &str = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

impl Node {
    /// The subnet.env of [`Node::flannel`].
    pub fn subnet_env(&self) -> PathBuf {
        self.sb.dir().join("run-flannel/subnet.env")
    }

    /// A flannel-style node: kube-flannel's conflist (network `cbr0`) with
    /// `subnet.env`, flannel's dataDir and the IPAM store in the sandbox,
    /// and what flanneld makes: `flannel.1` (VXLAN, MTU 1450, the node's
    /// /32) with a route to another node's subnet through it.
    pub fn flannel() -> Node {
        let node = Node::new();
        let env = node.subnet_env();
        std::fs::create_dir_all(env.parent().unwrap()).unwrap();
        std::fs::write(&env, SUBNET_ENV).unwrap();
        node.write_conf(
            "10-flannel.conflist",
            &json!({"name": "cbr0", "cniVersion": "0.3.1", "plugins": [
                {"type": "flannel", "subnetFile": env, "dataDir": node.sb.subdir("flannel"),
                 "ipam": {"dataDir": node.ipam},
                 "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
                {"type": "portmap", "capabilities": {"portMappings": true}}]}),
        );
        node.sb.host.sh_ok(
            "ip link add flannel.1 type vxlan id 1 dstport 8472 nolearning && \
             ip link set flannel.1 mtu 1450 up && \
             ip addr add 10.244.1.0/32 dev flannel.1 && \
             ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
        );
        node
    }
}
