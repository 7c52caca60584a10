use super::*;
use libcni::skel::Command;
use libcni::spec::conf::decode;
use serde_json::{Value, json};

fn args(conf: Value) -> CmdArgs {
    CmdArgs::from_config(Command::Add, "c1", "eth0", conf.to_string().into_bytes()).unwrap()
}

fn base() -> Value {
    json!({"cniVersion": "1.0.0", "name": "n", "type": "ptp", "ipam": {"type": "host-local"}})
}

fn with(k: &str, v: Value) -> Value {
    let mut c = base();
    c[k] = v;
    c
}

#[test]
fn defaults_match_reference() {
    let c = load(&args(base())).unwrap();
    assert!(!c.ip_masq);
    assert_eq!(c.ip_masq_backend, None);
    assert_eq!(c.mtu, 0);
    assert!(c.dns.is_none());
}

#[test]
fn kind_config_loads() {
    let c = load(&args(json!({
        "cniVersion": "0.3.1", "name": "kindnet", "type": "ptp", "ipMasq": false, "mtu": 1500,
        "ipam": {"type": "host-local", "dataDir": "/run/cni-ipam-state",
                 "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": "10.244.0.0/24"}]]},
        // Keys an early kind manifest set on ptp; the reference ignores them.
        "isDefaultGateway": true, "hairpinMode": true
    })))
    .unwrap();
    assert_eq!(c.mtu, 1500);
    assert!(!c.ip_masq);
}

#[test]
fn ipam_is_required_with_code_7() {
    for conf in [
        json!({"cniVersion": "1.0.0", "name": "n", "type": "ptp"}),
        with("ipam", json!({"type": ""})),
        with("ipam", json!({})),
    ] {
        let e = load(&args(conf)).unwrap_err();
        assert_eq!(e.code, 7, "{e:?}");
        assert!(e.msg.contains("ipam"), "{}", e.msg);
    }
}

#[test]
fn masquerade_and_backend() {
    let c = load(&args(with("ipMasq", json!(true)))).unwrap();
    assert!(c.ip_masq);
    let mut conf = with("ipMasq", json!("true"));
    conf["ipMasqBackend"] = json!("nftables");
    let c = load(&args(conf)).unwrap();
    assert!(c.ip_masq);
    assert_eq!(c.ip_masq_backend, Some(netfilter::Backend::Nftables));
    let e = load(&args(with("ipMasqBackend", json!("ebtables")))).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("ipMasqBackend"), "{}", e.msg);
    // Not a boolean: the standard part refuses it before ptp looks.
    let stdin = with("ipMasq", json!("yes")).to_string();
    let e = decode::<NetConf>("t", stdin.as_bytes()).unwrap_err();
    assert_eq!(e.code, 6, "{e:?}");
}

#[test]
fn mtu_range() {
    for ok in [0, 68, 1460, 9000, 65535] {
        assert_eq!(load(&args(with("mtu", json!(ok)))).unwrap().mtu, ok as u32);
    }
    for bad in [-1_i64, 1, 67, 65536, 1 << 40] {
        let e = load(&args(with("mtu", json!(bad)))).unwrap_err();
        assert_eq!(e.code, 7, "{bad}");
        assert!(e.msg.contains("mtu"), "{}", e.msg);
    }
    let e = load(&args(with("mtu", json!("1500")))).unwrap_err();
    assert_eq!(e.code, 6);
}

#[test]
fn dns_overrides_when_a_list_is_present_even_empty() {
    // Absent, or only an empty domain: the IPAM plugin's DNS stays.
    assert!(load(&args(with("dns", json!({})))).unwrap().dns.is_none());
    assert!(
        load(&args(with("dns", json!({"domain": ""}))))
            .unwrap()
            .dns
            .is_none()
    );
    // An empty list wipes it (the reference's tests pin this).
    let d = load(&args(with("dns", json!({"nameservers": []}))))
        .unwrap()
        .dns
        .unwrap();
    assert!(d.is_empty());
    let d = load(&args(with(
        "dns",
        json!({"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"], "options": ["ndots:5"]}),
    )))
    .unwrap()
    .dns
    .unwrap();
    assert_eq!(d.nameservers, ["10.96.0.10"]);
    assert_eq!(d.search, ["svc.cluster.local"]);
    assert_eq!(d.options, ["ndots:5"]);
    let d = load(&args(with("dns", json!({"domain": "example.org"}))))
        .unwrap()
        .dns
        .unwrap();
    assert_eq!(d.domain, "example.org");
}
