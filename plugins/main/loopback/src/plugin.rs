//! The loopback plugin's verbs, wired to the skeleton.

use libcni::Error;
use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::CniResult;

/// The loopback plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loopback;

impl Plugin for Loopback {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        crate::add::run(args)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::del::run(args)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        crate::check::run(args)
    }
}
