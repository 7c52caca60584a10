//! DEL (SPEC.md "DEL") and GC (spec 1.1.0) of a pod interface plugin.
//!
//! DEL is idempotent and complete (ARCHITECTURE.md principle 5): each part
//! is removed when present and skipped when already gone (netns, link,
//! lease, rules); a failing part does not stop the others, and every
//! failure is reported (`libcni::Errors`). containerd sends DEL twice per
//! pod, the second time with `CNI_NETNS=""` and no prevResult: both
//! succeed.

use hostnet::{NetNs, NetNsError, Netlink};
use ipnet::IpNet;
use libcni::skel::CmdArgs;
use libcni::spec::{Error, Errors, NetConf};
use netfilter::MasqInstance;

use crate::container;
use crate::ipam;

/// The pod interface as found before teardown: the socket in its
/// namespace, its index and its global addresses.
struct PodLink {
    nl: Netlink,
    index: u32,
    addrs: Vec<IpNet>,
}

/// Find the pod interface; `None` when the netns or the link is already
/// gone.
fn find_link(args: &CmdArgs) -> Result<Option<PodLink>, Error> {
    if args.netns.is_empty() {
        return Ok(None);
    }
    let ns = match NetNs::open(&args.netns) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return Ok(None),
        // A path that exists but is no longer a namespace (a stale bind
        // mount target) holds no interface either.
        Err(NetNsError::NotNetns { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let nl = Netlink::in_netns(&ns)?;
    let link = match nl.link_by_name(&args.ifname) {
        Ok(l) => l,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let addrs = container::global_addrs(&nl, link.index)?;
    Ok(Some(PodLink {
        nl,
        index: link.index,
        addrs,
    }))
}

/// Addresses from prevResult, when the runtime sent one.
fn prev_addrs(args: &CmdArgs) -> Option<Vec<IpNet>> {
    let prev = args.conf.prev_result().ok().flatten()?;
    let addrs: Vec<IpNet> = prev.ips.iter().map(|ip| ip.address).collect();
    (!addrs.is_empty()).then_some(addrs)
}

/// DEL of the attachment `args` names on network `net`: release the
/// lease (IPAM DEL), delete the pod interface (its veth peer, and what the
/// host side carries, go with it), and remove the masquerade rules by name
/// on both backends, whether or not `ipMasq` is set now and whether or not
/// the addresses are still known (the reference leaks the chain when the
/// link is already gone). Then `after_link`, on this thread, for what only
/// the plugin knows about.
///
/// The three parts that wait on the kernel or another process (deleting
/// the veth waits for RCU in the kernel; the firewall commit waits in the
/// kernel too; the IPAM plugin is a separate process) run at the same
/// time: they touch disjoint state, and DEL's latency becomes the slowest
/// of them instead of their sum.
pub fn del(args: &CmdArgs, net: &NetConf, after_link: impl FnOnce()) -> Result<(), Error> {
    let mut errors = Errors::new();
    let has_ipam = net.ipam_type().is_some();

    std::thread::scope(|s| {
        // The IPAM plugin first: a process start plus its run is the
        // longest of the three parts, and it needs nothing found here.
        let ipam = has_ipam.then(|| s.spawn(move || ipam::delegate(args, net, "DEL")));

        let pod = find_link(args).unwrap_or_else(|e| {
            errors.push(e.context(format!("looking up {}", args.ifname)));
            None
        });
        // Free when nothing is there (an L2-only network has none).
        let known = pod
            .as_ref()
            .map(|p| p.addrs.clone())
            .or_else(|| prev_addrs(args));
        let masq = has_ipam.then(|| {
            let network = &net.name;
            s.spawn(move || {
                MasqInstance::new(network, &args.container_id, &args.ifname)
                    .map_err(Error::from)
                    .and_then(|inst| inst.teardown(known.as_deref()))
                    .map_err(|e| e.context("removing masquerade rules"))
            })
        });

        if let Some(p) = &pod {
            match p.nl.delete_link(p.index) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => errors.push(Error::from(e).context(format!("deleting {}", args.ifname))),
            }
        }
        after_link();

        for handle in [ipam, masq].into_iter().flatten() {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push(Error::internal("a DEL worker thread panicked")),
            }
        }
    });

    errors.finish("DEL")
}

/// GC: remove masquerade state of `net`'s containers that are not in
/// `cni.dev/valid-attachments`, then pass GC to the IPAM delegate
/// (SPEC.md: plugins must pass GC on). Both are attempted; errors of both
/// are reported.
pub fn gc(args: &CmdArgs, net: &NetConf) -> Result<(), Error> {
    let mut errors = Errors::new();
    match args.conf.valid_attachments()? {
        Some(valid) => {
            if let Err(e) = netfilter::ipmasq::gc(&net.name, &valid) {
                errors.push(e.context("masquerade GC"));
            }
        }
        // Without a valid list nothing can be proven stale.
        None => {
            libcni::cni_warn!("GC without cni.dev/valid-attachments: keeping all masquerade state");
        }
    }
    if let Err(e) = ipam::delegate(args, net, "GC") {
        errors.push(e);
    }
    errors.finish("GC")
}
