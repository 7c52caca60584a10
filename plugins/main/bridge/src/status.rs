//! STATUS (spec 1.1.0): the IPAM delegate's readiness.

use libcni::invoke;
use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::config;

/// STATUS: the bridge itself is always ready; readiness is the IPAM
/// delegate's (SPEC.md: STATUS must be passed to the delegate).
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    if let Some(ipam) = conf.net.ipam_type() {
        let path = args.require_path("the IPAM plugin")?;
        invoke::delegate(ipam, "STATUS", path, &args.stdin)?;
    }
    Ok(())
}
