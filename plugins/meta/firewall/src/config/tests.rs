use super::*;
use serde_json::{Value, json};

fn load_json(extra: Value) -> Result<Conf, Error> {
    let mut c = json!({"cniVersion": "1.0.0", "name": "n", "type": "firewall"});
    if let (Some(o), Value::Object(e)) = (c.as_object_mut(), extra) {
        o.extend(e);
    }
    load(&crate::testutil::args(&c))
}

#[test]
fn defaults_are_the_references() {
    let c = load_json(json!({})).unwrap();
    assert_eq!(c.backend, BackendKey::Auto);
    assert_eq!(c.admin_chain.as_str(), "CNI-ADMIN");
    assert_eq!(c.zone, "trusted");
    assert_eq!(c.ingress, IngressPolicy::Open);
    assert_eq!(c.data_dir, Path::new("/run/cni/firewall"));
    assert!(c.prev_result.is_none());
    assert_eq!(c.require_prev().unwrap_err().code, 7);
}

#[test]
fn what_real_tools_write() {
    // podman: "backend": "" (and isolate=true); Nomad: iptables and its
    // own admin chain; nerdctl: isolated.
    let c = load_json(json!({"backend": "", "ingressPolicy": "same-bridge"})).unwrap();
    assert_eq!(
        (c.backend, c.ingress),
        (BackendKey::Auto, IngressPolicy::SameBridge)
    );
    let c =
        load_json(json!({"backend": "iptables", "iptablesAdminChainName": "NOMAD-ADMIN"})).unwrap();
    assert_eq!(c.backend, BackendKey::Iptables);
    assert_eq!(c.admin_chain.as_str(), "NOMAD-ADMIN");
    let c = load_json(json!({"ingressPolicy": "isolated", "firewalldZone": "cni-pods"})).unwrap();
    assert_eq!(c.ingress, IngressPolicy::Isolated);
    assert_eq!(c.zone, "cni-pods");
    for (b, want) in [
        ("nftables", BackendKey::Nftables),
        ("firewalld", BackendKey::Firewalld),
    ] {
        assert_eq!(load_json(json!({"backend": b})).unwrap().backend, want);
    }
}

#[test]
fn bad_values_are_code_7_naming_the_key_and_the_fix() {
    for (extra, needle) in [
        (
            json!({"backend": "nft"}),
            r#"invalid backend "nft": use "" (detect), "iptables", "nftables" or "firewalld""#,
        ),
        (
            json!({"ingressPolicy": "closed"}),
            r#"invalid ingressPolicy "closed": use "open", "same-bridge" or "isolated""#,
        ),
        (
            json!({"iptablesAdminChainName": "X".repeat(29)}),
            "invalid iptablesAdminChainName",
        ),
        (json!({"iptablesAdminChainName": "A B"}), "1-28 letters"),
        (json!({"firewalldZone": "a\"b"}), "invalid firewalldZone"),
        (json!({"dataDir": "relative"}), "invalid dataDir"),
        (json!({"dataDir": "/run/../etc"}), "invalid dataDir"),
    ] {
        let e = load_json(extra.clone()).unwrap_err();
        assert_eq!(e.code, 7, "{extra}");
        assert!(e.msg.contains(needle), "{extra}: {}", e.msg);
    }
    // A 28-character admin chain is the longest iptables takes.
    assert!(load_json(json!({"iptablesAdminChainName": "X".repeat(28)})).is_ok());
    // Wrong JSON types are decoding errors.
    assert_eq!(load_json(json!({"backend": 1})).unwrap_err().code, 6);
}
