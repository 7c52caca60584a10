//! Host networking for the CNI plugins (bridge, portmap, loopback).
//!
//! - [`netns`]: network namespaces as file descriptors; run a closure
//!   inside one and always come back.
//! - [`netlink`]: a small blocking rtnetlink layer (links, bridges, veth
//!   pairs, bridge ports and VLANs, addresses, routes, and waits for DAD
//!   and operstate), one socket per namespace.
//! - [`sysctl`]: read and write `/proc/sys` (per network namespace for
//!   `net/*`), writing only when the value differs.
//! - [`random`]: kernel randomness, and the reference's host veth names.
//! - [`firewall`]: iptables and nftables drivers, chain names compatible
//!   with the reference, and the bridge's masquerade state.
//!
//! Plugins are short-lived, single-threaded processes (DESIGN.md
//! principle 1): everything here is synchronous and never sleeps.

pub mod firewall;
pub mod mac;
pub mod netlink;
pub mod netns;
pub mod random;
pub mod sysctl;

pub use mac::MacAddr;
pub use netlink::{Netlink, NetlinkError};
pub use netns::{NetNs, NetNsError};
