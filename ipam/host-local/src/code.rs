//! host-local's plugin-specific error codes (100 and up, SPEC.md "Error").
//! host-local uses none of the host kit's shared codes, so its own start
//! at 100 (ARCHITECTURE.md, "Error codes").

/// A range set has no free address left.
pub const EXHAUSTED: u32 = 100;
/// A requested address is held by someone else.
pub const REQUESTED_UNAVAILABLE: u32 = 101;
/// The attachment already holds an address (ADD twice without DEL).
pub const ALREADY_ALLOCATED: u32 = 102;
/// CHECK found no record, or records that differ from prevResult.
pub const CHECK_FAILED: u32 = 103;
