//! flannel, as kube-flannel and k3s run it (the first plugin of the list,
//! delegating to bridge + host-local): ADD gives the pod the node's subnet
//! from `subnet.env`, CHECK reaches the delegate, DEL is complete and
//! idempotent, GC reaches host-local, STATUS follows `subnet.env`, a node
//! whose flanneld has not written it yet gets "try again later", and a
//! `delegate` that sets what flannel owns is refused before anything
//! changes.

use libcni::Version;
use serde_json::json;

use super::{ensure, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::Ctx;
use crate::net::{BRIDGE, GATEWAY4, Net};
use crate::shape::{expect_error, expect_success};
use crate::state::Snapshot;

const ANY: SpecNeed = SpecNeed::Run {
    min: Version::V0_1_0,
};
const V04: SpecNeed = SpecNeed::Run {
    min: Version::V0_4_0,
};
const V11: SpecNeed = SpecNeed::Fixed(Version::V1_1_0);
/// What flanneld writes for this node: the case's subnet inside a /16.
const SUBNET_ENV: &str = "FLANNEL_NETWORK=10.77.0.0/16\nFLANNEL_SUBNET=10.77.0.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

pub fn cases() -> Vec<Case> {
    let n = needs("flannel");
    vec![
        Case::new("add/flannel/pod-gets-the-lease", ANY, n, add_lease),
        Case::new(
            "add/flannel/try-again-without-subnet-env",
            ANY,
            n,
            add_without_env,
        ),
        Case::new("check/flannel/reaches-the-delegate", V04, n, check_delegate),
        Case::new("del/flannel/complete-and-idempotent", ANY, n, del_complete),
        Case::new("gc/flannel/reaches-host-local", V11, n, gc_ipam),
        Case::new("status/flannel/follows-subnet-env", V11, n, status_env),
        Case::new("bad-input/flannel/delegate-sets-name", ANY, n, |c| {
            let net = net(c).set("/plugins/0/delegate/name", json!("x"));
            let pod = c.pod();
            let att = c.attachment(&pod);
            let snap = Snapshot::take(c);
            let run = c.exec_plugin(&net, 0, "ADD", &att, None);
            expect_error(&run, &[7])?;
            snap.expect_same(&Snapshot::take(c), "after the refused ADD")
        }),
    ]
}

/// kube-flannel's flannel entry with the case's bridge name, IPAM store,
/// `subnet.env` and dataDir (written now).
fn net(ctx: &Ctx) -> Net {
    let run = ctx.sb.subdir("flannel-run");
    let env = run.join("subnet.env");
    if !env.exists() {
        let _ = std::fs::write(&env, SUBNET_ENV);
    }
    Net::new(
        ctx.version,
        vec![json!({
            "type": "flannel",
            "subnetFile": env.to_string_lossy(),
            "dataDir": ctx.sb.subdir("flannel-data").to_string_lossy(),
            "delegate": {"bridge": BRIDGE, "hairpinMode": true, "isDefaultGateway": true},
            "ipam": {"dataDir": ctx.data_dir.to_string_lossy()},
        })],
    )
}

fn add_lease(ctx: &Ctx) -> CaseResult {
    let pod = ctx.pod();
    let att = ctx.attachment(&pod);
    ctx.add(&net(ctx), &att)?;
    let addrs = pod.addrs("eth0");
    ensure(addrs.iter().any(|a| a.starts_with("10.77.0.")), || {
        format!("eth0 has {addrs:?}, not an address of FLANNEL_SUBNET 10.77.0.0/24")
    })?;
    let mtu = pod.link("eth0").map(|l| l["mtu"].clone());
    ensure(mtu == Some(json!(1450)), || {
        format!("eth0 has MTU {mtu:?}, FLANNEL_MTU is 1450")
    })?;
    let routes = pod.sh_ok("ip -4 route show");
    ensure(
        routes.contains(&format!("10.77.0.0/16 via {GATEWAY4}")),
        || format!("no route to FLANNEL_NETWORK via the bridge: {routes}"),
    )
}

fn add_without_env(ctx: &Ctx) -> CaseResult {
    let net = net(ctx);
    let _ = std::fs::remove_file(ctx.sb.dir().join("flannel-run/subnet.env"));
    let pod = ctx.pod();
    let att = ctx.attachment(&pod);
    let snap = Snapshot::take(ctx);
    let run = ctx.exec_plugin(&net, 0, "ADD", &att, None);
    expect_error(&run, &[11])?;
    snap.expect_same(&Snapshot::take(ctx), "after ADD without subnet.env")
}

fn check_delegate(ctx: &Ctx) -> CaseResult {
    let pod = ctx.pod();
    let net = net(ctx);
    let att = ctx.attachment(&pod);
    let result = ctx.add(&net, &att)?;
    ctx.check_ok(&net, &att, &result)?;
    pod.sh_ok("ip addr flush dev eth0");
    let run = ctx.exec_plugin(&net, 0, "CHECK", &att, Some(&result));
    expect_error(&run, &[]).map(|_| ())
}

fn del_complete(ctx: &Ctx) -> CaseResult {
    let net = net(ctx);
    // The bridge outlives its pods: make it before the snapshot.
    let warm_pod = ctx.pod();
    let warm = ctx.attachment(&warm_pod);
    let r = ctx.add_ok(&net, &warm)?;
    ctx.del(&net, &warm, Some(&r))?;
    let snap = Snapshot::take(ctx);
    let pod = ctx.pod();
    let att = ctx.attachment(&pod);
    let result = ctx.add(&net, &att)?;
    ctx.del(&net, &att, Some(&result))?;
    ctx.del(&net, &att, Some(&result))
        .map_err(|e| format!("DEL is not idempotent: {e}"))?;
    let saved = std::fs::read_dir(ctx.sb.dir().join("flannel-data"))
        .map(|d| d.count())
        .unwrap_or(0);
    ensure(saved == 0, || {
        format!("{saved} saved delegate configs left")
    })?;
    snap.expect_same(&Snapshot::take(ctx), "after ADD and DEL")
}

fn gc_ipam(ctx: &Ctx) -> CaseResult {
    let (pod1, pod2) = (ctx.pod(), ctx.pod());
    let net = net(ctx);
    let (a1, a2) = (ctx.attachment(&pod1), ctx.attachment(&pod2));
    ctx.add(&net, &a1)?;
    ctx.add(&net, &a2)?;
    ctx.gc(&net, &[&a1], &["cni.dev/valid-attachments"])?;
    let leases = cni_sandbox::ipam_records(&ctx.data_dir.join(crate::net::NET_NAME));
    ensure(
        leases.len() == 1 && leases.values().all(|r| r.starts_with(&a1.id)),
        || format!("after GC keeping {} the leases are {leases:?}", a1.id),
    )
}

fn status_env(ctx: &Ctx) -> CaseResult {
    let net = net(ctx);
    expect_success(&ctx.status(&net, 0), "flannel STATUS with a lease")?;
    std::fs::remove_file(ctx.sb.dir().join("flannel-run/subnet.env"))
        .map_err(|e| format!("harness: {e}"))?;
    expect_error(&ctx.status(&net, 0), &[50]).map(|_| ())
}
