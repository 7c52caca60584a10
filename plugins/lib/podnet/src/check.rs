//! The CHECK (SPEC.md "CHECK") questions every pod interface plugin asks:
//! the IPAM delegate's CHECK first, as the reference; prevResult is
//! required; the pod interface is a veth in the reported sandbox with the
//! reported MAC; its addresses and a route for each result route exist in
//! the pod; with `ipMasq`, the masquerade rules exist (the reference never
//! looks at them). Failures are [`code::CHECK_FAILED`].

use hostnet::netlink::{Family, LinkInfo};
use hostnet::{MacAddr, NetNs, Netlink};
use ipnet::IpNet;
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Error, Interface, NetConf};
use netfilter::{Backend, MasqInstance};

use crate::{code, ipam};

/// A CHECK failure: the attachment differs from its result.
pub fn fail(msg: impl Into<String>) -> Error {
    Error::plugin(code::CHECK_FAILED, msg)
}

/// The IPAM delegate's CHECK, then prevResult (required: the runtime
/// passes the cached ADD result).
pub fn ipam_then_prev_result(args: &CmdArgs, net: &NetConf) -> Result<CniResult, Error> {
    ipam::delegate(args, net, "CHECK")?;
    args.conf.prev_result()?.ok_or_else(|| {
        Error::invalid_config("CHECK needs prevResult: the runtime must pass the cached ADD result")
    })
}

/// The pod interface as CHECK found it.
#[derive(Debug)]
pub struct PodIface<'a> {
    /// Its entry in prevResult.
    pub entry: &'a Interface,
    /// A socket in the pod's namespace.
    pub nl: Netlink,
    /// The link as the kernel has it.
    pub link: LinkInfo,
}

/// The prevResult entry named `CNI_IFNAME` in sandbox `CNI_NETNS`, and the
/// link it names: it must exist, be a veth, and have the reported MAC.
pub fn pod_iface<'a>(args: &CmdArgs, prev: &'a CniResult) -> Result<PodIface<'a>, Error> {
    let entry = prev
        .interfaces
        .iter()
        .find(|i| i.name == args.ifname && i.sandbox == args.netns)
        .ok_or_else(|| {
            fail(format!(
                "prevResult has no interface {:?} in sandbox {:?}",
                args.ifname, args.netns
            ))
        })?;
    let pod_ns = NetNs::open(&args.netns)?;
    let nl = Netlink::in_netns(&pod_ns)?;
    let link = nl.link_by_name(&args.ifname).map_err(|_| {
        fail(format!(
            "container interface {} not found in {}",
            args.ifname, args.netns
        ))
    })?;
    if !link.is_veth() {
        return Err(fail(format!(
            "container interface {} is not a veth",
            args.ifname
        )));
    }
    mac(entry, link.mac)?;
    Ok(PodIface { entry, nl, link })
}

/// The host end of `pod`'s veth among prevResult's host-side interfaces
/// (no sandbox) that `accept` admits: the link whose peer is the pod
/// interface. Its reported MAC must match.
pub fn host_peer<'a>(
    host: &Netlink,
    prev: &'a CniResult,
    pod: &PodIface<'_>,
    accept: impl Fn(&Interface, &LinkInfo) -> bool,
) -> Option<(&'a Interface, LinkInfo)> {
    let peer_index = pod.link.link?;
    prev.interfaces
        .iter()
        .filter(|i| i.sandbox.is_empty())
        .filter_map(|i| host.link_by_name(&i.name).ok().map(|l| (i, l)))
        .find(|(i, l)| {
            l.is_veth() && l.index == peer_index && l.link == Some(pod.link.index) && accept(i, l)
        })
}

/// The link's MAC is the one in `want`, when `want` has one (compared
/// without regard to case).
pub fn mac(want: &Interface, have: Option<MacAddr>) -> Result<(), Error> {
    if want.mac.is_empty() {
        return Ok(());
    }
    let have = have.map(|m| m.to_string()).unwrap_or_default();
    if !want.mac.eq_ignore_ascii_case(&have) {
        return Err(fail(format!(
            "interface {} has MAC {have}, prevResult says {}",
            want.name, want.mac
        )));
    }
    Ok(())
}

/// Every prevResult address of interface `ifname` (or of no interface) is
/// on link `index`.
pub fn addresses(pod: &Netlink, index: u32, ifname: &str, prev: &CniResult) -> Result<(), Error> {
    let have = pod.addrs(Some(index), Family::All)?;
    for ip in prev.ips.iter().filter(|ip| {
        ip.interface
            .is_none_or(|i| prev.interfaces.get(i).is_some_and(|x| x.name == ifname))
    }) {
        if !have.iter().any(|a| a.addr == ip.address) {
            return Err(fail(format!(
                "address {} is missing on {ifname}",
                ip.address
            )));
        }
    }
    Ok(())
}

/// Every prevResult route has a route in the pod to the same destination
/// (in its table), through its gateway when it names one (the reference
/// since v1.3.0; 1.1.1 also demanded a gateway of routes that have none).
pub fn routes(pod: &Netlink, prev: &CniResult) -> Result<(), Error> {
    for r in &prev.routes {
        let family = if r.dst.addr().is_ipv4() {
            Family::V4
        } else {
            Family::V6
        };
        let routes = pod.routes(family, r.table)?;
        let found = routes.iter().any(|have| {
            have.dst == r.dst.trunc() && r.gw.is_none_or(|gw| have.gateways().contains(&gw))
        });
        if !found {
            return Err(fail(format!(
                "route to {}{} is missing",
                r.dst,
                r.gw.map(|g| format!(" via {g}")).unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// With `ipMasq`, the masquerade rules of prevResult's addresses exist in
/// `backend` (or the default backend).
pub fn masquerade(
    args: &CmdArgs,
    net: &NetConf,
    backend: Option<Backend>,
    prev: &CniResult,
) -> Result<(), Error> {
    let addrs: Vec<IpNet> = prev.ips.iter().map(|ip| ip.address).collect();
    MasqInstance::new(&net.name, &args.container_id, &args.ifname)
        .and_then(|m| m.check(backend, &addrs))
        .map_err(|e| Error::from(e).context("masquerade rules"))
}
