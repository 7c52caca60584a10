//! Typed iptables rules. A [`Rule`] is built from validated values only and
//! rendered to words in the order iptables-save prints them (address and
//! interface matches, protocol, then `-m` modules in the order added, then
//! the target), so generated scripts read like a dump and compare equal to
//! one.

use std::net::SocketAddr;

use ipnet::IpNet;

use super::save::{SavedRule, normalize};
use super::syntax::join;
use crate::error::FirewallError;
use crate::types::{ChainName, Comment, Family, IfName, Protocol};

/// An iptables table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `nat`.
    Nat,
    /// `filter`.
    Filter,
    /// `mangle`.
    Mangle,
    /// `raw`.
    Raw,
}

impl Table {
    /// The table name.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Nat => "nat",
            Table::Filter => "filter",
            Table::Mangle => "mangle",
            Table::Raw => "raw",
        }
    }
}

/// Where a rule jumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `-j ACCEPT`.
    Accept,
    /// `-j DROP`.
    Drop,
    /// `-j RETURN`.
    Return,
    /// `-j MASQUERADE`.
    Masquerade,
    /// `-j <chain>`.
    Jump(ChainName),
    /// `-j DNAT --to-destination ip:port` (`[ip6]:port`).
    Dnat(SocketAddr),
    /// `-j MARK --set-xmark value/mask`.
    SetXmark {
        /// Mark bits to set.
        value: u32,
        /// Mask of bits to change.
        mask: u32,
    },
}

/// An `-m` module match, in the order added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Module {
    Comment(Comment),
    /// `-m <proto> --dport N` (protocol from the rule).
    Dport(u16),
    /// `-m multiport --dports a,b,...`.
    Multiport(Vec<u16>),
    /// `-m addrtype --dst-type LOCAL`.
    DstTypeLocal,
    /// `-m mark --mark value/mask`.
    Mark {
        value: u32,
        mask: u32,
    },
    /// `-m conntrack --ctstate S1,S2`.
    Conntrack(CtStates),
}

/// A set of conntrack states for `-m conntrack --ctstate` (xt_conntrack's
/// `state_mask`: `XT_CONNTRACK_STATE_BIT(ctinfo)`, plus the two pseudo
/// states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtStates(u16);

impl CtStates {
    /// `INVALID` (bit 0).
    pub const INVALID: CtStates = CtStates(1 << 0);
    /// `ESTABLISHED` (`IP_CT_ESTABLISHED` = 0: bit 1).
    pub const ESTABLISHED: CtStates = CtStates(1 << 1);
    /// `RELATED` (`IP_CT_RELATED` = 1: bit 2).
    pub const RELATED: CtStates = CtStates(1 << 2);
    /// `NEW` (`IP_CT_NEW` = 2: bit 3).
    pub const NEW: CtStates = CtStates(1 << 3);
    /// `UNTRACKED` (`XT_CONNTRACK_STATE_UNTRACKED`, bit 8).
    pub const UNTRACKED: CtStates = CtStates(1 << 8);

    /// The states of both sets.
    pub const fn union(self, other: CtStates) -> CtStates {
        CtStates(self.0 | other.0)
    }

    /// The kernel's `state_mask`.
    pub fn mask(self) -> u16 {
        self.0
    }

    /// The names in the order iptables-save prints them
    /// (libxt_conntrack `conntrack_dump_states`).
    pub fn names(self) -> Vec<&'static str> {
        [
            (CtStates::INVALID, "INVALID"),
            (CtStates::NEW, "NEW"),
            (CtStates::RELATED, "RELATED"),
            (CtStates::ESTABLISHED, "ESTABLISHED"),
            (CtStates::UNTRACKED, "UNTRACKED"),
        ]
        .into_iter()
        .filter(|(s, _)| self.0 & s.0 != 0)
        .map(|(_, n)| n)
        .collect()
    }
}

/// Most ports one multiport match accepts (xt_multiport
/// XT_MULTI_PORTS).
pub const MULTIPORT_MAX: usize = 15;

/// One iptables rule: matches plus a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub(crate) src: Option<(IpNet, bool)>,
    pub(crate) dst: Option<(IpNet, bool)>,
    pub(crate) iif: Option<(IfName, bool)>,
    pub(crate) oif: Option<(IfName, bool)>,
    pub(crate) proto: Vec<Protocol>,
    pub(crate) modules: Vec<Module>,
    pub(crate) target: Target,
}

impl Rule {
    /// A rule that matches everything and jumps to `target`.
    pub fn new(target: Target) -> Rule {
        Rule {
            src: None,
            dst: None,
            iif: None,
            oif: None,
            proto: vec![],
            modules: vec![],
            target,
        }
    }

    /// `-s net` (`! -s net` when `negate`).
    pub fn source(mut self, net: IpNet, negate: bool) -> Rule {
        self.src = Some((net, negate));
        self
    }

    /// `-d net` (`! -d net` when `negate`).
    pub fn destination(mut self, net: IpNet, negate: bool) -> Rule {
        self.dst = Some((net, negate));
        self
    }

    /// `-i name`.
    pub fn in_interface(mut self, name: IfName, negate: bool) -> Rule {
        self.iif = Some((name, negate));
        self
    }

    /// `-o name`.
    pub fn out_interface(mut self, name: IfName, negate: bool) -> Rule {
        self.oif = Some((name, negate));
        self
    }

    /// `-p proto`.
    pub fn protocol(mut self, proto: Protocol) -> Rule {
        self.proto.push(proto);
        self
    }

    /// `-p proto -m proto --dport port`.
    pub fn dport(mut self, proto: Protocol, port: u16) -> Rule {
        self.proto.push(proto);
        self.modules.push(Module::Dport(port));
        self
    }

    /// `-p proto -m multiport --dports a,b,...` (1 to 15 ports).
    pub fn multiport_dports(mut self, proto: Protocol, ports: &[u16]) -> Rule {
        self.proto.push(proto);
        self.modules.push(Module::Multiport(ports.to_vec()));
        self
    }

    /// `-m comment --comment text`.
    pub fn comment(mut self, c: Comment) -> Rule {
        self.modules.push(Module::Comment(c));
        self
    }

    /// `-m addrtype --dst-type LOCAL`.
    pub fn dst_type_local(mut self) -> Rule {
        self.modules.push(Module::DstTypeLocal);
        self
    }

    /// `-m mark --mark value/mask`.
    pub fn mark(mut self, value: u32, mask: u32) -> Rule {
        self.modules.push(Module::Mark { value, mask });
        self
    }

    /// `-m conntrack --ctstate ...`.
    pub fn ctstate(mut self, states: CtStates) -> Rule {
        self.modules.push(Module::Conntrack(states));
        self
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The words of this rule (after `-A CHAIN`) for `family`. Fails when
    /// an address or DNAT destination is of the other family, protocols
    /// conflict, or a multiport list has 0 or more than 15 ports.
    pub fn words(&self, family: Family) -> Result<Vec<String>, FirewallError> {
        let mut w: Vec<String> = vec![];
        let mut push = |parts: &[&str]| w.extend(parts.iter().map(|s| s.to_string()));
        for (flag, addr) in [("-s", &self.src), ("-d", &self.dst)] {
            if let Some((net, neg)) = addr {
                if Family::of_net(net) != family {
                    return Err(FirewallError::invalid(
                        "address",
                        net,
                        format!("an {} rule cannot match it", family.label()),
                    ));
                }
                if *neg {
                    push(&["!"]);
                }
                push(&[flag, &net.trunc().to_string()]);
            }
        }
        for (flag, name) in [("-i", &self.iif), ("-o", &self.oif)] {
            if let Some((name, neg)) = name {
                if *neg {
                    push(&["!"]);
                }
                push(&[flag, name.as_str()]);
            }
        }
        let proto = match self.proto.split_first() {
            None => None,
            Some((p, rest)) if rest.iter().all(|q| q == p) => Some(*p),
            Some(_) => {
                return Err(FirewallError::invalid(
                    "rule",
                    format!("{:?}", self.proto),
                    "one rule can match only one protocol",
                ));
            }
        };
        if let Some(p) = proto {
            push(&["-p", p.as_str()]);
        }
        for m in &self.modules {
            match m {
                Module::Comment(c) => push(&["-m", "comment", "--comment", c.as_str()]),
                Module::Dport(port) => {
                    // proto is set whenever a Dport module exists.
                    let p = proto.map(Protocol::as_str).unwrap_or("tcp");
                    push(&["-m", p, "--dport", &port.to_string()]);
                }
                Module::Multiport(ports) => {
                    if ports.is_empty() || ports.len() > MULTIPORT_MAX {
                        return Err(FirewallError::invalid(
                            "multiport list",
                            format!("{ports:?}"),
                            format!("it must hold 1 to {MULTIPORT_MAX} ports"),
                        ));
                    }
                    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
                    push(&["-m", "multiport", "--dports", &list.join(",")]);
                }
                Module::DstTypeLocal => push(&["-m", "addrtype", "--dst-type", "LOCAL"]),
                Module::Mark { value, mask } => {
                    push(&["-m", "mark", "--mark", &format!("{value:#x}/{mask:#x}")]);
                }
                Module::Conntrack(states) => {
                    if states.mask() == 0 {
                        return Err(FirewallError::invalid(
                            "conntrack match",
                            "--ctstate",
                            "it needs at least one state",
                        ));
                    }
                    push(&["-m", "conntrack", "--ctstate", &states.names().join(",")]);
                }
            }
        }
        match &self.target {
            Target::Accept => push(&["-j", "ACCEPT"]),
            Target::Drop => push(&["-j", "DROP"]),
            Target::Return => push(&["-j", "RETURN"]),
            Target::Masquerade => push(&["-j", "MASQUERADE"]),
            Target::Jump(c) => push(&["-j", c.as_str()]),
            Target::Dnat(to) => {
                if Family::of(to.ip()) != family {
                    return Err(FirewallError::invalid(
                        "DNAT destination",
                        to,
                        format!("an {} rule cannot translate to it", family.label()),
                    ));
                }
                // SocketAddr's Display already brackets IPv6: [fd00::2]:80.
                push(&["-j", "DNAT", "--to-destination", &to.to_string()]);
            }
            Target::SetXmark { value, mask } => push(&[
                "-j",
                "MARK",
                "--set-xmark",
                &format!("{value:#x}/{mask:#x}"),
            ]),
        }
        Ok(w)
    }

    /// Whether `saved`, read back from a dump, is this rule. Both sides are
    /// compared normalised ([`normalize`]), whatever form the tool printed
    /// the addresses in.
    pub fn is_saved_as(&self, saved: &SavedRule, family: Family) -> bool {
        self.words(family)
            .map(|w| normalize(&w) == saved.normalized())
            .unwrap_or(false)
    }

    /// The rule as `iptables -S` would print it after `-A CHAIN`, for
    /// messages (empty when it cannot be written for `family`).
    pub fn text(&self, family: Family) -> String {
        self.words(family).map(|w| join(&w)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Comment {
        Comment::new(s).unwrap()
    }

    #[test]
    fn masquerade_rules_render_like_iptables_save() {
        let ch = ChainName::new("CNI-5a1527d2fe74c1a342e29c75").unwrap();
        let cm = c(r#"name: "n" id: "abc""#);
        let jump = Rule::new(Target::Jump(ch))
            .source("10.99.0.2/32".parse().unwrap(), false)
            .comment(cm.clone());
        assert_eq!(
            join(&jump.words(Family::V4).unwrap()),
            r#"-s 10.99.0.2/32 -m comment --comment "name: \"n\" id: \"abc\"" -j CNI-5a1527d2fe74c1a342e29c75"#
        );
        let masq = Rule::new(Target::Masquerade)
            .destination(Family::V4.multicast(), true)
            .comment(cm.clone());
        assert_eq!(
            join(&masq.words(Family::V4).unwrap()),
            r#"! -d 224.0.0.0/4 -m comment --comment "name: \"n\" id: \"abc\"" -j MASQUERADE"#
        );
        // The prefix is written as its network address.
        let acc = Rule::new(Target::Accept)
            .destination("10.99.0.7/24".parse().unwrap(), false)
            .comment(cm);
        assert!(join(&acc.words(Family::V4).unwrap()).starts_with("-d 10.99.0.0/24 -m comment"));
    }

    #[test]
    fn portmap_shapes() {
        let dn = ChainName::new("CNI-DN-0123456789abcdef01234").unwrap();
        let entry = Rule::new(Target::Jump(dn))
            .comment(c(r#"dnat name: "n" id: "abc""#))
            .multiport_dports(Protocol::Tcp, &[8080, 8081]);
        assert_eq!(
            join(&entry.words(Family::V4).unwrap()),
            r#"-p tcp -m comment --comment "dnat name: \"n\" id: \"abc\"" -m multiport --dports 8080,8081 -j CNI-DN-0123456789abcdef01234"#
        );
        let dnat =
            Rule::new(Target::Dnat("[fd00::2]:80".parse().unwrap())).dport(Protocol::Udp, 53);
        assert_eq!(
            join(&dnat.words(Family::V6).unwrap()),
            "-p udp -m udp --dport 53 -j DNAT --to-destination [fd00::2]:80"
        );
        let mark = Rule::new(Target::SetXmark {
            value: 0x2000,
            mask: 0x2000,
        })
        .comment(c("CNI portfwd masquerade mark"));
        assert_eq!(
            join(&mark.words(Family::V4).unwrap()),
            r#"-m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000"#
        );
        let masq = Rule::new(Target::Masquerade).mark(0x2000, 0x2000);
        assert_eq!(
            join(&masq.words(Family::V4).unwrap()),
            "-m mark --mark 0x2000/0x2000 -j MASQUERADE"
        );
        let top =
            Rule::new(Target::Jump(ChainName::new("CNI-HOSTPORT-DNAT").unwrap())).dst_type_local();
        assert_eq!(
            join(&top.words(Family::V4).unwrap()),
            "-m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT"
        );
    }

    #[test]
    fn firewall_shapes() {
        let accept = Rule::new(Target::Accept)
            .destination("10.88.0.2/16".parse().unwrap(), false)
            .ctstate(CtStates::RELATED.union(CtStates::ESTABLISHED));
        // The reference writes the address as a host prefix; a /16 is
        // truncated, so callers pass Family::host(ip).
        assert_eq!(
            join(&accept.words(Family::V4).unwrap()),
            "-d 10.88.0.0/16 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        );
        let iso = Rule::new(Target::Jump(
            ChainName::new("CNI-ISOLATION-STAGE-2").unwrap(),
        ))
        .in_interface(IfName::new("cni0").unwrap(), false)
        .out_interface(IfName::new("cni0").unwrap(), true)
        .comment(c("CNI firewall plugin rules (ingressPolicy: same-bridge)"));
        assert_eq!(
            join(&iso.words(Family::V6).unwrap()),
            r#"-i cni0 ! -o cni0 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-2"#
        );
        assert_eq!(
            CtStates::NEW
                .union(CtStates::INVALID)
                .union(CtStates::UNTRACKED)
                .names(),
            ["INVALID", "NEW", "UNTRACKED"]
        );
        let none = Rule::new(Target::Accept).ctstate(CtStates(0));
        assert!(none.words(Family::V4).is_err());
    }

    #[test]
    fn rejects_inconsistent_rules() {
        let v6 = Rule::new(Target::Accept).source("fd00::1/128".parse().unwrap(), false);
        assert!(v6.words(Family::V4).is_err());
        assert!(v6.words(Family::V6).is_ok());
        let two = Rule::new(Target::Accept)
            .dport(Protocol::Tcp, 1)
            .dport(Protocol::Udp, 2);
        assert!(two.words(Family::V4).is_err());
        let many = Rule::new(Target::Accept).multiport_dports(Protocol::Tcp, &[1; 16]);
        assert!(many.words(Family::V4).is_err());
        let none = Rule::new(Target::Accept).multiport_dports(Protocol::Tcp, &[]);
        assert!(none.words(Family::V4).is_err());
        let dnat = Rule::new(Target::Dnat("10.0.0.1:80".parse().unwrap()));
        assert!(dnat.words(Family::V6).is_err());
    }
}
