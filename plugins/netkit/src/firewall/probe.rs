//! Existence probes over nfnetlink: "does table T / chain C exist?" asked
//! of the kernel directly, in microseconds, without starting a process.
//!
//! They let the common cases skip reads entirely: DEL when nothing is left
//! (containerd's second DEL), ADD when the chain is new, and every check of
//! the nftables masquerade table on a node that only uses iptables. The
//! answers are only used as shortcuts: [`Presence::Unknown`] (nf_tables not
//! reachable, an unexpected error) sends the caller down the exec path.
//!
//! A single `NFT_MSG_GETTABLE` / `NFT_MSG_GETCHAIN` request (not a dump)
//! is looked up by name in the kernel (nf_tables_api.c), so its cost does
//! not grow with the number of pods. The socket is opened per probe set in
//! the calling thread's network namespace, the same one the tools run in.

use std::os::fd::AsRawFd;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

/// nfnetlink subsystem id of nf_tables (linux/netfilter/nfnetlink.h).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// linux/netfilter/nf_tables.h message types.
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_GETCHAIN: u16 = 4;
/// NFTA_TABLE_NAME / NFTA_CHAIN_TABLE / NFTA_CHAIN_NAME.
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
/// Netlink constants (linux/netlink.h).
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_HDRLEN: usize = 16;

/// nf_tables families (NFPROTO_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NfProto {
    /// `inet` (both IP families).
    Inet = 1,
    /// `ip`.
    Ipv4 = 2,
    /// `ip6`.
    Ipv6 = 10,
}

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

/// One nfnetlink socket for a handful of probes.
#[derive(Debug)]
pub struct Prober {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Prober {
    /// Open a socket in the calling thread's network namespace; `None` when
    /// nfnetlink is not available.
    pub fn open() -> Option<Prober> {
        let mut sock = Socket::new(NETLINK_NETFILTER).ok()?;
        sock.bind_auto().ok()?;
        // A kernel always answers a request; the timeout only guards
        // against a bug turning into a hung plugin.
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: valid socket fd; `tv` is a properly initialised timeval
        // whose size is passed along.
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
            return None;
        }
        Some(Prober {
            sock,
            seq: 0,
            buf: Vec::with_capacity(32 * 1024),
        })
    }

    /// Whether table `family table` exists.
    pub fn table(&mut self, family: NfProto, table: &str) -> Presence {
        let attrs = [(NFTA_TABLE_NAME, table)];
        self.ask(family, NFT_MSG_GETTABLE, NFT_MSG_NEWTABLE, &attrs)
    }

    /// Whether chain `family table chain` exists.
    pub fn chain(&mut self, family: NfProto, table: &str, chain: &str) -> Presence {
        let attrs = [(NFTA_CHAIN_TABLE, table), (NFTA_CHAIN_NAME, chain)];
        self.ask(family, NFT_MSG_GETCHAIN, NFT_MSG_NEWCHAIN, &attrs)
    }

    fn ask(&mut self, family: NfProto, get: u16, new: u16, attrs: &[(u16, &str)]) -> Presence {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = request(family, get, seq, attrs);
        if self.sock.send_to(&msg, &SocketAddr::new(0, 0), 0).is_err() {
            return Presence::Unknown;
        }
        let mut found = false;
        // Replies: the object (type NEW*) then the ACK, or an error.
        for _ in 0..16 {
            self.buf.clear();
            if self.sock.recv_from(&mut self.buf, 0).is_err() {
                return Presence::Unknown;
            }
            for (ty, mseq, payload) in messages(&self.buf) {
                if mseq != seq {
                    continue;
                }
                if ty == NLMSG_ERROR {
                    let Some(code) = payload.get(..4) else {
                        return Presence::Unknown;
                    };
                    let errno = i32::from_ne_bytes([code[0], code[1], code[2], code[3]]);
                    return match errno {
                        0 if found => Presence::Present,
                        0 => Presence::Unknown,
                        e if e == -libc::ENOENT => Presence::Absent,
                        _ => Presence::Unknown,
                    };
                }
                if ty == (NFNL_SUBSYS_NFTABLES << 8) | new {
                    found = true;
                }
            }
        }
        Presence::Unknown
    }
}

/// Encode one nf_tables GET request with string attributes.
fn request(family: NfProto, get: u16, seq: u32, attrs: &[(u16, &str)]) -> Vec<u8> {
    let mut body = vec![family as u8, 0, 0, 0]; // nfgenmsg: family, version 0, res_id 0
    for (ty, value) in attrs {
        let len = 4 + value.len() + 1; // header + string + NUL
        body.extend_from_slice(&(len as u16).to_ne_bytes());
        body.extend_from_slice(&ty.to_ne_bytes());
        body.extend_from_slice(value.as_bytes());
        body.push(0);
        while body.len() % 4 != 0 {
            body.push(0);
        }
    }
    let total = NLMSG_HDRLEN + body.len();
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | get).to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&body);
    msg
}

/// Split a datagram into (type, seq, payload) netlink messages; stops at
/// the first malformed header.
fn messages(buf: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = vec![];
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let h = &buf[off..off + NLMSG_HDRLEN];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let ty = u16::from_ne_bytes([h[4], h[5]]);
        let seq = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            break;
        }
        out.push((ty, seq, &buf[off + NLMSG_HDRLEN..off + len]));
        off += (len + 3) & !3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let m = request(NfProto::Ipv4, NFT_MSG_GETCHAIN, 7, &[(1, "nat"), (3, "C")]);
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
        let mut a = request(NfProto::Inet, 1, 1, &[(1, "t")]);
        let b = request(NfProto::Inet, 1, 2, &[(1, "tt")]);
        a.extend_from_slice(&b);
        let ms = messages(&a);
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[1].1, 2);
    }
}
