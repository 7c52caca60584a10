use super::*;
use libcni::NetConf;
use libcni::skel::Command;
use libcni::spec::{CniArgs, conf::decode};
use serde_json::json;

fn load_json(conf: Value) -> Result<BandwidthConf, Error> {
    let stdin = conf.to_string().into_bytes();
    let net: NetConf = decode("t", &stdin).unwrap();
    load(&CmdArgs {
        command: Command::Add,
        container_id: "c1".into(),
        netns: "/run/netns/x".into(),
        ifname: "eth0".into(),
        args: CniArgs::default(),
        path: vec![],
        version: net.version().unwrap(),
        conf: net,
        stdin,
    })
}

fn with(keys: Value) -> Value {
    let mut c = json!({"cniVersion": "1.0.0", "name": "n", "type": "bandwidth"});
    for (k, v) in keys.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn lim(rate: u64, burst: u64) -> Option<Limit> {
    Some(Limit { rate, burst })
}

#[test]
fn nothing_configured_shapes_nothing() {
    let c = load_json(with(json!({}))).unwrap();
    assert!(!c.shapes());
    assert_eq!(c.source, Source::None);
    let c = load_json(with(json!({"runtimeConfig": {"bandwidth": null}}))).unwrap();
    assert!(!c.shapes());
    let c = load_json(with(json!({"runtimeConfig": {"portMappings": []}}))).unwrap();
    assert!(!c.shapes());
}

#[test]
fn top_level_keys() {
    let c = load_json(with(json!({
        "ingressRate": 8000, "ingressBurst": 80, "egressRate": 16000, "egressBurst": 160
    })))
    .unwrap();
    assert_eq!(c.ingress, lim(8000, 80));
    assert_eq!(c.egress, lim(16000, 160));
    assert_eq!(c.source, Source::TopLevel);
    let c = load_json(with(json!({"egressRate": 8000, "egressBurst": 80}))).unwrap();
    assert_eq!(c.ingress, None);
    assert_eq!(c.egress, lim(8000, 80));
}

#[test]
fn runtime_config_when_no_top_level_key() {
    let c = load_json(with(json!({
        "runtimeConfig": {"bandwidth": {"ingressRate": 8000, "ingressBurst": 80}}
    })))
    .unwrap();
    assert_eq!(c.ingress, lim(8000, 80));
    assert_eq!(c.egress, None);
    assert_eq!(c.source, Source::RuntimeConfig);
}

/// containerd's go-cni marshals its BandWidth struct without JSON tags.
#[test]
fn go_cased_keys_from_containerd() {
    let c = load_json(with(json!({
        "runtimeConfig": {"bandwidth": {
            "IngressRate": 10_000_000, "IngressBurst": 4_294_967_295u64,
            "EgressRate": 10_000_000, "EgressBurst": 4_294_967_295u64
        }}
    })))
    .unwrap();
    assert_eq!(c.ingress, lim(10_000_000, 4_294_967_295));
    assert_eq!(c.egress, lim(10_000_000, 4_294_967_295));
}

/// Any top-level key, even 0 or null, wins over runtimeConfig entirely.
#[test]
fn any_top_level_key_wins() {
    let rc = json!({"bandwidth": {"ingressRate": 8000, "ingressBurst": 80}});
    for top in [json!(0), Value::Null] {
        let c = load_json(with(json!({"egressBurst": top, "runtimeConfig": rc}))).unwrap();
        assert!(!c.shapes(), "{top}");
        assert_eq!(c.source, Source::TopLevel);
    }
    let c = load_json(with(json!({"ingressrate": 0, "runtimeConfig": rc}))).unwrap();
    assert!(!c.shapes());
}

#[test]
fn rate_and_burst_go_together() {
    let e = load_json(with(json!({"ingressRate": 8000}))).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("if rate is set, burst must also be set"),
        "{}",
        e.msg
    );
    assert!(e.msg.contains("ingressBurst"), "{}", e.msg);
    let e = load_json(with(json!({"egressBurst": 800}))).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("if burst is set, rate must also be set"),
        "{}",
        e.msg
    );
    assert!(e.msg.contains("egressRate"), "{}", e.msg);
    let e = load_json(with(json!({
        "runtimeConfig": {"bandwidth": {"egressRate": 8000}}
    })))
    .unwrap_err();
    assert!(
        e.msg.contains("runtimeConfig.bandwidth.egressBurst"),
        "{}",
        e.msg
    );
}

#[test]
fn burst_cap_is_the_references() {
    let max = 34_359_738_359u64;
    let c = load_json(with(json!({"ingressRate": 8000, "ingressBurst": max}))).unwrap();
    assert_eq!(c.ingress, lim(8000, max));
    let e = load_json(with(json!({"ingressRate": 8000, "ingressBurst": max + 1}))).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("burst cannot be more than 4GB"), "{}", e.msg);
    assert!(e.msg.contains(&max.to_string()), "{}", e.msg);
}

#[test]
fn below_one_byte_is_rejected() {
    let e = load_json(with(json!({"ingressRate": 7, "ingressBurst": 800}))).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("ingressRate 7"), "{}", e.msg);
    let e = load_json(with(json!({"egressRate": 800, "egressBurst": 7}))).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("egressBurst 7"), "{}", e.msg);
    let c = load_json(with(json!({"ingressRate": 8, "ingressBurst": 8}))).unwrap();
    assert_eq!(c.ingress, lim(8, 8));
}

#[test]
fn wrong_types_are_decoding_errors() {
    for bad in [
        json!(-1),
        json!(1e6),
        json!(1.5),
        json!("8000"),
        json!(true),
    ] {
        let e = load_json(with(json!({"ingressRate": bad, "ingressBurst": 80}))).unwrap_err();
        assert_eq!(e.code, 6, "{bad}: {}", e.msg);
        assert!(e.msg.contains("ingressRate"), "{}", e.msg);
    }
    let e = load_json(with(json!({"runtimeConfig": {"bandwidth": [1]}}))).unwrap_err();
    assert_eq!(e.code, 6);
    assert!(e.msg.contains("runtimeConfig.bandwidth"), "{}", e.msg);
}

#[test]
fn removed_subnet_keys_are_ignored() {
    let c = load_json(with(json!({
        "ingressRate": 8000, "ingressBurst": 80,
        "unshapedSubnets": ["10.0.0.0/8"], "shapedSubnets": ["192.168.0.0/16"]
    })))
    .unwrap();
    assert_eq!(c.ingress, lim(8000, 80));
}
