//! Real traffic between namespaces: small TCP and UDP servers that answer
//! every connection with the peer address they saw (so a test can tell
//! whether traffic was masqueraded), and probes with timeouts.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

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
