//! The flannel plugin's own CNI error codes (spec: "100 and above").
//! A missing or incomplete `subnet.env` is the spec's code 11 (flanneld
//! has not written it yet), bad keys are code 7, and a failed delegate
//! passes on the delegate's own code.

use libcni::hostnet::code::FIRST_PLUGIN_CODE;

/// `subnet.env` exists and has every key, but a value cannot be parsed
/// (a CIDR, the MTU): flanneld did not write it, or wrote it broken.
pub const SUBNET_ENV_INVALID: u32 = FIRST_PLUGIN_CODE;
/// The saved delegate config in `dataDir` could not be written, read or
/// removed.
pub const SCRATCH: u32 = FIRST_PLUGIN_CODE + 1;
