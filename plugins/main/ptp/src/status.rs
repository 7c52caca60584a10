//! STATUS (spec 1.1.0): the IPAM delegate's readiness, as the reference.

use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::config;

/// STATUS: ptp itself is always ready (`podnet::ipam::status`).
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    podnet::ipam::status(args, &conf.net)
}
