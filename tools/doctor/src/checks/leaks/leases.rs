//! Leaked host-local leases: `<dataDir>/<network>/<ip>` records whose
//! attachment (container ID and interface; only the container for the
//! reference's old one-line records) is not cached. An empty record is a
//! reference ADD that crashed before writing it.

use super::{Known, Leak, finding};
use crate::finding::Finding;
use crate::node::Node;

/// The leaked leases.
pub fn leaked(node: &Node, known: &Known<'_>) -> Vec<Leak> {
    node.state
        .leases
        .iter()
        .filter(|l| match &l.ifname {
            Some(ifname) => !known.has(&l.network, &l.container_id, ifname),
            None => l.container_id.is_empty() || !known.has_container(&l.network, &l.container_id),
        })
        .map(|l| {
            let owner = match (&l.ifname, l.container_id.is_empty()) {
                (_, true) => "empty record".to_string(),
                (Some(i), false) => format!("container {} {i}", l.container_id),
                (None, false) => format!("container {}", l.container_id),
            };
            Leak::gc(format!(
                "lease {} of network {} ({owner}): {}",
                l.ip,
                l.network,
                l.path.display()
            ))
        })
        .collect()
}

/// The finding.
pub fn check(node: &Node, known: &Known<'_>) -> Option<Finding> {
    finding(
        node,
        "leaked-leases",
        "host-local leases",
        "A lease keeps its address out of the pool until it is released; leases of pods that \
         are gone shrink the subnet until ADD fails with \"no IP addresses available\".",
        leaked(node, known),
    )
}
