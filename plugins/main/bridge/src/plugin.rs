//! The bridge plugin's verbs, wired to the skeleton.

use libcni::invoke;
use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::{CniResult, Error};

use crate::config;

/// The bridge plugin.
#[derive(Debug, Default)]
pub struct Bridge;

impl Plugin for Bridge {
    /// `MAC=` is the only key the bridge reads (as the reference).
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

    /// GC: remove masquerade state of this network's containers that are
    /// not in `cni.dev/valid-attachments`, then pass GC to the IPAM
    /// delegate (SPEC.md: plugins must pass GC on). Both are attempted;
    /// errors of both are reported.
    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        let conf = config::load(args)?;
        let mut errors = Vec::new();
        match args.conf.valid_attachments()? {
            Some(valid) => {
                if let Err(e) = netfilter::ipmasq::gc(&conf.net.name, &valid) {
                    errors.push(e.context("masquerade GC"));
                }
            }
            // Without a valid list nothing can be proven stale.
            None => libcni::cni_warn!(
                "GC without cni.dev/valid-attachments: keeping all masquerade state"
            ),
        }
        if let Some(ipam) = conf.net.ipam_type() {
            let res = args
                .require_path("the IPAM plugin")
                .and_then(|p| invoke::delegate(ipam, "GC", p, &args.stdin));
            if let Err(e) = res {
                errors.push(e.context(format!("IPAM plugin {ipam:?}")));
            }
        }
        match errors.len() {
            0 => Ok(()),
            _ => Err(errors.remove(0)),
        }
    }

    /// STATUS: the bridge itself is always ready; readiness is the IPAM
    /// delegate's (SPEC.md: STATUS must be passed to the delegate).
    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        let conf = config::load(args)?;
        if let Some(ipam) = conf.net.ipam_type() {
            let path = args.require_path("the IPAM plugin")?;
            invoke::delegate(ipam, "STATUS", path, &args.stdin)?;
        }
        Ok(())
    }
}
