//! The host-local plugin's verbs, wired to the skeleton.

use libcni::Error;
use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::CniResult;

use crate::store::Key;

/// The host-local IPAM plugin.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostLocal;

/// The store's key of the attachment a call is about.
pub(crate) fn key(args: &CmdArgs) -> Key {
    Key::new(&args.container_id, &args.ifname)
}

impl Plugin for HostLocal {
    /// `IP=` is the only CNI_ARGS key host-local reads; others fail ADD and
    /// CHECK unless `IgnoreUnknown` is set (as in the reference).
    fn cni_args_keys(&self) -> Option<&'static [&'static str]> {
        Some(&["IP"])
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
