//! Finding 2: IP forwarding is off. With `net.ipv4.ip_forward=0` the
//! kernel gives packets from one interface to another no route
//! (`ip_route_input_slow` fails them with `-EHOSTUNREACH` instead of
//! `ip_forward`), so pods reach the node and nothing beyond it;
//! `net.ipv6.conf.all.forwarding=0` does the same for IPv6 (and makes
//! the node a host, not a router, for neighbour discovery).

use crate::finding::{Finding, Severity};
use crate::node::Node;
use crate::node::kernel::{IP_FORWARD, IPV6_FORWARDING, dotted};

const ID: &str = "ip-forward-off";

fn finding(node: &Node, key: &str, family: &str, networks: &[&str]) -> Option<Finding> {
    if node.sysctl(key) != Some("0") {
        return None;
    }
    let k = dotted(key);
    Some(
        Finding::new(
            ID,
            Severity::Error,
            format!("{family} forwarding is off ({k} = 0) while networks use {family} pod subnets"),
            format!(
                "The node must route pod traffic between the pods' interfaces and its uplink; with \
                 forwarding off the kernel drops every {family} packet it would have to forward, so \
                 pods reach the node itself and nothing beyond it."
            ),
        )
        .evidence(format!("{k} = 0 (/proc/sys/{key})"))
        .evidence(format!("networks with {family} subnets: {}", networks.join(", ")))
        .fix(format!("sysctl -w {k}=1"))
        .note(format!(
            "To keep it across reboots, also put \"{k} = 1\" in a file under /etc/sysctl.d/. \
             bridge and ptp with isGateway turn it on at their next ADD, but something turned it \
             off after them."
        )),
    )
}

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    let with = |v4: bool| -> Vec<&str> {
        node.networks
            .iter()
            .filter(|n| n.subnets().iter().any(|s| s.addr().is_ipv4() == v4))
            .map(|n| n.name.as_str())
            .collect()
    };
    let mut out = vec![];
    let v4 = with(true);
    if !v4.is_empty() {
        out.extend(finding(node, IP_FORWARD, "IPv4", &v4));
    }
    let v6 = with(false);
    if !v6.is_empty() {
        out.extend(finding(node, IPV6_FORWARDING, "IPv6", &v6));
    }
    out
}
