//! GC (spec 1.1.0): remove the iptables state of this network's containers
//! that are not in `cni.dev/valid-attachments`.
//!
//! nftables state is left alone: its rules carry only the container ID
//! (the reference's layout), so GC cannot tell which network a rule
//! belongs to, and deleting another network's live mappings is worse than
//! keeping a stale one until its pod's DEL.

use libcni::skel::CmdArgs;
use libcni::{Error, Errors};
use netfilter::driver;

use crate::config;
use crate::iptables::PortmapGc;

/// Run GC.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    // Without the list, nothing can be known to be stale.
    let Some(valid) = args.conf.valid_attachments()? else {
        return Ok(());
    };
    let mut errs = Errors::new();
    let network = PortmapGc {
        network: &conf.network,
        valid: &valid,
    };
    driver::iptables::gc(&network, &mut errs);
    errs.finish("GC")
}
