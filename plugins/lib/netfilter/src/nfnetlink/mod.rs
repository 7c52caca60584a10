//! The one nfnetlink layer (NETLINK_NETFILTER) under the query
//! ([`crate::probe`]), transaction ([`crate::nfbatch`]) and conntrack
//! ([`crate::conntrack`]) code and the iptables-nft encoder
//! ([`crate::iptables::nftenc`]): the socket (hostnet's protocol-generic
//! [`NlSocket`]), the `struct nfgenmsg` header, subsystem ids and message
//! types, and the attribute writer and readers ([`attr`]). The nf_tables
//! attribute numbers are in [`nft`]; ctnetlink's, with one user, stay in
//! `conntrack.rs`.
//!
//! Every nfnetlink message is `struct nlmsghdr`, `struct nfgenmsg`, then
//! attributes; its type is the subsystem id in the high byte and the
//! subsystem's message type in the low byte (linux/netfilter/nfnetlink.h,
//! `NFNL_SUBSYS_ID`).

pub(crate) mod attr;
mod linger;
pub(crate) mod nft;

use std::io;
use std::time::Duration;

use hostnet::nlsock::{self, Attr, NlSocket, Protocol};

pub(crate) use linger::NfSocket;
pub use linger::close_parked;

use crate::types::TableFamily;

pub(crate) use hostnet::nlsock::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NLMSG_ERROR,
    NlError,
};

/// `NFNL_SUBSYS_CTNETLINK`: conntrack.
pub(crate) const NFNL_SUBSYS_CTNETLINK: u8 = 1;
/// `NFNL_SUBSYS_NFTABLES`: nf_tables.
pub(crate) const NFNL_SUBSYS_NFTABLES: u8 = 10;
/// `NFNL_MSG_BATCH_BEGIN` / `_END`: the delimiters of a transaction.
pub(crate) const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub(crate) const NFNL_MSG_BATCH_END: u16 = 0x11;

/// The message type of subsystem `subsys`'s message `msg`.
pub(crate) fn msg_type(subsys: u8, msg: u8) -> u16 {
    (u16::from(subsys) << 8) | u16::from(msg)
}

/// Size of `struct nfgenmsg`.
const NFGENMSG_LEN: usize = 4;

/// `struct nfgenmsg`: the 4 bytes after the netlink header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NfGenMsg {
    /// `nfgen_family`: the `NFPROTO_*` (or `AF_*`) the request is about.
    family: u8,
    /// `version`: `NFNETLINK_V0` unless a subsystem gives a newer one a
    /// meaning.
    version: u8,
    /// `res_id`: the subsystem, in batch delimiters (big endian).
    res_id: u16,
}

impl NfGenMsg {
    /// The header of a request about `family`, version 0.
    pub(crate) fn new(family: TableFamily) -> NfGenMsg {
        NfGenMsg {
            family: family.nfproto(),
            version: 0,
            res_id: 0,
        }
    }

    /// The header of a request about every family (`NFPROTO_UNSPEC`): a
    /// dump then lists the objects of all of them.
    pub(crate) fn unspec() -> NfGenMsg {
        NfGenMsg {
            family: 0,
            version: 0,
            res_id: 0,
        }
    }

    /// The same with another `version`.
    pub(crate) fn version(self, version: u8) -> NfGenMsg {
        NfGenMsg { version, ..self }
    }

    /// The header of a batch delimiter: family `AF_UNSPEC`, `res_id` the
    /// subsystem whose messages the batch holds.
    pub(crate) fn batch(subsys: u8) -> NfGenMsg {
        NfGenMsg {
            family: 0,
            version: 0,
            res_id: u16::from(subsys),
        }
    }

    fn put(self, out: &mut Vec<u8>) {
        out.push(self.family);
        out.push(self.version);
        out.extend_from_slice(&self.res_id.to_be_bytes());
    }
}

/// Append one nfnetlink message (header, nfgenmsg, `attrs`) to `out`.
pub(crate) fn put_message(
    out: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    header: NfGenMsg,
    attrs: &[u8],
) {
    nlsock::put_message(out, ty, flags, seq, |b| {
        header.put(b);
        b.extend_from_slice(attrs);
    });
}

/// One nfnetlink message (header, nfgenmsg, `attrs`).
pub(crate) fn message(ty: u16, flags: u16, seq: u32, header: NfGenMsg, attrs: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nlsock::NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len());
    put_message(&mut out, ty, flags, seq, header, attrs);
    out
}

/// The attributes of a received nfnetlink message's payload (what
/// follows its nfgenmsg), in order; `None` when malformed.
pub(crate) fn payload_attrs(payload: &[u8]) -> Option<Vec<Attr<'_>>> {
    attr::attrs(payload.get(NFGENMSG_LEN..)?)
}

/// Open an nfnetlink socket in the calling thread's network namespace.
/// `timeout` bounds how long a lost reply can block the caller (see
/// hostnet's `nlsock` for the policy). Dropping it parks it instead of
/// closing it ([`linger`] says why).
pub(crate) fn open(timeout: Duration) -> io::Result<NfSocket> {
    NlSocket::open(Protocol::Netfilter, timeout).map(NfSocket::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Family;

    #[test]
    fn header_layout() {
        let m = message(
            msg_type(NFNL_SUBSYS_NFTABLES, 4),
            NLM_F_REQUEST,
            3,
            NfGenMsg::new(TableFamily::Ip(Family::V6)).version(1),
            &[1, 2, 3, 4],
        );
        assert_eq!(m.len(), 24);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), (10 << 8) | 4);
        assert_eq!(&m[16..20], &[10, 1, 0, 0]);
        let b = message(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            1,
            NfGenMsg::batch(NFNL_SUBSYS_NFTABLES),
            &[],
        );
        assert_eq!(&b[16..20], &[0, 0, 0, 10]);
    }
}
