//! The bridge plugin's own CNI error codes (spec: "100 and above").
//! Netlink, namespace, sysctl and firewall failures use the host kit's
//! shared codes (`libcni::hostnet::code`), so each failure class has one
//! number across every plugin; the failures of the mechanisms bridge
//! shares with ptp have `podnet`'s codes, re-exported here.

use libcni::hostnet::code::FIRST_PLUGIN_CODE;

pub use podnet::code::{CHECK_FAILED, INTERFACE_EXISTS, IPAM_NO_ADDRESS, LINK_STATE, VETH_NAME};

/// The bridge already has a different address and `forceAddress` is off.
pub const GATEWAY_ADDRESS_CONFLICT: u32 = FIRST_PLUGIN_CODE + 3;
/// `vlan`/`vlanTrunk` on a kernel without bridge VLAN filtering.
pub const NO_VLAN_FILTERING: u32 = FIRST_PLUGIN_CODE + 4;
