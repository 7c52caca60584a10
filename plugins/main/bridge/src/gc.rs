//! GC (spec 1.1.0): stale masquerade state of this network, then the IPAM
//! delegate's GC.

use libcni::invoke;
use libcni::skel::CmdArgs;
use libcni::spec::{Error, Errors};

use crate::config;

/// GC: remove masquerade state of this network's containers that are
/// not in `cni.dev/valid-attachments`, then pass GC to the IPAM
/// delegate (SPEC.md: plugins must pass GC on). Both are attempted;
/// errors of both are reported.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let mut errors = Errors::new();
    match args.conf.valid_attachments()? {
        Some(valid) => {
            if let Err(e) = netfilter::ipmasq::gc(&conf.net.name, &valid) {
                errors.push(e.context("masquerade GC"));
            }
        }
        // Without a valid list nothing can be proven stale.
        None => {
            libcni::cni_warn!("GC without cni.dev/valid-attachments: keeping all masquerade state");
        }
    }
    if let Some(ipam) = conf.net.ipam_type() {
        let res = args
            .require_path("the IPAM plugin")
            .and_then(|p| invoke::delegate(ipam, "GC", p, &args.stdin));
        if let Err(e) = res {
            errors.push(e.context(format!("IPAM plugin {ipam:?}")));
        }
    }
    errors.finish("GC")
}
