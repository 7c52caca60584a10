//! The flannel plugin's verbs, wired to the skeleton.

use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::{CniResult, Error};

/// The flannel plugin. It speaks every spec version, as the reference
/// (built on cni v1.3.0) does: the delegate decides what it supports.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flannel;

impl Plugin for Flannel {
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
