//! The portmap plugin's verbs, wired to the skeleton.

use libcni::skel::{CmdArgs, Plugin};
use libcni::{CniResult, Error};

/// The plugin.
#[derive(Debug, Default)]
pub struct Portmap;

impl Plugin for Portmap {
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
}
