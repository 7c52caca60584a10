//! portmap's own CNI error codes (spec: "100 and above"). Firewall,
//! netlink, namespace and sysctl failures use the host kit's shared codes
//! (`libcni::hostnet::code`), so each failure class has one number across
//! every plugin.

use libcni::hostnet::code::FIRST_PLUGIN_CODE;

/// CHECK found a chain or rule that ADD makes missing or different.
pub const CHECK_FAILED: u32 = FIRST_PLUGIN_CODE;
