//! The CNI `firewall` plugin: lets a pod's traffic through the node's
//! firewall (iptables, nftables or firewalld), and optionally isolates
//! bridges from each other (`ingressPolicy`), as a drop-in for the
//! reference (plugins:plugins/meta/firewall v1.9.1).
//!
//! - `plugin.rs`: the skeleton's verbs (spec 0.4.0, 1.0.0, 1.1.0, as the
//!   reference), each in its own file (`add.rs`, `del.rs`, `check.rs`,
//!   `gc.rs`, `status.rs`); `teardown.rs` is what DEL and GC share.
//! - [`config`]: keys, defaults, validation; [`code`]: the plugin's own
//!   error codes; [`backend`]: which backend a call uses.
//! - [`pod`]: the attachment, its addresses and bridge; [`state`]: the
//!   per-attachment state file DEL and GC work from.
//! - [`rules`]: the attachment's rules as netfilter's driver runs them,
//!   on [`iptables`] (the reference's layout) or [`nft`] (ours);
//!   [`firewalld`]: zone sources over D-Bus.

mod add;
mod attached;
pub mod backend;
mod check;
pub mod code;
pub mod config;
mod del;
pub mod firewalld;
mod gc;
pub mod iptables;
pub mod nft;
mod plugin;
pub mod pod;
pub mod rules;
pub mod state;
mod status;
mod teardown;

#[cfg(test)]
mod testutil;

pub use plugin::{Firewall, VERSIONS};
