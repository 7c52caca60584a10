//! DEL (SPEC.md "DEL"): idempotent and complete, as every pod interface
//! plugin's (`podnet::teardown::del`: lease, veth and masquerade rules,
//! each removed when present and skipped when gone, every failure
//! reported), plus the bridge's MAC spoof check. containerd sends DEL
//! twice per pod, the second time with `CNI_NETNS=""` and no prevResult:
//! both must succeed.

use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::config;
use crate::spoofchk::SpoofCheck;

/// Run DEL.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    podnet::teardown::del(args, &conf.net, || {
        if conf.macspoofchk
            && let Err(e) = SpoofCheck::new(&args.container_id, &args.ifname).teardown()
        {
            // As the reference: a leftover spoof check blocks nothing once
            // the veth is gone; report it without failing DEL.
            libcni::cni_warn!("{e}");
        }
    })
}
