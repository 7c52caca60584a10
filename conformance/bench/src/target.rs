//! One implementation under test: its plugin directory, its own fake host
//! netns and IPAM store, and the runtime-like calls the scenarios make
//! (ADD in list order with prevResult threading, DEL in reverse).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use cni_sandbox::Netns;
use serde_json::{Value, json};

use crate::exec::{self, Sample};

/// The spec version every scenario uses: the newest the Debian reference
/// (1.1.1) supports, so both sides run the same protocol.
pub const CNI_VERSION: &str = "1.0.0";

static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// A plugin directory set up for benchmarking.
#[derive(Debug)]
pub struct Target {
    /// "ours" or "base".
    pub label: &'static str,
    /// Directory holding bridge, host-local, portmap.
    pub dir: PathBuf,
    /// The fake host netns the plugins run in.
    pub host: Netns,
    /// Temp dir for dataDir.
    pub state: PathBuf,
}

/// A network: name plus the plugin configs of its list, in order.
#[derive(Debug, Clone)]
pub struct Network {
    /// Network name.
    pub name: String,
    /// Plugin objects.
    pub plugins: Vec<Value>,
}

impl Network {
    /// The same network with `plugin` chained after the others.
    pub fn then(mut self, plugin: Value) -> Network {
        self.plugins.push(plugin);
        self
    }
}

/// The limits a k3s pod annotated with 10M ingress and egress bandwidth
/// gets (bits per second; the burst k3s passes is the rate, one second's
/// worth, which keeps TBF's buffer within 32 bits).
const BANDWIDTH: u64 = 10_000_000;

impl Target {
    /// Set up a target with its own fake host.
    pub fn new(label: &'static str, dir: PathBuf, state_root: &std::path::Path) -> Target {
        let host = Netns::new(&format!("bench{label}")).expect("creating the fake host netns");
        let state = state_root.join(label);
        std::fs::create_dir_all(&state).expect("creating the state dir");
        Target {
            label,
            dir,
            host,
            state,
        }
    }

    /// A bridge + host-local (+ ipMasq) network on a fresh bridge and /16,
    /// optionally chained with portmap.
    pub fn network(&self, masq: bool, portmap: bool) -> Network {
        let n = NEXT_NET.fetch_add(1, Ordering::Relaxed);
        let name = format!("bench{n}");
        let mut plugins = vec![json!({
            "type": "bridge",
            "bridge": format!("cbr{n}"),
            "isGateway": true,
            "ipMasq": masq,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": format!("10.{}.0.0/16", 100 + n)}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": self.state.join("ipam").to_string_lossy(),
            }
        })];
        if portmap {
            plugins.push(
                json!({"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}),
            );
        }
        Network { name, plugins }
    }

    /// podman's network (`podman network create`, CNI backend): bridge
    /// with ipMasq and hairpinMode, portmap, firewall with
    /// `"backend": ""`, then tuning when `tuning` is set.
    pub fn podman_network(&self, tuning: bool) -> Network {
        let mut net = self.network(true, false);
        net.plugins[0]["hairpinMode"] = json!(true);
        net.plugins
            .push(json!({"type": "portmap", "capabilities": {"portMappings": true}}));
        net.plugins.push(json!({"type": "firewall", "backend": "",
            "dataDir": self.state.join("firewall").to_string_lossy()}));
        if tuning {
            net.plugins.push(json!({"type": "tuning"}));
        }
        net
    }

    /// kube-flannel's list: `flannel` (delegating to bridge + host-local
    /// with the node's lease) then portmap. Where this directory has no
    /// `flannel` (Debian's reference package dropped it), the first plugin
    /// is the bridge config flannel would delegate to, written out: the
    /// same kernel work without the flannel process in front.
    pub fn flannel_network(&self) -> Network {
        let mut net = self.network(false, false);
        let subnet = net.plugins[0]["ipam"]["ranges"][0][0]["subnet"]
            .as_str()
            .unwrap_or("10.100.0.0/16")
            .to_string();
        let node_subnet = subnet.replace(".0.0/16", ".1.0/24");
        let portmap = json!({"type": "portmap", "capabilities": {"portMappings": true}});
        if self.dir.join("flannel").is_file() {
            let env = self.state.join("subnet.env");
            let text = format!(
                "FLANNEL_NETWORK={subnet}\nFLANNEL_SUBNET={}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
                node_subnet.replace(".0/24", ".1/24")
            );
            std::fs::write(&env, text).expect("writing subnet.env");
            net.plugins = vec![
                json!({"type": "flannel",
                       "subnetFile": env.to_string_lossy(),
                       "dataDir": self.state.join("flannel").to_string_lossy(),
                       "delegate": {"bridge": net.plugins[0]["bridge"], "hairpinMode": true,
                                    "isDefaultGateway": true},
                       "ipam": {"dataDir": self.state.join("ipam").to_string_lossy()}}),
                portmap,
            ];
        } else {
            let bridge = &mut net.plugins[0];
            bridge["hairpinMode"] = json!(true);
            bridge["isDefaultGateway"] = json!(true);
            bridge["mtu"] = json!(1450);
            bridge["ipam"]["ranges"] = json!([[{"subnet": node_subnet}]]);
            bridge["ipam"]["routes"] = json!([{"dst": subnet}]);
            net.plugins.push(portmap);
        }
        net
    }

    fn env(&self, cmd: &str, cid: &str, netns: &str) -> Vec<(&'static str, String)> {
        vec![
            ("CNI_COMMAND", cmd.to_string()),
            ("CNI_CONTAINERID", cid.to_string()),
            ("CNI_NETNS", netns.to_string()),
            ("CNI_IFNAME", "eth0".to_string()),
            ("CNI_PATH", self.dir.to_string_lossy().into_owned()),
        ]
    }

    fn stdin(
        net: &Network,
        plugin: &Value,
        prev: Option<&Value>,
        host_port: Option<u16>,
    ) -> String {
        let mut conf = plugin.clone();
        conf["name"] = json!(net.name);
        conf["cniVersion"] = json!(CNI_VERSION);
        if let Some(p) = prev {
            conf["prevResult"] = p.clone();
        }
        if let Some(hp) = host_port.filter(|_| conf["type"] == "portmap") {
            conf["runtimeConfig"] = json!({"portMappings": [
                {"hostPort": hp, "containerPort": 80, "protocol": "tcp"}
            ]});
        }
        if conf["type"] == "bandwidth" {
            conf["runtimeConfig"] = json!({"bandwidth": {
                "ingressRate": BANDWIDTH, "ingressBurst": BANDWIDTH,
                "egressRate": BANDWIDTH, "egressBurst": BANDWIDTH,
            }});
        }
        if let Some(obj) = conf.as_object_mut() {
            obj.remove("capabilities");
        }
        conf.to_string()
    }

    fn binary(&self, plugin: &Value) -> PathBuf {
        self.dir.join(plugin["type"].as_str().unwrap_or_default())
    }

    /// ADD the whole list; returns the summed sample and the final result.
    pub fn add(
        &self,
        net: &Network,
        cid: &str,
        netns: &str,
        host_port: Option<u16>,
    ) -> (Sample, Option<Value>) {
        let mut total = Sample::zero();
        let mut prev: Option<Value> = None;
        for p in &net.plugins {
            let s = exec::run(
                &self.host,
                &self.binary(p),
                &self.env("ADD", cid, netns),
                &Self::stdin(net, p, prev.as_ref(), host_port),
            );
            let ok = s.ok;
            let out = serde_json::from_str::<Value>(&s.stdout).ok();
            total.absorb(&s);
            if !ok {
                return (total, None);
            }
            prev = out;
        }
        (total, prev)
    }

    /// DEL the whole list in reverse with the cached result as prevResult.
    pub fn del(
        &self,
        net: &Network,
        cid: &str,
        netns: &str,
        prev: Option<&Value>,
        host_port: Option<u16>,
    ) -> Sample {
        let mut total = Sample::zero();
        for p in net.plugins.iter().rev() {
            let s = exec::run(
                &self.host,
                &self.binary(p),
                &self.env("DEL", cid, netns),
                &Self::stdin(net, p, prev, host_port),
            );
            total.absorb(&s);
        }
        total
    }

    /// CHECK the whole list with the cached result.
    pub fn check(
        &self,
        net: &Network,
        cid: &str,
        netns: &str,
        prev: &Value,
        host_port: Option<u16>,
    ) -> Sample {
        let mut total = Sample::zero();
        for p in &net.plugins {
            let s = exec::run(
                &self.host,
                &self.binary(p),
                &self.env("CHECK", cid, netns),
                &Self::stdin(net, p, Some(prev), host_port),
            );
            total.absorb(&s);
        }
        total
    }

    /// VERSION of one plugin (process start floor).
    pub fn version(&self, plugin: &str) -> Sample {
        exec::run(
            &self.host,
            &self.dir.join(plugin),
            &[("CNI_COMMAND", "VERSION".to_string())],
            &format!("{{\"cniVersion\":\"{CNI_VERSION}\"}}"),
        )
    }

    /// Firewall rules in the fake host: iptables nat rules (both
    /// families) and nftables rules (all tables, which includes the rules
    /// iptables-nft stores there), to show how firewall state grows.
    pub fn firewall_rules(&self) -> (usize, usize) {
        let count = |script: &str| {
            let (_, out, _) = self.host.sh(script);
            out.trim().parse::<usize>().unwrap_or(0)
        };
        let ipt = count(
            "{ iptables-save -t nat; ip6tables-save -t nat; } 2>/dev/null | grep -c '^-A' || true",
        );
        let nft = count("nft -a list ruleset 2>/dev/null | grep '# handle' | grep -vc '{' || true");
        (ipt, nft)
    }
}

impl Sample {
    /// An empty sample to sum a chain into.
    pub fn zero() -> Sample {
        Sample {
            wall: std::time::Duration::ZERO,
            cpu: std::time::Duration::ZERO,
            max_rss_kib: 0,
            ok: true,
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// Add another process of the same operation.
    pub fn absorb(&mut self, s: &Sample) {
        self.wall += s.wall;
        self.cpu += s.cpu;
        self.max_rss_kib = self.max_rss_kib.max(s.max_rss_kib);
        self.ok &= s.ok;
        if !s.ok && self.stderr.is_empty() {
            self.stderr = format!("{}{}", s.stdout, s.stderr);
        }
    }
}
