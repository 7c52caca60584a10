//! DEL: bring `lo` down; a namespace that is gone took its loopback with it.

use hostnet::{NetNs, NetNsError};
use libcni::skel::CmdArgs;
use libcni::{Error, cni_warn};

use crate::lo::open_lo;

/// Run DEL.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    // containerd's second DEL comes without a netns; a netns that is
    // gone took its loopback with it.
    if args.netns.is_empty() {
        return Ok(());
    }
    let netns = match NetNs::open(&args.netns) {
        Ok(ns) => ns,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e @ NetNsError::NotNetns { .. }) => {
            // A leftover file where the namespace was bind-mounted.
            cni_warn!("DEL: {e}; treating the namespace as gone");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let (nl, lo) = open_lo(&netns)?;
    nl.set_down(lo.index)?;
    Ok(())
}
