//! The CNI `portmap` plugin: forwards host ports to a container with
//! iptables or nftables DNAT, chained after an interface plugin
//! (plugins:plugins/meta/portmap; CONVENTIONS.md `portMappings`).
//!
//! - `plugin.rs`: the skeleton's verbs, each in its own file (`add.rs`,
//!   `del.rs`, `check.rs`, `gc.rs`), which hand the container's
//!   [`forward::Forward`] to netfilter's driver.
//! - [`config`]: keys, defaults, validation of every value that reaches a
//!   rule; [`code`]: the plugin's own error codes.
//! - [`pod`]: the container's identity and derived names.
//! - [`iptables`], [`nft`]: the plugin's two rule sets (layouts identical
//!   to the reference's, so a node can switch implementations with pods
//!   running).
//! - [`hostif`]: `route_localnet` on the interface towards the pod;
//!   `udp.rs`: stale UDP conntrack entries of the mapped ports, deleted
//!   after ADD and DEL.

mod add;
mod check;
pub mod code;
pub mod config;
mod del;
pub mod forward;
mod gc;
pub mod hostif;
pub mod iptables;
pub mod nft;
mod plugin;
pub mod pod;
mod udp;

#[cfg(test)]
mod testutil;

pub use plugin::Portmap;
