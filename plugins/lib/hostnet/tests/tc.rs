//! Traffic control: TBF and ingress qdiscs, the u32 match-all filter with
//! mirred redirects, and ifb devices, each compared with what iproute2
//! (`tc -j`, `ip -j -d link`) shows, and iproute2's own objects read back
//! through hostnet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::{Netns, Sandbox};
use common::{flags, link, nl};
use hostnet::Netlink;
use hostnet::netlink::IfbSpec;
use hostnet::netlink::tc::{ETH_P_ALL, Handle, Redirect, Tbf, U32MatchAll, Verdict};
use serde_json::Value;

/// `tc -r -d -j qdisc show dev <dev>`: raw numbers (`burst_raw` is the
/// buffer in ticks, `limit` the limit in bytes).
fn tc_qdiscs(ns: &Netns, dev: &str) -> Vec<Value> {
    ns.tc_json(&format!("-r -d qdisc show dev {dev}"))
}

fn tc_filters(ns: &Netns, dev: &str) -> Vec<Value> {
    ns.tc_json(&format!("filter show dev {dev} parent ffff:"))
}

/// A sandbox whose host has a veth pair `h0`/`p0`, up; a netlink handle
/// on the host, and h0's index.
fn host_with_veth() -> (Sandbox, Netlink, u32) {
    let sb = Sandbox::new();
    sb.host
        .sh_ok("ip link add h0 type veth peer name p0 && ip link set h0 up && ip link set p0 up");
    let nl = nl(&sb.host);
    let h0 = nl.link_by_name("h0").unwrap().index;
    (sb, nl, h0)
}

#[test]
fn tbf_as_tc_shows_it_and_reads_back() {
    let (sb, nl, h0) = host_with_veth();
    let tbf = Tbf {
        rate: 1_250_000,
        limit: 156_250,
        buffer: 1_562_500,
    };
    nl.add_tbf(h0, Handle::new(1, 0), Handle::ROOT, &tbf)
        .unwrap();

    let q = tc_qdiscs(&sb.host, "h0");
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["kind"], "tbf");
    assert_eq!(q[0]["handle"], "1:");
    assert_eq!(q[0]["root"], true);
    assert_eq!(q[0]["options"]["rate"], 1_250_000);
    assert_eq!(q[0]["options"]["limit"], 156_250);
    assert_eq!(q[0]["options"]["burst_raw"], format!("{:x}", 1_562_500));
    // tc's own reading of the same numbers: 125000 bytes, 25 ms.
    assert_eq!(q[0]["options"]["burst"], "125000b/1");
    assert_eq!(q[0]["options"]["lat"], 25_000);

    let got = nl.qdisc(h0, Handle::ROOT).unwrap().unwrap();
    assert_eq!(got.kind, "tbf");
    assert_eq!(got.handle, Handle::new(1, 0));
    assert_eq!(got.parent, Handle::ROOT);
    assert_eq!(got.ifindex, h0);
    assert_eq!(got.tbf, Some(tbf));
    let all = nl.qdiscs(Some(h0)).unwrap();
    assert_eq!(all, vec![got.clone()]);
    assert!(nl.qdiscs(None).unwrap().contains(&got));

    let e = nl
        .add_tbf(h0, Handle::new(1, 0), Handle::ROOT, &tbf)
        .unwrap_err();
    assert!(e.is_exists(), "{e}");
    assert!(e.to_string().contains("add tbf qdisc 1:"), "{e}");

    nl.delete_qdisc(h0, Handle::ROOT).unwrap();
    let q = tc_qdiscs(&sb.host, "h0");
    assert_eq!(q[0]["kind"], "noqueue", "{q:?}");
    assert_eq!(nl.qdisc(h0, Handle::ROOT).unwrap().unwrap().kind, "noqueue");
    let e = nl.delete_qdisc(h0, Handle::ROOT).unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn tbf_made_by_tc_reads_back_with_tcs_numbers() {
    let (sb, nl, h0) = host_with_veth();
    sb.host
        .sh_ok("tc qdisc add dev h0 root handle 1: tbf rate 8kbit burst 1600 latency 50ms");
    let q = &tc_qdiscs(&sb.host, "h0")[0];
    let raw = u32::from_str_radix(q["options"]["burst_raw"].as_str().unwrap(), 16).unwrap();
    let got = nl.qdisc(h0, Handle::ROOT).unwrap().unwrap().tbf.unwrap();
    assert_eq!(got.rate, q["options"]["rate"].as_u64().unwrap());
    assert_eq!(got.rate, 1000);
    assert_eq!(
        u64::from(got.limit),
        q["options"]["limit"].as_u64().unwrap()
    );
    assert_eq!(got.buffer, raw);
}

#[test]
fn rates_past_32_bits_use_rate64() {
    let (sb, nl, h0) = host_with_veth();
    let tbf = Tbf {
        rate: 5_000_000_000,
        limit: 200_000_000,
        buffer: 100_000,
    };
    nl.add_tbf(h0, Handle::new(1, 0), Handle::ROOT, &tbf)
        .unwrap();
    let q = &tc_qdiscs(&sb.host, "h0")[0];
    assert_eq!(q["options"]["rate"], 5_000_000_000u64);
    assert_eq!(nl.qdisc(h0, Handle::ROOT).unwrap().unwrap().tbf, Some(tbf));
}

#[test]
fn a_tbf_the_kernel_refuses_names_the_qdisc() {
    let (sb, nl, h0) = host_with_veth();
    // A zero buffer makes a bucket that can hold no packet: EINVAL.
    let e = nl
        .add_tbf(
            h0,
            Handle::new(1, 0),
            Handle::ROOT,
            &Tbf {
                rate: 1000,
                limit: 10,
                buffer: 0,
            },
        )
        .unwrap_err();
    assert!(e.is_invalid(), "{e}");
    assert!(e.to_string().contains("link #"), "{e}");
    assert_eq!(tc_qdiscs(&sb.host, "h0")[0]["kind"], "noqueue");
    let e = nl
        .add_tbf(
            9999,
            Handle::new(1, 0),
            Handle::ROOT,
            &Tbf {
                rate: 1000,
                limit: 10,
                buffer: 10,
            },
        )
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn ifb_created_up_with_mtu_and_txqlen_zero() {
    let sb = Sandbox::new();
    let nl = nl(&sb.host);
    nl.create_ifb(&IfbSpec {
        name: "bwptest0",
        mtu: Some(1400),
        txqlen: Some(0),
        up: true,
    })
    .unwrap();
    let ifb = nl.link_by_name("bwptest0").unwrap();
    assert_eq!(ifb.kind.as_deref(), Some("ifb"));
    assert_eq!(ifb.mtu, 1400);
    assert!(ifb.up);
    assert!(ifb.mac.is_some());
    let j = link(&sb.host, "bwptest0");
    assert_eq!(j["linkinfo"]["info_kind"], "ifb");
    assert_eq!(j["mtu"], 1400);
    assert!(flags(&j).contains(&"UP".to_string()));
    // ip prints no "txqlen" for a queue length of 0.
    assert!(j.get("txqlen").is_none(), "{j}");
    assert_eq!(j["address"], ifb.mac.unwrap().to_string());

    let e = nl
        .create_ifb(&IfbSpec {
            name: "bwptest0",
            mtu: None,
            txqlen: None,
            up: false,
        })
        .unwrap_err();
    assert!(e.is_exists(), "{e}");

    // Defaults: the kernel's queue length, down.
    nl.create_ifb(&IfbSpec {
        name: "bwptest1",
        mtu: None,
        txqlen: None,
        up: false,
    })
    .unwrap();
    let j = link(&sb.host, "bwptest1");
    assert_eq!(j["txqlen"], 32);
    assert!(!flags(&j).contains(&"UP".to_string()));

    nl.delete_link_by_name("bwptest0").unwrap();
    assert!(sb.host.link("bwptest0").is_none());
    let e = nl.delete_link_by_name("bwptest0").unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("delete link \"bwptest0\""), "{e}");
}

fn redirect_filter(to: u32) -> U32MatchAll {
    U32MatchAll::redirect_to(
        Handle::INGRESS_HANDLE,
        1,
        Handle::new(1, 1),
        to,
        &[Verdict::Stolen, Verdict::Ok],
    )
}

#[test]
fn ingress_qdisc_and_u32_redirect_as_tc_shows_them() {
    let (sb, nl, h0) = host_with_veth();
    nl.create_ifb(&IfbSpec {
        name: "bwptest0",
        mtu: None,
        txqlen: Some(0),
        up: true,
    })
    .unwrap();
    let ifb = nl.link_by_name("bwptest0").unwrap();
    assert_eq!(nl.qdisc(h0, Handle::INGRESS).unwrap(), None);
    nl.add_ingress_qdisc(h0).unwrap();
    let q = tc_qdiscs(&sb.host, "h0");
    let ingress = q.iter().find(|q| q["kind"] == "ingress").unwrap();
    assert_eq!(ingress["handle"], "ffff:");
    assert_eq!(ingress["parent"], "ffff:fff1");
    let got = nl.qdisc(h0, Handle::INGRESS).unwrap().unwrap();
    assert_eq!(got.kind, "ingress");
    assert_eq!(got.handle, Handle::INGRESS_HANDLE);
    assert!(nl.add_ingress_qdisc(h0).unwrap_err().is_exists());

    nl.add_u32_match_all(h0, &redirect_filter(ifb.index))
        .unwrap();
    let f = tc_filters(&sb.host, "h0");
    let rule = f
        .iter()
        .find(|f| f["options"]["flowid"].is_string())
        .unwrap_or_else(|| panic!("no u32 rule in {f:?}"));
    assert_eq!(rule["protocol"], "all");
    assert_eq!(rule["pref"], 1);
    assert_eq!(rule["kind"], "u32");
    let o = &rule["options"];
    assert_eq!(o["flowid"], "1:1");
    assert_eq!(o["match"]["value"], "0");
    assert_eq!(o["match"]["mask"], "0");
    let acts = o["actions"].as_array().unwrap();
    assert_eq!(acts.len(), 2);
    for (a, (order, verdict)) in acts.iter().zip([(1, "stolen"), (2, "pass")]) {
        assert_eq!(a["order"], order);
        assert_eq!(a["kind"], "mirred");
        assert_eq!(a["mirred_action"], "redirect");
        assert_eq!(a["direction"], "egress");
        assert_eq!(a["to_dev"], "bwptest0");
        assert_eq!(a["control_action"]["type"], verdict);
    }

    let ours = nl.filters(h0, Handle::INGRESS_HANDLE).unwrap();
    let rule = ours.iter().find(|f| !f.redirects.is_empty()).unwrap();
    assert!(rule.is_match_all());
    assert_eq!(rule.prio, 1);
    assert_eq!(rule.protocol, ETH_P_ALL);
    assert_eq!(rule.classid, Some(Handle::new(1, 1)));
    assert_eq!(rule.parent, Handle::INGRESS_HANDLE);
    assert_eq!(rule.redirects, redirect_filter(ifb.index).redirects);

    // Deleting the ingress qdisc takes its filters along.
    nl.delete_qdisc(h0, Handle::INGRESS).unwrap();
    assert!(tc_filters(&sb.host, "h0").is_empty());
    assert!(nl.filters(h0, Handle::INGRESS_HANDLE).unwrap().is_empty());
    let e = nl.delete_qdisc(h0, Handle::INGRESS).unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn redirect_made_by_tc_reads_back() {
    let (sb, nl, h0) = host_with_veth();
    sb.host.sh_ok(
        "ip link add ifbx type ifb && tc qdisc add dev h0 handle ffff: ingress && \
         tc filter add dev h0 parent ffff: protocol all prio 3 u32 match u32 0 0 flowid 1:1 \
         action mirred egress redirect dev ifbx",
    );
    let ifbx = nl.link_by_name("ifbx").unwrap().index;
    let f = nl.filters(h0, Handle::INGRESS_HANDLE).unwrap();
    let rule = f.iter().find(|f| !f.redirects.is_empty()).unwrap();
    assert!(rule.is_match_all());
    assert_eq!(rule.prio, 3);
    assert_eq!(
        rule.redirects,
        vec![Redirect {
            ifindex: ifbx,
            verdict: Verdict::Stolen
        }]
    );
}

#[test]
fn redirect_to_a_missing_device_adds_nothing() {
    let (sb, nl, h0) = host_with_veth();
    nl.add_ingress_qdisc(h0).unwrap();
    let e = nl
        .add_u32_match_all(h0, &redirect_filter(9999))
        .unwrap_err();
    assert!(e.to_string().contains("redirecting to #9999"), "{e}");
    assert!(tc_filters(&sb.host, "h0").is_empty());
    // Filters of a device without an ingress qdisc: none.
    sb.host.sh_ok("ip link add h1 type veth peer name p1");
    let h1 = nl.link_by_name("h1").unwrap().index;
    assert!(nl.filters(h1, Handle::INGRESS_HANDLE).unwrap().is_empty());
}
