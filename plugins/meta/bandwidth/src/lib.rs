//! The CNI `bandwidth` plugin: limits a pod's traffic with token bucket
//! filters, chained after the plugin that creates its veth
//! (plugins:plugins/meta/bandwidth, same keys, same kernel state).
//!
//! - traffic into the pod: a TBF at the root of the host veth;
//! - traffic out of the pod: the host veth's ingress is redirected to an
//!   ifb device with a TBF of its own (`ifb`).
//!
//! Modules: `config` (keys and validation), `tbf` (the reference's
//! numbers), `hostveth` (finding the host end), `ifb` (name and egress
//! chain), one file per verb, `code` (error codes).

mod add;
mod check;
pub mod code;
pub mod config;
mod del;
mod gc;
mod hostveth;
pub mod ifb;
mod plugin;
mod status;
pub mod tbf;

pub use plugin::Bandwidth;
