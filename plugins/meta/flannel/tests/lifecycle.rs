//! The flannel plugin through its real binary on a fake node: the pod it
//! gives kube-flannel's config (address, routes, MTU from `subnet.env`),
//! CHECK reaching the delegate, DEL leaving nothing, the scratch files both
//! implementations read, the retry semantics of DEL, a node whose flanneld
//! has not written `subnet.env` yet, dual stack, and GC through the
//! delegate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use cni_sandbox::{Netns, PluginNode};
use common::{NET, Node};
use serde_json::{Value, json};

fn mtu(ns: &Netns, link: &str) -> u64 {
    ns.link(link).unwrap_or_else(|| panic!("no link {link}"))["mtu"]
        .as_u64()
        .unwrap()
}

#[test]
fn kube_flannel_pod_gets_the_nodes_subnet_and_del_leaves_nothing() {
    let n = Node::new();
    let pod = n.node.sb.pod();
    let conf = n.conf("0.4.0");
    let result = n.node.add("c1", &pod, &conf);
    assert_eq!(result["cniVersion"], json!("0.4.0"), "{result}");
    assert_eq!(
        result["ips"][0]["address"],
        json!("10.244.1.2/24"),
        "{result}"
    );
    assert_eq!(result["ips"][0]["gateway"], json!("10.244.1.1"), "{result}");

    let host = &n.node.sb.host;
    let v4 = |ns: &Netns, link: &str| -> Vec<String> {
        ns.addrs(link)
            .into_iter()
            .filter(|a| a.contains('.'))
            .collect()
    };
    assert_eq!(
        v4(host, "cni0"),
        vec!["10.244.1.1/24".to_string()],
        "isGateway"
    );
    assert_eq!(v4(&pod, "eth0"), vec!["10.244.1.2/24".to_string()]);
    assert_eq!(mtu(&pod, "eth0"), 1450, "FLANNEL_MTU reaches the pod");
    assert_eq!(mtu(host, "cni0"), 1450, "and the bridge");
    let routes = cni_sandbox::route_lines(&pod, 4);
    assert!(
        routes.contains(&"default via 10.244.1.1".to_string()),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"10.244.0.0/16 via 10.244.1.1".to_string()),
        "{routes:?}"
    );
    // FLANNEL_IPMASQ=true: flanneld masquerades, the bridge must not.
    assert!(
        !host.iptables_nat(false).iter().any(|r| r.contains("CNI-")),
        "{:?}",
        host.iptables_nat(false)
    );
    assert_eq!(n.scratch_files(), vec!["c1", "c1:eth0"]);

    n.node.check("c1", &pod, &conf, &result).expect_ok();
    n.node.del("c1", &pod, &conf);
    assert_eq!(
        n.node
            .sb
            .host
            .link_names()
            .iter()
            .filter(|l| l.starts_with("veth"))
            .count(),
        0
    );
    assert!(n.leases().is_empty(), "{:?}", n.leases());
    assert!(n.scratch_files().is_empty(), "{:?}", n.scratch_files());
    n.node.del("c1", &pod, &conf);
}

#[test]
fn check_reaches_the_delegate() {
    let n = Node::new();
    let pod = n.node.sb.pod();
    let conf = n.conf("1.0.0");
    let result = n.node.add("c1", &pod, &conf);
    n.node.check("c1", &pod, &conf, &result).expect_ok();
    // The reference's CHECK passes blindly; ours asks bridge, which sees
    // the address gone.
    pod.sh_ok("ip addr flush dev eth0");
    let (code, msg) = n.node.check("c1", &pod, &conf, &result).expect_error();
    assert_ne!(code, 0);
    assert!(msg.contains("10.244.1.2"), "{msg}");
    // An attachment flannel never saw is unknown (code 3).
    let other = n.node.check("c9", &pod, &conf, &result).expect_err();
    assert_eq!(other, 3);
    n.node.del("c1", &pod, &conf);
}

/// A delegate that records each call and its stdin in `dir`, answers ADD
/// with a minimal result, and fails its first DEL with code 11.
fn recording_delegate(node: &PluginNode, dir: &Path) {
    let d = dir.display();
    node.stub(
        "fakebr",
        &format!(
            "echo \"$CNI_COMMAND\" >> {d}/calls\n\
             cat > {d}/stdin.$CNI_COMMAND\n\
             case $CNI_COMMAND in\n\
             ADD) echo '{{\"cniVersion\":\"1.0.0\",\"interfaces\":[{{\"name\":\"eth0\"}}]}}' ;;\n\
             DEL) if [ ! -e {d}/del-ok ]; then touch {d}/del-ok; echo '{{\"code\":11,\"msg\":\"delegate busy\"}}'; exit 1; fi ;;\n\
             esac"
        ),
    );
}

/// A node whose flannel delegates to the recording delegate, and pod `c1`
/// added through it: (node, the recording dir, the pod, the conf).
fn added_through_recording_delegate() -> (Node, std::path::PathBuf, Netns, Value) {
    let n = Node::new();
    let rec = n.node.sb.subdir("rec");
    recording_delegate(&n.node, &rec);
    let pod = n.node.sb.pod();
    let mut conf = n.conf("1.0.0");
    conf["delegate"]["type"] = json!("fakebr");
    n.node.add("c1", &pod, &conf);
    (n, rec, pod, conf)
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_del_retried_after_a_failed_delegate_del_reaches_the_delegate_again() {
    let (n, rec, pod, conf) = added_through_recording_delegate();
    let call = n.node.call("DEL", "c1", pod.path_str());
    let (code, msg) = n.node.exec(&call, &conf).expect_error();
    assert_eq!(
        (code, msg.as_str()),
        (11, "delegate busy"),
        "the delegate's error as it is"
    );
    assert_eq!(
        n.scratch_files(),
        vec!["c1", "c1:eth0"],
        "kept for the retry"
    );
    n.node.exec(&call, &conf).expect_ok();
    assert_eq!(calls(&rec), vec!["ADD", "DEL", "DEL"]);
    assert!(n.scratch_files().is_empty());
    // Nothing saved: DEL succeeds without calling anything.
    n.node.exec(&call, &conf).expect_ok();
    assert_eq!(calls(&rec).len(), 3);
}

#[test]
fn the_saved_config_is_what_the_delegate_got_and_what_the_go_del_reads() {
    let (n, rec, _pod, _) = added_through_recording_delegate();
    let sent = std::fs::read(rec.join("stdin.ADD")).unwrap();
    // The Go DEL reads <dataDir>/<containerID>, takes "type" from it and
    // replays the bytes.
    let go_reads = std::fs::read(n.data.join("c1")).unwrap();
    assert_eq!(go_reads, sent);
    let v: Value = serde_json::from_slice(&go_reads).unwrap();
    assert_eq!(v["type"], json!("fakebr"));
    assert_eq!(v["name"], json!(NET));
    assert!(v.get("prevResult").is_none());
}

#[test]
fn a_file_the_reference_wrote_is_replayed_byte_for_byte_and_removed() {
    let n = Node::new();
    let rec = n.node.sb.subdir("rec");
    recording_delegate(&n.node, &rec);
    std::fs::write(rec.join("del-ok"), b"").unwrap();
    std::fs::create_dir_all(&n.data).unwrap();
    // As Go's json.Marshal writes a map: compact, keys sorted. An old
    // plugins v0.9.0 file with ipam.subnet is passed on as it is.
    let go = br#"{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"routes":[{"dst":"10.244.0.0/16"}],"subnet":"10.244.1.0/24","type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"fakebr"}"#;
    std::fs::write(n.data.join("c7"), go).unwrap();
    let pod = n.node.sb.pod();
    let conf = n.conf("0.3.1");
    n.node.del("c7", &pod, &conf);
    assert_eq!(calls(&rec), vec!["DEL"]);
    assert_eq!(std::fs::read(rec.join("stdin.DEL")).unwrap(), go);
    assert!(n.scratch_files().is_empty());
}

#[test]
fn a_real_pod_added_by_the_reference_naming_is_deleted() {
    // Our ADD, then only the reference's file left, as after an ADD by
    // the Go plugin (same bytes): our DEL tears the pod down.
    let n = Node::new();
    let pod = n.node.sb.pod();
    let conf = n.conf("0.3.1");
    n.node.add("c1", &pod, &conf);
    std::fs::remove_file(n.data.join("c1:eth0")).unwrap();
    n.node.del("c1", &pod, &conf);
    assert!(pod.link("eth0").is_none());
    assert!(n.leases().is_empty());
    assert!(n.scratch_files().is_empty());
}

#[test]
fn an_unparsable_saved_config_is_reported_removed_and_del_succeeds() {
    let n = Node::new();
    std::fs::create_dir_all(&n.data).unwrap();
    std::fs::write(n.data.join("c1:eth0"), b"").unwrap();
    std::fs::write(n.data.join("c2"), b"{\"no\":\"type\"}").unwrap();
    let pod = n.node.sb.pod();
    let conf = n.conf("1.0.0");
    for cid in ["c1", "c2"] {
        let run = n.node.exec(&n.node.call("DEL", cid, pod.path_str()), &conf);
        run.expect_ok();
        assert!(
            run.stderr.contains("is not a delegate config"),
            "{}",
            run.stderr
        );
    }
    assert!(n.scratch_files().is_empty());
}

#[test]
fn an_unparsable_file_of_ours_does_not_hide_the_references() {
    // Power loss left our file empty; the reference's name is intact.
    let n = Node::new();
    let conf = n.conf("1.0.0");
    let (pod, other) = (n.node.sb.pod(), n.node.sb.pod());
    let result = n.node.add("c1", &pod, &conf);
    n.node.add("c2", &other, &conf);
    std::fs::write(n.data.join("c1:eth0"), b"").unwrap();
    n.node.check("c1", &pod, &conf, &result).expect_ok();
    n.node.del("c1", &pod, &conf);
    assert!(pod.link("eth0").is_none(), "the delegate's DEL ran");
    assert_eq!(n.leases().len(), 1, "{:?}", n.leases());
    assert_eq!(n.scratch_files(), vec!["c2", "c2:eth0"]);
}

#[test]
fn without_subnet_env_add_is_try_again_later_status_is_50_and_nothing_is_made() {
    let n = Node::without_env();
    let pod = n.node.sb.pod();
    let conf = n.conf("1.1.0");
    let (code, msg) = n
        .node
        .exec(&n.node.call("ADD", "c1", pod.path_str()), &conf)
        .expect_error();
    assert_eq!(code, 11, "{msg}");
    assert!(
        msg.contains("open ") && msg.contains("subnet.env: no such file or directory"),
        "{msg}"
    );
    assert!(
        msg.contains("check that flanneld runs on this node"),
        "{msg}"
    );
    let status = n.node.exec(&cni_sandbox::Call::new("STATUS"), &conf);
    assert_eq!(status.expect_err(), 50);
    assert!(n.node.sb.host.link("cni0").is_none());
    assert!(n.scratch_files().is_empty());
    // flanneld wrote half of it.
    n.write_env("FLANNEL_NETWORK=10.244.0.0/16\n");
    let (code, msg) = n
        .node
        .exec(&n.node.call("ADD", "c1", pod.path_str()), &conf)
        .expect_error();
    assert_eq!(code, 11);
    assert!(
        msg.contains(
            "is missing FLANNEL_SUBNET or FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ"
        ),
        "{msg}"
    );
    // DEL with nothing saved succeeds; once flanneld is up, STATUS is ready.
    n.node.del("c1", &pod, &conf);
    n.write_env(common::SUBNET_ENV);
    n.node
        .exec(&cni_sandbox::Call::new("STATUS"), &conf)
        .expect_ok();
}

#[test]
fn dual_stack_gives_the_pod_both_families() {
    let n = Node::new();
    n.write_env(
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\n\
         FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\n\
         FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    let pod = n.node.sb.pod();
    let conf = n.conf("1.0.0");
    let result = n.node.add("c1", &pod, &conf);
    let ips: Vec<&str> = result["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ip| ip["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        ips,
        vec!["10.244.1.2/24", "fd00:10:244:1::2/64"],
        "{result}"
    );
    let addrs = pod.addrs("eth0");
    assert!(
        addrs.contains(&"fd00:10:244:1::2/64".to_string()),
        "{addrs:?}"
    );
    let routes6 = cni_sandbox::route_lines(&pod, 6);
    assert!(
        routes6
            .iter()
            .any(|r| r.starts_with("fd00:10:244::/56 via fd00:10:244:1::1")),
        "{routes6:?}"
    );
    n.node.del("c1", &pod, &conf);
    assert!(n.leases().is_empty());
}

#[test]
fn gc_reaches_host_local_through_the_delegate_and_drops_stale_saved_configs() {
    let n = Node::new();
    let conf = n.conf("1.1.0");
    let (p1, p2) = (n.node.sb.pod(), n.node.sb.pod());
    n.node.add("c1", &p1, &conf);
    n.node.add("c2", &p2, &conf);
    assert_eq!(n.leases().len(), 2);
    // The runtime lost c2 (crash, lost netns): only c1 is valid. flanneld
    // is down at the time: the saved config stands in for subnet.env.
    p2.remove();
    std::fs::remove_file(&n.env).unwrap();
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "eth0"}]);
    n.node.exec(&cni_sandbox::Call::new("GC"), &gc).expect_ok();
    let leases: Vec<String> = n.leases().into_values().collect();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert!(leases[0].starts_with("c1"), "{leases:?}");
    assert_eq!(n.scratch_files(), vec!["c1", "c1:eth0"]);
    n.write_env(common::SUBNET_ENV);
    n.node.del("c1", &p1, &conf);
    assert!(n.leases().is_empty() && n.scratch_files().is_empty());
}
