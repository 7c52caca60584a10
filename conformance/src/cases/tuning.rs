//! tuning, chained after bridge (as podman and nerdctl write it): ADD
//! sets the sysctls and link attributes and reports the MAC, CHECK passes
//! and notices drift, DEL restores the link before bridge removes it and
//! is idempotent, GC removes backups of attachments that are gone, STATUS
//! is ready, and bad input is refused with a spec code before anything
//! changes.

use libcni::Version;
use serde_json::{Value, json};

use super::{Problems, ensure, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::{Attachment, Ctx, describe};
use crate::net::Net;
use crate::shape::{expect_error, expect_success};
use crate::state::Snapshot;

const CHAINED: SpecNeed = SpecNeed::Run {
    min: Version::V0_3_0,
};
const V04: SpecNeed = SpecNeed::Run {
    min: Version::V0_4_0,
};
const V11: SpecNeed = SpecNeed::Fixed(Version::V1_1_0);
/// The MAC the `mac` capability asks for.
const MAC: &str = "0a:00:00:ab:cd:01";
const MTU: u64 = 1400;

pub fn cases() -> Vec<Case> {
    let n = needs("tuning");
    vec![
        Case::new("add/tuning/sets-mac-mtu-and-sysctls", CHAINED, n, add_sets),
        Case::new("check/tuning/passes-after-add", V04, n, check_passes),
        Case::new("check/tuning/fails-after-mtu-drift", V04, n, check_drift),
        Case::new(
            "del/tuning/restores-and-is-idempotent",
            V04,
            n,
            del_restores,
        ),
        Case::new("gc/tuning/removes-stale-backups", V11, n, gc_stale),
        Case::new("status/tuning/ready-on-fresh-node", V11, n, status_ready),
        Case::new(
            "bad-input/tuning/sysctl-outside-proc-sys-net",
            CHAINED,
            n,
            |c| refused(c, json!({"sysctl": {"kernel.domainname": "x"}})),
        ),
        Case::new("bad-input/tuning/numeric-sysctl-value", CHAINED, n, |c| {
            refused(c, json!({"sysctl": {"net.core.somaxconn": 128}}))
        }),
        Case::new("bad-input/tuning/dotdot-in-sysctl-key", CHAINED, n, |c| {
            refused(c, json!({"sysctl": {"net/../kernel/domainname": "x"}}))
        }),
        Case::new("bad-input/tuning/invalid-mac", CHAINED, n, |c| {
            // args.cni.mac wins over the `mac` capability.
            refused(c, json!({"args": {"cni": {"mac": "0a:00:00:zz:00:01"}}}))
        }),
    ]
}

/// bridge + tuning with the `mac` capability, `mtu` and two sysctls, its
/// backups in the case's own directory.
fn net(ctx: &Ctx) -> Net {
    let data = ctx.sb.subdir("tuning");
    let mut n = ctx.bridge_net();
    if let Some(p) = n.list["plugins"].as_array_mut() {
        p.push(json!({
            "type": "tuning",
            "capabilities": {"mac": true},
            "mtu": MTU,
            "sysctl": {"net.ipv4.conf.eth0.arp_ignore": "1", "net.core.somaxconn": "4096"},
            "dataDir": data.to_string_lossy(),
        }));
    }
    n
}

fn attach(ctx: &Ctx, pod: &cni_sandbox::Netns) -> Attachment {
    let mut att = ctx.attachment(pod);
    att.runtime.insert("mac".into(), json!(MAC));
    att
}

fn pod_link(pod: &cni_sandbox::Netns) -> Result<Value, String> {
    pod.link("eth0")
        .ok_or_else(|| "the pod has no eth0".to_string())
}

fn add_sets(ctx: &Ctx) -> CaseResult {
    let pod = ctx.pod();
    let net = net(ctx);
    let att = attach(ctx, &pod);
    let result = ctx.add(&net, &att)?;
    let mut p = Problems::default();
    let l = pod_link(&pod)?;
    p.note(ensure(l["address"] == MAC, || {
        format!("eth0 has MAC {}, the capability asked {MAC}", l["address"])
    }));
    p.note(ensure(l["mtu"] == MTU, || {
        format!("eth0 has MTU {}, the config asked {MTU}", l["mtu"])
    }));
    for (k, v) in [
        ("net/ipv4/conf/eth0/arp_ignore", "1"),
        ("net/core/somaxconn", "4096"),
    ] {
        let got = pod.sysctl(k);
        p.note(ensure(got == v, || {
            format!("{k} is {got}, the config asked {v}")
        }));
    }
    if ctx.version >= Version::V0_3_0 {
        let reported = result["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["name"] == "eth0" && i.get("sandbox").is_some())
            .map(|i| i["mac"].clone());
        p.note(ensure(reported == Some(json!(MAC)), || {
            format!("the result reports eth0 with MAC {reported:?}, not {MAC}")
        }));
    }
    p.into_result()
}

fn check_passes(ctx: &Ctx) -> CaseResult {
    let pod = ctx.pod();
    let net = net(ctx);
    let att = attach(ctx, &pod);
    let result = ctx.add(&net, &att)?;
    ctx.check_ok(&net, &att, &result)
}

fn check_drift(ctx: &Ctx) -> CaseResult {
    let pod = ctx.pod();
    let net = net(ctx);
    let att = attach(ctx, &pod);
    let result = ctx.add(&net, &att)?;
    pod.sh_ok("ip link set eth0 mtu 1300");
    let run = ctx.exec_plugin(&net, 1, "CHECK", &att, Some(&result));
    expect_error(&run, &[]).map(|_| ())
}

fn del_restores(ctx: &Ctx) -> CaseResult {
    let pod = ctx.pod();
    let net = net(ctx);
    let att = attach(ctx, &pod);
    // The bridge device outlives its pods: make it before the snapshot.
    let bridge = Net::bridge(ctx.version, &ctx.data_dir);
    let warm_pod = ctx.pod();
    let warm = ctx.attachment(&warm_pod);
    let warm_result = ctx.add_ok(&bridge, &warm)?;
    ctx.del(&bridge, &warm, Some(&warm_result))?;
    let snap = Snapshot::take(ctx);
    // The bridge first, to see the link as tuning finds it.
    let prev = ctx.add_ok(&bridge, &att)?;
    let untuned = pod_link(&pod)?;
    let run = ctx.exec_plugin(&net, 1, "ADD", &att, Some(&prev));
    let result = expect_success(&run, "tuning ADD")?;
    // tuning's DEL alone (it runs first in a list's DEL) restores the
    // link the bridge still has; a second one changes nothing.
    for what in ["tuning DEL", "a second tuning DEL"] {
        let run = ctx.exec_plugin(&net, 1, "DEL", &att, Some(&result));
        expect_success(&run, what)?;
        let l = pod_link(&pod)?;
        ensure(
            l["mtu"] == untuned["mtu"] && l["address"] == untuned["address"],
            || {
                format!(
                    "after {what} eth0 has MTU {} and MAC {}; before tuning: {} and {}",
                    l["mtu"], l["address"], untuned["mtu"], untuned["address"]
                )
            },
        )?;
    }
    ensure(backups(ctx).is_empty(), || {
        format!("backups left after DEL: {:?}", backups(ctx))
    })?;
    ctx.del(&net, &att, Some(&result))?;
    ctx.del(&net, &att, Some(&result))
        .map_err(|e| format!("DEL is not idempotent: {e}"))?;
    snap.expect_same(&Snapshot::take(ctx), "after ADD and DEL")
}

fn backups(ctx: &Ctx) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(ctx.sb.dir().join("tuning"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn gc_stale(ctx: &Ctx) -> CaseResult {
    let (pod1, pod2) = (ctx.pod(), ctx.pod());
    let net = net(ctx);
    let (a1, a2) = (attach(ctx, &pod1), attach(ctx, &pod2));
    ctx.add(&net, &a1)?;
    ctx.add(&net, &a2)?;
    ensure(backups(ctx).len() == 2, || {
        format!("expected two backups after two ADDs: {:?}", backups(ctx))
    })?;
    ctx.gc(&net, &[&a1], &["cni.dev/valid-attachments"])?;
    let left = backups(ctx);
    let keep = format!("{}_eth0.json", a1.id);
    ensure(left == [keep.clone()], || {
        format!("after GC keeping {keep} the backups are {left:?}")
    })
}

fn status_ready(ctx: &Ctx) -> CaseResult {
    let net = net(ctx);
    let run = ctx.status(&net, 1);
    expect_success(&run, "tuning STATUS").map(|_| ())
}

/// tuning with `bad` keys (on top of the good ones) after a real bridge
/// ADD: a spec error code (7 for the config, 6 for JSON it cannot
/// decode), and the pod unchanged.
fn refused(ctx: &Ctx, bad: Value) -> CaseResult {
    let pod = ctx.pod();
    let mut net = net(ctx);
    if let (Some(t), Some(bad)) = (net.list["plugins"][1].as_object_mut(), bad.as_object()) {
        for (k, v) in bad {
            match (k.as_str(), t.get_mut(k)) {
                ("sysctl", Some(Value::Object(s))) => {
                    s.extend(v.as_object().cloned().unwrap_or_default());
                }
                _ => {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let att = attach(ctx, &pod);
    let bridge = Net::bridge(ctx.version, &ctx.data_dir);
    let prev = ctx.add_ok(&bridge, &att)?;
    let before = (pod_link(&pod)?, pod.sysctl("net/core/somaxconn"));
    let run = ctx.exec_plugin(&net, 1, "ADD", &att, Some(&prev));
    let e = expect_error(&run, &[6, 7])?;
    let after = (pod_link(&pod)?, pod.sysctl("net/core/somaxconn"));
    ensure(before == after, || {
        format!(
            "the refused ADD ({}) changed the pod: {}",
            e.msg,
            describe(&run)
        )
    })
}
