//! Bad input to our ptp: each is refused with a spec code (or a named
//! plugin code) and a message that names the problem, and leaves the node
//! and the pod exactly as they were: no veth, no lease, no rule, no route.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_ptp::code;
use cni_sandbox::{Call, Netns};
use common::*;
use serde_json::{Value, json};

/// Run ADD with `conf` (and `call` changes) and assert the error code, a
/// message containing `needle`, and that nothing was made.
fn refused(node: &Node, pod: &Netns, call: Call, conf: &Value, want: u32, needle: &str) {
    let base = node.state();
    let host_routes = all_routes(&node.sb.host);
    // Run as given (`Node::exec` would set CNI_PATH again).
    let run = call.run_timeout(
        &node.sb.host,
        &node.bin.join("ptp"),
        &conf.to_string(),
        CALL_TIMEOUT,
    );
    let (code, msg) = run.expect_error();
    assert_eq!(code, u64::from(want), "{msg}");
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    node.assert_clean(&base, &msg);
    assert_eq!(all_routes(&node.sb.host), host_routes, "{msg}");
    assert_eq!(pod.link_names(), ["lo"], "{msg}");
}

#[test]
fn invalid_config_is_code_7_or_6_naming_the_key() {
    let node = node();
    let pod = node.sb.pod();
    let add = node.call("ADD", "ctr-bad", pod.path_str());
    for (extra, want, needle) in [
        (json!({"mtu": 10}), 7, "mtu"),
        (json!({"mtu": -1}), 7, "mtu"),
        (json!({"ipMasqBackend": "ipchains"}), 7, "ipMasqBackend"),
        (json!({"ipam": null}), 7, "ipam"),
        (json!({"ipam": {"type": ""}}), 7, "ipam"),
        (json!({"ipam": {"type": "../host-local"}}), 7, "host-local"),
        (json!({"mtu": "1500"}), 6, "mtu"),
        (json!({"ipMasq": "maybe"}), 6, "ipMasq"),
        (
            json!({"dns": {"nameservers": "10.0.0.1"}}),
            6,
            "nameservers",
        ),
    ] {
        refused(&node, &pod, add.clone(), &node.conf(extra), want, needle);
    }
    // DEL and CHECK of such a config are refused the same way (a config
    // that can never ADD has nothing to remove).
    let (code, _) = node
        .exec(
            &node.call("DEL", "ctr-bad", pod.path_str()),
            &node.conf(json!({"mtu": 10})),
        )
        .expect_error();
    assert_eq!(code, 7);
}

#[test]
fn bad_environment_is_code_4() {
    let node = node();
    let pod = node.sb.pod();
    let conf = node.conf(json!({}));
    let add = node.call("ADD", "ctr-env", pod.path_str());
    refused(
        &node,
        &pod,
        add.clone().without("CNI_PATH"),
        &conf,
        4,
        "CNI_PATH",
    );
    refused(
        &node,
        &pod,
        add.clone().env("CNI_NETNS", "/nonexistent/ns"),
        &conf,
        4,
        "/nonexistent/ns",
    );
    refused(
        &node,
        &pod,
        add.clone().env("CNI_IFNAME", "a-name-too-long-for-linux"),
        &conf,
        4,
        "CNI_IFNAME",
    );
    refused(
        &node,
        &pod,
        add.without("CNI_CONTAINERID"),
        &conf,
        4,
        "CNI_CONTAINERID",
    );
}

/// The fake host as the "pod": ptp would delete the host's own connected
/// routes; refused with the netns code before anything is made.
#[test]
fn the_plugins_own_netns_as_the_pod_is_refused() {
    let node = node();
    let pod = node.sb.pod();
    let call = node.call("ADD", "ctr-self", node.sb.host.path_str());
    refused(
        &node,
        &pod,
        call,
        &node.conf(json!({})),
        8,
        "own network namespace",
    );
}

#[test]
fn the_ipam_plugin_missing_from_cni_path() {
    let node = node();
    let pod = node.sb.pod();
    let conf = node.conf(json!({"ipam": {"type": "no-such-ipam"}}));
    let call = node.call("ADD", "ctr-noipam", pod.path_str());
    let (code, msg) = node.exec(&call, &conf).expect_error();
    assert!(msg.contains("no-such-ipam"), "{code} {msg}");
    assert_eq!(pod.link_names(), ["lo"]);
}

/// IPAM results ptp cannot route: no gateway, a single-address prefix, no
/// address at all. Each is refused with its code, and the lease the IPAM
/// plugin gave is handed back (the stub logs the DEL).
#[test]
fn unroutable_ipam_results_are_refused_and_released() {
    let node = node();
    let pod = node.sb.pod();
    let log = node.sb.dir().join("stub.log");
    for (ips, want, needle) in [
        (
            json!([{"address": "10.9.0.5/24"}]),
            code::NO_GATEWAY,
            "no gateway",
        ),
        (
            json!([{"address": "10.9.0.5/24", "gateway": "fd00::1"}]),
            code::NO_GATEWAY,
            "no gateway",
        ),
        (
            json!([{"address": "10.9.0.5/32", "gateway": "10.9.0.1"}]),
            code::FULL_LENGTH_PREFIX,
            "10.9.0.5/32",
        ),
        (json!([]), code::IPAM_NO_ADDRESS, "no IP address"),
    ] {
        let reply = json!({"cniVersion": "1.0.0", "ips": ips});
        node.stub(
            "stub-ipam",
            &format!(
                "echo \"$CNI_COMMAND\" >> {}\n[ \"$CNI_COMMAND\" = ADD ] && echo '{reply}'\nexit 0",
                log.display()
            ),
        );
        let _ = std::fs::remove_file(&log);
        let conf = node.conf(json!({"ipam": {"type": "stub-ipam"}}));
        let call = node.call("ADD", "ctr-stub", pod.path_str());
        refused(&node, &pod, call, &conf, want, needle);
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "ADD\nDEL\n",
            "{ips}"
        );
    }
}

/// A second ADD of a live attachment fails before the IPAM plugin runs,
/// so its rollback cannot release the live pod's lease (the reference
/// runs IPAM first and relies on the IPAM plugin refusing the duplicate).
#[test]
fn a_repeated_add_keeps_the_live_attachment() {
    let node = node();
    let pod = node.sb.pod();
    let conf = node.conf(json!({}));
    let r = node.add("ctr-twice", &pod, &conf);
    let base = node.state();
    let (code, msg) = node
        .exec(&node.call("ADD", "ctr-twice", pod.path_str()), &conf)
        .expect_error();
    assert_eq!(code, u64::from(code::INTERFACE_EXISTS), "{msg}");
    node.assert_clean(&base, "a repeated ADD");
    node.check("ctr-twice", &pod, &conf, &r).expect_ok();
}

/// A failure after the veth exists (an IPAM route whose gateway is not
/// reachable): ours removes the veth and releases the lease; the
/// reference leaves the veth in the pod.
#[test]
fn a_failure_halfway_leaves_nothing_reference_leaves_the_veth() {
    let mut left = vec![];
    for ptp in [our_ptp(), reference_ptp()] {
        let node = node_with(&ptp);
        let pod = node.sb.pod();
        let ipam = node.ipam(
            json!([[{"subnet": SUBNET4}]]),
            json!([{"dst": "192.168.0.0/16", "gw": "172.16.0.1"}]),
        );
        let conf = node.conf(json!({"ipam": ipam}));
        let base = node.state();
        node.exec(&node.call("ADD", "ctr-half", pod.path_str()), &conf)
            .expect_err();
        let now = node.state();
        assert_eq!(now.leases, base.leases, "{}", ptp.display());
        assert_eq!(now.iptables, base.iptables, "{}", ptp.display());
        left.push(pod.link_names());
    }
    assert_eq!(left, [vec!["lo"], vec!["lo", "eth0"]]);
}
