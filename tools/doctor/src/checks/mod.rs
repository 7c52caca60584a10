//! The checks: pure functions from a [`Node`] snapshot to findings, one
//! module per finding.

mod br_netfilter;
mod conf_order;
mod forward;
mod inspect;
mod ip_forward;
pub mod leaks;
mod mtu;
mod overlap;
mod plugins;
mod split_iptables;

use crate::finding::Finding;
use crate::node::Node;

/// Every finding about `node`, the worst first.
pub fn run(node: &Node) -> Vec<Finding> {
    let mut out = vec![];
    out.extend(forward::check(node));
    out.extend(ip_forward::check(node));
    out.extend(br_netfilter::check(node));
    out.extend(split_iptables::check(node));
    out.extend(mtu::check(node));
    out.extend(conf_order::check(node));
    out.extend(plugins::check(node));
    out.extend(overlap::check(node));
    out.extend(leaks::check(node));
    out.extend(inspect::check(node));
    // Stable: within a severity, the order above.
    out.sort_by_key(|f| f.severity);
    out
}
