use super::*;
use serde_json::json;

fn args(conf: Value) -> CmdArgs {
    crate::testutil::args(&conf)
}

fn with_maps(maps: Value) -> Value {
    json!({"cniVersion": "1.0.0", "name": "n", "type": "portmap",
           "runtimeConfig": {"portMappings": maps}})
}

#[test]
fn defaults() {
    let c = load(&args(json!({"cniVersion": "1.0.0", "name": "n"}))).unwrap();
    assert!(c.snat);
    assert!(!c.masq_all);
    assert_eq!(c.mark_masq_bit, 13);
    assert!(c.mappings.is_empty());
    assert!(c.backend.is_none());
}

#[test]
fn podman_and_containerd_keys() {
    let c = load(&args(with_maps(json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"HostPort": 8083, "ContainerPort": 81, "Protocol": "UDP", "HostIP": ""},
        {"hostPort": 53, "containerPort": 53, "protocol": "Sctp", "hostIP": "192.168.1.5"},
        {"hostPort": 54, "containerPort": 54, "hostIP": "0.0.0.0"}
    ]))))
    .unwrap();
    assert_eq!(c.mappings.len(), 4);
    assert_eq!(c.mappings[1].host_port, 8083);
    assert_eq!(c.mappings[1].protocol, Protocol::Udp);
    assert_eq!(c.mappings[1].host_ip, None);
    assert_eq!(c.mappings[2].protocol, Protocol::Sctp);
    assert_eq!(c.mappings[2].host_ip, Some("192.168.1.5".parse().unwrap()));
    assert_eq!(c.mappings[3].protocol, Protocol::Tcp);
    assert_eq!(c.mappings[3].host_ip, None);
}

#[test]
fn bad_mappings_are_rejected_naming_the_entry() {
    for (bad, code, needle) in [
        (
            json!([{"hostPort": 0, "containerPort": 80}]),
            7,
            "[0].hostPort",
        ),
        (
            json!([{"hostPort": 70000, "containerPort": 80}]),
            7,
            "hostPort",
        ),
        (
            json!([{"hostPort": 80, "containerPort": -1}]),
            7,
            "containerPort",
        ),
        (json!([{"hostPort": 80}]), 7, "containerPort"),
        (
            json!([{"hostPort": 80, "containerPort": 80, "protocol": "icmp"}]),
            7,
            "protocol",
        ),
        (
            json!([{"hostPort": 80, "containerPort": 80, "protocol": "tcp -j ACCEPT"}]),
            7,
            "protocol",
        ),
        (
            json!([{"hostPort": 80, "containerPort": 80, "hostIP": "1.2.3.4; rm"}]),
            7,
            "hostIP",
        ),
        (
            json!([{"hostPort": "80", "containerPort": 80}]),
            6,
            "hostPort",
        ),
        (json!([5]), 6, "[0]"),
        (json!({"hostPort": 80}), 6, "list"),
    ] {
        let e = load(&args(with_maps(bad.clone()))).unwrap_err();
        assert_eq!(e.code, code, "{bad}: {e}");
        assert!(e.msg.contains(needle), "{bad}: {}", e.msg);
    }
}

#[test]
fn mark_bit_rules() {
    let mut c = with_maps(json!([]));
    c["markMasqBit"] = json!(32);
    assert_eq!(load(&args(c.clone())).unwrap_err().code, 7);
    c["markMasqBit"] = json!(5);
    assert_eq!(load(&args(c.clone())).unwrap().mark_masq_bit, 5);
    c["externalSetMarkChain"] = json!("KUBE-MARK-MASQ");
    assert_eq!(load(&args(c.clone())).unwrap_err().code, 7);
    c.as_object_mut().unwrap().remove("markMasqBit");
    assert!(load(&args(c.clone())).is_ok());
    c["externalSetMarkChain"] = json!("BAD CHAIN");
    assert_eq!(load(&args(c)).unwrap_err().code, 7);
}

#[test]
fn backend_specific_options() {
    let mut c = with_maps(json!([]));
    c["backend"] = json!("nftables");
    c["markMasqBit"] = json!(13);
    assert_eq!(load(&args(c.clone())).unwrap_err().code, 7);
    c.as_object_mut().unwrap().remove("markMasqBit");
    c["conditionsV4"] = json!(["-s", "1.2.3.4"]);
    assert_eq!(load(&args(c.clone())).unwrap_err().code, 7);
    c["conditionsV4"] = json!(["ip", "saddr", "1.2.3.4"]);
    assert!(load(&args(c.clone())).is_ok());
    c["backend"] = json!("bpf");
    assert_eq!(load(&args(c)).unwrap_err().code, 7);
}

#[test]
fn picks_first_sandbox_addresses_on_ifname() {
    let r: CniResult = serde_json::from_value(json!({
        "interfaces": [{"name": "cni0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/run/netns/p"}],
        "ips": [
            {"address": "10.0.0.1/24", "interface": 0},
            {"address": "10.0.0.5/24", "interface": 2},
            {"address": "10.0.0.6/24", "interface": 2},
            {"address": "fd00::5/64"}
        ]
    }))
    .unwrap();
    let (v4, v6) = container_ips(&r, "eth0");
    assert_eq!(v4.unwrap().to_string(), "10.0.0.5/24");
    assert_eq!(v6.unwrap().to_string(), "fd00::5/64");
    let (v4, _) = container_ips(&r, "net1");
    assert!(v4.is_none());
}

#[test]
fn host_ip_family_and_mapped_addresses() {
    let c = load(&args(with_maps(json!([
        {"hostPort": 1, "containerPort": 1, "hostIP": "::ffff:192.168.1.5"},
        {"hostPort": 2, "containerPort": 2, "hostIP": "fd00::1"},
        {"hostPort": 3, "containerPort": 3, "hostIP": "::"}
    ]))))
    .unwrap();
    assert_eq!(c.mappings[0].host_ip, Some("192.168.1.5".parse().unwrap()));
    assert!(c.mappings[0].applies_to(Family::V4));
    assert!(!c.mappings[0].applies_to(Family::V6));
    assert!(c.mappings[1].applies_to(Family::V6));
    assert!(!c.mappings[1].applies_to(Family::V4));
    assert!(c.mappings[2].applies_to(Family::V4) && c.mappings[2].applies_to(Family::V6));
}

#[test]
fn options_of_the_detected_backend_are_checked_too() {
    let mut c = with_maps(json!([]));
    c["conditionsV6"] = json!(["ip6", "saddr", "fd00::/8"]);
    c["markMasqBit"] = json!(14);
    // No explicit backend: accepted at load, refused for either backend.
    let conf = load(&args(c)).unwrap();
    let e = conf.check_backend(Backend::Iptables).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("conditionsV6") && e.msg.contains("nftables"),
        "{}",
        e.msg
    );
    let e = conf.check_backend(Backend::Nftables).unwrap_err();
    assert!(e.msg.contains("markMasqBit"), "{}", e.msg);
    assert!(!e.msg.contains("conditionsV6"), "{}", e.msg);
}

#[test]
fn invalid_network_name_is_refused() {
    let mut c = with_maps(json!([]));
    c["name"] = json!("bad name");
    assert_eq!(load(&args(c)).unwrap_err().code, 7);
}
