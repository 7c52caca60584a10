//! Config options of our bridge binary, checked in kernel state and
//! traffic: macspoofchk, portIsolation, hairpin and promisc flags,
//! isGateway / isDefaultGateway, the container MAC from its three
//! sources, disableContainerInterface, and the spec 1.1.0 verbs GC and
//! STATUS.
//!
//! GC and STATUS are passed on to the IPAM plugin. The bridge's own part
//! is tested with a stub IPAM that records the verb, and end to end with
//! our host-local (the reference host-local 1.1.1 cannot speak spec 1.1.0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use cni_sandbox::{TcpServer, nft_items, result_ip};
use common::*;
use serde_json::{Value, json};

/// The `nftables` objects of family bridge, table nat.
fn bridge_nat(node: &Node) -> Vec<Value> {
    nft_items(&node.sb.host)
        .into_iter()
        .filter(|o| {
            let inner = o.as_object().unwrap().values().next().unwrap();
            inner["family"] == "bridge" && inner["table"] == "nat"
                || o.get("table")
                    .is_some_and(|t| t["family"] == "bridge" && t["name"] == "nat")
        })
        .collect()
}

#[test]
fn macspoofchk_drops_frames_from_another_mac() {
    let node = Node::new();
    let conf = node.conf(json!({"macspoofchk": true}));
    let pod = node.sb.pod();
    let r = node.add("ctr-sp", &pod, &conf);
    let veth = host_veth(&r);
    let mac = iface(&r, 2)["mac"].as_str().unwrap().to_string();

    // The reference's layout.
    let objs = bridge_nat(&node);
    let base_chain = objs
        .iter()
        .find_map(|o| o.get("chain").filter(|c| c["name"] == "PREROUTING"))
        .expect("bridge nat PREROUTING");
    assert_eq!(base_chain["type"], "filter", "{base_chain}");
    assert_eq!(base_chain["hook"], "prerouting", "{base_chain}");
    assert_eq!(base_chain["prio"], -300, "{base_chain}");
    assert_eq!(base_chain["policy"], "accept", "{base_chain}");
    let rules: Vec<String> = objs
        .iter()
        .filter_map(|o| o.get("rule"))
        .map(|r| format!("{} {} {}", r["chain"], r["expr"], r["comment"]))
        .collect();
    let comment = "\"macspoofchk-ctr-sp-eth0\"";
    let want = [
        format!(
            "\"PREROUTING\" [{{\"match\":{{\"left\":{{\"meta\":{{\"key\":\"iifname\"}}}},\"op\":\"==\",\"right\":\"{veth}\"}}}},{{\"jump\":{{\"target\":\"cni-br-iface-ctr-sp-eth0\"}}}}] {comment}"
        ),
        format!(
            "\"cni-br-iface-ctr-sp-eth0\" [{{\"jump\":{{\"target\":\"cni-br-iface-ctr-sp-eth0-mac\"}}}}] {comment}"
        ),
        format!(
            "\"cni-br-iface-ctr-sp-eth0-mac\" [{{\"match\":{{\"left\":{{\"payload\":{{\"field\":\"saddr\",\"protocol\":\"ether\"}}}},\"op\":\"==\",\"right\":\"{mac}\"}}}},{{\"return\":null}}] {comment}"
        ),
        format!("\"cni-br-iface-ctr-sp-eth0-mac\" [{{\"drop\":null}}] {comment}"),
    ];
    assert_eq!(rules, want);

    // Traffic: the pod's own MAC passes, another one is dropped; a pod
    // without the check on the same bridge may change its MAC.
    let gw = TcpServer::start(&node.sb.host, "10.88.0.1:0".parse().unwrap());
    tcp(&pod, gw.addr).unwrap();
    pod.sh_ok("ip link set eth0 address 02:00:00:00:be:ef");
    assert!(tcp_fails(&pod, gw.addr), "a spoofed frame got through");
    pod.sh_ok(&format!("ip link set eth0 address {mac}"));
    tcp(&pod, gw.addr).unwrap();

    let free = node.sb.pod();
    node.add("ctr-free", &free, &node.conf(json!({})));
    free.sh_ok("ip link set eth0 address 02:00:00:00:be:ef");
    tcp(&free, gw.addr).expect("a pod without macspoofchk changes its MAC freely");

    node.del("ctr-sp", &pod, &conf);
    let left: Vec<Value> = bridge_nat(&node)
        .into_iter()
        .filter(|o| {
            o.get("rule").is_some() || o["chain"].get("name").is_some_and(|n| n != "PREROUTING")
        })
        .collect();
    assert_eq!(left, Vec::<Value>::new(), "spoof check left after DEL");
}

#[test]
fn port_flags_and_promisc_show_in_ip_link() {
    let node = Node::new();
    let host = &node.sb.host;
    let slave =
        |r: &Value| host.link(&host_veth(r)).unwrap()["linkinfo"]["info_slave_data"].clone();
    let iso = node.conf(json!({"portIsolation": true}));
    let (a, b) = (node.sb.pod(), node.sb.pod());
    let ra = node.add("ctr-iso-a", &a, &iso);
    let rb = node.add("ctr-iso-b", &b, &iso);
    assert_eq!(slave(&ra)["isolated"], true);
    assert_eq!(slave(&ra)["hairpin"], false);

    // Isolated ports reach the gateway but not each other.
    let gw = TcpServer::start(host, "10.88.0.1:0".parse().unwrap());
    tcp(&a, gw.addr).unwrap();
    let server = TcpServer::start(&b, SocketAddr::new(result_ip(&rb, true), 0));
    assert!(tcp_fails(&a, server.addr), "isolated ports talked");
    // A port that is not isolated may talk to an isolated one.
    let c = node.sb.pod();
    let rc = node.add("ctr-open", &c, &node.conf(json!({})));
    assert_eq!(slave(&rc)["isolated"], false);
    tcp(&c, server.addr).unwrap();

    let hp = node.conf(json!({"hairpinMode": true}));
    let d = node.sb.pod();
    let rd = node.add("ctr-hp", &d, &hp);
    assert_eq!(slave(&rd)["hairpin"], true);
    assert_eq!(slave(&rd)["isolated"], false);

    // promiscMode on a second bridge; CHECK compares it with the config.
    let pr = node.conf(json!({
        "promiscMode": true, "bridge": "brp",
        "ipam": node.ipam(json!([[{"subnet": "10.89.0.0/24"}]])),
    }));
    let e = node.sb.pod();
    let re = node.add("ctr-pr", &e, &pr);
    let flags = host.link("brp").unwrap()["flags"].clone();
    assert!(
        flags.as_array().unwrap().iter().any(|f| f == "PROMISC"),
        "{flags}"
    );
    node.check("ctr-pr", &e, &pr, &re).expect_ok();
    let not_promisc = merge(pr.clone(), json!({"promiscMode": false}));
    let (_, msg) = node.check("ctr-pr", &e, &not_promisc, &re).expect_error();
    assert!(msg.contains("promiscuous"), "{msg}");
    let flags = host.link("cni0").unwrap()["flags"].clone();
    assert!(
        !flags.as_array().unwrap().iter().any(|f| f == "PROMISC"),
        "{flags}"
    );
}

#[test]
fn gateway_options() {
    let node = Node::new();
    let default_routes = |pod: &cni_sandbox::Netns| -> Vec<String> {
        pod.routes(4)
            .iter()
            .filter(|r| r["dst"] == "default")
            .map(|r| r["gateway"].as_str().unwrap_or_default().to_string())
            .collect()
    };

    // isDefaultGateway: default route via the gateway, in the result too.
    let conf = node.conf(json!({"isDefaultGateway": true, "isGateway": false}));
    let pod = node.sb.pod();
    let r = node.add("ctr-dgw", &pod, &conf);
    assert_eq!(default_routes(&pod), ["10.88.0.1"]);
    assert_eq!(
        r["routes"],
        json!([{"dst": "0.0.0.0/0", "gw": "10.88.0.1"}])
    );
    assert_eq!(r["ips"][0]["gateway"], "10.88.0.1");
    assert_eq!(global_addrs(&node.sb.host, "cni0"), ["10.88.0.1/24"]);
    node.check("ctr-dgw", &pod, &conf, &r).expect_ok();

    // isGateway only: gateway on the bridge, no default route.
    let conf = node.conf(json!({}));
    let pod = node.sb.pod();
    let r = node.add("ctr-gw", &pod, &conf);
    assert!(default_routes(&pod).is_empty());
    assert!(r.get("routes").is_none(), "{r}");

    // Neither: no address on a new bridge and no default route (the
    // result's gateway is host-local's own default, .1).
    let conf = node.conf(json!({
        "isGateway": false, "ipMasq": false, "bridge": "brn",
        "ipam": node.ipam(json!([[{"subnet": "10.89.0.0/24"}]])),
    }));
    let pod = node.sb.pod();
    let r = node.add("ctr-nogw", &pod, &conf);
    assert!(r.get("routes").is_none(), "{r}");
    assert!(global_addrs(&node.sb.host, "brn").is_empty());
    assert!(default_routes(&pod).is_empty());
}

#[test]
fn container_mac_from_runtime_config_args_and_cni_args() {
    let node = Node::new();
    let (rc, args, env) = (
        "02:00:00:00:00:0a",
        "02:00:00:00:00:0b",
        "02:00:00:00:00:0c",
    );
    let cases = [
        (json!({"runtimeConfig": {"mac": rc}}), None, rc),
        (json!({"args": {"cni": {"mac": args}}}), None, args),
        (json!({}), Some(env), env),
        // Precedence: runtimeConfig > args > CNI_ARGS.
        (
            json!({"runtimeConfig": {"mac": rc}, "args": {"cni": {"mac": args}}}),
            Some(env),
            rc,
        ),
        (json!({"args": {"cni": {"mac": args}}}), Some(env), args),
    ];
    for (i, (extra, cni_args, want)) in cases.into_iter().enumerate() {
        let conf = node.conf(extra);
        let pod = node.sb.pod();
        let cid = format!("ctr-mac{i}");
        let mut call = node.call("ADD", &cid, pod.path_str());
        if let Some(m) = cni_args {
            call = call.env("CNI_ARGS", &format!("IgnoreUnknown=1;MAC={m}"));
        }
        let r = node.exec(&call, &conf).expect_ok();
        assert_eq!(iface(&r, 2)["mac"], want, "case {i}: {r}");
        assert_eq!(pod.link("eth0").unwrap()["address"], want, "case {i}");
        node.check(&cid, &pod, &conf, &r).expect_ok();
    }
}

#[test]
fn disable_container_interface_attaches_only_the_host_side() {
    let node = Node::new();
    let conf = node.conf(json!({
        "disableContainerInterface": true, "ipam": {}, "isGateway": false, "ipMasq": false,
    }));
    let base = node.state();
    let pod = node.sb.pod();
    let r = node.add("ctr-dci", &pod, &conf);
    let eth0 = pod.link("eth0").unwrap();
    assert!(
        !eth0["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{eth0}"
    );
    assert_eq!(node.sb.host.link(&host_veth(&r)).unwrap()["master"], "cni0");
    node.del("ctr-dci", &pod, &conf);
    node.assert_clean(&base, "DEL");
}

/// `enabledad`: DAD stays on in the pod and ADD returns only once the
/// pod's IPv6 address is usable (not tentative); without it DAD is off.
#[test]
fn enabledad_waits_for_dad() {
    let node = Node::new();
    let ranges = json!([[{"subnet": "fd00:88::/64"}]]);
    for dad in [true, false] {
        let conf = node.conf(json!({"enabledad": dad, "ipam": node.ipam(ranges.clone())}));
        let pod = node.sb.pod();
        let r = node.add(&format!("ctr-dad-{dad}"), &pod, &conf);
        let want = if dad { "1" } else { "0" };
        assert_eq!(pod.sysctl("net/ipv6/conf/eth0/accept_dad"), want);
        let info = pod.ip_json("addr show dev eth0");
        let addr = &info[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["scope"] == "global")
            .cloned()
            .unwrap();
        assert!(addr.get("tentative").is_none(), "{dad}: {addr}");
        // Usable at once: a socket binds to it.
        TcpServer::start(&pod, SocketAddr::new(result_ip(&r, false), 0));
    }
}

/// A stub IPAM that records every verb it gets in `calls` and succeeds
/// (ADD is not used with it).
fn recording_stub(node: &Node) -> std::path::PathBuf {
    let log = node.sb.dir().join("calls");
    node.stub(
        "rec-ipam",
        &format!("echo \"$CNI_COMMAND\" >> {}; exit 0", log.display()),
    );
    log
}

fn masq_of(node: &Node, cid: &str) -> (bool, bool) {
    let chain = netfilter::MasqInstance::new(NET, cid, "eth0")
        .unwrap()
        .chain()
        .to_string();
    let st = node.state();
    (
        st.iptables.iter().any(|l| l.contains(&chain)),
        st.nft
            .iter()
            .any(|l| l.contains("masq_checks") && l.contains(&format!("id: {cid}"))),
    )
}

/// GC (spec 1.1.0) removes the masquerade state of this network's
/// containers that are not in `cni.dev/valid-attachments`, on both
/// backends, keeps the valid ones, and is passed on to IPAM.
#[test]
fn gc_removes_stale_masquerade_state_and_keeps_valid() {
    let node = Node::new();
    let log = recording_stub(&node);
    let mut pods = vec![];
    for (cid, backend) in [
        ("keep-ipt", "iptables"),
        ("gone-ipt", "iptables"),
        ("keep-nft", "nftables"),
        ("gone-nft", "nftables"),
    ] {
        let pod = node.sb.pod();
        node.add(cid, &pod, &node.conf(json!({"ipMasqBackend": backend})));
        pods.push(pod);
    }
    // Another network's container: never this network's GC's business.
    let other = node.sb.pod();
    let other_conf = node.conf(json!({"name": "othernet"}));
    node.add("other", &other, &other_conf);
    let other_chain = netfilter::MasqInstance::new("othernet", "other", "eth0")
        .unwrap()
        .chain()
        .to_string();
    assert_eq!(masq_of(&node, "gone-ipt"), (true, false));
    assert_eq!(masq_of(&node, "gone-nft"), (false, true));

    let gc = |valid: Option<Value>| {
        let mut conf = node.conf(json!({"cniVersion": "1.1.0", "ipam": {"type": "rec-ipam"}}));
        if let Some(v) = valid {
            conf["cni.dev/valid-attachments"] = v;
        }
        cni_sandbox::Call::new("GC")
            .env("CNI_PATH", node.bin.to_str().unwrap())
            .run_timeout(
                &node.sb.host,
                &node.bin.join("bridge"),
                &conf.to_string(),
                CALL_TIMEOUT,
            )
    };

    // Without a valid list nothing can be proven stale.
    gc(None).expect_ok();
    assert_eq!(masq_of(&node, "gone-ipt"), (true, false));

    gc(Some(json!([
        {"containerID": "keep-ipt", "ifname": "eth0"},
        {"containerID": "keep-nft", "ifname": "eth0"},
    ])))
    .expect_ok();
    assert_eq!(masq_of(&node, "keep-ipt"), (true, false));
    assert_eq!(masq_of(&node, "keep-nft"), (false, true));
    assert_eq!(masq_of(&node, "gone-ipt"), (false, false));
    assert_eq!(masq_of(&node, "gone-nft"), (false, false));
    assert!(
        node.state()
            .iptables
            .iter()
            .any(|l| l.contains(&other_chain)),
        "GC removed another network's chain"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.lines().collect::<Vec<_>>(), ["GC", "GC"]);
}

/// GC keeps going past a failure and reports every one (ARCHITECTURE.md
/// principle 4): when the masquerade GC fails (iptables cannot list a nat
/// table that holds a native nft rule, "table `nat' is incompatible") and
/// the IPAM plugin fails too, the error names both, with the first one's
/// code.
#[test]
fn gc_reports_masquerade_and_ipam_failures_together() {
    let node = Node::new();
    node.stub(
        "broken-ipam",
        r#"echo '{"cniVersion":"1.1.0","code":11,"msg":"injected: ipam store busy"}'; exit 1"#,
    );
    node.sb
        .host
        .sh_ok("nft add table ip nat && nft 'add chain ip nat POSTROUTING { type nat hook postrouting priority 100; }' && nft add rule ip nat POSTROUTING meta l4proto tcp ct state new counter");
    let mut conf = node.conf(json!({"cniVersion": "1.1.0", "ipam": {"type": "broken-ipam"}}));
    conf["cni.dev/valid-attachments"] = json!([]);
    let run = cni_sandbox::Call::new("GC")
        .env("CNI_PATH", node.bin.to_str().unwrap())
        .run_timeout(
            &node.sb.host,
            &node.bin.join("bridge"),
            &conf.to_string(),
            CALL_TIMEOUT,
        );
    let (code, msg) = run.expect_error();
    assert!(msg.contains("masquerade GC"), "{msg}");
    assert!(msg.contains("injected: ipam store busy"), "{msg}");
    assert!(msg.contains("GC finished with 2 errors"), "{msg}");
    assert_eq!(code, u64::from(libcni::hostnet::code::FIREWALL), "{msg}");
}

/// STATUS is the IPAM plugin's: its error (code 50, not ready) comes back.
#[test]
fn status_is_passed_to_ipam() {
    let node = Node::new();
    let log = recording_stub(&node);
    node.stub(
        "down-ipam",
        r#"echo '{"cniVersion":"1.1.0","code":50,"msg":"injected: store unavailable"}'; exit 1"#,
    );
    let status = |ipam: &str| {
        let conf = node.conf(json!({"cniVersion": "1.1.0", "ipam": {"type": ipam}}));
        cni_sandbox::Call::new("STATUS")
            .env("CNI_PATH", node.bin.to_str().unwrap())
            .run_timeout(
                &node.sb.host,
                &node.bin.join("bridge"),
                &conf.to_string(),
                CALL_TIMEOUT,
            )
    };
    status("rec-ipam").expect_ok();
    assert_eq!(std::fs::read_to_string(&log).unwrap().trim(), "STATUS");
    let (code, msg) = status("down-ipam").expect_error();
    assert_eq!(code, 50, "{msg}");
    assert!(msg.contains("injected: store unavailable"), "{msg}");
}

/// End to end with our host-local (spec 1.1.0 throughout): GC releases
/// the leases and the masquerade state of stale attachments and keeps the
/// valid ones; STATUS succeeds.
#[test]
fn gc_and_status_end_to_end_with_our_host_local() {
    our_host_local_1_1();
    let node = Node::new();
    let conf = node.conf(json!({"cniVersion": "1.1.0"}));
    let (keep, gone) = (node.sb.pod(), node.sb.pod());
    node.add("keep", &keep, &conf);
    node.add("gone", &gone, &conf);
    assert_eq!(node.leases().len(), 2);

    let mut gc_conf = conf.clone();
    gc_conf["cni.dev/valid-attachments"] = json!([{"containerID": "keep", "ifname": "eth0"}]);
    let call = cni_sandbox::Call::new("GC").env("CNI_PATH", node.bin.to_str().unwrap());
    call.run_timeout(
        &node.sb.host,
        &node.bin.join("bridge"),
        &gc_conf.to_string(),
        CALL_TIMEOUT,
    )
    .expect_ok();
    assert_eq!(node.leases().len(), 1);
    assert_eq!(masq_of(&node, "keep"), (true, false));
    assert_eq!(masq_of(&node, "gone"), (false, false));

    let status = cni_sandbox::Call::new("STATUS").env("CNI_PATH", node.bin.to_str().unwrap());
    status
        .run_timeout(
            &node.sb.host,
            &node.bin.join("bridge"),
            &conf.to_string(),
            CALL_TIMEOUT,
        )
        .expect_ok();
}
