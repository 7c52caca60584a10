//! DEL (SPEC.md "DEL"): idempotent and complete. Each part is removed
//! when present and skipped when already gone (netns, link, lease, rules);
//! failures of one part do not stop the others and are all reported.
//! containerd sends DEL twice per pod, the second time with `CNI_NETNS=""`
//! and no prevResult: both must succeed.

use hostnet::{NetNs, Netlink};
use ipnet::IpNet;
use libcni::invoke;
use libcni::skel::CmdArgs;
use libcni::spec::{Error, Errors};
use netfilter::MasqInstance;

use crate::config;
use crate::container;
use crate::spoofchk::SpoofCheck;

/// The container interface as found before teardown: the socket in its
/// namespace, its index and its global addresses.
struct PodLink {
    nl: Netlink,
    index: u32,
    addrs: Vec<IpNet>,
}

/// Find the container interface; `None` when the netns or the link is
/// already gone.
fn find_link(args: &CmdArgs) -> Result<Option<PodLink>, Error> {
    if args.netns.is_empty() {
        return Ok(None);
    }
    let ns = match NetNs::open(&args.netns) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return Ok(None),
        // A path that exists but is no longer a namespace (a stale bind
        // mount target) holds no interface either.
        Err(hostnet::NetNsError::NotNetns { .. }) => return Ok(None),
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

/// Run DEL. The three parts that wait on the kernel or another process
/// (deleting the veth waits for RCU in the kernel; the firewall commit
/// waits in the kernel too; the IPAM plugin is a separate process) run at
/// the same time: they touch disjoint state, and DEL's latency becomes the
/// slowest of them instead of their sum.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let mut errors = Errors::new();

    std::thread::scope(|s| {
        // The IPAM plugin first: a process start plus its run is the
        // longest of the three parts, and it needs nothing found here.
        let ipam = conf.net.ipam_type().map(|ipam| {
            s.spawn(move || {
                args.require_path("the IPAM plugin")
                    .and_then(|path| invoke::delegate(ipam, "DEL", path, &args.stdin))
                    .map(|_| ())
                    .map_err(|e| e.context(format!("IPAM plugin {ipam:?}")))
            })
        });

        let pod = find_link(args).unwrap_or_else(|e| {
            errors.push(e.context(format!("looking up {}", args.ifname)));
            None
        });
        // By name, on both backends, whether or not ipMasq is set now and
        // whether or not the addresses are known (the reference leaks the
        // chain when the link is already gone). Free when nothing is there.
        let known = pod
            .as_ref()
            .map(|p| p.addrs.clone())
            .or_else(|| prev_addrs(args));
        let masq = conf.has_ipam().then(|| {
            let net = &conf.net.name;
            s.spawn(move || {
                MasqInstance::new(net, &args.container_id, &args.ifname)
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
        if conf.macspoofchk
            && let Err(e) = SpoofCheck::new(&args.container_id, &args.ifname).teardown()
        {
            // As the reference: a leftover spoof check blocks nothing once
            // the veth is gone; report it without failing DEL.
            libcni::cni_warn!("{e}");
        }

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
