//! What can go wrong, typed by what the caller does about it, and how a
//! D-Bus error reply maps onto it.
//!
//! firewalld reports its own failures as the D-Bus error
//! `org.fedoraproject.FirewallD1.Exception` whose message starts with one
//! of its error codes, `CODE: detail` (firewalld.dbus(5), "Possible
//! errors"; firewalld's `FirewallError`), for example
//! `ZONE_ALREADY_SET: '10.88.0.2/32' already bound to 'trusted'`. A denied
//! call is the separate error `…FirewallD1.NotAuthorizedException`
//! (polkit, or without polkit on the bus: the caller's uid is not 0).

use std::fmt;

use crate::bus::Failure;

/// firewalld's well-known bus name (firewalld.dbus(5)).
pub(crate) const FIREWALLD_NAME: &str = "org.fedoraproject.FirewallD1";

/// The D-Bus error name of every `FirewallError` (`CODE: detail`).
const EXCEPTION: &str = "org.fedoraproject.FirewallD1.Exception";
/// The D-Bus error name of a call polkit (or the uid check) refused.
const NOT_AUTHORIZED: &str = "org.fedoraproject.FirewallD1.NotAuthorizedException";

/// firewalld error codes this crate acts on (firewalld's `errors.py`).
pub(crate) mod code {
    /// addSource: the source is already bound to this zone.
    pub const ZONE_ALREADY_SET: &str = "ZONE_ALREADY_SET";
    /// addSource / removeSource: the source is bound to another zone.
    pub const ZONE_CONFLICT: &str = "ZONE_CONFLICT";
    /// removeSource: the source is bound to no zone at all.
    pub const UNKNOWN_SOURCE: &str = "UNKNOWN_SOURCE";
}

/// A firewalld call that did not do what was asked.
///
/// The variants are what a caller treats differently: no bus, no
/// firewalld, a source already taken by another zone, a caller without the
/// right to change zones, and everything else firewalld said (kept with
/// its D-Bus error name and message so that nothing is lost).
#[derive(Debug)]
pub enum FirewalldError {
    /// No system bus, or it refused the connection.
    Bus { address: String, detail: String },
    /// firewalld is not running (its bus name has no owner).
    NotRunning,
    /// The source is bound to another zone (ZONE_CONFLICT); carries that
    /// zone when known (empty when firewalld would not say).
    ZoneConflict {
        source: String,
        zone: String,
        detail: String,
    },
    /// The caller may not do this (NotAuthorized / polkit).
    NotAuthorized { detail: String },
    /// Any other error firewalld returned: its D-Bus error name and
    /// message.
    Firewalld {
        method: &'static str,
        name: String,
        detail: String,
    },
}

impl fmt::Display for FirewalldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirewalldError::Bus { address, detail } => {
                write!(f, "cannot use the D-Bus system bus at {address}: {detail}")
            }
            FirewalldError::NotRunning => write!(
                f,
                "firewalld is not running: nobody owns {FIREWALLD_NAME} on the system bus"
            ),
            FirewalldError::ZoneConflict {
                source,
                zone,
                detail,
            } if zone.is_empty() => {
                write!(f, "{source} is bound to another firewalld zone ({detail})")
            }
            FirewalldError::ZoneConflict {
                source,
                zone,
                detail,
            } => write!(
                f,
                "{source} is bound to firewalld zone '{zone}'; remove it there first ({detail})"
            ),
            FirewalldError::NotAuthorized { detail } => write!(
                f,
                "firewalld refused the change: {detail} (polkit action \
                 org.fedoraproject.FirewallD1.config, or uid 0 when polkit is not running)"
            ),
            FirewalldError::Firewalld {
                method,
                name,
                detail,
            } => write!(f, "firewalld {method} failed: {detail} ({name})"),
        }
    }
}

impl std::error::Error for FirewalldError {}

impl Failure {
    /// firewalld's error code (`ZONE_CONFLICT`, …) when this is one of its
    /// `Exception` replies.
    pub(crate) fn firewalld_code(&self) -> Option<&str> {
        if self.name != EXCEPTION {
            return None;
        }
        let code = self.message.split(':').next().unwrap_or_default().trim();
        let is_code = !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        is_code.then_some(code)
    }
}

/// The error for a failed call to `method` on a connection to `address`,
/// for every failure a method does not handle itself.
pub(crate) fn classify(method: &'static str, address: &str, f: Failure) -> FirewalldError {
    match f.name.as_str() {
        // The bus answers for a name nobody owns (no activation, or none
        // configured): firewalld stopped since the connection was made.
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner" => FirewalldError::NotRunning,
        // firewalld's own refusal, or the bus policy's (FirewallD.conf
        // lets anyone send to firewalld, so this means a changed policy).
        NOT_AUTHORIZED | "org.freedesktop.DBus.Error.AccessDenied" => {
            FirewalldError::NotAuthorized { detail: f.message }
        }
        // The bus went away under the connection.
        "org.freedesktop.DBus.Error.Disconnected" => FirewalldError::Bus {
            address: address.to_owned(),
            detail: f.to_string(),
        },
        _ => FirewalldError::Firewalld {
            method,
            name: f.name,
            detail: f.message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(name: &str, message: &str) -> Failure {
        Failure {
            name: name.to_owned(),
            message: message.to_owned(),
        }
    }

    #[test]
    fn the_code_is_what_precedes_the_colon_in_a_firewalld_exception() {
        let f = failure(
            EXCEPTION,
            "ZONE_ALREADY_SET: '10.88.0.2/32' already bound to 'trusted'",
        );
        assert_eq!(f.firewalld_code(), Some(code::ZONE_ALREADY_SET));
        assert_eq!(
            failure(EXCEPTION, "INVALID_ZONE").firewalld_code(),
            Some("INVALID_ZONE")
        );
        // Not firewalld's error name, or not a code: no code.
        let other = failure("org.freedesktop.DBus.Error.Failed", "ZONE_CONFLICT: x");
        assert_eq!(other.firewalld_code(), None);
        assert_eq!(
            failure(EXCEPTION, "name 'x' is not defined").firewalld_code(),
            None
        );
        assert_eq!(failure(EXCEPTION, "").firewalld_code(), None);
    }

    #[test]
    fn an_unowned_name_means_firewalld_is_not_running() {
        for name in [
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
        ] {
            let e = classify("addSource", "unix:path=/x", failure(name, "gone"));
            assert!(matches!(e, FirewalldError::NotRunning), "{name}: {e:?}");
        }
    }

    #[test]
    fn refusals_are_not_authorized() {
        let e = classify(
            "addSource",
            "unix:path=/x",
            failure(
                NOT_AUTHORIZED,
                "Not Authorized(uid): org.fedoraproject.FirewallD1.config",
            ),
        );
        match e {
            FirewalldError::NotAuthorized { detail } => assert!(detail.contains("uid")),
            other => panic!("{other:?}"),
        }
        let e = classify(
            "addSource",
            "unix:path=/x",
            failure("org.freedesktop.DBus.Error.AccessDenied", "policy"),
        );
        assert!(matches!(e, FirewalldError::NotAuthorized { .. }), "{e:?}");
    }

    #[test]
    fn a_lost_bus_names_the_address() {
        let e = classify(
            "querySource",
            "unix:path=/x",
            failure("org.freedesktop.DBus.Error.Disconnected", "closed"),
        );
        match e {
            FirewalldError::Bus { address, .. } => assert_eq!(address, "unix:path=/x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anything_else_keeps_method_name_and_message() {
        let e = classify(
            "addSource",
            "unix:path=/x",
            failure(EXCEPTION, "INVALID_ZONE: nosuch"),
        );
        match &e {
            FirewalldError::Firewalld {
                method,
                name,
                detail,
            } => {
                assert_eq!(*method, "addSource");
                assert_eq!(name, EXCEPTION);
                assert_eq!(detail, "INVALID_ZONE: nosuch");
            }
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("addSource") && text.contains("INVALID_ZONE: nosuch"),
            "{text}"
        );
    }

    #[test]
    fn a_conflict_names_the_other_zone_when_known() {
        let known = FirewalldError::ZoneConflict {
            source: "10.88.0.2/32".into(),
            zone: "public".into(),
            detail: "ZONE_CONFLICT: '10.88.0.2/32' already bound to a zone".into(),
        };
        assert!(known.to_string().contains("zone 'public'"), "{known}");
        let unknown = FirewalldError::ZoneConflict {
            source: "10.88.0.2/32".into(),
            zone: String::new(),
            detail: "ZONE_CONFLICT".into(),
        };
        assert!(
            unknown.to_string().contains("another firewalld zone"),
            "{unknown}"
        );
    }
}
