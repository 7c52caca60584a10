use super::*;
use netfilter::Ident;

fn base(family: TableFamily, table: &str, name: &str, drop: bool) -> ChainInfo {
    ChainInfo {
        family,
        table: table.into(),
        name: name.into(),
        hook: Some((Hook::Forward, 0)),
        kind: Some("filter".into()),
        policy_drop: drop,
    }
}

#[test]
fn anchors_are_ours_and_every_forward_filter_chain_but_iptables_nft() {
    let v4 = TableFamily::Ip(Family::V4);
    let mut nat = base(TableFamily::Inet, "nat", "post", false);
    nat.hook = Some((Hook::Postrouting, 100));
    nat.kind = Some("nat".into());
    let mut regular = base(TableFamily::Inet, "filter", "helper", false);
    regular.hook = None;
    regular.kind = None;
    let chains = vec![
        base(TableFamily::Inet, "filter", "forward", true),
        base(TableFamily::Inet, "filter", "forward_late", false),
        base(v4, "filter", "FORWARD", true),
        base(v4, "mine", "fwd", false),
        base(TableFamily::Bridge, "br", "forward", true),
        nat,
        regular,
    ];
    let (a, skipped) = anchors(&chains);
    let names: Vec<(NfFamily, &str, Vec<String>)> = a
        .iter()
        .map(|a| (a.family, a.table.as_str(), a.bases.clone()))
        .collect();
    assert_eq!(
        names,
        [
            (NfFamily::INet, TABLE, vec![BASE.to_string()]),
            (
                NfFamily::INet,
                "filter",
                vec!["forward".to_string(), "forward_late".to_string()]
            ),
            (NfFamily::IP, "mine", vec!["fwd".to_string()]),
        ]
    );
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].name, "FORWARD");
    assert!(a[2].admits(Family::V4) && !a[2].admits(Family::V6));
    assert!(a[0].admits(Family::V6));
}

#[test]
fn rules_json() {
    let a = Anchor {
        family: NfFamily::IP6,
        table: "t".into(),
        bases: vec![],
    };
    let mut b = Batch::new();
    for e in rules::accepts("fd88::2".parse().unwrap()) {
        b.add(a.rule(CHAIN, e, "c"));
    }
    let pod = Pod::from_parts(&Ident::network("n").unwrap(), "abc", "eth0").unwrap();
    assert!(pod.nft_comment().starts_with(&pod.nft_prefix()));
    for r in rules::isolation(IngressPolicy::Isolated, &IfName::new("cni0").unwrap()) {
        b.add(a.rule(r.chain, r.expr, r.comment));
    }
    let json = nft::to_json(&b).unwrap();
    let t = r#""family":"ip6","table":"t""#;
    let want = format!(
        concat!(
            r#"{{"nftables":["#,
            r#"{{"add":{{"rule":{{{t},"chain":"cni_forward","expr":[{{"match":{{"left":{{"payload":{{"protocol":"ip6","field":"daddr"}}}},"right":"fd88::2","op":"=="}}}},{{"match":{{"left":{{"ct":{{"key":"state"}}}},"right":["established","related"],"op":"in"}}}},{{"accept":null}}],"comment":"c"}}}}}},"#,
            r#"{{"add":{{"rule":{{{t},"chain":"cni_forward","expr":[{{"match":{{"left":{{"payload":{{"protocol":"ip6","field":"saddr"}}}},"right":"fd88::2","op":"=="}}}},{{"accept":null}}],"comment":"c"}}}}}},"#,
            r#"{{"add":{{"rule":{{{t},"chain":"cni_isolation_stage_1","expr":[{{"match":{{"left":{{"meta":{{"key":"iifname"}}}},"right":"cni0","op":"=="}}}},{{"match":{{"left":{{"meta":{{"key":"oifname"}}}},"right":"cni0","op":"!="}}}},{{"jump":{{"target":"cni_isolation_stage_2"}}}}],"comment":"CNI firewall plugin rules (ingressPolicy: isolated) bridge: cni0"}}}}}},"#,
            r#"{{"add":{{"rule":{{{t},"chain":"cni_isolation_stage_1","expr":[{{"match":{{"left":{{"meta":{{"key":"iifname"}}}},"right":"cni0","op":"=="}}}},{{"match":{{"left":{{"meta":{{"key":"oifname"}}}},"right":"cni0","op":"=="}}}},{{"drop":null}}],"comment":"CNI firewall plugin rules (ingressPolicy: isolated) bridge: cni0"}}}}}},"#,
            r#"{{"add":{{"rule":{{{t},"chain":"cni_isolation_stage_2","expr":[{{"match":{{"left":{{"meta":{{"key":"oifname"}}}},"right":"cni0","op":"=="}}}},{{"drop":null}}],"comment":"CNI firewall plugin rules (ingressPolicy: same-bridge|isolated) bridge: cni0"}}}}}}"#,
            "]}}"
        ),
        t = t
    );
    assert_eq!(json, want);
}

#[test]
fn finds_addresses_in_listed_rules() {
    let v: serde_json::Value = serde_json::from_str(
        r#"[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"10.0.0.2"}},{"accept":null}]"#,
    )
    .unwrap();
    let ip: IpAddr = "10.0.0.2".parse().unwrap();
    assert!(matches_addr(&v, "saddr", ip));
    assert!(!matches_addr(&v, "daddr", ip));
    assert!(!matches_addr(&v, "saddr", "10.0.0.3".parse().unwrap()));
}
