use super::*;
use libcni::skel::Command;
use libcni::spec::CniArgs;
use serde_json::{Value, json};

fn args(conf: Value, cni_args: &str) -> CmdArgs {
    let mut a =
        CmdArgs::from_config(Command::Add, "c1", "eth0", conf.to_string().into_bytes()).unwrap();
    a.args = CniArgs::parse(cni_args).unwrap();
    a
}

fn base() -> Value {
    json!({"cniVersion": "1.0.0", "name": "n", "type": "bridge"})
}

fn with(k: &str, v: Value) -> Value {
    let mut c = base();
    c[k] = v;
    c
}

#[test]
fn defaults_match_reference() {
    let c = load(&args(base(), "")).unwrap();
    assert_eq!(c.bridge, "cni0");
    assert!(!c.is_gateway && !c.ip_masq && !c.hairpin_mode);
    assert!(c.preserve_default_vlan);
    assert_eq!(c.mtu, 0);
    assert_eq!(c.vlan, 0);
    assert!(c.mac.is_none());
    assert!(!c.has_ipam());
}

#[test]
fn default_gateway_implies_gateway() {
    let c = load(&args(with("isDefaultGateway", json!(true)), "")).unwrap();
    assert!(c.is_gateway);
}

#[test]
fn string_booleans_accepted() {
    let c = load(&args(with("portIsolation", json!("true")), "")).unwrap();
    assert!(c.port_isolation);
    let e = load(&args(with("hairpinMode", json!("yes")), "")).unwrap_err();
    assert_eq!(e.code, 6);
}

#[test]
fn vlan_range() {
    for bad in [-1, 4095, 10000] {
        let e = load(&args(with("vlan", json!(bad)), "")).unwrap_err();
        assert_eq!(e.code, 7, "{bad}");
        assert!(e.msg.contains("VLAN"), "{}", e.msg);
    }
    assert_eq!(
        load(&args(with("vlan", json!(4094)), "")).unwrap().vlan,
        4094
    );
}

#[test]
fn vlan_trunk_collects_sorted_unique() {
    let c = load(&args(
        with(
            "vlanTrunk",
            json!([{"id": 42}, {"minID": 10, "maxID": 12}, {"id": 11}]),
        ),
        "",
    ))
    .unwrap();
    assert_eq!(c.vlan_trunk, [10, 11, 12, 42]);
}

#[test]
fn vlan_trunk_errors() {
    for bad in [
        json!([{"minID": 0, "maxID": 5}]),
        json!([{"minID": 5, "maxID": 4095}]),
        json!([{"minID": 9, "maxID": 5}]),
        json!([{"minID": 5}]),
        json!([{"maxID": 5}]),
        json!([{"id": 0}]),
    ] {
        let e = load(&args(with("vlanTrunk", bad.clone()), "")).unwrap_err();
        assert_eq!(e.code, 7, "{bad}");
    }
    let mut c = with("vlanTrunk", json!([{"id": 5}]));
    c["vlan"] = json!(7);
    assert_eq!(load(&args(c, "")).unwrap_err().code, 7);
}

#[test]
fn hairpin_with_promisc_rejected() {
    let mut c = with("hairpinMode", json!(true));
    c["promiscMode"] = json!(true);
    let e = load(&args(c, "")).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("hairpinMode"));
}

#[test]
fn disable_container_interface_with_ipam_rejected() {
    let mut c = with("disableContainerInterface", json!(true));
    c["ipam"] = json!({"type": "host-local", "subnet": "10.0.0.0/24"});
    assert_eq!(load(&args(c, "")).unwrap_err().code, 7);
    // With an empty ipam type it is L2 and fine.
    let mut c = with("disableContainerInterface", json!(true));
    c["ipam"] = json!({});
    assert!(load(&args(c, "")).is_ok());
}

#[test]
fn bridge_name_validated() {
    for bad in ["", "a/b", "toolongbridgename0", "br 0", ".."] {
        let e = load(&args(with("bridge", json!(bad)), "")).unwrap_err();
        assert_eq!(e.code, 7, "{bad:?}");
    }
}

#[test]
fn mtu_validated() {
    assert_eq!(load(&args(with("mtu", json!(-5)), "")).unwrap_err().code, 7);
    assert_eq!(load(&args(with("mtu", json!(20)), "")).unwrap_err().code, 7);
    assert_eq!(load(&args(with("mtu", json!(9000)), "")).unwrap().mtu, 9000);
}

#[test]
fn masq_backend_values() {
    let c = load(&args(with("ipMasqBackend", json!("nftables")), "")).unwrap();
    assert_eq!(c.ip_masq_backend, Some(netfilter::Backend::Nftables));
    assert_eq!(
        load(&args(with("ipMasqBackend", json!("pf")), ""))
            .unwrap_err()
            .code,
        7
    );
}

#[test]
fn mac_precedence() {
    let mut c = base();
    c["args"] = json!({"cni": {"mac": "02:00:00:00:00:02"}});
    c["runtimeConfig"] = json!({"mac": "02:00:00:00:00:03"});
    let got = load(&args(c.clone(), "MAC=02:00:00:00:00:01;IgnoreUnknown=1")).unwrap();
    assert_eq!(got.mac, Some(MacAddr([2, 0, 0, 0, 0, 3])));
    c.as_object_mut().unwrap().remove("runtimeConfig");
    let got = load(&args(c.clone(), "MAC=02:00:00:00:00:01")).unwrap();
    assert_eq!(got.mac, Some(MacAddr([2, 0, 0, 0, 0, 2])));
    c.as_object_mut().unwrap().remove("args");
    let got = load(&args(c, "mac=02:00:00:00:00:01")).unwrap();
    assert_eq!(got.mac, Some(MacAddr([2, 0, 0, 0, 0, 1])));
}

#[test]
fn bad_macs_rejected() {
    for bad in [
        "zz:00:00:00:00:01",
        "02:00:00:00:00",
        "01:00:00:00:00:01",
        "00:00:00:00:00:00",
    ] {
        let mut c = base();
        c["runtimeConfig"] = json!({"mac": bad});
        assert_eq!(load(&args(c, "")).unwrap_err().code, 7, "{bad}");
    }
}
