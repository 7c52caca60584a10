//! Conntrack deletion over ctnetlink against the real kernel: only the
//! entries of the given family, protocol and destination port go, by both
//! the filtered flush and the dump-and-delete fallback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cni_sandbox::{Netns, Sandbox};
use netfilter::conntrack::{self, Method};
use netfilter::tools::exec_count;
use netfilter::{Family, Protocol};

/// Four entries: UDP/53 and UDP/54 and TCP/53 over IPv4, UDP/53 over IPv6.
fn seed(ns: &Netns) {
    ns.sh_ok(
        "conntrack -I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 1000 --dport 53 --timeout 100 && \
         conntrack -I -p udp -s 1.1.1.1 -d 2.2.2.2 --sport 1001 --dport 54 --timeout 100 && \
         conntrack -I -p tcp -s 1.1.1.1 -d 2.2.2.2 --sport 1000 --dport 53 --state ESTABLISHED --timeout 100 && \
         conntrack -I -p udp -s fd00::1 -d fd00::2 --sport 1000 --dport 53 --timeout 100",
    );
}

/// `conntrack -L` lines, sorted, without the timeout column.
fn entries(ns: &Netns) -> Vec<String> {
    let (_, out, _) = ns.sh("conntrack -L 2>/dev/null");
    let mut v: Vec<String> = out
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let skip = if w.first() == Some(&"tcp") { 4 } else { 3 };
            format!("{} {}", w[0], w[skip..].join(" "))
        })
        .collect();
    v.sort();
    v
}

fn has(list: &[String], needle: &str) -> bool {
    list.iter().any(|l| l.contains(needle))
}

#[test]
fn deletes_only_the_matching_udp_entries() {
    let sb = Sandbox::new();
    seed(&sb.host);
    assert_eq!(entries(&sb.host).len(), 4);
    let (method, execs) = sb.host.run(|| {
        let before = exec_count();
        let m = conntrack::delete_by_dport(Family::V4, Protocol::Udp, 53).unwrap();
        (m, exec_count() - before)
    });
    assert_eq!(execs, 0);
    let left = entries(&sb.host);
    assert_eq!(left.len(), 3, "{method:?}: {left:#?}");
    assert!(has(&left, "dport=54"), "{left:#?}");
    assert!(has(&left, "src=fd00::1"), "{left:#?}");
    assert!(left.iter().any(|l| l.starts_with("tcp")), "{left:#?}");
    assert!(
        !left
            .iter()
            .any(|l| l.starts_with("udp") && l.contains("src=1.1.1.1") && l.contains("dport=53 ")),
        "{left:#?}"
    );
    // IPv6 next: only the v6 entry goes.
    sb.host
        .run(|| conntrack::delete_by_dport(Family::V6, Protocol::Udp, 53))
        .unwrap();
    let left = entries(&sb.host);
    assert_eq!(left.len(), 2, "{left:#?}");
    assert!(!has(&left, "fd00::1"));
    // Nothing matching: success, nothing removed.
    sb.host
        .run(|| conntrack::delete_by_dport(Family::V4, Protocol::Udp, 9999))
        .unwrap();
    assert_eq!(entries(&sb.host).len(), 2);
}

#[test]
fn this_kernel_flushes_with_a_filter() {
    let sb = Sandbox::new();
    seed(&sb.host);
    let m = sb
        .host
        .run(|| conntrack::delete_by_dport(Family::V4, Protocol::Udp, 54))
        .unwrap();
    assert_eq!(m, Method::FilteredFlush);
    let left = entries(&sb.host);
    assert_eq!(left.len(), 3, "{left:#?}");
    assert!(!has(&left, "dport=54"));
}

#[test]
fn fallback_dump_and_delete_matches_the_same_entries() {
    let sb = Sandbox::new();
    seed(&sb.host);
    let n = sb
        .host
        .run(|| conntrack::delete_by_dport_with_dump(Family::V4, Protocol::Udp, 53))
        .unwrap();
    assert_eq!(n, 1);
    let left = entries(&sb.host);
    assert_eq!(left.len(), 3, "{left:#?}");
    assert!(has(&left, "dport=54"));
    assert!(has(&left, "fd00::1"));
    assert!(left.iter().any(|l| l.starts_with("tcp")));
    let n = sb
        .host
        .run(|| conntrack::delete_by_dport_with_dump(Family::V6, Protocol::Udp, 53))
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(entries(&sb.host).len(), 2);
}
