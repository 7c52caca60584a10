//! The CNI `bridge` plugin: connects a container to a Linux bridge on the
//! host through a veth pair, with optional gateway address, masquerade,
//! VLANs, hairpin, port isolation and MAC spoof checking
//! (plugins:plugins/main/bridge, same keys and kernel state).

mod add;
mod check;
pub mod code;
pub mod config;
mod del;
mod gc;
mod host;
mod plugin;
mod spoofchk;
mod status;

pub use plugin::Bridge;
