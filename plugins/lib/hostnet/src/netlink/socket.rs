//! The blocking rtnetlink socket: requests acknowledged by the kernel,
//! dumps retried when the kernel says they were interrupted, and multicast
//! notifications for the waits.
//!
//! Replies are matched by port id and sequence number; anything else read
//! while waiting for a reply (a leftover of an earlier request) is skipped.
//! Sockets that join a multicast group are only used to wake waiters and
//! never carry requests (see `wait.rs`).

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket as RawSocket, SocketAddr, protocols::NETLINK_ROUTE};

use super::error::Fail;

/// Receive buffer: larger than the biggest datagram the kernel builds for
/// a dump (it sizes dump chunks to the reader's buffer, up to 32 KiB).
const RECV_BUF: usize = 64 * 1024;
/// How long to wait for the kernel's answer to a request before giving up.
/// The kernel answers in microseconds; this only bounds a lost reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an interrupted dump (`NLM_F_DUMP_INTR`: the table changed
/// while it was being read) is restarted before failing.
const DUMP_RETRIES: usize = 50;
/// `NLM_F_ACK_TLVS`: the error message carries extended-ACK attributes.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: the kernel's human-readable reason.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Size of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;

/// One rtnetlink socket, bound to the network namespace it was opened in.
#[derive(Debug)]
pub(crate) struct Socket {
    sock: RawSocket,
    port: u32,
    seq: Cell<u32>,
    capped: bool,
    buf: RefCell<Vec<u8>>,
}

/// What a reply stream ended with.
struct Collected {
    messages: Vec<RouteNetlinkMessage>,
    interrupted: bool,
}

impl Socket {
    /// Open and bind a socket in the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Socket> {
        let mut sock = RawSocket::new(NETLINK_ROUTE)?;
        let addr = sock.bind_auto()?;
        // Extended ACKs give the kernel's reason ("Unknown device type",
        // ...); capped ACKs keep errors from echoing the whole request.
        // Both are optional: older kernels just give bare errnos.
        let _ = sock.set_ext_ack(true);
        let capped = sock.set_cap_ack(true).is_ok();
        set_recv_timeout(&sock, REPLY_TIMEOUT)?;
        Ok(Socket {
            sock,
            port: addr.port_number(),
            seq: Cell::new(0),
            capped,
            buf: RefCell::new(Vec::with_capacity(RECV_BUF)),
        })
    }

    fn send(&self, msg: RouteNetlinkMessage, flags: u16) -> Result<u32, Fail> {
        let seq = self.seq.get().wrapping_add(1).max(1);
        self.seq.set(seq);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut bytes = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut bytes);
        let kernel = SocketAddr::new(0, 0);
        self.sock
            .send_to(&bytes, &kernel, 0)
            .map_err(|e| Fail::io(&e))?;
        Ok(seq)
    }

    /// Send a request that the kernel acknowledges (`NLM_F_ACK` is added)
    /// and return the messages it answered with before the ACK (e.g. the
    /// link for an `RTM_GETLINK` by name; nothing for changes).
    pub(crate) fn request(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, Fail> {
        let seq = self.send(msg, flags | NLM_F_ACK)?;
        Ok(self.collect(seq, false)?.messages)
    }

    /// Dump a table. `make` builds the request; it is sent again when the
    /// kernel marks the dump as interrupted by a concurrent change, so the
    /// caller never sees an inconsistent snapshot.
    pub(crate) fn dump(
        &self,
        make: impl Fn() -> RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, Fail> {
        for _ in 0..DUMP_RETRIES {
            let seq = self.send(make(), NLM_F_DUMP)?;
            let got = self.collect(seq, true)?;
            if !got.interrupted {
                return Ok(got.messages);
            }
        }
        Err(Fail {
            errno: Some(libc::EINTR),
            detail: format!(
                "the dump was interrupted by concurrent changes {DUMP_RETRIES} times in a row"
            ),
        })
    }

    /// Read replies to `seq` until the ACK/error (requests) or `DONE`
    /// (dumps). The stream is always read to its end, so that no reply is
    /// left behind for the next request; the first failure is returned.
    fn collect(&self, seq: u32, dump: bool) -> Result<Collected, Fail> {
        let mut out = Collected {
            messages: Vec::new(),
            interrupted: false,
        };
        let mut failure: Option<Fail> = None;
        let mut buf = self.buf.borrow_mut();
        loop {
            let n = match self.recv(&mut buf, 0) {
                Ok(n) => n,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Request sockets join no group, so only an overflow
                    // of our own dump can get here; report it.
                    return Err(Fail::io(&e));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(Fail {
                        errno: Some(libc::ETIMEDOUT),
                        detail: format!("no reply from the kernel within {REPLY_TIMEOUT:?}"),
                    });
                }
                Err(e) => return Err(Fail::io(&e)),
            };
            let mut finished = false;
            for raw in split_messages(&buf[..n])? {
                let (hdr_seq, hdr_port, hdr_flags) = peek_header(raw);
                if hdr_seq != seq || hdr_port != self.port {
                    continue;
                }
                if hdr_flags & NLM_F_DUMP_INTR != 0 {
                    out.interrupted = true;
                }
                let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw);
                let msg = match parsed {
                    Ok(m) => m,
                    Err(e) => {
                        failure.get_or_insert(Fail::protocol(format!(
                            "cannot decode the kernel's reply: {e}"
                        )));
                        continue;
                    }
                };
                match msg.payload {
                    NetlinkPayload::InnerMessage(m) => out.messages.push(m),
                    NetlinkPayload::Error(err) => {
                        if let Some(code) = err.code {
                            failure.get_or_insert(Fail {
                                errno: Some(code.get().abs()),
                                detail: ext_ack_message(msg.header.flags, &err.header, self.capped)
                                    .unwrap_or_default(),
                            });
                        }
                        // An ACK or an error ends a request; an error ends
                        // a dump too.
                        finished = true;
                    }
                    NetlinkPayload::Done(done) if dump => {
                        if done.code < 0 {
                            failure.get_or_insert(Fail {
                                errno: Some(-done.code),
                                detail: parse_ext_ack(&done.extended_ack).unwrap_or_default(),
                            });
                        }
                        finished = true;
                    }
                    NetlinkPayload::Overrun(_) => {
                        failure.get_or_insert(Fail::protocol("netlink overrun"));
                    }
                    _ => {}
                }
            }
            if finished {
                return match failure {
                    Some(f) => Err(f),
                    None => Ok(out),
                };
            }
        }
    }

    /// One datagram into `buf`; returns its length. Longer datagrams than
    /// the buffer are an error instead of silently cut.
    fn recv(&self, buf: &mut Vec<u8>, flags: libc::c_int) -> io::Result<usize> {
        buf.clear();
        buf.reserve(RECV_BUF);
        let n = self.sock.recv(buf, flags | libc::MSG_TRUNC)?;
        if n > buf.len() {
            return Err(io::Error::other(format!(
                "netlink datagram of {n} bytes does not fit the {} byte buffer",
                buf.len()
            )));
        }
        Ok(n)
    }

    /// Join a multicast group (`RTNLGRP_*`), so that changes wake
    /// [`Socket::wait_event`].
    pub(crate) fn subscribe(&self, group: u32) -> Result<(), Fail> {
        self.sock.add_membership(group).map_err(|e| Fail::io(&e))?;
        Ok(())
    }

    /// Block until a notification arrives or `deadline` passes; drains
    /// everything queued. Returns false on timeout.
    pub(crate) fn wait_event(&self, deadline: Instant) -> Result<bool, Fail> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let left = deadline - now;
            // Round up so that a sub-millisecond remainder still sleeps.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid pollfd for the duration of the
            // call, matching the count of 1.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(Fail::io(&e));
            }
            if rc == 0 {
                continue;
            }
            self.drain()?;
            return Ok(true);
        }
    }

    /// Read and discard everything queued (an overflow just means more
    /// changes than the buffer held: the waiter looks again either way).
    fn drain(&self) -> Result<(), Fail> {
        let mut buf = self.buf.borrow_mut();
        loop {
            match self.recv(&mut buf, libc::MSG_DONTWAIT) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(e) => return Err(Fail::io(&e)),
            }
        }
    }
}

fn set_recv_timeout(sock: &RawSocket, t: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: the fd is open; `tv` is a valid timeval and its exact size is
    // passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Split one datagram into its netlink messages (`NLMSG_NEXT`).
pub(crate) fn split_messages(mut data: &[u8]) -> Result<Vec<&[u8]>, Fail> {
    let mut out = Vec::new();
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(Fail::protocol(format!(
                "malformed netlink message length {len} (datagram has {} bytes left)",
                data.len()
            )));
        }
        out.push(&data[..len]);
        let next = align4(len).min(data.len());
        data = &data[next..];
    }
    Ok(out)
}

/// (sequence number, port id, flags) of a message known to hold a header.
fn peek_header(raw: &[u8]) -> (u32, u32, u16) {
    let u32_at = |i: usize| u32::from_ne_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
    let flags = u16::from_ne_bytes([raw[6], raw[7]]);
    (u32_at(8), u32_at(12), flags)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The kernel's message from an `NLMSG_ERROR` payload: after the errno
/// comes the echoed request (only its header with capped ACKs, all of it
/// otherwise), then the extended-ACK attributes.
fn ext_ack_message(flags: u16, payload_after_code: &[u8], capped: bool) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || payload_after_code.len() < NLMSG_HDRLEN {
        return None;
    }
    let skip = if capped {
        NLMSG_HDRLEN
    } else {
        let echoed = u32::from_ne_bytes([
            payload_after_code[0],
            payload_after_code[1],
            payload_after_code[2],
            payload_after_code[3],
        ]) as usize;
        align4(echoed.max(NLMSG_HDRLEN))
    };
    parse_ext_ack(payload_after_code.get(skip..)?)
}

/// Find `NLMSGERR_ATTR_MSG` in a run of netlink attributes.
pub(crate) fn parse_ext_ack(mut tlvs: &[u8]) -> Option<String> {
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &tlvs[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or(text);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        tlvs = &tlvs[align4(len).min(tlvs.len())..];
    }
    None
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

    #[test]
    fn splits_aligned_messages() {
        let mut d = header(20, 0, 1, 7);
        d.extend_from_slice(&[1, 2, 3, 4]);
        d.extend(header(16, 0, 2, 7));
        let parts = split_messages(&d).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(peek_header(parts[0]), (1, 7, 0));
        assert_eq!(peek_header(parts[1]), (2, 7, 0));
    }

    #[test]
    fn rejects_bad_lengths() {
        let d = header(200, 0, 1, 7);
        assert!(split_messages(&d).is_err());
        let d = header(8, 0, 1, 7);
        assert!(split_messages(&d).is_err());
    }

    #[test]
    fn finds_extack_message() {
        let mut payload = header(16, 0, 1, 7); // echoed request header
        let msg = b"Unknown device type\0";
        let len = (4 + msg.len()) as u16;
        payload.extend_from_slice(&len.to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(msg);
        while !payload.len().is_multiple_of(4) {
            payload.push(0);
        }
        assert_eq!(
            ext_ack_message(NLM_F_ACK_TLVS, &payload, true).as_deref(),
            Some("Unknown device type")
        );
        assert_eq!(ext_ack_message(0, &payload, true), None);
    }
}
