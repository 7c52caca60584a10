//! Probes of what the running kernel supports, for tests whose expected
//! outcome depends on it (a plugin must then fail cleanly instead of
//! succeeding). They ask the kernel with iproute2, not with the netlink
//! code under test, so a bug there cannot make a test expect the wrong
//! outcome.

use crate::Netns;

/// Whether the kernel has bridge VLAN filtering
/// (CONFIG_BRIDGE_VLAN_FILTERING): without it the kernel rejects
/// `IFLA_BR_VLAN_FILTERING` when a bridge is created. Probed by creating
/// (and removing) a scratch bridge in `ns`, which must be a sandbox
/// namespace: never the machine's own.
pub fn kernel_has_vlan_filtering(ns: &Netns) -> bool {
    let (ok, _, _) = ns.sh("ip link add vfprobe0 type bridge vlan_filtering 1");
    if ok {
        ns.sh_ok("ip link del vfprobe0");
    }
    ok
}
