//! nf_tables deletions over nfnetlink against the real kernel: rules
//! written by iptables-nft are found by their comment with the prober and
//! deleted by handle together with their chain, both families in one
//! transaction; a failing batch changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cni_sandbox::Sandbox;
use netfilter::Family;
use netfilter::nfbatch::NfBatch;
use netfilter::probe::{Presence, Prober, RuleList};
use netfilter::tools::exec_count;

const SETUP: &str = "*nat
:TOP - [0:0]
:DN-A - [0:0]
:DN-B - [0:0]
-A DN-A -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80
-A DN-B -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.0.0.3:80
-A TOP -p tcp -m comment --comment \"dnat name: \\\"n\\\" id: \\\"a\\\"\" -m multiport --dports 8080 -j DN-A
-A TOP -p udp -m comment --comment \"dnat name: \\\"n\\\" id: \\\"a\\\"\" -m multiport --dports 8080 -j DN-A
-A TOP -p tcp -m comment --comment \"dnat name: \\\"n\\\" id: \\\"b\\\"\" -m multiport --dports 8081 -j DN-B
COMMIT
";

fn restore(sb: &Sandbox, tool: &str, text: &str) {
    let path = sb.dir().join("script");
    std::fs::write(&path, text).unwrap();
    sb.host
        .sh_ok(&format!("{tool} --noflush {}", path.display()));
}

#[test]
fn deletes_iptables_nft_rules_by_comment_in_one_transaction() {
    let sb = Sandbox::new();
    restore(&sb, "iptables-restore", SETUP);
    restore(
        &sb,
        "ip6tables-restore",
        &SETUP
            .replace("10.0.0.2:80", "[fd00::2]:80")
            .replace("10.0.0.3:80", "[fd00::3]:80"),
    );
    let execs = sb.host.run(|| {
        let before = exec_count();
        let mut p = Prober::open().unwrap();
        let mut b = NfBatch::new();
        for fam in [Family::V4, Family::V6] {
            let RuleList::Rules(rules) = p.rules(fam, "nat", "TOP") else {
                panic!("no TOP chain")
            };
            assert_eq!(rules.len(), 3);
            let to_a: Vec<_> = rules
                .iter()
                .filter(|r| r.target.as_deref() == Some("DN-A"))
                .collect();
            assert_eq!(to_a.len(), 2, "{rules:?}");
            for r in rules
                .iter()
                .filter(|r| r.comment.as_deref() == Some(r#"dnat name: "n" id: "a""#))
            {
                b.delete_rule(fam, "nat", "TOP", r.handle);
            }
            b.delete_chain(fam, "nat", "DN-A");
        }
        assert_eq!(b.len(), 6);
        b.commit().unwrap();
        assert_eq!(p.chain(Family::V4, "nat", "DN-A"), Presence::Absent);
        assert_eq!(p.chain(Family::V6, "nat", "DN-A"), Presence::Absent);
        exec_count() - before
    });
    assert_eq!(execs, 0);
    for t in ["iptables", "ip6tables"] {
        let (_, out, _) = sb.host.sh(&format!("{t} -t nat -S"));
        assert!(!out.contains("DN-A"), "{out}");
        assert!(!out.contains("id: \\\"a\\\""), "{out}");
        assert!(out.contains("-N DN-B"), "{out}");
        assert_eq!(out.matches("-A TOP").count(), 1, "{out}");
    }
}

#[test]
fn a_failing_batch_changes_nothing() {
    let sb = Sandbox::new();
    restore(&sb, "iptables-restore", SETUP);
    let before = sb.host.iptables_nat(false);
    let e = sb.host.run(|| {
        let mut b = NfBatch::new();
        b.flush_chain(Family::V4, "nat", "DN-B");
        // DN-A is still referenced by TOP: EBUSY aborts the batch.
        b.delete_chain(Family::V4, "nat", "DN-A");
        b.commit().unwrap_err()
    });
    let text = e.to_string();
    assert!(text.contains("delete chain ip nat DN-A"), "{text}");
    assert_eq!(sb.host.iptables_nat(false), before);
    // A handle that does not exist fails the same way.
    let e = sb.host.run(|| {
        let mut b = NfBatch::new();
        b.delete_rule(Family::V4, "nat", "TOP", 999_999);
        b.commit().unwrap_err()
    });
    assert!(e.to_string().contains("handle 999999"), "{e}");
    assert_eq!(sb.host.iptables_nat(false), before);
}

#[test]
fn deletes_nft_rules_by_handle() {
    let sb = Sandbox::new();
    sb.host.sh_ok(
        "nft add table ip t && nft add chain ip t c && \
         nft add rule ip t c tcp dport 1 accept comment '\"x\"' && \
         nft add rule ip t c tcp dport 2 accept comment '\"y\"'",
    );
    sb.host.run(|| {
        let mut p = Prober::open().unwrap();
        let RuleList::Rules(rules) = p.rules(Family::V4, "t", "c") else {
            panic!()
        };
        let x = rules
            .iter()
            .find(|r| r.comment.as_deref() == Some("x"))
            .unwrap();
        let mut b = NfBatch::new();
        b.delete_rule(Family::V4, "t", "c", x.handle);
        b.commit().unwrap();
        let RuleList::Rules(left) = p.rules(Family::V4, "t", "c") else {
            panic!()
        };
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].comment.as_deref(), Some("y"));
    });
}
