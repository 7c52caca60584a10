//! The netlink wire format every protocol shares (linux/netlink.h): the
//! message header, splitting a datagram into messages, the error code of
//! an `NLMSG_ERROR`, and the attribute (`struct nlattr`) reader.

use super::NlError;

/// Message types and flags of linux/netlink.h, for requests built by hand.
pub use netlink_packet_core::{
    NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_TYPE_MASK, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_APPEND,
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR,
};

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Size of `struct nlattr`.
const NLA_HDRLEN: usize = 4;

/// Round up to the 4-byte alignment of messages and attributes
/// (`NLMSG_ALIGN`, `NLA_ALIGN`).
pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`: the sequence number of the request it answers.
    pub seq: u32,
    /// `nlmsg_pid`: the port id of the socket it is addressed to.
    pub port: u32,
    /// What follows the header.
    pub payload: &'a [u8],
    /// The whole message, header included (for decoders that want it).
    pub bytes: &'a [u8],
}

impl Message<'_> {
    /// The errno an `NLMSG_ERROR` carries, as a positive number: 0 is an
    /// ACK. The kernel writes `-errno` as the first field of `struct
    /// nlmsgerr` (netlink_ack).
    pub fn error_code(&self) -> Result<i32, NlError> {
        match self.payload.get(..4) {
            Some(b) => Ok(-i32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            None => Err(NlError::Malformed(format!(
                "netlink error message of {} bytes has no error code",
                self.bytes.len()
            ))),
        }
    }

    /// The errno of a dump's `NLMSG_DONE` as a positive number (0: the
    /// dump is complete). Since Linux 4.20 the kernel puts the dump's
    /// error there (netlink_dump, `dump_done_errno`); a shorter payload
    /// reads as 0.
    pub fn done_code(&self) -> i32 {
        self.payload
            .get(..4)
            .map_or(0, |b| -i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Split one datagram into its messages (`NLMSG_NEXT`). A length that
/// does not fit the datagram, or bytes left over that cannot hold a
/// header, are an error: a cut datagram is never read as a shorter one.
pub fn split(mut data: &[u8]) -> Result<Vec<Message<'_>>, NlError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let malformed = |len: usize, left: usize| {
            NlError::Malformed(format!(
                "malformed netlink message length {len} (datagram has {left} bytes left)"
            ))
        };
        if data.len() < NLMSG_HDRLEN {
            return Err(malformed(data.len(), data.len()));
        }
        let u32_at =
            |i: usize| u32::from_ne_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let len = u32_at(0) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(malformed(len, data.len()));
        }
        out.push(Message {
            ty: u16::from_ne_bytes([data[4], data[5]]),
            flags: u16::from_ne_bytes([data[6], data[7]]),
            seq: u32_at(8),
            port: u32_at(12),
            payload: &data[NLMSG_HDRLEN..len],
            bytes: &data[..len],
        });
        data = &data[align4(len).min(data.len())..];
    }
    Ok(out)
}

/// Append one message to `out`: the header (`nlmsg_pid` 0, the kernel
/// knows the sender), then the payload `body` writes, then padding to the
/// next message.
pub fn put_message(
    out: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    body(out);
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    out.resize(start + align4(len as usize), 0);
}

/// One netlink attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// `nla_type` without the `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` bits.
    pub kind: u16,
    /// The value after the 4-byte header.
    pub value: &'a [u8],
    /// The whole attribute, header included, without the padding.
    pub whole: &'a [u8],
}

/// The attributes of a run of `struct nlattr` (a message's tail or a
/// nested attribute's value), in order. Yields one error and stops at an
/// attribute whose length does not fit; a tail too short for a header
/// (padding) ends the run.
pub fn attributes(buf: &[u8]) -> Attributes<'_> {
    Attributes { rest: buf }
}

/// Iterator returned by [`attributes`].
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<Attr<'a>, NlError>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.rest;
        if buf.len() < NLA_HDRLEN {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > buf.len() {
            self.rest = &[];
            return Some(Err(NlError::Malformed(format!(
                "malformed netlink attribute length {len} ({} bytes left)",
                buf.len()
            ))));
        }
        self.rest = &buf[align4(len).min(buf.len())..];
        Some(Ok(Attr {
            kind,
            value: &buf[NLA_HDRLEN..len],
            whole: &buf[..len],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32, flags: u16, seq: u32, port: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&2u16.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&port.to_ne_bytes());
        v
    }

    fn seq_port_flags(m: &Message<'_>) -> (u32, u32, u16) {
        (m.seq, m.port, m.flags)
    }

    #[test]
    fn splits_aligned_messages() {
        let mut d = header(20, 0, 1, 7);
        d.extend_from_slice(&[1, 2, 3, 4]);
        d.extend(header(16, 0, 2, 7));
        let parts = split(&d).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(seq_port_flags(&parts[0]), (1, 7, 0));
        assert_eq!(seq_port_flags(&parts[1]), (2, 7, 0));
        assert_eq!(parts[0].payload, &[1, 2, 3, 4]);
    }

    #[test]
    fn rejects_bad_lengths() {
        let d = header(200, 0, 1, 7);
        assert!(split(&d).is_err());
        let d = header(8, 0, 1, 7);
        assert!(split(&d).is_err());
        let mut d = header(16, 0, 1, 7);
        d.extend_from_slice(&[0; 8]);
        assert!(split(&d).is_err());
    }

    #[test]
    fn writes_and_reads_back_a_message() {
        let mut out = vec![];
        put_message(&mut out, 0x0a04, NLM_F_REQUEST | NLM_F_ACK, 9, |b| {
            b.extend_from_slice(&[1, 2, 3]);
        });
        assert_eq!(out.len(), 20);
        let m = split(&out).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].ty, m[0].flags, m[0].seq), (0x0a04, 5, 9));
        assert_eq!(m[0].payload, &[1, 2, 3]);
        assert_eq!(m[0].bytes.len(), 19);
    }

    #[test]
    fn reads_error_codes() {
        let mut d = header(20, 0, 1, 7);
        d.extend_from_slice(&(-libc::ENOENT).to_ne_bytes());
        let m = split(&d).unwrap();
        assert_eq!(m[0].error_code().unwrap(), libc::ENOENT);
        assert_eq!(m[0].done_code(), libc::ENOENT);
        let d = header(16, 0, 1, 7);
        let m = split(&d).unwrap();
        assert!(m[0].error_code().is_err());
        assert_eq!(m[0].done_code(), 0);
    }

    #[test]
    fn iterates_attributes() {
        // type 1 (nested flag set) "ab", then type 2 with a u32.
        let mut b = vec![6, 0, 1, 0x80, b'a', b'b', 0, 0];
        b.extend_from_slice(&[8, 0, 2, 0, 9, 0, 0, 0]);
        let a: Vec<_> = attributes(&b).collect::<Result<_, _>>().unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].kind, a[0].value), (1, &b"ab"[..]));
        assert_eq!(a[0].whole.len(), 6);
        assert_eq!(a[1].kind, 2);
        let bad = [9, 0, 1, 0, 1];
        let mut it = attributes(&bad);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }
}
