//! Does a forward chain let a pod subnet's traffic through before its drop
//! policy? Rules of either firewall (iptables or nftables) are reduced to
//! the conditions the question depends on (addresses, interfaces,
//! conntrack state) and a verdict, and the chain is walked as the kernel
//! walks it: first match wins, a jump descends, `RETURN` or the end of a
//! user chain comes back, the end of the base chain is its policy.
//!
//! A rule is counted only when it matches *every* packet of the kind asked
//! about (a rule that also tests the protocol or a port accepts only part
//! of the traffic); a drop is counted the same way, so a drop that
//! matches only some packets is not taken as blocking the subnet.

use ipnet::IpNet;

/// A condition on an address or an interface, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test<T> {
    /// The value compared with.
    pub value: T,
    /// `!`/`!=`.
    pub negated: bool,
}

/// What a rule tests, as far as the question goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cond {
    /// Source prefix.
    pub src: Option<Test<IpNet>>,
    /// Destination prefix.
    pub dst: Option<Test<IpNet>>,
    /// Input interface (a trailing `+`/`*` is a prefix wildcard).
    pub iif: Option<Test<String>>,
    /// Output interface.
    pub oif: Option<Test<String>>,
    /// Conntrack states, lower case.
    pub ct: Option<Vec<String>>,
    /// Anything else (protocol, ports, marks, sets...): the rule cannot be
    /// shown to match every packet.
    pub other: bool,
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Accept: the packet leaves this chain (and, in iptables, the table).
    Accept,
    /// Drop or reject.
    Drop,
    /// Back to the calling chain.
    Return,
    /// Jump to a user chain.
    Jump(String),
    /// Anything that does not decide (log, counter, mark...).
    Continue,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its conditions.
    pub cond: Cond,
    /// Its action.
    pub action: Action,
}

/// Which packets of a pod subnet are asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The pod subnet.
    pub subnet: IpNet,
    /// The bridge pods are behind, when there is one.
    pub bridge: Option<&'a str>,
    /// `true`: a pod's packets out (source in the subnet, new and
    /// established). `false`: the replies back in (destination in the
    /// subnet, established).
    pub egress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cover {
    All,
    Some,
    None,
}

fn combine(a: Cover, b: Cover) -> Cover {
    match (a, b) {
        (Cover::None, _) | (_, Cover::None) => Cover::None,
        (Cover::All, Cover::All) => Cover::All,
        _ => Cover::Some,
    }
}

fn negate(c: Cover, negated: bool) -> Cover {
    match (c, negated) {
        (c, false) => c,
        (Cover::All, true) => Cover::None,
        (Cover::None, true) => Cover::All,
        (Cover::Some, true) => Cover::Some,
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A prefix test against the subnet's side of the packet.
fn own_prefix(t: &Test<IpNet>, subnet: &IpNet) -> Cover {
    let c = if t.value.contains(subnet) {
        Cover::All
    } else if !overlaps(&t.value, subnet) {
        Cover::None
    } else {
        Cover::Some
    };
    negate(c, t.negated)
}

/// A prefix test against the far side (any address).
fn any_prefix(t: &Test<IpNet>) -> Cover {
    if t.value.prefix_len() == 0 {
        negate(Cover::All, t.negated)
    } else {
        Cover::Some
    }
}

fn iface_matches(pattern: &str, name: &str) -> bool {
    match pattern
        .strip_suffix('+')
        .or_else(|| pattern.strip_suffix('*'))
    {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// An interface test against the bridge side.
fn own_iface(t: &Test<String>, bridge: Option<&str>) -> Cover {
    match bridge {
        Some(b) => negate(
            if iface_matches(&t.value, b) {
                Cover::All
            } else {
                Cover::None
            },
            t.negated,
        ),
        None if t.value == "+" || t.value == "*" => negate(Cover::All, t.negated),
        None => Cover::Some,
    }
}

/// An interface test against the far side (any interface).
fn any_iface(t: &Test<String>) -> Cover {
    if t.value == "+" || t.value == "*" {
        negate(Cover::All, t.negated)
    } else {
        Cover::Some
    }
}

fn covers(cond: &Cond, p: &Packet<'_>) -> Cover {
    let mut c = if cond.other { Cover::Some } else { Cover::All };
    let (own_addr, far_addr, own_if, far_if) = if p.egress {
        (&cond.src, &cond.dst, &cond.iif, &cond.oif)
    } else {
        (&cond.dst, &cond.src, &cond.oif, &cond.iif)
    };
    if let Some(t) = own_addr {
        c = combine(c, own_prefix(t, &p.subnet));
    }
    if let Some(t) = far_addr {
        c = combine(c, any_prefix(t));
    }
    if let Some(t) = own_if {
        c = combine(c, own_iface(t, p.bridge));
    }
    if let Some(t) = far_if {
        c = combine(c, any_iface(t));
    }
    if let Some(states) = &cond.ct {
        let has = |s: &str| states.iter().any(|x| x == s);
        let all = if p.egress {
            has("new") && has("established")
        } else {
            has("established")
        };
        c = combine(
            c,
            if all {
                Cover::All
            } else if p.egress && (has("new") || has("established")) {
                Cover::Some
            } else {
                Cover::None
            },
        );
    }
    c
}

/// The outcome of walking a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every such packet is accepted.
    Accepted,
    /// Every such packet is dropped (by a rule or the policy).
    Dropped,
    /// The chain ended without a verdict (a user chain).
    Fallthrough,
}

/// Walk `chain` (its rules from `rules_of`) for packets `p`; `depth`
/// bounds jumps (loops are impossible in the kernel, but a listing read
/// mid-change could look like one).
pub fn walk<'r>(
    rules_of: &dyn Fn(&str) -> Option<&'r [Rule]>,
    chain: &str,
    p: &Packet<'_>,
    depth: usize,
) -> Verdict {
    let Some(rules) = rules_of(chain) else {
        return Verdict::Fallthrough;
    };
    for r in rules {
        if covers(&r.cond, p) != Cover::All {
            continue;
        }
        match &r.action {
            Action::Accept => return Verdict::Accepted,
            Action::Drop => return Verdict::Dropped,
            Action::Return => return Verdict::Fallthrough,
            Action::Continue => {}
            Action::Jump(target) if depth < 16 => match walk(rules_of, target, p, depth + 1) {
                Verdict::Fallthrough => {}
                v => return v,
            },
            Action::Jump(_) => {}
        }
    }
    Verdict::Fallthrough
}

/// Whether a base chain with a drop policy lets both directions of the
/// subnet's traffic through.
pub fn accepted<'r>(
    rules_of: &dyn Fn(&str) -> Option<&'r [Rule]>,
    base: &str,
    subnet: IpNet,
    bridge: Option<&str>,
) -> bool {
    [true, false].into_iter().all(|egress| {
        let p = Packet {
            subnet,
            bridge,
            egress,
        };
        walk(rules_of, base, &p, 0) == Verdict::Accepted
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn t<T>(value: T) -> Option<Test<T>> {
        Some(Test {
            value,
            negated: false,
        })
    }

    fn rule(cond: Cond, action: Action) -> Rule {
        Rule { cond, action }
    }

    #[test]
    fn the_firewall_plugins_pair_of_rules_is_enough() {
        let rules = vec![
            rule(
                Cond {
                    dst: t(net("10.22.0.0/16")),
                    ct: Some(vec!["related".into(), "established".into()]),
                    ..Cond::default()
                },
                Action::Accept,
            ),
            rule(
                Cond {
                    src: t(net("10.22.0.0/16")),
                    ..Cond::default()
                },
                Action::Accept,
            ),
        ];
        let of = |c: &str| (c == "FORWARD").then_some(rules.as_slice());
        assert!(accepted(&of, "FORWARD", net("10.22.0.0/24"), Some("cni0")));
        assert!(!accepted(&of, "FORWARD", net("10.23.0.0/24"), Some("cni0")));
        // One direction alone is not enough.
        let half = &rules[1..];
        let of = |c: &str| (c == "FORWARD").then_some(half);
        assert!(!accepted(&of, "FORWARD", net("10.22.0.0/24"), Some("cni0")));
    }

    #[test]
    fn a_partial_accept_does_not_count_and_a_full_drop_stops_the_walk() {
        let tcp_only = rule(
            Cond {
                src: t(net("10.22.0.0/16")),
                other: true,
                ..Cond::default()
            },
            Action::Accept,
        );
        let drop_all = rule(Cond::default(), Action::Drop);
        let accept_all = rule(Cond::default(), Action::Accept);
        let rules = vec![tcp_only, drop_all, accept_all];
        let of = |c: &str| (c == "FORWARD").then_some(rules.as_slice());
        let p = Packet {
            subnet: net("10.22.0.0/16"),
            bridge: Some("cni0"),
            egress: true,
        };
        assert_eq!(walk(&of, "FORWARD", &p, 0), Verdict::Dropped);
    }

    #[test]
    fn docker_style_chains_by_interface_and_jumps() {
        let forward = vec![
            rule(Cond::default(), Action::Jump("DOCKER-USER".into())),
            rule(
                Cond {
                    iif: t("docker0".to_string()),
                    ..Cond::default()
                },
                Action::Accept,
            ),
            rule(Cond::default(), Action::Jump("CNI".into())),
        ];
        let user = vec![rule(Cond::default(), Action::Return)];
        let cni = vec![
            rule(
                Cond {
                    iif: t("cni+".to_string()),
                    ..Cond::default()
                },
                Action::Accept,
            ),
            rule(
                Cond {
                    oif: t("cni0".to_string()),
                    ct: Some(vec!["established".into(), "related".into()]),
                    ..Cond::default()
                },
                Action::Accept,
            ),
        ];
        let of = |c: &str| match c {
            "FORWARD" => Some(forward.as_slice()),
            "DOCKER-USER" => Some(user.as_slice()),
            "CNI" => Some(cni.as_slice()),
            _ => None,
        };
        assert!(accepted(&of, "FORWARD", net("10.22.0.0/16"), Some("cni0")));
        // Behind another bridge, nothing matches.
        assert!(!accepted(&of, "FORWARD", net("10.22.0.0/16"), Some("br9")));
        // ptp (no bridge): interface rules cannot be proven to match.
        assert!(!accepted(&of, "FORWARD", net("10.22.0.0/16"), None));
    }

    #[test]
    fn negations() {
        let not_pods = rule(
            Cond {
                src: Some(Test {
                    value: net("192.168.0.0/16"),
                    negated: true,
                }),
                ..Cond::default()
            },
            Action::Accept,
        );
        let rules = vec![not_pods];
        let of = |c: &str| (c == "FORWARD").then_some(rules.as_slice());
        let p = Packet {
            subnet: net("10.22.0.0/16"),
            bridge: None,
            egress: true,
        };
        assert_eq!(walk(&of, "FORWARD", &p, 0), Verdict::Accepted);
    }
}
