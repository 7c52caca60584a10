//! `host-local`: the CNI IPAM plugin that hands out addresses from
//! configured ranges and records them in a per-network directory on the
//! node, compatible with the reference plugin's store
//! (containernetworking/plugins, plugins/ipam/host-local).
//!
//! - [`config`]: the `ipam` section and requested addresses, validated.
//! - [`range`]: ranges and range sets.
//! - [`allocator`]: the round-robin walk and ADD across range sets.
//! - [`store`]: the on-disk store (records, lock, index).
//! - [`dns`]: `resolvConf` parsing.
//! - [`plugin`]: the skeleton's trait; each verb in its own file.
//! - [`code`]: host-local's own error codes.

mod add;
pub mod allocator;
mod check;
pub mod code;
pub mod config;
mod del;
pub mod dns;
mod gc;
pub mod plugin;
pub mod range;
mod status;
pub mod store;

pub use plugin::HostLocal;
