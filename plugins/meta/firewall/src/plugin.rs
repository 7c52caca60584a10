//! The firewall plugin's verbs, wired to the skeleton.

use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::Version;
use libcni::{CniResult, Error};

/// The spec versions the reference v1.9.1 advertises
/// (`VersionsStartingFrom("0.4.0")`): a chained plugin needs `prevResult`
/// and CHECK, so 0.3.x and older are refused with code 1.
pub const VERSIONS: [Version; 3] = [Version::V0_4_0, Version::V1_0_0, Version::V1_1_0];

/// The plugin.
#[derive(Debug, Default)]
pub struct Firewall;

impl Plugin for Firewall {
    fn supported_versions(&self) -> &[Version] {
        &VERSIONS
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
