//! The ptp plugin's own CNI error codes (spec: "100 and above").
//! Netlink, namespace, sysctl and firewall failures use the host kit's
//! shared codes (`libcni::hostnet::code`); the failures of the mechanisms
//! ptp shares with bridge have `podnet`'s codes (the same numbers in both
//! plugins), re-exported here.

use libcni::hostnet::code::FIRST_PLUGIN_CODE;

pub use podnet::code::{CHECK_FAILED, INTERFACE_EXISTS, IPAM_NO_ADDRESS, VETH_NAME};

/// An IPAM address without a gateway of its family: ptp sends every packet
/// of the pod through the gateway, so it cannot route one without.
pub const NO_GATEWAY: u32 = FIRST_PLUGIN_CODE + 3;
/// An IPAM address with a full-length prefix (/32, /128): there is no
/// subnet to route through the gateway.
pub const FULL_LENGTH_PREFIX: u32 = FIRST_PLUGIN_CODE + 4;
