//! Host networking for the CNI plugins: everything a plugin asks of the
//! kernel except netfilter (which is the `netfilter` crate).
//!
//! - [`netns`]: network namespaces as file descriptors; run a closure
//!   inside one and always come back.
//! - [`netlink`]: a small blocking rtnetlink layer (links, bridges, veth
//!   pairs, ifb devices, bridge ports and VLANs, addresses, routes, tc
//!   qdiscs and filters, and waits for DAD and operstate), one socket per
//!   namespace.
//! - [`nlsock`]: the blocking netlink socket under rtnetlink and the
//!   `netfilter` crate's nfnetlink, for any netlink protocol.
//! - [`sysctl`]: read and write `/proc/sys` (per network namespace for
//!   `net/*`), writing only when the value differs.
//! - [`random`]: kernel randomness, and the reference's host veth names.
//! - [`mac`]: MAC addresses as the reference prints and parses them.
//!
//! This crate does not depend on `libcni`: its errors are its own, and
//! libcni's `hostnet` feature turns them into CNI errors
//! (ARCHITECTURE.md, "Layers"). Plugins are short-lived, single-threaded
//! processes (ARCHITECTURE.md principle 1): everything here is synchronous
//! and never sleeps.

pub mod mac;
pub mod netlink;
pub mod netns;
pub mod nlsock;
pub mod random;
pub mod sysctl;

pub use mac::MacAddr;
pub use netlink::{Netlink, NetlinkError};
pub use netns::{NetNs, NetNsError};
