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
use std::os::fd::AsRawFd;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

use super::error::FirewallError;
use super::types::{Family, Protocol};

/// nfnetlink subsystem of conntrack (linux/netfilter/nfnetlink.h).
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
/// linux/netfilter/nfnetlink_conntrack.h message types.
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const IPCTNL_MSG_CT_NEW: u16 = 0;
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
/// Netlink constants (linux/netlink.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HDRLEN: usize = 16;
/// nfgenmsg version 1 makes a flush honour the family in the header
/// (version 0 means "all families", ctnetlink_del_conntrack).
const NFNETLINK_V1: u8 = 1;

/// The IP protocol number of a transport protocol.
fn proto_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

fn af(family: Family) -> u8 {
    match family {
        Family::V4 => libc::AF_INET as u8,
        Family::V6 => libc::AF_INET6 as u8,
    }
}

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
    let mut ct = Ctnl::open().map_err(|e| io_err("opening a ctnetlink socket", e))?;
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
    let mut ct = Ctnl::open().map_err(|e| io_err("opening a ctnetlink socket", e))?;
    ct.dump_and_delete(family, proto, port)
}

fn io_err(what: &str, e: io::Error) -> FirewallError {
    FirewallError::Netlink {
        what: format!("ctnetlink: {what}"),
        source: e,
    }
}

struct Ctnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

/// Append one attribute (header + value + padding).
fn put(buf: &mut Vec<u8>, ty: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(value);
    pad(buf);
}

/// Pad to the 4-byte attribute alignment (NLA_ALIGNTO).
fn pad(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// Append a nested attribute whose content `inner` writes.
fn nest(buf: &mut Vec<u8>, ty: u16, inner: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    inner(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

/// The attributes of a "protocol P, destination port N" filter.
fn filter_attrs(proto: Protocol, port: u16) -> Vec<u8> {
    let mut a = vec![];
    nest(&mut a, CTA_TUPLE_ORIG, |t| {
        nest(t, CTA_TUPLE_PROTO, |p| {
            put(p, CTA_PROTO_NUM, &[proto_number(proto)]);
            put(p, CTA_PROTO_DST_PORT, &port.to_be_bytes());
        });
    });
    nest(&mut a, CTA_FILTER, |f| {
        put(
            f,
            CTA_FILTER_ORIG_FLAGS,
            &(FILTER_PROTO_NUM | FILTER_PROTO_DST_PORT).to_ne_bytes(),
        );
        put(f, CTA_FILTER_REPLY_FLAGS, &0u32.to_ne_bytes());
    });
    a
}

/// A whole ctnetlink message.
fn message(ty: u16, flags: u16, seq: u32, family: u8, version: u8, attrs: &[u8]) -> Vec<u8> {
    let total = NLMSG_HDRLEN + 4 + attrs.len();
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | ty).to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[family, version, 0, 0]);
    m.extend_from_slice(attrs);
    m
}

/// Split a datagram into (type, seq, payload) messages.
fn messages(buf: &[u8]) -> Option<Vec<(u16, u32, &[u8])>> {
    let mut out = vec![];
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let h = &buf[off..off + NLMSG_HDRLEN];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let ty = u16::from_ne_bytes([h[4], h[5]]);
        let seq = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            return None;
        }
        out.push((ty, seq, &buf[off + NLMSG_HDRLEN..off + len]));
        off += (len + 3) & !3;
    }
    Some(out)
}

/// One attribute: type, the whole attribute (header included), the value.
type Attr<'a> = (u16, &'a [u8], &'a [u8]);

/// Split attributes; `None` when malformed.
fn attributes(mut buf: &[u8]) -> Option<Vec<Attr<'_>>> {
    let mut out = vec![];
    while buf.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        out.push((ty, &buf[..len], &buf[4..len]));
        buf = buf.get((len + 3) & !3..).unwrap_or_default();
    }
    Some(out)
}

/// The errno of an NLMSG_ERROR payload (0 = ACK).
fn errno(payload: &[u8]) -> Option<i32> {
    let b = payload.get(..4)?;
    Some(-i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// From one conntrack message payload (nfgenmsg + attrs): the raw
/// CTA_TUPLE_ORIG and CTA_ZONE attributes, and whether the original
/// tuple's protocol and destination port are the wanted ones.
fn entry_matches(payload: &[u8], proto: u8, port: u16) -> Option<(bool, Vec<u8>)> {
    let mut key = vec![];
    let mut ok = false;
    for (ty, whole, value) in attributes(payload.get(4..)?)? {
        match ty {
            CTA_TUPLE_ORIG => {
                key.extend_from_slice(whole);
                pad(&mut key);
                for (tty, _, tv) in attributes(value)? {
                    if tty != CTA_TUPLE_PROTO {
                        continue;
                    }
                    let mut num = None;
                    let mut dport = None;
                    for (pty, _, pv) in attributes(tv)? {
                        match pty {
                            CTA_PROTO_NUM => num = pv.first().copied(),
                            CTA_PROTO_DST_PORT => {
                                dport = pv.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))
                            }
                            _ => {}
                        }
                    }
                    ok = num == Some(proto) && dport == Some(port);
                }
            }
            CTA_ZONE => {
                key.extend_from_slice(whole);
                pad(&mut key);
            }
            _ => {}
        }
    }
    Some((ok, key))
}

impl Ctnl {
    fn open() -> io::Result<Ctnl> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        // The kernel always answers; the timeout only keeps a kernel bug
        // from hanging the plugin.
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: valid socket fd; `tv` is an initialised timeval whose
        // size is passed along.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Ctnl {
            sock,
            seq: 0,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.sock
            .send_to(msg, &SocketAddr::new(0, 0), 0)
            .map(|_| ())
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Wait for the ACK (or error) of request `seq`.
    fn ack(&mut self, seq: u32) -> io::Result<()> {
        loop {
            self.buf.clear();
            self.sock.recv_from(&mut self.buf, 0)?;
            let msgs =
                messages(&self.buf).ok_or_else(|| io::Error::other("malformed ctnetlink reply"))?;
            for (ty, mseq, payload) in msgs {
                if mseq != seq || ty != NLMSG_ERROR {
                    continue;
                }
                return match errno(payload) {
                    Some(0) => Ok(()),
                    Some(e) => Err(io::Error::from_raw_os_error(e)),
                    None => Err(io::Error::other("short ctnetlink error message")),
                };
            }
        }
    }

    fn filtered_flush(&mut self, family: Family, proto: Protocol, port: u16) -> io::Result<()> {
        let seq = self.next_seq();
        let msg = message(
            IPCTNL_MSG_CT_DELETE,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            af(family),
            NFNETLINK_V1,
            &filter_attrs(proto, port),
        );
        self.send(&msg)?;
        self.ack(seq)
    }

    fn dump_and_delete(
        &mut self,
        family: Family,
        proto: Protocol,
        port: u16,
    ) -> Result<usize, FirewallError> {
        let keys = self
            .dump(family, proto, port)
            .map_err(|e| io_err("listing conntrack entries", e))?;
        let mut deleted = 0;
        for key in keys {
            let seq = self.next_seq();
            let msg = message(
                IPCTNL_MSG_CT_DELETE,
                NLM_F_REQUEST | NLM_F_ACK,
                seq,
                af(family),
                0,
                &key,
            );
            self.send(&msg)
                .map_err(|e| io_err("deleting a conntrack entry", e))?;
            match self.ack(seq) {
                Ok(()) => deleted += 1,
                // Gone meanwhile (timed out, or deleted by someone else).
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(io_err("deleting a conntrack entry", e)),
            }
        }
        Ok(deleted)
    }

    /// The delete keys (original tuple + zone) of the matching entries.
    fn dump(&mut self, family: Family, proto: Protocol, port: u16) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.next_seq();
        let msg = message(
            IPCTNL_MSG_CT_GET,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            af(family),
            0,
            &filter_attrs(proto, port),
        );
        self.send(&msg)?;
        let want = proto_number(proto);
        let mut keys = vec![];
        loop {
            self.buf.clear();
            self.sock.recv_from(&mut self.buf, 0)?;
            let msgs =
                messages(&self.buf).ok_or_else(|| io::Error::other("malformed ctnetlink dump"))?;
            for (ty, mseq, payload) in msgs {
                if mseq != seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => return Ok(keys),
                    NLMSG_ERROR => {
                        return match errno(payload) {
                            Some(0) => Ok(keys),
                            Some(e) => Err(io::Error::from_raw_os_error(e)),
                            None => Err(io::Error::other("short ctnetlink error message")),
                        };
                    }
                    t if t == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW => {
                        let (ok, key) = entry_matches(payload, want, port)
                            .ok_or_else(|| io::Error::other("malformed conntrack entry"))?;
                        if ok && !key.is_empty() {
                            keys.push(key);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let m = message(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST, 9, 10, 1, &[]);
        assert_eq!(m.len(), 20);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), (1 << 8) | 2);
        assert_eq!(&m[16..18], &[10, 1]);
    }

    #[test]
    fn recognises_matching_entries() {
        // A dump entry: nfgenmsg, then TUPLE_ORIG{IP{..}, PROTO{NUM, SPORT, DPORT}}, ZONE.
        let mut p = vec![2, 0, 0, 0];
        nest(&mut p, CTA_TUPLE_ORIG, |t| {
            nest(t, 1, |ip| put(ip, 1, &[10, 0, 0, 1]));
            nest(t, CTA_TUPLE_PROTO, |pr| {
                put(pr, CTA_PROTO_NUM, &[17]);
                put(pr, 2, &1234u16.to_be_bytes());
                put(pr, CTA_PROTO_DST_PORT, &53u16.to_be_bytes());
            });
        });
        put(&mut p, 3, &[0, 0, 0, 8]);
        put(&mut p, CTA_ZONE, &0u16.to_be_bytes());
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
