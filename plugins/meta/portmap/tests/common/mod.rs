//! A fake node for the portmap tests: a host netns with an uplink to an
//! "external" netns, a bridge network (interface plugin chained before
//! portmap), pods with servers, and helpers to run portmap (ours or the
//! reference) exactly as a runtime would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use cni_sandbox::{
    Call, Netns, PluginRun, Sandbox, answers_version, nft_all_rules, nft_family_rules, plugin_dir,
    plugin_path, reference_dir, reference_plugin, result_ip,
};
use serde_json::{Value, json};

/// The network name of every test.
pub const NET: &str = "pmnet";
/// The spec version of chains with the interface plugin: the newest the
/// Debian reference (1.1.1) speaks.
pub const VERSION: &str = "1.0.0";
/// The host's address on the uplink, what external clients connect to.
pub const HOST4: &str = "192.168.50.1";
/// The external peer's address.
pub const EXT4: &str = "192.168.50.2";
/// IPv6 counterparts.
pub const HOST6: &str = "fd50::1";
/// The external peer's IPv6 address.
pub const EXT6: &str = "fd50::2";
/// A second host address (on the uplink too), reachable from outside.
pub const HOST4_B: &str = "192.168.60.1";
/// The bridge's gateway address (what masqueraded traffic comes from).
pub const GW4: &str = "10.99.0.1";
/// The bridge's IPv6 gateway address.
pub const GW6: &str = "fd99::1";

/// Short timeout for probes that must succeed, and for those that must
/// fail (a dropped SYN or datagram only ends by timing out).
pub const OK: Duration = Duration::from_secs(3);
/// Timeout of probes expected to fail.
pub const FAIL: Duration = Duration::from_millis(600);

/// The directory of the interface plugin chained before portmap: our
/// `bridge` and `host-local` when both are built and working (answer
/// VERSION), else the reference ones in /usr/lib/cni.
pub fn bridge_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let ours = plugin_dir();
        if answers_version(&ours.join("bridge")) && answers_version(&ours.join("host-local")) {
            ours
        } else {
            reference_plugin("bridge");
            reference_plugin("host-local");
            reference_dir()
        }
    })
    .clone()
}

/// Our portmap binary.
pub fn ours() -> PathBuf {
    plugin_path("portmap")
}

/// The reference portmap (Debian 1.1.1).
pub fn reference() -> PathBuf {
    reference_plugin("portmap")
}

/// One pod: its netns, container ID and the interface plugin's result.
#[derive(Debug)]
pub struct Pod {
    /// The pod netns.
    pub ns: Netns,
    /// CNI_CONTAINERID.
    pub cid: String,
    /// The interface plugin's result (portmap's prevResult).
    pub prev: Value,
}

impl Pod {
    /// The pod's address of the given family.
    pub fn ip(&self, v6: bool) -> IpAddr {
        result_ip(&self.prev, !v6)
    }
}

/// The fake node.
#[derive(Debug)]
pub struct Node {
    /// Host + temp dir.
    pub sb: Sandbox,
    /// The external peer.
    pub ext: Netns,
    /// Dual-stack pods.
    pub dual: bool,
}

impl Node {
    /// A host with an uplink to `ext` (IPv4 and IPv6), a second host
    /// address, DAD off (no tentative addresses to wait
    /// for), and nothing else.
    pub fn new(dual: bool) -> Node {
        let sb = Sandbox::new();
        let ext = sb.extra("ext");
        let host = sb.host.name().to_string();
        sb.host
            .sh_ok("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
        ext.sh_ok(&format!(
            "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 && \
             ip link add eth0 type veth peer name uplink netns {host} && \
             ip addr add {EXT4}/24 dev eth0 && ip addr add {EXT6}/64 dev eth0 nodad && \
             ip link set eth0 up && \
             ip route add {HOST4_B}/32 via {HOST4}"
        ));
        sb.host.sh_ok(&format!(
            "ip addr add {HOST4}/24 dev uplink && ip addr add {HOST6}/64 dev uplink nodad && \
             ip addr add {HOST4_B}/24 dev uplink && ip link set uplink up"
        ));
        Node { sb, ext, dual }
    }

    /// The interface plugin's config (bridge + host-local, hairpin on).
    pub fn bridge_conf(&self) -> Value {
        let mut ranges = vec![json!([{"subnet": "10.99.0.0/24"}])];
        let mut routes = vec![json!({"dst": "0.0.0.0/0"})];
        if self.dual {
            ranges.push(json!([{"subnet": "fd99::/64"}]));
            routes.push(json!({"dst": "::/0"}));
        }
        json!({
            "cniVersion": VERSION,
            "name": NET,
            "type": "bridge",
            "bridge": "cnibr0",
            "isGateway": true,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": ranges,
                "routes": routes,
                "dataDir": self.sb.subdir("ipam"),
            },
        })
    }

    /// A portmap config with these mappings, extra keys and prevResult.
    pub fn portmap_conf(&self, maps: &Value, extra: &Value, prev: Option<&Value>) -> Value {
        let mut c = json!({
            "cniVersion": VERSION,
            "name": NET,
            "type": "portmap",
            "runtimeConfig": {"portMappings": maps},
        });
        if let Some(p) = prev {
            c["prevResult"] = p.clone();
        }
        if let (Some(o), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        c
    }

    /// Run a portmap binary in the host.
    pub fn run(&self, bin: &Path, cmd: &str, cid: &str, netns: &str, conf: &Value) -> PluginRun {
        Call::attach(cmd, cid, netns, "eth0", &bridge_dir()).run(
            &self.sb.host,
            bin,
            &conf.to_string(),
        )
    }

    /// Bridge ADD of a new pod (no portmap yet).
    pub fn pod(&self, cid: &str) -> Pod {
        let ns = self.sb.pod();
        ns.sh_ok("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
        let run = Call::attach("ADD", cid, ns.path_str(), "eth0", &bridge_dir()).run(
            &self.sb.host,
            &bridge_dir().join("bridge"),
            &self.bridge_conf().to_string(),
        );
        let prev = run.expect_ok();
        Pod {
            ns,
            cid: cid.to_string(),
            prev,
        }
    }

    /// Bridge ADD, then portmap ADD with `bin`; asserts both succeed and
    /// that portmap passed prevResult through.
    pub fn pod_with(&self, bin: &Path, cid: &str, maps: &Value, extra: &Value) -> Pod {
        let pod = self.pod(cid);
        let conf = self.portmap_conf(maps, extra, Some(&pod.prev));
        let out = self
            .run(bin, "ADD", cid, pod.ns.path_str(), &conf)
            .expect_ok();
        assert_eq!(out["ips"], pod.prev["ips"], "portmap changed the result");
        assert_eq!(out["cniVersion"], VERSION);
        pod
    }

    /// portmap DEL with `bin` (prevResult and mappings as given).
    pub fn del(
        &self,
        bin: &Path,
        pod: &Pod,
        maps: &Value,
        extra: &Value,
        with_prev: bool,
    ) -> PluginRun {
        let conf = self.portmap_conf(maps, extra, with_prev.then_some(&pod.prev));
        self.run(bin, "DEL", &pod.cid, pod.ns.path_str(), &conf)
    }

    /// The host's nat tables (IPv4, IPv6) as normalised iptables-save lines.
    pub fn nat(&self) -> (Vec<String>, Vec<String>) {
        (
            self.sb.host.iptables_nat(false),
            self.sb.host.iptables_nat(true),
        )
    }
}

/// `ip:port`.
pub fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// The address a server saw, with IPv4-mapped IPv6 turned back into IPv4.
pub fn seen(p: &cni_sandbox::Probe) -> IpAddr {
    p.seen_peer.ip().to_canonical()
}

/// Lines that mention a portmap chain or the container.
pub fn portmap_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains("CNI-HOSTPORT") || l.contains("CNI-DN-") || l.contains("CNI-SN-"))
        .cloned()
        .collect()
}

/// portmap's nft table (both families).
pub const HOSTPORT_TABLE: &str = "cni_hostport";

/// The rules of table `family cni_hostport`, chain `chain`, as JSON.
pub fn hostport_rules(ns: &Netns, family: &str, chain: &str) -> Vec<Value> {
    nft_family_rules(ns, family, HOSTPORT_TABLE, chain)
}

/// Every nft rule of table cni_hostport (both families) whose comment is
/// `cid`.
pub fn hostport_rules_of(ns: &Netns, cid: &str) -> Vec<Value> {
    nft_all_rules(ns)
        .into_iter()
        .filter(|r| r["table"] == HOSTPORT_TABLE && r["comment"] == cid)
        .collect()
}
