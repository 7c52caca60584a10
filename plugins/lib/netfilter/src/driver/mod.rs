//! The firewall driver: one attachment's rules on one backend ([`Driver`]),
//! the pair of them a plugin hands over ([`Firewall`]), and the runner
//! that every plugin's firewall work goes through ([`setup`],
//! [`teardown`], [`check`]).
//!
//! The runner owns the decisions that used to be written once per plugin:
//! which backend to use (the config's, else [`Backend::choose`]), the
//! reference's fallback to nftables when iptables is unusable (tested
//! lazily, only after an iptables failure), that teardown looks on every
//! backend where the attachment's state could be, and that a backend that
//! cannot be used at all holds nothing to remove. iptables rule sets get
//! their driver from [`iptables`], the one implementation of the
//! iptables-nft fast path and the `iptables-restore` fallback.

pub mod iptables;

use libcni::Errors;

use crate::backend::{self, Backend};
use crate::error::FirewallError;

/// One attachment's rules on one backend.
pub trait Driver {
    /// Make the rules. Nothing is left half-made on error.
    fn setup(&self) -> Result<(), FirewallError>;

    /// Remove the rules, found by name so that it works when the addresses
    /// are unknown (principle 5). Succeeds when nothing is there; keeps
    /// going past a failure and records every one in `errs`.
    fn teardown(&self, errs: &mut Errors);

    /// Verify that the rules setup makes are in place; the error names
    /// what is missing.
    fn check(&self) -> Result<(), FirewallError>;
}

/// One attachment's rules, writable on either backend: what a plugin
/// hands to the runner.
pub trait Firewall {
    /// The rules on iptables (usually [`iptables::Iptables`] around the
    /// rule set).
    fn iptables(&self) -> impl Driver + '_;

    /// The rules on nftables.
    fn nftables(&self) -> impl Driver + '_;

    /// Whether teardown must look for state on `backend`. By default both:
    /// the backend may have changed since ADD.
    fn may_hold_state(&self, backend: Backend) -> bool {
        let _ = backend;
        true
    }

    /// Why these rules cannot be written on `backend`, if they cannot (an
    /// option of the other backend in the config). Asked before a fallback.
    fn unsupported_on(&self, backend: Backend) -> Option<String> {
        let _ = backend;
        None
    }
}

/// Run `op` on `backend`'s driver.
fn on<F: Firewall + ?Sized, T>(fw: &F, backend: Backend, op: impl FnOnce(&dyn Driver) -> T) -> T {
    match backend {
        Backend::Iptables => op(&fw.iptables()),
        Backend::Nftables => op(&fw.nftables()),
    }
}

/// Make the rules on the config's backend (`explicit`), or on the detected
/// one. Without an explicit choice, an iptables failure is retried on
/// nftables when iptables turns out to be unusable and nftables usable
/// (the reference's rule, checked only now). Returns the backend used.
pub fn setup<F: Firewall + ?Sized>(
    fw: &F,
    explicit: Option<Backend>,
) -> Result<Backend, FirewallError> {
    let first = Backend::choose(explicit);
    match on(fw, first, |d| d.setup()) {
        Ok(()) => Ok(first),
        Err(e)
            if explicit.is_none()
                && first == Backend::Iptables
                && !backend::iptables_usable()
                && backend::nft_usable() =>
        {
            let second = match fw.unsupported_on(Backend::Nftables) {
                Some(why) => Err(FirewallError::Unavailable(why)),
                None => fw.nftables().setup(),
            };
            second
                .map(|()| Backend::Nftables)
                .map_err(|e2| FirewallError::Fallback {
                    iptables: Box::new(e),
                    nftables: Box::new(e2),
                })
        }
        Err(e) => Err(e),
    }
}

/// Remove the rules from every backend that may hold them
/// ([`Firewall::may_hold_state`]), recording every failure in `errs`. A
/// backend that cannot be used at all holds nothing: its failures are not
/// errors (the reference skips it the same way). iptables judges that per
/// family ([`iptables`]); nftables here.
pub fn teardown<F: Firewall + ?Sized>(fw: &F, errs: &mut Errors) {
    if fw.may_hold_state(Backend::Iptables) {
        fw.iptables().teardown(errs);
    }
    if fw.may_hold_state(Backend::Nftables) {
        let mut found = Errors::new();
        fw.nftables().teardown(&mut found);
        if !found.is_empty()
            && backend::nft_usable()
            && let Err(e) = found.finish("nftables teardown")
        {
            errs.push(e);
        }
    }
}

/// Verify the rules on the config's backend, or on the detected one.
pub fn check<F: Firewall + ?Sized>(fw: &F, explicit: Option<Backend>) -> Result<(), FirewallError> {
    on(fw, Backend::choose(explicit), |d| d.check())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Records which backend was asked to do what.
    #[derive(Default)]
    struct Log(RefCell<Vec<String>>);

    struct Fake<'a> {
        log: &'a Log,
        backend: Backend,
        fail: bool,
    }

    impl Fake<'_> {
        fn note(&self, op: &str) -> Result<(), FirewallError> {
            self.log
                .0
                .borrow_mut()
                .push(format!("{op} {}", self.backend));
            if self.fail {
                Err(FirewallError::CheckFailed(format!("{op} refused")))
            } else {
                Ok(())
            }
        }
    }

    impl Driver for Fake<'_> {
        fn setup(&self) -> Result<(), FirewallError> {
            self.note("setup")
        }
        fn teardown(&self, errs: &mut Errors) {
            errs.record(self.note("teardown"));
        }
        fn check(&self) -> Result<(), FirewallError> {
            self.note("check")
        }
    }

    /// Fails on `fail_on`; holds state on nftables unless `only_iptables`.
    struct Pair<'a> {
        log: &'a Log,
        fail_on: Option<Backend>,
        only_iptables: bool,
    }

    impl Pair<'_> {
        fn fake(&self, backend: Backend) -> Fake<'_> {
            Fake {
                log: self.log,
                backend,
                fail: self.fail_on == Some(backend),
            }
        }
    }

    impl Firewall for Pair<'_> {
        fn iptables(&self) -> impl Driver + '_ {
            self.fake(Backend::Iptables)
        }
        fn nftables(&self) -> impl Driver + '_ {
            self.fake(Backend::Nftables)
        }
        fn may_hold_state(&self, backend: Backend) -> bool {
            !self.only_iptables || backend == Backend::Iptables
        }
    }

    // The fallback itself depends on the machine's iptables and nftables;
    // the plugins' integration tests cover it in namespaces.

    #[test]
    fn explicit_backend_is_used_as_is() {
        let log = Log::default();
        let fw = Pair {
            log: &log,
            fail_on: None,
            only_iptables: false,
        };
        assert_eq!(
            setup(&fw, Some(Backend::Nftables)).unwrap(),
            Backend::Nftables
        );
        check(&fw, Some(Backend::Iptables)).unwrap();
        let failing = Pair {
            log: &log,
            fail_on: Some(Backend::Iptables),
            only_iptables: false,
        };
        // No fallback from an explicit choice.
        let e = setup(&failing, Some(Backend::Iptables)).unwrap_err();
        assert_eq!(e.to_string(), "setup refused");
        assert_eq!(
            *log.0.borrow(),
            ["setup nftables", "check iptables", "setup iptables"]
        );
    }

    #[test]
    fn teardown_visits_the_backends_that_may_hold_state() {
        let log = Log::default();
        let mut errs = Errors::new();
        teardown(
            &Pair {
                log: &log,
                fail_on: None,
                only_iptables: true,
            },
            &mut errs,
        );
        assert!(errs.is_empty());
        teardown(
            &Pair {
                log: &log,
                fail_on: Some(Backend::Iptables),
                only_iptables: false,
            },
            &mut errs,
        );
        assert_eq!(
            *log.0.borrow(),
            [
                "teardown iptables",
                "teardown iptables",
                "teardown nftables"
            ]
        );
        // The iptables failure is kept, as a firewall failure.
        let e = errs.finish("DEL").unwrap_err();
        assert_eq!(e.code, libcni::hostnet::code::FIREWALL);
        assert_eq!(e.msg, "teardown refused");
    }
}
