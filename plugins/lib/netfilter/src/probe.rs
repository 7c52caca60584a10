//! Read-only questions to nf_tables over nfnetlink, answered in
//! microseconds without starting a process: "does table T / chain C
//! exist?" and "which rules (handle, comment) does chain C hold?".
//!
//! They let the common cases skip reads entirely: DEL when nothing is left
//! (containerd's second DEL), ADD when the chain is new, and every check of
//! the nftables masquerade table on a node that only uses iptables. The
//! answers are only used as shortcuts: [`Presence::Unknown`] (nf_tables not
//! reachable, an unexpected error) sends the caller down the exec path.
//!
//! A single `NFT_MSG_GETTABLE` / `NFT_MSG_GETCHAIN` request (not a dump)
//! is looked up by name in the kernel (nf_tables_api.c), so its cost does
//! not grow with the number of pods. The rule dump is filtered to one chain
//! by the kernel; it replaces `nft -j list chain`, which measured 3 ms with
//! an empty chain and 36 ms with 500 rules (nft builds its full cache and
//! prints JSON), where the dump takes well under a millisecond. The socket is opened per probe set in
//! the calling thread's network namespace, the same one the tools run in.

use std::time::Duration;

use crate::nfnetlink::attr::{self, AttrBuf, c_string, find};
use crate::nfnetlink::nft::*;
use crate::nfnetlink::{self, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NfGenMsg, NfSocket, NlError};
use crate::types::TableFamily;

/// How long a probe waits for a lost reply: the answer is only a
/// shortcut ([`Presence::Unknown`] sends the caller down the exec path),
/// so a kernel bug must not hang the plugin for long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// libnftnl's user-data TLV type of a rule comment (NFTNL_UDATA_RULE_COMMENT).
const UDATA_RULE_COMMENT: u8 = 0;

/// The answer of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The object exists.
    Present,
    /// The kernel said ENOENT.
    Absent,
    /// No answer (nf_tables unavailable, permission, unexpected reply).
    Unknown,
}

/// One rule as the kernel reports it: what a delete needs and what tells
/// whose rule it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// The rule handle.
    pub handle: u64,
    /// The comment: libnftnl user data (nft), or the xt `comment` match
    /// that iptables-nft 1.8 writes for `-m comment`.
    pub comment: Option<String>,
    /// The chain the rule jumps or goes to (`-j CHAIN` / `jump chain`).
    pub target: Option<String>,
    /// The rule's `NFTA_RULE_EXPRESSIONS` as the kernel serialises them
    /// (to find a rule without a comment by its content,
    /// [`crate::iptables::nftenc::same_expressions`]).
    pub expressions: Vec<u8>,
}

/// The answer of a rule dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleList {
    /// The chain (or its table) does not exist.
    Absent,
    /// The chain's rules, in order.
    Rules(Vec<RuleInfo>),
    /// No reliable answer; use the tool instead.
    Unknown,
}

/// A netfilter hook of the IP families (`enum nf_inet_hooks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `NF_INET_PRE_ROUTING`.
    Prerouting,
    /// `NF_INET_LOCAL_IN`.
    Input,
    /// `NF_INET_FORWARD`.
    Forward,
    /// `NF_INET_LOCAL_OUT`.
    Output,
    /// `NF_INET_POST_ROUTING`.
    Postrouting,
    /// `NF_INET_INGRESS` or a hook of another family.
    Other(u32),
}

impl Hook {
    fn from_number(n: u32) -> Hook {
        match n {
            0 => Hook::Prerouting,
            1 => Hook::Input,
            2 => Hook::Forward,
            3 => Hook::Output,
            4 => Hook::Postrouting,
            n => Hook::Other(n),
        }
    }
}

/// A chain as the kernel lists it: where it is and, for a base chain,
/// where it hooks in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInfo {
    /// The table's family.
    pub family: TableFamily,
    /// The table.
    pub table: String,
    /// The chain.
    pub name: String,
    /// For a base chain: its hook and priority.
    pub hook: Option<(Hook, i32)>,
    /// For a base chain: its type (`filter`, `nat`, `route`).
    pub kind: Option<String>,
    /// For a base chain: whether its policy drops (`NF_DROP`).
    pub policy_drop: bool,
}

/// One nfnetlink socket for a handful of probes.
#[derive(Debug)]
pub struct Prober {
    sock: NfSocket,
}

impl Prober {
    /// Open a socket in the calling thread's network namespace; `None` when
    /// nfnetlink is not available.
    pub fn open() -> Option<Prober> {
        let sock = nfnetlink::open(PROBE_TIMEOUT).ok()?;
        Some(Prober { sock })
    }

    /// Whether table `family table` exists.
    pub fn table(&mut self, family: impl Into<TableFamily>, table: &str) -> Presence {
        let attrs = [(NFTA_TABLE_NAME, table)];
        self.ask(family.into(), NFT_MSG_GETTABLE, NFT_MSG_NEWTABLE, &attrs)
    }

    /// Whether chain `family table chain` exists.
    pub fn chain(&mut self, family: impl Into<TableFamily>, table: &str, chain: &str) -> Presence {
        let attrs = [(NFTA_CHAIN_TABLE, table), (NFTA_CHAIN_NAME, chain)];
        self.ask(family.into(), NFT_MSG_GETCHAIN, NFT_MSG_NEWCHAIN, &attrs)
    }

    /// Replies: the object (type NEW*) then the ACK, or an error.
    fn ask(&mut self, family: TableFamily, get: u8, new: u8, attrs: &[(u16, &str)]) -> Presence {
        let seq = self.sock.next_seq();
        let msg = request(family, get, NLM_F_REQUEST | NLM_F_ACK, seq, attrs);
        if self.sock.send(&msg).is_err() {
            return Presence::Unknown;
        }
        let mut found = false;
        let answer = self.sock.ack_with(seq, |m| {
            if m.ty == msg_type(new) {
                found = true;
            }
        });
        match answer {
            Ok(()) if found => Presence::Present,
            Err(NlError::Kernel(libc::ENOENT)) => Presence::Absent,
            _ => Presence::Unknown,
        }
    }
}

impl Prober {
    /// Every chain of the ip, ip6 and inet tables (one dump of all
    /// families, `NFPROTO_UNSPEC`); `None` when nothing reliable was read.
    pub fn ip_chains(&mut self) -> Option<Vec<ChainInfo>> {
        let seq = self.sock.next_seq();
        let msg = nfnetlink::message(
            msg_type(NFT_MSG_GETCHAIN),
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            NfGenMsg::unspec(),
            &[],
        );
        self.sock.send(&msg).ok()?;
        let mut payloads = vec![];
        self.sock
            .dump(seq, |m| {
                if m.ty == msg_type(NFT_MSG_NEWCHAIN) {
                    payloads.push(m.payload.to_vec());
                }
            })
            .ok()?;
        let mut out = vec![];
        for p in &payloads {
            let family = match p.first() {
                Some(2) => TableFamily::Ip(crate::types::Family::V4),
                Some(10) => TableFamily::Ip(crate::types::Family::V6),
                Some(1) => TableFamily::Inet,
                Some(_) => continue,
                None => return None,
            };
            out.push(parse_chain(family, p)?);
        }
        Some(out)
    }

    /// The rules of chain `family table chain`: handle and comment of each.
    /// Existence is probed first, so a missing chain is `Absent`.
    pub fn rules(&mut self, family: impl Into<TableFamily>, table: &str, chain: &str) -> RuleList {
        let Some(payloads) = self.dump_rules(family.into(), table, chain) else {
            return RuleList::Unknown;
        };
        let Some(payloads) = payloads else {
            return RuleList::Absent;
        };
        let mut rules = vec![];
        for payload in &payloads {
            match parse_rule(payload) {
                // Older kernels may ignore the chain filter.
                Some((c, info)) if c == chain => rules.push(info),
                Some(_) => {}
                None => return RuleList::Unknown,
            }
        }
        RuleList::Rules(rules)
    }

    /// The raw `NFTA_RULE_EXPRESSIONS` of each rule of a chain, as the
    /// kernel serialises them (for comparing how two writers encoded the
    /// same rule). `None` when the chain is absent or nothing could be
    /// read.
    pub fn rule_expressions(
        &mut self,
        family: impl Into<TableFamily>,
        table: &str,
        chain: &str,
    ) -> Option<Vec<Vec<u8>>> {
        let payloads = self.dump_rules(family.into(), table, chain)??;
        let mut out = vec![];
        for payload in &payloads {
            let attrs = nfnetlink::payload_attrs(payload)?;
            let in_chain =
                find(&attrs, NFTA_RULE_CHAIN).and_then(c_string).as_deref() == Some(chain);
            if !in_chain {
                continue;
            }
            let exprs = find(&attrs, NFTA_RULE_EXPRESSIONS)
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            out.push(exprs);
        }
        Some(out)
    }

    /// The NEWRULE payloads of a chain's rule dump: `Some(None)` when the
    /// chain does not exist, `None` when nothing reliable was read.
    fn dump_rules(
        &mut self,
        family: TableFamily,
        table: &str,
        chain: &str,
    ) -> Option<Option<Vec<Vec<u8>>>> {
        match self.chain(family, table, chain) {
            Presence::Absent => return Some(None),
            Presence::Unknown => return None,
            Presence::Present => {}
        }
        let seq = self.sock.next_seq();
        let attrs = [(NFTA_RULE_TABLE, table), (NFTA_RULE_CHAIN, chain)];
        let msg = request(
            family,
            NFT_MSG_GETRULE,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            &attrs,
        );
        self.sock.send(&msg).ok()?;
        let mut out = vec![];
        self.sock
            .dump(seq, |m| {
                if m.ty == msg_type(NFT_MSG_NEWRULE) {
                    out.push(m.payload.to_vec());
                }
            })
            .ok()?;
        Some(Some(out))
    }
}

/// (chain, rule info) of one NEWRULE message payload (nfgenmsg + attrs).
fn parse_rule(payload: &[u8]) -> Option<(String, RuleInfo)> {
    let mut chain = None;
    let mut handle = None;
    let mut comment = None;
    let mut xt_comment = None;
    let mut target = None;
    let mut expressions = vec![];
    for a in nfnetlink::payload_attrs(payload)? {
        match a.kind {
            NFTA_RULE_CHAIN => chain = Some(c_string(a.value)?),
            NFTA_RULE_HANDLE => handle = Some(u64::from_be_bytes(a.value.try_into().ok()?)),
            NFTA_RULE_USERDATA => comment = udata_comment(a.value),
            NFTA_RULE_EXPRESSIONS => {
                expressions = a.value.to_vec();
                for elem in attr::attrs(a.value)? {
                    if elem.kind != NFTA_LIST_ELEM {
                        continue;
                    }
                    match expression(elem.value)? {
                        Expr::XtComment(c) => xt_comment = xt_comment.or(Some(c)),
                        Expr::Jump(c) => target = Some(c),
                        Expr::Other => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some((
        chain?,
        RuleInfo {
            handle: handle?,
            comment: comment.or(xt_comment),
            target,
            expressions,
        },
    ))
}

/// One NEWCHAIN message payload of `family`.
fn parse_chain(family: TableFamily, payload: &[u8]) -> Option<ChainInfo> {
    let attrs = nfnetlink::payload_attrs(payload)?;
    let text = |kind| find(&attrs, kind).and_then(c_string);
    let hook = match find(&attrs, NFTA_CHAIN_HOOK) {
        None => None,
        Some(nest) => {
            let h = attr::attrs(nest)?;
            let num = find(&h, NFTA_HOOK_HOOKNUM).and_then(attr::be32)?;
            let prio = find(&h, NFTA_HOOK_PRIORITY).and_then(attr::be32)? as i32;
            Some((Hook::from_number(num), prio))
        }
    };
    Some(ChainInfo {
        family,
        table: text(NFTA_CHAIN_TABLE)?,
        name: text(NFTA_CHAIN_NAME)?,
        hook,
        kind: text(NFTA_CHAIN_TYPE),
        policy_drop: find(&attrs, NFTA_CHAIN_POLICY).and_then(attr::be32) == Some(0),
    })
}

/// What the prober cares about in one expression.
enum Expr {
    /// An xt `comment` match and its text.
    XtComment(String),
    /// A jump or goto verdict to a chain.
    Jump(String),
    Other,
}

/// Classify one NFTA_LIST_ELEM expression; `None` when malformed.
fn expression(elem: &[u8]) -> Option<Expr> {
    let attrs = attr::attrs(elem)?;
    let name = find(&attrs, NFTA_EXPR_NAME).and_then(c_string);
    let Some(data) = find(&attrs, NFTA_EXPR_DATA) else {
        return Some(Expr::Other);
    };
    match name.as_deref() {
        Some("match") => {
            let d = attr::attrs(data)?;
            let mname = find(&d, NFTA_XT_NAME).and_then(c_string);
            match (mname.as_deref(), find(&d, NFTA_XT_INFO)) {
                // struct xt_comment_info { char comment[256]; }
                (Some("comment"), Some(info)) => Some(Expr::XtComment(c_string(info)?)),
                _ => Some(Expr::Other),
            }
        }
        Some("immediate") => {
            let d = attr::attrs(data)?;
            let dreg = find(&d, NFTA_IMMEDIATE_DREG).and_then(attr::be32);
            let Some(imm) = find(&d, NFTA_IMMEDIATE_DATA) else {
                return Some(Expr::Other);
            };
            if dreg != Some(NFT_REG_VERDICT) {
                return Some(Expr::Other);
            }
            let Some(verdict) = find(&attr::attrs(imm)?, NFTA_DATA_VERDICT) else {
                return Some(Expr::Other);
            };
            let v = attr::attrs(verdict)?;
            let code = find(&v, NFTA_VERDICT_CODE)
                .and_then(attr::be32)
                .map(|c| c as i32);
            let chain = find(&v, NFTA_VERDICT_CHAIN).and_then(c_string);
            match (code, chain) {
                (Some(NFT_JUMP | NFT_GOTO), Some(c)) => Some(Expr::Jump(c)),
                _ => Some(Expr::Other),
            }
        }
        _ => Some(Expr::Other),
    }
}

/// The comment in libnftnl rule user data (TLVs of u8 type, u8 length).
fn udata_comment(mut v: &[u8]) -> Option<String> {
    while v.len() >= 2 {
        let (ty, len) = (v[0], usize::from(v[1]));
        let value = v.get(2..2 + len)?;
        if ty == UDATA_RULE_COMMENT {
            return c_string(value);
        }
        v = &v[2 + len..];
    }
    None
}

/// Encode one nf_tables request with string attributes.
fn request(family: TableFamily, get: u8, flags: u16, seq: u32, attrs: &[(u16, &str)]) -> Vec<u8> {
    let mut a = AttrBuf::new();
    for (ty, value) in attrs {
        a.str(*ty, value);
    }
    nfnetlink::message(
        msg_type(get),
        flags,
        seq,
        NfGenMsg::new(family),
        a.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Family;
    use hostnet::nlsock::split;

    #[test]
    fn request_layout() {
        let m = request(
            Family::V4.into(),
            NFT_MSG_GETCHAIN,
            NLM_F_REQUEST | NLM_F_ACK,
            7,
            &[(1, "nat"), (3, "C")],
        );
        // 16 header + 4 nfgenmsg + (4+4) "nat\0" + (4+2 -> 8) "C\0"
        assert_eq!(m.len(), 16 + 4 + 8 + 8);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()),
            m.len() as u32
        );
        assert_eq!(
            u16::from_ne_bytes(m[4..6].try_into().unwrap()),
            (10 << 8) | 4
        );
        assert_eq!(m[16], 2);
        assert_eq!(&m[24..28], b"nat\0");
        assert_eq!(&m[32..34], b"C\0");
    }

    #[test]
    fn splits_messages() {
        let mut a = request(TableFamily::Inet, 1, NLM_F_REQUEST, 1, &[(1, "t")]);
        let b = request(TableFamily::Inet, 1, NLM_F_REQUEST, 2, &[(1, "tt")]);
        a.extend_from_slice(&b);
        let ms = split(&a).unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[1].seq, 2);
        // A truncated datagram is not silently shortened.
        assert!(split(&a[..a.len() - 4]).is_err());
    }

    #[test]
    fn parses_base_chains() {
        let mut p = vec![1, 0, 0, 0];
        p.extend(nla(NFTA_CHAIN_TABLE, b"filter\0"));
        p.extend(nla(NFTA_CHAIN_NAME, b"forward\0"));
        p.extend(nla(
            NFTA_CHAIN_HOOK,
            &[
                nla(NFTA_HOOK_HOOKNUM, &2u32.to_be_bytes()),
                nla(NFTA_HOOK_PRIORITY, &(-10i32).to_be_bytes()),
            ]
            .concat(),
        ));
        p.extend(nla(NFTA_CHAIN_POLICY, &0u32.to_be_bytes()));
        p.extend(nla(NFTA_CHAIN_TYPE, b"filter\0"));
        let c = parse_chain(TableFamily::Inet, &p).unwrap();
        assert_eq!(c.table, "filter");
        assert_eq!(c.name, "forward");
        assert_eq!(c.hook, Some((Hook::Forward, -10)));
        assert_eq!(c.kind.as_deref(), Some("filter"));
        assert!(c.policy_drop);
        let mut regular = vec![2, 0, 0, 0];
        regular.extend(nla(NFTA_CHAIN_TABLE, b"t\0"));
        regular.extend(nla(NFTA_CHAIN_NAME, b"c\0"));
        let r = parse_chain(TableFamily::Ip(crate::types::Family::V4), &regular).unwrap();
        assert_eq!(r.hook, None);
        assert!(!r.policy_drop);
    }

    #[test]
    fn parses_rule_attributes() {
        let mut p = vec![1, 0, 0, 0]; // nfgenmsg
        let mut attr = |ty: u16, v: &[u8]| {
            p.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            p.extend_from_slice(&ty.to_ne_bytes());
            p.extend_from_slice(v);
            while p.len() % 4 != 0 {
                p.push(0);
            }
        };
        attr(NFTA_RULE_TABLE, b"t\0");
        attr(NFTA_RULE_CHAIN, b"masq_checks\0");
        attr(NFTA_RULE_HANDLE | 0x4000, &42u64.to_be_bytes());
        attr(NFTA_RULE_USERDATA, &[0, 4, b'a', b'b', b'c', 0]);
        let (chain, info) = parse_rule(&p).unwrap();
        assert_eq!(chain, "masq_checks");
        assert_eq!(info.handle, 42);
        assert_eq!(info.comment.as_deref(), Some("abc"));
        assert_eq!(
            udata_comment(&[1, 1, 9, 0, 2, b'x', 0]).as_deref(),
            Some("x")
        );
        assert_eq!(udata_comment(&[0, 9, b'x']), None);
    }

    /// Encode one attribute (nested when `v` holds attributes).
    fn nla(ty: u16, v: &[u8]) -> Vec<u8> {
        let mut out = ((4 + v.len()) as u16).to_ne_bytes().to_vec();
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(v);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out
    }

    #[test]
    fn reads_iptables_nft_comment_match_and_jump_target() {
        let mut info = b"dnat name: \"n\" id: \"a\"".to_vec();
        info.resize(256, 0);
        let comment = [
            nla(NFTA_EXPR_NAME, b"match\0"),
            nla(
                NFTA_EXPR_DATA,
                &[
                    nla(NFTA_XT_NAME, b"comment\0"),
                    nla(2, &0u32.to_be_bytes()),
                    nla(NFTA_XT_INFO, &info),
                ]
                .concat(),
            ),
        ]
        .concat();
        let verdict = nla(
            NFTA_DATA_VERDICT,
            &[
                nla(NFTA_VERDICT_CODE, &NFT_JUMP.to_be_bytes()),
                nla(NFTA_VERDICT_CHAIN, b"CNI-DN-x\0"),
            ]
            .concat(),
        );
        let jump = [
            nla(NFTA_EXPR_NAME, b"immediate\0"),
            nla(
                NFTA_EXPR_DATA,
                &[
                    nla(NFTA_IMMEDIATE_DREG, &0u32.to_be_bytes()),
                    nla(NFTA_IMMEDIATE_DATA, &verdict),
                ]
                .concat(),
            ),
        ]
        .concat();
        let exprs = [nla(NFTA_LIST_ELEM, &comment), nla(NFTA_LIST_ELEM, &jump)].concat();
        let mut p = vec![2, 0, 0, 0];
        p.extend(nla(NFTA_RULE_CHAIN, b"TOP\0"));
        p.extend(nla(NFTA_RULE_HANDLE, &7u64.to_be_bytes()));
        p.extend(nla(NFTA_RULE_EXPRESSIONS, &exprs));
        let (chain, info) = parse_rule(&p).unwrap();
        assert_eq!(chain, "TOP");
        assert_eq!(info.handle, 7);
        assert_eq!(info.comment.as_deref(), Some(r#"dnat name: "n" id: "a""#));
        assert_eq!(info.target.as_deref(), Some("CNI-DN-x"));
    }
}
