//! The IPAM delegate (SPEC.md "Delegated plugins"): the whole stdin goes
//! to the binary named by `ipam.type`, found in `CNI_PATH`, with the same
//! environment.

use std::path::{Path, PathBuf};

use libcni::invoke;
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Error, NetConf};

use crate::code;
use crate::rollback::Rollback;

/// A network's IPAM plugin binary, found before anything is made: a
/// missing or path-like type then fails ADD with nothing to undo.
#[derive(Debug, Clone)]
pub struct Ipam {
    bin: PathBuf,
}

impl Ipam {
    /// Find `net`'s `ipam.type` in `CNI_PATH`; `None` when the network
    /// has no IPAM plugin.
    pub fn find(args: &CmdArgs, net: &NetConf) -> Result<Option<Ipam>, Error> {
        let Some(t) = net.ipam_type() else {
            return Ok(None);
        };
        let bin = invoke::find_in_path(t, args.require_path("the IPAM plugin")?)?;
        Ok(Some(Ipam { bin }))
    }

    /// The binary.
    pub fn path(&self) -> &Path {
        &self.bin
    }

    /// ADD: the delegate's result, read as the config's version. From the
    /// moment the delegate succeeded, `undo` releases the lease if a later
    /// step fails, including the check here that the result holds at least
    /// one address ([`code::IPAM_NO_ADDRESS`]).
    pub fn add<'a>(&'a self, args: &CmdArgs, undo: &mut Rollback<'a>) -> Result<CniResult, Error> {
        let r = invoke::delegate_add(&self.bin, &args.stdin, args.version)
            .map_err(|e| e.context(format!("IPAM plugin {}", self.bin.display())))?;
        undo.ipam = Some(self);
        if r.ips.is_empty() {
            return Err(Error::plugin(
                code::IPAM_NO_ADDRESS,
                format!("IPAM plugin {} returned no IP address", self.bin.display()),
            ));
        }
        Ok(r)
    }

    /// DEL on the delegate for a failed ADD's rollback: a failure is only
    /// logged, the ADD's own error is the one reported.
    pub fn release(&self, args: &CmdArgs) {
        if let Err(e) = invoke::delegate_exec(&self.bin, "DEL", &args.stdin) {
            libcni::cni_warn!(
                "rollback: releasing the address with {}: {e}",
                self.bin.display()
            );
        }
    }
}

/// Run `verb` (DEL, CHECK, GC) on the network's IPAM plugin, looked up in
/// `CNI_PATH` by type; nothing when the network has none. Errors name the
/// plugin.
pub fn delegate(args: &CmdArgs, net: &NetConf, verb: &str) -> Result<(), Error> {
    let Some(ipam) = net.ipam_type() else {
        return Ok(());
    };
    args.require_path("the IPAM plugin")
        .and_then(|path| invoke::delegate(ipam, verb, path, &args.stdin))
        .map(|_| ())
        .map_err(|e| e.context(format!("IPAM plugin {ipam:?}")))
}

/// STATUS (spec 1.1.0): a pod interface plugin is always ready itself;
/// readiness is the IPAM delegate's, whose error (50, 51) is passed on
/// unchanged (SPEC.md: STATUS must be passed to the delegate).
pub fn status(args: &CmdArgs, net: &NetConf) -> Result<(), Error> {
    if let Some(ipam) = net.ipam_type() {
        let path = args.require_path("the IPAM plugin")?;
        invoke::delegate(ipam, "STATUS", path, &args.stdin)?;
    }
    Ok(())
}
