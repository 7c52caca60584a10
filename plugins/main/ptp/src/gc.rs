//! GC (spec 1.1.0), which the reference ptp does not implement: stale
//! masquerade state of this network, then the IPAM delegate's GC
//! (`podnet::teardown::gc`). Interfaces need no GC: they die with their
//! pod's netns.

use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::config;

/// GC: remove masquerade state of this network's containers that are not
/// in `cni.dev/valid-attachments`, then pass GC to the IPAM delegate.
/// Both are attempted; errors of both are reported.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    podnet::teardown::gc(args, &conf.net)
}
