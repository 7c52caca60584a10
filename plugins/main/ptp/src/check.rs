//! CHECK (SPEC.md "CHECK"): the attachment still matches prevResult. As
//! the reference (v1.3.0+): IPAM CHECK first; prevResult is required; the
//! interface named `CNI_IFNAME` in sandbox `CNI_NETNS` is a veth with the
//! reported MAC, carries every address, and every result route exists.
//! Beyond the reference, which never looks at them: ptp's own routes in
//! the pod, the host end (the pod's veth peer, with the reported MAC, the
//! gateway addresses and the routes to the pod), and with `ipMasq` the
//! masquerade rules.

use hostnet::Netlink;
use hostnet::netlink::{Family, LinkInfo, RouteInfo};
use ipnet::IpNet;
use libcni::skel::CmdArgs;
use libcni::spec::Error;
use podnet::check::{self, fail};

use crate::config;
use crate::p2p::{self, Link};

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let prev = check::ipam_then_prev_result(args, &conf.net)?;
    let pod = check::pod_iface(args, &prev)?;
    check::addresses(&pod.nl, pod.link.index, &args.ifname, &prev)?;
    check::routes(&pod.nl, &prev)?;

    let links = p2p::links(&prev).map_err(|e| fail(format!("prevResult: {}", e.msg)))?;
    pod_routes(&pod.nl, pod.link.index, &links)?;
    let host = Netlink::new()?;
    let (host_if, host_link) = check::host_peer(&host, &prev, &pod, |_, _| true)
        .ok_or_else(|| fail(format!("the host veth of {} was not found", args.ifname)))?;
    check::mac(host_if, host_link.mac)?;
    host_side(&host, &host_link, &links)?;

    if conf.ip_masq {
        check::masquerade(args, &conf.net, conf.ip_masq_backend, &prev)?;
    }
    Ok(())
}

fn family(net: &IpNet) -> Family {
    Family::of(&net.addr())
}

fn has_route(routes: &[RouteInfo], dst: IpNet, oif: u32, gw: Option<std::net::IpAddr>) -> bool {
    routes
        .iter()
        .any(|r| r.dst == dst && r.oif == Some(oif) && (gw.is_none() || r.gw == gw))
}

/// The gateway's host route and the subnet route via the gateway, on the
/// pod interface.
fn pod_routes(nl: &Netlink, index: u32, links: &[Link]) -> Result<(), Error> {
    for l in links {
        let routes = nl.routes(family(&l.addr), None)?;
        if !has_route(&routes, l.gw_host(), index, None) {
            return Err(fail(format!(
                "the pod's route to its gateway {} is missing",
                l.gw
            )));
        }
        if !has_route(&routes, l.subnet(), index, Some(l.gw)) {
            return Err(fail(format!(
                "the pod's route to {} via {} is missing",
                l.subnet(),
                l.gw
            )));
        }
    }
    Ok(())
}

/// The gateway addresses and the routes to the pod on the host end.
fn host_side(host: &Netlink, veth: &LinkInfo, links: &[Link]) -> Result<(), Error> {
    let addrs = host.addrs(Some(veth.index), Family::All)?;
    for l in links {
        if !addrs.iter().any(|a| a.addr == l.gw_host()) {
            return Err(fail(format!(
                "the gateway address {} is missing on {}",
                l.gw_host(),
                veth.name
            )));
        }
        let routes = host.routes(family(&l.addr), None)?;
        if !has_route(&routes, l.addr_host(), veth.index, None) {
            return Err(fail(format!(
                "the host's route to {} on {} is missing",
                l.addr.addr(),
                veth.name
            )));
        }
    }
    Ok(())
}
