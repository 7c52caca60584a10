//! The bridge plugin's verbs, wired to the skeleton.

use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::{CniResult, Error};

/// The bridge plugin.
#[derive(Debug, Default)]
pub struct Bridge;

impl Plugin for Bridge {
    /// `MAC=` is the only key the bridge reads (as the reference).
    fn cni_args_keys(&self) -> Option<&'static [&'static str]> {
        Some(&["MAC"])
    }

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
