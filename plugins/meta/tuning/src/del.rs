//! DEL: put back the link attributes recorded by ADD (ours or the
//! reference's), then remove the backup. Idempotent: without a backup
//! there is nothing to do.
//!
//! Like the reference, DEL reads only what it needs from the config (a
//! config ADD refused cannot have left a backup) and keeps the backup when
//! a restore fails, so that the next DEL tries again. Unlike it:
//! - a restore failure is reported, not dropped (ARCHITECTURE.md
//!   principle 4);
//! - when the namespace or the link is gone, or the backup cannot be
//!   parsed, the backup is removed instead of kept forever: nothing can
//!   be restored from it any more (principle 5).

use hostnet::{NetNs, NetNsError, Netlink};
use libcni::skel::CmdArgs;
use libcni::{Error, cni_warn};

use crate::backup::{Backup, Store};
use crate::{config, link};

/// Run DEL.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let Some(dir) = config::teardown_data_dir(&args.stdin) else {
        return Ok(());
    };
    let store = Store::new(dir);
    let (net, cid, ifname) = (&args.conf.name, &args.container_id, &args.ifname);
    let forget = || store.remove(net, cid, ifname);
    let Some(text) = store.read(cid, ifname)? else {
        // The marker may outlive a backup the reference's DEL removed.
        return forget();
    };
    if args.netns.is_empty() {
        return forget();
    }
    let netns = match NetNs::open(&args.netns) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return forget(),
        Err(e @ NetNsError::NotNetns { .. }) => {
            cni_warn!("DEL: {e}; treating the namespace as gone");
            return forget();
        }
        Err(e) => return Err(e.into()),
    };
    let nl = Netlink::in_netns(&netns)?;
    let l = match nl.link_by_name(ifname) {
        Ok(l) => l,
        Err(e) if e.is_not_found() => return forget(),
        Err(e) => return Err(e.into()),
    };
    let backup = match Backup::parse(&text) {
        Ok(b) => b,
        Err(why) => {
            cni_warn!(
                "DEL: the tuning backup {} cannot be read ({why}); removing it",
                store.file(cid, ifname).display()
            );
            return forget();
        }
    };
    let mut errors = link::restore(&nl, l.index, &backup);
    if errors.is_empty() {
        errors.record(forget());
    }
    errors.finish("DEL")
}
