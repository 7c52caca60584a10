//! Finding 7: a network names a plugin that is in no bin dir, or one whose
//! VERSION reply does not list the network's cniVersion (the runtime then
//! refuses the network: podman's "plugin firewall does not support config
//! version"). Every binary was asked once ([`crate::node::plugins`]).

use libcni::Version;

use crate::finding::{Finding, Severity};
use crate::fixcmd::{and_then, path};
use crate::node::{Network, Node, PluginState};

fn users<'a>(node: &'a Node, t: &str) -> Vec<&'a Network> {
    node.networks
        .iter()
        .filter(|n| n.binaries.iter().any(|b| b == t))
        .collect()
}

fn install_spare(node: &Node, p: &PluginState) -> Option<String> {
    let spare = p.spare.as_ref()?;
    let dest = match &p.path {
        Some(existing) => existing.clone(),
        None => node.opts.bin_dirs.first()?.join(&p.plugin_type),
    };
    Some(format!("install -m 0755 {} {}", path(spare), path(&dest)))
}

/// The newest version every found binary of `net` speaks.
fn common_version(node: &Node, net: &Network) -> Option<Version> {
    libcni::spec::version::ALL_VERSIONS
        .iter()
        .rev()
        .copied()
        .find(|v| {
            net.binaries.iter().all(|b| {
                node.plugins
                    .iter()
                    .find(|p| &p.plugin_type == b)
                    .is_some_and(|p| p.supports(*v))
            })
        })
}

fn sed_version(net: &Network, to: Version) -> String {
    format!(
        r#"sed -i -E 's/("cniVersion"[[:space:]]*:[[:space:]]*)"{}"/\1"{}"/' {}"#,
        net.list.cni_version.as_str(),
        to.as_str(),
        path(&net.file)
    )
}

fn used_by(f: Finding, nets: &[&Network]) -> Finding {
    nets.iter().fold(f, |f, n| {
        f.evidence(format!(
            "used by network {:?} ({}), cniVersion {}",
            n.name,
            n.file.display(),
            n.list.cni_version
        ))
    })
}

fn missing(node: &Node, p: &PluginState) -> Finding {
    let nets = users(node, &p.plugin_type);
    let dirs = node
        .opts
        .bin_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let f = Finding::new(
        "plugin-missing",
        Severity::Error,
        format!("plugin {:?} is in none of the bin dirs", p.plugin_type),
        "Every ADD of these networks fails when the runtime cannot find the plugin, so no pod \
         of them can start.",
    )
    .evidence(format!("not found in CNI_PATH {dirs}"));
    let f = used_by(f, &nets);
    match install_spare(node, p) {
        Some(cmd) => f.fix(cmd),
        None => f.note(format!(
            "Install the {:?} plugin into {dirs}: from a cni-rs checkout, `make install \
             BINDIR=<dir>`, or the package of the CNI implementation that provides it.",
            p.plugin_type
        )),
    }
}

fn unsupported(node: &Node, p: &PluginState) -> Option<Finding> {
    let nets: Vec<&Network> = users(node, &p.plugin_type)
        .into_iter()
        .filter(|n| !p.supports(n.list.cni_version))
        .collect();
    let first = nets.first()?;
    let (summary, said) = match &p.info {
        Some(Ok(info)) => (
            format!(
                "plugin {:?} does not support config version \"{}\" of network {:?}",
                p.plugin_type, first.list.cni_version, first.name
            ),
            format!(
                "{} VERSION: supports {}",
                p.path
                    .as_deref()
                    .map(|x| x.display().to_string())
                    .unwrap_or_default(),
                info.supported_versions.join(", ")
            ),
        ),
        Some(Err(e)) => (
            format!("plugin {:?} does not answer VERSION", p.plugin_type),
            format!("VERSION failed: {e}"),
        ),
        None => return None,
    };
    let f = Finding::new(
        "plugin-version",
        Severity::Error,
        summary,
        "The runtime checks every plugin's VERSION reply against the network's cniVersion and \
         refuses the whole network when one does not list it (or a plugin gets a config version \
         it cannot read and fails), so no pod of the network can start.",
    )
    .evidence(said);
    let f = used_by(f, &nets);
    if let Some(cmd) = install_spare(node, p) {
        return Some(f.fix(cmd));
    }
    let seds: Option<Vec<String>> = nets
        .iter()
        .map(|n| common_version(node, n).map(|v| sed_version(n, v)))
        .collect();
    Some(match seds {
        Some(cmds) => f.fix(and_then(cmds)).note(
            "The command lowers the network's cniVersion to the newest version all its plugins \
             speak; features of the newer version (GC and STATUS come with 1.1.0) are off then. \
             Upgrading the plugin keeps them.",
        ),
        None => f.note("No cniVersion suits every plugin of the network: upgrade the plugin."),
    })
}

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    let mut out = vec![];
    for p in node.plugins.iter().filter(|p| p.is_broken()) {
        if p.path.is_none() {
            out.push(missing(node, p));
        } else {
            out.extend(unsupported(node, p));
        }
    }
    out
}
