//! Network configuration (SPEC.md "Section 1: Network configuration format").
//!
//! [`NetConf`] is the per-plugin object a plugin reads on stdin; it holds
//! the standard keys and keeps every other key in `extra`, so a plugin can
//! decode its own typed config from the same JSON with [`decode`].
//! [`NetConfList`] is the on-disk conf list a runtime loads.

use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::error::Error;
use super::result::{CniResult, Dns};
use super::version::Version;

/// Decode `T` from JSON bytes. Malformed JSON and wrong types are code 6
/// with the path of the failing key (`ipam.ranges[0][0].subnet: invalid
/// type ...`), so an operator can find it in a long conf.
pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || inner.is_syntax() || inner.is_eof() {
            Error::decoding(format!("{what}: {inner}"))
        } else {
            Error::decoding(format!("{what}: key {path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| {
        Error::decoding(format!("{what}: trailing data after the JSON object: {e}"))
    })?;
    Ok(v)
}

/// Deserialize a boolean that may also be written as the string "true" or
/// "false" (libcni accepts both for `disableCheck` and friends).
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Str(String),
    }
    match B::deserialize(d)? {
        B::Bool(b) => Ok(b),
        B::Str(s) => match s.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "expected a boolean or \"true\"/\"false\", got {s:?}"
            ))),
        },
    }
}

/// Like [`lenient_bool`] for optional keys.
pub fn lenient_opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    lenient_bool(d).map(Some)
}

/// `ipam` section: only `type` is standard; the rest belongs to the IPAM
/// plugin and is kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamConf {
    /// The IPAM plugin binary name; empty means no IPAM (L2 only).
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    /// Every other key, for the IPAM plugin.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `args.cni` (CONVENTIONS.md "Args in network config").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArgsCni {
    /// Requested addresses, "ip" or "ip/prefix".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// Requested MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Everything else (`labels`, runtime-specific keys).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `args`: reserved for runtime-supplied arguments; `cni` is the
/// standardised part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Args {
    /// `args.cni`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni: Option<ArgsCni>,
    /// Other namespaces under `args`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The per-plugin configuration object a plugin receives on stdin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetConf {
    /// Spec version of this config; absent means 0.1.0.
    #[serde(
        rename = "cniVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cni_version: String,
    /// Network name, unique on the host.
    #[serde(default)]
    pub name: String,
    /// Plugin binary name.
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    /// Capabilities the plugin declares (runtimes strip this before exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Map<String, Value>>,
    /// Capability arguments injected by the runtime.
    #[serde(
        rename = "runtimeConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_config: Option<Map<String, Value>>,
    /// Runtime arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Args>,
    /// Set up IP masquerade on the host for this network.
    #[serde(
        rename = "ipMasq",
        default,
        deserialize_with = "lenient_opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_masq: Option<bool>,
    /// IPAM section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConf>,
    /// DNS to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
    /// Result of the previous plugin in the chain, in the config's version.
    #[serde(
        rename = "prevResult",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_result: Option<Value>,
    /// Every plugin-specific key.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NetConf {
    /// The config's spec version; `cniVersion` absent means 0.1.0. An
    /// unknown version is code 1.
    pub fn version(&self) -> Result<Version, Error> {
        if self.cni_version.is_empty() {
            return Ok(Version::DEFAULT);
        }
        self.cni_version
            .parse()
            .map_err(|e| Error::incompatible_version(format!("cniVersion: {e}")))
    }

    /// `prevResult` parsed into the internal form (read in the config's
    /// version when it carries no `cniVersion`). `None` when absent or null.
    pub fn prev_result(&self) -> Result<Option<CniResult>, Error> {
        match &self.prev_result {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let (r, _) =
                    CniResult::parse(v, self.version()?).map_err(|e| e.context("prevResult"))?;
                Ok(Some(r))
            }
        }
    }

    /// `runtimeConfig.<key>`, if present and not null.
    pub fn runtime(&self, key: &str) -> Option<&Value> {
        self.runtime_config
            .as_ref()
            .and_then(|m| m.get(key))
            .filter(|v| !v.is_null())
    }

    /// `args.cni`, if present.
    pub fn args_cni(&self) -> Option<&ArgsCni> {
        self.args.as_ref().and_then(|a| a.cni.as_ref())
    }

    /// The IPAM plugin type, or `None` when there is no `ipam` or its type
    /// is empty (L2-only network).
    pub fn ipam_type(&self) -> Option<&str> {
        self.ipam
            .as_ref()
            .map(|i| i.plugin_type.as_str())
            .filter(|t| !t.is_empty())
    }
}

/// Look a key up in a JSON object as Go's encoding/json matches struct
/// fields: the exact spelling first, else any spelling that differs only
/// in ASCII case. The reference plugins decode their keys this way, and
/// runtimes rely on it: containerd's go-cni sends `runtimeConfig` entries
/// with Go field names (`HostPort`, `IngressRate`), which reach a plugin
/// that documents `hostPort` and `ingressRate`.
pub fn go_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The name rule shared by network names and container IDs
/// (`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, cni:pkg/utils). Because it excludes
/// `/` and a leading `.`, such a name is also safe as a path component.
pub fn is_valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Validate a network name (code 7 naming the problem).
pub fn validate_network_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::invalid_config(
            "missing network name: set \"name\" in the network configuration",
        ));
    }
    if !is_valid_name(name) {
        return Err(Error::invalid_config(format!(
            "invalid network name {name:?}: it must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
        )));
    }
    Ok(())
}

/// Validate an interface name the way the kernel and libcni do: 1-15 bytes,
/// not "." or "..", no '/', ':' or whitespace. Returns the reason on failure.
pub fn interface_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 15 {
        Some("it is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("it is '.' or '..'")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0')
    {
        Some("it contains '/', ':', NUL or whitespace")
    } else {
        None
    }
}

/// A `[{containerID, ifname}]` entry of `cni.dev/valid-attachments` (GC).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attachment {
    /// Container ID.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// Interface name in the container.
    pub ifname: String,
}

impl NetConf {
    /// The GC list of attachments to keep: `cni.dev/valid-attachments`, or
    /// the older `cni.dev/attachments` (cni#1101). `None` when neither key
    /// is present (then GC must not assume anything is stale).
    pub fn valid_attachments(&self) -> Result<Option<Vec<Attachment>>, Error> {
        for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
            if let Some(v) = self.extra.get(key) {
                if v.is_null() {
                    continue;
                }
                return super::result::from_value_path(key, v).map(Some);
            }
        }
        Ok(None)
    }
}

/// A conf list (`*.conflist`): the network and its chain of plugins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetConfList {
    /// Spec version of the list.
    #[serde(
        rename = "cniVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cni_version: String,
    /// Versions the list is valid for (1.1.0); the newest we support wins.
    #[serde(rename = "cniVersions", default, skip_serializing_if = "Vec::is_empty")]
    pub cni_versions: Vec<String>,
    /// Network name.
    #[serde(default)]
    pub name: String,
    /// Skip CHECK for this network.
    #[serde(rename = "disableCheck", default, deserialize_with = "lenient_bool")]
    pub disable_check: bool,
    /// Skip GC for this network (1.1.0).
    #[serde(rename = "disableGC", default, deserialize_with = "lenient_bool")]
    pub disable_gc: bool,
    /// Do not load `<dir>/<name>/*.conf` plugin files (1.1.0).
    #[serde(
        rename = "loadOnlyInlinedPlugins",
        default,
        deserialize_with = "lenient_bool"
    )]
    pub load_only_inlined_plugins: bool,
    /// The plugin objects, in ADD order; kept as JSON so the runtime can
    /// inject keys without losing plugin-specific ones.
    #[serde(default)]
    pub plugins: Vec<Map<String, Value>>,
    /// Other keys (kept for round trips).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NetConfList {
    /// The version to run this list with: the newest supported entry of
    /// `cniVersions` when present, else `cniVersion` (absent = 0.1.0).
    pub fn effective_version(&self) -> Result<Version, Error> {
        if !self.cni_versions.is_empty() {
            return Version::pick_from(self.cni_versions.iter().map(String::as_str)).ok_or_else(
                || {
                    Error::incompatible_version(format!(
                        "cniVersions {:?}: none is supported (we speak 0.1.0 to 1.1.0)",
                        self.cni_versions
                    ))
                },
            );
        }
        if self.cni_version.is_empty() {
            return Ok(Version::DEFAULT);
        }
        self.cni_version
            .parse()
            .map_err(|e| Error::incompatible_version(format!("cniVersion: {e}")))
    }
}

/// Parse "ip" or "ip/prefix" as used in `args.cni.ips`, `runtimeConfig.ips`
/// and CNI_ARGS `IP=`, returning the address part.
pub fn parse_ip_maybe_prefix(s: &str) -> Option<IpAddr> {
    let addr = s.split_once('/').map_or(s, |(a, _)| a);
    addr.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_plugin_keys_in_extra() {
        let c: NetConf = decode(
            "config",
            br#"{"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"br0","isGateway":true,
                 "ipam":{"type":"host-local","subnet":"10.0.0.0/24"},"ipMasq":"true"}"#,
        )
        .unwrap();
        assert_eq!(c.extra["bridge"], "br0");
        assert_eq!(c.ipam_type(), Some("host-local"));
        assert_eq!(c.ipam.as_ref().unwrap().extra["subnet"], "10.0.0.0/24");
        assert_eq!(c.ip_masq, Some(true));
        assert_eq!(c.version().unwrap(), Version::V1_0_0);
    }

    #[test]
    fn missing_version_is_010_and_unknown_is_code_1() {
        let c: NetConf = decode("config", br#"{"name":"n"}"#).unwrap();
        assert_eq!(c.version().unwrap(), Version::V0_1_0);
        let c: NetConf = decode("config", br#"{"name":"n","cniVersion":"3.0.0"}"#).unwrap();
        assert_eq!(c.version().unwrap_err().code, 1);
    }

    #[test]
    fn wrong_type_is_code_6_with_path() {
        let e = decode::<NetConf>("config", br#"{"name":"n","ipam":{"type":5}}"#).unwrap_err();
        assert_eq!(e.code, 6);
        assert!(e.msg.contains("ipam.type"), "{}", e.msg);
        let e = decode::<NetConf>("config", br#"{"name":"n","#).unwrap_err();
        assert_eq!(e.code, 6);
        let e = decode::<NetConf>("config", br#"{"name":"n"} {"#).unwrap_err();
        assert_eq!(e.code, 6);
    }

    #[test]
    fn lenient_bools() {
        let l: NetConfList = decode(
            "list",
            br#"{"name":"n","cniVersion":"1.1.0","disableCheck":"true","disableGC":false,"plugins":[]}"#,
        )
        .unwrap();
        assert!(l.disable_check);
        assert!(!l.disable_gc);
        assert!(decode::<NetConfList>("list", br#"{"disableCheck":"yes"}"#).is_err());
    }

    #[test]
    fn cni_versions_picks_newest_supported() {
        let l: NetConfList = decode(
            "list",
            br#"{"name":"n","cniVersion":"0.4.0","cniVersions":["1.0.0","1.1.0","2.0.0"]}"#,
        )
        .unwrap();
        assert_eq!(l.effective_version().unwrap(), Version::V1_1_0);
        let l: NetConfList = decode("list", br#"{"cniVersions":["9.0.0"]}"#).unwrap();
        assert_eq!(l.effective_version().unwrap_err().code, 1);
    }

    #[test]
    fn prev_result_in_config_version() {
        let c: NetConf = serde_json::from_value(json!({
            "cniVersion": "0.4.0", "name": "n",
            "prevResult": {"ips": [{"version": "4", "address": "10.0.0.2/24"}]}
        }))
        .unwrap();
        let r = c.prev_result().unwrap().unwrap();
        assert_eq!(r.ips[0].address.to_string(), "10.0.0.2/24");
    }

    #[test]
    fn args_cni_ips_and_mac() {
        let c: NetConf = serde_json::from_value(json!({
            "name": "n", "args": {"cni": {"ips": ["10.0.0.9"], "mac": "02:00:00:00:00:01", "labels": []}}
        }))
        .unwrap();
        let a = c.args_cni().unwrap();
        assert_eq!(a.ips, ["10.0.0.9"]);
        assert_eq!(a.mac.as_deref(), Some("02:00:00:00:00:01"));
    }

    #[test]
    fn valid_attachments_either_key() {
        for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
            let c: NetConf = serde_json::from_value(json!({
                "name": "n", key: [{"containerID": "c1", "ifname": "eth0"}]
            }))
            .unwrap();
            let a = c.valid_attachments().unwrap().unwrap();
            assert_eq!(a[0].container_id, "c1");
        }
        let c: NetConf = serde_json::from_value(json!({"name": "n"})).unwrap();
        assert!(c.valid_attachments().unwrap().is_none());
    }

    #[test]
    fn go_field_prefers_exact_then_any_case() {
        let o = json!({"IngressRate": 1, "ingressBurst": 2, "INGRESSBURST": 3});
        let o = o.as_object().unwrap();
        assert_eq!(go_field(o, "ingressRate"), Some(&json!(1)));
        assert_eq!(go_field(o, "ingressBurst"), Some(&json!(2)));
        assert_eq!(go_field(o, "egressRate"), None);
    }

    #[test]
    fn names() {
        assert!(is_valid_name("abc-1.2_x"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(".hidden"));
        assert!(!is_valid_name("a/b"));
        assert!(!is_valid_name("a b"));
        assert!(validate_network_name("../etc").is_err());
        assert_eq!(validate_network_name("").unwrap_err().code, 7);
    }

    #[test]
    fn interface_names() {
        assert!(interface_name_problem("eth0").is_none());
        assert!(interface_name_problem("0123456789abcde").is_none());
        assert!(interface_name_problem("0123456789abcdef").is_some());
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a\tb"] {
            assert!(interface_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn ip_with_or_without_prefix() {
        assert_eq!(
            parse_ip_maybe_prefix("10.0.0.5/24").unwrap().to_string(),
            "10.0.0.5"
        );
        assert_eq!(
            parse_ip_maybe_prefix("fd00::5").unwrap().to_string(),
            "fd00::5"
        );
        assert!(parse_ip_maybe_prefix("x").is_none());
    }
}
