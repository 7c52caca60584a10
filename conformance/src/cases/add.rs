//! ADD (SPEC.md "ADD"): what the result reports really exists in the pod
//! and on the host; a second ADD of the same (container, ifname) fails and
//! disturbs nothing; chained plugins pass `prevResult` through.

use cni_sandbox::Netns;
use libcni::Version;
use libcni::spec::CniResult;
use serde_json::Value;

use super::{ensure, lo_is_up, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::{Attachment, Ctx};
use crate::net::{BRIDGE, GATEWAY4, Net};
use crate::shape::{expect_error, expect_success};
use crate::state::{Snapshot, store_records};

pub fn cases() -> Vec<Case> {
    let chain = SpecNeed::Run {
        min: Version::V0_3_0,
    };
    let any = SpecNeed::Run {
        min: Version::V0_1_0,
    };
    vec![
        Case::new(
            "add/bridge/result-exists-in-netns",
            chain,
            needs("bridge"),
            |c| exists(c, false),
        ),
        Case::new(
            "add/bridge/dual-stack-result-exists-in-netns",
            chain,
            needs("bridge"),
            |c| exists(c, true),
        ),
        Case::new("add/bridge/second-add-fails", any, needs("bridge"), |c| {
            second_add(c, "bridge")
        }),
        Case::new(
            "add/host-local/second-add-fails",
            any,
            needs("host-local"),
            |c| second_add(c, "host-local"),
        ),
        Case::new(
            "add/host-local/distinct-addresses",
            any,
            needs("host-local"),
            distinct,
        ),
        Case::new(
            "add/portmap/no-mappings-passes-through",
            chain,
            needs("portmap"),
            no_mappings,
        ),
        Case::new(
            "add/loopback/brings-lo-up",
            any,
            needs("loopback"),
            loopback_up,
        ),
    ]
}

fn mac_of(link: &Value) -> String {
    link["address"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Every interface, address and route of `r` exists where the result says
/// (container side in the pod, host side in the host).
pub fn result_exists(c: &Ctx, pod: &Netns, att: &Attachment, r: &Value) -> CaseResult {
    let (parsed, _) =
        CniResult::parse(r, c.version).map_err(|e| format!("the result does not parse: {e}"))?;
    let ns_of = |sandbox: &str| if sandbox.is_empty() { c.host() } else { pod };
    for i in &parsed.interfaces {
        if !i.sandbox.is_empty() && i.sandbox != att.netns {
            return Err(format!(
                "interface {} claims sandbox {}, the pod is {}",
                i.name, i.sandbox, att.netns
            ));
        }
        let ns = ns_of(&i.sandbox);
        let where_ = if i.sandbox.is_empty() { "host" } else { "pod" };
        let link = ns.link(&i.name).ok_or_else(|| {
            format!(
                "interface {} is in the result but not in the {where_}",
                i.name
            )
        })?;
        if !i.mac.is_empty() {
            ensure(mac_of(&link) == i.mac.to_ascii_lowercase(), || {
                format!(
                    "{} has MAC {}, the result says {}",
                    i.name,
                    mac_of(&link),
                    i.mac
                )
            })?;
        }
    }
    for ip in &parsed.ips {
        let want = format!("{}/{}", ip.address.addr(), ip.address.prefix_len());
        let found = match ip.interface.and_then(|n| parsed.interfaces.get(n)) {
            Some(i) => ns_of(&i.sandbox).addrs(&i.name).contains(&want),
            None => pod
                .link_names()
                .iter()
                .any(|n| pod.addrs(n).contains(&want)),
        };
        ensure(found, || {
            format!("address {want} is in the result but not in the pod")
        })?;
    }
    for rt in &parsed.routes {
        let fam = if rt.dst.addr().is_ipv4() { 4 } else { 6 };
        let dst = if rt.dst.prefix_len() == 0 {
            "default".to_string()
        } else {
            rt.dst.to_string()
        };
        let have = pod.routes(fam);
        let ok = have.iter().any(|h| {
            h["dst"] == dst.as_str()
                && rt
                    .gw
                    .is_none_or(|g| h["gateway"].as_str() == Some(&g.to_string()))
        });
        ensure(ok, || {
            format!(
                "route {dst} via {:?} is in the result but not in the pod: {have:?}",
                rt.gw
            )
        })?;
    }
    Ok(())
}

/// With `isGateway`: the gateway address is on the bridge, the host
/// forwards, and the host end of the pod's veth is a port of the bridge.
fn gateway_state(c: &Ctx, r: &Value) -> CaseResult {
    ensure(
        c.host().addrs(BRIDGE).contains(&format!("{GATEWAY4}/24")),
        || {
            format!(
                "isGateway: {GATEWAY4}/24 is not on {BRIDGE}: {:?}",
                c.host().addrs(BRIDGE)
            )
        },
    )?;
    ensure(c.host().sysctl("net/ipv4/ip_forward") == "1", || {
        "isGateway: net.ipv4.ip_forward is not 1 in the host".into()
    })?;
    let (parsed, _) = CniResult::parse(r, c.version).map_err(|e| e.to_string())?;
    let ports: Vec<String> = c
        .host()
        .links()
        .iter()
        .filter(|l| l["master"] == BRIDGE)
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect();
    let host_veth = parsed
        .interfaces
        .iter()
        .find(|i| i.sandbox.is_empty() && i.name != BRIDGE)
        .ok_or_else(|| format!("the result lists no host-side veth: {r}"))?;
    ensure(ports.contains(&host_veth.name), || {
        format!(
            "{} is not a port of {BRIDGE} (ports: {ports:?})",
            host_veth.name
        )
    })
}

fn exists(c: &Ctx, dual: bool) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = if dual {
        c.bridge_net().dual_stack()
    } else {
        c.bridge_net()
    };
    let r = c.add(&net, &att)?;
    if dual {
        super::first_v6(&r, c.version)?;
    }
    result_exists(c, &pod, &att, &r)?;
    gateway_state(c, &r)
}

fn second_add(c: &Ctx, p: &str) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = if p == "bridge" {
        c.bridge_net()
    } else {
        c.host_local_net()
    };
    c.add_ok(&net, &att)?;
    let before = Snapshot::take(c);
    let pod_addrs = || {
        pod.link_names()
            .iter()
            .map(|n| (n.clone(), pod.addrs(n)))
            .collect::<Vec<_>>()
    };
    let addrs = pod_addrs();
    let run = c.exec_plugin(&net, 0, "ADD", &att, None);
    expect_error(&run, &[])
        .map_err(|e| format!("second ADD of the same container and ifname: {e}"))?;
    before.expect_same(&Snapshot::take(c), "the failed second ADD changed the host")?;
    let now = pod_addrs();
    ensure(now == addrs, || {
        format!("the failed second ADD changed the pod: {addrs:?} -> {now:?}")
    })
}

/// Different attachments get different addresses, never the gateway; the
/// same container with another ifname is another attachment.
fn distinct(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let net = c.host_local_net();
    let mut seen = Vec::new();
    let mut atts: Vec<Attachment> = (0..3).map(|_| c.attachment(&pod)).collect();
    let mut other_if = atts[0].clone();
    other_if.ifname = "net1".into();
    atts.push(other_if);
    for att in &atts {
        let r = c.add(&net, att)?;
        let ip = super::first_v4(&r, c.version)?;
        ensure(ip.to_string() != GATEWAY4, || {
            format!("{} got the gateway address", att.id)
        })?;
        ensure(!seen.contains(&ip), || {
            format!("{}/{} got {ip}, already handed out", att.id, att.ifname)
        })?;
        seen.push(ip);
    }
    let n = store_records(&c.data_dir).len();
    ensure(n >= atts.len(), || {
        format!("{} leases but {n} store records", atts.len())
    })
}

/// portmap with no `portMappings` returns its `prevResult` and adds no
/// rules (plugins#464: no work without ports).
fn no_mappings(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let bridge_only = Net::bridge(c.version, &c.data_dir);
    let prev = c.add_ok(&bridge_only, &att)?;
    let before = Snapshot::take(c);
    let net = c.portmap_net();
    let run = c.exec_plugin(&net, 1, "ADD", &att, Some(&prev));
    let out = expect_success(&run, "portmap ADD without mappings")?;
    let a = CniResult::parse(&prev, c.version).map_err(|e| e.to_string())?;
    let b = CniResult::parse(&out, c.version).map_err(|e| e.to_string())?;
    ensure(a == b, || {
        format!("portmap changed its prevResult: in {prev}, out {out}")
    })?;
    let after = Snapshot::take(c);
    crate::state::summarize(
        "portmap without mappings changed the firewall",
        before.diff_firewall_store(&after),
    )
}

fn loopback_up(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    pod.sh_ok("ip link set lo down");
    let att = c.attachment(&pod);
    let net = Net::loopback(c.version);
    c.add(&net, &att)?;
    ensure(lo_is_up(&pod), || "lo is not up after ADD".into())
}
