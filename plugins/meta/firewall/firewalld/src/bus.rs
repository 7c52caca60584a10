//! The D-Bus side: which address the system bus has, one private
//! connection to it, and one method call at a time with its reply or the
//! D-Bus error that came back instead.
//!
//! Everything blocks on the calling thread (libdbus's own
//! `dbus_connection_send_with_reply_and_block`): no executor and no
//! thread, so a plugin that never talks to firewalld pays nothing, and one
//! that does pays one connection (ARCHITECTURE.md principle 1).

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use dbus::Message;
use dbus::arg::{Arg, Get};
use dbus::channel::Channel;

/// The variable that names the system bus (D-Bus specification,
/// "Well-known Message Bus Instances"); libdbus, godbus (the reference
/// plugin's library) and firewalld's own tools all read it.
pub(crate) const SYSTEM_BUS_ENV: &str = "DBUS_SYSTEM_BUS_ADDRESS";

/// The system bus when [`SYSTEM_BUS_ENV`] is unset or empty: the D-Bus
/// specification's default, the same one godbus uses.
pub(crate) const DEFAULT_SYSTEM_BUS: &str = "unix:path=/var/run/dbus/system_bus_socket";

/// How long one call may wait for its reply. firewalld answers a zone
/// change only after it has rendered it into nftables or iptables, which
/// can take seconds on a busy node; a wedged firewalld must still not hang
/// the plugin (and the runtime waiting for it) forever. Longer than
/// libdbus's own default of 25 s because a slow success is better than a
/// half-done ADD.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The D-Bus error name for arguments that cannot go on the wire (D-Bus
/// specification: strings never contain a NUL byte).
pub(crate) const INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";

/// One object's interface on one bus name: where a method call goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub destination: &'static str,
    pub path: &'static str,
    pub interface: &'static str,
}

/// The bus itself (`org.freedesktop.DBus`), for `GetNameOwner`.
pub(crate) const BUS_DRIVER: Target = Target {
    destination: "org.freedesktop.DBus",
    path: "/org/freedesktop/DBus",
    interface: "org.freedesktop.DBus",
};

/// The address the system bus has for this process: [`SYSTEM_BUS_ENV`]
/// when set and not empty, else [`DEFAULT_SYSTEM_BUS`].
pub(crate) fn system_bus_address() -> String {
    address_from(std::env::var_os(SYSTEM_BUS_ENV))
}

/// [`system_bus_address`] for a given value of the variable. An empty
/// value means unset, as in godbus.
pub(crate) fn address_from(value: Option<OsString>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_string_lossy().into_owned(),
        _ => DEFAULT_SYSTEM_BUS.to_owned(),
    }
}

/// A failure as D-Bus names it: the error name of an error reply (or of
/// libdbus's own failure, such as `…Error.NoServer`) and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub name: String,
    pub message: String,
}

impl Failure {
    fn new(name: &str, message: impl Into<String>) -> Failure {
        Failure {
            name: name.to_owned(),
            message: message.into(),
        }
    }

    fn from_dbus(e: &dbus::Error) -> Failure {
        Failure::new(
            e.name().unwrap_or("org.freedesktop.DBus.Error.Failed"),
            e.message().unwrap_or_default(),
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{} ({})", self.message, self.name)
        }
    }
}

/// A string that may go into a D-Bus message. libdbus reads strings up to
/// the first NUL (and the `dbus` crate panics on one in an address), so
/// such a string is refused here instead of being cut short silently.
pub(crate) fn check_string(what: &str, value: &str) -> Result<(), Failure> {
    if value.contains('\0') {
        return Err(Failure::new(
            INVALID_ARGS,
            format!("the {what} {value:?} contains a NUL byte, which D-Bus strings cannot carry"),
        ));
    }
    Ok(())
}

/// One private connection to a bus, registered (`Hello`) so that it may
/// call other peers. Closed when dropped.
pub(crate) struct Bus {
    channel: Channel,
}

impl Bus {
    /// Connect to `address` and say `Hello`. Blocks until the bus has
    /// answered or refused.
    pub fn open(address: &str) -> Result<Bus, Failure> {
        check_string("bus address", address)?;
        let mut channel = Channel::open_private(address).map_err(|e| Failure::from_dbus(&e))?;
        channel.register().map_err(|e| Failure::from_dbus(&e))?;
        Ok(Bus { channel })
    }

    /// Call `method` on `target` with string arguments and read the one
    /// value the reply carries.
    pub fn call<R>(&self, target: Target, method: &str, args: &[(&str, &str)]) -> Result<R, Failure>
    where
        R: Arg + for<'a> Get<'a>,
    {
        let mut msg =
            Message::new_method_call(target.destination, target.path, target.interface, method)
                .map_err(|e| Failure::new(INVALID_ARGS, e))?;
        for (what, value) in args {
            check_string(what, value)?;
            msg = msg.append1(*value);
        }
        let reply = self
            .channel
            .send_with_reply_and_block(msg, CALL_TIMEOUT)
            .map_err(|e| Failure::from_dbus(&e))?;
        reply.read1::<R>().map_err(|e| {
            Failure::new(
                "org.freedesktop.DBus.Error.InvalidSignature",
                format!("unexpected reply to {method}: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_the_bus_and_empty_means_unset() {
        assert_eq!(
            address_from(Some("unix:path=/tmp/x/bus".into())),
            "unix:path=/tmp/x/bus"
        );
        assert_eq!(address_from(Some(OsString::new())), DEFAULT_SYSTEM_BUS);
        assert_eq!(address_from(None), DEFAULT_SYSTEM_BUS);
    }

    #[test]
    fn a_nul_byte_is_refused_before_it_reaches_libdbus() {
        let f = check_string("zone", "trusted\0public").unwrap_err();
        assert_eq!(f.name, INVALID_ARGS);
        assert!(f.message.contains("zone"), "{f}");
        assert!(check_string("zone", "trusted").is_ok());
    }

    #[test]
    fn an_address_with_a_nul_byte_fails_instead_of_panicking() {
        let f = Bus::open("unix:path=/tmp/a\0b").err().unwrap();
        assert_eq!(f.name, INVALID_ARGS);
    }

    #[test]
    fn a_missing_socket_is_a_dbus_failure() {
        let f = Bus::open("unix:path=/nonexistent/cni-firewalld-test/bus")
            .err()
            .unwrap();
        assert!(f.name.starts_with("org.freedesktop.DBus.Error."), "{f:?}");
        assert!(
            f.message.contains("/nonexistent/cni-firewalld-test/bus"),
            "{f:?}"
        );
    }

    #[test]
    fn a_malformed_address_is_a_dbus_failure() {
        let f = Bus::open("no-such-transport").err().unwrap();
        assert_eq!(f.name, "org.freedesktop.DBus.Error.BadAddress", "{f:?}");
    }
}
