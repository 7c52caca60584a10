//! The conf dirs as a runtime reads them, and what each network's plugins
//! make on the node: the interface (a bridge, ptp veths), its subnets and
//! MTU, and where its plugins keep state (host-local leases, tuning
//! backups, firewall state files, flannel's saved delegate configs).
//!
//! A flannel network is read through the flannel plugin's own code
//! (`cni_flannel`): its config, flanneld's `subnet.env`, and the delegate
//! config it would run, which is what makes the bridge.

use std::path::PathBuf;

use ipnet::IpNet;
use libcni::runtime::{ConfList, conf_files, list_networks, load_conf_list};
use serde_json::{Map, Value};

use super::Unread;

/// host-local's default `dataDir`.
pub const HOST_LOCAL_DATA_DIR: &str = "/var/lib/cni/networks";
/// tuning's default `dataDir`.
pub const TUNING_DATA_DIR: &str = "/run/cni/tuning";
/// firewall's default `dataDir`.
pub const FIREWALL_DATA_DIR: &str = "/run/cni/firewall";
/// bridge's default bridge name.
pub const DEFAULT_BRIDGE: &str = "cni0";

/// One configuration file, in the order CRI runtimes sort a conf dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfFile {
    /// The file.
    pub path: PathBuf,
    /// The network it defines, or why it does not load.
    pub network: Result<String, String>,
}

/// One conf dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfDir {
    /// The directory.
    pub dir: PathBuf,
    /// `*.conf`, `*.conflist` and `*.json`, sorted by name together, as
    /// containerd and CRI-O sort them before taking the first.
    pub files: Vec<ConfFile>,
    /// Why the directory could not be read.
    pub error: Option<Unread>,
}

/// What makes a pod's interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfaceKind {
    /// `bridge` (also flannel's default delegate): the bridge's name.
    Bridge(String),
    /// `ptp`: a routed veth per pod, no bridge.
    Ptp,
    /// Another interface plugin (macvlan, ipvlan...): its type.
    Other(String),
}

/// The pod interface of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// What makes it.
    pub kind: IfaceKind,
    /// The IPAM subnets pods get addresses from.
    pub subnets: Vec<IpNet>,
    /// The configured `mtu`, when set.
    pub mtu: Option<u32>,
}

impl Iface {
    /// The bridge's name, for bridge networks.
    pub fn bridge(&self) -> Option<&str> {
        match &self.kind {
            IfaceKind::Bridge(b) => Some(b),
            _ => None,
        }
    }
}

/// What a flannel network adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flannel {
    /// `subnetFile`.
    pub subnet_file: PathBuf,
    /// `dataDir`: saved delegate configs.
    pub data_dir: PathBuf,
    /// `FLANNEL_MTU`, when `subnet.env` was read.
    pub mtu: Option<u32>,
    /// `FLANNEL_NETWORK` and `FLANNEL_IPV6_NETWORK`: the cluster networks.
    pub cluster: Vec<IpNet>,
}

/// One network and what its plugins make.
#[derive(Debug, Clone)]
pub struct Network {
    /// The network name.
    pub name: String,
    /// The file that defines it.
    pub file: PathBuf,
    /// The list as a runtime loads it.
    pub list: ConfList,
    /// The pod interface.
    pub iface: Option<Iface>,
    /// Whether the list chains the `firewall` plugin.
    pub has_firewall: bool,
    /// Every plugin binary the network runs (IPAM and delegates too), in
    /// order, without repeats.
    pub binaries: Vec<String>,
    /// host-local stores: `<dataDir>/<network>`.
    pub lease_dirs: Vec<PathBuf>,
    /// tuning's `dataDir`s.
    pub tuning_dirs: Vec<PathBuf>,
    /// firewall state: `<dataDir>/<network>`.
    pub firewall_dirs: Vec<PathBuf>,
    /// flannel's part.
    pub flannel: Option<Flannel>,
    /// What could not be read about it.
    pub problems: Vec<Unread>,
}

impl Network {
    fn new(list: ConfList, file: PathBuf) -> Network {
        Network {
            name: list.name.clone(),
            file,
            list,
            iface: None,
            has_firewall: false,
            binaries: vec![],
            lease_dirs: vec![],
            tuning_dirs: vec![],
            firewall_dirs: vec![],
            flannel: None,
            problems: vec![],
        }
    }

    /// The pod subnets (empty when unknown).
    pub fn subnets(&self) -> &[IpNet] {
        self.iface.as_ref().map_or(&[], |i| &i.subnets)
    }

    fn binary(&mut self, t: &str) {
        if !self.binaries.iter().any(|b| b == t) {
            self.binaries.push(t.to_string());
        }
    }
}

/// Read every conf dir: the files in CRI order, and the networks (the first
/// definition of a name wins, across dirs too).
pub fn read(dirs: &[PathBuf]) -> (Vec<ConfDir>, Vec<Network>) {
    let mut out_dirs = vec![];
    let mut networks: Vec<Network> = vec![];
    for dir in dirs {
        let mut cd = ConfDir {
            dir: dir.clone(),
            files: vec![],
            error: None,
        };
        match conf_files(dir, &["conf", "conflist", "json"]) {
            Ok(files) => cd.files = files.into_iter().map(describe_file).collect(),
            Err(e) => cd.error = Some(Unread::new(format!("conf dir {}", dir.display()), e.msg)),
        }
        if let Ok(listing) = list_networks(dir) {
            for entry in listing.networks {
                if networks.iter().any(|n| n.name == entry.name) {
                    continue;
                }
                match load_conf_list(dir, &entry.name) {
                    Ok(loaded) => networks.push(analyse(loaded.list, entry.file)),
                    Err(e) if cd.error.is_none() => {
                        let what = format!("network {:?} ({})", entry.name, entry.file.display());
                        cd.error = Some(Unread::new(what, e.msg));
                    }
                    Err(_) => {}
                }
            }
        }
        out_dirs.push(cd);
    }
    (out_dirs, networks)
}

fn describe_file(path: PathBuf) -> ConfFile {
    let is_list = path.extension().is_some_and(|e| e == "conflist");
    let parsed = if is_list {
        ConfList::from_file(&path)
    } else {
        std::fs::read(&path)
            .map_err(|e| libcni::Error::io(e.to_string()))
            .and_then(|b| ConfList::from_plugin_conf_bytes(&b))
    };
    ConfFile {
        network: parsed.map(|l| l.name).map_err(|e| e.msg),
        path,
    }
}

/// What the network's plugins make.
pub fn analyse(list: ConfList, file: PathBuf) -> Network {
    let mut net = Network::new(list, file);
    let plugins = net.list.plugins.clone();
    for p in &plugins {
        plugin(&mut net, &p.plugin_type, &p.raw);
    }
    net
}

fn str_key<'a>(raw: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    raw.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn dir_key(raw: &Map<String, Value>, default: &str) -> PathBuf {
    PathBuf::from(str_key(raw, "dataDir").unwrap_or(default))
}

/// The subnets of an `ipam` object: `ranges[][].subnet` and the legacy
/// `subnet`, masked.
pub fn ipam_subnets(ipam: &Map<String, Value>) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = vec![];
    let mut add = |v: Option<&Value>| {
        if let Some(n) = v
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<IpNet>().ok())
        {
            let n = n.trunc();
            if !out.contains(&n) {
                out.push(n);
            }
        }
    };
    add(ipam.get("subnet"));
    for set in ipam
        .get("ranges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for range in set.as_array().into_iter().flatten() {
            add(range.get("subnet"));
        }
    }
    out
}

fn plugin(net: &mut Network, plugin_type: &str, raw: &Map<String, Value>) {
    net.binary(plugin_type);
    let ipam = raw.get("ipam").and_then(Value::as_object);
    if let Some(ipam) = ipam
        && let Some(t) = str_key(ipam, "type")
    {
        net.binary(t);
        if t == "host-local" {
            net.lease_dirs
                .push(dir_key(ipam, HOST_LOCAL_DATA_DIR).join(&net.name));
        }
    }
    let subnets = ipam.map(ipam_subnets).unwrap_or_default();
    let mtu = raw
        .get("mtu")
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m > 0);
    let kind = match plugin_type {
        "bridge" => Some(IfaceKind::Bridge(
            str_key(raw, "bridge").unwrap_or(DEFAULT_BRIDGE).to_string(),
        )),
        "ptp" => Some(IfaceKind::Ptp),
        "tuning" => {
            net.tuning_dirs.push(dir_key(raw, TUNING_DATA_DIR));
            None
        }
        "firewall" => {
            net.has_firewall = true;
            net.firewall_dirs
                .push(dir_key(raw, FIREWALL_DATA_DIR).join(&net.name));
            None
        }
        "flannel" => {
            flannel(net, raw);
            None
        }
        "portmap" | "bandwidth" | "loopback" | "sbr" | "vrf" => None,
        other if ipam.is_some() => Some(IfaceKind::Other(other.to_string())),
        _ => None,
    };
    if let Some(kind) = kind
        && net.iface.is_none()
    {
        net.iface = Some(Iface { kind, subnets, mtu });
    }
}

/// A flannel plugin: its own state, and the delegate it runs, read as the
/// plugin builds it.
fn flannel(net: &mut Network, raw: &Map<String, Value>) {
    use cni_flannel::{config, delegate, subnet_env};
    let mut conf = raw.clone();
    conf.insert("name".into(), Value::String(net.name.clone()));
    conf.insert(
        "cniVersion".into(),
        Value::String(net.list.cni_version.as_str().into()),
    );
    let stdin = Value::Object(conf).to_string().into_bytes();
    let parsed =
        libcni::skel::CmdArgs::from_config(libcni::skel::Command::Add, "doctor", "eth0", stdin)
            .and_then(|args| config::parse(&args));
    let conf = match parsed {
        Ok(c) => c,
        Err(e) => {
            net.problems.push(Unread::new(
                format!("the flannel config of network {:?}", net.name),
                e.msg,
            ));
            return;
        }
    };
    let mut info = Flannel {
        subnet_file: conf.subnet_file.clone(),
        data_dir: conf.data_dir.clone(),
        mtu: None,
        cluster: vec![],
    };
    let delegate = match subnet_env::load(&conf.subnet_file) {
        Ok(env) => {
            info.mtu = Some(env.mtu).filter(|m| *m > 0);
            info.cluster = env
                .networks
                .iter()
                .chain(&env.ipv6_networks)
                .copied()
                .collect();
            delegate::build(&conf, &env).ok()
        }
        Err(e) => {
            net.problems.push(Unread::new(
                format!("flannel's subnet.env of network {:?}", net.name),
                format!("{} ({})", e.for_status().msg, conf.subnet_file.display()),
            ));
            None
        }
    };
    net.flannel = Some(info);
    // Without the lease, the delegate as configured still names the
    // bridge and the IPAM store.
    let delegate = delegate.unwrap_or_else(|| {
        let mut d = conf.delegate.clone();
        d.entry("type")
            .or_insert_with(|| Value::String("bridge".into()));
        let mut ipam = conf.ipam.clone().unwrap_or_default();
        ipam.entry("type")
            .or_insert_with(|| Value::String("host-local".into()));
        d.insert("ipam".into(), Value::Object(ipam));
        d
    });
    if let Some(t) = delegate::plugin_type(&delegate).map(str::to_string) {
        plugin(net, &t, &delegate);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn list(v: Value) -> ConfList {
        ConfList::from_bytes(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn bridge_network_with_defaults() {
        let n = analyse(
            list(json!({"cniVersion": "1.0.0", "name": "n", "plugins": [
                {"type": "bridge", "ipam": {"type": "host-local",
                  "ranges": [[{"subnet": "10.1.0.0/24"}], [{"subnet": "fd00:1::/64"}]]}},
                {"type": "portmap"}, {"type": "tuning", "dataDir": "/tmp/t"},
                {"type": "firewall"}]})),
            PathBuf::from("/x/10-n.conflist"),
        );
        let iface = n.iface.clone().unwrap();
        assert_eq!(iface.bridge(), Some("cni0"));
        assert_eq!(iface.subnets.len(), 2);
        assert_eq!(iface.mtu, None);
        assert!(n.has_firewall);
        assert_eq!(
            n.binaries,
            ["bridge", "host-local", "portmap", "tuning", "firewall"]
        );
        assert_eq!(n.lease_dirs, [PathBuf::from("/var/lib/cni/networks/n")]);
        assert_eq!(n.tuning_dirs, [PathBuf::from("/tmp/t")]);
        assert_eq!(n.firewall_dirs, [PathBuf::from("/run/cni/firewall/n")]);
    }

    #[test]
    fn flannel_reads_the_delegate_from_subnet_env() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("subnet.env");
        std::fs::write(
            &env,
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
        )
        .unwrap();
        let n = analyse(
            list(json!({"cniVersion": "0.3.1", "name": "cbr0", "plugins": [
                {"type": "flannel", "subnetFile": env, "dataDir": "/tmp/f",
                 "ipam": {"dataDir": "/tmp/ipam"}, "delegate": {"hairpinMode": true}}]})),
            PathBuf::from("/x/10-flannel.conflist"),
        );
        assert!(n.problems.is_empty(), "{:?}", n.problems);
        let iface = n.iface.clone().unwrap();
        assert_eq!(iface.bridge(), Some("cni0"));
        assert_eq!(iface.subnets, ["10.244.1.0/24".parse::<IpNet>().unwrap()]);
        assert_eq!(iface.mtu, Some(1450));
        let f = n.flannel.clone().unwrap();
        assert_eq!(f.mtu, Some(1450));
        assert_eq!(f.data_dir, PathBuf::from("/tmp/f"));
        assert_eq!(n.binaries, ["flannel", "bridge", "host-local"]);
        assert_eq!(n.lease_dirs, [PathBuf::from("/tmp/ipam/cbr0")]);
    }

    #[test]
    fn flannel_without_subnet_env_is_a_problem_but_still_names_the_bridge() {
        let n = analyse(
            list(json!({"cniVersion": "0.3.1", "name": "cbr0", "plugins": [
                {"type": "flannel", "subnetFile": "/nonexistent/subnet.env"}]})),
            PathBuf::from("/x/10-flannel.conflist"),
        );
        assert_eq!(n.problems.len(), 1);
        assert!(n.problems[0].why.contains("subnet.env"), "{:?}", n.problems);
        assert_eq!(n.iface.unwrap().bridge(), Some("cni0"));
        assert_eq!(n.lease_dirs, [PathBuf::from("/var/lib/cni/networks/cbr0")]);
    }
}
