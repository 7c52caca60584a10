//! The bridge plugin's own CNI error codes (spec: "100 and above").
//! Netlink, namespace, sysctl and firewall failures use the host kit's
//! shared codes (`libcni::hostnet::code`), so each failure class has one
//! number across every plugin.

use libcni::hostnet::code::FIRST_PLUGIN_CODE;

/// `CNI_IFNAME` already exists in the pod: ADD without DEL in between.
pub const INTERFACE_EXISTS: u32 = FIRST_PLUGIN_CODE;
/// No free host-side veth name could be found, or chosen.
pub const VETH_NAME: u32 = FIRST_PLUGIN_CODE + 1;
/// The IPAM plugin succeeded but returned no address.
pub const IPAM_NO_ADDRESS: u32 = FIRST_PLUGIN_CODE + 2;
/// The bridge already has a different address and `forceAddress` is off.
pub const GATEWAY_ADDRESS_CONFLICT: u32 = FIRST_PLUGIN_CODE + 3;
/// `vlan`/`vlanTrunk` on a kernel without bridge VLAN filtering.
pub const NO_VLAN_FILTERING: u32 = FIRST_PLUGIN_CODE + 4;
/// The host port did not come up, or the pod interface has no MAC.
pub const LINK_STATE: u32 = FIRST_PLUGIN_CODE + 5;
/// CHECK found the attachment different from its result.
pub const CHECK_FAILED: u32 = FIRST_PLUGIN_CODE + 6;
