//! The tuning plugin's own CNI error codes (spec: "100 and above").
//! Netlink, namespace and sysctl failures use the host kit's shared codes
//! (`libcni::hostnet::code`); bad configuration is the spec's code 7.

use libcni::hostnet::code::FIRST_PLUGIN_CODE;

/// The node's sysctl allowlist exists but cannot be read, or one of its
/// lines is not a valid regular expression.
pub const ALLOWLIST: u32 = FIRST_PLUGIN_CODE;
/// The backup of the original link attributes could not be written, read
/// or removed in `dataDir`.
pub const BACKUP: u32 = FIRST_PLUGIN_CODE + 1;
/// CHECK found a sysctl or link attribute different from the config.
pub const CHECK_FAILED: u32 = FIRST_PLUGIN_CODE + 2;
