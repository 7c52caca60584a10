//! STATUS (spec 1.1.0): can the store be written, and is a range set full?

use std::collections::HashSet;
use std::net::IpAddr;

use libcni::Error;
use libcni::skel::CmdArgs;

use crate::config::Config;
use crate::store::Store;

/// Code 50 when the store cannot be created, locked or written; 51
/// when some range set is exhausted, i.e. every range of its pool is
/// full: ADD needs one address from each set, so it would fail. A set
/// with one full range and room in another is fine (ADD walks on).
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = Config::load(args, false)?;
    let unusable = |e: Error| {
        Error::not_available(format!(
            "the address store under {} is not usable: {}",
            conf.data_dir.display(),
            e.msg
        ))
    };
    let mut store = Store::open(&conf.data_dir, &args.conf.name).map_err(unusable)?;
    let probe = store.probe_write();
    let used = store.all_addresses();
    store.finish();
    probe.map_err(unusable)?;
    let used: HashSet<IpAddr> = used.map_err(unusable)?.into_iter().collect();
    let exhausted: Vec<String> = conf
        .range_sets
        .iter()
        .enumerate()
        .filter(|(_, set)| set.is_exhausted(&used))
        .map(|(i, set)| format!("range set {i} ({set})"))
        .collect();
    if exhausted.is_empty() {
        return Ok(());
    }
    Err(Error::not_available_limited(format!(
        "{} exhausted: every address of every range is allocated, so ADD (one address per set) would fail; release some (DEL, GC) or enlarge the range",
        if exhausted.len() == 1 {
            format!("{} is", exhausted[0])
        } else {
            format!("{} are", exhausted.join(" and "))
        }
    )))
}
