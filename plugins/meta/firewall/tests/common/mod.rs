//! Helpers shared by the firewall plugin's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use cni_sandbox::{Call, Netns, PluginRun, Sandbox, plugin_dir, plugin_path, reference_plugin};
use serde_json::{Value, json};

/// Our firewall binary.
pub fn ours() -> PathBuf {
    plugin_path("firewall")
}

/// The reference's (Debian 1.1.1).
pub fn reference() -> PathBuf {
    reference_plugin("firewall")
}

/// A prevResult as the bridge plugin returns it: the bridge, the host
/// veth, the pod's interface, and `ips` on the pod's interface.
pub fn prev(bridge: &str, ips: &[&str]) -> Value {
    let ips: Vec<Value> = ips
        .iter()
        .map(|a| json!({"address": a, "interface": 2}))
        .collect();
    json!({
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": bridge, "mac": "0a:58:0a:58:00:01"},
            {"name": "veth1234", "mac": "0a:58:0a:58:00:02"},
            {"name": "eth0", "mac": "0a:58:0a:58:00:03", "sandbox": "/run/netns/x"}
        ],
        "ips": ips,
    })
}

/// A firewall config of network `net` at `version` with `extra` keys,
/// state under `data_dir`, and `prev` as prevResult when given.
pub fn conf(net: &str, data_dir: &Path, extra: Value, prev: Option<Value>) -> Value {
    let mut c = json!({
        "cniVersion": "1.0.0",
        "name": net,
        "type": "firewall",
        "dataDir": data_dir,
    });
    let o = c.as_object_mut().unwrap();
    if let Value::Object(e) = extra {
        o.extend(e);
    }
    if let Some(p) = prev {
        o.insert("prevResult".into(), p);
    }
    c
}

/// Run `bin` for `cmd` on container `cid` (ifname eth0, netns `pod`)
/// inside the sandbox's host.
pub fn call(
    sb: &Sandbox,
    bin: &Path,
    cmd: &str,
    cid: &str,
    pod: &Netns,
    conf: &Value,
) -> PluginRun {
    Call::attach(cmd, cid, pod.path_str(), "eth0", &plugin_dir()).run(
        &sb.host,
        bin,
        &conf.to_string(),
    )
}

/// The filter table of the host, both families, as iptables-save lists
/// it.
pub fn filter(sb: &Sandbox) -> (Vec<String>, Vec<String>) {
    (
        sb.host.iptables_filter(false),
        sb.host.iptables_filter(true),
    )
}

/// The rule lines (`-A ...`) of a listing.
pub fn rules(listing: &[String]) -> Vec<String> {
    listing
        .iter()
        .filter(|l| l.starts_with("-A "))
        .cloned()
        .collect()
}

/// Lines of `listing` that mention `needle`.
pub fn mentioning(listing: &[String], needle: &str) -> Vec<String> {
    listing
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

/// Every regular file under `dir` (recursively).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A fake node: the sandbox's host, our plugins, a private IPAM store,
/// result cache and firewall state, and networks run through libcni's
/// runtime (as a container runtime would) from the host's namespace.
pub struct Node {
    pub sb: Sandbox,
    pub state: PathBuf,
    ipam: PathBuf,
    cache: PathBuf,
    plugins: PathBuf,
}

impl Node {
    pub fn new() -> Node {
        let sb = Sandbox::new();
        Node {
            state: sb.subdir("firewall"),
            ipam: sb.subdir("ipam"),
            cache: sb.subdir("cache"),
            plugins: plugin_dir(),
            sb,
        }
    }

    /// Run the plugins of `dir` instead of our build's.
    pub fn with_plugins(mut self, dir: PathBuf) -> Node {
        self.plugins = dir;
        self
    }

    /// Set the FORWARD policy of both families to DROP, as Docker or a
    /// hardened distribution does.
    pub fn forward_drop(&self) {
        self.sb
            .host
            .sh_ok("iptables -P FORWARD DROP && ip6tables -P FORWARD DROP");
    }

    /// A bridge network `name` on bridge `bridge` with `subnet`, masquerade
    /// on, chained with firewall (`firewall` extra keys) unless `None`.
    pub fn network(
        &self,
        name: &str,
        bridge: &str,
        subnet: &str,
        firewall: Option<Value>,
    ) -> libcni::runtime::ConfList {
        let mut plugins = vec![json!({
            "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                     "routes": [{"dst": "0.0.0.0/0"}], "dataDir": self.ipam},
        })];
        if let Some(extra) = firewall {
            let mut fw = json!({"type": "firewall", "dataDir": self.state});
            if let (Some(o), Value::Object(e)) = (fw.as_object_mut(), extra) {
                o.extend(e);
            }
            plugins.push(fw);
        }
        let list = json!({"cniVersion": "1.0.0", "name": name, "plugins": plugins});
        libcni::runtime::ConfList::from_bytes(list.to_string().as_bytes()).unwrap()
    }

    fn runtime(&self) -> libcni::runtime::CniConfig {
        libcni::runtime::CniConfig::new([self.plugins.clone()]).with_cache_dir(&self.cache)
    }

    /// ADD container `cid` in a new pod namespace; its first address.
    pub fn add(&self, list: &libcni::runtime::ConfList, cid: &str) -> (Netns, std::net::IpAddr) {
        let pod = self.sb.pod();
        let rt = libcni::runtime::RuntimeConf::new(cid, pod.path_str(), "eth0");
        let r = self
            .sb
            .host
            .run(|| self.runtime().add_network_list(list, &rt))
            .unwrap_or_else(|e| panic!("ADD {cid}: {e:?}"));
        let ip = r.ips[0].address.addr();
        (pod, ip)
    }

    /// CHECK container `cid`.
    pub fn check(
        &self,
        list: &libcni::runtime::ConfList,
        cid: &str,
        pod: &Netns,
    ) -> Result<(), libcni::Error> {
        let rt = libcni::runtime::RuntimeConf::new(cid, pod.path_str(), "eth0");
        self.sb
            .host
            .run(|| self.runtime().check_network_list(list, &rt))
    }

    /// DEL container `cid`.
    pub fn del(&self, list: &libcni::runtime::ConfList, cid: &str, pod: &Netns) {
        let rt = libcni::runtime::RuntimeConf::new(cid, pod.path_str(), "eth0");
        self.sb
            .host
            .run(|| self.runtime().del_network_list(list, &rt))
            .unwrap_or_else(|e| panic!("DEL {cid}: {e:?}"));
    }
}

/// Whether a TCP connection from `from` to `to` gets the server's answer
/// (the kit's bounded retry).
pub fn reaches(from: &Netns, to: std::net::SocketAddr) -> bool {
    cni_sandbox::tcp_retry(from, to).is_ok()
}

/// Whether it does not: one short attempt (a drop shows as a timeout).
#[allow(unused_imports)]
pub use cni_sandbox::tcp_fails as blocked;

/// Write an executable `wrapper` that runs `real` in a private mount
/// namespace whose /usr/sbin is `sbin` (/sbin is /usr/sbin on this
/// system). netfilter looks for tools only in absolute system directories
/// (/usr/sbin, /sbin, /usr/bin, /bin, /usr/local/...), so a PATH without
/// them would prove nothing; this hides them for real.
pub fn with_sbin(wrapper: &Path, sbin: &Path, real: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        "#!/bin/sh\nexec unshare -m --propagation private sh -c 'mount --bind \"$0\" /usr/sbin && exec \"$1\"' {} {}\n",
        sbin.display(),
        real.display()
    );
    std::fs::write(wrapper, script).unwrap();
    std::fs::set_permissions(wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
}
