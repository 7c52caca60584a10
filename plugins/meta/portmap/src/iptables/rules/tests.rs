use super::*;
use crate::testutil::{conf, golden_maps};
use netfilter::Ident;
use netfilter::iptables::syntax::join;
use serde_json::json;

fn pod() -> Pod {
    Pod::new(&Ident::network("n").unwrap(), "abc").unwrap()
}

fn lines(chain: &str, family: Family, rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .map(|r| format!("-A {chain} {}", join(&r.words(family).unwrap())))
        .collect()
}

/// `iptables-save -t nat` lines of /usr/lib/cni/portmap 1.1.1 after
/// bridge + portmap ADD of container "abc" on network "n" with
/// [`golden_maps`] and pod addresses 10.99.0.2/24, fd99::2/64.
const REF_V4: &str = r#"-A CNI-DN-5a1527d2fe74c1a342e29 -s 10.99.0.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-5a1527d2fe74c1a342e29 -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-5a1527d2fe74c1a342e29 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.99.0.2:80
-A CNI-DN-5a1527d2fe74c1a342e29 -s 10.99.0.0/24 -p udp -m udp --dport 8081 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-5a1527d2fe74c1a342e29 -s 127.0.0.1/32 -p udp -m udp --dport 8081 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-5a1527d2fe74c1a342e29 -p udp -m udp --dport 8081 -j DNAT --to-destination 10.99.0.2:81
-A CNI-DN-5a1527d2fe74c1a342e29 -s 10.99.0.0/24 -d 192.168.1.1/32 -p tcp -m tcp --dport 8082 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-5a1527d2fe74c1a342e29 -s 127.0.0.1/32 -d 192.168.1.1/32 -p tcp -m tcp --dport 8082 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-5a1527d2fe74c1a342e29 -d 192.168.1.1/32 -p tcp -m tcp --dport 8082 -j DNAT --to-destination 10.99.0.2:82
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"n\" id: \"abc\"" -m multiport --dports 8080,8082,8083 -j CNI-DN-5a1527d2fe74c1a342e29
-A CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \"n\" id: \"abc\"" -m multiport --dports 8081 -j CNI-DN-5a1527d2fe74c1a342e29
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000"#;

const REF_V6: &str = r#"-A CNI-DN-5a1527d2fe74c1a342e29 -s fd99::/64 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-5a1527d2fe74c1a342e29 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd99::2]:80
-A CNI-DN-5a1527d2fe74c1a342e29 -s fd99::/64 -p udp -m udp --dport 8081 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-5a1527d2fe74c1a342e29 -p udp -m udp --dport 8081 -j DNAT --to-destination [fd99::2]:81
-A CNI-DN-5a1527d2fe74c1a342e29 -s fd99::/64 -d fd00::1/128 -p tcp -m tcp --dport 8083 -j CNI-HOSTPORT-SETMARK
-A CNI-DN-5a1527d2fe74c1a342e29 -d fd00::1/128 -p tcp -m tcp --dport 8083 -j DNAT --to-destination [fd99::2]:83
-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"n\" id: \"abc\"" -m multiport --dports 8080,8082,8083 -j CNI-DN-5a1527d2fe74c1a342e29
-A CNI-HOSTPORT-DNAT -p udp -m comment --comment "dnat name: \"n\" id: \"abc\"" -m multiport --dports 8081 -j CNI-DN-5a1527d2fe74c1a342e29
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000"#;

fn ours(family: Family, net: &str) -> Vec<String> {
    let c = conf(golden_maps(), json!({}));
    let p = pod();
    let mut out = lines(
        p.dn_chain.as_str(),
        family,
        &dn_rules(&c, family, net.parse().unwrap()),
    );
    out.extend(lines(TOP_DNAT, family, &entry_rules(&c, &p, family)));
    out.extend(lines(MASQ, family, &[masq_rule(c.mark())]));
    out.extend(lines(SETMARK, family, &[setmark_rule(c.mark())]));
    out
}

#[test]
fn matches_reference_iptables_save() {
    assert_eq!(ours(Family::V4, "10.99.0.2/24").join("\n"), REF_V4);
    assert_eq!(ours(Family::V6, "fd99::2/64").join("\n"), REF_V6);
    assert_eq!(
        join(&top_jump().words(Family::V4).unwrap()),
        "-m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT"
    );
    assert_eq!(
        join(&masq_jump().words(Family::V6).unwrap()),
        r#"-m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ"#
    );
}

#[test]
fn multiport_batches_of_fifteen_sorted_by_protocol() {
    let mut maps = vec![];
    for i in 0..17u16 {
        maps.push(json!({"hostPort": 9000 + i, "containerPort": 80, "protocol": "udp"}));
    }
    maps.push(json!({"hostPort": 7000, "containerPort": 80, "protocol": "SCTP"}));
    maps.push(json!({"hostPort": 6000, "containerPort": 80, "protocol": "TCP"}));
    let c = conf(json!(maps), json!({}));
    let l = lines(TOP_DNAT, Family::V4, &entry_rules(&c, &pod(), Family::V4));
    assert_eq!(l.len(), 4, "{l:#?}");
    assert!(l[0].contains("-p sctp ") && l[0].contains("--dports 7000 "));
    assert!(l[1].contains("-p tcp ") && l[1].contains("--dports 6000 "));
    assert!(l[2].contains("--dports 9000,9001,") && l[2].contains(",9014 "));
    assert!(l[3].contains("--dports 9015,9016 "));
}

#[test]
fn masq_all_snat_off_external_chain_mark_bit() {
    let maps = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    let c = conf(maps.clone(), json!({"masqAll": true}));
    let l = lines(
        "D",
        Family::V4,
        &dn_rules(&c, Family::V4, "10.0.0.2/24".parse().unwrap()),
    );
    assert_eq!(
        l,
        [
            "-A D -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK",
            "-A D -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80"
        ]
    );
    let c = conf(maps.clone(), json!({"snat": false}));
    let l = lines(
        "D",
        Family::V4,
        &dn_rules(&c, Family::V4, "10.0.0.2/24".parse().unwrap()),
    );
    assert_eq!(l.len(), 1);
    let c = conf(
        maps.clone(),
        json!({"externalSetMarkChain": "KUBE-MARK-MASQ"}),
    );
    let l = lines(
        "D",
        Family::V6,
        &dn_rules(&c, Family::V6, "fd00::2/64".parse().unwrap()),
    );
    assert_eq!(
        l[0],
        "-A D -s fd00::/64 -p tcp -m tcp --dport 8080 -j KUBE-MARK-MASQ"
    );
    let c = conf(maps, json!({"markMasqBit": 0}));
    assert_eq!(
        join(&setmark_rule(c.mark()).words(Family::V4).unwrap()),
        r#"-m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x1/0x1"#
    );
}

#[test]
fn conditions_go_on_entry_rules() {
    let maps = json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]);
    let c = conf(
        maps,
        json!({"conditionsV4": ["!", "-s", "10.0.0.0/8", "-d", "192.168.1.5", "-i", "eth0"],
               "conditionsV6": ["-o eth1"]}),
    );
    let l = lines(TOP_DNAT, Family::V4, &entry_rules(&c, &pod(), Family::V4));
    assert_eq!(
        l[0],
        r#"-A CNI-HOSTPORT-DNAT ! -s 10.0.0.0/8 -d 192.168.1.5/32 -i eth0 -p tcp -m comment --comment "dnat name: \"n\" id: \"abc\"" -m multiport --dports 8080 -j CNI-DN-5a1527d2fe74c1a342e29"#
    );
    let l = lines(TOP_DNAT, Family::V6, &entry_rules(&c, &pod(), Family::V6));
    assert!(
        l[0].starts_with("-A CNI-HOSTPORT-DNAT -o eth1 -p tcp "),
        "{l:?}"
    );
}
