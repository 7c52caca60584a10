//! One blocking netlink socket for any netlink protocol: rtnetlink
//! ([`crate::netlink`]) and nfnetlink (the `netfilter` crate) are both
//! built on it, so opening, the receive timeout, sequence numbers,
//! receiving, splitting datagrams and reading the kernel's answers exist
//! once.
//!
//! A socket is opened and bound in the calling thread's network namespace
//! (a netlink socket stays bound to the namespace it was created in),
//! one per namespace and protocol (ARCHITECTURE.md principle 2). Replies
//! are matched by sequence number and port id: anything else read while
//! waiting (a leftover of an earlier request) is skipped.
//!
//! Timeout policy: the kernel answers a request in microseconds, so the
//! receive timeout never paces normal work; it only bounds how long a lost
//! reply (a kernel bug) can block a plugin. What that bound should be
//! depends on what the caller does without the answer, so each caller
//! passes its own when it opens the socket (a probe that has a fallback
//! gives up after seconds; a change whose outcome must be known waits
//! longer), and [`NlSocket::open`] is the one place that sets it.

mod message;

use std::cell::{Cell, RefCell};
use std::io;
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netlink_sys::{Socket, SocketAddr};

pub use message::{
    Attr, Attributes, Message, NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_TYPE_MASK, NLM_F_ACK,
    NLM_F_ACK_TLVS, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL,
    NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, align4, attributes, put_message, split,
};

/// Receive buffer: larger than the biggest datagram the kernel builds for
/// a dump (it sizes dump chunks to the reader's buffer, up to 32 KiB).
const RECV_BUF: usize = 64 * 1024;

/// The netlink protocols the plugins speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `NETLINK_ROUTE`: links, addresses, routes.
    Route,
    /// `NETLINK_NETFILTER`: nf_tables, conntrack.
    Netfilter,
}

impl Protocol {
    fn number(self) -> isize {
        match self {
            Protocol::Route => netlink_sys::protocols::NETLINK_ROUTE,
            Protocol::Netfilter => netlink_sys::protocols::NETLINK_NETFILTER,
        }
    }
}

/// What can go wrong talking to the kernel over netlink.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    /// A socket call failed.
    #[error("{0}")]
    Io(#[source] io::Error),
    /// No reply within the socket's receive timeout.
    #[error("no reply from the kernel within {0:?}")]
    Timeout(Duration),
    /// A datagram, message or attribute that does not parse, or a
    /// datagram larger than the receive buffer.
    #[error("{0}")]
    Malformed(String),
    /// The kernel answered the request with this errno.
    #[error("{}", io::Error::from_raw_os_error(*.0))]
    Kernel(i32),
}

impl NlError {
    /// The errno behind the failure, where there is one (`ETIMEDOUT` for a
    /// timeout).
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Io(e) => e.raw_os_error(),
            NlError::Timeout(_) => Some(libc::ETIMEDOUT),
            NlError::Malformed(_) => None,
            NlError::Kernel(errno) => Some(*errno),
        }
    }
}

impl From<NlError> for io::Error {
    fn from(e: NlError) -> io::Error {
        match e {
            NlError::Io(e) => e,
            NlError::Kernel(errno) => io::Error::from_raw_os_error(errno),
            NlError::Timeout(_) => io::Error::new(io::ErrorKind::TimedOut, e.to_string()),
            NlError::Malformed(m) => io::Error::new(io::ErrorKind::InvalidData, m),
        }
    }
}

/// A netlink socket bound to the network namespace it was opened in.
#[derive(Debug)]
pub struct NlSocket {
    sock: Socket,
    port: u32,
    seq: Cell<u32>,
    timeout: Duration,
    buf: RefCell<Vec<u8>>,
}

impl NlSocket {
    /// Open and bind a socket for `protocol` in the calling thread's
    /// network namespace; a blocking receive fails with
    /// [`NlError::Timeout`] after `timeout`.
    pub fn open(protocol: Protocol, timeout: Duration) -> io::Result<NlSocket> {
        let mut sock = Socket::new(protocol.number())?;
        let addr = sock.bind_auto()?;
        set_recv_timeout(&sock, timeout)?;
        Ok(NlSocket {
            sock,
            port: addr.port_number(),
            seq: Cell::new(0),
            timeout,
            buf: RefCell::new(Vec::with_capacity(RECV_BUF)),
        })
    }

    /// The port id the kernel addresses replies to.
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Ask for extended ACKs (the kernel's reason with an error); false
    /// when the kernel does not offer them.
    pub fn set_ext_ack(&self) -> bool {
        self.sock.set_ext_ack(true).is_ok()
    }

    /// Ask for capped ACKs (errors do not echo the whole request); false
    /// when the kernel does not offer them.
    pub fn set_cap_ack(&self) -> bool {
        self.sock.set_cap_ack(true).is_ok()
    }

    /// The next sequence number (never 0).
    pub fn next_seq(&self) -> u32 {
        self.take_seqs(1)
    }

    /// The first of `n` consecutive sequence numbers, for a batch of
    /// messages sent at once (the first is never 0).
    pub fn take_seqs(&self, n: u32) -> u32 {
        let first = self.seq.get().wrapping_add(1).max(1);
        self.seq.set(first.wrapping_add(n.saturating_sub(1)));
        first
    }

    /// Send one datagram (one or more messages) to the kernel.
    pub fn send(&self, bytes: &[u8]) -> Result<(), NlError> {
        self.sock
            .send_to(bytes, &SocketAddr::new(0, 0), 0)
            .map_err(NlError::Io)?;
        Ok(())
    }

    /// Receive one datagram into `buf`; returns its length. A datagram
    /// longer than the buffer is an error instead of silently cut; no
    /// datagram within the timeout is [`NlError::Timeout`] unless `flags`
    /// asks not to wait (then it is the `WouldBlock` I/O error).
    pub fn recv(&self, buf: &mut Vec<u8>, flags: libc::c_int) -> Result<usize, NlError> {
        buf.clear();
        buf.reserve(RECV_BUF);
        let n = match self.sock.recv(buf, flags | libc::MSG_TRUNC) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && flags & libc::MSG_DONTWAIT == 0 => {
                return Err(NlError::Timeout(self.timeout));
            }
            Err(e) => return Err(NlError::Io(e)),
        };
        if n > buf.len() {
            return Err(NlError::Malformed(format!(
                "netlink datagram of {n} bytes does not fit the {} byte buffer",
                buf.len()
            )));
        }
        Ok(n)
    }

    /// Read datagrams and hand every message addressed to this socket to
    /// `each`, until `each` breaks (the rest of that datagram is dropped).
    pub fn read(
        &self,
        mut each: impl FnMut(&Message<'_>) -> ControlFlow<()>,
    ) -> Result<(), NlError> {
        let mut buf = self.buf.borrow_mut();
        loop {
            let n = self.recv(&mut buf, 0)?;
            for m in split(&buf[..n])? {
                if m.port == self.port && each(&m).is_break() {
                    return Ok(());
                }
            }
        }
    }

    /// Read the reply stream of request `seq` to its end and hand every
    /// message of it to `each`, the last one included: the `NLMSG_ERROR`
    /// (ACK or error) of a request, the `NLMSG_DONE` (or an error) of a
    /// dump. Messages of other requests are skipped.
    pub fn replies(
        &self,
        seq: u32,
        dump: bool,
        mut each: impl FnMut(&Message<'_>),
    ) -> Result<(), NlError> {
        self.read(|m| {
            if m.seq != seq {
                return ControlFlow::Continue(());
            }
            each(m);
            if m.ty == NLMSG_ERROR || (dump && m.ty == NLMSG_DONE) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    /// Wait for the ACK of request `seq` (sent with `NLM_F_ACK`), handing
    /// the messages the kernel answered with before it to `each` (e.g. the
    /// object a `GET` asked for). The kernel's errno is
    /// [`NlError::Kernel`].
    pub fn ack_with(&self, seq: u32, mut each: impl FnMut(&Message<'_>)) -> Result<(), NlError> {
        let mut code = Ok(0);
        self.replies(seq, false, |m| {
            if m.ty == NLMSG_ERROR {
                code = m.error_code();
            } else {
                each(m);
            }
        })?;
        match code? {
            0 => Ok(()),
            errno => Err(NlError::Kernel(errno)),
        }
    }

    /// Wait for the ACK of request `seq`; see [`NlSocket::ack_with`].
    pub fn ack(&self, seq: u32) -> Result<(), NlError> {
        self.ack_with(seq, |_| {})
    }

    /// Read dump `seq` (sent with `NLM_F_DUMP`) to its `NLMSG_DONE`,
    /// handing each message of it to `each`. An error the kernel reports
    /// in an `NLMSG_ERROR` or in the `NLMSG_DONE` is [`NlError::Kernel`].
    pub fn dump(&self, seq: u32, mut each: impl FnMut(&Message<'_>)) -> Result<(), NlError> {
        let mut code = Ok(0);
        self.replies(seq, true, |m| match m.ty {
            NLMSG_ERROR => code = m.error_code(),
            NLMSG_DONE => code = Ok(m.done_code()),
            _ => each(m),
        })?;
        match code? {
            0 => Ok(()),
            errno => Err(NlError::Kernel(errno)),
        }
    }

    /// Join a multicast group, so that its notifications wake
    /// [`NlSocket::wait_event`]. A socket that joins a group should carry
    /// no requests: a notification flood would crowd out their replies.
    pub fn subscribe(&self, group: u32) -> Result<(), NlError> {
        self.sock.add_membership(group).map_err(NlError::Io)
    }

    /// Block until a notification arrives or `deadline` passes; drains
    /// everything queued. Returns false on timeout.
    pub fn wait_event(&self, deadline: Instant) -> Result<bool, NlError> {
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
                return Err(NlError::Io(e));
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
    fn drain(&self) -> Result<(), NlError> {
        let mut buf = self.buf.borrow_mut();
        loop {
            match self.recv(&mut buf, libc::MSG_DONTWAIT) {
                Ok(_) => {}
                Err(NlError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(NlError::Io(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// `SO_RCVTIMEO`: a blocking receive gives up after `t`.
fn set_recv_timeout(sock: &Socket, t: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: the fd is open for the lifetime of `sock`; `tv` is a valid
    // timeval and its exact size is passed.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_skip_zero_and_reserve_ranges() {
        let s = NlSocket::open(Protocol::Route, Duration::from_secs(1)).unwrap();
        assert_eq!(s.next_seq(), 1);
        assert_eq!(s.take_seqs(3), 2);
        assert_eq!(s.next_seq(), 5);
        s.seq.set(u32::MAX);
        assert_eq!(s.next_seq(), 1);
    }

    #[test]
    fn errors_keep_their_errno() {
        assert_eq!(NlError::Kernel(libc::ENOENT).errno(), Some(libc::ENOENT));
        assert_eq!(
            NlError::Timeout(Duration::from_secs(2)).errno(),
            Some(libc::ETIMEDOUT)
        );
        let io: io::Error = NlError::Kernel(libc::EBUSY).into();
        assert_eq!(io.raw_os_error(), Some(libc::EBUSY));
    }
}
