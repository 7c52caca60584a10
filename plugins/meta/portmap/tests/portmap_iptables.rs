//! The iptables backend against the reference portmap (Debian 1.1.1) as
//! oracle: the same inputs give the same iptables-save lines; either
//! implementation's DEL removes the other's ADD; DEL is idempotent and
//! works without prevResult or mappings; CHECK catches a rule deleted by
//! hand (and passes for IPv4-only pods, which the reference's does not);
//! GC removes exactly the stale containers of its network; errors touch
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

const IPT: &str = "iptables";

fn golden_maps() -> Value {
    json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8081, "containerPort": 81, "protocol": "udp"},
        {"hostPort": 8082, "containerPort": 82, "protocol": "tcp", "hostIP": "192.168.1.1"},
        {"hostPort": 8083, "containerPort": 83, "protocol": "tcp", "hostIP": "fd00::1"},
        {"hostPort": 8084, "containerPort": 84, "protocol": "sctp"}
    ])
}

/// Two pods with `maps`/`extra` added by `bin` on a fresh dual-stack node;
/// returns the node's nat tables.
fn state_after(bin: &std::path::Path, maps: &Value, extra: &Value) -> (Vec<String>, Vec<String>) {
    let node = Node::new(true);
    // An existing chain for externalSetMarkChain (the reference jumps to
    // it, so it must exist).
    for t in ["iptables", "ip6tables"] {
        node.sb.host.sh_ok(&format!("{t} -t nat -N KUBE-MARK-MASQ"));
    }
    let _a = node.pod_with(bin, "podA", maps, extra);
    let _b = node.pod_with(bin, "podB", maps, extra);
    node.nat()
}

#[test]
fn same_iptables_save_as_reference() {
    for extra in [
        json!({}),
        json!({"snat": false}),
        json!({"markMasqBit": 14, "conditionsV4": ["!", "-s", "10.0.0.0/8", "-i", "uplink"],
               "conditionsV6": ["-d", "fd50::1"]}),
        json!({"externalSetMarkChain": "KUBE-MARK-MASQ"}),
    ] {
        let theirs = state_after(&reference(), &golden_maps(), &extra);
        let mine = state_after(&ours(), &golden_maps(), &extra);
        assert!(
            theirs.0.iter().any(|l| l.contains("CNI-DN-")),
            "reference made no DN chain: {:#?}",
            theirs.0
        );
        assert_eq!(mine.0, theirs.0, "IPv4 nat differs for {extra}");
        assert_eq!(mine.1, theirs.1, "IPv6 nat differs for {extra}");
    }
}

/// Lines of the nat tables that belong to `cid` (its DN chain or its
/// comment).
fn lines_of(node: &Node, pod: &Pod) -> Vec<String> {
    let dn = dn_chain(&pod.cid);
    let comment = format!(r#"id: \"{}\""#, pod.cid);
    let (v4, v6) = node.nat();
    v4.into_iter()
        .chain(v6)
        .filter(|l| l.contains(&dn) || l.contains(&comment))
        .collect()
}

/// The DN chain name of `cid` on [`NET`].
fn dn_chain(cid: &str) -> String {
    cni_portmap::pod::Pod::new(&netfilter::Ident::network(NET).unwrap(), cid)
        .unwrap()
        .dn_chain
        .to_string()
}

#[test]
fn reference_add_our_del_and_our_add_reference_del() {
    for (add, del, with_prev, with_maps) in [
        (reference(), ours(), true, true),
        (reference(), ours(), false, false),
        (ours(), reference(), true, true),
    ] {
        let node = Node::new(true);
        let a = node.pod_with(&add, "podA", &golden_maps(), &json!({}));
        let b = node.pod_with(&add, "podB", &golden_maps(), &json!({}));
        assert!(!lines_of(&node, &a).is_empty());
        let maps = if with_maps { golden_maps() } else { json!([]) };
        let mut conf = node.portmap_conf(&maps, &json!({}), with_prev.then_some(&a.prev));
        if !with_maps {
            conf.as_object_mut().unwrap().remove("runtimeConfig");
        }
        node.run(&del, "DEL", &a.cid, a.ns.path_str(), &conf)
            .expect_ok();
        assert_eq!(
            lines_of(&node, &a),
            Vec::<String>::new(),
            "{} ADD + {} DEL (prev {with_prev}, maps {with_maps}) left state",
            add.display(),
            del.display()
        );
        // The other pod and the shared chains are untouched.
        assert!(!lines_of(&node, &b).is_empty());
        let (v4, v6) = node.nat();
        for t in [v4, v6] {
            for shared in [
                ":CNI-HOSTPORT-DNAT",
                ":CNI-HOSTPORT-SETMARK",
                ":CNI-HOSTPORT-MASQ",
            ] {
                assert!(t.iter().any(|l| l.starts_with(shared)), "{shared} gone");
            }
        }
    }
}

#[test]
fn del_is_idempotent_and_needs_nothing() {
    let node = Node::new(true);
    let before = node.nat();
    let a = node.pod_with(&ours(), "podA", &golden_maps(), &json!({}));
    let maps = golden_maps();
    node.del(&ours(), &a, &maps, &json!({}), true).expect_ok();
    assert!(lines_of(&node, &a).is_empty());
    let after_first = node.nat();
    // containerd's second DEL: no netns, no prevResult, same mappings.
    let conf = node.portmap_conf(&maps, &json!({}), None);
    node.run(&ours(), "DEL", &a.cid, "", &conf).expect_ok();
    // No mappings at all, and a container that never existed.
    let bare = json!({"cniVersion": VERSION, "name": NET, "type": "portmap"});
    node.run(&ours(), "DEL", &a.cid, "", &bare).expect_ok();
    node.run(&ours(), "DEL", "never-added", "", &bare)
        .expect_ok();
    assert_eq!(node.nat(), after_first);
    // Only the shared chains (and their entry rules) remain.
    let (v4, _) = node.nat();
    let extra: Vec<&String> = v4.iter().filter(|l| !before.0.contains(l)).collect();
    assert!(
        extra.iter().all(|l| l.contains("CNI-HOSTPORT")),
        "{extra:#?}"
    );
}

#[test]
fn del_without_mappings_removes_the_state() {
    let node = Node::new(true);
    let a = node.pod_with(&ours(), "podA", &golden_maps(), &json!({}));
    let b = node.pod_with(&ours(), "podB", &golden_maps(), &json!({}));
    let bare = json!({"cniVersion": VERSION, "name": NET, "type": "portmap"});
    node.run(&ours(), "DEL", &a.cid, "", &bare).expect_ok();
    assert!(lines_of(&node, &a).is_empty());
    assert!(!lines_of(&node, &b).is_empty());
    // Different mappings than at ADD: the exact path still finds them.
    let other = json!([{"hostPort": 1, "containerPort": 1, "protocol": "udp"}]);
    node.del(&ours(), &b, &other, &json!({}), true).expect_ok();
    assert!(lines_of(&node, &b).is_empty());
}

#[test]
fn legacy_snat_chain_is_torn_down() {
    let node = Node::new(false);
    let a = node.pod_with(&ours(), "podA", &golden_maps(), &json!({}));
    let sn = cni_portmap::pod::Pod::new(&netfilter::Ident::network(NET).unwrap(), "podA")
        .unwrap()
        .sn_chain;
    node.sb.host.sh_ok(&format!(
        "iptables -t nat -N CNI-HOSTPORT-SNAT && iptables -t nat -N {sn} && \
         iptables -t nat -A {sn} -j MASQUERADE && \
         iptables -t nat -A CNI-HOSTPORT-SNAT -s 10.99.0.0/24 -j {sn}"
    ));
    node.del(&ours(), &a, &golden_maps(), &json!({}), true)
        .expect_ok();
    let (v4, _) = node.nat();
    assert!(!v4.iter().any(|l| l.contains(sn.as_str())), "{v4:#?}");
    assert!(
        v4.iter()
            .any(|l| l == ":CNI-HOSTPORT-SNAT - [0:0]" || l.starts_with(":CNI-HOSTPORT-SNAT"))
    );
    assert!(lines_of(&node, &a).is_empty());
}

#[test]
fn check_passes_then_catches_a_rule_deleted_by_hand() {
    // IPv4-only pod: ours passes; the reference 1.1.1 fails (plugins#819).
    let node = Node::new(false);
    let maps = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    let a = node.pod_with(&ours(), "podA", &maps, &json!({}));
    let conf = node.portmap_conf(&maps, &json!({}), Some(&a.prev));
    node.run(&ours(), "CHECK", &a.cid, a.ns.path_str(), &conf)
        .expect_ok();
    let theirs = node.run(&reference(), "CHECK", &a.cid, a.ns.path_str(), &conf);
    assert!(!theirs.ok(), "the reference's CHECK passes now: {theirs:?}");
    // Delete the DNAT rule (3rd of the DN chain) by hand.
    node.sb
        .host
        .sh_ok(&format!("iptables -t nat -D {} 3", dn_chain("podA")));
    let r = node.run(&ours(), "CHECK", &a.cid, a.ns.path_str(), &conf);
    assert_eq!(r.expect_err(), u64::from(cni_portmap::code::CHECK_FAILED));
    assert!(r.stdout.contains("DNAT --to-destination"), "{}", r.stdout);

    // Dual stack: a missing IPv6 entry rule is found.
    let node = Node::new(true);
    let a = node.pod_with(&ours(), "podA", &maps, &json!({}));
    let conf = node.portmap_conf(&maps, &json!({}), Some(&a.prev));
    node.run(&ours(), "CHECK", &a.cid, a.ns.path_str(), &conf)
        .expect_ok();
    node.sb.host.sh_ok("ip6tables -t nat -F CNI-HOSTPORT-DNAT");
    let r = node.run(&ours(), "CHECK", &a.cid, a.ns.path_str(), &conf);
    assert_eq!(r.expect_err(), u64::from(cni_portmap::code::CHECK_FAILED));
    assert!(
        r.stdout.contains("IPv6") && r.stdout.contains("CNI-HOSTPORT-DNAT"),
        "{}",
        r.stdout
    );
    // CHECK without prevResult is an error.
    let conf = node.portmap_conf(&maps, &json!({}), None);
    assert_eq!(
        node.run(&ours(), "CHECK", &a.cid, a.ns.path_str(), &conf)
            .expect_err(),
        7
    );
}

/// A spec 1.1.0 config for portmap alone, with a hand-made prevResult.
fn v11(net: &str, maps: &Value, ip: Option<&str>) -> Value {
    let mut c = json!({"cniVersion": "1.1.0", "name": net, "type": "portmap",
                       "runtimeConfig": {"portMappings": maps}});
    if let Some(ip) = ip {
        c["prevResult"] = json!({"cniVersion": "1.1.0",
            "interfaces": [{"name": "eth0", "sandbox": "/run/netns/fake"}],
            "ips": [{"address": ip, "interface": 0}]});
    }
    c
}

#[test]
fn gc_removes_stale_containers_of_this_network_only() {
    let node = Node::new(false);
    let maps = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    let host = &node.sb.host;
    let pod_ns = node.sb.pod();
    for (net, cid, ip) in [
        (NET, "c1", "10.99.0.5/24"),
        (NET, "c2", "10.99.0.6/24"),
        ("othernet", "c3", "10.98.0.5/24"),
    ] {
        node.run(
            &ours(),
            "ADD",
            cid,
            pod_ns.path_str(),
            &v11(net, &maps, Some(ip)),
        )
        .expect_ok();
    }
    let mut gc = json!({"cniVersion": "1.1.0", "name": NET, "type": "portmap",
        "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]});
    let run = cni_sandbox::Call::new("GC").run(host, &ours(), &gc.to_string());
    run.expect_ok();
    let (v4, _) = node.nat();
    let has = |s: &str| v4.iter().any(|l| l.contains(s));
    assert!(has(&dn_chain("c1")), "c1 must stay");
    assert!(!has(&dn_chain("c2")), "c2 must go: {v4:#?}");
    let c3 = cni_portmap::pod::Pod::new(&netfilter::Ident::network("othernet").unwrap(), "c3")
        .unwrap()
        .dn_chain;
    assert!(has(c3.as_str()), "another network's container must stay");
    // Without a valid-attachments list nothing is removed.
    gc.as_object_mut()
        .unwrap()
        .remove("cni.dev/valid-attachments");
    cni_sandbox::Call::new("GC")
        .run(host, &ours(), &gc.to_string())
        .expect_ok();
    assert!(node.nat().0.iter().any(|l| l.contains(&dn_chain("c1"))));
}

#[test]
fn bad_input_fails_and_touches_nothing() {
    let node = Node::new(false);
    let pod = node.pod("podA");
    let before = node.nat();
    for (maps, extra, with_prev, code, needle) in [
        (golden_maps(), json!({}), false, 7, "prevResult"),
        (
            json!([{"hostPort": 0, "containerPort": 80}]),
            json!({}),
            true,
            7,
            "portMappings[0].hostPort",
        ),
        (
            json!([{"hostPort": 80, "containerPort": 80, "protocol": "icmp"}]),
            json!({}),
            true,
            7,
            "protocol",
        ),
        (
            json!([{"hostPort": 80, "containerPort": 80, "hostIP": "1.2.3.4 -j ACCEPT"}]),
            json!({}),
            true,
            7,
            "hostIP",
        ),
        (
            golden_maps(),
            json!({"conditionsV4": ["-j", "ACCEPT"]}),
            true,
            7,
            "conditionsV4",
        ),
        (
            golden_maps(),
            json!({"backend": IPT, "conditionsV4": ["ip", "saddr", "1.2.3.4"]}),
            true,
            7,
            "nftables",
        ),
        (
            golden_maps(),
            json!({"markMasqBit": 40}),
            true,
            7,
            "markMasqBit",
        ),
    ] {
        let conf = node.portmap_conf(&maps, &extra, with_prev.then_some(&pod.prev));
        let r = node.run(&ours(), "ADD", &pod.cid, pod.ns.path_str(), &conf);
        assert_eq!(r.expect_err(), code, "{maps} {extra}: {}", r.stdout);
        assert!(r.stdout.contains(needle), "{needle}: {}", r.stdout);
        assert_eq!(node.nat(), before, "{maps} {extra} changed the nat table");
    }
    // No mappings: prevResult passed through, nothing touched.
    let conf = node.portmap_conf(&json!([]), &json!({}), Some(&pod.prev));
    let out = node
        .run(&ours(), "ADD", &pod.cid, pod.ns.path_str(), &conf)
        .expect_ok();
    assert_eq!(out["ips"], pod.prev["ips"]);
    assert_eq!(node.nat(), before);
}

#[test]
fn repeated_add_does_not_duplicate() {
    let node = Node::new(true);
    let a = node.pod_with(&ours(), "podA", &golden_maps(), &json!({}));
    let once = node.nat();
    let conf = node.portmap_conf(&golden_maps(), &json!({}), Some(&a.prev));
    node.run(&ours(), "ADD", &a.cid, a.ns.path_str(), &conf)
        .expect_ok();
    assert_eq!(node.nat(), once);
}

#[test]
fn parallel_adds_on_a_fresh_node_make_one_set_of_shared_chains() {
    let node = Node::new(false);
    let pods: Vec<Pod> = (0..6).map(|i| node.pod(&format!("par{i}"))).collect();
    std::thread::scope(|s| {
        for (i, pod) in pods.iter().enumerate() {
            let node = &node;
            s.spawn(move || {
                let maps = json!([{"hostPort": 9000 + i, "containerPort": 80, "protocol": "tcp"}]);
                let conf = node.portmap_conf(&maps, &json!({}), Some(&pod.prev));
                node.run(&ours(), "ADD", &pod.cid, pod.ns.path_str(), &conf)
                    .expect_ok();
            });
        }
    });
    let (v4, _) = node.nat();
    let count = |needle: &str| v4.iter().filter(|l| l.as_str() == needle).count();
    assert_eq!(
        count("-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT"),
        1,
        "{v4:#?}"
    );
    assert_eq!(
        count("-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT"),
        1
    );
    assert_eq!(
        count(
            r#"-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ"#
        ),
        1
    );
    assert_eq!(
        v4.iter()
            .filter(|l| l.starts_with("-A CNI-HOSTPORT-DNAT"))
            .count(),
        6
    );
    assert_eq!(
        v4.iter()
            .filter(|l| l.starts_with("-A CNI-HOSTPORT-SETMARK"))
            .count(),
        1
    );
}
