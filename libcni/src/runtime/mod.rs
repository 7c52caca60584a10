//! The runtime side of CNI: load a network from a configuration directory
//! and run its plugins the way a container runtime does (SPEC.md "Section
//! 4: Plugin Delegation" and "Section 5: Result Types"; the reference is
//! cni:libcni).
//!
//! Interoperable with libcni both ways: the same directory search, the same
//! per-plugin config (`name` and `cniVersion` injected, `runtimeConfig`
//! filtered to the declared capabilities, `prevResult` threaded), the same
//! environment, and the same result cache on disk, so a runtime using this
//! crate and one using libcni (or the two cnitools) can take over each
//! other's containers.
//!
//! Where we differ from libcni, on purpose:
//! - **A failed ADD leaves nothing behind (default).** When a plugin fails,
//!   DEL is run on it and on every plugin before it, in reverse order,
//!   before the error is returned. libcni returns the error and leaves the
//!   half-made attachment for the runtime to clean up. Turn this off with
//!   [`CniConfig::with_rollback_on_failed_add`].
//! - **DEL and GC keep going** past a failing plugin and report every
//!   failure at the end (libcni stops at the first). The cache entry is
//!   removed only when every DEL succeeded, so a retry still has the
//!   cached result.
//! - `capabilities` is stripped from the config a plugin receives (the spec
//!   says the runtime consumes it).
//! - A configuration file that does not parse is skipped with a warning
//!   instead of failing the whole directory search.
//! - Cache files are written atomically (temp file + rename).
//!
//! ```no_run
//! use libcni::runtime::{CniConfig, RuntimeConf, load_conf_list};
//!
//! let loaded = load_conf_list("/etc/cni/net.d".as_ref(), "mynet")?;
//! let cni = CniConfig::new(["/opt/cni/bin"]).with_cache_dir("/var/lib/cni");
//! let rt = RuntimeConf::new("c0ffee", "/run/netns/pod1", "eth0")
//!     .with_arg("IgnoreUnknown", "1")
//!     .with_capability("portMappings", serde_json::json!([
//!         {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}
//!     ]));
//! let result = cni.add_network_list(&loaded.list, &rt)?;
//! println!("pod address: {}", result.ips[0].address);
//! cni.check_network_list(&loaded.list, &rt)?;
//! cni.del_network_list(&loaded.list, &rt)?;
//! # Ok::<(), libcni::Error>(())
//! ```

mod cache;
mod conflist;
mod exec;
mod gojson;
mod load;
mod maint;
mod ops;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

pub use cache::{
    CACHE_KIND_V1, CacheEntry, CacheFile, CachedAttachment, DEFAULT_CACHE_DIR, cache_file_path,
};
pub use conflist::{ConfList, PluginConf};
pub use exec::{CallEnv, DefaultExec, Exec, PluginInfo, join_path, version_info};
pub use gojson::{result_to_go_pretty, result_value_to_go_pretty};
pub use load::{
    LoadedConfList, NetworkEntry, NetworkListing, SkippedFile, conf_files, list_networks,
    load_conf_list,
};
pub use maint::PluginVersionReport;

/// The per-attachment arguments of one call (cni:libcni `RuntimeConf`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeConf {
    /// `CNI_CONTAINERID`: `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`.
    pub container_id: String,
    /// `CNI_NETNS`: the netns path (may be empty for DEL).
    pub netns: String,
    /// `CNI_IFNAME`: the interface name inside the container.
    pub ifname: String,
    /// `CNI_ARGS` pairs, in order.
    pub args: Vec<(String, String)>,
    /// Capability arguments: each key reaches, as `runtimeConfig.<key>`,
    /// only the plugins that declare that capability.
    pub capability_args: Map<String, Value>,
}

impl RuntimeConf {
    /// Arguments for container `container_id`, netns path `netns`,
    /// interface `ifname`.
    pub fn new(
        container_id: impl Into<String>,
        netns: impl Into<String>,
        ifname: impl Into<String>,
    ) -> RuntimeConf {
        RuntimeConf {
            container_id: container_id.into(),
            netns: netns.into(),
            ifname: ifname.into(),
            ..RuntimeConf::default()
        }
    }

    /// Add one `CNI_ARGS` pair.
    pub fn with_arg(mut self, key: impl Into<String>, value: impl Into<String>) -> RuntimeConf {
        self.args.push((key.into(), value.into()));
        self
    }

    /// Set one capability argument (e.g. `portMappings`).
    pub fn with_capability(mut self, key: impl Into<String>, value: Value) -> RuntimeConf {
        self.capability_args.insert(key.into(), value);
        self
    }
}

/// The runtime: where plugins and the cache live, and how plugins are run
/// (cni:libcni `CNIConfig`). Cheap to clone; safe to share between
/// threads (operations on the same attachment must still not overlap, and
/// GC must not overlap ADD or DEL: SPEC.md "GC").
#[derive(Debug, Clone)]
pub struct CniConfig {
    plugin_dirs: Vec<PathBuf>,
    cache_dir: PathBuf,
    exec: Arc<dyn Exec>,
    rollback: bool,
}

impl CniConfig {
    /// A runtime looking for plugins in `plugin_dirs` (in order), caching in
    /// [`DEFAULT_CACHE_DIR`], running plugins with [`DefaultExec`], and
    /// rolling back failed ADDs.
    ///
    /// ```
    /// use libcni::runtime::CniConfig;
    /// let cni = CniConfig::new(["/opt/cni/bin", "/usr/lib/cni"]).with_cache_dir("/tmp/cni-cache");
    /// assert_eq!(cni.cache_dir(), std::path::Path::new("/tmp/cni-cache"));
    /// ```
    pub fn new<I, P>(plugin_dirs: I) -> CniConfig
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        CniConfig {
            plugin_dirs: plugin_dirs.into_iter().map(Into::into).collect(),
            cache_dir: PathBuf::from(DEFAULT_CACHE_DIR),
            exec: Arc::new(DefaultExec),
            rollback: true,
        }
    }

    /// Use `dir` as the cache directory (results go to `<dir>/results`).
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> CniConfig {
        self.cache_dir = dir.into();
        self
    }

    /// Run plugins through `exec` instead of [`DefaultExec`].
    pub fn with_exec(mut self, exec: impl Exec + 'static) -> CniConfig {
        self.exec = Arc::new(exec);
        self
    }

    /// Whether a failed ADD runs DEL on the plugins it ran, in reverse
    /// (default `true`). With `false`, a failed ADD leaves whatever the
    /// plugins made, as libcni does, and the caller must DEL.
    pub fn with_rollback_on_failed_add(mut self, rollback: bool) -> CniConfig {
        self.rollback = rollback;
        self
    }

    /// The plugin directories.
    pub fn plugin_dirs(&self) -> &[PathBuf] {
        &self.plugin_dirs
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The cache file of an attachment of `list`.
    pub fn cache_file(&self, list: &ConfList, rt: &RuntimeConf) -> PathBuf {
        cache_file_path(&self.cache_dir, &list.name, &rt.container_id, &rt.ifname)
    }

    /// Every attachment in the cache, or only `container_id`'s when it is
    /// not empty (cni:libcni `GetCachedAttachments`).
    pub fn get_cached_attachments(
        &self,
        container_id: &str,
    ) -> Result<Vec<CachedAttachment>, crate::Error> {
        cache::list_attachments(&self.cache_dir, container_id)
    }
}

/// Several errors as one: the first error's code, every message.
pub(crate) fn join_errors(mut errs: Vec<crate::Error>) -> Option<crate::Error> {
    match errs.len() {
        0 => None,
        1 => errs.pop(),
        n => {
            let code = errs[0].code;
            let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
            Some(crate::Error::new(
                code,
                format!("{n} errors: {}", msgs.join("; ")),
            ))
        }
    }
}

#[cfg(test)]
mod tests;
