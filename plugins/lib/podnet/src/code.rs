//! CNI error codes for the failures of the shared mechanisms, one number
//! per meaning in every plugin that uses this crate. They are the numbers
//! bridge has always used; a plugin's own codes (`cni_bridge::code`,
//! `cni_ptp::code`) fill the gaps from [`FIRST_PLUGIN_CODE`] on.

pub use libcni::hostnet::code::FIRST_PLUGIN_CODE;

/// `CNI_IFNAME` already exists in the pod: ADD without DEL in between.
pub const INTERFACE_EXISTS: u32 = FIRST_PLUGIN_CODE;
/// No free host-side veth name could be found, or chosen.
pub const VETH_NAME: u32 = FIRST_PLUGIN_CODE + 1;
/// The IPAM plugin succeeded but returned no address.
pub const IPAM_NO_ADDRESS: u32 = FIRST_PLUGIN_CODE + 2;
/// A link did not reach the state the plugin waits for, or lacks what it
/// must have (a MAC address).
pub const LINK_STATE: u32 = FIRST_PLUGIN_CODE + 5;
/// CHECK found the attachment different from its result.
pub const CHECK_FAILED: u32 = FIRST_PLUGIN_CODE + 6;
