//! STATUS (spec 1.1.0; the reference answers success without looking):
//! code 50 while `subnet.env` is missing, incomplete or broken, because
//! every ADD would fail then. A runtime that asks STATUS before ADD
//! (containerd 2.x) then reports the node's network as not ready and waits,
//! instead of failing pods on a node that has just booted. With a lease,
//! the delegate is asked the same question with the config ADD would give
//! it.

use libcni::invoke;
use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::{config, delegate, subnet_env};

/// Run STATUS.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::parse(args)?;
    let env = subnet_env::load(&conf.subnet_file).map_err(|e| e.for_status())?;
    let d = delegate::build(&conf, &env)?;
    let plugin = delegate::required_type(&d)?;
    let path = args.require_path("the delegate plugin")?;
    invoke::delegate(plugin, "STATUS", path, &delegate::to_bytes(&d)?)?;
    Ok(())
}
