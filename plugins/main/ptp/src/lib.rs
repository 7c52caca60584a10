//! The CNI `ptp` plugin (plugins:plugins/main/ptp, v1.9.1): a veth pair
//! per pod, routed rather than bridged. The pod gets its IPAM addresses
//! with every packet sent through the gateway over the point-to-point
//! link (the connected route replaced by `<gw> scope link` and `<subnet>
//! via <gw>`); the host end carries the gateway address with a full-length
//! prefix (the same address on every ptp veth of the node) and a `scope
//! host` route to each pod address. Optional masquerade (`ipMasq`) uses
//! the shared rule set in `netfilter`. What ptp shares with bridge (the
//! veth pair, the pod side of `ConfigureIface`, IPAM delegation and
//! rollback, DEL, GC, STATUS, CHECK's common questions) is `podnet`.

mod add;
mod check;
pub mod code;
pub mod config;
mod del;
mod gc;
mod host;
mod p2p;
mod plugin;
mod pod;
mod status;

pub use plugin::Ptp;
