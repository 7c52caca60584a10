//! Waiting for the kernel without sleeping: join the multicast group that
//! reports the change, read the current state, and only if it is not yet
//! what we want, block in poll(2) until a notification or the deadline.
//! Joining first means no change can slip between the look and the wait.
//!
//! Notifications arrive on a separate socket from the requests. On a busy
//! node (a hundred pods being added at once) the notification flood
//! overflows a socket's buffer; on a request socket that would drop the
//! kernel's replies, on the event socket it only means "something changed,
//! look again".

use std::time::{Duration, Instant};

use super::addr::Family;
use super::link::{LinkInfo, OperState};
use super::socket::Socket;
use super::{Netlink, NetlinkError};

/// `RTNLGRP_LINK`: link changes (operstate, flags).
const RTNLGRP_LINK: u32 = 1;
/// `RTNLGRP_IPV6_IFADDR`: IPv6 address changes (DAD completion clears
/// `IFA_F_TENTATIVE` and is announced here).
const RTNLGRP_IPV6_IFADDR: u32 = 9;

impl Netlink {
    /// A socket in this handle's namespace that receives `group`'s
    /// notifications.
    fn events(&self, group: u32, op: &dyn Fn() -> String) -> Result<Socket, NetlinkError> {
        let opened = match &self.ns {
            None => Socket::open(),
            Some(ns) => ns
                .run(Socket::open)
                .map_err(|e| NetlinkError::new(op(), None, e.to_string()))?,
        };
        let sock = opened.map_err(|e| super::Fail::io(&e).during(op()))?;
        sock.subscribe(group).map_err(|f| f.during(op()))?;
        Ok(sock)
    }

    /// Wait until no IPv6 address of link `index` is tentative, i.e.
    /// duplicate address detection has finished. Returns at once when DAD
    /// is off (addresses are never tentative then) or the link has no IPv6
    /// address. An address that failed DAD is an error (`EADDRINUSE`), as
    /// is the deadline passing (`ETIMEDOUT`). The link must be up: the
    /// kernel only runs DAD on running links.
    pub fn wait_dad(&self, index: u32, timeout: Duration) -> Result<(), NetlinkError> {
        let op = || format!("wait for IPv6 duplicate address detection on link #{index}");
        let deadline = Instant::now() + timeout;
        let events = self.events(RTNLGRP_IPV6_IFADDR, &op)?;
        loop {
            let addrs = self.addrs(Some(index), Family::V6)?;
            if let Some(bad) = addrs.iter().find(|a| a.is_dadfailed()) {
                return Err(NetlinkError::new(
                    op(),
                    Some(libc::EADDRINUSE),
                    format!(
                        "address {} failed duplicate address detection (another host uses it)",
                        bad.addr
                    ),
                ));
            }
            let tentative: Vec<String> = addrs
                .iter()
                .filter(|a| a.is_tentative())
                .map(|a| a.addr.to_string())
                .collect();
            if tentative.is_empty() {
                return Ok(());
            }
            if !events.wait_event(deadline).map_err(|f| f.during(op()))? {
                return Err(NetlinkError::new(
                    op(),
                    Some(libc::ETIMEDOUT),
                    format!(
                        "still tentative after {timeout:?}: {}",
                        tentative.join(", ")
                    ),
                ));
            }
        }
    }

    /// Wait until link `index` is operationally up (`IF_OPER_UP`), e.g. a
    /// host veth after it joined a bridge (the port goes through the
    /// bridge's forwarding states first). Returns the link as it is then;
    /// `ETIMEDOUT` when the deadline passes first.
    pub fn wait_oper_up(&self, index: u32, timeout: Duration) -> Result<LinkInfo, NetlinkError> {
        let op = || format!("wait for link #{index} to be operationally up");
        let deadline = Instant::now() + timeout;
        let events = self.events(RTNLGRP_LINK, &op)?;
        loop {
            let link = self.link_by_index(index)?;
            if link.operstate == OperState::Up {
                return Ok(link);
            }
            if !events.wait_event(deadline).map_err(|f| f.during(op()))? {
                return Err(NetlinkError::new(
                    op(),
                    Some(libc::ETIMEDOUT),
                    format!(
                        "link {:?} is still {:?} after {timeout:?}",
                        link.name, link.operstate
                    ),
                ));
            }
        }
    }
}
