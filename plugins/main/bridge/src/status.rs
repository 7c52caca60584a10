//! STATUS (spec 1.1.0): the IPAM delegate's readiness.

use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::config;

/// STATUS: the bridge itself is always ready; readiness is the IPAM
/// delegate's (`podnet::ipam::status`).
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    podnet::ipam::status(args, &conf.net)
}
