//! The bandwidth plugin's own CNI error codes (spec: "100 and above").
//! Kernel and namespace failures use the host kit's shared codes
//! (`libcni::hostnet::code`); what a chain gets wrong (no veth, no host
//! end in the result) is code 7, like every configuration error.

use libcni::hostnet::code::FIRST_PLUGIN_CODE;

/// CHECK found the shaping different from what the config asks for, or
/// gone.
pub const CHECK_FAILED: u32 = FIRST_PLUGIN_CODE;
