//! The bandwidth plugin's verbs, wired to the skeleton.

use libcni::Version;
use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::{CniResult, Error};

/// The versions the reference v1.9.1 claims: from 0.3.0, the first with
/// chaining (`prevResult`), to 1.1.0.
const VERSIONS: [Version; 5] = [
    Version::V0_3_0,
    Version::V0_3_1,
    Version::V0_4_0,
    Version::V1_0_0,
    Version::V1_1_0,
];

/// The bandwidth plugin.
#[derive(Debug, Default)]
pub struct Bandwidth;

impl Plugin for Bandwidth {
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
