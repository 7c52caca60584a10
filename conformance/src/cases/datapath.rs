//! Real traffic through what the plugins set up: pod to pod, pod to the
//! gateway, masquerade towards an outside namespace, host ports from the
//! outside (TCP and UDP), from the host's localhost, and hairpin (a pod
//! reaching itself through its host port).
//!
//! The "outside" is a namespace linked to the fake host by a veth
//! (host 192.0.2.1, outside 192.0.2.2; TEST-NET-1, never routed).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use cni_sandbox::{Netns, TcpServer, UdpServer, tcp_probe, udp_probe};
use libcni::Version;

use super::{ensure, first_v4, first_v6, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::Ctx;
use crate::net::GATEWAY4;

const HOST_IP: &str = "192.0.2.1";
const OUTSIDE_IP: &str = "192.0.2.2";
const TIMEOUT: Duration = Duration::from_secs(3);

pub fn cases() -> Vec<Case> {
    let s = SpecNeed::Run {
        min: Version::V0_3_0,
    };
    let b = needs("bridge");
    let p = needs("portmap");
    vec![
        Case::new("datapath/bridge/pod-to-pod", s, b, |c| pod_to_pod(c, false)),
        Case::new("datapath/bridge/pod-to-pod-ipv6", s, b, |c| {
            pod_to_pod(c, true)
        }),
        Case::new("datapath/bridge/pod-to-gateway", s, b, pod_to_gateway),
        Case::new("datapath/bridge/masquerade-to-outside", s, b, masquerade),
        Case::new("datapath/portmap/hostport-tcp-from-outside", s, p, |c| {
            hostport_outside(c, false)
        }),
        Case::new("datapath/portmap/hostport-udp-from-outside", s, p, |c| {
            hostport_outside(c, true)
        }),
        Case::new(
            "datapath/portmap/hostport-from-localhost",
            s,
            p,
            hostport_localhost,
        ),
        Case::new("datapath/portmap/hairpin", s, p, hairpin),
    ]
}

fn sa(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("bad address {s}"))
}

/// A namespace "outside" the node, linked to the fake host.
fn outside(c: &Ctx) -> Netns {
    let out = c.sb.extra("out");
    c.host().sh_ok(&format!(
        "ip link add ext0 type veth peer name ext0p && ip link set ext0p netns {} && \
         ip addr add {HOST_IP}/24 dev ext0 && ip link set ext0 up",
        out.name()
    ));
    out.sh_ok(&format!(
        "ip link set ext0p name ext0 && ip addr add {OUTSIDE_IP}/24 dev ext0 && ip link set ext0 up"
    ));
    out
}

/// A pod attached to the chain (`portmap` adds host ports 18080/tcp ->
/// 8080 and 18081/udp -> 8081). Returns the pod and its IPv4 address.
fn attached(c: &Ctx, portmap: bool, dual: bool) -> Result<(Netns, serde_json::Value), String> {
    attached_with(c, portmap, dual, false)
}

/// [`attached`] with `hairpinMode` on or off.
fn attached_with(
    c: &Ctx,
    portmap: bool,
    dual: bool,
    hairpin: bool,
) -> Result<(Netns, serde_json::Value), String> {
    let pod = c.pod();
    let mut net = if portmap {
        c.portmap_net()
    } else {
        c.bridge_net()
    };
    if dual {
        net = net.dual_stack();
    }
    if hairpin {
        net = net.set("/plugins/0/hairpinMode", serde_json::json!(true));
    }
    let att = c
        .attachment(&pod)
        .map_port(18080, 8080, "tcp")
        .map_port(18081, 8081, "udp");
    let r = c.add_ok(&net, &att)?;
    Ok((pod, r))
}

fn pod_to_pod(c: &Ctx, v6: bool) -> CaseResult {
    let (a, ra) = attached(c, false, v6)?;
    let (b, rb) = attached(c, false, v6)?;
    let (ia, ib) = if v6 {
        (first_v6(&ra, c.version)?, first_v6(&rb, c.version)?)
    } else {
        (first_v4(&ra, c.version)?, first_v4(&rb, c.version)?)
    };
    let srv = TcpServer::start(&b, sa(ib, 7000));
    let p = tcp_probe(&a, srv.addr, TIMEOUT).map_err(|e| format!("pod {ia} -> pod {ib}: {e}"))?;
    ensure(p.seen_peer.ip() == ia, || {
        format!(
            "pod-to-pod traffic was rewritten: the server saw {}, not {ia}",
            p.seen_peer
        )
    })
}

fn pod_to_gateway(c: &Ctx) -> CaseResult {
    let (a, ra) = attached(c, false, false)?;
    let ia = first_v4(&ra, c.version)?;
    let srv = TcpServer::start(c.host(), sa(parse_ip(GATEWAY4)?, 7001));
    let p =
        tcp_probe(&a, srv.addr, TIMEOUT).map_err(|e| format!("pod -> gateway {GATEWAY4}: {e}"))?;
    ensure(p.seen_peer.ip() == ia, || {
        format!("the gateway saw {}, not the pod's {ia}", p.seen_peer)
    })
}

/// `ipMasq`: traffic leaving the pod subnet carries the host's address.
fn masquerade(c: &Ctx) -> CaseResult {
    let out = outside(c);
    let (a, _) = attached(c, false, false)?;
    let srv = TcpServer::start(&out, sa(parse_ip(OUTSIDE_IP)?, 7002));
    let p = tcp_probe(&a, srv.addr, TIMEOUT)
        .map_err(|e| format!("pod -> outside {OUTSIDE_IP}: {e}"))?;
    ensure(p.seen_peer.ip().to_string() == HOST_IP, || {
        format!(
            "ipMasq: the outside saw {}, expected the host's {HOST_IP}",
            p.seen_peer
        )
    })
}

fn hostport_outside(c: &Ctx, udp: bool) -> CaseResult {
    let out = outside(c);
    let (a, _) = attached(c, true, false)?;
    let host = parse_ip(HOST_IP)?;
    let any = parse_ip("0.0.0.0")?;
    if udp {
        let _srv = UdpServer::start(&a, sa(any, 8081));
        udp_probe(&out, sa(host, 18081), TIMEOUT)
            .map_err(|e| format!("outside -> {HOST_IP}:18081/udp (to the pod's 8081): {e}"))?;
    } else {
        let _srv = TcpServer::start(&a, sa(any, 8080));
        tcp_probe(&out, sa(host, 18080), TIMEOUT)
            .map_err(|e| format!("outside -> {HOST_IP}:18080/tcp (to the pod's 8080): {e}"))?;
    }
    Ok(())
}

fn hostport_localhost(c: &Ctx) -> CaseResult {
    let (a, _) = attached(c, true, false)?;
    let _srv = TcpServer::start(&a, sa(parse_ip("0.0.0.0")?, 8080));
    tcp_probe(c.host(), sa(parse_ip("127.0.0.1")?, 18080), TIMEOUT)
        .map(|_| ())
        .map_err(|e| format!("host -> 127.0.0.1:18080/tcp (to the pod's 8080): {e}"))
}

/// With `hairpinMode`, a pod reaches its own server through the node's
/// address and its host port (with br_netfilter the DNAT happens on the
/// bridge and the frame must go back out of the port it came in on).
fn hairpin(c: &Ctx) -> CaseResult {
    let _out = outside(c);
    let (a, _) = attached_with(c, true, false, true)?;
    let _srv = TcpServer::start(&a, sa(parse_ip("0.0.0.0")?, 8080));
    tcp_probe(&a, sa(parse_ip(HOST_IP)?, 18080), TIMEOUT)
        .map(|_| ())
        .map_err(|e| format!("pod -> {HOST_IP}:18080 -> itself: {e}"))
}
