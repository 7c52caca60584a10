//! Deleting conntrack entries over ctnetlink (NETLINK_NETFILTER,
//! subsystem NFNL_SUBSYS_CTNETLINK), without starting `conntrack`.
//!
//! Why: a UDP flow that reached a host port before its DNAT rule existed
//! has a conntrack entry without NAT; every later datagram of that flow
//! keeps matching it and never sees the new rule, so the port stays
//! "blackholed" until the entry times out (plugins#123). Deleting the
//! entries whose original destination port is the host port makes the
//! next datagram create a fresh, DNAT-ed entry.
//!
//! How: one `IPCTNL_MSG_CT_DELETE` carrying `CTA_FILTER` (original-tuple
//! flags: protocol number and destination port) plus the values in
//! `CTA_TUPLE_ORIG` asks the kernel to flush exactly the matching entries
//! (nf_conntrack_netlink.c, `ctnetlink_flush_conntrack` with a filter).
//! A kernel that does not know filtered flushes reads the same message as
//! "delete this one tuple", finds no such entry (the addresses are unset)
//! and answers ENOENT, so nothing else is ever removed; then entries are
//! listed with a filtered dump (`IPCTNL_MSG_CT_GET`, the filter is
//! re-checked here because older kernels ignore it) and deleted one by
//! one by their original tuple, like the reference's netlink library does.

use std::io;
use std::time::Duration;

use hostnet::nlsock::Attr;

use crate::nfnetlink::NfSocket;

use super::error::FirewallError;
use super::nfnetlink::attr::{self, AttrBuf};
use super::nfnetlink::{
    self, NFNL_SUBSYS_CTNETLINK, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NfGenMsg, NlError,
};
use super::types::{Family, Protocol, TableFamily};

/// linux/netfilter/nfnetlink_conntrack.h message types.
const IPCTNL_MSG_CT_NEW: u8 = 0;
const IPCTNL_MSG_CT_GET: u8 = 1;
const IPCTNL_MSG_CT_DELETE: u8 = 2;
/// ctattr_type.
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_ZONE: u16 = 18;
const CTA_FILTER: u16 = 25;
/// ctattr_tuple.
const CTA_TUPLE_PROTO: u16 = 2;
/// ctattr_l4proto.
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_DST_PORT: u16 = 3;
/// ctattr_filter.
const CTA_FILTER_ORIG_FLAGS: u16 = 1;
const CTA_FILTER_REPLY_FLAGS: u16 = 2;
/// Filter flag bits (nf_conntrack_netlink.c CTA_FILTER_F_*): protocol
/// number and destination port of the tuple.
const FILTER_PROTO_NUM: u32 = 1 << 3;
const FILTER_PROTO_DST_PORT: u32 = 1 << 5;
/// nfgenmsg version 1 makes a flush honour the family in the header
/// (version 0 means "all families", ctnetlink_del_conntrack).
const NFNETLINK_V1: u8 = 1;
/// How long to wait for a lost reply. Deleting stale entries is a best
/// effort the caller only logs, so a kernel bug must not hang the plugin
/// for long.
const CT_TIMEOUT: Duration = Duration::from_secs(2);

/// How the entries were removed (for tests and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One filtered flush message.
    FilteredFlush,
    /// A dump, then one delete per matching entry (this many).
    DumpAndDelete(usize),
}

/// Delete every conntrack entry of `family` whose original tuple has
/// protocol `proto` and destination port `port`, in the calling thread's
/// network namespace.
pub fn delete_by_dport(
    family: Family,
    proto: Protocol,
    port: u16,
) -> Result<Method, FirewallError> {
    let ct = Ctnl::open().map_err(|e| io_err("opening a ctnetlink socket", e))?;
    match ct.filtered_flush(family, proto, port) {
        Ok(()) => Ok(Method::FilteredFlush),
        Err(_) => ct
            .dump_and_delete(family, proto, port)
            .map(Method::DumpAndDelete),
    }
}

/// The fallback path alone (what a kernel without filtered flushes gets);
/// public so that tests can exercise it on any kernel.
pub fn delete_by_dport_with_dump(
    family: Family,
    proto: Protocol,
    port: u16,
) -> Result<usize, FirewallError> {
    let ct = Ctnl::open().map_err(|e| io_err("opening a ctnetlink socket", e))?;
    ct.dump_and_delete(family, proto, port)
}

fn io_err(what: &str, e: io::Error) -> FirewallError {
    FirewallError::Netlink {
        what: format!("ctnetlink: {what}"),
        source: e,
    }
}

/// The attributes of a "protocol P, destination port N" filter.
fn filter_attrs(proto: Protocol, port: u16) -> Vec<u8> {
    let mut a = AttrBuf::new();
    a.nest(CTA_TUPLE_ORIG, |t| {
        t.nest(CTA_TUPLE_PROTO, |p| {
            p.put(CTA_PROTO_NUM, &[proto.number()]);
            p.put(CTA_PROTO_DST_PORT, &port.to_be_bytes());
        });
    });
    a.nest(CTA_FILTER, |f| {
        f.u32(
            CTA_FILTER_ORIG_FLAGS,
            FILTER_PROTO_NUM | FILTER_PROTO_DST_PORT,
        );
        f.u32(CTA_FILTER_REPLY_FLAGS, 0);
    });
    a.into_bytes()
}

/// A whole ctnetlink message; `version` is the nfgenmsg's.
fn message(ty: u8, flags: u16, seq: u32, family: Family, version: u8, attrs: &[u8]) -> Vec<u8> {
    nfnetlink::message(
        nfnetlink::msg_type(NFNL_SUBSYS_CTNETLINK, ty),
        flags,
        seq,
        NfGenMsg::new(TableFamily::Ip(family)).version(version),
        attrs,
    )
}

/// From one conntrack message payload (nfgenmsg + attrs): the raw
/// CTA_TUPLE_ORIG and CTA_ZONE attributes, and whether the original
/// tuple's protocol and destination port are the wanted ones.
fn entry_matches(payload: &[u8], proto: u8, port: u16) -> Option<(bool, Vec<u8>)> {
    let mut key = AttrBuf::new();
    let mut ok = false;
    for a in nfnetlink::payload_attrs(payload)? {
        match a.kind {
            CTA_TUPLE_ORIG => {
                key.copy(&a);
                for t in attr::attrs(a.value)? {
                    if t.kind == CTA_TUPLE_PROTO {
                        ok = proto_and_dport(&attr::attrs(t.value)?) == (Some(proto), Some(port));
                    }
                }
            }
            CTA_ZONE => key.copy(&a),
            _ => {}
        }
    }
    Some((ok, key.into_bytes()))
}

/// The protocol number and destination port of a `CTA_TUPLE_PROTO`.
fn proto_and_dport(attrs: &[Attr<'_>]) -> (Option<u8>, Option<u16>) {
    let num = attr::find(attrs, CTA_PROTO_NUM).and_then(|v| v.first().copied());
    let dport = attr::find(attrs, CTA_PROTO_DST_PORT)
        .and_then(|v| v.get(..2))
        .map(|b| u16::from_be_bytes([b[0], b[1]]));
    (num, dport)
}

/// A ctnetlink socket.
struct Ctnl {
    sock: NfSocket,
}

impl Ctnl {
    fn open() -> io::Result<Ctnl> {
        Ok(Ctnl {
            sock: nfnetlink::open(CT_TIMEOUT)?,
        })
    }

    /// Send a request that asks for an ACK and wait for it.
    fn request(&self, ty: u8, family: Family, version: u8, attrs: &[u8]) -> Result<(), NlError> {
        let seq = self.sock.next_seq();
        let msg = message(ty, NLM_F_REQUEST | NLM_F_ACK, seq, family, version, attrs);
        self.sock.send(&msg)?;
        self.sock.ack(seq)
    }

    fn filtered_flush(&self, family: Family, proto: Protocol, port: u16) -> Result<(), NlError> {
        let attrs = filter_attrs(proto, port);
        self.request(IPCTNL_MSG_CT_DELETE, family, NFNETLINK_V1, &attrs)
    }

    fn dump_and_delete(
        &self,
        family: Family,
        proto: Protocol,
        port: u16,
    ) -> Result<usize, FirewallError> {
        let keys = self
            .dump(family, proto, port)
            .map_err(|e| io_err("listing conntrack entries", e.into()))?;
        let mut deleted = 0;
        for key in keys {
            match self.request(IPCTNL_MSG_CT_DELETE, family, 0, &key) {
                Ok(()) => deleted += 1,
                // Gone meanwhile (timed out, or deleted by someone else).
                Err(NlError::Kernel(libc::ENOENT)) => {}
                Err(e) => return Err(io_err("deleting a conntrack entry", e.into())),
            }
        }
        Ok(deleted)
    }

    /// The delete keys (original tuple + zone) of the matching entries.
    fn dump(&self, family: Family, proto: Protocol, port: u16) -> Result<Vec<Vec<u8>>, NlError> {
        let seq = self.sock.next_seq();
        let msg = message(
            IPCTNL_MSG_CT_GET,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            family,
            0,
            &filter_attrs(proto, port),
        );
        self.sock.send(&msg)?;
        let entry = nfnetlink::msg_type(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW);
        let mut keys = vec![];
        let mut malformed = false;
        self.sock.dump(seq, |m| {
            if m.ty != entry {
                return;
            }
            match entry_matches(m.payload, proto.number(), port) {
                Some((true, key)) if !key.is_empty() => keys.push(key),
                Some(_) => {}
                None => malformed = true,
            }
        })?;
        if malformed {
            return Err(NlError::Malformed("malformed conntrack entry".into()));
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostnet::nlsock::NLA_F_NESTED;

    #[test]
    fn filter_layout() {
        let a = filter_attrs(Protocol::Udp, 8081);
        // TUPLE_ORIG(4) > TUPLE_PROTO(4) > NUM(4+1->8) + DPORT(4+2->8) = 24;
        // FILTER(4) > ORIG(8) + REPLY(8) = 20.
        assert_eq!(a.len(), 24 + 20);
        assert_eq!(u16::from_ne_bytes([a[0], a[1]]), 24);
        assert_eq!(
            u16::from_ne_bytes([a[2], a[3]]),
            CTA_TUPLE_ORIG | NLA_F_NESTED
        );
        assert_eq!(a[12], 17);
        assert_eq!(&a[20..22], &8081u16.to_be_bytes());
        assert_eq!(
            u16::from_ne_bytes([a[26], a[27]]),
            CTA_FILTER | NLA_F_NESTED
        );
        assert_eq!(
            u32::from_ne_bytes([a[32], a[33], a[34], a[35]]),
            FILTER_PROTO_NUM | FILTER_PROTO_DST_PORT
        );
    }

    #[test]
    fn header_and_family() {
        let m = message(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST, 9, Family::V6, 1, &[]);
        assert_eq!(m.len(), 20);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), (1 << 8) | 2);
        assert_eq!(&m[16..18], &[10, 1]);
    }

    #[test]
    fn recognises_matching_entries() {
        // A dump entry: nfgenmsg, then TUPLE_ORIG{IP{..}, PROTO{NUM, SPORT, DPORT}}, ZONE.
        let mut a = AttrBuf::new();
        a.nest(CTA_TUPLE_ORIG, |t| {
            t.nest(1, |ip| ip.put(1, &[10, 0, 0, 1]));
            t.nest(CTA_TUPLE_PROTO, |pr| {
                pr.put(CTA_PROTO_NUM, &[17]);
                pr.put(2, &1234u16.to_be_bytes());
                pr.put(CTA_PROTO_DST_PORT, &53u16.to_be_bytes());
            });
        });
        a.put(3, &[0, 0, 0, 8]);
        a.put(CTA_ZONE, &0u16.to_be_bytes());
        let mut p = vec![2, 0, 0, 0];
        p.extend_from_slice(a.as_bytes());
        let (ok, key) = entry_matches(&p, 17, 53).unwrap();
        assert!(ok);
        // The key is the original tuple plus the zone, byte for byte.
        let tuple_len = usize::from(u16::from_ne_bytes([p[4], p[5]]));
        assert_eq!(key.len(), tuple_len + 8);
        assert_eq!(&key[..tuple_len], &p[4..4 + tuple_len]);
        assert!(!entry_matches(&p, 17, 54).unwrap().0);
        assert!(!entry_matches(&p, 6, 53).unwrap().0);
        assert!(entry_matches(&p[..p.len() - 3], 17, 53).is_none());
    }
}
