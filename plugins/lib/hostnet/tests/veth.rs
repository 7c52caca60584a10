//! Veth pairs with a random far-end name (what bridge and ptp make for
//! every pod), checked with `ip -j -d link`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::Sandbox;
use common::{link, nl};
use hostnet::netlink::VethPairError;

#[test]
fn random_peer_lands_in_the_host_with_a_reference_style_name() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let host_ns = common::netns(&sb.host);
    let pod_nl = nl(&pod);
    let pair = pod_nl
        .create_veth_random_peer("eth0", Some(&host_ns), None, Some(1400))
        .unwrap();
    assert_eq!(pair.local.name, "eth0");
    assert!(pair.local.is_veth());
    let peer = &pair.peer_name;
    assert_eq!(peer.len(), 12, "{peer}");
    assert!(peer.starts_with("veth"), "{peer}");
    assert!(
        peer[4..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{peer}"
    );
    // Both ends carry the MTU; the peer exists only in the host.
    assert_eq!(link(&pod, "eth0")["mtu"], 1400);
    assert_eq!(link(&sb.host, peer)["mtu"], 1400);
    assert!(pod.link(peer).is_none());
    let host_peer = nl(&sb.host).link_by_name(peer).unwrap();
    assert_eq!(pair.local.link, Some(host_peer.index));

    // A second pair gets another name.
    let other = pod_nl
        .create_veth_random_peer("eth1", Some(&host_ns), None, None)
        .unwrap();
    assert_ne!(&other.peer_name, peer);
}

#[test]
fn a_taken_local_name_is_reported_and_nothing_is_made() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let host_ns = common::netns(&sb.host);
    let pod_nl = nl(&pod);
    pod.sh_ok("ip link add eth0 type veth peer name other0");
    let pod_links = pod.link_names();
    let before = sb.host.link_names();
    let e = pod_nl
        .create_veth_random_peer("eth0", Some(&host_ns), None, None)
        .unwrap_err();
    assert!(
        matches!(&e, VethPairError::NameTaken { name } if name == "eth0"),
        "{e:?}"
    );
    assert_eq!(sb.host.link_names(), before, "no host end left");
    assert_eq!(pod.link_names(), pod_links);
}

#[test]
fn a_bad_mtu_is_the_kernels_refusal_not_a_name_problem() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let e = nl(&pod)
        .create_veth_random_peer("eth0", None, None, Some(10))
        .unwrap_err();
    match e {
        VethPairError::Netlink(n) => assert_eq!(n.errno(), Some(libc::EINVAL), "{n}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(pod.link_names(), ["lo"]);
}
