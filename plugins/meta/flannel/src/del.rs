//! DEL: replay the saved delegate config with `CNI_COMMAND=DEL`.
//!
//! Deliberate differences from the reference (v1.2.0 and later), so that a
//! retried DEL is never a no-op that leaks (ARCHITECTURE.md principle 5):
//! - the saved config is removed only after the delegate's DEL succeeded;
//!   the reference removes it first, so a DEL retried after a failed
//!   delegate DEL never reaches bridge and host-local again;
//! - an unparsable saved config is reported and removed, and DEL succeeds
//!   (the reference keeps it for ever); when our file is the unparsable
//!   one, the reference's name is still tried.
//!
//! No saved config means nothing to undo: DEL succeeds without calling
//! anything, as the reference does.

use libcni::skel::CmdArgs;
use libcni::spec::Error;
use libcni::{cni_warn, invoke};

use crate::config;
use crate::scratch::Store;

/// Run DEL.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::parse(args)?;
    let store = Store::new(&conf.data_dir);
    for saved in store.candidates(&args.container_id, &args.ifname)? {
        let Some(plugin) = saved.plugin_type() else {
            cni_warn!(
                "{} is not a delegate config (no JSON object with a \"type\"): removing it",
                saved.path.display()
            );
            store.remove_file(&saved.path)?;
            continue;
        };
        let path = args.require_path("the delegate plugin")?;
        invoke::delegate(&plugin, "DEL", path, &saved.bytes)?;
        return store.remove(&args.container_id, &args.ifname, &saved);
    }
    Ok(())
}
