//! The CNI `bridge` plugin: connects a container to a Linux bridge on the
//! host through a veth pair, with optional gateway address, masquerade,
//! VLANs, hairpin, port isolation and MAC spoof checking.

pub mod config;
