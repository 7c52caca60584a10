//! firewalld's zone sources over D-Bus: what the `firewall` plugin's
//! firewalld backend needs, and nothing else.
//!
//! The plugin binds each pod address (`10.88.0.2/32`, `fd00::2/128`) to a
//! zone (`trusted` by default) with firewalld's runtime zone interface,
//! `org.fedoraproject.FirewallD1.zone` on object
//! `/org/fedoraproject/FirewallD1` (firewalld.dbus(5)):
//!
//! | method | here | firewalld's errors handled |
//! |---|---|---|
//! | `addSource(s zone, s source) → s` | [`Firewalld::add_source`] | `ZONE_ALREADY_SET` → [`AddOutcome::AlreadySet`], `ZONE_CONFLICT` → [`FirewalldError::ZoneConflict`] |
//! | `removeSource(s zone, s source) → s` | [`Firewalld::remove_source`] | `UNKNOWN_SOURCE` → `Ok`, `ZONE_CONFLICT` → [`FirewalldError::ZoneConflict`] |
//! | `querySource(s zone, s source) → b` | [`Firewalld::query_source`] | |
//! | `getZoneOfSource(s source) → s` | [`Firewalld::zone_of_source`] | |
//!
//! firewalld matches sources as strings: `10.88.0.2` and `10.88.0.2/32`
//! are two different sources, so callers always pass the same form. These
//! bindings are runtime state only: `firewall-cmd --reload` or a restart of
//! firewalld drops them.
//!
//! The connection is libdbus's, blocking on the calling thread; see
//! `bus.rs` for why that costs nothing until a call is made.

mod bus;
mod error;

pub use error::FirewalldError;

use bus::{BUS_DRIVER, Bus, Failure, Target};
use error::{FIREWALLD_NAME, classify, code};

/// firewalld's runtime zone interface (firewalld.dbus(5)).
const ZONE: Target = Target {
    destination: FIREWALLD_NAME,
    path: "/org/fedoraproject/FirewallD1",
    interface: "org.fedoraproject.FirewallD1.zone",
};

/// A connection to firewalld on the system bus (honours DBUS_SYSTEM_BUS_ADDRESS).
pub struct Firewalld {
    bus: Bus,
    address: String,
}

impl std::fmt::Debug for Firewalld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firewalld")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// What [`Firewalld::add_source`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The source is now bound to the zone.
    Added,
    /// It already was (firewalld's `ZONE_ALREADY_SET`): a repeated ADD.
    AlreadySet,
}

impl Firewalld {
    /// Connect; Err(NotRunning) when the name org.fedoraproject.FirewallD1 has no owner.
    ///
    /// The bus is `DBUS_SYSTEM_BUS_ADDRESS` when that is set and not empty,
    /// else `unix:path=/var/run/dbus/system_bus_socket` (the D-Bus
    /// specification's default, as godbus, the reference plugin's library,
    /// resolves it).
    pub fn connect() -> Result<Firewalld, FirewalldError> {
        Firewalld::connect_to(&bus::system_bus_address())
    }

    /// [`Firewalld::connect`] to the bus at a given D-Bus address (for
    /// example `unix:path=/run/dbus/system_bus_socket`), without looking
    /// at the environment.
    ///
    /// Asks the bus `GetNameOwner("org.fedoraproject.FirewallD1")`, the
    /// same question the reference plugin asks: the bus answers
    /// `NameHasNoOwner` when firewalld is not running, and never starts it
    /// for this question.
    pub fn connect_to(address: &str) -> Result<Firewalld, FirewalldError> {
        let bus_error = |f: Failure| FirewalldError::Bus {
            address: address.to_owned(),
            detail: f.to_string(),
        };
        let bus = Bus::open(address).map_err(bus_error)?;
        let owner = bus.call::<String>(BUS_DRIVER, "GetNameOwner", &[("bus name", FIREWALLD_NAME)]);
        match owner {
            Ok(_) => Ok(Firewalld {
                bus,
                address: address.to_owned(),
            }),
            Err(f) if f.name == "org.freedesktop.DBus.Error.NameHasNoOwner" => {
                Err(FirewalldError::NotRunning)
            }
            Err(f) => Err(bus_error(f)),
        }
    }

    /// Whether firewalld owns its bus name (auto-detection; never errors).
    ///
    /// Any failure (no bus, no owner) means "not running", as in the
    /// reference's `isFirewalldRunning`.
    pub fn is_running() -> bool {
        Firewalld::connect().is_ok()
    }

    /// The bus address this connection uses.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Bind `source` to `zone` (`addSource`). A source already in this zone
    /// is [`AddOutcome::AlreadySet`], so a repeated ADD passes; a source in
    /// another zone is [`FirewalldError::ZoneConflict`] naming that zone.
    /// An empty `zone` is firewalld's default zone.
    pub fn add_source(&self, zone: &str, source: &str) -> Result<AddOutcome, FirewalldError> {
        const METHOD: &str = "addSource";
        match self.zone_call::<String>(METHOD, zone, source) {
            Ok(_) => Ok(AddOutcome::Added),
            Err(f) => match f.firewalld_code() {
                Some(code::ZONE_ALREADY_SET) => Ok(AddOutcome::AlreadySet),
                Some(code::ZONE_CONFLICT) => Err(self.conflict(source, f)),
                _ => Err(classify(METHOD, &self.address, f)),
            },
        }
    }

    /// Unbind `source` from `zone` (`removeSource`). A source in no zone
    /// (`UNKNOWN_SOURCE`) is already removed, so DEL is idempotent; a
    /// source in another zone is [`FirewalldError::ZoneConflict`] and stays
    /// where it is.
    pub fn remove_source(&self, zone: &str, source: &str) -> Result<(), FirewalldError> {
        const METHOD: &str = "removeSource";
        match self.zone_call::<String>(METHOD, zone, source) {
            Ok(_) => Ok(()),
            Err(f) => match f.firewalld_code() {
                Some(code::UNKNOWN_SOURCE) => Ok(()),
                Some(code::ZONE_CONFLICT) => Err(self.conflict(source, f)),
                _ => Err(classify(METHOD, &self.address, f)),
            },
        }
    }

    /// Whether `source` is bound to `zone` (`querySource`). An unknown zone
    /// is firewalld's `INVALID_ZONE` error, not `false`.
    pub fn query_source(&self, zone: &str, source: &str) -> Result<bool, FirewalldError> {
        const METHOD: &str = "querySource";
        self.zone_call::<bool>(METHOD, zone, source)
            .map_err(|f| classify(METHOD, &self.address, f))
    }

    /// The zone `source` is bound to, if any (`getZoneOfSource`, which
    /// answers an empty string for none).
    pub fn zone_of_source(&self, source: &str) -> Result<Option<String>, FirewalldError> {
        const METHOD: &str = "getZoneOfSource";
        let zone = self
            .bus
            .call::<String>(ZONE, METHOD, &[("source", source)])
            .map_err(|f| classify(METHOD, &self.address, f))?;
        Ok(Some(zone).filter(|z| !z.is_empty()))
    }

    /// One `(zone, source)` call on the zone interface.
    fn zone_call<R>(&self, method: &str, zone: &str, source: &str) -> Result<R, Failure>
    where
        R: dbus::arg::Arg + for<'a> dbus::arg::Get<'a>,
    {
        self.bus
            .call(ZONE, method, &[("zone", zone), ("source", source)])
    }

    /// A `ZONE_CONFLICT` for `source`, with the zone that holds it.
    /// firewalld's message does not always name that zone (addSource says
    /// "already bound to a zone"), so ask; if that fails too, the zone is
    /// left empty rather than hiding the conflict behind a second error.
    fn conflict(&self, source: &str, f: Failure) -> FirewalldError {
        let zone = self
            .zone_of_source(source)
            .ok()
            .flatten()
            .unwrap_or_default();
        FirewalldError::ZoneConflict {
            source: source.to_owned(),
            zone,
            detail: f.message,
        }
    }
}
