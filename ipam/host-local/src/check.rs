//! CHECK: the store and prevResult agree on the attachment's addresses.

use std::net::IpAddr;

use libcni::Error;
use libcni::skel::CmdArgs;

use crate::code;
use crate::config::Config;
use crate::plugin::key;
use crate::store::Store;

/// The attachment must hold a recorded address, and (given a
/// prevResult) exactly the addresses prevResult reports in our ranges.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = Config::load(args, false)?;
    let key = key(args);
    let missing = || {
        Error::plugin(
            code::CHECK_FAILED,
            format!(
                "no address is recorded for container {} interface {} in network {}",
                key.container_id, key.ifname, args.conf.name
            ),
        )
    };
    let Some(store) = Store::open_existing(&conf.data_dir, &args.conf.name)? else {
        return Err(missing());
    };
    let mut held = store.lookup(&key, false);
    if held.as_ref().is_ok_and(Vec::is_empty) {
        held = store.lookup(&key, true);
    }
    store.finish();
    let held: Vec<IpAddr> = held?.into_iter().map(|r| r.ip).collect();
    if held.is_empty() {
        return Err(missing());
    }
    let Some(prev) = args.conf.prev_result()? else {
        return Ok(());
    };
    let prev: Vec<IpAddr> = prev
        .ips
        .iter()
        .map(|c| c.address.addr().to_canonical())
        .collect();
    for (i, set) in conf.range_sets.iter().enumerate() {
        let mismatch = |what: String| Err(Error::plugin(code::CHECK_FAILED, what));
        for ip in prev.iter().filter(|ip| set.contains(**ip)) {
            if !held.contains(ip) {
                return mismatch(format!(
                    "prevResult address {ip} (range set {i}) is not recorded for container {} interface {}",
                    key.container_id, key.ifname
                ));
            }
        }
        for ip in held.iter().filter(|ip| set.contains(**ip)) {
            if !prev.contains(ip) {
                return mismatch(format!(
                    "address {ip} (range set {i}) is recorded for container {} interface {} but missing from prevResult",
                    key.container_id, key.ifname
                ));
            }
        }
    }
    Ok(())
}
