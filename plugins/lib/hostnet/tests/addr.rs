//! Addresses: add (with flags), list by link and family, delete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::Sandbox;
use common::{addr_info, nl};
use hostnet::netlink::{AddrFlags, Family, VethSpec, scope};

#[test]
fn add_list_delete_v4_and_v6() {
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
        .unwrap();
    nl.addr_add(eth.index, "10.22.0.5/24".parse().unwrap(), AddrFlags::NONE)
        .unwrap();
    nl.addr_add(
        eth.index,
        "fd00:22::5/64".parse().unwrap(),
        AddrFlags::NODAD,
    )
    .unwrap();
    let mut shown = pod.addrs("eth0");
    shown.sort();
    assert_eq!(shown, vec!["10.22.0.5/24", "fd00:22::5/64"]);
    let j = addr_info(&pod, "eth0");
    let v4 = j.iter().find(|a| a["family"] == "inet").unwrap();
    assert_eq!(
        v4["broadcast"], "10.22.0.255",
        "like the reference: brd set"
    );
    assert_eq!(v4["scope"], "global");
    let v6 = j.iter().find(|a| a["local"] == "fd00:22::5").unwrap();
    assert_eq!(v6["nodad"], true, "{v6}");

    let v4s = nl.addrs(Some(eth.index), Family::V4).unwrap();
    assert_eq!(v4s.len(), 1);
    assert_eq!(v4s[0].addr.to_string(), "10.22.0.5/24");
    assert_eq!(v4s[0].scope, scope::UNIVERSE);
    assert!(v4s[0].is_permanent() && !v4s[0].is_tentative());
    let v6s = nl.addrs(Some(eth.index), Family::V6).unwrap();
    assert_eq!(v6s.len(), 1, "link down: no link-local yet: {v6s:?}");
    assert!(v6s[0].flags.contains(AddrFlags::NODAD));
    assert_eq!(nl.addrs(Some(eth.index), Family::All).unwrap().len(), 2);
    // Loopback addresses are host scope; listing all links finds them.
    let all = nl.addrs(None, Family::V4).unwrap();
    let lo = all
        .iter()
        .find(|a| a.addr.to_string() == "127.0.0.1/8")
        .unwrap();
    assert_eq!(lo.scope, scope::HOST);
    assert_eq!(lo.index, 1);

    let e = nl
        .addr_add(eth.index, "10.22.0.5/24".parse().unwrap(), AddrFlags::NONE)
        .unwrap_err();
    assert!(e.is_exists(), "{e}");
    assert!(e.to_string().contains("add address 10.22.0.5/24"), "{e}");

    nl.addr_del(eth.index, "10.22.0.5/24".parse().unwrap())
        .unwrap();
    assert_eq!(pod.addrs("eth0"), vec!["fd00:22::5/64"]);
    let e = nl
        .addr_del(eth.index, "10.22.0.5/24".parse().unwrap())
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn tentative_and_scope_of_link_local_reported() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let nl = nl(&pod);
    let a = nl
        .create_veth(&VethSpec {
            name: "ta0",
            peer_name: "ta1",
            peer_netns: None,
            mac: None,
            peer_mac: None,
            mtu: None,
        })
        .unwrap();
    // DAD on (the namespace default) and the link down: the address stays
    // tentative until the link runs.
    nl.addr_add(a.index, "fd00:33::1/64".parse().unwrap(), AddrFlags::NONE)
        .unwrap();
    let got = nl.addrs(Some(a.index), Family::V6).unwrap();
    assert!(got[0].is_tentative(), "{got:?}");
    let j = addr_info(&pod, "ta0");
    assert_eq!(j[0]["tentative"], true, "{j:?}");
    // Bringing both ends up creates a link-local (scope link) address
    // once the carrier is seen (the kernel's linkwatch does both under
    // RTNL, so it is there when the link reports operstate UP).
    nl.set_up(a.index).unwrap();
    nl.set_up(nl.link_by_name("ta1").unwrap().index).unwrap();
    nl.wait_oper_up(a.index, std::time::Duration::from_secs(10))
        .unwrap();
    let got = nl.addrs(Some(a.index), Family::V6).unwrap();
    let ll = got
        .iter()
        .find(|x| x.addr.addr().to_string().starts_with("fe80"))
        .unwrap();
    assert_eq!(ll.scope, scope::LINK);
}

#[test]
fn hundreds_of_addresses_in_one_dump() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let nl = nl(&pod);
    let lo = nl.link_by_name("lo").unwrap().index;
    for i in 0..400u32 {
        let addr = format!("10.{}.{}.1/32", 100 + i / 250, i % 250);
        nl.addr_add(lo, addr.parse().unwrap(), AddrFlags::NONE)
            .unwrap();
    }
    let got = nl.addrs(Some(lo), Family::V4).unwrap();
    assert_eq!(got.len(), 401);
    assert_eq!(
        pod.addrs("lo").iter().filter(|a| a.contains('.')).count(),
        401
    );
}
