//! Every bad input to ADD gets a spec error code (7 invalid config, 4 bad
//! environment) with a message naming the problem, and creates nothing:
//! no bridge, no veth in the host or the pod, no lease, no rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

/// One bad input: config keys merged over the base config, extra
/// environment, the expected code and words the message must contain.
struct Case {
    name: &'static str,
    conf: Value,
    env: Vec<(&'static str, String)>,
    code: u64,
    words: &'static [&'static str],
}

fn case(name: &'static str, conf: Value, code: u64, words: &'static [&'static str]) -> Case {
    Case {
        name,
        conf,
        env: vec![],
        code,
        words,
    }
}

fn config_cases() -> Vec<Case> {
    vec![
        case(
            "hairpin with promisc",
            json!({"hairpinMode": true, "promiscMode": true}),
            7,
            &["hairpinMode", "promiscMode"],
        ),
        case(
            "vlan too big",
            json!({"vlan": 4095}),
            7,
            &["VLAN", "4095", "4094"],
        ),
        case("vlan negative", json!({"vlan": -1}), 7, &["VLAN", "-1"]),
        case(
            "trunk minID above maxID",
            json!({"vlanTrunk": [{"minID": 20, "maxID": 10}]}),
            7,
            &["minID 20", "maxID 10"],
        ),
        case(
            "trunk id zero",
            json!({"vlanTrunk": [{"id": 0}]}),
            7,
            &["vlanTrunk", "id 0", "4094"],
        ),
        case(
            "trunk maxID too big",
            json!({"vlanTrunk": [{"minID": 10, "maxID": 5000}]}),
            7,
            &["maxID 5000"],
        ),
        case(
            "trunk maxID without minID",
            json!({"vlanTrunk": [{"maxID": 10}]}),
            7,
            &["maxID", "without minID"],
        ),
        case(
            "trunk minID without maxID",
            json!({"vlanTrunk": [{"minID": 10}]}),
            7,
            &["minID", "without maxID"],
        ),
        case(
            "vlan and trunk",
            json!({"vlan": 5, "vlanTrunk": [{"id": 6}]}),
            7,
            &["vlan and vlanTrunk"],
        ),
        case(
            "disableContainerInterface with ipam",
            json!({"disableContainerInterface": true}),
            7,
            &["disableContainerInterface", "ipam"],
        ),
        case(
            "bridge name too long",
            json!({"bridge": "abcdefghijklmnop"}),
            7,
            &["bridge name", "abcdefghijklmnop"],
        ),
        case(
            "bridge name with a slash",
            json!({"bridge": "br/0"}),
            7,
            &["bridge name", "br/0"],
        ),
        case(
            "bridge name with a space",
            json!({"bridge": "br 0"}),
            7,
            &["bridge name", "br 0"],
        ),
        case(
            "bridge name dot-dot",
            json!({"bridge": ".."}),
            7,
            &["bridge name"],
        ),
        case("mtu too small", json!({"mtu": 10}), 7, &["mtu", "10"]),
        case(
            "unknown masquerade backend",
            json!({"ipMasqBackend": "pf"}),
            7,
            &["ipMasqBackend", "pf"],
        ),
        case(
            "bad MAC in runtimeConfig",
            json!({"runtimeConfig": {"mac": "not-a-mac"}}),
            7,
            &["MAC", "not-a-mac", "runtimeConfig.mac"],
        ),
        case(
            "multicast MAC in args",
            json!({"args": {"cni": {"mac": "01:00:5e:00:00:01"}}}),
            7,
            &["MAC", "01:00:5e:00:00:01", "unicast"],
        ),
        Case {
            env: vec![("CNI_ARGS", "MAC=zz:00:00:00:00:01".into())],
            ..case("bad MAC in CNI_ARGS", json!({}), 7, &["MAC", "CNI_ARGS"])
        },
    ]
}

/// Run every case against one node and assert code, message and that
/// nothing was made.
fn run_cases(node: &Node, cases: Vec<Case>) {
    let pod = node.sb.pod();
    let base = node.state();
    let links = node.sb.host.link_names();
    for c in cases {
        let conf = node.conf(c.conf);
        let mut call = node.call("ADD", "ctr-bad", pod.path_str());
        for (k, v) in &c.env {
            call = call.env(k, v);
        }
        let run = node.exec(&call, &conf);
        let (code, msg) = run.expect_error();
        assert_eq!(code, c.code, "{}: {msg}", c.name);
        for w in c.words {
            assert!(msg.contains(w), "{}: message lacks {w:?}: {msg}", c.name);
        }
        assert_eq!(node.sb.host.link_names(), links, "{}: host links", c.name);
        assert_eq!(pod.link_names(), ["lo"], "{}: pod links", c.name);
        node.assert_clean(&base, c.name);
    }
}

#[test]
fn bad_config_is_rejected_before_anything_is_made() {
    let node = Node::new();
    run_cases(&node, config_cases());
}

#[test]
fn bad_netns_is_rejected_before_anything_is_made() {
    let node = Node::new();
    let file = node.sb.dir().join("not-a-netns");
    std::fs::write(&file, b"").unwrap();
    let cases = [
        (file.to_str().unwrap().to_string(), "not a namespace file"),
        ("/proc/self/ns/mnt".to_string(), "not a network namespace"),
        (
            node.sb.dir().join("gone").to_str().unwrap().to_string(),
            "must name an existing network namespace",
        ),
    ];
    let base = node.state();
    let links = node.sb.host.link_names();
    let conf = node.conf(json!({}));
    for (path, words) in cases {
        let run = node.exec(&node.call("ADD", "ctr-bad", &path), &conf);
        let (code, msg) = run.expect_error();
        assert_eq!(code, 4, "{path}: {msg}");
        assert!(msg.contains(words) && msg.contains(&path), "{path}: {msg}");
        assert_eq!(node.sb.host.link_names(), links, "{path}: host links");
        node.assert_clean(&base, &path);
    }
}

/// A link named like the bridge that is not a bridge: a clear config
/// error, and neither a veth nor a lease is made.
#[test]
fn same_named_non_bridge_link_is_a_clear_error() {
    let node = Node::new();
    // This kernel has no dummy links: a veth pair stands in.
    node.sb
        .host
        .sh_ok("ip link add cni0 type veth peer name cni0peer");
    let base = node.state();
    let pod = node.sb.pod();
    let conf = node.conf(json!({}));
    let run = node.exec(&node.call("ADD", "ctr-nb", pod.path_str()), &conf);
    let (code, msg) = run.expect_error();
    assert_eq!(code, 7, "{msg}");
    assert!(
        msg.contains("\"cni0\"") && msg.contains("not a bridge") && msg.contains("veth"),
        "{msg}"
    );
    assert_eq!(pod.link_names(), ["lo"]);
    node.assert_clean(&base, "non-bridge cni0");
}

/// Missing CNI_PATH when an IPAM plugin must be found: code 4, before
/// anything is made.
#[test]
fn missing_cni_path_with_ipam() {
    let node = Node::new();
    let pod = node.sb.pod();
    let base = node.state();
    let links = node.sb.host.link_names();
    let call = node.call("ADD", "ctr-np", pod.path_str());
    let run = call.without("CNI_PATH").run_timeout(
        &node.sb.host,
        &node.bin.join("bridge"),
        &node.conf(json!({})).to_string(),
        CALL_TIMEOUT,
    );
    let (code, msg) = run.expect_error();
    assert_eq!(code, 4, "{msg}");
    assert!(msg.contains("CNI_PATH"), "{msg}");
    assert_eq!(node.sb.host.link_names(), links);
    node.assert_clean(&base, "no CNI_PATH");
}
