//! The ADD result in every spec version (SPEC.md "Success" and the 0.x
//! type definitions), for every plugin: the keys the version defines and
//! no newer ones, the addresses the configuration asks for, `prevResult`
//! passed through by chained plugins, and the limits of going down to
//! 0.1.0/0.2.0 (one address per family).

use libcni::Version;
use libcni::spec::{ALL_VERSIONS, CniResult};
use serde_json::{Value, json};

use super::{ensure, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::Ctx;
use crate::net::{GATEWAY4, GATEWAY6, Net, SUBNET4, SUBNET6};
use crate::shape::{self, expect_error, expect_success};
use crate::state::store_records;

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for p in ["bridge", "host-local", "loopback", "portmap"] {
        for ver in ALL_VERSIONS {
            if p == "portmap" && !ver.has_chaining() {
                continue;
            }
            v.push(Case::new(
                format!("result/{p}/{ver}"),
                SpecNeed::Fixed(ver),
                needs(p),
                move |c| match p {
                    "bridge" => bridge(c),
                    "host-local" => host_local(c),
                    "loopback" => loopback(c),
                    _ => portmap(c),
                },
            ));
        }
    }
    for ver in [Version::V0_1_0, Version::V0_2_0] {
        v.push(Case::new(
            format!("result/bridge/{ver}-dual-stack"),
            SpecNeed::Fixed(ver),
            needs("bridge"),
            bridge_dual_stack_legacy,
        ));
    }
    v.push(Case::new(
        "result/host-local/0.2.0-dual-stack",
        SpecNeed::Fixed(Version::V0_2_0),
        needs("host-local"),
        dual_stack_020,
    ));
    v.push(Case::new(
        "result/host-local/0.2.0-two-ipv4-rejected",
        SpecNeed::Fixed(Version::V0_2_0),
        needs("host-local"),
        two_v4_020,
    ));
    v.push(Case::new(
        "result/host-local/1.0.0-no-1.1.0-route-fields",
        SpecNeed::Fixed(Version::V1_0_0),
        needs("host-local"),
        no_new_route_fields,
    ));
    v
}

/// The IPv4 address of a result in subnet `SUBNET4` with gateway
/// `GATEWAY4` and the default route, whatever the format.
fn expect_v4_lease(r: &Value, version: Version) -> CaseResult {
    let (parsed, _) =
        CniResult::parse(r, version).map_err(|e| format!("the result does not parse: {e}"))?;
    let subnet: ipnet::IpNet = SUBNET4.parse().map_err(|_| "bad constant")?;
    let ip = parsed
        .ips
        .iter()
        .find(|i| subnet.contains(&i.address.addr()))
        .ok_or_else(|| format!("no address in {SUBNET4}: {r}"))?;
    ensure(ip.address.prefix_len() == 24, || {
        format!("address {} should carry the subnet's /24", ip.address)
    })?;
    ensure(
        ip.gateway.map(|g| g.to_string()) == Some(GATEWAY4.into()),
        || format!("gateway is {:?}, expected {GATEWAY4}: {r}", ip.gateway),
    )?;
    ensure(ip.address.addr().to_string() != GATEWAY4, || {
        format!("the gateway address was handed out: {r}")
    })?;
    ensure(
        parsed
            .routes
            .iter()
            .any(|rt| rt.dst.to_string() == "0.0.0.0/0"),
        || format!("the configured default route is missing: {r}"),
    )
}

fn bridge(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c.bridge_net();
    let r = c.add(&net, &att)?;
    shape::result(&r, c.version)?;
    expect_v4_lease(&r, c.version)?;
    if c.version.has_chaining() {
        let (parsed, _) = CniResult::parse(&r, c.version).map_err(|e| e.to_string())?;
        let idx = parsed
            .interfaces
            .iter()
            .position(|i| i.name == att.ifname && i.sandbox == att.netns)
            .ok_or_else(|| {
                format!(
                    "no interface {} with sandbox {}: {r}",
                    att.ifname, att.netns
                )
            })?;
        ensure(parsed.ips.iter().all(|i| i.interface == Some(idx)), || {
            format!("ips[].interface should point at the container interface (index {idx}): {r}")
        })?;
    }
    let addr = super::first_v4(&r, c.version)?;
    ensure(
        pod.addrs("eth0").iter().any(|a| a == &format!("{addr}/24")),
        || format!("{addr}/24 is in the result but not on eth0 in the pod"),
    )?;
    c.del(&net, &att, Some(&r))
}

fn host_local(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c.host_local_net();
    let r = c.add(&net, &att)?;
    shape::result(&r, c.version)?;
    expect_v4_lease(&r, c.version)?;
    c.del(&net, &att, Some(&r))
}

fn loopback(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = Net::loopback(c.version);
    let r = c.add(&net, &att)?;
    shape::result(&r, c.version)?;
    c.del(&net, &att, Some(&r))
}

/// portmap's result is its `prevResult`, in the same version (it changes
/// no address, interface or route).
fn portmap(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod).map_port(18080, 80, "tcp");
    let net = c.portmap_net();
    let run = c.exec_plugin(&net, 0, "ADD", &att, None);
    let bridge_r = expect_success(&run, "bridge ADD")?;
    let run = c.exec_plugin(&net, 1, "ADD", &att, Some(&bridge_r));
    let r = expect_success(&run, "portmap ADD")?;
    shape::result(&r, c.version)?;
    let a = CniResult::parse(&bridge_r, c.version).map_err(|e| e.to_string())?;
    let b = CniResult::parse(&r, c.version).map_err(|e| e.to_string())?;
    ensure(a == b, || {
        format!("portmap changed its prevResult: in {bridge_r}, out {r}")
    })?;
    c.del(&net, &att, Some(&r))
}

/// 0.2.0 has one `ip4` and one `ip6`: a dual-stack lease fills both.
fn dual_stack_020(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c.host_local_net().dual_stack();
    let r = c.add(&net, &att)?;
    shape::result(&r, c.version)?;
    let ip4 = r["ip4"]["ip"].as_str().unwrap_or_default();
    let ip6 = r["ip6"]["ip"].as_str().unwrap_or_default();
    let (n4, n6): (ipnet::IpNet, ipnet::IpNet) = (
        SUBNET4.parse().map_err(|_| "bad constant")?,
        SUBNET6.parse().map_err(|_| "bad constant")?,
    );
    let in_net = |s: &str, n: &ipnet::IpNet| {
        s.parse::<ipnet::IpNet>()
            .is_ok_and(|a| n.contains(&a.addr()))
    };
    ensure(in_net(ip4, &n4) && in_net(ip6, &n6), || {
        format!("expected ip4 in {SUBNET4} and ip6 in {SUBNET6}: {r}")
    })?;
    ensure(r["ip6"]["gateway"] == json!(GATEWAY6), || {
        format!("ip6.gateway should be {GATEWAY6}: {r}")
    })?;
    c.del(&net, &att, Some(&r))
}

/// bridge on a dual-stack network at 0.1.0/0.2.0: the result has only the
/// keys of that format (`ip4`, `ip6`, `dns`: no interfaces), `ip4` carries
/// the IPv4 lease with the IPv4 gateway and the IPv4 routes, `ip6` the IPv6
/// lease with its gateway and routes (no route of the other family
/// crosses over), and both addresses are the ones on the pod's `eth0`.
fn bridge_dual_stack_legacy(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c.bridge_net().dual_stack();
    let r = c.add(&net, &att)?;
    shape::result(&r, c.version)?;
    let have = pod.addrs(&att.ifname);
    for (key, subnet, gateway, default) in [
        ("ip4", SUBNET4, GATEWAY4, "0.0.0.0/0"),
        ("ip6", SUBNET6, GATEWAY6, "::/0"),
    ] {
        let n: ipnet::IpNet = subnet.parse().map_err(|_| "bad constant")?;
        let ip: ipnet::IpNet = r[key]["ip"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{key}.ip is missing: {r}"))?;
        ensure(
            n.contains(&ip.addr()) && ip.prefix_len() == n.prefix_len(),
            || format!("{key}.ip {ip} should be an address of {subnet} with its prefix: {r}"),
        )?;
        ensure(r[key]["gateway"] == json!(gateway), || {
            format!("{key}.gateway should be {gateway}: {r}")
        })?;
        let routes = r[key]["routes"].as_array().cloned().unwrap_or_default();
        ensure(routes.iter().any(|rt| rt["dst"] == json!(default)), || {
            format!("{key}.routes lacks the configured {default}: {r}")
        })?;
        ensure(have.contains(&ip.to_string()), || {
            format!(
                "{key}.ip {ip} is not on {} in the pod: {have:?}",
                att.ifname
            )
        })?;
    }
    c.del(&net, &att, Some(&r))
}

/// Two IPv4 range sets cannot be reported in 0.2.0 (one `ip4`): the ADD
/// must fail cleanly and allocate nothing, rather than hand out an address
/// the runtime never learns about. The code is not fixed by the spec.
fn two_v4_020(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c.host_local_net().set(
        "/plugins/0/ipam/ranges",
        json!([[{"subnet": SUBNET4}], [{"subnet": "10.78.0.0/24"}]]),
    );
    let run = c.exec_plugin(&net, 0, "ADD", &att, None);
    expect_error(&run, &[])?;
    let left = store_records(&c.data_dir);
    ensure(left.is_empty(), || {
        format!("the rejected ADD left store records {:?}", left.keys())
    })
}

/// Route keys added in 1.1.0 (`mtu`, `advmss`, `priority`, `table`,
/// `scope`) must not appear in a 1.0.0 result even when the IPAM config
/// carries them.
fn no_new_route_fields(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c.host_local_net().set(
        "/plugins/0/ipam/routes",
        json!([{"dst": "0.0.0.0/0"}, {"dst": "10.99.0.0/16", "gw": GATEWAY4, "mtu": 1400, "advmss": 1360, "priority": 5, "table": 100, "scope": 0}]),
    );
    let run = c.exec_plugin(&net, 0, "ADD", &att, None);
    let r = expect_success(&run, "host-local ADD")?;
    shape::result(&r, c.version)
}
