//! Finding 5: the bridge's MTU is larger than the overlay's. Packets
//! between nodes are encapsulated (VXLAN adds 50 bytes), so the overlay
//! device's MTU is smaller than the uplink's; a pod that sends full-size
//! packets sized by a larger bridge MTU has them dropped at the overlay
//! (or fragmented, or answered with ICMP "fragmentation needed" that
//! firewalls often drop), and large transfers hang while small requests
//! work.

use crate::finding::{Finding, Severity};
use crate::fixcmd::quote;
use crate::node::Node;
use crate::node::kernel::is_overlay;

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    let overlays: Vec<(String, u32)> = node
        .links
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|l| is_overlay(l))
        .map(|l| {
            (
                format!(
                    "{} ({}) MTU {}",
                    l.name,
                    l.kind.as_deref().unwrap_or("?"),
                    l.mtu
                ),
                l.mtu,
            )
        })
        .collect();
    let mut out = vec![];
    for net in &node.networks {
        let Some(bridge) = net.iface.as_ref().and_then(|i| i.bridge()) else {
            continue;
        };
        let Some(link) = node.link_named(bridge) else {
            continue;
        };
        let mut bounds = overlays.clone();
        if let Some(f) = &net.flannel
            && let Some(mtu) = f.mtu
        {
            bounds.push((
                format!("FLANNEL_MTU={mtu} in {}", f.subnet_file.display()),
                mtu,
            ));
        }
        let Some(limit) = bounds.iter().map(|(_, m)| *m).min() else {
            continue;
        };
        if link.mtu <= limit {
            continue;
        }
        let mut f = Finding::new(
            "mtu-mismatch",
            Severity::Error,
            format!(
                "bridge {bridge} of network {:?} has MTU {}, larger than the overlay's {limit}",
                net.name, link.mtu
            ),
            "Pods size their packets by the bridge's MTU; traffic to other nodes goes through \
             the overlay, which cannot carry packets that large, so they are dropped or need \
             fragmentation: small requests work, large transfers hang.",
        )
        .evidence(format!(
            "{bridge} (bridge) MTU {} (ip link show {bridge})",
            link.mtu
        ));
        for (what, _) in &bounds {
            f = f.evidence(what.clone());
        }
        let note = if net.flannel.is_some() {
            "New pods get FLANNEL_MTU; pods created before keep their larger MTU until they are \
             recreated."
                .to_string()
        } else {
            format!(
                "Also set \"mtu\": {limit} in the bridge config of {} so that new pods get it; \
                 pods created before keep their MTU until they are recreated.",
                net.file.display()
            )
        };
        out.push(
            f.fix(format!("ip link set dev {} mtu {limit}", quote(bridge)))
                .note(note),
        );
    }
    out
}
