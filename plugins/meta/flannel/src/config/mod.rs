//! The flannel plugin's configuration: the keys of the reference's
//! `NetConf` (flannel-io/cni-plugin `flannel.go`) with its defaults.
//!
//! `delegate` and `ipam` are kept as JSON objects: whatever the user puts
//! there reaches the delegate untouched, except for the keys the plugin
//! owns (see [`crate::delegate`]).

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};

use libcni::Error;
use libcni::skel::CmdArgs;

/// Where flanneld writes the node's lease unless `subnetFile` says
/// otherwise.
pub const DEFAULT_SUBNET_FILE: &str = "/run/flannel/subnet.env";
/// Where delegate configs are kept unless `dataDir` says otherwise (the
/// reference's default, so either implementation finds the other's).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/flannel";

/// The keys as they arrive.
#[derive(Debug, Default, Deserialize)]
struct Raw {
    #[serde(default)]
    name: String,
    #[serde(rename = "cniVersion", default)]
    cni_version: String,
    #[serde(rename = "subnetFile", default)]
    subnet_file: Option<String>,
    #[serde(rename = "dataDir", default)]
    data_dir: Option<String>,
    #[serde(default)]
    delegate: Option<Map<String, Value>>,
    #[serde(default)]
    ipam: Option<Map<String, Value>>,
    #[serde(rename = "runtimeConfig", default)]
    runtime_config: Option<Map<String, Value>>,
}

/// The flannel plugin's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Conf {
    /// The network name: the delegate's `name`.
    pub name: String,
    /// The conf's `cniVersion` (may be empty): the delegate's, when set.
    pub cni_version: String,
    /// `subnetFile`: flanneld's lease for this node.
    pub subnet_file: PathBuf,
    /// `dataDir`: where the delegate config of each attachment is kept.
    pub data_dir: PathBuf,
    /// `delegate`: the base of the delegate config.
    pub delegate: Map<String, Value>,
    /// `ipam`: the base of the delegate's `ipam`.
    pub ipam: Option<Map<String, Value>>,
    /// `runtimeConfig`: passed on to the delegate as a whole.
    pub runtime_config: Option<Map<String, Value>>,
}

/// A path key: empty or absent means the default, as in the reference. A
/// relative path would depend on the runtime's working directory, so it is
/// refused (the reference takes it as it is).
fn absolute(key: &str, value: Option<String>, default: &str) -> Result<PathBuf, Error> {
    let p = PathBuf::from(
        value
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| default.into()),
    );
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(Error::invalid_config(format!(
            "{key:?} must be an absolute path, not {:?}: a relative one depends on the runtime's working directory",
            p.display().to_string()
        )))
    }
}

/// Parse and validate the config of a call. Bad types are code 6 naming
/// the key; a `delegate` that sets what the plugin owns is code 7.
pub fn parse(args: &CmdArgs) -> Result<Conf, Error> {
    let raw: Raw = args.decode_conf()?;
    let delegate = raw.delegate.unwrap_or_default();
    for (key, fix) in [
        (
            "name",
            "the delegate is named after the network: remove \"name\" from \"delegate\"",
        ),
        (
            "ipam",
            "move \"ipam\" from \"delegate\" to the top level of the flannel config",
        ),
    ] {
        if delegate.contains_key(key) {
            return Err(Error::invalid_config(format!(
                "\"delegate\" must not set {key:?}: {fix}"
            )));
        }
    }
    if let Some(t) = delegate.get("type")
        && !t.is_string()
    {
        return Err(Error::invalid_config(format!(
            "\"delegate.type\" must be a plugin name (a string), not {t}"
        )));
    }
    Ok(Conf {
        name: raw.name,
        cni_version: raw.cni_version,
        subnet_file: absolute("subnetFile", raw.subnet_file, DEFAULT_SUBNET_FILE)?,
        data_dir: absolute("dataDir", raw.data_dir, DEFAULT_DATA_DIR)?,
        delegate,
        ipam: raw.ipam,
        runtime_config: raw.runtime_config,
    })
}
