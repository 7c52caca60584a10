//! GC (spec 1.1.0; the reference has none): remove the backups this
//! network's ADDs wrote for attachments that are not in
//! `cni.dev/valid-attachments`. A DEL that never came (a crash, a lost
//! netns) otherwise leaves them in `dataDir` until reboot.

use libcni::skel::CmdArgs;
use libcni::{Error, cni_warn};

use crate::backup::Store;
use crate::config;

/// Run GC.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let Some(dir) = config::teardown_data_dir(&args.stdin) else {
        return Ok(());
    };
    match args.conf.valid_attachments()? {
        Some(valid) => Store::new(dir).gc(&args.conf.name, &valid),
        None => {
            // Without a valid list nothing can be proven stale.
            cni_warn!("GC without cni.dev/valid-attachments: keeping every tuning backup");
            Ok(())
        }
    }
}
