//! The rtnetlink socket: requests acknowledged by the kernel, dumps
//! retried when the kernel says they were interrupted, and multicast
//! notifications for the waits, over the protocol-generic
//! [`NlSocket`](crate::nlsock::NlSocket).
//!
//! Sockets that join a multicast group are only used to wake waiters and
//! never carry requests (see `wait.rs`).

use std::io;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::error::Fail;
use crate::nlsock::{self, NLM_F_ACK_TLVS, NLMSG_HDRLEN, NlError, NlSocket, Protocol};

/// How long to wait for the kernel's answer to a request before giving up.
/// The kernel answers in microseconds; this only bounds a lost reply, and
/// a plugin cannot go on without knowing whether its change was made, so
/// the bound is generous (link deletions wait for RCU grace periods).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an interrupted dump (`NLM_F_DUMP_INTR`: the table changed
/// while it was being read) is restarted before failing.
const DUMP_RETRIES: usize = 50;
/// `NLMSGERR_ATTR_MSG`: the kernel's human-readable reason.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// One rtnetlink socket, bound to the network namespace it was opened in.
#[derive(Debug)]
pub(crate) struct Socket {
    sock: NlSocket,
    capped: bool,
}

/// What a reply stream ended with.
struct Collected {
    messages: Vec<RouteNetlinkMessage>,
    interrupted: bool,
}

impl From<NlError> for Fail {
    fn from(e: NlError) -> Fail {
        match e {
            NlError::Io(e) => Fail::io(&e),
            NlError::Malformed(m) => Fail::protocol(m),
            NlError::Kernel(errno) => Fail {
                errno: Some(errno),
                detail: String::new(),
            },
            e @ NlError::Timeout(_) => Fail {
                errno: e.errno(),
                detail: e.to_string(),
            },
        }
    }
}

impl Socket {
    /// Open and bind a socket in the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Socket> {
        let sock = NlSocket::open(Protocol::Route, REPLY_TIMEOUT)?;
        // Extended ACKs give the kernel's reason ("Unknown device type",
        // ...); capped ACKs keep errors from echoing the whole request.
        // Both are optional: older kernels just give bare errnos.
        sock.set_ext_ack();
        let capped = sock.set_cap_ack();
        Ok(Socket { sock, capped })
    }

    fn send(&self, msg: RouteNetlinkMessage, flags: u16) -> Result<u32, Fail> {
        let seq = self.sock.next_seq();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut bytes = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.sock.send(&bytes)?;
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
    /// Request sockets join no group, so an overflow (`ENOBUFS`) can only
    /// be of our own dump, and is reported.
    fn collect(&self, seq: u32, dump: bool) -> Result<Collected, Fail> {
        let mut out = Collected {
            messages: Vec::new(),
            interrupted: false,
        };
        let mut failure: Option<Fail> = None;
        self.sock.replies(seq, dump, |raw| {
            if raw.flags & NLM_F_DUMP_INTR != 0 {
                out.interrupted = true;
            }
            let msg = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw.bytes) {
                Ok(m) => m,
                Err(e) => {
                    failure.get_or_insert(Fail::protocol(format!(
                        "cannot decode the kernel's reply: {e}"
                    )));
                    return;
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
                }
                NetlinkPayload::Done(done) if dump && done.code < 0 => {
                    failure.get_or_insert(Fail {
                        errno: Some(-done.code),
                        detail: parse_ext_ack(&done.extended_ack).unwrap_or_default(),
                    });
                }
                NetlinkPayload::Overrun(_) => {
                    failure.get_or_insert(Fail::protocol("netlink overrun"));
                }
                _ => {}
            }
        })?;
        match failure {
            Some(f) => Err(f),
            None => Ok(out),
        }
    }

    /// Join a multicast group (`RTNLGRP_*`), so that changes wake
    /// [`Socket::wait_event`].
    pub(crate) fn subscribe(&self, group: u32) -> Result<(), Fail> {
        Ok(self.sock.subscribe(group)?)
    }

    /// Block until a notification arrives or `deadline` passes; drains
    /// everything queued. Returns false on timeout.
    pub(crate) fn wait_event(&self, deadline: Instant) -> Result<bool, Fail> {
        Ok(self.sock.wait_event(deadline)?)
    }
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
        nlsock::align4(echoed.max(NLMSG_HDRLEN))
    };
    parse_ext_ack(payload_after_code.get(skip..)?)
}

/// Find `NLMSGERR_ATTR_MSG` in a run of netlink attributes.
fn parse_ext_ack(tlvs: &[u8]) -> Option<String> {
    for attr in nlsock::attributes(tlvs) {
        let attr = attr.ok()?;
        if attr.kind == NLMSGERR_ATTR_MSG {
            let text = attr.value;
            let text = text.split(|b| *b == 0).next().unwrap_or(text);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_extack_message() {
        let mut payload = Vec::new();
        // The echoed request header.
        nlsock::put_message(&mut payload, 2, 0, 1, |_| {});
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
