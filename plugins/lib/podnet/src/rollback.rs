//! What a failed ADD undoes. A plugin records each thing as it makes it;
//! on failure [`Rollback::run`] removes them in reverse, so a failed ADD
//! leaves no veth, no lease and no rules (the reference leaves the veth
//! for the runtime's DEL, and leaks the lease on some paths).

use hostnet::Netlink;
use ipnet::IpNet;
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Error};
use netfilter::{Backend, MasqInstance};

use crate::ipam::Ipam;

/// What this ADD has made so far.
#[derive(Debug, Default)]
pub struct Rollback<'a> {
    /// The pod end of the veth pair (deleting it removes the pair), with
    /// a socket in its namespace.
    pub veth: Option<(&'a Netlink, u32)>,
    /// The IPAM delegate that gave out an address.
    pub ipam: Option<&'a Ipam>,
    /// Masquerade rules set up, and for which addresses.
    pub masq: Option<(MasqInstance, Vec<IpNet>)>,
}

impl Rollback<'_> {
    /// Masquerade every address of `result` (the network's `ipMasq`),
    /// with `backend` or the reference's choice, and remember it for the
    /// rollback.
    pub fn masquerade(
        &mut self,
        args: &CmdArgs,
        network: &str,
        backend: Option<Backend>,
        result: &CniResult,
    ) -> Result<(), Error> {
        let inst = MasqInstance::new(network, &args.container_id, &args.ifname)?;
        let addrs: Vec<IpNet> = result.ips.iter().map(|ip| ip.address).collect();
        inst.setup(backend, &addrs)?;
        self.masq = Some((inst, addrs));
        Ok(())
    }

    /// Undo everything recorded, newest first. Failures are logged: the
    /// ADD's own error is the one reported.
    pub fn run(self, args: &CmdArgs) {
        if let Some((inst, addrs)) = self.masq
            && let Err(e) = inst.teardown(Some(&addrs))
        {
            libcni::cni_warn!("rollback: removing masquerade rules: {e}");
        }
        if let Some(ipam) = self.ipam {
            ipam.release(args);
        }
        if let Some((nl, index)) = self.veth
            && let Err(e) = nl.delete_link(index)
            && !e.is_not_found()
        {
            libcni::cni_warn!("rollback: deleting {}: {e}", args.ifname);
        }
    }
}
