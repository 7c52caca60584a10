use super::*;
use serde_json::json;

fn load_json(conf: Value) -> Result<BandwidthConf, Error> {
    load(&cni_sandbox::cmd_args(&conf))
}

/// Loading fails with `code` and a message holding each of `needles`.
fn rejected(keys: Value, code: u32, needles: &[&str]) {
    let e = load_json(with(keys.clone())).unwrap_err();
    assert_eq!(e.code, code, "{keys}: {}", e.msg);
    for n in needles {
        assert!(e.msg.contains(n), "{keys}: {:?} lacks {n:?}", e.msg);
    }
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
    rejected(
        json!({"ingressRate": 8000}),
        7,
        &["if rate is set, burst must also be set", "ingressBurst"],
    );
    rejected(
        json!({"egressBurst": 800}),
        7,
        &["if burst is set, rate must also be set", "egressRate"],
    );
    rejected(
        json!({"runtimeConfig": {"bandwidth": {"egressRate": 8000}}}),
        7,
        &["runtimeConfig.bandwidth.egressBurst"],
    );
}

#[test]
fn burst_cap_is_the_references() {
    let max = 34_359_738_359u64;
    let c = load_json(with(json!({"ingressRate": 8000, "ingressBurst": max}))).unwrap();
    assert_eq!(c.ingress, lim(8000, max));
    rejected(
        json!({"ingressRate": 8000, "ingressBurst": max + 1}),
        7,
        &["burst cannot be more than 4GB", &max.to_string()],
    );
}

#[test]
fn below_one_byte_is_rejected() {
    rejected(
        json!({"ingressRate": 7, "ingressBurst": 800}),
        7,
        &["ingressRate 7"],
    );
    rejected(
        json!({"egressRate": 800, "egressBurst": 7}),
        7,
        &["egressBurst 7"],
    );
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
        rejected(
            json!({"ingressRate": bad, "ingressBurst": 80}),
            6,
            &["ingressRate"],
        );
    }
    rejected(
        json!({"runtimeConfig": {"bandwidth": [1]}}),
        6,
        &["runtimeConfig.bandwidth"],
    );
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
