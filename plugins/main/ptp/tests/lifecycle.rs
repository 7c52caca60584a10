//! ADD, CHECK, DEL, GC and STATUS of our ptp binary, checked against the
//! kernel: the exact routes and addresses the reference lays out, the
//! sysctls, the MTU, the result, and a node that holds nothing after DEL
//! however much of the attachment was already gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::{Call, global_addrs, wait_not_tentative, with_prev};
use common::*;
use serde_json::{Value, json};

#[test]
fn add_lays_out_the_point_to_point_routes() {
    let node = node();
    let conf = node.conf(json!({"mtu": 1400}));
    let pod = node.sb.pod();
    let r = node.add("ctr-1", &pod, &conf);
    let veth = host_veth(&r);

    // The pod: the address with the subnet's prefix, the connected route
    // replaced by the gateway's link route and the subnet via the gateway.
    assert_eq!(global_addrs(&pod, "eth0"), ["10.244.0.2/24"]);
    assert_eq!(
        routes(&pod, 4),
        [
            "default via 10.244.0.1",
            "10.244.0.0/24 via 10.244.0.1 src 10.244.0.2",
            "10.244.0.1 scope link src 10.244.0.2",
        ]
    );
    // The host: the gateway with a full-length prefix on the host end and
    // a host route to the pod, nothing else.
    assert_eq!(global_addrs(&node.sb.host, &veth), ["10.244.0.1/32"]);
    assert_eq!(routes(&node.sb.host, 4), ["10.244.0.2 scope host"]);
    let host_route = &node.sb.host.routes(4)[0];
    assert_eq!(host_route["dev"], veth.as_str());

    // Both ends: the MTU, up, the default queue length (v1.9.1 no longer
    // sends IFLA_TXQLEN=0).
    for (ns, dev) in [(&pod, "eth0"), (&node.sb.host, veth.as_str())] {
        let l = ns.link(dev).unwrap();
        assert_eq!(l["mtu"], 1400, "{l}");
        assert_eq!(l["txqlen"], 1000, "{l}");
        assert_eq!(l["linkinfo"]["info_kind"], "veth", "{l}");
        assert_eq!(l["operstate"], "UP", "{l}");
    }
    assert!(veth.starts_with("veth") && veth.len() == 12, "{veth}");

    // Sysctls: forwarding on, accept_ra off on the host end; no
    // arp_notify, DAD untouched in the pod.
    let host = &node.sb.host;
    assert_eq!(host.sysctl("net/ipv4/ip_forward"), "1");
    assert_eq!(host.sysctl(&format!("net/ipv6/conf/{veth}/accept_ra")), "0");
    assert_eq!(pod.sysctl("net/ipv4/conf/eth0/arp_notify"), "0");
    assert_eq!(pod.sysctl("net/ipv6/conf/eth0/accept_dad"), "1");
    // IPv4 only: forwarding for IPv6 is not the plugin's business.
    assert_eq!(host.sysctl("net/ipv6/conf/all/forwarding"), "0");

    // The result: host end first without a sandbox, the pod interface
    // second with CNI_NETNS verbatim, every IP on interface 1, the IPAM
    // routes only.
    let pod_mac = pod.link("eth0").unwrap()["address"].clone();
    let host_mac = host.link(&veth).unwrap()["address"].clone();
    assert_eq!(
        r["interfaces"],
        json!([
            {"name": veth, "mac": host_mac},
            {"name": "eth0", "mac": pod_mac, "sandbox": pod.path_str()},
        ])
    );
    assert_eq!(
        r["ips"],
        json!([{"interface": 1, "address": "10.244.0.2/24", "gateway": GW4}])
    );
    assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0"}]));
    assert_eq!(r["cniVersion"], "1.0.0");
    node.check("ctr-1", &pod, &conf, &r).expect_ok();
}

#[test]
fn dual_stack_layout_and_ipv6_sysctls() {
    let node = node();
    let conf = node.dual_conf(json!({}));
    let base = node.state();
    let pod = node.sb.pod();
    let r = node.add("ctr-6", &pod, &conf);
    let veth = host_veth(&r);
    assert_eq!(
        global_addrs(&pod, "eth0"),
        ["10.244.0.2/24", "fd00:10:244::2/64"]
    );
    assert_eq!(
        routes(&pod, 6),
        [
            "fd00:10:244::1 src fd00:10:244::2",
            "fd00:10:244::/64 via fd00:10:244::1 src fd00:10:244::2",
            "default via fd00:10:244::1",
        ]
    );
    let mut gws = global_addrs(&node.sb.host, &veth);
    gws.sort();
    assert_eq!(gws, ["10.244.0.1/32", "fd00:10:244::1/128"]);
    assert!(
        routes(&node.sb.host, 6).contains(&"fd00:10:244::2".to_string()),
        "{:?}",
        routes(&node.sb.host, 6)
    );
    assert_eq!(node.sb.host.sysctl("net/ipv6/conf/all/forwarding"), "1");
    for key in ["lo/disable_ipv6", "eth0/disable_ipv6"] {
        assert_eq!(pod.sysctl(&format!("net/ipv6/conf/{key}")), "0", "{key}");
    }
    assert_eq!(pod.sysctl("net/ipv6/conf/eth0/keep_addr_on_down"), "1");
    // The pod's address finished DAD before its routes were added.
    let addr = &pod.ip_json("-6 addr show dev eth0")[0]["addr_info"];
    assert!(
        addr.as_array()
            .unwrap()
            .iter()
            .all(|a| a.get("tentative").is_none()),
        "{addr}"
    );
    assert_eq!(r["ips"].as_array().unwrap().len(), 2);
    assert!(
        r["ips"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["interface"] == 1)
    );
    wait_not_tentative(&node.sb.host, &veth);
    node.check("ctr-6", &pod, &conf, &r).expect_ok();
    node.del("ctr-6", &pod, &conf);
    node.assert_clean(&base, "dual-stack DEL");
}

/// Every way a runtime may call DEL leaves the node as it was: twice,
/// without prevResult, with `CNI_NETNS=""` (containerd's second DEL),
/// after the netns or the link is gone, and with `ipMasq` switched off
/// since ADD. The masquerade chain is found by name in every case.
#[test]
fn del_is_complete_and_idempotent() {
    let node = node();
    let conf = node.conf(json!({}));
    let base = node.state();
    type Before = fn(&Node, &cni_sandbox::Netns, &Value) -> (String, Value);
    let cases: [(&str, Before); 6] = [
        ("plain", |_, p, c| (p.path_str().into(), c.clone())),
        ("with prevResult", |_, p, c| {
            (p.path_str().into(), c.clone())
        }),
        ("empty netns", |_, _, c| (String::new(), c.clone())),
        ("netns gone", |_, p, c| {
            let path = p.path_str().to_string();
            p.remove();
            (path, c.clone())
        }),
        ("link gone", |_, p, c| {
            p.sh_ok("ip link del eth0");
            (p.path_str().into(), c.clone())
        }),
        ("ipMasq off at DEL", |_, p, c| {
            (
                p.path_str().into(),
                cni_sandbox::merge(c.clone(), json!({"ipMasq": false})),
            )
        }),
    ];
    for (what, before) in cases {
        let pod = node.sb.pod();
        let r = node.add("ctr-d", &pod, &conf);
        assert_ne!(node.state(), base, "{what}: ADD made nothing");
        let (netns, mut del_conf) = before(&node, &pod, &conf);
        if what == "with prevResult" {
            del_conf = with_prev(&del_conf, &r);
        }
        for _ in 0..2 {
            node.exec(&node.call("DEL", "ctr-d", &netns), &del_conf)
                .expect_ok();
            // What DEL removes itself is gone at once, every time.
            let now = node.state();
            assert_eq!(now.iptables, base.iptables, "{what}");
            assert_eq!(now.nft, base.nft, "{what}");
            assert_eq!(now.leases, base.leases, "{what}");
            assert_eq!(now.index, base.index, "{what}");
        }
        match what {
            // containerd then DELs with the netns; the veth goes too.
            "empty netns" => node.del("ctr-d", &pod, &conf),
            // The kernel destroys a removed netns's interfaces (and the
            // host ends with them) on its own time.
            "netns gone" => wait_for_veths(&node, &base.veths),
            _ => {}
        }
        node.assert_clean(&base, what);
    }
}

/// Wait (at most 5 s) until the host's veths are `want`.
fn wait_for_veths(node: &Node, want: &[String]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while cni_sandbox::veth_names(&node.sb.host) != want && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn check_fails_when_the_attachment_drifts() {
    let node = node();
    let conf = node.conf(json!({}));
    type Drift = fn(&Node, &cni_sandbox::Netns, &Value);
    let drifts: [(&str, Drift); 5] = [
        ("pod route", |_, p, _| {
            p.sh_ok("ip route del 10.244.0.0/24");
        }),
        ("IPAM route", |_, p, _| {
            p.sh_ok("ip route del default");
        }),
        ("gateway address on the host", |n, _, r| {
            let v = host_veth(r);
            n.sb.host
                .sh_ok(&format!("ip addr del 10.244.0.1/32 dev {v}"));
        }),
        ("host route", |n, _, r| {
            let (v, ip) = (host_veth(r), cni_sandbox::result_ip(r, true));
            n.sb.host.sh_ok(&format!("ip route del {ip} dev {v}"));
        }),
        ("masquerade chain", |n, _, _| {
            n.sb.host.sh_ok(
                "c=$(iptables-save -t nat | sed -n 's/^:\\(CNI-[0-9a-f]*\\) .*/\\1/p'); \
                 iptables -t nat -F $c",
            );
        }),
    ];
    for (what, drift) in drifts {
        let pod = node.sb.pod();
        let r = node.add("ctr-c", &pod, &conf);
        node.check("ctr-c", &pod, &conf, &r).expect_ok();
        drift(&node, &pod, &r);
        let (code, msg) = node.check("ctr-c", &pod, &conf, &r).expect_error();
        // Missing firewall state is reported by the firewall driver, with
        // the shared firewall code.
        let want = if what == "masquerade chain" {
            libcni::hostnet::code::FIREWALL
        } else {
            cni_ptp::code::CHECK_FAILED
        };
        assert_eq!(code, u64::from(want), "{what}: {msg}");
        assert!(msg.contains("missing"), "{what}: {msg}");
        node.del("ctr-c", &pod, &conf);
    }
    // A MAC that is not the pod's, a sandbox that is not CNI_NETNS.
    let pod = node.sb.pod();
    let r = node.add("ctr-c", &pod, &conf);
    let mut wrong = r.clone();
    wrong["interfaces"][1]["mac"] = json!("02:00:00:00:00:01");
    let (_, msg) = node.check("ctr-c", &pod, &conf, &wrong).expect_error();
    assert!(msg.contains("MAC"), "{msg}");
    wrong = r.clone();
    wrong["interfaces"][1]["sandbox"] = json!("/run/netns/other");
    let (_, msg) = node.check("ctr-c", &pod, &conf, &wrong).expect_error();
    assert!(msg.contains("sandbox"), "{msg}");
    // No prevResult: code 7, after the IPAM CHECK passed.
    let (code, _) = node
        .exec(&node.call("CHECK", "ctr-c", pod.path_str()), &conf)
        .expect_error();
    assert_eq!(code, 7);
}

#[test]
fn old_spec_versions_get_old_results() {
    let node = node();
    for (v, key) in [
        ("0.1.0", "ip4"),
        ("0.2.0", "ip4"),
        ("0.3.1", "ips"),
        ("0.4.0", "ips"),
    ] {
        let conf = node.conf(json!({"cniVersion": v}));
        let pod = node.sb.pod();
        let r = node.add("ctr-v", &pod, &conf);
        assert_eq!(r["cniVersion"], v);
        assert!(r.get(key).is_some(), "{v}: {r}");
        if key == "ip4" {
            let ip = r["ip4"]["ip"].as_str().unwrap();
            assert!(ip.starts_with("10.244.0.") && ip.ends_with("/24"), "{r}");
            assert_eq!(r["ip4"]["gateway"], GW4, "{r}");
            assert!(r.get("interfaces").is_none(), "{r}");
        } else {
            assert_eq!(r["ips"][0]["version"], "4", "{r}");
            assert_eq!(r["interfaces"][1]["sandbox"], pod.path_str());
        }
        node.del("ctr-v", &pod, &conf);
    }
}

#[test]
fn dns_override_and_ipam_dns() {
    let node = node();
    let resolv = node.sb.dir().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 192.0.2.53\nsearch example.org\n").unwrap();
    let mut ipam = node.conf(json!({}))["ipam"].clone();
    ipam["resolvConf"] = json!(resolv);
    for (dns, want) in [
        (
            Value::Null,
            json!({"nameservers": ["192.0.2.53"], "search": ["example.org"]}),
        ),
        (json!({"nameservers": []}), Value::Null),
        (
            json!({"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]}),
            json!({"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]}),
        ),
    ] {
        let conf = node.conf(json!({"ipam": ipam, "dns": dns}));
        let pod = node.sb.pod();
        let r = node.add("ctr-dns", &pod, &conf);
        assert_eq!(
            r.get("dns").cloned().unwrap_or(Value::Null),
            want,
            "dns {dns}"
        );
        node.del("ctr-dns", &pod, &conf);
    }
}

#[test]
fn gc_removes_stale_masquerade_and_leases_status_is_ready() {
    let node = node();
    let conf = node.conf(json!({"cniVersion": "1.1.0"}));
    let base = node.state();
    let (a, b) = (node.sb.pod(), node.sb.pod());
    node.add("ctr-keep", &a, &conf);
    let before_b = node.state();
    node.add("ctr-stale", &b, &conf);
    // The pod went away without DEL: its veth died with its netns.
    b.remove();
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "ctr-keep", "ifname": "eth0"}]);
    let call = Call::new("GC").env("CNI_PATH", node.bin.to_str().unwrap());
    node.exec(&call, &gc).expect_ok();
    let now = node.state();
    assert_eq!(
        now.iptables, before_b.iptables,
        "stale chain left or live one removed"
    );
    assert_eq!(now.leases, before_b.leases);
    assert_ne!(
        now.iptables, base.iptables,
        "the live pod's chain was removed"
    );

    let call = Call::new("STATUS").env("CNI_PATH", node.bin.to_str().unwrap());
    node.exec(&call, &conf).expect_ok();
    // STATUS and GC are 1.1.0 verbs.
    let old = node.conf(json!({}));
    let (code, _) = node.exec(&call, &old).expect_error();
    assert_eq!(code, 1);
}
