//! Finding 9: a pod subnet overlaps a network the node already routes
//! elsewhere. The kernel picks the longest matching prefix in the main
//! table: a more specific route (a LAN, a VPN, docker0) steals the pods'
//! addresses from the bridge, and a less specific one means the node's
//! neighbours in that range are unreachable from pods (their addresses are
//! taken by the bridge).

use hostnet::netlink::{RouteInfo, TABLE_MAIN};
use ipnet::IpNet;

use crate::finding::{Finding, Severity};
use crate::node::{Network, Node};

/// `RTN_UNICAST`.
const UNICAST: u8 = 1;

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn describe(node: &Node, r: &RouteInfo) -> String {
    let mut s = r.dst.to_string();
    if let Some(gw) = r.gw {
        s.push_str(&format!(" via {gw}"));
    }
    if let Some(l) = r.oif.and_then(|i| node.link(i)) {
        s.push_str(&format!(" dev {}", l.name));
    }
    s
}

/// Whether the route is the network's own: through its bridge, a ptp
/// host route through a veth, or flannel's route to its cluster network.
fn own(node: &Node, net: &Network, subnet: &IpNet, r: &RouteInfo) -> bool {
    let link = r.oif.and_then(|i| node.link(i));
    let bridge = net.iface.as_ref().and_then(|i| i.bridge());
    if let (Some(l), Some(b)) = (link, bridge)
        && l.name == b
    {
        return true;
    }
    if link.is_some_and(|l| l.is_veth())
        && subnet.contains(&r.dst)
        && r.dst.prefix_len() == r.dst.max_prefix_len()
    {
        return true;
    }
    net.flannel.as_ref().is_some_and(|f| {
        f.cluster
            .iter()
            .any(|c| c == &r.dst || c.contains(&r.dst) && !overlaps(&r.dst, subnet))
    })
}

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    let Ok(routes) = &node.routes else {
        return vec![];
    };
    let mut out = vec![];
    for net in &node.networks {
        for subnet in net.subnets() {
            let clashing: Vec<&RouteInfo> = routes
                .iter()
                .filter(|r| r.table == TABLE_MAIN && r.kind == UNICAST && r.dst.prefix_len() > 0)
                .filter(|r| overlaps(&r.dst, subnet) && !own(node, net, subnet, r))
                .collect();
            if clashing.is_empty() {
                continue;
            }
            let mut f = Finding::new(
                "subnet-overlap",
                Severity::Error,
                format!(
                    "pod subnet {subnet} of network {:?} overlaps {}, which the node routes elsewhere",
                    net.name,
                    clashing
                        .iter()
                        .map(|r| r.dst.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "Routing picks the most specific route: a more specific one sends traffic for \
                 the pods' addresses away from the bridge, a less specific one means addresses \
                 of that network are taken by the pods, so pods and those hosts cannot reach each \
                 other.",
            );
            for r in &clashing {
                f = f.evidence(format!("ip route: {}", describe(node, r)));
            }
            let fix = clashing
                .iter()
                .map(|r| format!("ip route del {}", describe(node, r)))
                .collect::<Vec<_>>()
                .join(" && ");
            out.push(
                f.evidence(format!(
                    "network {:?} ({}) gives pods addresses from {subnet}",
                    net.name,
                    net.file.display()
                ))
                .fix(fix)
                .note(format!(
                    "If the node needs that route, move the pod network to a free subnet instead: \
                     change the IPAM ranges in {} and recreate its pods.",
                    net.file.display()
                )),
            );
        }
    }
    out
}
