//! Leaked veths: host ends of pod veths that no cached result names. A
//! bridge network's are ports of its bridge (`IFLA_MASTER`); a ptp
//! network's are the output interface of a host route to a pod address.
//! Deleting one end of a veth deletes the pair (`veth_dellink` unregisters
//! the peer too), and the pod end dies with its namespace anyway; a veth
//! still here means the pod's namespace is alive but forgotten.

use hostnet::netlink::{LinkInfo, TABLE_MAIN};

use super::{Known, Leak, finding};
use crate::finding::Finding;
use crate::node::{IfaceKind, Node};

/// The leaked host veths, with the network they belong to.
pub fn leaked<'n>(node: &'n Node, known: &Known<'_>) -> Vec<(&'n LinkInfo, String)> {
    let (Ok(links), Ok(routes)) = (&node.links, &node.routes) else {
        return vec![];
    };
    let mut out: Vec<(&LinkInfo, String)> = vec![];
    for net in &node.networks {
        let Some(iface) = &net.iface else { continue };
        if known.blind.contains(&net.name) {
            continue;
        }
        let mine = |l: &LinkInfo| match &iface.kind {
            IfaceKind::Bridge(b) => node
                .link_named(b)
                .is_some_and(|br| l.master == Some(br.index)),
            IfaceKind::Ptp => routes.iter().any(|r| {
                r.table == TABLE_MAIN
                    && r.oif == Some(l.index)
                    && r.dst.prefix_len() == r.dst.max_prefix_len()
                    && iface.subnets.iter().any(|s| s.contains(&r.dst))
            }),
            IfaceKind::Other(_) => false,
        };
        for l in links.iter().filter(|l| l.is_veth()) {
            if mine(l)
                && !known.host_ifaces.contains(&l.name)
                && !out.iter().any(|(x, _)| x.index == l.index)
            {
                out.push((l, net.name.clone()));
            }
        }
    }
    out
}

/// The finding.
pub fn check(node: &Node, known: &Known<'_>) -> Option<Finding> {
    let leaks = leaked(node, known)
        .into_iter()
        .map(|(l, net)| Leak::gc(format!("veth {} of network {net}", l.name)))
        .collect();
    finding(
        node,
        "leaked-veths",
        "host veths",
        "The veth of a pod the runtime forgot keeps its namespace reachable on the bridge with \
         an address the IPAM store may hand out again: a new pod with that address then \
         conflicts with it.",
        leaks,
    )
}
