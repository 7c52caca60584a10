//! The `ptp` plugin (a veth pair per pod, routed through a gateway
//! address on the host end), as kind, containerd's GCE template, kOps and
//! Apptainer configure it: the result in every spec version, the
//! point-to-point layout in the pod and on the host, DEL complete in every
//! partial state, CHECK, GC and STATUS, real traffic, and bad input that
//! leaves nothing behind.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use cni_sandbox::{Netns, TcpServer, route_lines as routes, tcp_probe};
use libcni::Version;
use libcni::spec::ALL_VERSIONS;
use serde_json::{Value, json};

use super::del::wait_links;
use super::{ensure, first_v4, first_v6, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::{Attachment, Ctx};
use crate::net::{GATEWAY4, GATEWAY6, Net, SUBNET4, SUBNET6, plugin_conf};
use crate::shape::{self, expect_error, expect_success, version_reply};
use crate::state::{Snapshot, pod_is_empty};

const TIMEOUT: Duration = Duration::from_secs(3);

/// The ptp network of the cases: masquerade on, host-local with a default
/// route (and an IPv6 range and route when `dual`), at the case's version.
fn ptp_net(c: &Ctx, dual: bool) -> Net {
    let mut ranges = vec![json!([{"subnet": SUBNET4}])];
    let mut routes = vec![json!({"dst": "0.0.0.0/0"})];
    if dual {
        ranges.push(json!([{"subnet": SUBNET6}]));
        routes.push(json!({"dst": "::/0"}));
    }
    Net::new(
        c.version,
        vec![json!({
            "type": "ptp",
            "ipMasq": true,
            "mtu": 1460,
            "ipam": {
                "type": "host-local",
                "ranges": ranges,
                "routes": routes,
                "dataDir": c.data_dir.to_string_lossy(),
            }
        })],
    )
}

pub fn cases() -> Vec<Case> {
    let p = needs("ptp");
    let any = SpecNeed::Run {
        min: Version::V0_1_0,
    };
    let chain = SpecNeed::Run {
        min: Version::V0_3_0,
    };
    let with_prev = SpecNeed::Run {
        min: Version::V0_4_0,
    };
    let v11 = SpecNeed::Fixed(Version::V1_1_0);
    let mut v = vec![Case::new(
        "version/ptp/reply-shape",
        SpecNeed::Run {
            min: Version::V0_2_0,
        },
        &["ptp"],
        version,
    )];
    for ver in ALL_VERSIONS {
        v.push(Case::new(
            format!("result/ptp/{ver}"),
            SpecNeed::Fixed(ver),
            p,
            result,
        ));
    }
    v.extend([
        Case::new("add/ptp/point-to-point-layout", any, p, |c| {
            layout(c, false)
        }),
        Case::new("add/ptp/point-to-point-layout-dual-stack", chain, p, |c| {
            layout(c, true)
        }),
        Case::new("add/ptp/second-add-keeps-the-first", any, p, second_add),
        Case::new("del/ptp/complete", any, p, |c| del(c, Del::Plain)),
        Case::new("del/ptp/twice", any, p, |c| del(c, Del::Twice)),
        Case::new("del/ptp/without-prev-result", with_prev, p, |c| {
            del(c, Del::NoPrev)
        }),
        Case::new("del/ptp/only-with-empty-netns", any, p, |c| {
            del(c, Del::EmptyNetnsOnly)
        }),
        Case::new("del/ptp/after-netns-gone", any, p, |c| {
            del(c, Del::NetnsGone)
        }),
        Case::new("del/ptp/after-link-gone", any, p, |c| del(c, Del::LinkGone)),
        Case::new("check/ptp/passes-after-add", with_prev, p, |c| {
            check_passes(c, false)
        }),
        Case::new("check/ptp/passes-with-more-routes", with_prev, p, |c| {
            check_passes(c, true)
        }),
        Case::new(
            "check/ptp/fails-after-route-drift",
            with_prev,
            p,
            check_drift,
        ),
        Case::new("gc/ptp/removes-stale-keeps-valid", v11, p, gc),
        Case::new("status/ptp/ready-on-fresh-node", v11, p, status),
        Case::new("datapath/ptp/pod-to-pod", chain, p, |c| {
            pod_to_pod(c, false)
        }),
        Case::new("datapath/ptp/pod-to-pod-ipv6", chain, p, |c| {
            pod_to_pod(c, true)
        }),
        Case::new("datapath/ptp/pod-to-node", chain, p, pod_to_node),
        Case::new("datapath/ptp/masquerade-to-outside", chain, p, masquerade),
        Case::new("bad-input/ptp/rejected-without-state", any, p, bad_input),
        Case::new("env/ptp/missing-path", any, p, missing_path),
    ]);
    v
}

/// Run ptp alone for `verb` with `att` and `prev` as prevResult.
fn exec(
    c: &Ctx,
    net: &Net,
    verb: &str,
    att: &Attachment,
    prev: Option<&Value>,
) -> cni_sandbox::PluginRun {
    c.exec_plugin(net, 0, verb, att, prev)
}

fn version(c: &Ctx) -> CaseResult {
    let stdin = json!({"cniVersion": c.version.as_str()}).to_string();
    let run = c.exec("ptp", &cni_sandbox::Call::new("VERSION"), &stdin);
    let (_, supported) = version_reply(&expect_success(&run, "VERSION")?)?;
    for old in ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        ensure(supported.iter().any(|s| s == old), || {
            format!(
                "ptp does not claim {old}, which every release since v1.0.0 speaks: {supported:?}"
            )
        })?;
    }
    Ok(())
}

/// The result of the case's version: the keys it defines; from 0.3.0 the
/// host veth first without a sandbox and the pod interface second in
/// `CNI_NETNS`, every IP on interface 1; the address in the subnet with
/// the gateway.
fn result(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let r = c.add_ok(&ptp_net(c, false), &att)?;
    shape::result(&r, c.version)?;
    let ip = first_v4(&r, c.version)?;
    let subnet: ipnet::IpNet = SUBNET4.parse().map_err(|_| "bad constant")?;
    ensure(subnet.contains(&ip), || {
        format!("{ip} is not in {SUBNET4}: {r}")
    })?;
    if !c.version.has_chaining() {
        return ensure(r["ip4"]["gateway"] == GATEWAY4, || {
            format!("ip4.gateway is not {GATEWAY4}: {r}")
        });
    }
    let ifs = r["interfaces"].as_array().cloned().unwrap_or_default();
    ensure(ifs.len() == 2, || format!("expected 2 interfaces: {r}"))?;
    ensure(
        ifs[0]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("veth"))
            && ifs[0].get("sandbox").is_none(),
        || format!("interface 0 should be the host veth without a sandbox: {r}"),
    )?;
    ensure(
        ifs[1]["name"] == att.ifname.as_str() && ifs[1]["sandbox"] == att.netns.as_str(),
        || format!("interface 1 should be {} in {}: {r}", att.ifname, att.netns),
    )?;
    ensure(
        r["ips"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|i| i["interface"] == 1),
        || format!("every IP should be on interface 1: {r}"),
    )
}

/// The reference's layout: in the pod the connected route replaced by the
/// gateway's link route and the subnet via the gateway; on the host end
/// the gateway with a full-length prefix and a host route to the pod.
fn layout(c: &Ctx, dual: bool) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let r = c.add_ok(&ptp_net(c, dual), &att)?;
    let mut families = vec![(4u8, first_v4(&r, c.version)?, GATEWAY4, SUBNET4)];
    if dual {
        families.push((6, first_v6(&r, c.version)?, GATEWAY6, SUBNET6));
    }
    let veth = c
        .host()
        .links()
        .into_iter()
        .find(|l| l["linkinfo"]["info_kind"] == "veth")
        .and_then(|l| l["ifname"].as_str().map(str::to_string))
        .ok_or("no veth on the host")?;
    for (fam, ip, gw, subnet) in families {
        let scope = if fam == 4 { " scope link" } else { "" };
        let want = [
            format!("{gw}{scope} src {ip}"),
            format!("{subnet} via {gw} src {ip}"),
            format!("default via {gw}"),
        ];
        let have = routes(&pod, fam);
        for w in &want {
            ensure(have.contains(w), || {
                format!("pod route {w:?} missing: {have:?}")
            })?;
        }
        ensure(
            !have
                .iter()
                .any(|h| h == subnet || h.starts_with(&format!("{subnet} scope"))),
            || format!("the pod's connected route to {subnet} is still there: {have:?}"),
        )?;
        let host_addrs = c.host().addrs(&veth);
        let full = if fam == 4 { 32 } else { 128 };
        ensure(host_addrs.contains(&format!("{gw}/{full}")), || {
            format!("{gw}/{full} missing on {veth}: {host_addrs:?}")
        })?;
        let host_routes = routes(c.host(), fam);
        ensure(
            host_routes.iter().any(|h| h.starts_with(&ip.to_string())),
            || format!("host route to {ip} missing: {host_routes:?}"),
        )?;
    }
    Ok(())
}

/// A second ADD of the same attachment fails and the first keeps its
/// interface and its lease.
fn second_add(c: &Ctx) -> CaseResult {
    let net = ptp_net(c, false);
    let pod = c.pod();
    let att = c.attachment(&pod);
    c.add_ok(&net, &att)?;
    let before = Snapshot::take(c);
    expect_error(&exec(c, &net, "ADD", &att, None), &[]).map_err(|e| format!("second ADD: {e}"))?;
    before.expect_same(&Snapshot::take(c), "a failed second ADD changed the node")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Del {
    Plain,
    Twice,
    NoPrev,
    EmptyNetnsOnly,
    NetnsGone,
    LinkGone,
}

/// DEL leaves the host as before the ADD (a neighbour keeps shared state)
/// however much of the attachment was already gone.
fn del(c: &Ctx, way: Del) -> CaseResult {
    let net = ptp_net(c, false);
    let neighbour = c.pod();
    c.add_ok(&net, &c.attachment(&neighbour))?;
    let before = Snapshot::take(c);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let r = c.add_ok(&net, &att)?;
    let prev = Some(&r);
    let mut empty = att.clone();
    empty.netns = String::new();
    match way {
        Del::Plain => c.del(&net, &att, prev)?,
        Del::Twice => {
            c.del(&net, &att, prev)?;
            c.del(&net, &att, prev)
                .map_err(|e| format!("second DEL: {e}"))?;
        }
        Del::NoPrev => c.del(&net, &att, None)?,
        Del::EmptyNetnsOnly => {
            c.del(&net, &empty, None)
                .map_err(|e| format!("DEL with CNI_NETNS=\"\": {e}"))?;
            pod.remove();
            wait_links(c, &before.links);
        }
        Del::NetnsGone => {
            pod.remove();
            wait_links(c, &before.links);
            c.del(&net, &att, prev)
                .map_err(|e| format!("DEL after the netns was removed: {e}"))?;
        }
        Del::LinkGone => {
            pod.sh_ok(&format!("ip link del {}", att.ifname));
            c.del(&net, &att, prev)
                .map_err(|e| format!("DEL after the interface was removed: {e}"))?;
        }
    }
    if !matches!(way, Del::EmptyNetnsOnly | Del::NetnsGone) {
        pod_is_empty(&pod)?;
    }
    before.expect_same(&Snapshot::take(c), "DEL left state behind")
}

/// CHECK passes right after ADD; with `more_routes` the IPAM routes
/// include one besides the default (the kubelet's service route in
/// containerd's GCE template).
fn check_passes(c: &Ctx, more_routes: bool) -> CaseResult {
    let mut net = ptp_net(c, false);
    if more_routes {
        net = net.set(
            "/plugins/0/ipam/routes",
            json!([{"dst": "0.0.0.0/0"}, {"dst": "10.96.0.0/12"}]),
        );
    }
    let pod = c.pod();
    let att = c.attachment(&pod);
    let r = c.add_ok(&net, &att)?;
    c.check_ok(&net, &att, &r)
}

fn check_drift(c: &Ctx) -> CaseResult {
    let net = ptp_net(c, false);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let r = c.add_ok(&net, &att)?;
    c.check_ok(&net, &att, &r)
        .map_err(|e| format!("CHECK failed before any drift: {e}"))?;
    pod.sh_ok("ip -4 route del default");
    expect_error(&exec(c, &net, "CHECK", &att, Some(&r)), &[])
        .map(|_| ())
        .map_err(|e| format!("CHECK after the pod's default route was removed: {e}"))
}

/// GC with one valid attachment: the stale one's lease and masquerade
/// rules go, the valid one's stay.
fn gc(c: &Ctx) -> CaseResult {
    let net = ptp_net(c, false);
    let (a, b) = (c.pod(), c.pod());
    let (keep, stale) = (c.attachment(&a), c.attachment(&b));
    c.add_ok(&net, &keep)?;
    let before = Snapshot::take(c);
    c.add_ok(&net, &stale)?;
    b.remove();
    c.gc(&net, &[&keep], &["cni.dev/valid-attachments"])?;
    crate::state::summarize(
        "GC did not remove exactly the stale attachment's state",
        before.diff_firewall_store(&Snapshot::take(c)),
    )
}

fn status(c: &Ctx) -> CaseResult {
    expect_success(&c.status(&ptp_net(c, false), 0), "STATUS").map(|_| ())
}

fn probe(from: &Netns, to: SocketAddr, want_peer: IpAddr, what: &str) -> CaseResult {
    let p = tcp_probe(from, to, TIMEOUT).map_err(|e| format!("{what}: {e}"))?;
    ensure(p.seen_peer.ip() == want_peer, || {
        format!(
            "{what}: the server saw {}, expected {want_peer}",
            p.seen_peer
        )
    })
}

/// The host end's IPv6 gateway address is usable once its DAD is done
/// (as with the reference, which never waits for it either).
fn wait_host_dad(c: &Ctx) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let (_, out, _) = c.host().sh("ip -6 addr show tentative");
        if out.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pod_to_pod(c: &Ctx, v6: bool) -> CaseResult {
    let net = ptp_net(c, v6);
    let (a, b) = (c.pod(), c.pod());
    let ra = c.add_ok(&net, &c.attachment(&a))?;
    let rb = c.add_ok(&net, &c.attachment(&b))?;
    wait_host_dad(c);
    let pick = |r: &Value| {
        if v6 {
            first_v6(r, c.version)
        } else {
            first_v4(r, c.version)
        }
    };
    let (ia, ib) = (pick(&ra)?, pick(&rb)?);
    let srv = TcpServer::start(&b, SocketAddr::new(ib, 0));
    probe(&a, srv.addr, ia, &format!("pod {ia} -> pod {ib}"))
}

fn pod_to_node(c: &Ctx) -> CaseResult {
    let net = ptp_net(c, false);
    let a = c.pod();
    let ra = c.add_ok(&net, &c.attachment(&a))?;
    let ia = first_v4(&ra, c.version)?;
    let gw: IpAddr = GATEWAY4.parse().map_err(|_| "bad constant")?;
    let srv = TcpServer::start(c.host(), SocketAddr::new(gw, 0));
    probe(&a, srv.addr, ia, &format!("pod -> node at {GATEWAY4}"))
}

fn masquerade(c: &Ctx) -> CaseResult {
    let out = c.sb.outside();
    let a = c.pod();
    c.add_ok(&ptp_net(c, false), &c.attachment(&a))?;
    let srv = TcpServer::start(&out, "192.0.2.2:0".parse().map_err(|_| "bad constant")?);
    let host: IpAddr = "192.0.2.1".parse().map_err(|_| "bad constant")?;
    probe(&a, srv.addr, host, "pod -> outside with ipMasq")
}

/// Invalid configs are refused (code 6 or 7 from a plugin that checks
/// before acting; any error from one that does not) and nothing is left:
/// no veth, no lease, no rule.
fn bad_input(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let before = Snapshot::take(c);
    for (what, pointer, value) in [
        ("mtu below the minimum", "/plugins/0/mtu", json!(10)),
        ("no IPAM plugin", "/plugins/0/ipam", json!({})),
        (
            "an unknown ipMasqBackend",
            "/plugins/0/ipMasqBackend",
            json!("ipchains"),
        ),
    ] {
        let net = ptp_net(c, false).set(pointer, value);
        let att = c.attachment(&pod);
        expect_error(&exec(c, &net, "ADD", &att, None), &[6, 7])
            .map_err(|e| format!("{what}: {e}"))?;
        pod_is_empty(&pod).map_err(|e| format!("{what}: {e}"))?;
        before.expect_same(&Snapshot::take(c), &format!("{what}: state left"))?;
    }
    Ok(())
}

/// ADD without `CNI_PATH` cannot find the IPAM plugin: code 4, nothing
/// made.
fn missing_path(c: &Ctx) -> CaseResult {
    let net = ptp_net(c, false);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let before = Snapshot::take(c);
    let stdin = plugin_conf(&net, &net.plugins()[0], &att.runtime, None).to_string();
    let run = c.exec("ptp", &c.call("ADD", &att).without("CNI_PATH"), &stdin);
    expect_error(&run, &[4])?;
    pod_is_empty(&pod)?;
    before.expect_same(&Snapshot::take(c), "ADD without CNI_PATH left state")
}
