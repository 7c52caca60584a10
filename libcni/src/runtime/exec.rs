//! Executing plugins for the runtime (SPEC.md "Section 3: Execution
//! Protocol"; cni:pkg/invoke): the environment of a call, the process
//! itself behind the [`Exec`] trait (so that a runtime can wrap it and
//! tests can fake it), and the VERSION reply with its legacy forms.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::invoke;
use crate::skel::Command;
use crate::spec::{Error, Version};

/// How the runtime finds and runs a plugin binary. [`DefaultExec`] runs the
/// process; a runtime may substitute its own (to add logging, a timeout or
/// a sandbox) and tests substitute a fake.
pub trait Exec: Send + Sync + fmt::Debug {
    /// Locate plugin `plugin_type` in `dirs` (first regular file wins; a
    /// type containing a path separator is refused).
    fn find_in_path(&self, plugin_type: &str, dirs: &[PathBuf]) -> Result<PathBuf, Error> {
        invoke::find_in_path(plugin_type, dirs)
    }

    /// Run `binary` with the CNI variables `env` added to the inherited
    /// environment and `stdin` as input. Returns stdout on exit status 0,
    /// else the plugin's error (from its stdout JSON, else its stderr).
    fn exec_plugin(
        &self,
        binary: &Path,
        env: &[(String, String)],
        stdin: &[u8],
    ) -> Result<Vec<u8>, Error>;
}

/// Runs plugins as child processes: the inherited environment plus the CNI
/// variables, retries while the binary is being written (ETXTBSY), forwards
/// the plugin's stderr to ours.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultExec;

impl Exec for DefaultExec {
    fn exec_plugin(
        &self,
        binary: &Path,
        env: &[(String, String)],
        stdin: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = invoke::run(binary, &pairs, stdin)?;
        if out.success {
            Ok(out.stdout)
        } else {
            Err(invoke::failure_to_error(binary, &out))
        }
    }
}

/// The CNI variables of one call. Every variable is set, empty when it does
/// not apply, as libcni does, so that nothing leaks in from the runtime's
/// own environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEnv {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS`.
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`, as pairs.
    pub args: Vec<(String, String)>,
    /// `CNI_PATH`, already joined with ':'.
    pub path: String,
}

impl CallEnv {
    /// The variables as `(name, value)` pairs.
    pub fn to_env(&self) -> Vec<(String, String)> {
        let args = self
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        vec![
            ("CNI_COMMAND".into(), self.command.as_str().into()),
            ("CNI_CONTAINERID".into(), self.container_id.clone()),
            ("CNI_NETNS".into(), self.netns.clone()),
            ("CNI_ARGS".into(), args),
            ("CNI_IFNAME".into(), self.ifname.clone()),
            ("CNI_PATH".into(), self.path.clone()),
        ]
    }
}

/// Join plugin directories into a `CNI_PATH` value.
pub fn join_path(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// What a plugin's VERSION reply says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The version the reply is written in.
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// The spec versions the plugin speaks.
    #[serde(rename = "supportedVersions", default)]
    pub supported_versions: Vec<String>,
}

/// The message of the error a plugin from before VERSION existed (spec
/// 0.1.0) prints for `CNI_COMMAND=VERSION`.
const UNKNOWN_VERSION_COMMAND: &str = "unknown CNI_COMMAND: VERSION";

impl PluginInfo {
    /// Whether the plugin speaks `v`.
    pub fn supports(&self, v: Version) -> bool {
        self.supported_versions.iter().any(|s| s == v.as_str())
    }

    /// Decode a VERSION reply (cni:pkg/version/plugin.go): `cniVersion` is
    /// required; a reply without `supportedVersions` is read as
    /// [0.1.0, 0.2.0] when it says 0.2.0 (the first version with VERSION
    /// had no such list) and is an error otherwise.
    pub fn decode(bytes: &[u8]) -> Result<PluginInfo, Error> {
        let info: PluginInfo = serde_json::from_slice(bytes).map_err(|e| {
            Error::decoding(format!(
                "decoding version info {:?}: {e}",
                String::from_utf8_lossy(bytes).trim()
            ))
        })?;
        if info.cni_version.is_empty() {
            return Err(Error::decoding(
                "decoding version info: missing field cniVersion",
            ));
        }
        if info.supported_versions.is_empty() {
            if info.cni_version == "0.2.0" {
                return Ok(PluginInfo {
                    cni_version: "0.2.0".into(),
                    supported_versions: vec!["0.1.0".into(), "0.2.0".into()],
                });
            }
            return Err(Error::decoding(
                "decoding version info: missing field supportedVersions",
            ));
        }
        Ok(info)
    }

    /// What a plugin that predates VERSION supports.
    pub fn legacy_0_1_0() -> PluginInfo {
        PluginInfo {
            cni_version: Version::LATEST.as_str().into(),
            supported_versions: vec!["0.1.0".into()],
        }
    }
}

/// Ask `binary` for its VERSION info with the environment libcni uses
/// (placeholder netns, ifname and path; stdin names our newest version).
/// A plugin that answers "unknown CNI_COMMAND: VERSION" predates the verb
/// and speaks 0.1.0 only.
pub fn version_info(exec: &dyn Exec, binary: &Path) -> Result<PluginInfo, Error> {
    let env = CallEnv {
        command: Command::Version,
        container_id: String::new(),
        netns: "dummy".into(),
        ifname: "dummy".into(),
        args: vec![],
        path: "dummy".into(),
    };
    let stdin = format!("{{\"cniVersion\":\"{}\"}}", Version::LATEST);
    match exec.exec_plugin(binary, &env.to_env(), stdin.as_bytes()) {
        Ok(out) => PluginInfo::decode(&out),
        Err(e) if e.msg.contains(UNKNOWN_VERSION_COMMAND) => Ok(PluginInfo::legacy_0_1_0()),
        Err(e) => Err(e),
    }
}
