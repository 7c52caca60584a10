use std::cell::RefCell;
use std::collections::BTreeMap;

use super::*;

/// firewalld's zone sources in memory, with its answers: ZONE_ALREADY_SET
/// for the same zone, ZONE_CONFLICT for another, an error for a removal
/// of a source that is not bound.
#[derive(Default)]
struct Fake {
    bound: RefCell<BTreeMap<String, String>>,
    fail_on: Option<&'static str>,
}

impl Zones for Fake {
    fn add_source(&self, zone: &str, source: &str) -> Result<AddOutcome, FirewalldError> {
        if self.fail_on == Some(source) {
            return Err(FirewalldError::NotAuthorized {
                detail: "Not Authorized(1000)".into(),
            });
        }
        let mut b = self.bound.borrow_mut();
        match b.get(source) {
            Some(z) if z == zone => Ok(AddOutcome::AlreadySet),
            Some(z) => Err(FirewalldError::ZoneConflict {
                source: source.into(),
                zone: zone.into(),
                detail: format!("ZONE_CONFLICT: '{source}' already bound to '{z}'"),
            }),
            None => {
                b.insert(source.into(), zone.into());
                Ok(AddOutcome::Added)
            }
        }
    }

    fn remove_source(&self, zone: &str, source: &str) -> Result<(), FirewalldError> {
        let mut b = self.bound.borrow_mut();
        if b.get(source).map(String::as_str) == Some(zone) {
            b.remove(source);
            Ok(())
        } else {
            Err(FirewalldError::Firewalld {
                method: "removeSource",
                name: "org.fedoraproject.FirewallD1.Exception".into(),
                detail: format!("UNKNOWN_SOURCE: {source}"),
            })
        }
    }

    fn query_source(&self, zone: &str, source: &str) -> Result<bool, FirewalldError> {
        Ok(self.bound.borrow().get(source).map(String::as_str) == Some(zone))
    }
}

fn srcs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn sources_are_host_prefixes() {
    assert_eq!(source("10.88.0.2".parse().unwrap()), "10.88.0.2/32");
    assert_eq!(source("fd88::2".parse().unwrap()), "fd88::2/128");
}

#[test]
fn add_twice_check_remove_twice() {
    let f = Fake::default();
    let s = srcs(&["10.88.0.2/32", "fd88::2/128"]);
    add(&f, "trusted", &s).unwrap();
    // ZONE_ALREADY_SET is tolerated.
    add(&f, "trusted", &s).unwrap();
    check(&f, "trusted", &s).unwrap();
    let mut errs = Errors::new();
    remove(&f, "trusted", &s, &mut errs);
    remove(&f, "trusted", &s, &mut errs);
    errs.finish("DEL").unwrap();
    assert!(f.bound.borrow().is_empty());
}

#[test]
fn check_reads_the_answer() {
    let f = Fake::default();
    let s = srcs(&["10.88.0.2/32"]);
    add(&f, "trusted", &s).unwrap();
    f.bound.borrow_mut().clear();
    let e = check(&f, "trusted", &s).unwrap_err();
    assert_eq!(e.code, code::CHECK_FAILED);
    assert_eq!(
        e.msg,
        "firewalld: 10.88.0.2/32 is not a source of zone trusted"
    );
}

#[test]
fn a_conflict_is_named_and_undoes_this_add() {
    let f = Fake::default();
    f.bound
        .borrow_mut()
        .insert("fd88::2/128".into(), "public".into());
    let e = add(&f, "trusted", &srcs(&["10.88.0.2/32", "fd88::2/128"])).unwrap_err();
    assert_eq!(e.code, code::ZONE_CONFLICT);
    assert!(e.msg.contains("already bound to 'public'"), "{}", e.msg);
    // The v4 source this ADD bound is unbound again; the other zone's
    // binding is left alone.
    assert_eq!(f.bound.borrow().len(), 1);
    assert_eq!(f.bound.borrow()["fd88::2/128"], "public");
    // DEL does not touch a source bound to another zone.
    let mut errs = Errors::new();
    remove(&f, "trusted", &srcs(&["fd88::2/128"]), &mut errs);
    errs.finish("DEL").unwrap();
    assert_eq!(f.bound.borrow().len(), 1);
}

#[test]
fn other_failures_are_firewalld_errors() {
    let f = Fake {
        fail_on: Some("10.88.0.3/32"),
        ..Fake::default()
    };
    let e = add(&f, "trusted", &srcs(&["10.88.0.2/32", "10.88.0.3/32"])).unwrap_err();
    assert_eq!(e.code, code::FIREWALLD);
    assert!(e.msg.contains("Not Authorized"), "{}", e.msg);
    assert!(f.bound.borrow().is_empty());
}
