//! The loopback plugin's own CNI error codes (spec: "100 and above").
//! Netlink and namespace failures use the host kit's shared codes,
//! `libcni::hostnet::code`.

use libcni::hostnet::code::FIRST_PLUGIN_CODE;

/// `lo` carries an address that is not a loopback address: reporting it
/// as the pod's loopback would mislead the runtime.
pub const NOT_LOOPBACK_ADDRESS: u32 = FIRST_PLUGIN_CODE;
/// CHECK found `lo` down.
pub const LO_DOWN: u32 = FIRST_PLUGIN_CODE + 1;
