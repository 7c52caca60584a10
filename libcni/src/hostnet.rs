//! CNI errors for the host kit's failures (feature `hostnet`).
//!
//! The `hostnet` crate knows nothing of CNI (ARCHITECTURE.md, "Layers"),
//! and Rust's orphan rule lets only this crate or `hostnet` write
//! `impl From<hostnet::…> for libcni::Error`. Keeping the conversions here,
//! behind a feature only plugins enable, lets every plugin use `?` on host
//! kit calls and still answer with a named code.
//!
//! Each kind of host failure has a code of its own, so a runtime log (or a
//! test) can tell a kernel refusal from a namespace that cannot be entered.

use crate::Error;
use hostnet::{NetNsError, NetlinkError, sysctl::SysctlError};

/// Plugin-specific codes (spec: "100 and above") shared by every plugin that
/// uses the host kit. A plugin's own codes start at [`FIRST_PLUGIN_CODE`].
pub mod code {
    /// The kernel refused or failed a netlink request (links, addresses,
    /// routes, bridge ports, tc).
    pub const NETLINK: u32 = 101;
    /// A network namespace that exists could not be opened or entered.
    pub const NETNS: u32 = 102;
    /// A sysctl under /proc/sys could not be read or written.
    pub const SYSCTL: u32 = 103;
    /// A firewall change (iptables, nftables, nfnetlink, conntrack) failed.
    /// Used by the `netfilter` crate's conversion.
    pub const FIREWALL: u32 = 104;
    /// The first code a plugin may give its own failures.
    pub const FIRST_PLUGIN_CODE: u32 = 110;
}

impl From<NetlinkError> for Error {
    /// Names the operation, the object and the kernel's reason.
    fn from(e: NetlinkError) -> Self {
        Error::plugin(code::NETLINK, e.to_string())
    }
}

impl From<NetNsError> for Error {
    /// A missing path, or a path that is not a network namespace, is a bad
    /// `CNI_NETNS` (code 4); failing to enter an existing one is ours.
    fn from(e: NetNsError) -> Self {
        match e {
            NetNsError::NotFound { .. } | NetNsError::NotNetns { .. } => {
                Error::invalid_env(e.to_string())
            }
            NetNsError::Io { .. } => Error::plugin(code::NETNS, e.to_string()),
        }
    }
}

impl From<SysctlError> for Error {
    fn from(e: SysctlError) -> Self {
        Error::plugin(code::SYSCTL, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostnet::{NetNs, Netlink};

    #[test]
    fn netlink_failure_is_a_netlink_code_naming_the_object() {
        let nl = Netlink::new().unwrap();
        let e: Error = nl.link_by_name("nosuch0").unwrap_err().into();
        assert_eq!(e.code, code::NETLINK);
        assert!(e.msg.contains("get link \"nosuch0\""), "{}", e.msg);
        assert!(e.msg.contains("ENODEV"), "{}", e.msg);
    }

    #[test]
    fn missing_or_wrong_netns_is_invalid_env() {
        let e: Error = NetNs::open("/nonexistent/netns/x").unwrap_err().into();
        assert_eq!(e.code, crate::spec::error::code::INVALID_ENV);
        let e: Error = NetNs::open("/proc/self/status").unwrap_err().into();
        assert_eq!(e.code, crate::spec::error::code::INVALID_ENV);
    }

    #[test]
    fn sysctl_failure_is_a_sysctl_code_naming_the_key() {
        let e = hostnet::sysctl::get("net/ipv4/conf/no-such-if0/forwarding").unwrap_err();
        let e: Error = e.into();
        assert_eq!(e.code, code::SYSCTL);
        assert!(e.msg.contains("no-such-if0"), "{}", e.msg);
    }
}
