//! `libcni`: the Container Network Interface specification in Rust.
//!
//! - [`spec`]: versions, configuration, results (every version from 0.1.0
//!   to 1.1.0, converted on one code path), errors and `CNI_ARGS`.
//! - [`skel`]: the plugin side: read the environment and stdin, validate,
//!   dispatch to a [`skel::Plugin`], print the reply.
//! - [`invoke`]: find and execute a plugin binary (used by plugins to call
//!   their IPAM delegate and by the runtime side).
//! - [`runtime`]: the container runtime's side: load a network from a
//!   configuration directory, run its plugins (ADD, CHECK, DEL, GC, STATUS),
//!   keep libcni's result cache.
//! - `fsutil`: crash-safe writes of the small state files plugins keep.
//! - `hostnet` (feature `hostnet`): the CNI error codes of the host kit's
//!   failures, for plugins that use the `hostnet` crate.

pub mod fsutil;
#[cfg(feature = "hostnet")]
pub mod hostnet;
pub mod invoke;
pub mod log;
pub mod runtime;
pub mod skel;
pub mod spec;

pub use spec::{CniResult, Error, Errors, NetConf, Version};
