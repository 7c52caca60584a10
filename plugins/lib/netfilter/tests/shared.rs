//! The shared-chain iptables driver (`driver::iptables::shared`) and what
//! it stands on: the conntrack match and head inserts in iptables-nft's
//! encoding, and rules recognised by their expressions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cni_sandbox::{Netns, Sandbox};
use libcni::Errors;
use netfilter::driver::Driver;
use netfilter::driver::iptables::shared::{Layout, Place, Placed, Shared, SharedRules};
use netfilter::iptables::nftenc;
use netfilter::iptables::syntax::join;
use netfilter::iptables::{CtStates, Rule, Table, Target};
use netfilter::nfbatch::NfBatch;
use netfilter::probe::{Prober, RuleList};
use netfilter::tools;
use netfilter::{ChainName, Comment, Family, FirewallError};

fn ch(s: &str) -> ChainName {
    ChainName::new(s).unwrap()
}

fn host(family: Family, n: u8) -> ipnet::IpNet {
    match family {
        Family::V4 => format!("10.88.0.{n}/32").parse().unwrap(),
        Family::V6 => format!("fd88::{n}/128").parse().unwrap(),
    }
}

fn established(family: Family, n: u8) -> Rule {
    Rule::new(Target::Accept)
        .destination(host(family, n), false)
        .ctstate(CtStates::RELATED.union(CtStates::ESTABLISHED))
}

fn filter_save(ns: &Netns, family: Family) -> Vec<String> {
    let tool = match family {
        Family::V4 => "iptables-save",
        Family::V6 => "ip6tables-save",
    };
    ns.sh_ok(&format!("{tool} -t filter"))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.find(" [") {
            Some(i) if l.starts_with(':') => l[..i].to_string(),
            _ => l.to_string(),
        })
        .collect()
}

fn ipt(family: Family) -> &'static str {
    match family {
        Family::V4 => "iptables",
        Family::V6 => "ip6tables",
    }
}

/// The conntrack match and a head insert written over nfnetlink are what
/// iptables-nft writes: the same kernel serialisation, found by `-C`.
#[test]
fn conntrack_and_head_insert_match_iptables_nft() {
    for family in Family::ALL {
        let a = Sandbox::new();
        let b = Sandbox::new();
        let tool = ipt(family);
        let rule = established(family, 2);
        let jump = Rule::new(Target::Jump(ch("CNI-FORWARD")))
            .comment(Comment::new("CNI firewall plugin rules").unwrap());
        let first = Rule::new(Target::Accept).source(host(family, 9), false);
        for sb in [&a, &b] {
            sb.host.sh_ok(&format!(
                "{tool} -N CNI-FORWARD && {tool} -A FORWARD {}",
                join(&first.words(family).unwrap())
            ));
        }
        a.host.sh_ok(&format!(
            "{tool} -A CNI-FORWARD {} && {tool} -I FORWARD 1 {}",
            join(&rule.words(family).unwrap()),
            join(&jump.words(family).unwrap())
        ));
        b.host.run(|| {
            let mut batch = NfBatch::new();
            batch
                .append_iptables_rule(family, "filter", "CNI-FORWARD", &rule)
                .unwrap();
            batch
                .insert_iptables_rule(family, "filter", "FORWARD", &jump)
                .unwrap();
            batch.commit().unwrap();
        });
        assert_eq!(filter_save(&a.host, family), filter_save(&b.host, family));
        for chain in ["CNI-FORWARD", "FORWARD"] {
            let exprs = |sb: &Sandbox| {
                sb.host
                    .run(|| {
                        Prober::open()
                            .unwrap()
                            .rule_expressions(family, "filter", chain)
                    })
                    .unwrap()
            };
            assert_eq!(exprs(&a), exprs(&b), "{family:?} {chain}");
        }
        b.host.sh_ok(&format!(
            "{tool} -C CNI-FORWARD {}",
            join(&rule.words(family).unwrap())
        ));
        // The kernel's dump of iptables' rule is recognised as ours, and
        // a rule for another address is not.
        let list = a.host.run(|| {
            match Prober::open()
                .unwrap()
                .rules(family, "filter", "CNI-FORWARD")
            {
                RuleList::Rules(r) => r,
                other => panic!("{other:?}"),
            }
        });
        assert_eq!(list.len(), 1);
        let ours = nftenc::encode(&rule, family).unwrap();
        let other = nftenc::encode(&established(family, 3), family).unwrap();
        assert!(nftenc::same_expressions(&list[0].expressions, &ours));
        assert!(!nftenc::same_expressions(&list[0].expressions, &other));
    }
}

/// A small shared rule set: a chain, a head jump to it from FORWARD, and
/// two rules per address in it.
struct Accepts {
    addrs: Vec<u8>,
    families: Vec<Family>,
}

impl SharedRules for Accepts {
    fn table(&self) -> Table {
        Table::Filter
    }

    fn families(&self) -> Vec<Family> {
        self.families.clone()
    }

    fn layout(&self, family: Family) -> Result<Layout, FirewallError> {
        let fwd = ch("CNI-FORWARD");
        let jump = Rule::new(Target::Jump(fwd.clone()))
            .comment(Comment::new("CNI firewall plugin rules")?);
        let mut own = vec![];
        for n in &self.addrs {
            own.push(Placed::new(
                fwd.clone(),
                established(family, *n),
                Place::Tail,
            ));
            own.push(Placed::new(
                fwd.clone(),
                Rule::new(Target::Accept).source(host(family, *n), false),
                Place::Tail,
            ));
        }
        Ok(Layout {
            chains: vec![fwd],
            shared: vec![Placed::new(ch("FORWARD"), jump, Place::Head)],
            own,
        })
    }

    fn lock_path(&self) -> Option<&'static str> {
        None
    }
}

#[test]
fn first_attachment_by_restore_then_one_transaction_and_exact_teardown() {
    let sb = Sandbox::new();
    let pod = |n: u8| {
        Shared(Accepts {
            addrs: vec![n],
            families: Family::ALL.to_vec(),
        })
    };
    // An administrator's rule first in FORWARD: the jump goes above it.
    sb.host.sh_ok("iptables -A FORWARD -i eth9 -j DROP");
    sb.host.run(|| pod(2).setup()).unwrap();
    let v4 = filter_save(&sb.host, Family::V4);
    let forward: Vec<&String> = v4.iter().filter(|l| l.starts_with("-A FORWARD")).collect();
    assert_eq!(
        forward,
        [
            r#"-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD"#,
            "-A FORWARD -i eth9 -j DROP"
        ]
    );
    // The second attachment: nfnetlink reads and one transaction, no exec.
    let execs = sb.host.run(|| {
        let before = tools::exec_count();
        pod(3).setup().unwrap();
        tools::exec_count() - before
    });
    assert_eq!(execs, 0);
    // Setting up again adds nothing; check passes and has no side effect.
    let before = (
        filter_save(&sb.host, Family::V4),
        filter_save(&sb.host, Family::V6),
    );
    sb.host.run(|| pod(3).setup()).unwrap();
    sb.host.run(|| pod(3).check()).unwrap();
    assert_eq!(
        before,
        (
            filter_save(&sb.host, Family::V4),
            filter_save(&sb.host, Family::V6)
        )
    );
    let cnt = |fam: Family| {
        filter_save(&sb.host, fam)
            .iter()
            .filter(|l| l.starts_with("-A CNI-FORWARD"))
            .count()
    };
    assert_eq!((cnt(Family::V4), cnt(Family::V6)), (4, 4));
    // Teardown removes exactly the attachment's rules (found by their
    // content: they carry no comment).
    let mut errs = Errors::new();
    sb.host.run(|| pod(2).teardown(&mut errs));
    errs.finish("teardown").unwrap();
    let v6 = filter_save(&sb.host, Family::V6);
    assert!(!v6.iter().any(|l| l.contains("fd88::2/128")), "{v6:#?}");
    assert!(v6.iter().any(|l| l.contains("fd88::3/128")), "{v6:#?}");
    assert_eq!((cnt(Family::V4), cnt(Family::V6)), (2, 2));
    // Check notices a rule removed behind its back, and changes nothing.
    sb.host
        .sh_ok("iptables -D CNI-FORWARD -s 10.88.0.3/32 -j ACCEPT");
    let e = sb.host.run(|| pod(3).check()).unwrap_err();
    assert!(e.to_string().contains("-s 10.88.0.3/32 -j ACCEPT"), "{e}");
    assert_eq!(cnt(Family::V4), 1);
    // A second teardown of a gone attachment is a no-op.
    let mut errs = Errors::new();
    sb.host.run(|| {
        pod(2).teardown(&mut errs);
        pod(3).teardown(&mut errs);
        pod(3).teardown(&mut errs);
    });
    errs.finish("teardown").unwrap();
    assert_eq!((cnt(Family::V4), cnt(Family::V6)), (0, 0));
    // The shared chain and jump stay.
    assert!(
        filter_save(&sb.host, Family::V4)
            .iter()
            .any(|l| l.ends_with("-j CNI-FORWARD"))
    );
}

#[test]
fn identical_rules_of_two_attachments_are_removed_one_at_a_time() {
    let sb = Sandbox::new();
    let pod = || {
        Shared(Accepts {
            addrs: vec![7],
            families: vec![Family::V4],
        })
    };
    // Two networks with overlapping subnets give two pods the same address:
    // each ADD adds its rules once more only when they are missing, as the
    // reference's "append unique" does, and each DEL removes one copy.
    sb.host.run(|| pod().setup()).unwrap();
    sb.host
        .sh_ok("iptables -A CNI-FORWARD -s 10.88.0.7/32 -j ACCEPT");
    let mut errs = Errors::new();
    sb.host.run(|| pod().teardown(&mut errs));
    errs.finish("teardown").unwrap();
    let left: Vec<String> = filter_save(&sb.host, Family::V4)
        .into_iter()
        .filter(|l| l.starts_with("-A CNI-FORWARD"))
        .collect();
    assert_eq!(left, ["-A CNI-FORWARD -s 10.88.0.7/32 -j ACCEPT"]);
}
