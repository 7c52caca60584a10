//! The firewall plugin's own CNI error codes (spec: "100 and above").
//! iptables, nftables and nfnetlink failures use the host kit's shared
//! `libcni::hostnet::code::FIREWALL` (104), so each failure class has one
//! number across every plugin.

use libcni::hostnet::code::FIRST_PLUGIN_CODE;

/// CHECK found a rule, chain or zone source that ADD makes missing.
pub const CHECK_FAILED: u32 = FIRST_PLUGIN_CODE;
/// firewalld could not be reached or refused a call (other than a zone
/// conflict).
pub const FIREWALLD: u32 = FIRST_PLUGIN_CODE + 1;
/// firewalld has the pod's address bound to another zone.
pub const ZONE_CONFLICT: u32 = FIRST_PLUGIN_CODE + 2;
/// The per-attachment state file could not be read or written.
pub const STATE: u32 = FIRST_PLUGIN_CODE + 3;
