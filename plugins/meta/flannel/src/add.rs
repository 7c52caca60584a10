//! ADD: read the node's lease, build the delegate config, save it, run the
//! delegate's ADD and return its result.
//!
//! The order makes a failure leave nothing the runtime cannot clean up:
//! everything that can be refused (the lease, the keys, the delegate
//! binary) is checked before anything is written; the config is saved
//! before the delegate runs, so when the delegate's ADD fails half-way the
//! runtime's DEL still finds what to replay (the reference keeps it too).

use libcni::invoke;
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Error};

use crate::scratch::Store;
use crate::{config, delegate, subnet_env};

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    let conf = config::parse(args)?;
    let env = subnet_env::load(&conf.subnet_file).map_err(|e| e.for_add())?;
    let d = delegate::build(&conf, &env)?;
    let bytes = delegate::to_bytes(&d)?;
    let plugin = delegate::required_type(&d)?;
    let binary = invoke::find_in_path(plugin, args.require_path("the delegate plugin")?)?;
    Store::new(&conf.data_dir).save(&args.container_id, &args.ifname, &bytes)?;
    invoke::delegate_add(&binary, &bytes, args.version)
}
