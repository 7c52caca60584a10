//! Stale UDP conntrack entries of the mapped host ports.
//!
//! A UDP flow that hit a host port while no rule (or an old rule) was in
//! place stays in conntrack and keeps bypassing the new DNAT rule until it
//! times out; the reference deletes such entries after ADD and DEL, and so
//! do we (over ctnetlink, `netfilter::conntrack`).

use libcni::cni_warn;
use netfilter::conntrack;

use crate::config::{Family, PortmapConf, Protocol};

/// Delete the UDP conntrack entries of every UDP host port that applies to
/// each of `families`. Failures are only logged: the rules are in place.
pub fn flush(conf: &PortmapConf, families: &[Family]) {
    for family in families {
        let mut ports: Vec<u16> = conf
            .mappings
            .iter()
            .filter(|m| m.protocol == Protocol::Udp && m.applies_to(*family))
            .map(|m| m.host_port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        for port in ports {
            if let Err(e) = conntrack::delete_by_dport(*family, Protocol::Udp, port) {
                cni_warn!(
                    "could not delete stale {} UDP conntrack entries of host port {port}: {e}",
                    family.label()
                );
            }
        }
    }
}
