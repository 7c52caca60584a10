//! ADD, CHECK and DEL of a list on one attachment (SPEC.md "Section 4:
//! Plugin Delegation", "Attachment operations"; cni:libcni/api.go).

use serde_json::{Map, Value};

use super::cache::{self, CacheEntry, CacheFile};
use super::conflist::{ConfList, PluginConf};
use super::exec::{CallEnv, join_path};
use super::{CniConfig, RuntimeConf, join_errors};
use crate::skel::Command;
use crate::spec::conf::{interface_name_problem, is_valid_name, validate_network_name};
use crate::spec::{CniResult, Error, Version};

/// The config one plugin receives: its own object with the list's `name`
/// and `cniVersion`, `prevResult` when given, `runtimeConfig` holding the
/// capability arguments it declared (left as configured when none
/// applies, as libcni does), and `capabilities` removed (SPEC.md: the
/// runtime consumes it).
pub(super) fn plugin_stdin(
    list: &ConfList,
    plugin: &PluginConf,
    prev_result: Option<&Value>,
    rt: Option<&RuntimeConf>,
    extra: &[(&str, Value)],
) -> Result<Vec<u8>, Error> {
    let mut conf = plugin.raw.clone();
    conf.insert("name".into(), Value::String(list.name.clone()));
    conf.insert(
        "cniVersion".into(),
        Value::String(list.cni_version.as_str().into()),
    );
    if let Some(prev) = prev_result {
        conf.insert("prevResult".into(), prev.clone());
    }
    conf.remove("capabilities");
    if let Some(rt) = rt {
        let rc: Map<String, Value> = plugin
            .capabilities
            .iter()
            .filter_map(|cap| {
                rt.capability_args
                    .get(cap)
                    .map(|v| (cap.clone(), v.clone()))
            })
            .collect();
        if !rc.is_empty() {
            conf.insert("runtimeConfig".into(), Value::Object(rc));
        }
    }
    for (k, v) in extra {
        conf.insert((*k).to_string(), v.clone());
    }
    serde_json::to_vec(&Value::Object(conf))
        .map_err(|e| Error::internal(format!("encoding plugin config: {e}")))
}

/// A result as the next plugin (or the cache) gets it: in the list's
/// version, or in its own when it cannot be expressed in the list's.
fn result_value(result: &CniResult, list_version: Version, own: Version) -> Result<Value, Error> {
    result
        .to_value(list_version)
        .or_else(|_| result.to_value(own))
}

/// Check the names that end up in plugin environments and in the cache
/// file's path (code 4/7 naming the problem).
fn validate_attachment(list: &ConfList, rt: &RuntimeConf) -> Result<(), Error> {
    validate_network_name(&list.name)?;
    if rt.container_id.is_empty() {
        return Err(Error::unknown_container(
            "missing container ID: set the container ID of the attachment",
        ));
    }
    if !is_valid_name(&rt.container_id) {
        return Err(Error::invalid_env(format!(
            "invalid container ID {:?}: it must start with a letter or digit and contain only letters, digits, '_', '.' and '-'",
            rt.container_id
        )));
    }
    if let Some(problem) = interface_name_problem(&rt.ifname) {
        return Err(Error::invalid_env(format!(
            "invalid interface name {:?}: {problem}",
            rt.ifname
        )));
    }
    Ok(())
}

/// How an error names the plugin that failed: position, type, step.
fn failed(list: &ConfList, i: usize, plugin: &PluginConf, step: &str, e: Error) -> Error {
    e.context(format!(
        "network {:?}: plugin {}/{} {} failed ({step})",
        list.name,
        i + 1,
        list.plugins.len(),
        plugin.description()
    ))
}

impl CniConfig {
    fn call_env(&self, command: Command, rt: &RuntimeConf) -> Vec<(String, String)> {
        CallEnv {
            command,
            container_id: rt.container_id.clone(),
            netns: rt.netns.clone(),
            ifname: rt.ifname.clone(),
            args: rt.args.clone(),
            path: join_path(&self.plugin_dirs),
        }
        .to_env()
    }

    /// Run one plugin of `list` with `command` for attachment `rt`.
    pub(super) fn run_plugin(
        &self,
        command: Command,
        list: &ConfList,
        plugin: &PluginConf,
        prev_result: Option<&Value>,
        rt: &RuntimeConf,
    ) -> Result<Vec<u8>, Error> {
        let binary = self
            .exec
            .find_in_path(&plugin.plugin_type, &self.plugin_dirs)?;
        let stdin = plugin_stdin(list, plugin, prev_result, Some(rt), &[])?;
        self.exec
            .exec_plugin(&binary, &self.call_env(command, rt), &stdin)
    }

    /// ADD `list` to attachment `rt`: run the plugins in order, each with
    /// the previous one's result as `prevResult`; cache and return the last
    /// result.
    ///
    /// If a plugin fails, the error names it; by default DEL is then run on
    /// it and on every plugin before it, in reverse order, so that nothing
    /// of the attachment is left (see
    /// [`CniConfig::with_rollback_on_failed_add`]). Failures of that
    /// rollback are appended to the error's details.
    pub fn add_network_list(&self, list: &ConfList, rt: &RuntimeConf) -> Result<CniResult, Error> {
        validate_attachment(list, rt)?;
        let version = list.cni_version;
        let mut last: Option<(CniResult, Value)> = None;
        for (i, plugin) in list.plugins.iter().enumerate() {
            let prev = last.as_ref().map(|(_, v)| v);
            let outcome = self
                .run_plugin(Command::Add, list, plugin, prev, rt)
                .and_then(|out| {
                    if out.iter().all(u8::is_ascii_whitespace) {
                        return Err(Error::decoding(
                            "the plugin printed no result (ADD must print one)",
                        ));
                    }
                    let (r, own) = CniResult::parse_bytes(&out, version)
                        .map_err(|e| e.context("reading its result"))?;
                    let v = result_value(&r, version, own)?;
                    Ok((r, v))
                });
            match outcome {
                Ok(done) => last = Some(done),
                Err(e) => {
                    let e = failed(list, i, plugin, "add", e);
                    if !self.rollback {
                        return Err(e);
                    }
                    let prev = if version.has_check() {
                        last.as_ref().map(|(_, v)| v)
                    } else {
                        None
                    };
                    return Err(self.rollback_add(list, i, prev, rt, e));
                }
            }
        }
        let Some((result, value)) = last else {
            return Err(Error::invalid_config(format!(
                "network {:?} has no plugins",
                list.name
            )));
        };
        let entry = CacheEntry {
            kind: cache::CACHE_KIND_V1.into(),
            container_id: rt.container_id.clone(),
            config: list.bytes.clone(),
            ifname: rt.ifname.clone(),
            network_name: list.name.clone(),
            netns: rt.netns.clone(),
            cni_args: rt.args.clone(),
            capability_args: rt.capability_args.clone(),
            result: Some(value),
        };
        if let Err(e) = cache::write_entry(&self.cache_file(list, rt), &entry) {
            let e = e.context(format!("network {:?}: caching the result", list.name));
            // Without a cache entry DEL would lack prevResult and GC would
            // never find the attachment: undo it rather than leak it.
            if self.rollback {
                let prev = if version.has_check() {
                    entry.result.as_ref()
                } else {
                    None
                };
                return Err(self.rollback_add(list, list.plugins.len() - 1, prev, rt, e));
            }
            return Err(e);
        }
        Ok(result)
    }

    /// DEL plugins `0..=upto` in reverse after a failed ADD; fold any DEL
    /// failure into `err`'s details.
    fn rollback_add(
        &self,
        list: &ConfList,
        upto: usize,
        prev: Option<&Value>,
        rt: &RuntimeConf,
        err: Error,
    ) -> Error {
        let mut problems = Vec::new();
        for i in (0..=upto).rev() {
            let plugin = &list.plugins[i];
            if let Err(e) = self.run_plugin(Command::Del, list, plugin, prev, rt) {
                problems.push(failed(list, i, plugin, "delete during rollback", e).to_string());
            }
        }
        let note = if problems.is_empty() {
            "rolled back: DEL succeeded on every plugin that ran".to_string()
        } else {
            format!("rollback incomplete: {}", problems.join("; "))
        };
        let details = if err.details.is_empty() {
            note
        } else {
            format!("{}; {note}", err.details)
        };
        err.with_details(details)
    }

    /// The cached result of attachment `rt`, converted to the list's
    /// version; `None` when nothing is cached.
    pub fn get_network_list_cached_result(
        &self,
        list: &ConfList,
        rt: &RuntimeConf,
    ) -> Result<Option<CniResult>, Error> {
        validate_attachment(list, rt)?;
        match cache::read_file(&self.cache_file(list, rt))? {
            None => Ok(None),
            Some(f) => f.result(list.cni_version),
        }
    }

    /// The list bytes cached at ADD and `rt` completed with the cached
    /// `CNI_ARGS` and capability arguments; `None` when nothing (or only a
    /// legacy result) is cached.
    pub fn get_network_list_cached_config(
        &self,
        list: &ConfList,
        rt: &RuntimeConf,
    ) -> Result<Option<(Vec<u8>, RuntimeConf)>, Error> {
        validate_attachment(list, rt)?;
        match cache::read_file(&self.cache_file(list, rt))? {
            Some(CacheFile::V1(e)) => {
                let mut out = rt.clone();
                if !e.cni_args.is_empty() {
                    out.args = e.cni_args.clone();
                }
                out.capability_args = e.capability_args.clone();
                Ok(Some((e.config.clone(), out)))
            }
            _ => Ok(None),
        }
    }

    /// The cached result as `prevResult` for CHECK/DEL, in the list's
    /// version.
    fn cached_prev(&self, list: &ConfList, rt: &RuntimeConf) -> Result<Option<Value>, Error> {
        match self.get_network_list_cached_result(list, rt)? {
            None => Ok(None),
            Some(r) => r.to_value(list.cni_version).map(Some),
        }
    }

    /// CHECK attachment `rt` (spec 0.4.0 and later): every plugin, in
    /// order, with the cached result as `prevResult`. A no-op when the list
    /// sets `disableCheck`. Stops at the first failure.
    pub fn check_network_list(&self, list: &ConfList, rt: &RuntimeConf) -> Result<(), Error> {
        if !list.cni_version.has_check() {
            return Err(Error::incompatible_version(format!(
                "configuration version \"{}\" does not support the CHECK command (it needs 0.4.0 or later)",
                list.cni_version
            )));
        }
        if list.disable_check {
            return Ok(());
        }
        validate_attachment(list, rt)?;
        let prev = self.cached_prev(list, rt).map_err(|e| {
            e.context(format!(
                "failed to get network {:?} cached result",
                list.name
            ))
        })?;
        let Some(prev) = prev else {
            return Err(Error::unknown_container(format!(
                "network {:?}: no cached result for container {:?} interface {:?} in {}: CHECK needs the result of a previous ADD",
                list.name,
                rt.container_id,
                rt.ifname,
                self.cache_dir.join(cache::RESULTS_DIR).display()
            )));
        };
        for (i, plugin) in list.plugins.iter().enumerate() {
            self.run_plugin(Command::Check, list, plugin, Some(&prev), rt)
                .map_err(|e| failed(list, i, plugin, "check", e))?;
        }
        Ok(())
    }

    /// DEL attachment `rt`: every plugin in reverse order with the cached
    /// result as `prevResult` (0.4.0 and later; a cache entry that cannot
    /// be read is dropped and DEL goes on without it). Keeps going past
    /// failing plugins and reports them all; removes the cache entry only
    /// when every plugin succeeded. Idempotent: a second DEL succeeds.
    pub fn del_network_list(&self, list: &ConfList, rt: &RuntimeConf) -> Result<(), Error> {
        validate_attachment(list, rt)?;
        let path = self.cache_file(list, rt);
        let prev = if list.cni_version.has_check() {
            match self.cached_prev(list, rt) {
                Ok(p) => p,
                Err(e) => {
                    crate::cni_warn!("dropping unreadable cached result: {e}");
                    let _ = cache::remove_entry(&path);
                    None
                }
            }
        } else {
            None
        };
        let mut errs = Vec::new();
        for (i, plugin) in list.plugins.iter().enumerate().rev() {
            if let Err(e) = self.run_plugin(Command::Del, list, plugin, prev.as_ref(), rt) {
                errs.push(failed(list, i, plugin, "delete", e));
            }
        }
        match join_errors(errs) {
            Some(e) => Err(e),
            None => cache::remove_entry(&path),
        }
    }
}
