use super::*;
use crate::spec::version::{ALL_VERSIONS, Version};
use serde_json::json;

fn golden(v: Version) -> Value {
    let text = match v {
        Version::V0_1_0 => include_str!("../../../testdata/results/0.1.0.json"),
        Version::V0_2_0 => include_str!("../../../testdata/results/0.2.0.json"),
        Version::V0_3_0 => include_str!("../../../testdata/results/0.3.0.json"),
        Version::V0_3_1 => include_str!("../../../testdata/results/0.3.1.json"),
        Version::V0_4_0 => include_str!("../../../testdata/results/0.4.0.json"),
        Version::V1_0_0 => include_str!("../../../testdata/results/1.0.0.json"),
        Version::V1_1_0 => include_str!("../../../testdata/results/1.1.0.json"),
    };
    serde_json::from_str(text).unwrap()
}

#[test]
fn golden_round_trip_every_version() {
    for v in ALL_VERSIONS {
        let input = golden(v);
        let (r, got_version) = CniResult::parse(&input, Version::LATEST).unwrap();
        assert_eq!(got_version, v);
        assert_eq!(r.to_value(v).unwrap(), input, "round trip of {v}");
    }
}

#[test]
fn v1_golden_is_internal_form() {
    let (r, _) = CniResult::parse(&golden(Version::V1_1_0), Version::LATEST).unwrap();
    assert_eq!(r.interfaces.len(), 3);
    assert_eq!(r.interfaces[2].pci_id, "0000:00:1f.6");
    assert_eq!(r.ips[0].interface, Some(2));
    assert_eq!(r.ips[0].address.to_string(), "10.1.0.5/16");
    assert_eq!(r.routes[1].table, Some(100));
    assert_eq!(r.routes[1].scope, Some(0));
    assert_eq!(r.routes[1].advmss, 1360);
}

#[test]
fn up_from_020_moves_ip4_ip6_into_ips_and_routes() {
    let (r, _) = CniResult::parse(&golden(Version::V0_2_0), Version::LATEST).unwrap();
    assert_eq!(r.ips.len(), 2);
    assert!(r.ips.iter().all(|ip| ip.interface.is_none()));
    assert_eq!(r.ips[1].gateway.unwrap().to_string(), "2001:db8::1");
    let dsts: Vec<String> = r.routes.iter().map(|r| r.dst.to_string()).collect();
    assert_eq!(dsts, ["0.0.0.0/0", "192.168.0.0/16", "::/0"]);
    assert_eq!(r.dns.domain, "example.com");
}

#[test]
fn down_to_020_keeps_first_address_per_family() {
    let mut r = CniResult::default();
    for a in ["10.0.0.2/24", "10.0.1.2/24", "fd00::2/64", "fd00:1::2/64"] {
        r.ips.push(IpConfig {
            interface: Some(0),
            address: a.parse().unwrap(),
            gateway: None,
        });
    }
    r.routes
        .push(Route::new("0.0.0.0/0".parse().unwrap(), None));
    r.routes.push(Route::new("::/0".parse().unwrap(), None));
    let v = r.to_value(Version::V0_2_0).unwrap();
    assert_eq!(
        v,
        json!({
            "cniVersion": "0.2.0",
            "ip4": {"ip": "10.0.0.2/24", "routes": [{"dst": "0.0.0.0/0"}]},
            "ip6": {"ip": "fd00::2/64", "routes": [{"dst": "::/0"}]}
        })
    );
}

#[test]
fn down_to_020_drops_routes_of_a_family_without_address() {
    let mut r = CniResult::default();
    r.ips.push(IpConfig {
        interface: None,
        address: "fd00::2/64".parse().unwrap(),
        gateway: None,
    });
    r.routes
        .push(Route::new("0.0.0.0/0".parse().unwrap(), None));
    let v = r.to_value(Version::V0_1_0).unwrap();
    assert!(v.get("ip4").is_none());
    assert!(v["ip6"].get("routes").is_none(), "{v}");
}

#[test]
fn down_to_020_without_address_fails_with_code_1() {
    let r = CniResult {
        interfaces: vec![Interface {
            name: "eth0".into(),
            ..Interface::default()
        }],
        ..CniResult::default()
    };
    for v in [Version::V0_1_0, Version::V0_2_0] {
        let e = r.to_value(v).unwrap_err();
        assert_eq!(e.code, 1, "{v}");
    }
    // Newer versions express an address-less result fine.
    for v in [
        Version::V0_3_0,
        Version::V0_4_0,
        Version::V1_0_0,
        Version::V1_1_0,
    ] {
        assert!(r.to_value(v).is_ok(), "{v}");
    }
}

#[test]
fn to_04_adds_version_and_drops_11_interface_fields() {
    let (r, _) = CniResult::parse(&golden(Version::V1_1_0), Version::LATEST).unwrap();
    let v = r.to_value(Version::V0_4_0).unwrap();
    assert_eq!(v["ips"][0]["version"], "4");
    assert_eq!(v["ips"][1]["version"], "6");
    assert!(v["interfaces"][2].get("pciID").is_none());
    assert!(v["interfaces"][0].get("mtu").is_none());
    assert_eq!(v["interfaces"][2]["sandbox"], "/var/run/netns/blue");
}

#[test]
fn to_1x_has_no_ip_version() {
    let (r, _) = CniResult::parse(&golden(Version::V0_4_0), Version::LATEST).unwrap();
    for ver in [Version::V1_0_0, Version::V1_1_0] {
        let v = r.to_value(ver).unwrap();
        assert!(v["ips"][0].get("version").is_none());
        assert_eq!(v["ips"][0]["interface"], 2);
    }
}

#[test]
fn full_matrix_preserves_what_each_pair_can_hold() {
    for from in ALL_VERSIONS {
        let (r, _) = CniResult::parse(&golden(from), Version::LATEST).unwrap();
        for to in ALL_VERSIONS {
            let out = r.to_value(to).unwrap();
            assert_eq!(out["cniVersion"], to.as_str());
            let (back, _) = CniResult::parse(&out, Version::LATEST).unwrap();
            // The first address of each family survives every conversion.
            for v4 in [true, false] {
                let a = r.ips.iter().find(|i| i.is_v4() == v4).map(|i| i.address);
                let b = back.ips.iter().find(|i| i.is_v4() == v4).map(|i| i.address);
                assert_eq!(a, b, "{from} -> {to}, v4={v4}");
            }
            // Between formats at or above 0.3.0 nothing but 1.1.0 fields is lost.
            if from.has_chaining() && to.has_chaining() {
                let want = if to < Version::V1_1_0 {
                    r.without_v1_1_fields()
                } else {
                    r.clone()
                };
                assert_eq!(back.ips, want.ips, "{from} -> {to}");
                assert_eq!(back.dns, want.dns, "{from} -> {to}");
                assert_eq!(back.routes, want.routes, "{from} -> {to}");
            }
        }
    }
}

#[test]
fn missing_cni_version_uses_fallback() {
    let v = json!({"ip4": {"ip": "10.0.0.2/24"}});
    let (r, ver) = CniResult::parse(&v, Version::V0_2_0).unwrap();
    assert_eq!(ver, Version::V0_2_0);
    assert_eq!(r.ips[0].address.to_string(), "10.0.0.2/24");
    let v = json!({"ips": [{"address": "10.0.0.2/24"}]});
    let (r, ver) = CniResult::parse(&v, Version::V1_0_0).unwrap();
    assert_eq!(ver, Version::V1_0_0);
    assert_eq!(r.ips.len(), 1);
}

#[test]
fn unknown_version_is_code_1() {
    let e = CniResult::parse(&json!({"cniVersion": "7.0.0"}), Version::LATEST).unwrap_err();
    assert_eq!(e.code, 1);
}

#[test]
fn bad_fields_are_code_6_naming_the_field() {
    let e = CniResult::parse(
        &json!({"cniVersion": "1.0.0", "ips": [{"address": "not-an-ip"}]}),
        Version::LATEST,
    )
    .unwrap_err();
    assert_eq!(e.code, 6);
    assert!(e.msg.contains("ips[0].address"), "{}", e.msg);
    let e = CniResult::parse(&json!([1, 2]), Version::LATEST).unwrap_err();
    assert_eq!(e.code, 6);
}

#[test]
fn v04_version_mismatch_rejected() {
    let e = CniResult::parse(
        &json!({"cniVersion": "0.4.0", "ips": [{"version": "6", "address": "10.0.0.2/24"}]}),
        Version::LATEST,
    )
    .unwrap_err();
    assert_eq!(e.code, 6);
}

#[test]
fn empty_dns_is_omitted() {
    let r = CniResult {
        ips: vec![IpConfig {
            interface: None,
            address: "10.0.0.2/24".parse().unwrap(),
            gateway: None,
        }],
        ..CniResult::default()
    };
    for v in ALL_VERSIONS {
        assert!(r.to_value(v).unwrap().get("dns").is_none(), "{v}");
    }
}

#[test]
fn reads_reference_output_with_empty_dns_object() {
    let v = json!({"cniVersion": "1.0.0", "ips": [{"interface": 2, "address": "10.9.0.2/24", "gateway": "10.9.0.1"}], "dns": {}});
    let (r, _) = CniResult::parse(&v, Version::LATEST).unwrap();
    assert!(r.dns.is_empty());
}

#[test]
fn older_versions_drop_1_1_route_and_interface_keys() {
    let (r, _) = CniResult::parse(&golden(Version::V1_1_0), Version::LATEST).unwrap();
    for to in [Version::V0_3_1, Version::V0_4_0, Version::V1_0_0] {
        let v = r.to_value(to).unwrap();
        let route = &v["routes"][1];
        assert_eq!(route["gw"], "10.1.0.254", "{to}");
        for k in ["mtu", "advmss", "priority", "table", "scope"] {
            assert!(route.get(k).is_none(), "{to}: route key {k} kept: {route}");
        }
        for k in ["mtu", "socketPath", "pciID"] {
            assert!(
                v["interfaces"][2].get(k).is_none(),
                "{to}: interface key {k} kept"
            );
        }
    }
    let v = r.to_value(Version::V1_1_0).unwrap();
    assert_eq!(v["routes"][1]["advmss"], 1360);
    assert_eq!(v["interfaces"][2]["pciID"], "0000:00:1f.6");
}
