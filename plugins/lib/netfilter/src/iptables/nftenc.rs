//! iptables rules encoded the way iptables-nft 1.8 writes them into
//! nf_tables, so that they can be added in an nfnetlink transaction
//! ([`crate::nfbatch`]) instead of through `iptables-restore`.
//!
//! Why: iptables-nft 1.8.9 fetches and parses every rule of the table
//! before any change, even an append to a one-rule chain (measured: 3.7 ms
//! on an empty nat table, 10 ms with the state of 1,000 pods), so a tool
//! exec per pod start grows with the node. Written directly, a rule costs
//! the same whatever the table holds.
//!
//! Compatibility is the point: the expressions are exactly those of
//! iptables-nft's `nft_ipv4_add`/`nft_ipv6_add` (nft-shared.c, nft-ipv4.c):
//! input and output interface (`meta iifname`/`oifname` + `cmp` of the name
//! with its NUL, or of the prefix for a `+` wildcard), protocol (`meta
//! l4proto` + `cmp`), source and destination (`payload` of the bytes the
//! prefix covers + `cmp`, with a `bitwise` mask of the full address when the
//! prefix is not byte aligned), then the matches in order (`-m tcp/udp
//! --dport` natively as `payload` transport header + 2; `comment` and
//! `multiport` as xt compat `match` expressions with their kernel info
//! structs), a `counter`, and the verdict (`immediate`) or the xt `target`
//! (DNAT revision 2, MASQUERADE revision 0). `-m conntrack --ctstate` is
//! the xt `conntrack` match revision 3, as iptables-nft 1.8 writes it (it
//! does not translate it to a native `ct state`, and iptables-nft refuses
//! to list a table holding a native one). Rules carry `NFTA_RULE_COMPAT` with the protocol, as
//! iptables-nft sends it, which xt matches need at check time.
//! iptables-save, `iptables -C/-D` and the reference plugins read such
//! rules as if iptables-nft had written them; tests compare the kernel's
//! serialisation of both writers byte for byte.
//!
//! Anything else (SCTP ports, addrtype, mark, the MARK target) is
//! [`Unsupported`] and the caller uses iptables-restore.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::rule::{CtStates, Module, Rule, Target};
use crate::nfnetlink::attr::{self, AttrBuf};
use crate::nfnetlink::nft::*;
use crate::types::{Family, IfName, Protocol};

/// The rule uses something this encoder does not write; use
/// iptables-restore for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

/// An encoded rule: the content of `NFTA_RULE_EXPRESSIONS` and of
/// `NFTA_RULE_COMPAT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The expression list (a sequence of `NFTA_LIST_ELEM`).
    pub expressions: Vec<u8>,
    /// The compat attributes (protocol, flags).
    pub compat: Vec<u8>,
}

/// xt_multiport: XT_MULTIPORT_DESTINATION, XT_MULTI_PORTS.
const XT_MULTIPORT_DESTINATION: u8 = 1;
const XT_MULTI_PORTS: usize = 15;
/// nf_nat: NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED.
const NF_NAT_RANGE_MAP_IPS: u32 = 1;
const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 2;

/// xt_conntrack: XT_CONNTRACK_STATE, and the size of struct
/// xt_conntrack_mtinfo3 (164 bytes) XT_ALIGN'ed to 8.
const XT_CONNTRACK_STATE: u16 = 1;
const CONNTRACK_INFO_LEN: usize = 168;
/// Offsets in xt_conntrack_mtinfo3: after eight 16-byte addresses and
/// masks (128), expires_min/max (8), l4proto and four ports (10) come
/// match_flags (146), invert_flags (148) and state_mask (150).
const CONNTRACK_MATCH_FLAGS: usize = 146;
const CONNTRACK_STATE_MASK: usize = 150;

/// The expressions iptables-nft writes, on top of the attribute writer.
trait Exprs {
    /// One expression of the list.
    fn expr(&mut self, name: &str, data: impl FnOnce(&mut AttrBuf));
    fn meta(&mut self, key: u32);
    fn cmp(&mut self, negate: bool, data: &[u8]);
    fn payload(&mut self, base: u32, offset: u32, len: u32);
    fn bitwise(&mut self, mask: &[u8]);
    fn xt(&mut self, kind: &str, name: &str, rev: u32, info: &[u8]);
    fn verdict(&mut self, code: i32, chain: Option<&str>);
}

impl Exprs for AttrBuf {
    fn expr(&mut self, name: &str, data: impl FnOnce(&mut AttrBuf)) {
        self.nest(NFTA_LIST_ELEM, |e| {
            e.str(NFTA_EXPR_NAME, name);
            e.nest(NFTA_EXPR_DATA, data);
        });
    }

    fn meta(&mut self, key: u32) {
        self.expr("meta", |d| {
            d.be32(NFTA_META_KEY, key);
            d.be32(NFTA_META_DREG, NFT_REG_1);
        });
    }

    fn cmp(&mut self, negate: bool, data: &[u8]) {
        self.expr("cmp", |d| {
            d.be32(NFTA_CMP_SREG, NFT_REG_1);
            d.be32(NFTA_CMP_OP, if negate { NFT_CMP_NEQ } else { NFT_CMP_EQ });
            d.nest(NFTA_CMP_DATA, |v| v.put(NFTA_DATA_VALUE, data));
        });
    }

    fn payload(&mut self, base: u32, offset: u32, len: u32) {
        self.expr("payload", |d| {
            d.be32(NFTA_PAYLOAD_DREG, NFT_REG_1);
            d.be32(NFTA_PAYLOAD_BASE, base);
            d.be32(NFTA_PAYLOAD_OFFSET, offset);
            d.be32(NFTA_PAYLOAD_LEN, len);
        });
    }

    fn bitwise(&mut self, mask: &[u8]) {
        self.expr("bitwise", |d| {
            d.be32(NFTA_BITWISE_SREG, NFT_REG_1);
            d.be32(NFTA_BITWISE_DREG, NFT_REG_1);
            d.be32(NFTA_BITWISE_LEN, mask.len() as u32);
            d.nest(NFTA_BITWISE_MASK, |v| v.put(NFTA_DATA_VALUE, mask));
            d.nest(NFTA_BITWISE_XOR, |v| {
                v.put(NFTA_DATA_VALUE, &vec![0; mask.len()]);
            });
        });
    }

    fn xt(&mut self, kind: &str, name: &str, rev: u32, info: &[u8]) {
        self.expr(kind, |d| {
            d.str(NFTA_XT_NAME, name);
            d.be32(NFTA_XT_REV, rev);
            d.put(NFTA_XT_INFO, info);
        });
    }

    fn verdict(&mut self, code: i32, chain: Option<&str>) {
        self.expr("immediate", |d| {
            d.be32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
            d.nest(NFTA_IMMEDIATE_DATA, |data| {
                data.nest(NFTA_DATA_VERDICT, |v| {
                    v.put(NFTA_VERDICT_CODE, &code.to_be_bytes());
                    if let Some(c) = chain {
                        v.str(NFTA_VERDICT_CHAIN, c);
                    }
                });
            });
        });
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// iptables-nft's add_iniface/add_outiface.
fn interface(b: &mut AttrBuf, key: u32, name: &IfName, negate: bool) -> Result<(), Unsupported> {
    let n = name.as_str();
    b.meta(key);
    match n.strip_suffix('+') {
        Some("") => return Err(Unsupported("interface wildcard '+' alone")),
        Some(prefix) => b.cmp(negate, prefix.as_bytes()),
        None => {
            let mut v = n.as_bytes().to_vec();
            v.push(0);
            b.cmp(negate, &v);
        }
    }
    Ok(())
}

/// iptables-nft's add_addr: load the bytes the prefix covers; a prefix
/// that is not byte aligned loads the whole address and masks it.
fn address(b: &mut AttrBuf, offset: u32, net: IpNet, negate: bool) {
    let addr = ip_bytes(net.trunc().addr());
    let mask = ip_bytes(net.netmask());
    let full = addr.len();
    let aligned = net.prefix_len().is_multiple_of(8);
    if aligned {
        let len = usize::from(net.prefix_len() / 8);
        b.payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len as u32);
        b.cmp(negate, &addr[..len]);
    } else {
        b.payload(NFT_PAYLOAD_NETWORK_HEADER, offset, full as u32);
        b.bitwise(&mask);
        b.cmp(negate, &addr);
    }
}

/// struct xt_comment_info { char comment[256]; }
fn comment_info(text: &str) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    v.resize(256, 0);
    v
}

/// struct xt_multiport_v1 (48 bytes): flags, count, ports[15] (host
/// order), pflags[15], invert.
fn multiport_info(ports: &[u16]) -> Result<Vec<u8>, Unsupported> {
    if ports.is_empty() || ports.len() > XT_MULTI_PORTS {
        return Err(Unsupported("multiport list size"));
    }
    let mut v = vec![XT_MULTIPORT_DESTINATION, ports.len() as u8];
    for i in 0..XT_MULTI_PORTS {
        v.extend_from_slice(&ports.get(i).copied().unwrap_or(0).to_ne_bytes());
    }
    v.extend_from_slice(&[0; XT_MULTI_PORTS]);
    v.push(0);
    Ok(v)
}

/// struct xt_conntrack_mtinfo3 matching only `--ctstate`: match_flags
/// XT_CONNTRACK_STATE and the state mask, everything else zero (host
/// byte order, like every xt info struct).
fn conntrack_info(states: CtStates) -> Vec<u8> {
    let mut v = vec![0; CONNTRACK_INFO_LEN];
    v[CONNTRACK_MATCH_FLAGS..CONNTRACK_MATCH_FLAGS + 2]
        .copy_from_slice(&XT_CONNTRACK_STATE.to_ne_bytes());
    v[CONNTRACK_STATE_MASK..CONNTRACK_STATE_MASK + 2].copy_from_slice(&states.mask().to_ne_bytes());
    v
}

/// struct nf_nat_range2 (44 bytes, XT_ALIGN'ed to 48) for DNAT to one
/// address and port.
fn dnat_info(to: SocketAddr) -> Vec<u8> {
    let mut addr = ip_bytes(to.ip());
    addr.resize(16, 0);
    let mut v = (NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED)
        .to_ne_bytes()
        .to_vec();
    v.extend_from_slice(&addr);
    v.extend_from_slice(&addr);
    v.extend_from_slice(&to.port().to_be_bytes());
    v.extend_from_slice(&to.port().to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.resize(48, 0);
    v
}

/// The info of MASQUERADE revision 0 as iptables writes it (no port
/// range): IPv4 `struct nf_nat_ipv4_multi_range_compat` with `rangesize`
/// 1, IPv6 `struct nf_nat_range`, zero-filled, padded to `XT_ALIGN`.
fn masquerade_info(family: Family) -> Vec<u8> {
    match family {
        Family::V4 => {
            let mut v = 1u32.to_ne_bytes().to_vec();
            v.resize(24, 0);
            v
        }
        Family::V6 => vec![0; 40],
    }
}

/// Encode `rule` for `family` as iptables-nft does.
pub fn encode(rule: &Rule, family: Family) -> Result<Encoded, Unsupported> {
    let (saddr_off, daddr_off) = match family {
        Family::V4 => (12, 16),
        Family::V6 => (8, 24),
    };
    let proto = match rule.proto.split_first() {
        None => None,
        Some((p, rest)) if rest.iter().all(|q| q == p) => Some(*p),
        Some(_) => return Err(Unsupported("two protocols")),
    };
    let mut b = AttrBuf::new();
    if let Some((name, neg)) = &rule.iif {
        interface(&mut b, NFT_META_IIFNAME, name, *neg)?;
    }
    if let Some((name, neg)) = &rule.oif {
        interface(&mut b, NFT_META_OIFNAME, name, *neg)?;
    }
    if let Some(p) = proto {
        b.meta(NFT_META_L4PROTO);
        b.cmp(false, &[p.number()]);
    }
    for (off, slot) in [(saddr_off, &rule.src), (daddr_off, &rule.dst)] {
        if let Some((net, neg)) = slot {
            if Family::of_net(net) != family {
                return Err(Unsupported("address of the other family"));
            }
            if net.prefix_len() == 0 {
                return Err(Unsupported("zero-length prefix"));
            }
            address(&mut b, off, *net, *neg);
        }
    }
    for m in &rule.modules {
        match m {
            Module::Comment(c) => b.xt("match", "comment", 0, &comment_info(c.as_str())),
            Module::Dport(port) => match proto {
                Some(Protocol::Tcp | Protocol::Udp) => {
                    b.payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
                    b.cmp(false, &port.to_be_bytes());
                }
                _ => return Err(Unsupported("port match other than tcp/udp")),
            },
            Module::Multiport(ports) => {
                if proto.is_none() {
                    return Err(Unsupported("multiport without a protocol"));
                }
                b.xt("match", "multiport", 1, &multiport_info(ports)?);
            }
            Module::Conntrack(states) => {
                if states.mask() == 0 {
                    return Err(Unsupported("conntrack match without a state"));
                }
                b.xt("match", "conntrack", 3, &conntrack_info(*states));
            }
            Module::DstTypeLocal => return Err(Unsupported("addrtype match")),
            Module::Mark { .. } => return Err(Unsupported("mark match")),
        }
    }
    b.expr("counter", |d| {
        d.be64(NFTA_COUNTER_BYTES, 0);
        d.be64(NFTA_COUNTER_PACKETS, 0);
    });
    match &rule.target {
        Target::Accept => b.verdict(NF_ACCEPT, None),
        Target::Drop => b.verdict(NF_DROP, None),
        Target::Return => b.verdict(NFT_RETURN, None),
        Target::Jump(c) => b.verdict(NFT_JUMP, Some(c.as_str())),
        Target::Dnat(to) => {
            if Family::of(to.ip()) != family || proto.is_none() {
                return Err(Unsupported(
                    "DNAT of the other family or without a protocol",
                ));
            }
            b.xt("target", "DNAT", 2, &dnat_info(*to));
        }
        Target::Masquerade => b.xt("target", "MASQUERADE", 0, &masquerade_info(family)),
        Target::SetXmark { .. } => return Err(Unsupported("MARK target")),
    }
    let mut compat = AttrBuf::new();
    compat.be32(
        NFTA_RULE_COMPAT_PROTO,
        u32::from(proto.map(Protocol::number).unwrap_or(0)),
    );
    compat.be32(NFTA_RULE_COMPAT_FLAGS, 0);
    Ok(Encoded {
        expressions: b.into_bytes(),
        compat: compat.into_bytes(),
    })
}

/// Whether `kernel`, a rule's `NFTA_RULE_EXPRESSIONS` as the kernel dumps
/// it, is the rule `enc` encodes: the same expressions in the same order,
/// counters aside (their values change with traffic), each carrying every
/// attribute of ours with the same value. The kernel may add attributes of
/// its own (`NFTA_BITWISE_OP`) and writes some nests without
/// `NLA_F_NESTED` (a verdict), so nested values are compared attribute by
/// attribute. This is how a rule without a comment (an address's ACCEPT)
/// is found by its content, as `iptables -C` finds it.
pub fn same_expressions(kernel: &[u8], enc: &Encoded) -> bool {
    let (Some(have), Some(want)) = (expressions(kernel), expressions(&enc.expressions)) else {
        return false;
    };
    have.len() == want.len()
        && have
            .iter()
            .zip(&want)
            .all(|((hn, hd), (wn, wd))| hn == wn && covers(hd, wd))
}

/// The (name, data) of each expression of a list, counters left out.
fn expressions(list: &[u8]) -> Option<Vec<(String, &[u8])>> {
    let mut out = vec![];
    for elem in attr::attrs(list)? {
        if elem.kind != NFTA_LIST_ELEM {
            continue;
        }
        let attrs = attr::attrs(elem.value)?;
        let name = attr::find(&attrs, NFTA_EXPR_NAME).and_then(attr::c_string)?;
        if name == "counter" {
            continue;
        }
        let data = attr::find(&attrs, NFTA_EXPR_DATA).unwrap_or_default();
        out.push((name, data));
    }
    Some(out)
}

/// Whether the attributes in `have` include each of `want`'s with an equal
/// value (nested values compared the same way).
fn covers(have: &[u8], want: &[u8]) -> bool {
    let (Some(h), Some(w)) = (attr::attrs(have), attr::attrs(want)) else {
        return have == want;
    };
    w.iter().all(|wa| {
        h.iter().any(|ha| {
            ha.kind == wa.kind
                && (ha.value == wa.value || (!wa.value.is_empty() && covers(ha.value, wa.value)))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChainName, Comment};

    #[test]
    fn struct_sizes() {
        assert_eq!(comment_info("x").len(), 256);
        let m = multiport_info(&[8080, 1]).unwrap();
        assert_eq!(m.len(), 48);
        assert_eq!(&m[..2], &[1, 2]);
        assert_eq!(&m[2..4], &8080u16.to_ne_bytes());
        assert!(multiport_info(&[1; 16]).is_err());
        let d = dnat_info("10.0.0.2:80".parse().unwrap());
        assert_eq!(d.len(), 48);
        assert_eq!(&d[4..8], &[10, 0, 0, 2]);
        assert_eq!(&d[20..24], &[10, 0, 0, 2]);
        assert_eq!(&d[36..38], &80u16.to_be_bytes());
        let d6 = dnat_info("[fd00::2]:80".parse().unwrap());
        assert_eq!(d6[4], 0xfd);
        assert_eq!(d6[19], 2);
    }

    #[test]
    fn masquerade_info_sizes() {
        let v4 = masquerade_info(Family::V4);
        assert_eq!(v4.len(), 24);
        assert_eq!(&v4[..4], &1u32.to_ne_bytes());
        assert_eq!(masquerade_info(Family::V6), vec![0; 40]);
    }

    #[test]
    fn conntrack_info_layout() {
        let i = conntrack_info(CtStates::RELATED.union(CtStates::ESTABLISHED));
        assert_eq!(i.len(), 168);
        assert_eq!(&i[146..148], &1u16.to_ne_bytes());
        assert_eq!(&i[150..152], &6u16.to_ne_bytes());
        assert_eq!(i.iter().filter(|b| **b != 0).count(), 2);
    }

    #[test]
    fn same_expressions_ignores_counters_and_tells_rules_apart() {
        let a = Rule::new(Target::Accept).source("10.0.0.2/32".parse().unwrap(), false);
        let b = Rule::new(Target::Accept).source("10.0.0.3/32".parse().unwrap(), false);
        let ea = encode(&a, Family::V4).unwrap();
        let eb = encode(&b, Family::V4).unwrap();
        assert!(same_expressions(&ea.expressions, &ea));
        assert!(!same_expressions(&ea.expressions, &eb));
        // The same rule with its counter removed (as if it had counted
        // other values) still matches.
        let without_counter: Vec<u8> = {
            let mut out = AttrBuf::new();
            for elem in attr::attrs(&ea.expressions).unwrap() {
                let inner = attr::attrs(elem.value).unwrap();
                let name = attr::find(&inner, NFTA_EXPR_NAME)
                    .and_then(attr::c_string)
                    .unwrap();
                if name != "counter" {
                    out.copy(&elem);
                }
            }
            out.into_bytes()
        };
        assert!(same_expressions(&without_counter, &ea));
        assert!(!same_expressions(&[1, 2, 3], &ea));
    }

    #[test]
    fn unsupported_parts_are_refused() {
        let r = Rule::new(Target::SetXmark {
            value: 0x2000,
            mask: 0x2000,
        });
        assert!(encode(&r, Family::V4).is_err());
        let r = Rule::new(Target::Accept).dst_type_local();
        assert!(encode(&r, Family::V4).is_err());
        let r = Rule::new(Target::Accept).dport(Protocol::Sctp, 1);
        assert!(encode(&r, Family::V4).is_err());
        let r = Rule::new(Target::Accept).source("fd00::/8".parse().unwrap(), false);
        assert!(encode(&r, Family::V4).is_err());
        let r = Rule::new(Target::Jump(ChainName::new("X").unwrap()))
            .comment(Comment::new("c").unwrap())
            .multiport_dports(Protocol::Udp, &[1, 2]);
        let e = encode(&r, Family::V6).unwrap();
        assert!(!e.expressions.is_empty());
        assert_eq!(&e.compat[4..8], &17u32.to_be_bytes());
    }
}
