//! `DBUS_SYSTEM_BUS_ADDRESS` decides which bus `connect` and `is_running`
//! use. The variable is process-wide, so this file holds one test only
//! (each integration-test file is its own process).

use cni_firewalld::{Firewalld, FirewalldError};
use cni_sandbox::Sandbox;
use cni_sandbox::firewalld::{self as harness, PrivateBus};

const VAR: &str = "DBUS_SYSTEM_BUS_ADDRESS";

fn set(value: &str) {
    // SAFETY: the only test in this process runs on one thread, and no
    // other thread reads the environment meanwhile (the daemons are
    // separate processes).
    unsafe { std::env::set_var(VAR, value) };
}

#[test]
fn the_variable_chooses_the_bus() {
    let sandbox = Sandbox::new();

    // A bus nobody serves firewalld on: not running, and auto-detection
    // says no.
    let empty_ns = sandbox.extra("bus");
    let empty = PrivateBus::start(&empty_ns);
    set(empty.address());
    assert!(matches!(
        Firewalld::connect(),
        Err(FirewalldError::NotRunning)
    ));
    assert!(!Firewalld::is_running());

    // No bus at all at that address: a Bus error that names it.
    let missing = format!("unix:path={}", sandbox.dir().join("missing").display());
    set(&missing);
    match Firewalld::connect() {
        Err(FirewalldError::Bus { address, .. }) => assert_eq!(address, missing),
        other => panic!("expected Bus, got {other:?}"),
    }
    assert!(!Firewalld::is_running());

    // A malformed address is a Bus error too, never a panic.
    set("this is not a D-Bus address");
    assert!(matches!(
        Firewalld::connect(),
        Err(FirewalldError::Bus { .. })
    ));

    // firewalld's bus: running, and the connection uses that bus.
    let ns = sandbox.extra("firewalld");
    let fw = harness::Firewalld::start(&ns);
    set(fw.address());
    assert!(Firewalld::is_running(), "{}", fw.log());
    let client = Firewalld::connect().unwrap();
    assert_eq!(client.address(), fw.address());
    assert_eq!(client.zone_of_source("10.88.0.9/32").unwrap(), None);
}
