//! ADD, CHECK and DEL of our bandwidth plugin on a real veth: the kernel
//! state each leaves (tc qdiscs and filters, the ifb), the result, and
//! the verbs' guarantees (CHECK sees drift, DEL is idempotent and needs
//! neither the netns nor prevResult).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::{Call, Sandbox, plugin_dir};
use common::*;
use serde_json::{Value, json};

const VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

#[test]
fn add_shapes_both_directions_with_the_references_numbers() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "lifecycle1", Some(1400));
    let c = conf("1.0.0", both(10_000_000, 1_000_000, 8_000, 80));
    let prev = pod.prev(&sb, "1.0.0");
    let r = pod.call(&sb, &ours(), "ADD", &c).expect_ok();

    // The result: the previous one plus the ifb, with its MAC.
    let ifb = pod.ifb();
    let ifb_link = sb.host.link(&ifb).expect("the ifb exists");
    assert_eq!(r["cniVersion"], "1.0.0");
    let mut want = interfaces(&prev);
    want.push(json!({"name": ifb, "mac": ifb_link["address"]}));
    assert_eq!(interfaces(&r), want);
    assert_eq!(r["ips"], prev["ips"]);

    // Ingress: TBF 1: at the veth's root, §3.2's 10 Mbit/s row.
    let q = root_qdisc(&sb.host, &pod.veth);
    assert_eq!(q["kind"], "tbf");
    assert_eq!(q["handle"], "1:");
    assert_eq!(q["options"]["rate"], 1_250_000);
    assert_eq!(q["options"]["limit"], 156_250);
    assert_eq!(q["options"]["burst_raw"], format!("{:x}", 1_562_500));
    let ingress = qdiscs(&sb.host, &pod.veth)
        .into_iter()
        .find(|q| q["kind"] == "ingress")
        .expect("an ingress qdisc on the veth");
    assert_eq!(ingress["handle"], "ffff:");

    // Egress: the redirect with the reference's two mirred actions.
    let f = filters(&sb.host, &pod.veth);
    let rule = f
        .iter()
        .find(|f| f["options"]["flowid"] == "1:1")
        .unwrap_or_else(|| panic!("no u32 rule: {f:?}"));
    assert_eq!(rule["protocol"], "all");
    assert_eq!(rule["pref"], 1);
    assert_eq!(rule["options"]["match"]["mask"], "0");
    let acts: Vec<(String, String)> = rule["options"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["kind"], "mirred");
            assert_eq!(a["direction"], "egress");
            assert_eq!(a["mirred_action"], "redirect");
            (
                a["to_dev"].as_str().unwrap().to_string(),
                a["control_action"]["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        acts,
        [(ifb.clone(), "stolen".into()), (ifb.clone(), "pass".into())]
    );

    // The ifb: up, the veth's MTU, queue length 0, TBF 1: at 8 kbit/s.
    assert_eq!(ifb_link["linkinfo"]["info_kind"], "ifb");
    assert_eq!(ifb_link["mtu"], 1400);
    assert!(ifb_link.get("txqlen").is_none(), "{ifb_link}");
    assert!(ifb_link["flags"].as_array().unwrap().contains(&json!("UP")));
    let q = root_qdisc(&sb.host, &ifb);
    assert_eq!(q["kind"], "tbf");
    assert_eq!(q["handle"], "1:");
    assert_eq!(q["options"]["rate"], 1_000);
    assert_eq!(q["options"]["limit"], 35);
    assert_eq!(q["options"]["burst_raw"], format!("{:x}", 156_250));

    pod.call(&sb, &ours(), "CHECK", &c).expect_ok();

    // DEL removes the ifb only; the veth's qdiscs go with the veth.
    pod.call(&sb, &ours(), "DEL", &c).expect_ok();
    assert!(ifbs(&sb.host).is_empty());
    assert_eq!(root_qdisc(&sb.host, &pod.veth)["kind"], "tbf");
    pod.call(&sb, &ours(), "DEL", &c).expect_ok();
}

#[test]
fn every_version_lists_the_ifb() {
    let sb = Sandbox::new();
    for (i, v) in VERSIONS.iter().enumerate() {
        let pod = Pod::new(&sb, &format!("bwveth{i}"), &format!("ver{i}"), None);
        let c = conf(v, json!({"egressRate": 1_000_000, "egressBurst": 100_000}));
        let r = pod.call(&sb, &ours(), "ADD", &c).expect_ok();
        assert_eq!(r["cniVersion"], *v);
        let names: Vec<&str> = r["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, [pod.veth.as_str(), "eth0", &pod.ifb()], "{v}");
        if v.starts_with("0.3") {
            assert_eq!(r["ips"][0]["version"], "4", "{v}: {r}");
        }
        if *v != "0.3.0" && *v != "0.3.1" {
            pod.call(&sb, &ours(), "CHECK", &c).expect_ok();
        }
        pod.call(&sb, &ours(), "DEL", &c).expect_ok();
        assert!(sb.host.link(&pod.ifb()).is_none(), "{v}");
    }
    // Before chaining existed there is nothing to chain after.
    let pod = Pod::new(&sb, "bwveth9", "ver9", None);
    let (code, _) = pod
        .call_raw(&sb, &ours(), "ADD", &conf("0.2.0", json!({})))
        .expect_error();
    assert_eq!(code, 1);
}

#[test]
fn nothing_to_shape_passes_the_result_through() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "through1", None);
    for keys in [
        json!({}),
        json!({"ingressRate": 0, "ingressBurst": 0}),
        json!({"runtimeConfig": {"bandwidth": {}}}),
        json!({"runtimeConfig": {"bandwidth": {"ingressRate": 0}}, "egressRate": 0}),
    ] {
        let c = conf("1.0.0", keys.clone());
        let r = pod.call(&sb, &ours(), "ADD", &c).expect_ok();
        assert_eq!(r, pod.prev(&sb, "1.0.0"), "{keys}");
        assert_unshaped(&sb, &pod);
        pod.call(&sb, &ours(), "CHECK", &c).expect_ok();
        pod.call(&sb, &ours(), "DEL", &c).expect_ok();
    }
}

/// What containerd sends for `kubernetes.io/ingress-bandwidth: 10M`: Go
/// field names and a burst of 4294967295 bits, whose tick count wraps.
#[test]
fn containerd_runtime_config() {
    let sb = Sandbox::new();
    let pod = Pod::new(&sb, "bwveth0", "containerd1", None);
    let c = conf(
        "1.0.0",
        json!({"runtimeConfig": {"bandwidth": {
            "IngressRate": 10_000_000, "IngressBurst": 4_294_967_295u64,
            "EgressRate": 10_000_000, "EgressBurst": 4_294_967_295u64
        }}}),
    );
    pod.call(&sb, &ours(), "ADD", &c).expect_ok();
    for dev in [pod.veth.clone(), pod.ifb()] {
        let q = root_qdisc(&sb.host, &dev);
        assert_eq!(q["options"]["rate"], 1_250_000, "{dev}");
        assert_eq!(q["options"]["limit"], 536_902_161, "{dev}");
        assert_eq!(q["options"]["burst_raw"], "8fffffe7", "{dev}");
    }
    pod.call(&sb, &ours(), "CHECK", &c).expect_ok();
    // A top-level key, even 0, makes the runtime's values count for nothing.
    let mut top = c.clone();
    top["egressBurst"] = json!(0);
    pod.call(&sb, &ours(), "DEL", &top).expect_ok();
    assert!(ifbs(&sb.host).is_empty());
}

#[test]
fn second_add_fails_and_keeps_the_first() {
    let (sb, pod, c) = added("twice1", both(8_000_000, 800_000, 4_000_000, 400_000));
    let before = shaping(&sb, &pod);
    let (code, msg) = pod.call(&sb, &ours(), "ADD", &c).expect_error();
    assert_eq!(code, 101, "{msg}");
    assert!(msg.contains("EEXIST"), "{msg}");
    assert_eq!(shaping(&sb, &pod), before);
    pod.call(&sb, &ours(), "CHECK", &c).expect_ok();
    // Egress only: the existing ifb stops the second ADD, untouched.
    let pod2 = Pod::new(&sb, "bwveth1", "twice2", None);
    let c2 = conf("1.0.0", json!({"egressRate": 8000, "egressBurst": 80_000}));
    pod2.call(&sb, &ours(), "ADD", &c2).expect_ok();
    let before = shaping(&sb, &pod2);
    let (code, msg) = pod2.call(&sb, &ours(), "ADD", &c2).expect_error();
    assert_eq!(code, 101, "{msg}");
    assert_eq!(shaping(&sb, &pod2), before);
}

fn check_err(sb: &Sandbox, pod: &Pod, c: &Value) -> String {
    let (code, msg) = pod.call(sb, &ours(), "CHECK", c).expect_error();
    assert_eq!(code, 110, "{msg}");
    msg
}

#[test]
fn check_sees_what_is_really_there() {
    let (sb, pod, c) = added("check1", both(8_000_000, 800_000, 4_000_000, 400_000));
    pod.call(&sb, &ours(), "CHECK", &c).expect_ok();

    // Other limits than the ones in place.
    let other = conf("1.0.0", both(8_000_000, 800_000, 2_000_000, 400_000));
    let msg = check_err(&sb, &pod, &other);
    assert!(msg.contains("Rate doesn't match"), "{msg}");
    assert!(msg.contains(&pod.ifb()), "{msg}");
    let other = conf("1.0.0", both(8_000_000, 1_600_000, 4_000_000, 400_000));
    assert!(check_err(&sb, &pod, &other).contains("Limit doesn't match"));

    // The redirect gone: the reference would not notice.
    sb.host
        .sh_ok(&format!("tc filter del dev {} parent ffff:", pod.veth));
    let msg = check_err(&sb, &pod, &c);
    assert!(msg.contains("no filter"), "{msg}");

    // The veth's TBF replaced by something else.
    sb.host
        .sh_ok(&format!("tc qdisc replace dev {} root pfifo", pod.veth));
    let msg = check_err(&sb, &pod, &c);
    assert!(msg.contains("not a TBF"), "{msg}");

    // The ifb gone.
    sb.host.sh_ok(&format!("ip link del {}", pod.ifb()));
    let only_egress = conf(
        "1.0.0",
        json!({"egressRate": 4_000_000, "egressBurst": 400_000}),
    );
    let msg = check_err(&sb, &pod, &only_egress);
    assert!(msg.contains("missing"), "{msg}");

    // CHECK needs prevResult; without limits there is nothing to check
    // (the reference 1.1.1 panics here).
    let (code, _) = pod
        .call_raw(&sb, &ours(), "CHECK", &conf("1.0.0", json!({})))
        .expect_error();
    assert_eq!(code, 7);
    pod.call(&sb, &ours(), "CHECK", &conf("1.0.0", json!({})))
        .expect_ok();
}

#[test]
fn del_needs_neither_netns_nor_prev_result() {
    let (sb, pod, c) = added("del1", both(8_000_000, 800_000, 4_000_000, 400_000));
    // Another attachment's ifb must survive this one's DEL.
    let other = Pod::new(&sb, "bwveth1", "del2", None);
    other.call(&sb, &ours(), "ADD", &c).expect_ok();
    pod.ns.remove();
    for netns in ["", pod.ns.path_str()] {
        Call::attach("DEL", &pod.cid, netns, "eth0", &plugin_dir())
            .run(&sb.host, &ours(), &c.to_string())
            .expect_ok();
    }
    assert_eq!(ifbs(&sb.host), [other.ifb()]);
    other.call(&sb, &ours(), "CHECK", &c).expect_ok();
}

#[test]
fn status_is_ready_with_a_valid_config() {
    let sb = Sandbox::new();
    let status = |c: &Value| {
        Call::new("STATUS")
            .env("CNI_PATH", &plugin_dir().to_string_lossy())
            .run(&sb.host, &ours(), &c.to_string())
    };
    status(&conf("1.1.0", both(8000, 800, 8000, 800))).expect_ok();
    status(&conf("1.1.0", json!({}))).expect_ok();
    let (code, _) = status(&conf("1.1.0", json!({"ingressRate": 8000}))).expect_error();
    assert_eq!(code, 7);
    let (code, _) = status(&conf("1.0.0", json!({}))).expect_error();
    assert_eq!(code, 1);
}
