//! ADD: one address from every range set, recorded before it is returned.

use libcni::Error;
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Dns};

use crate::allocator::allocate;
use crate::config::Config;
use crate::dns;
use crate::plugin::key;
use crate::store::Store;

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    let conf = Config::load(args, true)?;
    let dns = match &conf.resolv_conf {
        Some(path) => dns::load(path)?,
        None => Dns::default(),
    };
    let mut store = Store::open(&conf.data_dir, &args.conf.name)?;
    let ips = allocate(&mut store, &key(args), &conf.range_sets, &conf.requested);
    store.finish();
    Ok(CniResult {
        interfaces: Vec::new(),
        ips: ips?,
        routes: conf.routes,
        dns,
    })
}
