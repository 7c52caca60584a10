//! The waits: IPv6 DAD (returns at once when DAD is off, waits while an
//! address is tentative, fails on a duplicate) and operstate UP.
//!
//! A zero timeout is used to show that a wait needed no blocking at all:
//! with nothing to wait for it succeeds, otherwise it times out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use cni_sandbox::{Netns, Sandbox};
use common::{addr_info, nl};
use hostnet::Netlink;
use hostnet::netlink::{AddrFlags, OperState, VethSpec};
use hostnet::sysctl;

const LONG: Duration = Duration::from_secs(15);

/// In `ns`: veth `eth0` / `peer0`, both up and operationally up.
fn veth_up(ns: &Netns) -> (Netlink, u32) {
    let nl = nl(ns);
    let eth = nl
        .create_veth(&VethSpec {
            name: "eth0",
            peer_name: "peer0",
            peer_netns: None,
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap();
    nl.set_up(nl.link_by_name("peer0").unwrap().index).unwrap();
    nl.set_up(eth.index).unwrap();
    nl.wait_oper_up(eth.index, LONG).unwrap();
    (nl, eth.index)
}

fn tentative(ns: &Netns, ifname: &str, local: &str) -> bool {
    addr_info(ns, ifname)
        .iter()
        .find(|a| a["local"] == local)
        .unwrap_or_else(|| panic!("{local} not on {ifname}"))
        .get("tentative")
        .is_some_and(|t| t == true)
}

/// Neighbour solicitations sent from `ifname` (DAD probes are NS).
fn ns_sent(ns: &Netns, ifname: &str) -> u64 {
    let text = ns.sh_ok(&format!("cat /proc/net/dev_snmp6/{ifname}"));
    text.lines()
        .find_map(|l| l.strip_prefix("Icmp6OutNeighborSolicits"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[test]
fn dad_wait_does_not_run_into_dad_when_it_is_off() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let nl = nl(&pod);
    let eth = nl
        .create_veth(&VethSpec {
            name: "eth0",
            peer_name: "peer0",
            peer_netns: None,
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap()
        .index;
    // DAD off for the interface before it comes up, as the bridge plugin
    // does without `enabledad`.
    let ns = common::netns(&pod);
    ns.run(|| sysctl::set("net/ipv6/conf/eth0/accept_dad", "0"))
        .unwrap()
        .unwrap();
    nl.set_up(nl.link_by_name("peer0").unwrap().index).unwrap();
    nl.set_up(eth).unwrap();
    nl.wait_oper_up(eth, LONG).unwrap();
    nl.addr_add(eth, "fd00:50::2/64".parse().unwrap(), AddrFlags::NONE)
        .unwrap();
    // The kernel clears "tentative" from its work queue right away; the
    // wait returns on that notification, and no DAD probe was ever sent.
    nl.wait_dad(eth, LONG).unwrap();
    assert!(!tentative(&pod, "eth0", "fd00:50::2"));
    assert_eq!(ns_sent(&pod, "eth0"), 0, "DAD must not have run");
}

#[test]
fn dad_wait_needs_no_wait_without_tentative_addresses() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let nl = nl(&pod);
    let lo = nl.link_by_name("lo").unwrap().index;
    // No IPv6 address to wait for: success with a zero timeout.
    nl.wait_dad(lo, Duration::ZERO).unwrap();
    // NODAD addresses are never tentative.
    nl.addr_add(lo, "fd00:51::1/128".parse().unwrap(), AddrFlags::NODAD)
        .unwrap();
    assert!(!tentative(&pod, "lo", "fd00:51::1"));
    nl.wait_dad(lo, Duration::ZERO).unwrap();
}

#[test]
fn dad_wait_waits_while_tentative() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let (nl, eth) = veth_up(&pod);
    // Let the link-local address settle first, so only ours is pending.
    nl.wait_dad(eth, LONG).unwrap();
    nl.addr_add(eth, "fd00:52::2/64".parse().unwrap(), AddrFlags::NONE)
        .unwrap();
    // DAD takes at least one retransmit interval (1 s by default), so the
    // address is still tentative right after it was added...
    assert!(tentative(&pod, "eth0", "fd00:52::2"));
    let e = nl.wait_dad(eth, Duration::ZERO).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ETIMEDOUT), "{e}");
    assert!(e.to_string().contains("fd00:52::2/64"), "{e}");
    // ...and the wait returns once DAD has finished.
    nl.wait_dad(eth, LONG).unwrap();
    assert!(!tentative(&pod, "eth0", "fd00:52::2"));
    assert!(ns_sent(&pod, "eth0") >= 1, "DAD probes were sent");
    let info = nl.addrs(Some(eth), hostnet::netlink::Family::V6).unwrap();
    assert!(
        info.iter().all(|a| !a.is_tentative() && !a.is_dadfailed()),
        "{info:?}"
    );
}

#[test]
fn dad_failure_is_an_error() {
    let sb = Sandbox::new();
    let a = sb.pod();
    let b = sb.pod();
    let an = nl(&a);
    let b_ns = common::netns(&b);
    let eth_a = an
        .create_veth(&VethSpec {
            name: "eth0",
            peer_name: "eth0",
            peer_netns: Some(&b_ns),
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap();
    let bn = nl(&b);
    let eth_b = bn.link_by_name("eth0").unwrap().index;
    an.set_up(eth_a.index).unwrap();
    bn.set_up(eth_b).unwrap();
    an.wait_oper_up(eth_a.index, LONG).unwrap();
    bn.wait_oper_up(eth_b, LONG).unwrap();
    // A owns the address already; B's DAD must find it.
    an.addr_add(
        eth_a.index,
        "fd00:53::1/64".parse().unwrap(),
        AddrFlags::NODAD,
    )
    .unwrap();
    bn.addr_add(eth_b, "fd00:53::1/64".parse().unwrap(), AddrFlags::NONE)
        .unwrap();
    let e = bn.wait_dad(eth_b, LONG).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EADDRINUSE), "{e}");
    assert!(
        e.to_string()
            .contains("fd00:53::1/64 failed duplicate address detection"),
        "{e}"
    );
    let j = addr_info(&b, "eth0");
    let x = j.iter().find(|x| x["local"] == "fd00:53::1").unwrap();
    assert_eq!(x["dadfailed"], true, "{x}");
}

#[test]
fn oper_up_wait_times_out_without_carrier() {
    let sb = Sandbox::new();
    let nl = nl(&sb.host);
    let a = nl
        .create_veth(&VethSpec {
            name: "nc0",
            peer_name: "nc1",
            peer_netns: None,
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap();
    nl.set_up(a.index).unwrap();
    let e = nl.wait_oper_up(a.index, Duration::ZERO).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ETIMEDOUT), "{e}");
    let e = nl
        .wait_oper_up(a.index, Duration::from_millis(100))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ETIMEDOUT), "{e}");
    assert!(e.to_string().contains("LowerLayerDown"), "{e}");
    assert!(
        nl.wait_oper_up(9999, Duration::ZERO)
            .unwrap_err()
            .is_not_found()
    );
}

#[test]
fn oper_up_wait_sees_a_port_come_up() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let host_ns = common::netns(&sb.host);
    let host = nl(&sb.host);
    host.create_bridge("br0", None, false).unwrap();
    let br = host.link_by_name("br0").unwrap().index;
    host.set_up(br).unwrap();
    // Container end in the pod, host end in the host, as the bridge
    // plugin makes them.
    let pod_nl = nl(&pod);
    let cont = pod_nl
        .create_veth(&VethSpec {
            name: "eth0",
            peer_name: "vethwait0",
            peer_netns: Some(&host_ns),
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap();
    let hv = host.link_by_name("vethwait0").unwrap().index;
    host.set_master(hv, br).unwrap();
    host.set_up(hv).unwrap();
    // The pod side comes up from another thread while we wait.
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let b = &barrier;
        s.spawn(move || {
            b.wait();
            pod_nl.set_up(cont.index).unwrap();
        });
        barrier.wait();
        let up = host.wait_oper_up(hv, LONG).unwrap();
        assert_eq!(up.operstate, OperState::Up);
        assert!(up.lower_up);
    });
    assert_eq!(common::link(&sb.host, "vethwait0")["operstate"], "UP");
}
