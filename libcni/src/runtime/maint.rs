//! Operations on a whole network rather than one attachment: GC and STATUS
//! (spec 1.1.0), validation and VERSION queries (cni:libcni/api.go).

use serde_json::Value;

use super::exec::{CallEnv, PluginInfo, join_path, version_info};
use super::ops::plugin_stdin;
use super::{CniConfig, ConfList, RuntimeConf, join_errors};
use crate::skel::Command;
use crate::spec::{Attachment, Error};

/// The VERSION answer of one plugin of a list.
#[derive(Debug, Clone)]
pub struct PluginVersionReport {
    /// Plugin type.
    pub plugin_type: String,
    /// Its VERSION info, or why it could not be had.
    pub info: Result<PluginInfo, Error>,
}

impl CniConfig {
    fn network_env(&self, command: Command) -> Vec<(String, String)> {
        CallEnv {
            command,
            container_id: String::new(),
            netns: String::new(),
            ifname: String::new(),
            args: vec![],
            path: join_path(&self.plugin_dirs),
        }
        .to_env()
    }

    /// GC `list` (SPEC.md "GC"; cni:libcni `GCNetworkList`):
    ///
    /// 1. every attachment of this network in the cache that is not in
    ///    `valid` is deleted with [`CniConfig::del_network_list`], using
    ///    the cached netns, `CNI_ARGS` and capability arguments but the
    ///    current list. `valid = None` means no attachment is valid, as
    ///    upstream cnitool's `gc` does: every cached attachment is deleted.
    /// 2. for lists of version 1.1.0 and later, GC is sent to every plugin,
    ///    with `cni.dev/valid-attachments` (and the older key
    ///    `cni.dev/attachments`, cni#1101) when `valid` is given.
    ///
    /// A no-op when the list sets `disableGC`. Every failure is collected
    /// and reported at the end.
    pub fn gc_network_list(
        &self,
        list: &ConfList,
        valid: Option<&[Attachment]>,
    ) -> Result<(), Error> {
        if list.disable_gc {
            return Ok(());
        }
        let mut errs = Vec::new();
        match self.get_cached_attachments("") {
            Err(e) => errs.push(e.context("listing cached attachments")),
            Ok(cached) => {
                for a in cached.into_iter().filter(|a| a.network == list.name) {
                    let keep = valid.is_some_and(|v| {
                        v.iter()
                            .any(|k| k.container_id == a.container_id && k.ifname == a.ifname)
                    });
                    if keep {
                        continue;
                    }
                    let rt = RuntimeConf {
                        container_id: a.container_id,
                        netns: a.netns,
                        ifname: a.ifname,
                        args: a.cni_args,
                        capability_args: a.capability_args,
                    };
                    if let Err(e) = self.del_network_list(list, &rt) {
                        errs.push(e.context(format!(
                            "failed to delete stale attachment {} {}",
                            rt.container_id, rt.ifname
                        )));
                    }
                }
            }
        }
        if list.cni_version.has_gc_status() {
            let mut extra = Vec::new();
            if let Some(v) = valid {
                let v = serde_json::to_value(v)
                    .map_err(|e| Error::internal(format!("encoding attachments: {e}")))?;
                extra.push(("cni.dev/valid-attachments", v.clone()));
                extra.push(("cni.dev/attachments", v));
            }
            for i in 0..list.plugins.len() {
                if let Err(e) = self.network_call(Command::Gc, list, i, &extra) {
                    errs.push(e);
                }
            }
        }
        match join_errors(errs) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Send a network-wide verb (GC, STATUS) to plugin `i` of `list`.
    fn network_call(
        &self,
        command: Command,
        list: &ConfList,
        i: usize,
        extra: &[(&str, Value)],
    ) -> Result<(), Error> {
        let plugin = &list.plugins[i];
        let run = || -> Result<(), Error> {
            let binary = self
                .exec
                .find_in_path(&plugin.plugin_type, &self.plugin_dirs)?;
            let stdin = plugin_stdin(list, plugin, None, None, extra)?;
            self.exec
                .exec_plugin(&binary, &self.network_env(command), &stdin)
                .map(|_| ())
        };
        run().map_err(|e| {
            e.context(format!(
                "network {:?}: plugin {}/{} {} failed ({})",
                list.name,
                i + 1,
                list.plugins.len(),
                plugin.description(),
                command.as_str().to_ascii_lowercase()
            ))
        })
    }

    /// STATUS of `list` (spec 1.1.0): asks every plugin in order and
    /// returns the first failure (code 50: cannot take ADDs; 51: and
    /// existing containers may be affected). Lists older than 1.1.0 have
    /// no STATUS: `Ok` without calling anything, as libcni does.
    pub fn get_status_network_list(&self, list: &ConfList) -> Result<(), Error> {
        if !list.cni_version.has_gc_status() {
            return Ok(());
        }
        for i in 0..list.plugins.len() {
            self.network_call(Command::Status, list, i, &[])?;
        }
        Ok(())
    }

    /// VERSION info of plugin `plugin_type` from the plugin directories.
    pub fn get_version_info(&self, plugin_type: &str) -> Result<PluginInfo, Error> {
        let binary = self.exec.find_in_path(plugin_type, &self.plugin_dirs)?;
        version_info(self.exec.as_ref(), &binary)
            .map_err(|e| e.context(format!("VERSION of plugin {plugin_type:?}")))
    }

    /// VERSION info of every plugin of `list`, in order.
    pub fn get_version_info_list(&self, list: &ConfList) -> Vec<PluginVersionReport> {
        list.plugins
            .iter()
            .map(|p| PluginVersionReport {
                plugin_type: p.plugin_type.clone(),
                info: self.get_version_info(&p.plugin_type),
            })
            .collect()
    }

    /// Check that every plugin of `list` exists and speaks the list's
    /// version (by asking each for VERSION); return the union of the
    /// capabilities the plugins declare, sorted. Every problem is reported.
    pub fn validate_network_list(&self, list: &ConfList) -> Result<Vec<String>, Error> {
        let mut errs = Vec::new();
        for (i, plugin) in list.plugins.iter().enumerate() {
            match self.get_version_info(&plugin.plugin_type) {
                Err(e) => errs.push(e),
                Ok(info) if !info.supports(list.cni_version) => {
                    errs.push(Error::incompatible_version(format!(
                        "network {:?}: plugin {}/{} {} does not support config version \"{}\" (it supports {})",
                        list.name,
                        i + 1,
                        list.plugins.len(),
                        plugin.description(),
                        list.cni_version,
                        info.supported_versions.join(", ")
                    )));
                }
                Ok(_) => {}
            }
        }
        match join_errors(errs) {
            Some(e) => Err(e),
            None => Ok(list.capabilities()),
        }
    }
}
