//! Bad input: every case fails with a spec code and a message naming
//! the key or the interface, and leaves nothing on the node (no qdisc on
//! the veth, no ifb), also when the failure comes after the first qdisc
//! was made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::{Call, Sandbox, plugin_dir};
use common::*;
use serde_json::{Value, json};

/// ADD with `c` fails with `code` and a message containing `needle`,
/// and nothing is made.
fn rejected(sb: &Sandbox, pod: &Pod, c: &Value, code: u64, needle: &str) {
    let (got, msg) = pod.call(sb, &ours(), "ADD", c).expect_error();
    assert_eq!(got, code, "{c}: {msg}");
    assert!(msg.contains(needle), "{c}: {msg:?} lacks {needle:?}");
    assert_unshaped(sb, pod);
}

#[test]
fn invalid_limits_are_code_7_naming_the_key() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "bad1", None);
    // Each with a valid other direction, so a half-made attachment would
    // show.
    let cases = [
        (
            json!({"ingressRate": 8000, "ingressBurst": 8000, "egressBurst": 800}),
            "egressRate",
        ),
        (
            json!({"ingressRate": 8000, "egressRate": 8000, "egressBurst": 8000}),
            "ingressBurst",
        ),
        (
            json!({"ingressRate": 8000, "ingressBurst": 34_359_738_360u64,
                   "egressRate": 8000, "egressBurst": 8000}),
            "burst cannot be more than 4GB",
        ),
        (
            json!({"ingressRate": 8000, "ingressBurst": 8000, "egressRate": 7, "egressBurst": 8000}),
            "egressRate 7",
        ),
        (
            json!({"ingressRate": 8000, "ingressBurst": 8000, "egressRate": 8000, "egressBurst": 7}),
            "egressBurst 7",
        ),
        (
            json!({"runtimeConfig": {"bandwidth": {
                "IngressRate": 8000, "EgressRate": 8000, "EgressBurst": 8000}}}),
            "runtimeConfig.bandwidth.ingressBurst",
        ),
    ];
    for (keys, needle) in cases {
        let c = conf("1.0.0", keys);
        rejected(&sb, &pod, &c, 7, needle);
        // DEL rejects it the same way (as the reference does).
        let (code, _) = pod.call(&sb, &ours(), "DEL", &c).expect_error();
        assert_eq!(code, 7);
    }
}

#[test]
fn wrong_types_are_code_6() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "bad2", None);
    for v in [json!(-1), json!(1e6), json!("8000"), json!([1])] {
        let c = conf("1.0.0", json!({"ingressRate": v, "ingressBurst": 8000}));
        rejected(&sb, &pod, &c, 6, "ingressRate");
    }
    let c = conf("1.0.0", json!({"runtimeConfig": {"bandwidth": "10M"}}));
    rejected(&sb, &pod, &c, 6, "runtimeConfig.bandwidth");
}

#[test]
fn a_pod_interface_that_is_not_a_veth() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "bad3", None);
    // This kernel has no dummy driver; any link that is not a veth does.
    pod.ns
        .sh_ok("ip link add br9 type bridge && ip link set br9 up");
    let mut c = conf("1.0.0", both(8000, 8000, 8000, 8000));
    c["prevResult"] = pod.prev(&sb, "1.0.0");
    for ifname in ["br9", "lo"] {
        let (code, msg) = Call::attach("ADD", &pod.cid, pod.ns.path_str(), ifname, &plugin_dir())
            .run(&sb.host, &ours(), &c.to_string())
            .expect_error();
        assert_eq!(code, 7, "{msg}");
        assert!(msg.contains("not a veth"), "{msg}");
        assert!(msg.contains(ifname), "{msg}");
        assert_unshaped(&sb, &pod);
    }
    // An interface the pod does not have.
    let (code, msg) = Call::attach("ADD", &pod.cid, pod.ns.path_str(), "eth9", &plugin_dir())
        .run(&sb.host, &ours(), &c.to_string())
        .expect_error();
    assert_eq!(code, 7, "{msg}");
    assert!(msg.contains("eth9"), "{msg}");
    assert_unshaped(&sb, &pod);
}

#[test]
fn the_host_end_must_be_in_the_host_and_in_the_result() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "bad4", None);
    let c = conf("1.0.0", both(8000, 8000, 8000, 8000));
    let mut prev = pod.prev(&sb, "1.0.0");

    // No interfaces at all.
    let mut c2 = c.clone();
    c2["prevResult"] = json!({"cniVersion": "1.0.0", "interfaces": [], "ips": []});
    rejected(&sb, &pod, &c2, 7, "no interfaces provided");

    // The host veth listed with a sandbox, or not listed.
    prev["interfaces"][0]["sandbox"] = json!("/var/run/netns/elsewhere");
    c2["prevResult"] = prev.clone();
    rejected(&sb, &pod, &c2, 7, "bwveth0");
    prev["interfaces"][0] = json!({"name": "other0"});
    c2["prevResult"] = prev;
    rejected(&sb, &pod, &c2, 7, "not listed in prevResult");

    // A pod whose veth peer lives in a third namespace, not the host.
    let third = sb.extra("third");
    let pod2 = sb.pod();
    third.sh_ok(&format!(
        "ip link add far0 type veth peer name eth0 netns {}",
        pod2.name()
    ));
    let (code, msg) = Call::attach("ADD", "bad5", pod2.path_str(), "eth0", &plugin_dir())
        .run(&sb.host, &ours(), &{
            let mut c = c.clone();
            c["prevResult"] = json!({"cniVersion": "1.0.0",
                "interfaces": [{"name": "far0"}, {"name": "eth0", "sandbox": pod2.path_str()}]});
            c.to_string()
        })
        .expect_error();
    // Its index names no host link, or one the result does not list.
    assert_eq!(code, 7, "{msg}");
    assert!(
        msg.contains("not in host ns") || msg.contains("not listed in prevResult"),
        "{msg}"
    );
    assert_unshaped(&sb, &pod);
}

#[test]
fn chained_only() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "bad6", None);
    // With or without limits (the reference panics without both).
    for keys in [both(8000, 8000, 8000, 8000), json!({})] {
        let (code, msg) = pod
            .call_raw(&sb, &ours(), "ADD", &conf("1.0.0", keys))
            .expect_error();
        assert_eq!(code, 7);
        assert!(msg.contains("chained"), "{msg}");
    }
    assert_unshaped(&sb, &pod);
    // A netns path that is no namespace.
    let run = Call::attach(
        "ADD",
        "bad6",
        "/run/netns/no-such-pod",
        "eth0",
        &plugin_dir(),
    )
    .run(&sb.host, &ours(), &{
        let mut c = conf("1.0.0", both(8000, 8000, 8000, 8000));
        c["prevResult"] = pod.prev(&sb, "1.0.0");
        c.to_string()
    });
    assert_eq!(run.expect_err(), 4);
    assert_unshaped(&sb, &pod);
}

/// A failure after the ingress TBF was made (the ifb's name is taken)
/// removes that TBF again: nothing half-made (the reference leaves it).
#[test]
fn a_failed_add_undoes_what_it_made() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "bad7", None);
    sb.host
        .sh_ok(&format!("ip link add {} type bridge", pod.ifb()));
    let c = conf("1.0.0", both(8000, 8000, 8000, 8000));
    let (code, msg) = pod.call(&sb, &ours(), "ADD", &c).expect_error();
    assert_eq!(code, 101, "{msg}");
    assert!(msg.contains("EEXIST"), "{msg}");
    assert_unshaped(&sb, &pod);
    assert_eq!(
        sb.host.link(&pod.ifb()).unwrap()["linkinfo"]["info_kind"],
        "bridge",
        "somebody else's link is left alone"
    );
}
