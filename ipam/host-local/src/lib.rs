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
//! - [`plugin`]: the CNI verbs.

pub mod allocator;
pub mod config;
pub mod dns;
pub mod plugin;
pub mod range;
pub mod store;

pub use plugin::HostLocal;

/// host-local's plugin-specific error codes (100 and up, SPEC.md "Error").
pub mod code {
    /// A range set has no free address left.
    pub const EXHAUSTED: u32 = 100;
    /// A requested address is held by someone else.
    pub const REQUESTED_UNAVAILABLE: u32 = 101;
    /// The attachment already holds an address (ADD twice without DEL).
    pub const ALREADY_ALLOCATED: u32 = 102;
    /// CHECK found no record, or records that differ from prevResult.
    pub const CHECK_FAILED: u32 = 103;
}
