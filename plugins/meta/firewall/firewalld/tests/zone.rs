//! The client against a real firewalld (cni_sandbox::firewalld): started
//! by each test in a network namespace of its own, on a private bus with a
//! path socket. Every answer of the client is compared with an
//! independent view: firewalld's own `firewall-cmd`, and the nftables
//! rules firewalld rendered into its namespace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cni_firewalld::{AddOutcome, Firewalld, FirewalldError};
use cni_sandbox::Sandbox;
use cni_sandbox::firewalld::{self as harness, PrivateBus};

/// A sandbox, a namespace for firewalld beside the fake host, and
/// firewalld in it.
fn setup() -> (Sandbox, cni_sandbox::Netns, harness::Firewalld) {
    let sandbox = Sandbox::new();
    let ns = sandbox.extra("firewalld");
    let fw = harness::Firewalld::start(&ns);
    (sandbox, ns, fw)
}

fn connect(fw: &harness::Firewalld) -> Firewalld {
    Firewalld::connect_to(fw.address())
        .unwrap_or_else(|e| panic!("{e}\n-- firewalld.log:\n{}", fw.log()))
}

#[test]
fn add_binds_an_ipv4_source_and_remove_unbinds_it() {
    bind_and_unbind("10.88.0.2/32", "10.88.0.2");
}

#[test]
fn add_binds_an_ipv6_source_and_remove_unbinds_it() {
    bind_and_unbind("fd00:88::2/128", "fd00:88::2");
}

/// ADD, a repeated ADD, DEL and a repeated DEL of `src` (`addr` as nft
/// prints it), each checked by the client, by `firewall-cmd` and in the
/// nftables rules firewalld made.
fn bind_and_unbind(src: &str, addr: &str) {
    let (_sandbox, ns, fw) = setup();
    let client = connect(&fw);
    let zone_by_cmd = || fw.firewall_cmd(&[&format!("--get-zone-of-source={src}")]);

    assert_eq!(
        client.add_source("trusted", src).unwrap(),
        AddOutcome::Added
    );
    assert_eq!(
        client.zone_of_source(src).unwrap().as_deref(),
        Some("trusted")
    );
    assert!(client.query_source("trusted", src).unwrap());
    assert!(!client.query_source("public", src).unwrap());
    // firewalld's own client and the kernel agree.
    assert_eq!(zone_by_cmd(), (true, "trusted".to_string()));
    assert_eq!(
        harness::nft_source_zone(&ns, addr).as_deref(),
        Some("trusted")
    );

    // A repeated ADD passes and changes nothing.
    assert_eq!(
        client.add_source("trusted", src).unwrap(),
        AddOutcome::AlreadySet
    );
    assert_eq!(
        client.zone_of_source(src).unwrap().as_deref(),
        Some("trusted")
    );

    client.remove_source("trusted", src).unwrap();
    assert_eq!(client.zone_of_source(src).unwrap(), None);
    assert!(!client.query_source("trusted", src).unwrap());
    let (bound, out) = zone_by_cmd();
    assert!(!bound && out.contains("no zone"), "{out}");
    assert_eq!(harness::nft_source_zone(&ns, addr), None);

    // DEL is idempotent: the source is in no zone now.
    client.remove_source("trusted", src).unwrap();
}

#[test]
fn a_source_in_another_zone_is_a_conflict_naming_that_zone() {
    let (_sandbox, ns, fw) = setup();
    let client = connect(&fw);
    let src = "10.88.0.3/32";
    let (ok, out) = fw.firewall_cmd(&["--zone=public", &format!("--add-source={src}")]);
    assert!(ok, "{out}");

    match client.add_source("trusted", src) {
        Err(FirewalldError::ZoneConflict { source, zone, .. }) => {
            assert_eq!(source, src);
            assert_eq!(zone, "public");
        }
        other => panic!("expected ZoneConflict, got {other:?}"),
    }
    // DEL in the wrong zone is a conflict too, and leaves the binding.
    match client.remove_source("trusted", src) {
        Err(FirewalldError::ZoneConflict { zone, .. }) => assert_eq!(zone, "public"),
        other => panic!("expected ZoneConflict, got {other:?}"),
    }
    assert!(client.query_source("public", src).unwrap());
    assert_eq!(
        harness::nft_source_zone(&ns, "10.88.0.3").as_deref(),
        Some("public")
    );
}

#[test]
fn firewalld_errors_keep_their_name_and_message() {
    let (_sandbox, _ns, fw) = setup();
    let client = connect(&fw);
    match client.add_source("no-such-zone", "10.88.0.4/32") {
        Err(FirewalldError::Firewalld {
            method,
            name,
            detail,
        }) => {
            assert_eq!(method, "addSource");
            assert_eq!(name, "org.fedoraproject.FirewallD1.Exception");
            assert!(detail.starts_with("INVALID_ZONE"), "{detail}");
        }
        other => panic!("expected INVALID_ZONE, got {other:?}"),
    }
    match client.query_source("trusted", "not-an-address") {
        Err(FirewalldError::Firewalld { detail, .. }) => {
            assert!(detail.starts_with("INVALID_ADDR"), "{detail}");
        }
        other => panic!("expected INVALID_ADDR, got {other:?}"),
    }
    // A NUL byte never reaches firewalld (it would cut the zone short).
    match client.add_source("trusted\0public", "10.88.0.4/32") {
        Err(FirewalldError::Firewalld { name, .. }) => {
            assert_eq!(name, "org.freedesktop.DBus.Error.InvalidArgs");
        }
        other => panic!("expected InvalidArgs, got {other:?}"),
    }
    assert_eq!(client.zone_of_source("10.88.0.4/32").unwrap(), None);
}

/// The plugin runs in the node's network namespace, firewalld in its own:
/// the path socket reaches across.
#[test]
fn a_call_from_another_network_namespace_reaches_firewalld() {
    let (sandbox, ns, fw) = setup();
    let address = fw.address().to_string();
    let outcome = sandbox.host.run(move || {
        let client = Firewalld::connect_to(&address)?;
        client.add_source("trusted", "10.88.0.5/32")
    });
    assert_eq!(outcome.unwrap(), AddOutcome::Added);
    assert_eq!(
        harness::nft_source_zone(&ns, "10.88.0.5").as_deref(),
        Some("trusted")
    );
}

#[test]
fn nobody_owning_the_name_is_not_running() {
    let sandbox = Sandbox::new();
    let ns = sandbox.extra("bus");
    let bus = PrivateBus::start(&ns);
    match Firewalld::connect_to(bus.address()) {
        Err(FirewalldError::NotRunning) => {}
        other => panic!("expected NotRunning, got {other:?}"),
    }
}

#[test]
fn no_bus_at_the_address_is_a_bus_error_naming_it() {
    let sandbox = Sandbox::new();
    let address = format!("unix:path={}", sandbox.dir().join("no-bus").display());
    match Firewalld::connect_to(&address) {
        Err(FirewalldError::Bus { address: a, detail }) => {
            assert_eq!(a, address);
            assert!(!detail.is_empty());
        }
        other => panic!("expected Bus, got {other:?}"),
    }
}

/// Without polkit on the bus, firewalld lets uid 0 change zones and
/// nobody else: a caller of another uid gets NotAuthorized, and nothing
/// changes.
#[test]
fn a_caller_without_the_right_is_not_authorized() {
    let (_sandbox, _ns, fw) = setup();
    let address = fw.address().to_string();
    let outcome = std::thread::spawn(move || {
        // Credentials are per thread in the kernel; the raw system call
        // (not glibc's setresuid, which changes every thread) makes only
        // this one thread `nobody`, and the thread ends right after.
        // SAFETY: setresuid with plain ids; it affects only this thread.
        let rc = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
        assert_eq!(rc, 0, "setresuid: {}", std::io::Error::last_os_error());
        let client = Firewalld::connect_to(&address)?;
        client.add_source("trusted", "10.88.0.6/32")
    })
    .join()
    .unwrap();
    match outcome {
        Err(FirewalldError::NotAuthorized { detail }) => {
            assert!(detail.contains("Not Authorized"), "{detail}");
        }
        other => panic!("expected NotAuthorized, got {other:?}"),
    }
    assert_eq!(connect(&fw).zone_of_source("10.88.0.6/32").unwrap(), None);
}
