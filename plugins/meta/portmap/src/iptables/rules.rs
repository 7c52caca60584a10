//! The iptables rules of the reference layout (plugins/meta/portmap,
//! portmap.go), as typed [`Rule`]s. Pure: golden-tested against the text
//! `iptables-save` prints for the reference's state.
//!
//! ```text
//! PREROUTING, OUTPUT:    -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
//! CNI-HOSTPORT-DNAT:     [conditions] -p P -m comment --comment "dnat name: .." -m multiport --dports a,b,.. -j CNI-DN-<hash>
//! CNI-DN-<hash>, per mapping:
//!     -s <pod subnet> [-d hostIP] -p P -m P --dport H -j CNI-HOSTPORT-SETMARK   (snat; no -s with masqAll)
//!     -s 127.0.0.1/32 [-d hostIP] -p P -m P --dport H -j CNI-HOSTPORT-SETMARK   (snat, IPv4, not masqAll)
//!     [-d hostIP] -p P -m P --dport H -j DNAT --to-destination <pod>:<port>
//! CNI-HOSTPORT-SETMARK:  -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark M/M
//! CNI-HOSTPORT-MASQ:     -m mark --mark M/M -j MASQUERADE
//! POSTROUTING (pos. 1):  -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use netfilter::iptables::{MULTIPORT_MAX, Rule, Target};
use netfilter::{ChainName, Comment, Family};

use crate::config::{Match, PortmapConf};
use crate::pod::Pod;

/// The shared chain every container's entry rules live in.
pub const TOP_DNAT: &str = "CNI-HOSTPORT-DNAT";
/// The shared chain that sets the "needs masquerade" mark.
pub const SETMARK: &str = "CNI-HOSTPORT-SETMARK";
/// The shared chain that masquerades marked packets.
pub const MASQ: &str = "CNI-HOSTPORT-MASQ";
/// The legacy shared SNAT chain (portmap < 0.7), only torn down.
pub const OLD_TOP_SNAT: &str = "CNI-HOSTPORT-SNAT";

/// A built-in or shared chain name (all constants above are valid names).
pub fn chain(name: &'static str) -> ChainName {
    // Only called with the constants of this module and built-in chain
    // names, which are valid.
    ChainName::new(name).unwrap_or_else(|_| unreachable!("invalid constant chain name {name}"))
}

fn comment(text: &'static str) -> Comment {
    Comment::new(text).unwrap_or_else(|_| unreachable!("invalid constant comment {text}"))
}

/// `-m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT` (PREROUTING, OUTPUT).
pub fn top_jump() -> Rule {
    Rule::new(Target::Jump(chain(TOP_DNAT))).dst_type_local()
}

/// The one rule of CNI-HOSTPORT-SETMARK.
pub fn setmark_rule(mark: u32) -> Rule {
    Rule::new(Target::SetXmark {
        value: mark,
        mask: mark,
    })
    .comment(comment("CNI portfwd masquerade mark"))
}

/// The one rule of CNI-HOSTPORT-MASQ.
pub fn masq_rule(mark: u32) -> Rule {
    Rule::new(Target::Masquerade).mark(mark, mark)
}

/// The POSTROUTING entry of CNI-HOSTPORT-MASQ (inserted at position 1).
pub fn masq_jump() -> Rule {
    Rule::new(Target::Jump(chain(MASQ))).comment(comment("CNI portfwd requiring masquerade"))
}

/// The container's entry rules in CNI-HOSTPORT-DNAT for `family`: per
/// protocol (sorted by name, as the reference sorts its map keys), per
/// batch of at most 15 host ports (every mapping's, in order, whatever its
/// hostIP family), with the family's conditions.
pub fn entry_rules(conf: &PortmapConf, pod: &Pod, family: Family) -> Vec<Rule> {
    let mut protos: Vec<_> = conf.mappings.iter().map(|m| m.protocol).collect();
    protos.sort_by_key(|p| p.as_str());
    protos.dedup();
    let mut out = vec![];
    for proto in protos {
        let ports: Vec<u16> = conf
            .mappings
            .iter()
            .filter(|m| m.protocol == proto)
            .map(|m| m.host_port)
            .collect();
        for batch in ports.chunks(MULTIPORT_MAX) {
            let mut r = Rule::new(Target::Jump(pod.dn_chain.clone()))
                .comment(pod.comment.clone())
                .multiport_dports(proto, batch);
            for c in &conf.conditions(family).items {
                r = match &c.what {
                    Match::Source(n) => r.source(*n, c.negate),
                    Match::Destination(n) => r.destination(*n, c.negate),
                    Match::InIface(i) => r.in_interface(i.clone(), c.negate),
                    Match::OutIface(i) => r.out_interface(i.clone(), c.negate),
                };
            }
            out.push(r);
        }
    }
    out
}

/// The rules of the container's CNI-DN chain for its address `pod_net`
/// (address with prefix) of `family`.
pub fn dn_rules(conf: &PortmapConf, family: Family, pod_net: IpNet) -> Vec<Rule> {
    let setmark = conf
        .external_set_mark_chain
        .clone()
        .unwrap_or_else(|| chain(SETMARK));
    let mut out = vec![];
    for m in conf.mappings.iter().filter(|m| m.applies_to(family)) {
        let base = |target: Target| {
            let r = Rule::new(target);
            let r = match m.host_ip {
                Some(ip) => r.destination(IpNet::from(ip), false),
                None => r,
            };
            r.dport(m.protocol, m.host_port)
        };
        if conf.snat {
            let hairpin = base(Target::Jump(setmark.clone()));
            // masqAll marks every source (the reference writes -s 0/0,
            // which iptables stores as no match at all).
            out.push(if conf.masq_all {
                hairpin
            } else {
                hairpin.source(pod_net.trunc(), false)
            });
            if family == Family::V4 && !conf.masq_all {
                let localhost = IpNet::from(IpAddr::V4(Ipv4Addr::LOCALHOST));
                out.push(base(Target::Jump(setmark.clone())).source(localhost, false));
            }
        }
        out.push(base(Target::Dnat(SocketAddr::new(
            pod_net.addr(),
            m.container_port,
        ))));
    }
    out
}

#[cfg(test)]
mod tests;
