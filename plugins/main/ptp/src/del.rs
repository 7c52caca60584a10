//! DEL (SPEC.md "DEL"): idempotent and complete, as every pod interface
//! plugin's (`podnet::teardown::del`). Deleting the pod interface takes
//! the host end with it, and with it the gateway address and the route to
//! the pod; the lease is released and the masquerade rules are found by
//! name on both backends, so DEL also cleans up when the netns, the link
//! or prevResult is gone, or `ipMasq` changed since ADD (the reference
//! leaks the rules in all four cases).

use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::config;

/// Run DEL.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    podnet::teardown::del(args, &conf.net, || {})
}
