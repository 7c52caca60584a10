//! The firewalld backend: each pod address becomes a source of the
//! configured zone (default `trusted`), through firewalld's D-Bus API
//! (`org.fedoraproject.FirewallD1.zone`: `addSource`, `removeSource`,
//! `querySource`). firewalld then renders the zone into its own rules.
//!
//! Differences from the reference, all on purpose:
//! - a `ZONE_CONFLICT` (the address is bound to another zone) is an error
//!   of its own that names both zones ([`code::ZONE_CONFLICT`]);
//! - an ADD that fails part-way removes the sources it added;
//! - DEL removes only sources that are in the zone (asked first), so it
//!   is idempotent without ignoring every error;
//! - CHECK fails when `querySource` answers false (the reference ignores
//!   the answer).
//!
//! The D-Bus client is the `cni-firewalld` crate; the plugin talks to it
//! through [`Zones`], which unit tests implement in memory.

use libcni::{Error, Errors};

use crate::code;
pub use cni_firewalld::{AddOutcome, Firewalld, FirewalldError};

/// The three zone calls the plugin makes.
pub trait Zones {
    /// Bind `source` to `zone`.
    fn add_source(&self, zone: &str, source: &str) -> Result<AddOutcome, FirewalldError>;
    /// Unbind it.
    fn remove_source(&self, zone: &str, source: &str) -> Result<(), FirewalldError>;
    /// Whether it is bound to `zone`.
    fn query_source(&self, zone: &str, source: &str) -> Result<bool, FirewalldError>;
}

impl Zones for Firewalld {
    fn add_source(&self, zone: &str, source: &str) -> Result<AddOutcome, FirewalldError> {
        Firewalld::add_source(self, zone, source)
    }
    fn remove_source(&self, zone: &str, source: &str) -> Result<(), FirewalldError> {
        Firewalld::remove_source(self, zone, source)
    }
    fn query_source(&self, zone: &str, source: &str) -> Result<bool, FirewalldError> {
        Firewalld::query_source(self, zone, source)
    }
}

/// Whether firewalld owns its bus name (backend detection).
pub fn running() -> bool {
    Firewalld::is_running()
}

/// The CNI error of a failed call, by variant.
pub fn error(what: &str, e: &FirewalldError) -> Error {
    let code = match e {
        FirewalldError::ZoneConflict { .. } => code::ZONE_CONFLICT,
        _ => code::FIREWALLD,
    };
    Error::plugin(code, format!("firewalld: {what}: {e}"))
}

/// Connect to firewalld.
pub fn connect() -> Result<Firewalld, Error> {
    Firewalld::connect().map_err(|e| error("connecting", &e))
}

/// The source string of an address: `<ip>/32` or `<ip>/128`, as the
/// reference writes it (firewalld matches sources as exact strings).
pub fn source(ip: std::net::IpAddr) -> String {
    ipnet::IpNet::from(ip).to_string()
}

/// The sources of every address.
pub fn sources(ips: &[std::net::IpAddr]) -> Vec<String> {
    ips.iter().map(|ip| source(*ip)).collect()
}

/// Bind every source to `zone` (already bound is fine). On a failure the
/// sources this call bound are unbound again.
pub fn add(z: &impl Zones, zone: &str, sources: &[String]) -> Result<(), Error> {
    let mut added: Vec<&String> = vec![];
    for s in sources {
        match z.add_source(zone, s) {
            Ok(AddOutcome::Added) => added.push(s),
            Ok(AddOutcome::AlreadySet) => {}
            Err(e) => {
                for a in added {
                    let _ = z.remove_source(zone, a);
                }
                return Err(error(&format!("adding {s} to zone {zone}"), &e));
            }
        }
    }
    Ok(())
}

/// Unbind every source that is bound to `zone`; failures are recorded.
pub fn remove(z: &impl Zones, zone: &str, sources: &[String], errs: &mut Errors) {
    for s in sources {
        let bound = match z.query_source(zone, s) {
            Ok(b) => b,
            Err(e) => {
                errs.push(error(&format!("querying {s} in zone {zone}"), &e));
                continue;
            }
        };
        if bound && let Err(e) = z.remove_source(zone, s) {
            errs.push(error(&format!("removing {s} from zone {zone}"), &e));
        }
    }
}

/// Every source must be bound to `zone`.
pub fn check(z: &impl Zones, zone: &str, sources: &[String]) -> Result<(), Error> {
    for s in sources {
        let bound = z
            .query_source(zone, s)
            .map_err(|e| error(&format!("querying {s} in zone {zone}"), &e))?;
        if !bound {
            return Err(Error::plugin(
                code::CHECK_FAILED,
                format!("firewalld: {s} is not a source of zone {zone}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
