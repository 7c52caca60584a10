//! DEL: release the attachment's addresses; idempotent.

use libcni::Error;
use libcni::skel::CmdArgs;

use crate::config::data_dir_lenient;
use crate::plugin::key;
use crate::store::Store;

/// Release every address of the attachment. Needs only the network
/// name and `dataDir`, so a config that no longer validates (or a
/// store that was never created) does not make DEL fail.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let data_dir = data_dir_lenient(&args.stdin)?;
    let Some(mut store) = Store::open_existing(&data_dir, &args.conf.name)? else {
        return Ok(());
    };
    let released = store.release(&key(args));
    store.finish();
    released.map(|_| ())
}
