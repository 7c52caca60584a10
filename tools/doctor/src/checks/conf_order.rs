//! Finding 6: more than one network in a conf dir. containerd and CRI-O
//! sort the directory's `*.conf`, `*.conflist` and `*.json` by name and
//! use the first that loads for every pod; the rest are ignored. A stray
//! file that sorts first (a backup, another CNI's leftover) silently
//! replaces the intended network.

use std::path::Path;

use crate::finding::{Finding, Severity};
use crate::fixcmd::path;
use crate::node::{ConfDir, Node};

fn move_aside(dir: &Path, files: &[&Path]) -> String {
    let target = format!("{}.disabled", dir.display());
    format!(
        "mkdir -p {} && mv {} {}/",
        crate::fixcmd::quote(&target),
        files.iter().map(|f| path(f)).collect::<Vec<_>>().join(" "),
        crate::fixcmd::quote(&target)
    )
}

fn finding(cd: &ConfDir) -> Option<Finding> {
    let loaded: Vec<(&Path, &str)> = cd
        .files
        .iter()
        .filter_map(|f| Some((f.path.as_path(), f.network.as_deref().ok()?)))
        .collect();
    let [(used, used_net), ignored @ ..] = loaded.as_slice() else {
        return None;
    };
    if ignored.is_empty() {
        return None;
    }
    let mut f = Finding::new(
        "several-networks",
        Severity::Warning,
        format!(
            "{} holds {} network configs: containerd and CRI-O use only {} (network {used_net:?})",
            cd.dir.display(),
            loaded.len(),
            used.display()
        ),
        "containerd and CRI-O sort the conf dir by file name and give every pod the first \
         network that loads; the other files are ignored, so pods may be on a network nobody \
         meant (a stray file that sorts first is the classic).",
    )
    .evidence(format!("used: {} (network {used_net:?})", used.display()));
    for (file, net) in ignored {
        f = f.evidence(format!("ignored: {} (network {net:?})", file.display()));
    }
    for bad in cd.files.iter().filter(|f| f.network.is_err()) {
        if let Err(why) = &bad.network {
            f = f.evidence(format!("does not load: {}: {why}", bad.path.display()));
        }
    }
    let ignored_files: Vec<&Path> = ignored.iter().map(|(p, _)| *p).collect();
    Some(f.fix(move_aside(&cd.dir, &ignored_files)).note(format!(
        "The command keeps what the runtime uses now. If {} is the network you meant, move the \
         first one aside instead: {}. podman and cnitool pick networks by name and are not \
         affected.",
        ignored_files[0].display(),
        move_aside(&cd.dir, &[used])
    )))
}

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    node.conf_dirs.iter().filter_map(finding).collect()
}
