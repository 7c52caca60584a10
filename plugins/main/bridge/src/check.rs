//! CHECK (SPEC.md "CHECK"): the attachment still matches prevResult. Like
//! the reference: IPAM CHECK first; the bridge exists, is a bridge, has the
//! reported MAC and the configured promiscuous mode; the container
//! interface is a veth in the reported sandbox with the reported MAC; a
//! host veth is its peer and a port of the bridge; the addresses, and a
//! route for each result route, exist in the pod. Beyond the reference:
//! the masquerade rules are checked when `ipMasq` is on, and an L2-only
//! config (no IPAM type) passes without an IPAM call.

use hostnet::netlink::Family;
use hostnet::{NetNs, Netlink};
use ipnet::IpNet;
use libcni::invoke;
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Error, Interface};
use netfilter::MasqInstance;

use crate::code;
use crate::config::{self, BridgeConf};

fn fail(msg: impl Into<String>) -> Error {
    Error::plugin(code::CHECK_FAILED, msg)
}

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    if let Some(ipam) = conf.net.ipam_type() {
        let path = args.require_path("the IPAM plugin")?;
        invoke::delegate(ipam, "CHECK", path, &args.stdin)
            .map_err(|e| e.context(format!("IPAM plugin {ipam:?}")))?;
    }
    let prev = args.conf.prev_result()?.ok_or_else(|| {
        Error::invalid_config("CHECK needs prevResult: the runtime must pass the cached ADD result")
    })?;

    let host = Netlink::new()?;
    let br_if = prev.interfaces.iter().find(|i| i.name == conf.bridge);
    let br = check_bridge(&host, &conf, br_if)?;

    let cont_if = prev
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
    let pod = Netlink::in_netns(&pod_ns)?;
    let cont = pod.link_by_name(&args.ifname).map_err(|_| {
        fail(format!(
            "container interface {} not found in {}",
            args.ifname, args.netns
        ))
    })?;
    if !cont.is_veth() {
        return Err(fail(format!(
            "container interface {} is not a veth",
            args.ifname
        )));
    }
    check_mac(cont_if, cont.mac)?;

    // The host end: a veth of the result whose peer is the container
    // interface and whose master is the bridge.
    let peer_index = cont
        .link
        .ok_or_else(|| fail(format!("{} has no veth peer", args.ifname)))?;
    let host_veth = prev
        .interfaces
        .iter()
        .filter(|i| i.sandbox.is_empty() && i.name != conf.bridge)
        .filter_map(|i| host.link_by_name(&i.name).ok().map(|l| (i, l)))
        .find(|(_, l)| {
            l.is_veth()
                && l.index == peer_index
                && l.link == Some(cont.index)
                && l.master == Some(br.index)
        });
    let (host_if, host_link) = host_veth.ok_or_else(|| {
        fail(format!(
            "the host veth of {} on bridge {} was not found",
            args.ifname, conf.bridge
        ))
    })?;
    check_mac(host_if, host_link.mac)?;

    check_addresses(&pod, cont.index, &args.ifname, &prev)?;
    check_routes(&pod, &prev)?;

    if conf.macspoofchk
        && !crate::spoofchk::SpoofCheck::new(&args.container_id, &args.ifname).is_present()?
    {
        return Err(fail("the macspoofchk rules of this attachment are missing"));
    }
    if conf.ip_masq && conf.has_ipam() {
        let addrs: Vec<IpNet> = prev.ips.iter().map(|ip| ip.address).collect();
        MasqInstance::new(&conf.net.name, &args.container_id, &args.ifname)
            .and_then(|m| m.check(conf.ip_masq_backend, &addrs))
            .map_err(|e| Error::from(e).context("masquerade rules"))?;
    }
    Ok(())
}

fn check_mac(want: &Interface, have: Option<hostnet::MacAddr>) -> Result<(), Error> {
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

fn check_bridge(
    host: &Netlink,
    conf: &BridgeConf,
    want: Option<&Interface>,
) -> Result<hostnet::netlink::LinkInfo, Error> {
    let br = host
        .link_by_name(&conf.bridge)
        .map_err(|_| fail(format!("bridge {} was not found", conf.bridge)))?;
    if !br.is_bridge() {
        return Err(fail(format!("{} is not a bridge", conf.bridge)));
    }
    if let Some(w) = want {
        check_mac(w, br.mac)?;
    }
    if br.promisc != conf.promisc_mode {
        return Err(fail(format!(
            "bridge {} promiscuous mode is {}, the config says {}",
            conf.bridge, br.promisc, conf.promisc_mode
        )));
    }
    Ok(br)
}

fn check_addresses(pod: &Netlink, index: u32, ifname: &str, prev: &CniResult) -> Result<(), Error> {
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

fn check_routes(pod: &Netlink, prev: &CniResult) -> Result<(), Error> {
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
