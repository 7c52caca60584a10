//! STATUS (spec 1.1.0): the plugin needs no daemon, store or delegate, so
//! it is ready whenever its configuration is valid (an invalid one is
//! code 7, which ADD would answer too).

use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::config;

/// Run STATUS.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    config::load(args).map(|_| ())
}
