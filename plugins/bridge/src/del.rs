//! DEL (SPEC.md "DEL"): idempotent and complete. Each part is removed
//! when present and skipped when already gone (netns, link, lease, rules);
//! failures of one part do not stop the others and are all reported.
//! containerd sends DEL twice per pod, the second time with `CNI_NETNS=""`
//! and no prevResult: both must succeed.

use ipnet::IpNet;
use libcni::invoke;
use libcni::skel::CmdArgs;
use libcni::spec::Error;
use netkit::firewall::MasqInstance;
use netkit::{NetNs, Netlink};

use crate::config;
use crate::container;
use crate::spoofchk::SpoofCheck;

/// Delete the container interface; returns its global addresses, or
/// `None` when the netns or the link is already gone.
fn delete_link(args: &CmdArgs) -> Result<Option<Vec<IpNet>>, Error> {
    if args.netns.is_empty() {
        return Ok(None);
    }
    let ns = match NetNs::open(&args.netns) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return Ok(None),
        // A path that exists but is no longer a namespace (a stale bind
        // mount target) holds no interface either.
        Err(netkit::NetNsError::NotNetns { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let nl = Netlink::in_netns(&ns)?;
    let link = match nl.link_by_name(&args.ifname) {
        Ok(l) => l,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let addrs = container::global_addrs(&nl, link.index)?;
    match nl.delete_link(link.index) {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Some(addrs))
}

/// Addresses from prevResult, when the runtime sent one.
fn prev_addrs(args: &CmdArgs) -> Option<Vec<IpNet>> {
    let prev = args.conf.prev_result().ok().flatten()?;
    let addrs: Vec<IpNet> = prev.ips.iter().map(|ip| ip.address).collect();
    (!addrs.is_empty()).then_some(addrs)
}

/// Run DEL.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let mut errors: Vec<Error> = Vec::new();

    let link_addrs = match delete_link(args) {
        Ok(a) => a,
        Err(e) => {
            errors.push(e.context(format!("deleting {}", args.ifname)));
            None
        }
    };

    if let Some(ipam) = conf.net.ipam_type() {
        let res = args
            .require_path("the IPAM plugin")
            .and_then(|path| invoke::delegate(ipam, "DEL", path, &args.stdin));
        if let Err(e) = res {
            errors.push(e.context(format!("IPAM plugin {ipam:?}")));
        }
    }

    if conf.macspoofchk
        && let Err(e) = SpoofCheck::new(&args.container_id, &args.ifname).teardown()
    {
        // As the reference: a leftover spoof check blocks nothing once
        // the veth is gone; report it without failing DEL.
        libcni::cni_warn!("{e}");
    }

    // By name, on both backends, whether or not ipMasq is set now and
    // whether or not the addresses are known (the reference leaks the
    // chain when the link is already gone). Free when nothing is there.
    if conf.has_ipam() {
        let known = link_addrs.or_else(|| prev_addrs(args));
        let res = MasqInstance::new(&conf.net.name, &args.container_id, &args.ifname)
            .and_then(|inst| inst.teardown(known.as_deref()));
        if let Err(e) = res {
            errors.push(Error::from(e).context("removing masquerade rules"));
        }
    }

    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => {
            let code = errors[0].code;
            let msg = errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            Err(Error::new(
                code,
                format!("DEL finished with {} errors: {msg}", errors.len()),
            ))
        }
    }
}
