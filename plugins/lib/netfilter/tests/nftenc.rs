//! iptables rules written over nfnetlink in iptables-nft's encoding are
//! the same kernel objects iptables-nft writes: byte for byte in the
//! kernel's own serialisation, identical in iptables-save, and found by
//! `iptables -C` and removed by `iptables -D` as if iptables had added
//! them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cni_sandbox::Sandbox;
use netfilter::iptables::syntax::join;
use netfilter::iptables::{Rule, Target};
use netfilter::nfbatch::NfBatch;
use netfilter::probe::Prober;
use netfilter::{ChainName, Comment, Family, IfName, Protocol};

fn ch(s: &str) -> ChainName {
    ChainName::new(s).unwrap()
}

fn rules(family: Family) -> Vec<(&'static str, Rule)> {
    let v4 = family == Family::V4;
    let pick = |a: &str, b: &str| -> ipnet::IpNet {
        if v4 {
            a.parse().unwrap()
        } else {
            b.parse().unwrap()
        }
    };
    let comment = Comment::new(r#"dnat name: "n" id: "abc""#).unwrap();
    let dnat_to = if v4 { "10.99.0.2:80" } else { "[fd99::2]:80" };
    vec![
        (
            "TOP",
            Rule::new(Target::Jump(ch("DN")))
                .comment(comment.clone())
                .multiport_dports(Protocol::Tcp, &[8080, 8082, 8083]),
        ),
        (
            "TOP",
            Rule::new(Target::Jump(ch("DN")))
                .source(pick("10.0.0.0/8", "fd00::/8"), true)
                .destination(pick("192.168.1.5/32", "fd50::1/128"), false)
                .in_interface(IfName::new("eth0").unwrap(), false)
                .out_interface(IfName::new("veth+").unwrap(), true)
                .comment(comment.clone())
                .multiport_dports(Protocol::Udp, &[53]),
        ),
        (
            "DN",
            Rule::new(Target::Jump(ch("SM")))
                .source(pick("10.99.0.0/16", "fd99::/64"), false)
                .destination(pick("192.168.1.1/32", "fd00::1/128"), false)
                .dport(Protocol::Tcp, 8082),
        ),
        (
            "DN",
            Rule::new(Target::Jump(ch("SM")))
                .source(pick("127.0.0.1/32", "fd99:0:0:10::/60"), false)
                .dport(Protocol::Udp, 8081),
        ),
        (
            "DN",
            Rule::new(Target::Jump(ch("SM")))
                .source(pick("10.96.0.0/20", "fd99::/65"), true)
                .dport(Protocol::Tcp, 1),
        ),
        (
            "DN",
            Rule::new(Target::Dnat(dnat_to.parse().unwrap())).dport(Protocol::Tcp, 8080),
        ),
        (
            "DN",
            Rule::new(Target::Dnat(dnat_to.parse().unwrap()))
                .destination(pick("192.168.1.1/32", "fd00::1/128"), false)
                .dport(Protocol::Udp, 8081),
        ),
        ("SM", Rule::new(Target::Return).protocol(Protocol::Tcp)),
        ("SM", Rule::new(Target::Accept)),
        (
            "SM",
            Rule::new(Target::Masquerade)
                .destination(pick("224.0.0.0/4", "ff00::/8"), true)
                .comment(Comment::new(r#"name: "n" id: "abc""#).unwrap()),
        ),
        ("SM", Rule::new(Target::Masquerade)),
        (
            "SM",
            Rule::new(Target::Return).in_interface(IfName::new("lo").unwrap(), true),
        ),
    ]
}

fn tools(family: Family) -> (&'static str, &'static str) {
    match family {
        Family::V4 => ("iptables", "iptables-restore"),
        Family::V6 => ("ip6tables", "ip6tables-restore"),
    }
}

fn restore(sb: &Sandbox, family: Family, text: &str) {
    let path = sb.dir().join("script");
    std::fs::write(&path, text).unwrap();
    sb.host
        .sh_ok(&format!("{} --noflush {}", tools(family).1, path.display()));
}

const CHAINS: &str = "*nat\n:TOP - [0:0]\n:DN - [0:0]\n:SM - [0:0]\nCOMMIT\n";

#[test]
fn same_kernel_objects_as_iptables_nft() {
    for family in Family::ALL {
        // A: written by iptables-restore.
        let a = Sandbox::new();
        let mut script = String::from("*nat\n:TOP - [0:0]\n:DN - [0:0]\n:SM - [0:0]\n");
        for (chain, r) in rules(family) {
            script.push_str(&format!("-A {chain} {}\n", join(&r.words(family).unwrap())));
        }
        script.push_str("COMMIT\n");
        restore(&a, family, &script);
        // B: the chains by iptables, the rules over nfnetlink.
        let b = Sandbox::new();
        restore(&b, family, CHAINS);
        b.host.run(|| {
            let mut batch = NfBatch::new();
            for (chain, r) in rules(family) {
                batch
                    .append_iptables_rule(family, "nat", chain, &r)
                    .unwrap();
            }
            batch.commit().unwrap();
        });
        let v6 = family == Family::V6;
        assert_eq!(
            b.host.iptables_nat(v6),
            a.host.iptables_nat(v6),
            "{family:?}"
        );
        for chain in ["TOP", "DN", "SM"] {
            let exprs = |sb: &Sandbox| {
                sb.host
                    .run(|| {
                        Prober::open()
                            .unwrap()
                            .rule_expressions(family, "nat", chain)
                    })
                    .unwrap()
            };
            let (ea, eb) = (exprs(&a), exprs(&b));
            let want = rules(family).iter().filter(|(c, _)| *c == chain).count();
            assert_eq!(ea.len(), want, "{family:?} {chain}");
            assert_eq!(eb.len(), want, "{family:?} {chain}");
            assert!(ea.iter().all(|e| e.len() > 40));
            for (i, (x, y)) in ea.iter().zip(&eb).enumerate() {
                assert_eq!(x, y, "{family:?} {chain} rule {i} encodes differently");
            }
        }
        // iptables finds each rule by its spec and deletes it.
        let tool = tools(family).0;
        for (chain, r) in rules(family) {
            let spec = join(&r.words(family).unwrap());
            b.host.sh_ok(&format!("{tool} -t nat -C {chain} {spec}"));
            b.host.sh_ok(&format!("{tool} -t nat -D {chain} {spec}"));
        }
        let left = b.host.iptables_nat(v6);
        assert!(!left.iter().any(|l| l.starts_with("-A ")), "{left:#?}");
    }
}

#[test]
fn unsupported_rules_queue_nothing() {
    let mut b = NfBatch::new();
    let r = Rule::new(Target::Masquerade).mark(0x2000, 0x2000);
    assert!(b.append_iptables_rule(Family::V4, "nat", "X", &r).is_err());
    let r = Rule::new(Target::Accept).dport(Protocol::Sctp, 9);
    assert!(b.append_iptables_rule(Family::V4, "nat", "X", &r).is_err());
    assert!(b.is_empty());
}
