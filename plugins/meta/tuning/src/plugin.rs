//! The tuning plugin's verbs, wired to the skeleton.

use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::{CniResult, Error};

/// The tuning plugin.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tuning;

impl Plugin for Tuning {
    /// `MAC=` is the only key tuning reads (podman's `--mac-address`);
    /// others need `IgnoreUnknown`, as in the reference.
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
