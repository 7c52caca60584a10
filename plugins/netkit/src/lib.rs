//! placeholder

pub mod firewall;
