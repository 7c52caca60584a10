use super::*;
use crate::testutil::{conf, golden_maps};
use netfilter::Ident;
use serde_json::{Value, json};

fn pod() -> Pod {
    Pod::new(&Ident::network("n").unwrap(), "abc").unwrap()
}

fn cmds(b: Batch<'static>) -> Vec<Value> {
    let v = serde_json::to_value(b.to_nftables()).unwrap();
    v["nftables"].as_array().unwrap().clone()
}

/// Compare as JSON values (key order does not matter).
fn same(actual: &Value, expected: &str) {
    let e: Value = serde_json::from_str(expected).unwrap();
    assert_eq!(actual, &e, "\nactual:   {actual}\nexpected: {expected}");
}

fn exprs(objs: &[NfListObject<'static>]) -> Vec<String> {
    objs.iter()
        .map(|o| match o {
            NfListObject::Rule(r) => {
                assert_eq!(r.comment.as_deref(), Some("abc"));
                serde_json::to_string(&r.expr).unwrap()
            }
            _ => panic!("not a rule"),
        })
        .collect()
}

#[test]
fn fresh_shared_objects() {
    let c = conf(golden_maps(), json!({}));
    let mut b = Batch::new();
    shared(&mut b, &c, Family::V4, &Shared::fresh(&c));
    let v = cmds(b);
    let t = r#""family":"ip","table":"cni_hostport""#;
    let text: Vec<String> = v.iter().map(Value::to_string).collect();
    same(
        &v[0],
        r#"{"add":{"table":{"family":"ip","name":"cni_hostport"}}}"#,
    );
    same(
        &v[1],
        &format!(r#"{{"add":{{"chain":{{{t},"name":"hostports"}}}}}}"#),
    );
    same(
        &v[4],
        &format!(
            r#"{{"add":{{"chain":{{{t},"name":"prerouting","type":"nat","hook":"prerouting","prio":-100}}}}}}"#
        ),
    );
    same(
        &v[6],
        &format!(
            r#"{{"add":{{"chain":{{{t},"name":"masquerading","type":"nat","hook":"postrouting","prio":100}}}}}}"#
        ),
    );
    same(
        &v[7],
        &format!(
            r#"{{"add":{{"rule":{{{t},"chain":"hostports_all","expr":[{{"jump":{{"target":"hostip_hostports"}}}}]}}}}}}"#
        ),
    );
    let marker = entry_marker(&c, Family::V4);
    same(
        &v[9],
        &format!(
            r#"{{"add":{{"rule":{{{t},"chain":"prerouting","expr":[{{"match":{{"left":{{"fib":{{"result":"type","flags":["daddr"]}}}},"right":"local","op":"=="}}}},{{"jump":{{"target":"hostports_all"}}}}],"comment":"{marker}"}}}}}}"#
        ),
    );
    assert_eq!(text.len(), 11);
    assert!(!text.iter().any(|l| l.contains("flush")));
}

#[test]
fn refill_flushes_only_what_is_wrong() {
    let c = conf(golden_maps(), json!({"snat": false}));
    let mut b = Batch::new();
    shared(
        &mut b,
        &c,
        Family::V6,
        &Shared {
            table: false,
            chains: vec![],
            all: None,
            prerouting: Some(true),
            output: None,
        },
    );
    let v = cmds(b);
    let text: Vec<String> = v.iter().map(Value::to_string).collect();
    // Only the flush and the one rule: nothing that exists is re-added.
    assert_eq!(text.len(), 2, "{text:#?}");
    same(
        &v[0],
        r#"{"flush":{"chain":{"family":"ip6","table":"cni_hostport","name":"prerouting"}}}"#,
    );
    assert!(text[1].contains(r#""chain":"prerouting""#));
    // Without snat there is no masquerading chain to create.
    assert!(!Shared::fresh(&c).chains.contains(&MASQUERADING));
    assert_eq!(Shared::unknown(&c).prerouting, Some(true));
}

#[test]
fn marker_follows_conditions_and_family() {
    let plain = conf(golden_maps(), json!({}));
    let cond = conf(
        golden_maps(),
        json!({"conditionsV4": ["ip saddr != 10.0.0.0/8"]}),
    );
    assert_ne!(
        entry_marker(&plain, Family::V4),
        entry_marker(&cond, Family::V4)
    );
    assert_eq!(
        entry_marker(&plain, Family::V6),
        entry_marker(&cond, Family::V6)
    );
    assert_ne!(
        entry_marker(&plain, Family::V4),
        entry_marker(&plain, Family::V6)
    );
    assert!(entry_marker(&plain, Family::V4).starts_with("cni portmap entry "));
}

#[test]
fn conditions_precede_the_fib_match() {
    let c = conf(
        golden_maps(),
        json!({"conditionsV4": ["ip", "saddr", "!=", "10.0.0.0/8", "iifname", "eth0"]}),
    );
    let e = serde_json::to_string(&entry_expr(&c, Family::V4)).unwrap();
    assert_eq!(
        e,
        r#"[{"match":{"left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"10.0.0.0","len":8}},"op":"!="}},{"match":{"left":{"meta":{"key":"iifname"}},"right":"eth0","op":"=="}},{"match":{"left":{"fib":{"result":"type","flags":["daddr"]}},"right":"local","op":"=="}},{"jump":{"target":"hostports_all"}}]"#
    );
}

#[test]
fn pod_rules_per_family() {
    let c = conf(golden_maps(), json!({}));
    let v4 = exprs(&dnat_rules(
        &c,
        &pod(),
        Family::V4,
        "10.99.0.2/24".parse().unwrap(),
    ));
    assert_eq!(
        v4,
        [
            r#"[{"match":{"left":{"payload":{"protocol":"tcp","field":"dport"}},"right":8080,"op":"=="}},{"dnat":{"addr":"10.99.0.2","port":80}}]"#,
            r#"[{"match":{"left":{"payload":{"protocol":"udp","field":"dport"}},"right":8081,"op":"=="}},{"dnat":{"addr":"10.99.0.2","port":81}}]"#,
            r#"[{"match":{"left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"192.168.1.1","op":"=="}},{"match":{"left":{"payload":{"protocol":"tcp","field":"dport"}},"right":8082,"op":"=="}},{"dnat":{"addr":"10.99.0.2","port":82}}]"#,
        ]
    );
    let v6 = exprs(&dnat_rules(
        &c,
        &pod(),
        Family::V6,
        "fd99::2/64".parse().unwrap(),
    ));
    assert_eq!(v6.len(), 3);
    assert!(v6[2].starts_with(
        r#"[{"match":{"left":{"payload":{"protocol":"ip6","field":"daddr"}},"right":"fd00::1","op":"=="}}"#
    ));
    let m4 = exprs(&masq_rules(
        &c,
        &pod(),
        Family::V4,
        "10.99.0.2/24".parse().unwrap(),
    ));
    assert_eq!(
        m4,
        [
            r#"[{"match":{"left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"10.99.0.0","len":24}},"op":"=="}},{"match":{"left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"10.99.0.2","op":"=="}},{"match":{"left":{"ct":{"key":"status"}},"right":"dnat","op":"in"}},{"masquerade":null}]"#,
            r#"[{"match":{"left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"127.0.0.1","op":"=="}},{"match":{"left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"10.99.0.2","op":"=="}},{"masquerade":null}]"#,
        ]
    );
    let m6 = exprs(&masq_rules(
        &c,
        &pod(),
        Family::V6,
        "fd99::2/64".parse().unwrap(),
    ));
    assert_eq!(m6.len(), 1);
    assert_eq!(expected_counts(&c, Family::V4), (3, 2));
    assert_eq!(expected_counts(&c, Family::V6), (3, 1));
}

#[test]
fn masq_all_and_snat_off() {
    let maps = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    let c = conf(maps.clone(), json!({"masqAll": true}));
    let m = exprs(&masq_rules(
        &c,
        &pod(),
        Family::V4,
        "10.99.0.2/24".parse().unwrap(),
    ));
    assert_eq!(
        m,
        [
            r#"[{"match":{"left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"10.99.0.2","op":"=="}},{"match":{"left":{"ct":{"key":"status"}},"right":"dnat","op":"in"}},{"masquerade":null}]"#
        ]
    );
    assert_eq!(expected_counts(&c, Family::V4), (1, 1));
    let c = conf(maps, json!({"snat": false}));
    assert!(masq_rules(&c, &pod(), Family::V4, "10.99.0.2/24".parse().unwrap()).is_empty());
    assert_eq!(expected_counts(&c, Family::V4), (1, 0));
}
