//! NetNs: entering and always leaving, namespace-bound sockets, and
//! sysctls seen per namespace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::Sandbox;
use hostnet::{NetNs, Netlink, sysctl};

/// Everything below runs on a fresh thread whose namespace is the test
/// process's own; assert the thread is back there after each step.
fn original() -> NetNs {
    NetNs::current().unwrap()
}

#[test]
fn run_enters_and_restores() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let target = common::netns(&pod);
    let home = original();
    assert!(!home.same_as(&target).unwrap());
    let inside = target
        .run(|| NetNs::current().unwrap().same_as(&target).unwrap())
        .unwrap();
    assert!(inside, "the closure must run inside the target namespace");
    assert!(NetNs::current().unwrap().same_as(&home).unwrap());
}

#[test]
fn run_restores_when_the_closure_fails() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let target = common::netns(&pod);
    let home = original();
    let r: Result<Result<(), String>, _> = target.run(|| Err("boom".to_string()));
    assert_eq!(r.unwrap(), Err("boom".to_string()));
    assert!(NetNs::current().unwrap().same_as(&home).unwrap());
}

#[test]
fn run_restores_when_the_closure_panics() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let target = common::netns(&pod);
    let home = original();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        target
            .run(|| -> () {
                assert!(NetNs::current().unwrap().same_as(&target).unwrap());
                panic!("closure panicked");
            })
            .unwrap();
    }));
    assert!(caught.is_err(), "the panic must propagate");
    assert!(
        NetNs::current().unwrap().same_as(&home).unwrap(),
        "the thread must be back in its own namespace after the panic"
    );
}

#[test]
fn netlink_socket_stays_bound_to_its_namespace() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    pod.sh_ok("ip link add podonly0 type bridge");
    sb.host.sh_ok("ip link add hostonly0 type bridge");
    let home = original();
    let nl = common::nl(&pod);
    assert!(NetNs::current().unwrap().same_as(&home).unwrap());
    let names: Vec<String> = nl.links().unwrap().into_iter().map(|l| l.name).collect();
    assert!(names.contains(&"podonly0".to_string()), "{names:?}");
    assert!(!names.contains(&"hostonly0".to_string()), "{names:?}");
    // A handle on the host sees the host's link and not the pod's.
    let host = common::nl(&sb.host);
    assert!(host.link_by_name("hostonly0").is_ok());
    assert!(host.link_by_name("podonly0").unwrap_err().is_not_found());
}

#[test]
fn missing_or_removed_namespace_is_not_found() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let path = pod.path().to_path_buf();
    pod.remove();
    let e = NetNs::open(&path).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains(path.to_str().unwrap()), "{e}");
}

#[test]
fn in_netns_of_an_open_handle_survives_unmount() {
    // A handle keeps the namespace alive after its bind mount is gone
    // (what happens when a runtime removes the netns during DEL).
    let sb = Sandbox::new();
    let pod = sb.pod();
    let handle = common::netns(&pod);
    pod.remove();
    let nl = Netlink::in_netns(&handle).unwrap();
    let lo = nl.link_by_name("lo").unwrap();
    assert_eq!(lo.index, 1);
}

#[test]
fn sysctl_is_per_namespace_and_written_only_when_different() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let target = common::netns(&pod);
    let host_before = sb.host.sysctl("net/ipv4/ip_forward");
    assert_eq!(pod.sysctl("net/ipv4/ip_forward"), "0");
    let wrote = target
        .run(|| sysctl::set("net.ipv4.ip_forward", "1"))
        .unwrap()
        .unwrap();
    assert!(wrote);
    assert_eq!(pod.sysctl("net/ipv4/ip_forward"), "1");
    assert_eq!(
        sb.host.sysctl("net/ipv4/ip_forward"),
        host_before,
        "host untouched"
    );
    let again = target
        .run(|| sysctl::set("net/ipv4/ip_forward", "1"))
        .unwrap()
        .unwrap();
    assert!(!again, "same value: no write");
    assert_eq!(
        target
            .run(|| sysctl::get("net/ipv4/ip_forward"))
            .unwrap()
            .unwrap(),
        "1"
    );
}

#[test]
fn sysctl_equal_value_skips_the_write() {
    // kernel/ostype is read-only: a write would fail with EACCES, so
    // success proves no write was attempted for an equal value.
    let current = sysctl::get("kernel/ostype").unwrap();
    assert!(!sysctl::set("kernel/ostype", &current).unwrap());
    let e = sysctl::set("kernel/ostype", "NotLinux").unwrap_err();
    assert!(e.to_string().contains("write sysctl kernel/ostype"), "{e}");
}
