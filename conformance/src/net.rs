//! Network configurations the cases use, built per spec version.
//!
//! A [`Net`] is a conf list (SPEC.md section 1) held as JSON so that a case
//! can bend any key (`net.set("/plugins/0/vlan", 4095)`) to make bad input.
//! The standard one is what a node runs: `bridge` with `isGateway`,
//! `ipMasq` and `host-local` (default route via the gateway), optionally
//! chained with `portmap` taking `runtimeConfig.portMappings`.

use std::path::Path;

use libcni::Version;
use serde_json::{Value, json};

/// The bridge every case uses (inside its own fake host netns).
pub const BRIDGE: &str = "cnitest0";
/// The network name every case uses.
pub const NET_NAME: &str = "conformance";
/// The IPv4 pod subnet and its gateway.
pub const SUBNET4: &str = "10.77.0.0/24";
/// The IPv4 gateway of [`SUBNET4`] (the network address + 1).
pub const GATEWAY4: &str = "10.77.0.1";
/// The IPv6 pod subnet (dual-stack cases).
pub const SUBNET6: &str = "fd77::/64";
/// The IPv6 gateway of [`SUBNET6`].
pub const GATEWAY6: &str = "fd77::1";

/// A conf list and the version it is written in.
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    /// The conf list JSON (`cniVersion`, `name`, `plugins`).
    pub list: Value,
}

impl Net {
    /// A conf list with `plugins` at `version`.
    pub fn new(version: Version, plugins: Vec<Value>) -> Net {
        Net {
            list: json!({"cniVersion": version.as_str(), "name": NET_NAME, "plugins": plugins}),
        }
    }

    /// bridge + host-local: `isGateway`, `ipMasq`, a default route, IPv4
    /// only, store in `data_dir`.
    pub fn bridge(version: Version, data_dir: &Path) -> Net {
        Net::new(
            version,
            vec![json!({
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "ipMasq": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": SUBNET4}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": data_dir.to_string_lossy(),
                }
            })],
        )
    }

    /// host-local alone (as a plugin of its own; it reads `ipam`).
    pub fn host_local(version: Version, data_dir: &Path) -> Net {
        Net::new(
            version,
            vec![json!({
                "type": "host-local",
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": SUBNET4}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": data_dir.to_string_lossy(),
                }
            })],
        )
    }

    /// loopback alone.
    pub fn loopback(version: Version) -> Net {
        Net::new(version, vec![json!({"type": "loopback"})])
    }

    /// Append portmap with the `portMappings` capability.
    pub fn with_portmap(mut self) -> Net {
        if let Some(p) = self.list["plugins"].as_array_mut() {
            p.push(json!({"type": "portmap", "capabilities": {"portMappings": true}}));
        }
        self
    }

    /// Add an IPv6 range set and default route to the first plugin's IPAM
    /// (bridge or host-local): a dual-stack network.
    pub fn dual_stack(mut self) -> Net {
        let ipam = &mut self.list["plugins"][0]["ipam"];
        if let Some(r) = ipam["ranges"].as_array_mut() {
            r.push(json!([{"subnet": SUBNET6}]));
        }
        if let Some(r) = ipam["routes"].as_array_mut() {
            r.push(json!({"dst": "::/0"}));
        }
        self
    }

    /// Set the key at a JSON pointer (`/plugins/0/vlan`), creating
    /// missing objects on the way.
    pub fn set(mut self, pointer: &str, value: Value) -> Net {
        set_pointer(&mut self.list, pointer, value);
        self
    }

    /// Remove the key at a JSON pointer, if present.
    pub fn remove(mut self, pointer: &str) -> Net {
        if let Some((parent, key)) = pointer.rsplit_once('/')
            && let Some(Value::Object(m)) = self.list.pointer_mut(parent)
        {
            m.remove(key);
        }
        self
    }

    /// The list's version (as written; the standard builders always write
    /// a valid one).
    pub fn version(&self) -> Version {
        self.list["cniVersion"]
            .as_str()
            .and_then(Version::parse)
            .unwrap_or(Version::DEFAULT)
    }

    /// The plugin objects.
    pub fn plugins(&self) -> Vec<Value> {
        self.list["plugins"].as_array().cloned().unwrap_or_default()
    }

    /// The `type` of plugin `i`.
    pub fn plugin_type(&self, i: usize) -> String {
        self.list["plugins"][i]["type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Set `value` at `pointer` in `root`, creating objects as needed.
pub fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let mut cur = root;
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if let Ok(idx) = part.parse::<usize>()
            && let Value::Array(a) = cur
        {
            if idx >= a.len() {
                return;
            }
            if last {
                a[idx] = value;
                return;
            }
            cur = &mut a[idx];
            continue;
        }
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        let Value::Object(m) = cur else { return };
        if last {
            m.insert((*part).to_string(), value);
            return;
        }
        cur = m.entry((*part).to_string()).or_insert(Value::Null);
    }
}

/// The per-plugin config a runtime passes on stdin (SPEC.md section 1,
/// "Deriving execution configuration from plugin configuration"): the
/// plugin object plus `name` and `cniVersion`, `capabilities` removed,
/// `runtimeConfig` holding the capability arguments the plugin declared,
/// and `prevResult` when chaining (0.3.0+ on ADD, 0.4.0+ on DEL/CHECK).
pub fn plugin_conf(
    net: &Net,
    plugin: &Value,
    runtime_args: &serde_json::Map<String, Value>,
    prev: Option<&Value>,
) -> Value {
    let mut conf = plugin.clone();
    let Value::Object(m) = &mut conf else {
        return conf;
    };
    m.insert("name".into(), net.list["name"].clone());
    m.insert("cniVersion".into(), net.list["cniVersion"].clone());
    let caps = m.remove("capabilities");
    let mut rc = serde_json::Map::new();
    if let Some(Value::Object(caps)) = caps {
        for (k, on) in caps {
            if on == Value::Bool(true)
                && let Some(v) = runtime_args.get(&k)
            {
                rc.insert(k, v.clone());
            }
        }
    }
    if !rc.is_empty() {
        m.insert("runtimeConfig".into(), Value::Object(rc));
    }
    if let Some(p) = prev {
        m.insert("prevResult".into(), p.clone());
    }
    conf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_set_creates_objects_and_indexes_arrays() {
        let net = Net::bridge(Version::V1_0_0, Path::new("/d"))
            .set("/plugins/0/vlan", json!(4095))
            .set("/plugins/0/ipam/extra/deep", json!(1));
        assert_eq!(net.list["plugins"][0]["vlan"], 4095);
        assert_eq!(net.list["plugins"][0]["ipam"]["extra"]["deep"], 1);
        let net = net.remove("/plugins/0/vlan");
        assert!(net.list["plugins"][0].get("vlan").is_none());
    }

    #[test]
    fn plugin_conf_injects_and_strips() {
        let net = Net::bridge(Version::V0_4_0, Path::new("/d")).with_portmap();
        let mut rt = serde_json::Map::new();
        rt.insert("portMappings".into(), json!([{"hostPort": 1}]));
        rt.insert("bandwidth".into(), json!({}));
        let prev = json!({"cniVersion": "0.4.0"});
        let c = plugin_conf(&net, &net.plugins()[1], &rt, Some(&prev));
        assert_eq!(c["name"], NET_NAME);
        assert_eq!(c["cniVersion"], "0.4.0");
        assert!(c.get("capabilities").is_none());
        assert_eq!(
            c["runtimeConfig"],
            json!({"portMappings": [{"hostPort": 1}]})
        );
        assert_eq!(c["prevResult"], prev);
        let c = plugin_conf(&net, &net.plugins()[0], &rt, None);
        assert!(c.get("runtimeConfig").is_none());
        assert!(c.get("prevResult").is_none());
    }

    #[test]
    fn dual_stack_adds_v6() {
        let net = Net::bridge(Version::V1_0_0, Path::new("/d")).dual_stack();
        let ipam = &net.list["plugins"][0]["ipam"];
        assert_eq!(ipam["ranges"][1][0]["subnet"], SUBNET6);
        assert_eq!(ipam["routes"][1]["dst"], "::/0");
    }
}
