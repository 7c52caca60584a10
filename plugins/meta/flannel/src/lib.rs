//! The CNI `flannel` plugin: the first plugin of kube-flannel's and k3s's
//! conflists. It reads the node's pod subnet from the `subnet.env` that
//! flanneld writes, builds a `bridge` + `host-local` config from it and
//! the conf's `delegate` and `ipam` keys, keeps that config on disk, and
//! runs the delegate through `CNI_PATH` (flannel-io/cni-plugin v1.9.1: same
//! keys, defaults, delegate config and scratch file).
//!
//! - `config/`: the plugin's keys and their defaults.
//! - [`subnet_env`]: parsing `subnet.env` as flanneld writes it.
//! - [`delegate`]: the delegate config, exactly as the reference builds it.
//! - [`scratch`]: the saved delegate config, so DEL replays what ADD ran,
//!   whichever implementation ran the ADD.
//! - one file per verb. Beyond the reference: DEL keeps the saved config
//!   until the delegate's DEL succeeded, CHECK and GC and STATUS reach the
//!   delegate, and a missing `subnet.env` is "try again later" (ADD, code
//!   11) and "not available" (STATUS, code 50).

mod add;
mod check;
pub mod code;
pub mod config;
mod del;
pub mod delegate;
mod gc;
mod plugin;
pub mod scratch;
mod status;
pub mod subnet_env;

pub use plugin::Flannel;
