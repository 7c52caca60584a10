//! Real traffic between namespaces: small TCP and UDP servers that answer
//! every connection with the peer address they saw (so a test can tell
//! whether traffic was masqueraded), probes with timeouts, and a measured
//! one-way TCP transfer (for rate limits).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Netns;

/// What a probe learned: the source address the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The client address as seen by the server ("ip:port").
    pub seen_peer: SocketAddr,
}

/// A TCP server inside a namespace; stops when dropped.
#[derive(Debug)]
pub struct TcpServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The address it listens on.
    pub addr: SocketAddr,
}

impl TcpServer {
    /// Listen on `addr` inside `ns` (use port 0 for any port). Every
    /// connection gets one line: the peer address, then it is closed.
    pub fn start(ns: &Netns, addr: SocketAddr) -> TcpServer {
        let listener = ns
            .run(move || TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("binding TCP {addr} in {}: {e}", ns.name()));
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("listener address");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, peer)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.write_all(format!("{peer}\n").as_bytes());
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TcpServer {
            stop,
            thread: Some(thread),
            addr,
        }
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP server inside a namespace: answers each datagram with the peer
/// address it came from; stops when dropped.
#[derive(Debug)]
pub struct UdpServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The address it listens on.
    pub addr: SocketAddr,
}

impl UdpServer {
    /// Bind `addr` inside `ns`.
    pub fn start(ns: &Netns, addr: SocketAddr) -> UdpServer {
        let sock = ns
            .run(move || UdpSocket::bind(addr))
            .unwrap_or_else(|e| panic!("binding UDP {addr} in {}: {e}", ns.name()));
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("udp timeout");
        let addr = sock.local_addr().expect("udp address");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((_, peer)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(format!("{peer}\n").as_bytes(), peer);
                }
            }
        });
        UdpServer {
            stop,
            thread: Some(thread),
            addr,
        }
    }
}

impl Drop for UdpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn parse_reply(text: &str) -> io::Result<Probe> {
    let seen_peer = text
        .trim()
        .parse()
        .map_err(|_| io::Error::other(format!("unexpected reply {text:?}")))?;
    Ok(Probe { seen_peer })
}

/// Connect from inside `ns` to `to` over TCP and read the server's line.
pub fn tcp_probe(ns: &Netns, to: SocketAddr, timeout: Duration) -> io::Result<Probe> {
    let mut s = ns.run(move || TcpStream::connect_timeout(&to, timeout))?;
    s.set_read_timeout(Some(timeout))?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    parse_reply(&text)
}

/// Send one datagram from inside `ns` to `to` and wait for the answer,
/// retrying a few times within `timeout` (UDP may be dropped while rules
/// settle).
pub fn udp_probe(ns: &Netns, to: SocketAddr, timeout: Duration) -> io::Result<Probe> {
    udp_probe_from(ns, None, to, timeout)
}

/// Like [`udp_probe`] from a fixed local address (to reuse a conntrack
/// tuple across probes).
pub fn udp_probe_from(
    ns: &Netns,
    local: Option<SocketAddr>,
    to: SocketAddr,
    timeout: Duration,
) -> io::Result<Probe> {
    let any: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let bind = local.unwrap_or(any);
    let sock = ns.run(move || UdpSocket::bind(bind))?;
    let tries = 5u32;
    sock.set_read_timeout(Some(timeout / tries))?;
    let mut buf = [0u8; 512];
    let mut last = io::Error::from(io::ErrorKind::TimedOut);
    for _ in 0..tries {
        sock.send_to(b"ping", to)?;
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => return parse_reply(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A one-way TCP transfer as the receiver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Bytes received.
    pub bytes: usize,
    /// From the first byte received to the end of the stream: connection
    /// setup is not counted.
    pub elapsed: Duration,
}

impl Transfer {
    /// Bits per second over `elapsed`, not counting the first `skip`
    /// bytes (e.g. a token bucket's burst, which passes at line rate).
    pub fn bits_per_sec(&self, skip: usize) -> f64 {
        let bits = self.bytes.saturating_sub(skip) as f64 * 8.0;
        bits / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Send `bytes` bytes over TCP from inside `from` to a receiver that
/// listens on `at` inside `to`, and time it at the receiver. Every socket
/// operation is bounded by `timeout`.
pub fn tcp_transfer(
    from: &Netns,
    to: &Netns,
    at: SocketAddr,
    bytes: usize,
    timeout: Duration,
) -> io::Result<Transfer> {
    let listener = to.run(move || TcpListener::bind(at))?;
    let at = listener.local_addr()?;
    let mut out = from.run(move || TcpStream::connect_timeout(&at, timeout))?;
    // The handshake is complete: accept takes it from the backlog.
    let (mut conn, _) = listener.accept()?;
    conn.set_read_timeout(Some(timeout))?;
    out.set_write_timeout(Some(timeout))?;
    let sender = std::thread::spawn(move || -> io::Result<()> {
        let chunk = vec![0x5au8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            out.write_all(&chunk[..n])?;
            left -= n;
        }
        out.shutdown(Shutdown::Write)
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    let mut first: Option<Instant> = None;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        got += n;
    }
    let elapsed = first.map(|t| t.elapsed()).unwrap_or_default();
    sender
        .join()
        .map_err(|_| io::Error::other("the sending thread panicked"))??;
    Ok(Transfer {
        bytes: got,
        elapsed,
    })
}

/// How many transfers [`tcp_best_rate`] tries at most.
const RATE_TRIES: usize = 3;

/// The best rate, in bits per second not counting the first `skip` bytes,
/// of up to three TCP transfers of `bytes` bytes (see [`tcp_transfer`];
/// each must arrive whole), stopping at the first that reaches `enough`. A token bucket caps every
/// transfer at its rate, but TCP through a small bucket sometimes loses a
/// good part of one transfer to drops and a retransmission timeout: the
/// best of a few shows the shaper's rate, while a missing or wrong shaper
/// still shows in every one of them.
pub fn tcp_best_rate(
    from: &Netns,
    to: &Netns,
    at: SocketAddr,
    bytes: usize,
    skip: usize,
    timeout: Duration,
    enough: f64,
) -> io::Result<f64> {
    let mut best = 0f64;
    for _ in 0..RATE_TRIES {
        let t = tcp_transfer(from, to, at, bytes, timeout)?;
        if t.bytes != bytes {
            return Err(io::Error::other(format!(
                "the receiver got {} of {bytes} bytes",
                t.bytes
            )));
        }
        let rate = t.bits_per_sec(skip);
        best = best.max(rate);
        if best >= enough {
            break;
        }
    }
    Ok(best)
}
