//! Finding 3: bridged traffic skips the IP firewall hooks. A frame the
//! bridge forwards from one port to another never reaches the IP layer,
//! so iptables/nftables (kube-proxy's Service DNAT, hairpin NAT, the
//! firewall plugin's isolation) never see it, unless br_netfilter is
//! loaded and `net.bridge.bridge-nf-call-iptables` (`-ip6tables` for
//! IPv6) is 1 in this namespace; then `br_nf_pre_routing` hands each
//! bridged IP packet to the `NF_INET_*` hooks. The `net/bridge` sysctl
//! directory exists only while the module is loaded.

use crate::finding::{Finding, Severity};
use crate::node::Node;
use crate::node::kernel::{BRIDGE_NF_IP6TABLES, BRIDGE_NF_IPTABLES, dotted};

const WHY: &str = "Traffic between two pods on one bridge is bridged, not routed, so it skips \
the IP firewall hooks: a pod reaching a Service whose backend is on the same bridge is not \
DNATed (or not un-DNATed on the way back) and the connection fails; hairpin traffic and the \
firewall plugin's isolation rules misbehave the same way.";

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    let bridged: Vec<_> = node
        .networks
        .iter()
        .filter(|n| n.iface.as_ref().and_then(|i| i.bridge()).is_some())
        .collect();
    if bridged.is_empty() {
        return vec![];
    }
    let names = bridged
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let v6 = bridged
        .iter()
        .any(|n| n.subnets().iter().any(|s| s.addr().is_ipv6()));
    let mut keys = vec![BRIDGE_NF_IPTABLES];
    if v6 {
        keys.push(BRIDGE_NF_IP6TABLES);
    }
    let set_all = keys
        .iter()
        .map(|k| format!("sysctl -w {}=1", dotted(k)))
        .collect::<Vec<_>>()
        .join(" && ");
    if node.sysctl_absent(BRIDGE_NF_IPTABLES) {
        return vec![
            Finding::new(
                "br-netfilter-missing",
                Severity::Warning,
                "br_netfilter is not loaded while bridge networks are configured",
                WHY,
            )
            .evidence(format!(
                "/proc/sys/{BRIDGE_NF_IPTABLES} does not exist (the module is not loaded)"
            ))
            .evidence(format!("bridge networks: {names}"))
            .fix(format!("modprobe br_netfilter && {set_all}"))
            .note(
                "To load it at boot, add br_netfilter to a file under /etc/modules-load.d/ and \
                 the sysctls to one under /etc/sysctl.d/.",
            ),
        ];
    }
    let off: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| node.sysctl(k) == Some("0"))
        .collect();
    if off.is_empty() {
        return vec![];
    }
    let mut f = Finding::new(
        "bridge-nf-call-off",
        Severity::Warning,
        format!(
            "{} while bridge networks are configured",
            off.iter()
                .map(|k| format!("{} = 0", dotted(k)))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        WHY,
    );
    for k in &off {
        f = f.evidence(format!("{} = 0 (/proc/sys/{k})", dotted(k)));
    }
    vec![
        f.evidence(format!("bridge networks: {names}"))
            .fix(
                off.iter()
                    .map(|k| format!("sysctl -w {}=1", dotted(k)))
                    .collect::<Vec<_>>()
                    .join(" && "),
            )
            .note(
                "To keep it across reboots, also put the setting in a file under /etc/sysctl.d/.",
            ),
    ]
}
