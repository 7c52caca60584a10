//! CHECK (SPEC.md "CHECK"): the attachment still matches prevResult. Like
//! the reference: IPAM CHECK first; the bridge exists, is a bridge, has the
//! reported MAC and the configured promiscuous mode; the container
//! interface is a veth in the reported sandbox with the reported MAC; a
//! host veth is its peer and a port of the bridge; the addresses, and a
//! route for each result route, exist in the pod. Beyond the reference:
//! the masquerade rules are checked when `ipMasq` is on, and an L2-only
//! config (no IPAM type) passes without an IPAM call.

use hostnet::Netlink;
use libcni::skel::CmdArgs;
use libcni::spec::{Error, Interface};
use podnet::check::{self, fail};

use crate::config::{self, BridgeConf};

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let prev = check::ipam_then_prev_result(args, &conf.net)?;

    let host = Netlink::new()?;
    let br_if = prev.interfaces.iter().find(|i| i.name == conf.bridge);
    let br = check_bridge(&host, &conf, br_if)?;

    let pod = check::pod_iface(args, &prev)?;
    // The host end: a veth of the result whose peer is the container
    // interface and whose master is the bridge.
    let (host_if, host_link) = check::host_peer(&host, &prev, &pod, |i, l| {
        i.name != conf.bridge && l.master == Some(br.index)
    })
    .ok_or_else(|| {
        fail(format!(
            "the host veth of {} on bridge {} was not found",
            args.ifname, conf.bridge
        ))
    })?;
    check::mac(host_if, host_link.mac)?;

    check::addresses(&pod.nl, pod.link.index, &args.ifname, &prev)?;
    check::routes(&pod.nl, &prev)?;

    if conf.macspoofchk
        && !crate::spoofchk::SpoofCheck::new(&args.container_id, &args.ifname).is_present()?
    {
        return Err(fail("the macspoofchk rules of this attachment are missing"));
    }
    if conf.ip_masq && conf.has_ipam() {
        check::masquerade(args, &conf.net, conf.ip_masq_backend, &prev)?;
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
        check::mac(w, br.mac)?;
    }
    if br.promisc != conf.promisc_mode {
        return Err(fail(format!(
            "bridge {} promiscuous mode is {}, the config says {}",
            conf.bridge, br.promisc, conf.promisc_mode
        )));
    }
    Ok(br)
}
