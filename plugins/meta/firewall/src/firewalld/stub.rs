//! STUB, only on this branch: the D-Bus client is being built as the
//! library crate `cni-firewalld` (plugins/meta/firewall/firewalld). This
//! file has its API and answers "not running" to everything, so the
//! plugin builds and its tests run until that crate is merged; then
//! `firewalld/mod.rs` imports the crate instead and this file goes.

use std::fmt;

/// A connection to firewalld on the system bus.
#[derive(Debug)]
pub struct Firewalld;

/// What `addSource` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The source was bound to the zone.
    Added,
    /// It already was (`ZONE_ALREADY_SET`).
    AlreadySet,
}

/// Why a firewalld call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewalldError {
    /// The bus could not be reached.
    Bus {
        /// The bus address.
        address: String,
        /// What went wrong.
        detail: String,
    },
    /// Nobody owns `org.fedoraproject.FirewallD1`.
    NotRunning,
    /// The source is bound to another zone (`ZONE_CONFLICT`).
    ZoneConflict {
        /// The source.
        source: String,
        /// The zone asked for.
        zone: String,
        /// firewalld's message.
        detail: String,
    },
    /// polkit or firewalld refused the caller.
    NotAuthorized {
        /// firewalld's message.
        detail: String,
    },
    /// Any other error firewalld returned.
    Firewalld {
        /// The method called.
        method: String,
        /// The D-Bus error name.
        name: String,
        /// firewalld's message.
        detail: String,
    },
}

impl fmt::Display for FirewalldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirewalldError::Bus { address, detail } => {
                write!(f, "cannot reach the system bus at {address}: {detail}")
            }
            FirewalldError::NotRunning => f.write_str("firewalld is not running"),
            FirewalldError::ZoneConflict {
                source,
                zone,
                detail,
            } => write!(f, "{source} cannot be bound to zone {zone}: {detail}"),
            FirewalldError::NotAuthorized { detail } => write!(f, "not authorized: {detail}"),
            FirewalldError::Firewalld {
                method,
                name,
                detail,
            } => write!(f, "firewalld {method}: {name}: {detail}"),
        }
    }
}

impl Firewalld {
    /// Connect to the system bus. STUB: firewalld is never there.
    pub fn connect() -> Result<Firewalld, FirewalldError> {
        Err(FirewalldError::NotRunning)
    }

    /// Whether firewalld owns its bus name. STUB: never.
    pub fn is_running() -> bool {
        false
    }

    /// `addSource(zone, source)`.
    pub fn add_source(&self, _zone: &str, _source: &str) -> Result<AddOutcome, FirewalldError> {
        Err(FirewalldError::NotRunning)
    }

    /// `removeSource(zone, source)`.
    pub fn remove_source(&self, _zone: &str, _source: &str) -> Result<(), FirewalldError> {
        Err(FirewalldError::NotRunning)
    }

    /// `querySource(zone, source)`.
    pub fn query_source(&self, _zone: &str, _source: &str) -> Result<bool, FirewalldError> {
        Err(FirewalldError::NotRunning)
    }

    /// `getZoneOfSource(source)`.
    pub fn zone_of_source(&self, _source: &str) -> Result<Option<String>, FirewalldError> {
        Err(FirewalldError::NotRunning)
    }
}
