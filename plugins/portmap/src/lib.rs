//! The CNI `portmap` plugin: forwards host ports to a container with
//! iptables or nftables DNAT, chained after an interface plugin.

pub mod config;
