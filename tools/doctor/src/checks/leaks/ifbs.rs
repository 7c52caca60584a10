//! Leaked ifbs: `bwp` + 12 hex devices of the bandwidth plugin whose name
//! (SHA-512 of network + container ID, the reference's naming) belongs to
//! no cached attachment.

use netfilter::names::hash_with_prefix;

use super::{Known, Leak, finding};
use crate::finding::Finding;
use crate::fixcmd::quote;
use crate::node::Node;

/// The bandwidth plugin's ifb names: `bwp` and 12 hex digits, 15 in all.
const IFB_LEN: usize = 15;

fn is_bandwidth_ifb(kind: Option<&str>, name: &str) -> bool {
    kind == Some("ifb")
        && name.len() == IFB_LEN
        && name.strip_prefix("bwp").is_some_and(|h| {
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// The leaked ifbs.
pub fn leaked(node: &Node, known: &Known<'_>) -> Vec<Leak> {
    let Ok(links) = &node.links else {
        return vec![];
    };
    let live: Vec<String> = known
        .attachments()
        .iter()
        .map(|a| hash_with_prefix(IFB_LEN, "bwp", &format!("{}{}", a.network, a.container_id)))
        .collect();
    // bandwidth's GC removes them, if a network runs it.
    let gc = node
        .networks
        .iter()
        .any(|n| n.binaries.iter().any(|b| b == "bandwidth"));
    links
        .iter()
        .filter(|l| is_bandwidth_ifb(l.kind.as_deref(), &l.name) && !live.contains(&l.name))
        .map(|l| {
            let item = format!("ifb {}", l.name);
            if gc {
                Leak::gc(item)
            } else {
                Leak::manual(item, format!("ip link del dev {}", quote(&l.name)))
            }
        })
        .collect()
}

/// The finding.
pub fn check(node: &Node, known: &Known<'_>) -> Option<Finding> {
    finding(
        node,
        "leaked-ifbs",
        "bandwidth ifb devices",
        "Each ifb of a pod that is gone stays with its qdiscs; they pile up with every crash \
         and slow every link dump on the node.",
        leaked(node, known),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_plugins_ifbs() {
        assert!(is_bandwidth_ifb(Some("ifb"), "bwp0123456789ab"));
        assert!(!is_bandwidth_ifb(Some("ifb"), "ifb0"));
        assert!(!is_bandwidth_ifb(Some("veth"), "bwp0123456789ab"));
        assert!(!is_bandwidth_ifb(Some("ifb"), "bwp0123456789AB"));
    }
}
