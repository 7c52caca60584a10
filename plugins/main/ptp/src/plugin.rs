//! The ptp plugin's verbs, wired to the skeleton.

use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::{CniResult, Error};

/// The ptp plugin. It reads no `CNI_ARGS` key itself (`IP=` and the like
/// reach the IPAM plugin through the environment), so any content is
/// accepted, as the reference does.
#[derive(Debug, Default)]
pub struct Ptp;

impl Plugin for Ptp {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        crate::add::run(args)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::del::run(args)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::check::run(args)
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::gc::run(args)
    }

    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::status::run(args)
    }
}
