//! The subcommands, over [`libcni::runtime`].

use std::io::Write;
use std::path::{Path, PathBuf};

use libcni::Error;
use libcni::invoke::split_path;
use libcni::runtime::{
    CniConfig, ConfList, DEFAULT_CACHE_DIR, PluginInfo, RuntimeConf, list_networks, load_conf_list,
    result_to_go_pretty, version_info,
};
use libcni::spec::Attachment;

use crate::settings::{self, *};
use crate::{Cli, Cmd};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn conf_dir() -> PathBuf {
    PathBuf::from(env(ENV_NETCONFPATH).unwrap_or_else(|| DEFAULT_NETCONFPATH.into()))
}

fn runtime(cli: &Cli) -> CniConfig {
    let cache = cli
        .cache_dir
        .clone()
        .or_else(|| env(ENV_CNI_CACHE_DIR).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR));
    CniConfig::new(split_path(&env(ENV_CNI_PATH).unwrap_or_default()))
        .with_cache_dir(cache)
        .with_rollback_on_failed_add(!cli.no_rollback)
}

/// Load network `net`, printing skipped files as warnings.
fn load(net: &str) -> Result<ConfList, Error> {
    let loaded = load_conf_list(&conf_dir(), net)?;
    for w in &loaded.warnings {
        libcni::cni_warn!("warning: {w}");
    }
    Ok(loaded.list)
}

/// The attachment arguments, from the environment and flags exactly as
/// upstream cnitool builds them.
fn runtime_conf(cli: &Cli, netns: &Path) -> Result<RuntimeConf, Error> {
    let capability_args = match env(ENV_CAP_ARGS) {
        Some(raw) => parse_cap_args(&raw)?,
        None => Default::default(),
    };
    let args = match env(ENV_CNI_ARGS) {
        Some(raw) => parse_cni_args(&raw)?,
        None => vec![],
    };
    let ifname = cli
        .ifname
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| env(ENV_CNI_IFNAME))
        .unwrap_or_else(|| DEFAULT_IFNAME.into());
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io(format!("cannot resolve the netns path: {e}")))?;
    let netns = settings::go_abs(netns, &cwd);
    let container_id = cli
        .container_id
        .clone()
        .unwrap_or_else(|| container_id_for(&netns));
    Ok(RuntimeConf {
        container_id,
        netns: netns.to_string_lossy().into_owned(),
        ifname,
        args,
        capability_args,
    })
}

fn parse_valid(items: &[String]) -> Result<Vec<Attachment>, Error> {
    items
        .iter()
        .map(|s| match s.split_once(':') {
            Some((cid, ifname)) if !cid.is_empty() && !ifname.is_empty() => Ok(Attachment {
                container_id: cid.into(),
                ifname: ifname.into(),
            }),
            _ => Err(Error::invalid_config(format!(
                "--valid {s:?}: expected CONTAINERID:IFNAME"
            ))),
        })
        .collect()
}

fn print_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io(format!("writing to stdout: {e}")))
}

fn describe(info: &Result<PluginInfo, Error>, want: Option<libcni::Version>) -> String {
    match info {
        Err(e) => format!("error: {e}"),
        Ok(i) => {
            let verdict = match want {
                Some(v) if i.supports(v) => format!("  [ok for {v}]"),
                Some(v) => format!("  [does NOT support {v}]"),
                None => String::new(),
            };
            format!(
                "cniVersion {}, supports {}{verdict}",
                i.cni_version,
                i.supported_versions.join(" ")
            )
        }
    }
}

fn version(cli: &Cli, target: &str, plugin: bool) -> Result<(), Error> {
    let cni = runtime(cli);
    if plugin {
        let info = if target.contains('/') {
            version_info(&libcni::runtime::DefaultExec, Path::new(target))
        } else {
            cni.get_version_info(target)
        };
        let line = describe(&info, None);
        print_stdout(&format!("{target}: {line}\n"))?;
        return info.map(|_| ());
    }
    let list = load(target)?;
    let mut text = format!(
        "network {}: cniVersion {} ({})\n",
        list.name,
        list.cni_version,
        list.origin()
    );
    let reports = cni.get_version_info_list(&list);
    let mut failed = false;
    for r in &reports {
        failed |= !matches!(&r.info, Ok(i) if i.supports(list.cni_version));
        text.push_str(&format!(
            "  {}: {}\n",
            r.plugin_type,
            describe(&r.info, Some(list.cni_version))
        ));
    }
    print_stdout(&text)?;
    if failed {
        return Err(Error::incompatible_version(format!(
            "network {:?}: not every plugin can run cniVersion {}",
            list.name, list.cni_version
        )));
    }
    Ok(())
}

fn list() -> Result<(), Error> {
    let dir = conf_dir();
    let listing = list_networks(&dir)?;
    let mut text = String::new();
    if listing.networks.is_empty() {
        text.push_str(&format!("no networks in {}\n", dir.display()));
    }
    for n in &listing.networks {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}{}\n",
            n.name,
            n.cni_version,
            n.file.display(),
            n.plugins.join(","),
            if n.single_plugin_file {
                "\t(deprecated single-plugin file)"
            } else {
                ""
            }
        ));
    }
    for s in &listing.skipped {
        text.push_str(&format!("skipped {}: {}\n", s.file.display(), s.reason));
    }
    print_stdout(&text)
}

/// Upstream cnitool reads only `<cmd> <net> <netns>` and ignores whatever
/// follows; so do we, but say so.
fn ignore_extra(extra: &[String]) {
    if !extra.is_empty() {
        libcni::cni_warn!("warning: ignoring extra arguments after the netns path: {extra:?}");
    }
}

/// Run the parsed command line.
pub fn execute(cli: &Cli) -> Result<(), Error> {
    if let Cmd::Add { extra, .. } | Cmd::Check { extra, .. } | Cmd::Del { extra, .. } = &cli.command
    {
        ignore_extra(extra);
    }
    match &cli.command {
        Cmd::Add { net, netns, .. } => {
            let list = load(net)?;
            let rt = runtime_conf(cli, netns)?;
            let result = runtime(cli).add_network_list(&list, &rt)?;
            // Upstream prints json.MarshalIndent output without a newline.
            print_stdout(&result_to_go_pretty(&result, list.cni_version)?)
        }
        Cmd::Check { net, netns, .. } => {
            let list = load(net)?;
            let rt = runtime_conf(cli, netns)?;
            runtime(cli).check_network_list(&list, &rt)
        }
        Cmd::Del { net, netns, .. } => {
            let list = load(net)?;
            let rt = runtime_conf(cli, netns)?;
            runtime(cli).del_network_list(&list, &rt)
        }
        Cmd::Gc { net, valid, .. } => {
            let list = load(net)?;
            let valid = if valid.is_empty() {
                None
            } else {
                Some(parse_valid(valid)?)
            };
            runtime(cli).gc_network_list(&list, valid.as_deref())
        }
        Cmd::Status { net, .. } => {
            let list = load(net)?;
            runtime(cli).get_status_network_list(&list)
        }
        Cmd::Version { target, plugin } => version(cli, target, *plugin),
        Cmd::Validate { net } => {
            let list = load(net)?;
            let caps = runtime(cli).validate_network_list(&list)?;
            print_stdout(&format!(
                "network {}: valid, cniVersion {}, plugins {}; capabilities: {}\n",
                list.name,
                list.cni_version,
                list.plugins
                    .iter()
                    .map(|p| p.plugin_type.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                if caps.is_empty() {
                    "none".to_string()
                } else {
                    caps.join(",")
                }
            ))
        }
        Cmd::List => list(),
        // Answered by `crate::doctor` before this is reached.
        Cmd::Doctor { .. } => Ok(()),
    }
}
