//! GC and STATUS (SPEC.md "GC" and "STATUS", 1.1.0).
//!
//! GC gets `cni.dev/valid-attachments` (libcni also sends the older key
//! `cni.dev/attachments`): state of every attachment not listed is removed
//! (store records, masquerade and host port rules), state of listed ones
//! is untouched, and GC is not a DEL (interfaces stay). STATUS exits 0
//! only when an ADD would work, else error 50 or 51.

use libcni::Version;
use serde_json::json;

use super::{ALL, Single, ensure, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::Ctx;
use crate::net::Net;
use crate::shape::{expect_error, expect_success};
use crate::state::{Snapshot, summarize};

const V11: SpecNeed = SpecNeed::Fixed(Version::V1_1_0);
const BOTH: [&str; 2] = ["cni.dev/valid-attachments", "cni.dev/attachments"];

pub fn cases() -> Vec<Case> {
    let mut v = vec![
        Case::new(
            "gc/chain/removes-stale-keeps-valid",
            V11,
            needs("portmap"),
            stale_and_valid,
        ),
        Case::new(
            "gc/chain/all-valid-changes-nothing",
            V11,
            needs("portmap"),
            all_valid,
        ),
        Case::new(
            "gc/host-local/valid-attachments-key",
            V11,
            needs("host-local"),
            |c| host_local_key(c, "cni.dev/valid-attachments"),
        ),
        Case::new(
            "gc/host-local/legacy-attachments-key",
            V11,
            needs("host-local"),
            |c| host_local_key(c, "cni.dev/attachments"),
        ),
    ];
    for p in ALL {
        v.push(Case::new(
            format!("gc/{p}/fresh-node"),
            V11,
            needs(p),
            move |c| fresh_gc(c, p),
        ));
    }
    for p in ALL {
        v.push(Case::new(
            format!("status/{p}/ready-on-fresh-node"),
            V11,
            needs(p),
            move |c| status_ready(c, p),
        ));
    }
    for p in ["bridge", "host-local"] {
        v.push(Case::new(
            format!("status/{p}/unusable-data-dir"),
            V11,
            needs(p),
            move |c| status_unusable(c, p),
        ));
    }
    v.push(Case::new(
        "status/host-local/exhausted-range",
        V11,
        needs("host-local"),
        status_exhausted,
    ));
    v
}

/// Two pods with host ports; GC listing only the second one must bring
/// the firewall and the store back to what they were with only the second
/// pod attached.
fn stale_and_valid(c: &Ctx) -> CaseResult {
    let net = c.portmap_net();
    let (pod_v, pod_s) = (c.pod(), c.pod());
    let valid = c.attachment(&pod_v).map_port(18081, 81, "tcp");
    let stale = c.attachment(&pod_s).map_port(18080, 80, "tcp");
    c.add_ok(&net, &valid)?;
    let only_valid = Snapshot::take(c);
    c.add_ok(&net, &stale)?;
    c.gc(&net, &[&valid], &BOTH)?;
    let after = Snapshot::take(c);
    summarize(
        "after GC, firewall/store differ from the state with only the valid pod",
        only_valid.diff_firewall_store(&after),
    )?;
    ensure(pod_s.link_names().len() > 1, || {
        "GC removed the stale pod's interface: GC is not a DEL".into()
    })
}

fn all_valid(c: &Ctx) -> CaseResult {
    let net = c.portmap_net();
    let (pa, pb) = (c.pod(), c.pod());
    let a = c.attachment(&pa).map_port(18081, 81, "tcp");
    let b = c.attachment(&pb).map_port(18080, 80, "udp");
    c.add_ok(&net, &a)?;
    c.add_ok(&net, &b)?;
    let before = Snapshot::take(c);
    c.gc(&net, &[&a, &b], &BOTH)?;
    before.expect_same(
        &Snapshot::take(c),
        "GC with every attachment valid changed the host",
    )
}

/// host-local reads either key on its own.
fn host_local_key(c: &Ctx, key: &str) -> CaseResult {
    let net = c.host_local_net();
    let pod = c.pod();
    let (a, b) = (c.attachment(&pod), c.attachment(&pod));
    c.add_ok(&net, &a)?;
    let only_a = Snapshot::take(c);
    c.add_ok(&net, &b)?;
    c.gc(&net, &[&a], &[key])?;
    summarize(
        &format!("GC with only {key}: store differs from the state with only the valid lease"),
        only_a.diff_firewall_store(&Snapshot::take(c)),
    )
}

fn fresh_gc(c: &Ctx, p: &str) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    let single = Single::new(c, p, &att)?;
    let one = Net::new(c.version, vec![single.net.plugins()[single.idx].clone()]);
    c.gc(&one, &[], &BOTH)
}

fn status_ready(c: &Ctx, p: &str) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    let single = Single::new(c, p, &att)?;
    let run = c.status(&single.net, single.idx);
    expect_success(&run, "STATUS on a fresh node").map(|_| ())
}

/// STATUS and ADD must agree: exit 0 promises that ADD works (SPEC.md
/// "STATUS"); when it would not, the answer is error 50 or 51.
fn status_agrees_with_add(c: &Ctx, net: &Net, what: &str) -> CaseResult {
    let run = c.status(net, 0);
    if run.ok() {
        let pod = c.pod();
        let att = c.attachment(&pod);
        c.add(net, &att)
            .map(|_| ())
            .map_err(|e| format!("STATUS said ready with {what}, but ADD failed: {e}"))
    } else {
        expect_error(&run, &[50, 51]).map(|_| ())
    }
}

fn status_unusable(c: &Ctx, p: &str) -> CaseResult {
    let file = c.sb.dir().join("a-file");
    std::fs::write(&file, "x").map_err(|e| e.to_string())?;
    let data_dir = file.join("store");
    let net = if p == "bridge" {
        c.bridge_net()
    } else {
        c.host_local_net()
    }
    .set("/plugins/0/ipam/dataDir", json!(data_dir.to_string_lossy()));
    status_agrees_with_add(c, &net, "a dataDir that cannot be created")
}

fn status_exhausted(c: &Ctx) -> CaseResult {
    // A /30 has one address besides the gateway.
    let net = c.host_local_net().set(
        "/plugins/0/ipam/ranges",
        json!([[{"subnet": "10.79.0.0/30"}]]),
    );
    let pod = c.pod();
    c.add_ok(&net, &c.attachment(&pod))?;
    status_agrees_with_add(c, &net, "every address of the range leased")
}
