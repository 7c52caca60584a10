//! The drivers against the real tools: generated text is exactly what
//! iptables prints back, hostile text stays inert, errors carry stderr,
//! and the nfnetlink probes agree with the tools.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cni_sandbox::Sandbox;
use netfilter::iptables::syntax::join;
use netfilter::iptables::{RestoreScript, Rule, Table, Target, run};
use netfilter::probe::{Presence, Prober};
use netfilter::{ChainName, Comment, Family, FirewallError, Protocol, TableFamily, nft};

fn chain(s: &str) -> ChainName {
    ChainName::new(s).unwrap()
}

/// Portmap-shaped rules (and masquerade ones) for one family.
fn sample_rules(family: Family) -> Vec<(ChainName, Rule)> {
    let dn = chain("CNI-DN-0123456789abcdef01234");
    let top = chain("CNI-HOSTPORT-DNAT");
    let setmark = chain("CNI-HOSTPORT-SETMARK");
    let masq = chain("CNI-HOSTPORT-MASQ");
    let (pod, local, dnat_to) = match family {
        Family::V4 => ("10.99.0.2/24", "127.0.0.1/32", "10.99.0.2:80"),
        Family::V6 => ("fd99::2/64", "::1/128", "[fd99::2]:80"),
    };
    let c = |s: &str| Comment::new(s).unwrap();
    vec![
        (
            chain("PREROUTING"),
            Rule::new(Target::Jump(top.clone())).dst_type_local(),
        ),
        (
            top.clone(),
            Rule::new(Target::Jump(dn.clone()))
                .comment(c(r#"dnat name: "n" id: "abc""#))
                .multiport_dports(Protocol::Tcp, &[8080, 8081, 9000]),
        ),
        (
            dn.clone(),
            Rule::new(Target::Jump(setmark.clone()))
                .source(pod.parse().unwrap(), false)
                .dport(Protocol::Tcp, 8080),
        ),
        (
            dn.clone(),
            Rule::new(Target::Jump(setmark.clone()))
                .source(local.parse().unwrap(), false)
                .dport(Protocol::Sctp, 8080),
        ),
        (
            dn.clone(),
            Rule::new(Target::Dnat(dnat_to.parse().unwrap()))
                .destination(pod.parse().unwrap(), false)
                .dport(Protocol::Udp, 53),
        ),
        (
            setmark,
            Rule::new(Target::SetXmark {
                value: 0x2000,
                mask: 0x2000,
            })
            .comment(c("CNI portfwd masquerade mark")),
        ),
        (
            masq.clone(),
            Rule::new(Target::Masquerade).mark(0x2000, 0x2000),
        ),
        (
            chain("POSTROUTING"),
            Rule::new(Target::Jump(masq)).comment(c("CNI portfwd requiring masquerade")),
        ),
        (
            chain("POSTROUTING"),
            Rule::new(Target::Masquerade)
                .destination(family.multicast(), true)
                .out_interface(netfilter::IfName::new("eth0").unwrap(), true),
        ),
    ]
}

#[test]
fn generated_rules_read_back_identically() {
    for family in Family::ALL {
        let sb = Sandbox::new();
        let rules = sample_rules(family);
        let mut script = RestoreScript::new(family);
        for (c, _) in &rules {
            if !matches!(c.as_str(), "PREROUTING" | "POSTROUTING") {
                script.declare(Table::Nat, c);
            }
        }
        for (c, r) in &rules {
            script.append(Table::Nat, c, r).unwrap();
        }
        sb.host.run(|| run::restore(&script)).unwrap();
        let dump = sb.host.run(|| run::list_table(family, Table::Nat)).unwrap();
        let got: Vec<String> = dump
            .rules
            .iter()
            .map(|r| format!("-A {} {}", r.chain, join(&r.words)))
            .collect();
        for (c, r) in &rules {
            let want = format!("-A {c} {}", join(&r.words(family).unwrap()));
            assert!(got.contains(&want), "{family:?}: {want}\nnot in {got:#?}");
        }
        // Deleting by the same typed rules empties the chains again.
        let mut del = RestoreScript::new(family);
        for (c, r) in &rules {
            del.delete(Table::Nat, c, r).unwrap();
        }
        sb.host.run(|| run::restore(&del)).unwrap();
        let dump = sb.host.run(|| run::list_table(family, Table::Nat)).unwrap();
        assert!(dump.rules.is_empty(), "{:#?}", dump.rules);
    }
}

#[test]
fn hostile_comment_is_one_argument() {
    let sb = Sandbox::new();
    let evil = r#"x" -j ACCEPT -m comment --comment "y\" \\ '; rm -rf /"#;
    let c = Comment::new(evil).unwrap();
    let ch = chain("CNI-TEST");
    let mut s = RestoreScript::new(Family::V4);
    s.declare(Table::Filter, &ch);
    s.append(Table::Filter, &ch, &Rule::new(Target::Drop).comment(c))
        .unwrap();
    sb.host.run(|| run::restore(&s)).unwrap();
    let dump = sb
        .host
        .run(|| run::list_chain(Family::V4, Table::Filter, "CNI-TEST"))
        .unwrap()
        .unwrap();
    assert_eq!(dump.rules.len(), 1);
    assert_eq!(dump.rules[0].comment(), Some(evil));
    assert_eq!(dump.rules[0].target(), Some("DROP"));
    // And control characters never get that far.
    assert!(Comment::new("a\nCOMMIT").is_err());
    assert!(Comment::new(&"x".repeat(256)).is_err());
}

#[test]
fn restore_failure_is_typed_with_stderr_and_line() {
    let sb = Sandbox::new();
    let mut s = RestoreScript::new(Family::V4);
    s.append(Table::Nat, &chain("CNI-NOPE"), &Rule::new(Target::Accept))
        .unwrap();
    let err = sb.host.run(|| run::restore(&s)).unwrap_err();
    match &err {
        FirewallError::ToolFailed {
            command,
            stderr,
            input_line,
            ..
        } => {
            assert!(
                command.contains("iptables-restore --noflush --wait"),
                "{command}"
            );
            assert!(!stderr.is_empty());
            assert_eq!(input_line.as_deref(), Some("-A CNI-NOPE -j ACCEPT"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let cni: libcni::Error = err.into();
    assert!(cni.code >= 100, "{cni:?}");
    // Nothing of a failed script is applied.
    assert!(
        sb.host
            .run(|| run::list_chain(Family::V4, Table::Nat, "CNI-NOPE"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn probes_agree_with_the_tools() {
    let sb = Sandbox::new();
    sb.host.sh_ok("iptables -t nat -N CNI-PROBE && nft add table inet cni_probe_t && nft add chain inet cni_probe_t c");
    let answers = sb.host.run(|| {
        let mut p = Prober::open().unwrap();
        [
            p.chain(Family::V4, "nat", "CNI-PROBE"),
            p.chain(Family::V6, "nat", "CNI-PROBE"),
            p.chain(Family::V4, "nat", "CNI-OTHER"),
            p.table(TableFamily::Inet, "cni_probe_t"),
            p.chain(TableFamily::Inet, "cni_probe_t", "c"),
            p.chain(TableFamily::Inet, "cni_probe_t", "d"),
            p.table(TableFamily::Inet, "absent"),
        ]
    });
    use Presence::*;
    assert_eq!(
        answers,
        [Present, Absent, Absent, Present, Present, Absent, Absent]
    );
    // The probe runs in the caller's namespace: the sandbox's chain is not
    // visible from another namespace.
    let other = sb.extra("other");
    let elsewhere = other.run(|| {
        Prober::open()
            .unwrap()
            .chain(Family::V4, "nat", "CNI-PROBE")
    });
    assert_eq!(elsewhere, Absent);
}

#[test]
fn netlink_rule_dump_agrees_with_nft_json() {
    let sb = Sandbox::new();
    sb.host.sh_ok(concat!(
        "nft add table inet cni_dump_t && nft add chain inet cni_dump_t c && ",
        "nft add chain inet cni_dump_t other && ",
        "nft add rule inet cni_dump_t c ip saddr 10.0.0.1 counter comment '\"with spaces, net: n\"' && ",
        "nft add rule inet cni_dump_t c ip saddr 10.0.0.2 counter && ",
        "nft add rule inet cni_dump_t other counter comment other && ",
        "for i in $(seq 300); do echo \"add rule inet cni_dump_t c counter comment c$i\"; done | nft -f -"
    ));
    let fam = nftables::types::NfFamily::INet;
    let (fast, slow) = sb.host.run(|| {
        (
            nft::list_chain_fast(fam, "cni_dump_t", "c")
                .unwrap()
                .unwrap(),
            nft::list_chain(fam, "cni_dump_t", "c").unwrap().unwrap(),
        )
    });
    let key = |v: &[nft::ListedRule]| {
        v.iter()
            .map(|r| (r.handle, r.comment.clone(), r.chain.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(fast.len(), 302);
    assert_eq!(key(&fast), key(&slow));
    assert_eq!(slow[0].comment.as_deref(), Some("with spaces, net: n"));
    assert_eq!(slow[1].comment, None);
    let absent = sb
        .host
        .run(|| nft::list_chain_fast(fam, "cni_dump_t", "nope"))
        .unwrap();
    assert!(absent.is_none());
}

#[test]
fn nft_failures_are_typed() {
    let sb = Sandbox::new();
    let mut b = nftables::batch::Batch::new();
    b.add(nftables::schema::NfListObject::Chain(
        nftables::schema::Chain {
            family: nftables::types::NfFamily::INet,
            table: "no_such_table".into(),
            name: "c".into(),
            ..Default::default()
        },
    ));
    let err = sb.host.run(|| nft::apply(&b)).unwrap_err();
    match err {
        FirewallError::ToolFailed {
            command, stderr, ..
        } => {
            assert!(
                command.starts_with('/') && command.contains("nft -j -f -"),
                "{command}"
            );
            assert!(stderr.contains("No such file or directory"), "{stderr}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let listed = sb
        .host
        .run(|| nft::list_chain(nftables::types::NfFamily::INet, "no_such_table", "c"))
        .unwrap();
    assert!(listed.is_none());
}
