//! The bandwidth plugin chained after bridge, as k3s and CRI-O chain it
//! (chained-plugins.md §3): ADD shapes the host veth with a TBF and the
//! pod's egress through an ifb listed in the result, configured at the
//! top level or through the `bandwidth` capability; CHECK passes after ADD
//! and sees drift; DEL removes the ifb, without the netns and twice; GC
//! removes an orphaned ifb; bad input is a clean error that makes nothing;
//! real traffic runs at the configured rate.
//!
//! Expected TBF numbers follow the reference's formula: rate/8 bytes per
//! second, a buffer of burst/rate seconds in 64 ns ticks, and a limit of
//! 25 ms at the rate plus the burst.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use cni_sandbox::{Netns, tcp_best_rate};
use libcni::Version;
use serde_json::{Value, json};

use super::{ensure, first_v4, needs, run_min};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::{Attachment, Ctx, describe};
use crate::net::{GATEWAY4, Net, plugin_conf};
use crate::shape::{expect_error, expect_success};
use crate::state::Snapshot;

/// 8 Mbit/s with a 100 KB burst: 1000000 B/s, buffer 0.1 s = 1562500
/// ticks, limit 25000 + 100000 bytes.
const RATE: u64 = 8_000_000;
const BURST: u64 = 800_000;
const RATE_BYTES: u64 = 1_000_000;
const BUFFER_TICKS: u64 = 1_562_500;
const LIMIT: u64 = 125_000;

fn limits() -> Value {
    json!({"ingressRate": RATE, "ingressBurst": BURST, "egressRate": RATE, "egressBurst": BURST})
}

pub fn cases() -> Vec<Case> {
    let p = needs("bandwidth");
    let s = run_min("bandwidth");
    let chk = SpecNeed::Run {
        min: Version::V0_4_0,
    };
    let v11 = SpecNeed::Fixed(Version::V1_1_0);
    vec![
        Case::new("add/bandwidth/shapes-veth-and-ifb", s, p, |c| {
            shapes(c, false)
        }),
        Case::new("add/bandwidth/capability-runtime-config", s, p, |c| {
            shapes(c, true)
        }),
        Case::new(
            "add/bandwidth/no-limits-passes-result-through",
            s,
            p,
            pass_through,
        ),
        Case::new("del/bandwidth/removes-ifb-twice", s, p, |c| del(c, false)),
        Case::new("del/bandwidth/without-netns", s, p, |c| del(c, true)),
        Case::new("check/bandwidth/passes-after-add", chk, p, check_passes),
        Case::new("check/bandwidth/fails-after-tbf-drift", chk, p, |c| {
            check_drift(
                c,
                "tc qdisc change dev {ifb} root handle 1: tbf rate 1mbit burst 10kb latency 25ms",
            )
        }),
        Case::new("check/bandwidth/fails-after-filter-drift", chk, p, |c| {
            check_drift(c, "tc filter del dev {veth} parent ffff:")
        }),
        Case::new(
            "check/bandwidth/passes-without-limits",
            chk,
            p,
            check_no_limits,
        ),
        Case::new("gc/bandwidth/removes-orphaned-ifb", v11, p, gc_orphan),
        Case::new("status/bandwidth/ready-on-fresh-node", v11, p, status),
        Case::new("bad-input/bandwidth/burst-without-rate", s, p, |c| {
            reject(c, json!({"egressBurst": BURST}), "eth0")
        }),
        Case::new("bad-input/bandwidth/burst-over-4gb", s, p, |c| {
            reject(
                c,
                json!({"ingressRate": RATE, "ingressBurst": 34_359_738_360u64}),
                "eth0",
            )
        }),
        Case::new("bad-input/bandwidth/not-a-veth", s, p, |c| {
            reject(c, limits(), "lo")
        }),
        Case::new("datapath/bandwidth/rate-limited-both-ways", s, p, traffic),
    ]
}

/// bridge (+ host-local), then bandwidth with `keys`.
fn net(c: &Ctx, keys: Value) -> Net {
    let mut n = c.bridge_net();
    let mut bw = json!({"type": "bandwidth"});
    if let (Some(o), Value::Object(k)) = (bw.as_object_mut(), keys) {
        o.extend(k);
    }
    if let Some(p) = n.list["plugins"].as_array_mut() {
        p.push(bw);
    }
    n
}

/// The interfaces of a result: (name, has a sandbox).
fn interfaces(r: &Value) -> Vec<(String, bool)> {
    r["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or_default().to_string(),
                i.get("sandbox").is_some_and(|s| s != ""),
            )
        })
        .collect()
}

/// The host veth of a bridge result (host side, not the bridge, not an
/// ifb) and the ifb the bandwidth plugin listed, if any.
fn veth_and_ifb(r: &Value) -> (Option<String>, Option<String>) {
    let host: Vec<String> = interfaces(r)
        .into_iter()
        .filter(|(_, sandboxed)| !sandboxed)
        .map(|(n, _)| n)
        .filter(|n| n != crate::net::BRIDGE)
        .collect();
    let ifb = host.iter().find(|n| n.starts_with("bwp")).cloned();
    let veth = host.into_iter().find(|n| !n.starts_with("bwp"));
    (veth, ifb)
}

/// The root qdisc of `dev` in the fake host is a TBF with the expected
/// raw numbers.
fn tbf_ok(c: &Ctx, dev: &str) -> CaseResult {
    let root = c
        .host()
        .tc_json(&format!("-r -d qdisc show dev {dev}"))
        .into_iter()
        .find(|q| q["root"] == true)
        .ok_or_else(|| format!("{dev} has no root qdisc"))?;
    let o = &root["options"];
    let buffer = o["burst_raw"]
        .as_str()
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    ensure(
        root["kind"] == "tbf"
            && o["rate"] == RATE_BYTES
            && o["limit"] == LIMIT
            && buffer == Some(BUFFER_TICKS),
        || {
            format!(
                "{dev}: expected TBF rate {RATE_BYTES} B/s, limit {LIMIT} B, buffer \
                 {BUFFER_TICKS} ticks; found {root}"
            )
        },
    )
}

/// A filter on `veth`'s ingress redirects to `ifb`.
fn redirect_ok(c: &Ctx, veth: &str, ifb: &str) -> CaseResult {
    let f = c
        .host()
        .tc_json(&format!("filter show dev {veth} parent ffff:"));
    let to = |f: &Value| {
        f["options"]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["kind"] == "mirred" && a["to_dev"] == ifb)
    };
    ensure(f.iter().any(to), || {
        format!("no filter on the ingress of {veth} redirects to {ifb}: {f:?}")
    })
}

/// ADD the chain; the result, host veth and ifb.
fn add(c: &Ctx, n: &Net, att: &Attachment) -> Result<(Value, String, String), String> {
    let r = c.add(n, att)?;
    let (veth, ifb) = veth_and_ifb(&r);
    let veth = veth.ok_or_else(|| format!("the result lists no host veth: {r}"))?;
    let ifb = ifb.ok_or_else(|| format!("the result lists no bwp* ifb: {r}"))?;
    Ok((r, veth, ifb))
}

fn shapes(c: &Ctx, capability: bool) -> CaseResult {
    let pod = c.pod();
    let mut att = c.attachment(&pod);
    let n = if capability {
        att.runtime.insert("bandwidth".into(), limits());
        net(c, json!({"capabilities": {"bandwidth": true}}))
    } else {
        net(c, limits())
    };
    let (_, veth, ifb) = add(c, &n, &att)?;
    let link = c
        .host()
        .link(&ifb)
        .ok_or_else(|| format!("the result lists {ifb}, but the host has no such link"))?;
    ensure(link["linkinfo"]["info_kind"] == "ifb", || {
        format!("{ifb} is not an ifb: {link}")
    })?;
    tbf_ok(c, &veth)?;
    tbf_ok(c, &ifb)?;
    redirect_ok(c, &veth, &ifb)
}

fn pass_through(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let n = net(c, json!({}));
    let bridge_only = c.bridge_net();
    let pod2 = c.pod();
    let r = c.add(&n, &att)?;
    let plain = c.add(&bridge_only, &c.attachment(&pod2))?;
    let (veth, ifb) = veth_and_ifb(&r);
    ensure(ifb.is_none(), || format!("an ifb without limits: {r}"))?;
    ensure(interfaces(&r).len() == interfaces(&plain).len(), || {
        format!("bandwidth changed the interfaces: {r}")
    })?;
    let veth = veth.ok_or_else(|| format!("no host veth in {r}"))?;
    let q = c.host().tc_json(&format!("qdisc show dev {veth}"));
    ensure(q.iter().all(|q| q["kind"] == "noqueue"), || {
        format!("qdiscs on {veth} without limits: {q:?}")
    })
}

fn del(c: &Ctx, without_netns: bool) -> CaseResult {
    let pod = c.pod();
    let mut att = c.attachment(&pod);
    let n = net(c, limits());
    let (r, _, ifb) = add(c, &n, &att)?;
    if without_netns {
        pod.remove();
        att.netns = String::new();
    }
    c.del(&n, &att, Some(&r))?;
    ensure(c.host().link(&ifb).is_none(), || {
        format!("{ifb} is still there after DEL")
    })?;
    c.del(&n, &att, Some(&r))
        .map_err(|e| format!("a second DEL: {e}"))
}

fn check_passes(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let n = net(c, limits());
    let (r, _, _) = add(c, &n, &att)?;
    c.check_ok(&n, &att, &r)
}

/// CHECK after `script` (with `{veth}` and `{ifb}` filled in) fails.
fn check_drift(c: &Ctx, script: &str) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let n = net(c, limits());
    let (r, veth, ifb) = add(c, &n, &att)?;
    c.check_ok(&n, &att, &r)?;
    c.host()
        .sh_ok(&script.replace("{veth}", &veth).replace("{ifb}", &ifb));
    let run = c.exec_plugin(&n, 1, "CHECK", &att, Some(&r));
    expect_error(&run, &[]).map(|_| ())
}

/// Without limits there is nothing to check (the reference up to v1.9.0
/// crashes here, plugins#1221).
fn check_no_limits(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let n = net(c, json!({}));
    let r = c.add(&n, &att)?;
    c.check_ok(&n, &att, &r)
}

/// An attachment whose veth went away without DEL: GC with an empty
/// valid list removes its ifb.
fn gc_orphan(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let n = net(c, limits());
    let (_, veth, ifb) = add(c, &n, &att)?;
    c.host().sh_ok(&format!("ip link del {veth}"));
    c.gc(&n, &[], &["cni.dev/valid-attachments"])?;
    ensure(c.host().link(&ifb).is_none(), || {
        format!("GC left the orphaned {ifb}")
    })
}

fn status(c: &Ctx) -> CaseResult {
    let n = net(c, limits());
    let run = c.status(&n, 1);
    expect_success(&run, "bandwidth STATUS").map(|_| ())
}

/// Bandwidth ADD with `keys` on CNI_IFNAME `ifname`, after bridge made
/// the pod: code 6 or 7, and nothing more on the node than bridge made.
fn reject(c: &Ctx, keys: Value, ifname: &str) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let prev = c.add(&c.bridge_net(), &att)?;
    let n = net(c, keys);
    let before = Snapshot::take(c);
    let (veth, _) = veth_and_ifb(&prev);
    let mut bad = att.clone();
    bad.ifname = ifname.to_string();
    let conf = plugin_conf(&n, &n.plugins()[1], &att.runtime, Some(&prev));
    let run = c.exec("bandwidth", &c.call("ADD", &bad), &conf.to_string());
    expect_error(&run, &[6, 7])?;
    before.expect_same(&Snapshot::take(c), "after the rejected ADD")?;
    let veth = veth.ok_or_else(|| format!("no host veth in {prev}"))?;
    let q = c.host().tc_json(&format!("qdisc show dev {veth}"));
    ensure(q.iter().all(|q| q["kind"] == "noqueue"), || {
        format!(
            "the rejected ADD left qdiscs on {veth}: {q:?} ({})",
            describe(&run)
        )
    })
}

/// TCP from the pod to the gateway and back, shaped at 4 Mbit/s with a
/// 125 KB bucket: the payload rate past the bucket is within ±35 %.
fn traffic(c: &Ctx) -> CaseResult {
    const RATE: u64 = 4_000_000;
    const BURST_BYTES: usize = 125_000;
    const BYTES: usize = 600_000;
    let pod = c.pod();
    let att = c.attachment(&pod);
    let n = net(
        c,
        json!({"ingressRate": RATE, "ingressBurst": BURST_BYTES * 8,
               "egressRate": RATE, "egressBurst": BURST_BYTES * 8}),
    );
    let r = c.add(&n, &att)?;
    let ip = first_v4(&r, c.version)?;
    let gw: IpAddr = GATEWAY4.parse().map_err(|_| "bad gateway".to_string())?;
    let measure = |from: &Netns, to: &Netns, at: SocketAddr, what: &str| -> CaseResult {
        let want = RATE as f64;
        let got = tcp_best_rate(
            from,
            to,
            at,
            BYTES,
            BURST_BYTES,
            Duration::from_secs(20),
            0.65 * want,
        )
        .map_err(|e| format!("{what}: {e}"))?;
        ensure((0.65 * want..=1.35 * want).contains(&got), || {
            format!("{what}: {got:.0} bit/s, configured {want:.0}")
        })
    };
    measure(c.host(), &pod, SocketAddr::new(ip, 7300), "into the pod")?;
    measure(&pod, c.host(), SocketAddr::new(gw, 7301), "out of the pod")
}
