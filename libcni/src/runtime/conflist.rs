//! A network configuration list as the runtime runs it (SPEC.md "Section 1:
//! Network configuration format"; cni:libcni/conf.go).
//!
//! [`ConfList`] keeps each plugin object as raw JSON so that the runtime can
//! inject `name`, `cniVersion`, `prevResult` and `runtimeConfig` without
//! losing plugin-specific keys, and keeps the file's bytes because the
//! result cache stores them (libcni caches the list bytes, base64-encoded).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::spec::conf::{NetConfList, decode};
use crate::spec::{Error, Version};

/// One plugin of a list: its `type`, the capabilities it declares, and the
/// whole object as written.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConf {
    /// The plugin binary name (`type`).
    pub plugin_type: String,
    /// The capabilities declared `true` in `capabilities`: only these keys
    /// of the runtime's capability arguments reach the plugin
    /// (CONVENTIONS.md "Dynamic Plugin specific fields").
    pub capabilities: BTreeSet<String>,
    /// The plugin object exactly as configured.
    pub raw: Map<String, Value>,
    /// The file it came from when loaded from `<dir>/<network>/*.conf`.
    pub source: Option<PathBuf>,
}

impl PluginConf {
    /// Read a plugin object; `what` names it in errors (`plugins[1]`).
    pub fn from_value(what: &str, v: Value) -> Result<PluginConf, Error> {
        let Value::Object(raw) = v else {
            return Err(Error::decoding(format!(
                "{what}: a plugin must be a JSON object"
            )));
        };
        let plugin_type = match raw.get("type") {
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(Error::invalid_config(format!(
                    "{what}: missing \"type\": set it to the plugin binary name"
                )));
            }
            Some(other) => {
                return Err(Error::decoding(format!(
                    "{what}: \"type\" must be a string, got {other}"
                )));
            }
        };
        let mut capabilities = BTreeSet::new();
        match raw.get("capabilities") {
            None | Some(Value::Null) => {}
            Some(Value::Object(caps)) => {
                for (k, v) in caps {
                    match v {
                        Value::Bool(true) => {
                            capabilities.insert(k.clone());
                        }
                        Value::Bool(false) => {}
                        other => {
                            return Err(Error::decoding(format!(
                                "{what}: capabilities.{k} must be true or false, got {other}"
                            )));
                        }
                    }
                }
            }
            Some(other) => {
                return Err(Error::decoding(format!(
                    "{what}: \"capabilities\" must be an object of booleans, got {other}"
                )));
            }
        }
        Ok(PluginConf {
            plugin_type,
            capabilities,
            raw,
            source: None,
        })
    }

    /// Read a plugin object from JSON bytes.
    pub fn from_bytes(what: &str, bytes: &[u8]) -> Result<PluginConf, Error> {
        let v: Value = decode(what, bytes)?;
        Self::from_value(what, v)
    }

    /// `type="bridge"`, plus the file when it came from one: how errors
    /// name a plugin.
    pub fn description(&self) -> String {
        match &self.source {
            Some(p) => format!("type={:?} ({})", self.plugin_type, p.display()),
            None => format!("type={:?}", self.plugin_type),
        }
    }
}

/// A network: its name, the spec version to run it with, its switches and
/// its plugins in ADD order.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfList {
    /// Network name (injected into every plugin's config).
    pub name: String,
    /// The version every plugin is called with: `cniVersion`, or the newest
    /// supported entry of `cniVersions` (1.1.0).
    pub cni_version: Version,
    /// Skip CHECK (0.4.0).
    pub disable_check: bool,
    /// Skip GC (1.1.0).
    pub disable_gc: bool,
    /// Do not append `<dir>/<name>/*.conf` plugins (1.1.0).
    pub load_only_inlined_plugins: bool,
    /// Plugins in ADD order.
    pub plugins: Vec<PluginConf>,
    /// The bytes the list was read from: stored in the result cache.
    pub bytes: Vec<u8>,
    /// The file the list was loaded from, if any.
    pub source: Option<PathBuf>,
}

/// The version of a list: the newest version we support among `cniVersions`
/// and `cniVersion` (libcni sorts both together) when `cniVersions` is
/// present, else `cniVersion` (absent means 0.1.0).
fn list_version(parsed: &NetConfList) -> Result<Version, Error> {
    if parsed.cni_versions.is_empty() {
        return parsed.effective_version();
    }
    let candidates = parsed
        .cni_versions
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(parsed.cni_version.as_str()).filter(|s| !s.is_empty()));
    Version::pick_from(candidates).ok_or_else(|| {
        Error::incompatible_version(format!(
            "cniVersions {:?}: none is a version we support (0.1.0 to 1.1.0)",
            parsed.cni_versions
        ))
    })
}

impl ConfList {
    /// Parse a conf list from bytes, without looking at any directory. A
    /// list without `plugins` is accepted here (its plugins may come from
    /// `<dir>/<name>/*.conf`, see [`ConfList::from_file`]) unless
    /// `loadOnlyInlinedPlugins` is set; an empty `plugins` array is not.
    pub fn from_bytes(bytes: &[u8]) -> Result<ConfList, Error> {
        let value: Value = decode("configuration list", bytes)?;
        let Value::Object(obj) = &value else {
            return Err(Error::decoding(
                "configuration list: expected a JSON object",
            ));
        };
        match obj.get("name") {
            Some(Value::String(_)) => {}
            None => {
                return Err(Error::invalid_config(
                    "configuration list: no \"name\": set the network name",
                ));
            }
            Some(other) => {
                return Err(Error::decoding(format!(
                    "configuration list: \"name\" must be a string, got {other}"
                )));
            }
        }
        let plugins_value = obj.get("plugins").cloned();
        let parsed: NetConfList =
            crate::spec::result::from_value_path("configuration list", &value)?;
        let cni_version = list_version(&parsed)?;
        let mut plugins = Vec::new();
        match plugins_value {
            None if parsed.load_only_inlined_plugins => {
                return Err(Error::invalid_config(
                    "configuration list: loadOnlyInlinedPlugins is true but there is no \"plugins\" array",
                ));
            }
            None => {}
            Some(Value::Array(items)) => {
                if items.is_empty() {
                    return Err(Error::invalid_config(
                        "configuration list: \"plugins\" is empty: list at least one plugin",
                    ));
                }
                for (i, item) in items.into_iter().enumerate() {
                    plugins.push(PluginConf::from_value(&format!("plugins[{i}]"), item)?);
                }
            }
            Some(other) => {
                return Err(Error::decoding(format!(
                    "configuration list: \"plugins\" must be an array, got {other}"
                )));
            }
        }
        Ok(ConfList {
            name: parsed.name,
            cni_version,
            disable_check: parsed.disable_check,
            disable_gc: parsed.disable_gc,
            load_only_inlined_plugins: parsed.load_only_inlined_plugins,
            plugins,
            bytes: bytes.to_vec(),
            source: None,
        })
    }

    /// Load a `.conflist` file: parse it, then (unless
    /// `loadOnlyInlinedPlugins`) append the plugin objects of
    /// `<dir>/<name>/*.conf` in file-name order. A list that ends up with
    /// no plugin is an error.
    pub fn from_file(path: &Path) -> Result<ConfList, Error> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::io(format!("reading {}: {e}", path.display())))?;
        let mut list = Self::from_bytes(&bytes)?;
        list.source = Some(path.to_path_buf());
        if !list.load_only_inlined_plugins && is_safe_dir_name(&list.name) {
            let dir = path.parent().unwrap_or(Path::new(".")).join(&list.name);
            for file in super::load::conf_files(&dir, &["conf"])? {
                let bytes = std::fs::read(&file)
                    .map_err(|e| Error::io(format!("reading {}: {e}", file.display())))?;
                let mut p = PluginConf::from_bytes(&file.display().to_string(), &bytes)?;
                p.source = Some(file);
                list.plugins.push(p);
            }
        }
        if list.plugins.is_empty() {
            return Err(Error::invalid_config(format!(
                "network {:?}: no plugin configs found (no \"plugins\" in the list and no <dir>/{}/*.conf files)",
                list.name, list.name
            )));
        }
        Ok(list)
    }

    /// Upgrade a single-plugin config (the deprecated `.conf`/`.json`
    /// format) to a list holding just that plugin, with the list bytes
    /// libcni would build for it (`{"cniVersion","name","plugins":[conf]}`).
    pub fn from_plugin_conf_bytes(bytes: &[u8]) -> Result<ConfList, Error> {
        let v: Value = decode("network configuration", bytes)?;
        let Value::Object(obj) = &v else {
            return Err(Error::decoding(
                "network configuration: expected a JSON object",
            ));
        };
        let name = match obj.get("name") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => {
                return Err(Error::decoding(format!(
                    "network configuration: \"name\" must be a string, got {other}"
                )));
            }
        };
        let version = match obj.get("cniVersion") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => {
                return Err(Error::decoding(format!(
                    "network configuration: \"cniVersion\" must be a string, got {other}"
                )));
            }
        };
        // Validate the plugin object before building the list around it.
        PluginConf::from_value("network configuration", v.clone())?;
        let mut list = Map::new();
        list.insert("cniVersion".into(), Value::String(version));
        list.insert("name".into(), Value::String(name));
        list.insert("plugins".into(), Value::Array(vec![v]));
        let list_bytes = serde_json::to_vec(&Value::Object(list))
            .map_err(|e| Error::internal(format!("encoding the upgraded list: {e}")))?;
        Self::from_bytes(&list_bytes)
    }

    /// The union of the capabilities the plugins declare, sorted.
    pub fn capabilities(&self) -> Vec<String> {
        let all: BTreeSet<&String> = self.plugins.iter().flat_map(|p| &p.capabilities).collect();
        all.into_iter().cloned().collect()
    }

    /// Where the list came from, for messages.
    pub fn origin(&self) -> String {
        self.source
            .as_ref()
            .map_or_else(|| "<bytes>".to_string(), |p| p.display().to_string())
    }
}

/// A network name that can be used as a directory name below the conf dir
/// without escaping it (no separator, not "." or "..").
fn is_safe_dir_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}
