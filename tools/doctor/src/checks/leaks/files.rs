//! Leaked plugin state files: tuning backups
//! (`<dataDir>/<cid>_<ifname>.json`), firewall state
//! (`<dataDir>/<network>/<cid>:<ifname>`) and flannel's saved delegate
//! configs (`<dataDir>/<cid>` and `<cid>:<ifname>`).

use std::collections::HashSet;

use super::{Known, Leak, finding};
use crate::finding::Finding;
use crate::fixcmd::path;
use crate::node::Node;
use crate::node::state::AttachmentFile;

fn tuning(node: &Node, known: &Known<'_>, out: &mut Vec<Leak>) {
    if node.state.backups.is_empty() {
        return;
    }
    let stems: HashSet<String> = known
        .attachments()
        .iter()
        .map(|a| format!("{}_{}", a.container_id, a.ifname))
        .collect();
    for b in &node.state.backups {
        if stems.contains(&b.stem) {
            continue;
        }
        let item = format!("tuning backup {}", b.path.display());
        // tuning's GC removes the backups its marker ties to the network;
        // the reference's backups have no marker.
        match &b.network {
            Some(net) if node.network(net).is_some() => out.push(Leak::gc(item)),
            _ => out.push(Leak::manual(item, format!("rm -f {}", path(&b.path)))),
        }
    }
}

fn attachment_known(known: &Known<'_>, net: &str, f: &AttachmentFile) -> bool {
    match &f.ifname {
        Some(i) => known.has(net, &f.container_id, i),
        None => known.has_container(net, &f.container_id),
    }
}

fn firewall(node: &Node, known: &Known<'_>, out: &mut Vec<Leak>) {
    for f in &node.state.firewall {
        let Some(net) = &f.network else { continue };
        if f.ifname.is_some() && !attachment_known(known, net, f) {
            out.push(Leak::gc(format!("firewall state {}", f.path.display())));
        }
    }
}

fn flannel(node: &Node, known: &Known<'_>, out: &mut Vec<Leak>) {
    for f in &node.state.flannel {
        // The flannel networks keeping state in this directory; a file
        // that names its network belongs to that one only.
        let owners: Vec<&str> = node
            .networks
            .iter()
            .filter(|n| {
                n.flannel
                    .as_ref()
                    .is_some_and(|fl| f.path.parent() == Some(fl.data_dir.as_path()))
            })
            .map(|n| n.name.as_str())
            .filter(|n| f.network.as_deref().is_none_or(|x| x == *n))
            .collect();
        if !owners.is_empty() && !owners.iter().any(|n| attachment_known(known, n, f)) {
            out.push(Leak::gc(format!(
                "flannel saved config {}",
                f.path.display()
            )));
        }
    }
}

/// The leaked files.
pub fn leaked(node: &Node, known: &Known<'_>) -> Vec<Leak> {
    let mut out = vec![];
    tuning(node, known, &mut out);
    firewall(node, known, &mut out);
    flannel(node, known, &mut out);
    out
}

/// The finding.
pub fn check(node: &Node, known: &Known<'_>) -> Option<Finding> {
    finding(
        node,
        "leaked-files",
        "plugin state files",
        "State files of pods that are gone pile up; a later pod that reuses the container ID \
         and interface name gets the old pod's saved settings restored or replayed on DEL.",
        leaked(node, known),
    )
}
