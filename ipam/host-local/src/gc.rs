//! GC (spec 1.1.0): release the records of attachments that are not valid.

use std::collections::HashSet;

use libcni::Error;
use libcni::skel::CmdArgs;

use crate::config::data_dir_lenient;
use crate::store::{Owner, Store};

/// Release every record of this network whose attachment is not in
/// `cni.dev/valid-attachments` (or `cni.dev/attachments`). Without
/// either key nothing is assumed stale and nothing is released.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let Some(valid) = args.conf.valid_attachments()? else {
        return Ok(());
    };
    let data_dir = data_dir_lenient(&args.stdin)?;
    let Some(mut store) = Store::open_existing(&data_dir, &args.conf.name)? else {
        return Ok(());
    };
    let pairs: HashSet<(&str, &str)> = valid
        .iter()
        .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
        .collect();
    let ids: HashSet<&str> = valid.iter().map(|a| a.container_id.as_str()).collect();
    let released = store.collect(|owner| match owner {
        Owner::Attachment {
            container_id,
            ifname,
        } => pairs.contains(&(container_id.as_str(), ifname.as_str())),
        Owner::Legacy(id) => ids.contains(id.as_str()),
        // Empty or unreadable content: a reservation that never
        // completed; nobody can hold it.
        Owner::Unknown => false,
    });
    store.finish();
    released.map(|_| ())
}
