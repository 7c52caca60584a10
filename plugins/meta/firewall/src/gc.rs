//! GC (spec 1.1.0): remove the rules of this network's attachments that
//! are not in `cni.dev/valid-attachments`. Attachments are known by their
//! state files (ours only: the reference's per-address rules carry no
//! attachment identity, so its leftovers cannot be attributed and stay).

use libcni::skel::CmdArgs;
use libcni::{Error, Errors};

use crate::config;
use crate::pod::Pod;
use crate::state::Store;
use crate::teardown::{self, Known};

/// Run GC.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    // Without the list, nothing can be known to be stale.
    let Some(valid) = args.conf.valid_attachments()? else {
        return Ok(());
    };
    let store = Store::new(&conf.data_dir, &conf.network);
    let mut errs = Errors::new();
    for rec in store.list()? {
        let keep = valid
            .iter()
            .any(|a| a.container_id == rec.container_id && a.ifname == rec.ifname);
        if keep {
            continue;
        }
        let Some(pod) = errs.record(Pod::from_parts(
            &conf.network,
            &rec.container_id,
            &rec.ifname,
        )) else {
            continue;
        };
        teardown::remove(&conf, &pod, &Known::recorded(rec, &conf), &store, &mut errs);
    }
    errs.finish("GC")
}
