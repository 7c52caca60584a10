//! The one interface this plugin touches.

use hostnet::netlink::LinkInfo;
use hostnet::{NetNs, Netlink};
use libcni::Error;

/// The only interface this plugin touches.
pub const LO: &str = "lo";

/// A netlink socket in the container's namespace (ARCHITECTURE.md
/// principle 2) and `lo` as the kernel has it.
pub fn open_lo(netns: &NetNs) -> Result<(Netlink, LinkInfo), Error> {
    let nl = Netlink::in_netns(netns)?;
    let lo = nl.link_by_name(LO)?;
    Ok((nl, lo))
}
