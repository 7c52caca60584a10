//! Why nfnetlink sockets are not closed as soon as their work is done.
//!
//! Releasing a NETLINK_NETFILTER socket runs nf_tables' `NETLINK_URELEASE`
//! handler (`nft_rcv_nl_event`), which takes the namespace's nf_tables
//! commit mutex and flushes the work that frees objects removed by earlier
//! commits (`nf_tables_trans_destroy_flush_work`); that work starts with
//! `synchronize_rcu()`. So closing a socket right after a commit that
//! deleted rules or chains waits a full RCU grace period (about 10 ms on
//! the 2-core VM this project is measured on), in line, holding the commit
//! mutex. Worse, every device unregistration in the namespace passes
//! nf_tables' `NETDEV_UNREGISTER` notifier, which takes the same mutex:
//! bridge's and ptp's DEL, which delete the veth while another thread
//! removes the masquerade rules, had the two waits serialized (measured:
//! bridge DEL 45 ms with masquerade against 30 ms without).
//!
//! A socket whose work is done is therefore parked here instead of being
//! closed. In a plugin, a short-lived process (ARCHITECTURE.md principle
//! one), it is closed when the process exits, by which time the grace
//! period has normally passed during the rest of the call (deleting the
//! veth alone takes longer), and the release finds nothing left to flush. A
//! long-lived process (tests, cni-bench, the doctor) keeps at most
//! [`MAX_PARKED`] of them: parking one more closes the oldest. It can also
//! close them all at a moment of its choosing ([`close_parked`]).

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::Mutex;

use hostnet::nlsock::NlSocket;

/// How many released sockets are kept open at most.
const MAX_PARKED: usize = 8;

static PARKED: Mutex<VecDeque<NlSocket>> = Mutex::new(VecDeque::new());

/// An nfnetlink socket that is parked instead of closed when dropped.
#[derive(Debug)]
pub(crate) struct NfSocket(Option<NlSocket>);

impl NfSocket {
    pub(crate) fn new(sock: NlSocket) -> NfSocket {
        NfSocket(Some(sock))
    }
}

impl Deref for NfSocket {
    type Target = NlSocket;

    fn deref(&self) -> &NlSocket {
        // Only `drop` takes the socket out.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("an NfSocket is used after drop"))
    }
}

impl Drop for NfSocket {
    fn drop(&mut self) {
        let Some(sock) = self.0.take() else {
            return;
        };
        // A poisoned lock only means another thread panicked while
        // parking: the queue itself is still a valid queue.
        let mut parked = PARKED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        parked.push_back(sock);
        while parked.len() > MAX_PARKED {
            parked.pop_front();
        }
    }
}

/// Close every parked socket now. The first close after a commit that
/// removed nf_tables objects waits for the kernel's deferred frees (the
/// `synchronize_rcu()` described above), in this thread: that is the wait a
/// plugin pays at exit, paid here by a long-lived caller that wants it
/// counted where it happens (the benchmark's kernel floor) or its
/// descriptors back. Returns how many were closed.
pub fn close_parked() -> usize {
    let drained: Vec<NlSocket> = PARKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .drain(..)
        .collect();
    // Dropped outside the lock, so a release that waits on the kernel does
    // not hold up other threads parking theirs.
    drained.len()
}

/// How many sockets are parked now (for tests).
#[cfg(test)]
pub(crate) fn parked() -> usize {
    PARKED.lock().map(|p| p.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostnet::nlsock::Protocol;
    use std::time::Duration;

    #[test]
    fn dropped_sockets_stay_open_up_to_the_bound() {
        let open_fds = || {
            std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count())
                .unwrap_or(0)
        };
        // Fill the queue so the count below is not disturbed by what other
        // tests parked before.
        for _ in 0..MAX_PARKED {
            drop(NfSocket::new(
                NlSocket::open(Protocol::Netfilter, Duration::from_secs(1)).expect("socket"),
            ));
        }
        let before = open_fds();
        let s = NfSocket::new(
            NlSocket::open(Protocol::Netfilter, Duration::from_secs(1)).expect("socket"),
        );
        assert!(s.port() != 0);
        assert_eq!(open_fds(), before + 1);
        drop(s);
        // Parked (still open), and the oldest one closed: same count.
        assert_eq!(open_fds(), before);
        assert!(parked() <= MAX_PARKED);
        // Here, not in a test of its own: both use the process-wide queue.
        close_parked_closes_what_was_parked();
    }

    /// Whether a NETLINK_NETFILTER socket with `port` is open in this
    /// thread's network namespace (`/proc/net/netlink`: protocol in the
    /// second column, port id in the third).
    fn nf_port_open(port: u32) -> bool {
        let table =
            std::fs::read_to_string("/proc/thread-self/net/netlink").expect("netlink table");
        table.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"12") && f.get(2) == Some(&port.to_string().as_str())
        })
    }

    fn close_parked_closes_what_was_parked() {
        let s = NfSocket::new(
            NlSocket::open(Protocol::Netfilter, Duration::from_secs(1)).expect("socket"),
        );
        let port = s.port();
        drop(s);
        assert!(nf_port_open(port), "a dropped socket stays open, parked");
        assert!(close_parked() >= 1);
        assert!(!nf_port_open(port), "close_parked closed it");
    }
}
