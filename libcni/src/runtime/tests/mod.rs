//! Unit tests of the runtime side, with a fake [`Exec`] that records every
//! call and answers from a script, so that what the runtime sends can be
//! asserted exactly without running processes or needing root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cache;
mod load;
mod maint;
mod ops;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{CniConfig, ConfList, Exec};
use crate::spec::Error;

/// One recorded plugin execution.
#[derive(Debug, Clone)]
pub(super) struct Call {
    pub plugin: String,
    pub env: HashMap<String, String>,
    pub stdin: Value,
}

impl Call {
    pub fn command(&self) -> &str {
        &self.env["CNI_COMMAND"]
    }
}

/// Scripted replies: (plugin type, CNI_COMMAND) -> stdout or error.
type Replies = HashMap<(String, String), Result<String, Error>>;

/// Answers keyed by (plugin type, CNI_COMMAND); unscripted calls succeed
/// with empty stdout.
#[derive(Debug, Clone, Default)]
pub(super) struct FakeExec {
    calls: Arc<Mutex<Vec<Call>>>,
    replies: Arc<Mutex<Replies>>,
}

impl FakeExec {
    pub fn reply(&self, plugin: &str, command: &str, out: Result<Value, Error>) -> &Self {
        self.replies
            .lock()
            .unwrap()
            .insert((plugin.into(), command.into()), out.map(|v| v.to_string()));
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// (plugin, command) of every call, in order.
    pub fn trace(&self) -> Vec<(String, String)> {
        self.calls()
            .iter()
            .map(|c| (c.plugin.clone(), c.command().to_string()))
            .collect()
    }

    pub fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }
}

impl Exec for FakeExec {
    fn find_in_path(&self, plugin_type: &str, dirs: &[PathBuf]) -> Result<PathBuf, Error> {
        if plugin_type == "missing" || plugin_type.contains('/') {
            return Err(Error::invalid_config(format!(
                "failed to find plugin {plugin_type:?}"
            )));
        }
        Ok(dirs.first().cloned().unwrap_or_default().join(plugin_type))
    }

    fn exec_plugin(
        &self,
        binary: &Path,
        env: &[(String, String)],
        stdin: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let plugin = binary.file_name().unwrap().to_string_lossy().into_owned();
        let env: HashMap<String, String> = env.iter().cloned().collect();
        let command = env["CNI_COMMAND"].clone();
        self.calls.lock().unwrap().push(Call {
            plugin: plugin.clone(),
            env,
            stdin: serde_json::from_slice(stdin).unwrap(),
        });
        match self.replies.lock().unwrap().get(&(plugin, command)) {
            Some(Ok(s)) => Ok(s.clone().into_bytes()),
            Some(Err(e)) => Err(e.clone()),
            None => Ok(vec![]),
        }
    }
}

/// A runtime over `fake` with its cache in `dir`.
pub(super) fn runtime(fake: &FakeExec, dir: &Path) -> CniConfig {
    CniConfig::new(["/opt/cni/bin", "/usr/lib/cni"])
        .with_cache_dir(dir.join("cache"))
        .with_exec(fake.clone())
}

pub(super) fn list(v: Value) -> ConfList {
    ConfList::from_bytes(v.to_string().as_bytes()).unwrap()
}

/// A 1.0.0-style result with one address.
pub(super) fn result(ifname: &str, addr: &str) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": ifname, "sandbox": "/run/netns/p"}],
        "ips": [{"address": addr, "interface": 0}]
    })
}
