//! GC (spec 1.1.0), beyond the reference, which leaks the ifb of every
//! attachment whose DEL never ran: delete the `bwp*` ifb devices of the
//! host namespace that belong to no valid attachment.
//!
//! An ifb's name is a hash, so it does not say which network made it.
//! GC therefore keeps an ifb when it is the ifb of one of this network's
//! valid attachments, or when any filter on a host link's ingress still
//! redirects to it (a live attachment, of this network or another). What
//! is left is an ifb nothing sends to: its veth, with the qdisc and
//! filter on it, is gone. (An ADD of another network that has created
//! its ifb but not yet its filter loses the ifb and fails; the runtime
//! retries it.)

use std::collections::HashSet;

use hostnet::Netlink;
use hostnet::netlink::tc::Handle;
use libcni::skel::CmdArgs;
use libcni::spec::{Error, Errors};

use crate::{config, ifb};

/// Run GC.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    config::load(args)?;
    let Some(valid) = args.conf.valid_attachments()? else {
        libcni::cni_warn!("GC without cni.dev/valid-attachments: keeping every ifb");
        return Ok(());
    };
    let keep: HashSet<String> = valid
        .iter()
        .map(|a| ifb::name(&args.conf.name, &a.container_id))
        .collect();
    let host = Netlink::new()?;
    let stale: Vec<_> = host
        .links()?
        .into_iter()
        .filter(|l| ifb::is_bandwidth_ifb(l.kind.as_deref(), &l.name) && !keep.contains(&l.name))
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let used = redirect_targets(&host)?;
    let mut errors = Errors::new();
    for l in stale.iter().filter(|l| !used.contains(&l.index)) {
        match host.delete_link(l.index) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                errors.push(Error::from(e).context(format!("deleting the stale ifb {}", l.name)));
            }
        }
    }
    errors.finish("GC")
}

/// Every device a filter on some link's ingress qdisc redirects to.
fn redirect_targets(host: &Netlink) -> Result<HashSet<u32>, Error> {
    let mut out = HashSet::new();
    for q in host.qdiscs(None)? {
        if q.kind != "ingress" {
            continue;
        }
        for f in host.filters(q.ifindex, Handle::INGRESS_HANDLE)? {
            out.extend(f.redirects.iter().map(|r| r.ifindex));
        }
    }
    Ok(out)
}
