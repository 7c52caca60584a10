//! Routes: add / replace / append / delete with table, scope, metric,
//! MTU and advmss; ECMP like the reference's RouteAddEcmp; listing; and
//! route get. Checked with `ip -j route`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use cni_sandbox::{Netns, Sandbox};
use common::nl;
use hostnet::Netlink;
use hostnet::netlink::{AddrFlags, Family, RouteSpec, TABLE_MAIN, VethSpec, scope};
use serde_json::Value;

/// In `pod`: veth `eth0` (peer `peer0`), both up, with 10.30.0.2/24 and
/// fd00:30::2/64 (no DAD); returns (handle, eth0 index).
fn setup(pod: &Netns) -> (Netlink, u32) {
    let nl = nl(pod);
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
    nl.addr_add(eth.index, "10.30.0.2/24".parse().unwrap(), AddrFlags::NONE)
        .unwrap();
    nl.addr_add(
        eth.index,
        "fd00:30::2/64".parse().unwrap(),
        AddrFlags::NODAD,
    )
    .unwrap();
    nl.wait_oper_up(eth.index, Duration::from_secs(10)).unwrap();
    (nl, eth.index)
}

/// `ip -j <family> route show [table N]`.
fn ip_routes(ns: &Netns, family: &str) -> Vec<Value> {
    ip_routes_in(ns, family, "main")
}

fn ip_routes_in(ns: &Netns, family: &str, table: &str) -> Vec<Value> {
    ns.ip_json(&format!("{family} route show table {table}"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn find<'a>(routes: &'a [Value], dst: &str) -> Option<&'a Value> {
    routes.iter().find(|r| r["dst"] == dst)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn default_route_add_exists_replace_delete() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let (nl, eth) = setup(&pod);
    let default = RouteSpec::via("0.0.0.0/0".parse().unwrap(), Some(ip("10.30.0.1")), eth);
    nl.route_add(&default).unwrap();
    let r = ip_routes(&pod, "-4");
    let d = find(&r, "default").unwrap();
    assert_eq!(d["gateway"], "10.30.0.1");
    assert_eq!(d["dev"], "eth0");

    let e = nl.route_add(&default).unwrap_err();
    assert!(e.is_exists(), "{e}");
    assert!(
        e.to_string().contains("add route 0.0.0.0/0 via 10.30.0.1"),
        "{e}"
    );

    let other = RouteSpec::via("0.0.0.0/0".parse().unwrap(), Some(ip("10.30.0.254")), eth);
    nl.route_replace(&other).unwrap();
    let r = ip_routes(&pod, "-4");
    let defaults: Vec<_> = r.iter().filter(|x| x["dst"] == "default").collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["gateway"], "10.30.0.254");

    nl.route_del(&RouteSpec::new("0.0.0.0/0".parse().unwrap()))
        .unwrap();
    assert!(find(&ip_routes(&pod, "-4"), "default").is_none());
    let e = nl
        .route_del(&RouteSpec::new("0.0.0.0/0".parse().unwrap()))
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn table_scope_metric_mtu_advmss() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let (nl, eth) = setup(&pod);
    let mut spec = RouteSpec::via("10.40.0.0/16".parse().unwrap(), Some(ip("10.30.0.1")), eth);
    spec.table = Some(100);
    spec.priority = Some(50);
    spec.mtu = Some(1400);
    spec.advmss = Some(1360);
    nl.route_add(&spec).unwrap();
    let r = ip_routes_in(&pod, "-4", "100");
    let x = find(&r, "10.40.0.0/16").unwrap();
    assert_eq!(x["gateway"], "10.30.0.1");
    assert_eq!(x["metric"], 50);
    assert_eq!(x["metrics"][0]["mtu"], 1400, "{x}");
    assert_eq!(x["metrics"][0]["advmss"], 1360, "{x}");
    assert!(
        find(&ip_routes(&pod, "-4"), "10.40.0.0/16").is_none(),
        "not in main"
    );

    // A table id above 255 travels in RTA_TABLE only.
    let mut big = RouteSpec::via("10.41.0.0/16".parse().unwrap(), None, eth);
    big.table = Some(1000);
    nl.route_add(&big).unwrap();
    let r = ip_routes_in(&pod, "-4", "1000");
    let x = find(&r, "10.41.0.0/16").unwrap();
    assert_eq!(x["scope"], "link", "no gateway: link scope by default");

    let mut host = RouteSpec::via("10.50.0.0/16".parse().unwrap(), None, eth);
    host.scope = Some(scope::HOST);
    nl.route_add(&host).unwrap();
    assert_eq!(
        find(&ip_routes(&pod, "-4"), "10.50.0.0/16").unwrap()["scope"],
        "host"
    );

    let listed = nl.routes(Family::V4, Some(100)).unwrap();
    assert_eq!(listed.len(), 1);
    let l = &listed[0];
    assert_eq!(l.dst.to_string(), "10.40.0.0/16");
    assert_eq!(
        (l.table, l.priority, l.mtu, l.advmss),
        (100, 50, 1400, 1360)
    );
    assert_eq!(l.oif, Some(eth));
    assert_eq!(nl.routes(Family::V4, Some(1000)).unwrap()[0].table, 1000);
    let main = nl.routes(Family::V4, Some(TABLE_MAIN)).unwrap();
    let kernel = main
        .iter()
        .find(|r| r.dst.to_string() == "10.30.0.0/24")
        .unwrap();
    assert_eq!((kernel.protocol, kernel.scope), (2, scope::LINK));
    assert_eq!(kernel.src, Some(ip("10.30.0.2")));
    let h = main
        .iter()
        .find(|r| r.dst.to_string() == "10.50.0.0/16")
        .unwrap();
    assert_eq!(h.scope, scope::HOST);

    // Delete in a table needs the table.
    let mut del = RouteSpec::new("10.40.0.0/16".parse().unwrap());
    assert!(nl.route_del(&del).unwrap_err().is_not_found());
    del.table = Some(100);
    nl.route_del(&del).unwrap();
    assert!(nl.routes(Family::V4, Some(100)).unwrap().is_empty());
}

#[test]
fn ecmp_like_the_reference() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let (nl, eth) = setup(&pod);
    // IPv6: the second gateway joins the first as a multipath route.
    let a = RouteSpec::via("::/0".parse().unwrap(), Some(ip("fd00:30::1")), eth);
    let b = RouteSpec::via("::/0".parse().unwrap(), Some(ip("fd00:30::3")), eth);
    nl.route_add_ecmp(&a).unwrap();
    nl.route_add_ecmp(&b).unwrap();
    let r = ip_routes(&pod, "-6");
    let d = find(&r, "default").unwrap();
    let hops: Vec<&str> = d["nexthops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["gateway"].as_str().unwrap())
        .collect();
    assert_eq!(hops, ["fd00:30::1", "fd00:30::3"], "{d}");
    let listed = nl.routes(Family::V6, Some(TABLE_MAIN)).unwrap();
    let def = listed.iter().find(|r| r.dst.prefix_len() == 0).unwrap();
    assert_eq!(def.gateways(), vec![ip("fd00:30::1"), ip("fd00:30::3")]);
    assert_eq!(def.multipath.len(), 2);
    assert!(def.multipath.iter().all(|h| h.oif == eth && h.weight == 1));
    // Adding an existing next hop again is EEXIST, not a third copy.
    assert!(nl.route_add_ecmp(&a).unwrap_err().is_exists());

    // IPv4: both routes are kept (the newer one first), as with the
    // reference; an exact duplicate fails.
    let a4 = RouteSpec::via("0.0.0.0/0".parse().unwrap(), Some(ip("10.30.0.1")), eth);
    let b4 = RouteSpec::via("0.0.0.0/0".parse().unwrap(), Some(ip("10.30.0.3")), eth);
    nl.route_add_ecmp(&a4).unwrap();
    nl.route_add_ecmp(&b4).unwrap();
    let gws: Vec<String> = ip_routes(&pod, "-4")
        .iter()
        .filter(|r| r["dst"] == "default")
        .map(|r| r["gateway"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(gws, ["10.30.0.3", "10.30.0.1"]);
    assert!(nl.route_add_ecmp(&a4).unwrap_err().is_exists());
    // Plain add refuses the second gateway; append keeps both.
    let c4 = RouteSpec::via("10.60.0.0/16".parse().unwrap(), Some(ip("10.30.0.1")), eth);
    let d4 = RouteSpec::via("10.60.0.0/16".parse().unwrap(), Some(ip("10.30.0.3")), eth);
    nl.route_add(&c4).unwrap();
    assert!(nl.route_add(&d4).unwrap_err().is_exists());
    nl.route_append(&d4).unwrap();
    let n = ip_routes(&pod, "-4")
        .iter()
        .filter(|r| r["dst"] == "10.60.0.0/16")
        .count();
    assert_eq!(n, 2);
}

#[test]
fn route_get_finds_the_output_interface() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let (nl, eth) = setup(&pod);
    let on_link = nl.route_get(ip("10.30.0.9")).unwrap();
    assert_eq!(on_link.oif, Some(eth));
    assert_eq!(on_link.src, Some(ip("10.30.0.2")));
    assert_eq!(on_link.gw, None);
    let e = nl.route_get(ip("192.0.2.1")).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENETUNREACH), "{e}");
    assert!(e.to_string().contains("get route to 192.0.2.1"), "{e}");
    nl.route_add(&RouteSpec::via(
        "0.0.0.0/0".parse().unwrap(),
        Some(ip("10.30.0.1")),
        eth,
    ))
    .unwrap();
    let via = nl.route_get(ip("192.0.2.1")).unwrap();
    assert_eq!(via.oif, Some(eth));
    assert_eq!(via.gw, Some(ip("10.30.0.1")));
    let v6 = nl.route_get(ip("fd00:30::7")).unwrap();
    assert_eq!(v6.oif, Some(eth));
    // Cross-check with iproute2.
    let j = pod.ip_json("route get 192.0.2.1");
    assert_eq!(j[0]["dev"], "eth0");
    assert_eq!(j[0]["gateway"], "10.30.0.1");
}

#[test]
fn hundreds_of_routes_in_one_dump() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let (nl, eth) = setup(&pod);
    for i in 0..500u32 {
        let dst = format!("10.{}.{}.0/24", 100 + i / 250, i % 250);
        nl.route_add(&RouteSpec::via(
            dst.parse().unwrap(),
            Some(ip("10.30.0.1")),
            eth,
        ))
        .unwrap();
    }
    let listed = nl.routes(Family::V4, Some(TABLE_MAIN)).unwrap();
    assert_eq!(
        listed
            .iter()
            .filter(|r| r.gw == Some(ip("10.30.0.1")))
            .count(),
        500
    );
    assert_eq!(ip_routes(&pod, "-4").len(), listed.len());
}
