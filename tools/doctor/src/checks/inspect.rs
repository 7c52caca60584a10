//! What could not be inspected: every source that failed to read becomes
//! one "could not inspect" finding (severity unknown), so a missing tool or
//! an unreadable directory shows up in the report instead of silently
//! hiding the findings that depend on it.

use crate::finding::{Finding, Severity, not_inspected};
use crate::node::{Node, Unread};

fn from(u: &Unread) -> Finding {
    not_inspected(&u.what, &u.why, u.fix.as_deref())
}

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    let mut unread: Vec<&Unread> = vec![];
    unread.extend(node.conf_dirs.iter().filter_map(|d| d.error.as_ref()));
    unread.extend(node.networks.iter().flat_map(|n| &n.problems));
    unread.extend(node.cache.as_ref().err());
    unread.extend(node.links.as_ref().err());
    unread.extend(node.routes.as_ref().err());
    unread.extend(node.sysctls.iter().filter_map(|(_, v)| v.as_ref().err()));
    unread.extend(node.nft.as_ref().err());
    unread.extend(node.iptables.iter().filter_map(|l| l.dump.as_ref().err()));
    unread.extend(&node.state.unread);
    let mut out: Vec<Finding> = unread.into_iter().map(from).collect();
    if node.networks.is_empty() && node.conf_dirs.iter().all(|d| d.error.is_none()) {
        let dirs = node
            .conf_dirs
            .iter()
            .map(|d| d.dir.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        out.push(
            Finding::new(
                "no-networks",
                Severity::Warning,
                format!("no network config in {dirs}"),
                "Without a network config a CRI runtime reports the node's network as not ready \
                 and starts no pod; nothing else could be checked.",
            )
            .evidence(format!(
                "no *.conflist, *.conf or *.json that loads in {dirs}"
            )),
        );
    }
    out
}
