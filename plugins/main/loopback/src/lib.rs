//! The `loopback` plugin: brings `lo` up in the container's network
//! namespace (ADD), checks that it is up (CHECK) and brings it down (DEL),
//! like the reference (plugins:plugins/main/loopback).
//!
//! ADD reports `lo` with MAC 00:00:00:00:00:00 and the first IPv4 and
//! first IPv6 address the kernel has on it (127.0.0.1/8 and ::1/128 unless
//! IPv6 is disabled), or passes a `prevResult` through unchanged when it
//! runs chained after another plugin. `CNI_IFNAME` is ignored: the plugin
//! only ever touches `lo`. No `CNI_PATH` is needed (there is no delegate).

mod add;
mod check;
pub mod code;
mod del;
mod lo;
mod plugin;

pub use plugin::Loopback;
