//! DEL (SPEC.md "DEL"): idempotent — it succeeds twice, without
//! `prevResult`, with `CNI_NETNS=""`, after the netns or the interface is
//! gone, and for a container never added — and complete: once it returns,
//! the host is exactly as before the ADD (links, addresses, routes,
//! iptables/nftables state, store records), with a neighbour pod kept
//! attached so that shared top-level state exists before and after; and
//! best-effort: with the IPAM plugin out of reach, bridge DEL still removes
//! its own state and reports the lease it could not release.

use std::time::{Duration, Instant};

use cni_sandbox::Netns;
use libcni::Version;
use serde_json::Value;

use super::{ensure, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::{Attachment, Ctx};
use crate::net::{Net, plugin_conf};
use crate::shape::expect_error;
use crate::state::{Snapshot, pod_is_empty, store_records};

pub fn cases() -> Vec<Case> {
    let chain = SpecNeed::Run {
        min: Version::V0_3_0,
    };
    let with_prev = SpecNeed::Run {
        min: Version::V0_4_0,
    };
    let any = SpecNeed::Run {
        min: Version::V0_1_0,
    };
    let p = needs("portmap");
    vec![
        Case::new("del/chain/complete", chain, p, |c| scenario(c, Way::Plain)),
        Case::new("del/chain/twice", chain, p, |c| scenario(c, Way::Twice)),
        Case::new("del/chain/without-prev-result", with_prev, p, |c| {
            scenario(c, Way::NoPrev)
        }),
        Case::new("del/chain/then-again-with-empty-netns", chain, p, |c| {
            scenario(c, Way::ContainerdPair)
        }),
        Case::new("del/chain/only-with-empty-netns", chain, p, |c| {
            scenario(c, Way::EmptyNetnsOnly)
        }),
        Case::new("del/chain/after-netns-gone", chain, p, |c| {
            scenario(c, Way::NetnsGone)
        }),
        Case::new("del/chain/after-link-gone", chain, p, |c| {
            scenario(c, Way::LinkGone)
        }),
        Case::new("del/chain/never-added", chain, p, never_added),
        Case::new(
            "del/host-local/twice-releases-lease",
            any,
            needs("host-local"),
            host_local_twice,
        ),
        Case::new("del/loopback/idempotent", any, needs("loopback"), loopback),
        Case::new(
            "del/bridge/without-path-cleans-up",
            any,
            needs("bridge"),
            |c| ipam_unreachable(c, false),
        ),
        Case::new(
            "del/bridge/ipam-plugin-missing-cleans-up",
            any,
            needs("bridge"),
            |c| ipam_unreachable(c, true),
        ),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Plain,
    Twice,
    NoPrev,
    ContainerdPair,
    EmptyNetnsOnly,
    NetnsGone,
    LinkGone,
}

/// The chain with a neighbour pod attached (so shared state exists), a
/// snapshot, then the pod under test attached with TCP and UDP mappings.
struct World {
    net: Net,
    before: Snapshot,
    pod: Netns,
    att: Attachment,
    result: Value,
    _neighbour: Netns,
}

fn world(c: &Ctx) -> Result<World, String> {
    let net = c.portmap_net();
    let neighbour = c.pod();
    let nb = c.attachment(&neighbour).map_port(18081, 81, "tcp");
    c.add_ok(&net, &nb)?;
    let before = Snapshot::take(c);
    let pod = c.pod();
    let att = c
        .attachment(&pod)
        .map_port(18080, 80, "tcp")
        .map_port(18053, 53, "udp");
    let result = c.add_ok(&net, &att)?;
    Ok(World {
        net,
        before,
        pod,
        att,
        result,
        _neighbour: neighbour,
    })
}

/// Wait (bounded) until the host's links are `want`: interfaces in a
/// removed netns are destroyed by the kernel asynchronously.
pub(super) fn wait_links(c: &Ctx, want: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let mut now = c.host().link_names();
        now.sort();
        if now == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn scenario(c: &Ctx, way: Way) -> CaseResult {
    let w = world(c)?;
    let prev = Some(&w.result);
    let mut empty = w.att.clone();
    empty.netns = String::new();
    match way {
        Way::Plain => c.del(&w.net, &w.att, prev)?,
        Way::Twice => {
            c.del(&w.net, &w.att, prev)?;
            c.del(&w.net, &w.att, prev)
                .map_err(|e| format!("second DEL: {e}"))?;
        }
        Way::NoPrev => c
            .del(&w.net, &w.att, None)
            .map_err(|e| format!("DEL without prevResult: {e}"))?,
        Way::ContainerdPair => {
            c.del(&w.net, &w.att, prev)?;
            c.del(&w.net, &empty, None)
                .map_err(|e| format!("second DEL with CNI_NETNS=\"\": {e}"))?;
        }
        Way::EmptyNetnsOnly => {
            c.del(&w.net, &empty, None)
                .map_err(|e| format!("DEL with CNI_NETNS=\"\": {e}"))?;
            w.pod.remove();
            wait_links(c, &w.before.links);
        }
        Way::NetnsGone => {
            w.pod.remove();
            wait_links(c, &w.before.links);
            c.del(&w.net, &w.att, prev)
                .map_err(|e| format!("DEL after the netns was removed: {e}"))?;
        }
        Way::LinkGone => {
            w.pod.sh_ok(&format!("ip link del {}", w.att.ifname));
            c.del(&w.net, &w.att, prev)
                .map_err(|e| format!("DEL after the interface was removed: {e}"))?;
        }
    }
    if !matches!(way, Way::EmptyNetnsOnly | Way::NetnsGone) {
        pod_is_empty(&w.pod)?;
    }
    w.before
        .expect_same(&Snapshot::take(c), "DEL left state behind")
}

/// DEL of a container this network never saw succeeds and changes nothing.
fn never_added(c: &Ctx) -> CaseResult {
    let net = c.portmap_net();
    let neighbour = c.pod();
    let nb = c.attachment(&neighbour).map_port(18081, 81, "tcp");
    c.add_ok(&net, &nb)?;
    let before = Snapshot::take(c);
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    c.del(&net, &att, None)?;
    let mut gone = att.clone();
    gone.netns =
        c.sb.dir()
            .join("no-such-netns")
            .to_string_lossy()
            .into_owned();
    c.del(&net, &gone, None)
        .map_err(|e| format!("DEL with a netns path that does not exist: {e}"))?;
    before.expect_same(
        &Snapshot::take(c),
        "DEL of an unknown container changed the host",
    )
}

fn host_local_twice(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c.host_local_net();
    let r = c.add_ok(&net, &att)?;
    c.del(&net, &att, Some(&r))?;
    c.del(&net, &att, Some(&r))
        .map_err(|e| format!("second DEL: {e}"))?;
    let left = store_records(&c.data_dir);
    ensure(left.is_empty(), || {
        format!("DEL left store records {:?}", left.keys())
    })?;
    // The lease is free again: a new container can get it.
    let again = c.attachment(&pod);
    c.add(&net, &again).map(|_| ())
}

fn loopback(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = Net::loopback(c.version);
    let r = c.add_ok(&net, &att)?;
    c.del(&net, &att, Some(&r))?;
    c.del(&net, &att, Some(&r))
        .map_err(|e| format!("second DEL: {e}"))?;
    let mut empty = att.clone();
    empty.netns = String::new();
    c.del(&net, &empty, None)
        .map_err(|e| format!("DEL with CNI_NETNS=\"\": {e}"))?;
    pod.remove();
    c.del(&net, &att, Some(&r))
        .map_err(|e| format!("DEL after the netns was removed: {e}"))
}

/// DEL while the IPAM plugin cannot be run: CNI_PATH unset (it is optional
/// for DEL, SPEC.md "DEL") or naming a directory without the plugin (it
/// was uninstalled). DEL is best-effort (SPEC.md: "the bridge plugin
/// should delegate the DEL action to the IPAM plugin and clean up its own
/// resources"): the pod interface, the host veth and the masquerade rules
/// must go. The lease cannot be released, so DEL must report an error
/// (SPEC.md: a delegate's failure is the plugin's failure); a success would
/// make the runtime forget an attachment whose address is still held.
/// The store record is then the only thing left, and a retried DEL with
/// the plugin reachable again succeeds and restores the host exactly.
fn ipam_unreachable(c: &Ctx, dir_without_plugin: bool) -> CaseResult {
    let net = c.bridge_net();
    let neighbour = c.pod();
    c.add_ok(&net, &c.attachment(&neighbour))?;
    let before = Snapshot::take(c);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let result = c.add_ok(&net, &att)?;
    let records: Vec<String> = store_records(&c.data_dir)
        .into_iter()
        .filter(|(_, owner)| owner.contains(&att.id))
        .map(|(path, _)| format!("+ store record {path}"))
        .collect();
    let (label, call) = if dir_without_plugin {
        let empty = c.sb.subdir("plugins-without-host-local");
        (
            "DEL with CNI_PATH a directory without host-local",
            c.call("DEL", &att)
                .env("CNI_PATH", &empty.to_string_lossy()),
        )
    } else {
        (
            "DEL without CNI_PATH",
            c.call("DEL", &att).without("CNI_PATH"),
        )
    };
    let prev = Some(&result).filter(|_| c.version >= Version::V0_4_0);
    let stdin = plugin_conf(&net, &net.plugins()[0], &att.runtime, prev).to_string();
    let run = c.exec("bridge", &call, &stdin);
    expect_error(&run, &[])
        .map_err(|e| format!("{label}: the lease cannot be released, so DEL must fail: {e}"))?;
    pod_is_empty(&pod).map_err(|e| format!("after {label}: {e}"))?;
    let left: Vec<String> = before
        .diff(&Snapshot::take(c))
        .into_iter()
        .filter(|d| !records.contains(d))
        .collect();
    crate::state::summarize(&format!("{label} did not clean up"), left)?;
    c.del(&net, &att, Some(&result))
        .map_err(|e| format!("DEL retried with CNI_PATH intact: {e}"))?;
    before.expect_same(&Snapshot::take(c), "the retried DEL left state behind")
}
