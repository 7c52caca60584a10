//! The masquerade rule set, shared by the plugins that masquerade a pod's
//! traffic (bridge's `ipMasq`), on both backends, with the same kernel
//! state as the reference (cni:plugins pkg/ip/ipmasq_*). It says what its
//! rules are; the firewall driver ([`crate::driver`]) picks the backend,
//! falls back, and writes them.
//!
//! iptables (per family, nat table):
//! ```text
//! :CNI-<24 hex> - [0:0]
//! -A CNI-<24 hex> -d <pod subnet> -m comment --comment "name: \"<net>\" id: \"<cid>\"" -j ACCEPT
//! -A CNI-<24 hex> ! -d 224.0.0.0/4 -m comment --comment "..." -j MASQUERADE      (v6: ff00::/8)
//! -A POSTROUTING -s <pod ip>/32 -m comment --comment "..." -j CNI-<24 hex>     (v6: /128)
//! ```
//! nftables: table `inet cni_plugins_masquerade`, base chain `postrouting`
//! (nat, srcnat) flushed and refilled with two multicast `return` rules and
//! `goto masq_checks`; per address in `masq_checks`:
//! `ip saddr == <ip> ip daddr != <subnet> masquerade comment "<hash>, net: .., if: .., id: .."`.
//!
//! Costs (execs): on iptables-nft, once nat POSTROUTING exists, setup is
//! one nfnetlink transaction and no process, and so is teardown: it asks
//! the kernel which chains exist, finds the POSTROUTING jumps by their
//! target (a dump of POSTROUTING, a few µs per rule) and deletes them with
//! the chains of both families in one transaction, addresses known or
//! not; nothing there means no write at all. Elsewhere (iptables-legacy, a
//! first pod) it is one restore per family, with a read of the chain only
//! when the addresses are unknown. nftables is one `nft -j -f -` each way.
//!
//! Every nf_tables commit that deletes rules waits for an RCU grace period
//! in the kernel (~10-20 ms here): teardown pays it once, which is why
//! bridge DEL runs it beside the veth deletion (which waits the same way).

mod iptables;
mod nft;

use ipnet::IpNet;
use libcni::Errors;
use libcni::spec::Attachment;

use super::backend::Backend;
use super::driver::iptables::Iptables;
use super::driver::{self, Driver, Firewall};
use super::error::FirewallError;
use super::names;
use super::types::{ChainName, Comment, Ident, IfName};
use iptables::{MasqGc, MasqNat};
use nft::MasqNft;

/// The nftables table of the masquerade rules.
pub const NFT_TABLE: &str = "cni_plugins_masquerade";
/// The nftables chain holding one rule per pod address.
pub const NFT_CHAIN: &str = "masq_checks";
/// The nftables base chain (nat, postrouting hook, srcnat priority).
pub const NFT_POSTROUTING: &str = "postrouting";

/// One attachment's masquerade identity: network, container and interface,
/// validated, with its chain name and comments derived.
#[derive(Debug, Clone)]
pub struct MasqInstance {
    network: Ident,
    container_id: Ident,
    ifname: IfName,
    chain: ChainName,
    comment: Result<Comment, String>,
}

impl MasqInstance {
    /// Validate the three values. A network name so long that the iptables
    /// comment would exceed 255 bytes is accepted here (teardown must still
    /// work by chain name) and rejected by [`MasqInstance::setup`].
    pub fn new(
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<MasqInstance, FirewallError> {
        let network = Ident::network(network)?;
        let container_id = Ident::container_id(container_id)?;
        let ifname = IfName::new(ifname).map_err(FirewallError::in_env)?;
        let chain = names::masq_chain(&network, &container_id);
        let comment = names::masq_comment(&network, &container_id).map_err(|e| e.to_string());
        Ok(MasqInstance {
            network,
            container_id,
            ifname,
            chain,
            comment,
        })
    }

    /// The network name.
    pub fn network(&self) -> &Ident {
        &self.network
    }

    /// The container ID.
    pub fn container_id(&self) -> &Ident {
        &self.container_id
    }

    /// The interface name inside the container.
    pub fn ifname(&self) -> &IfName {
        &self.ifname
    }

    /// The iptables chain `CNI-<24 hex>` (the same for both families).
    pub fn chain(&self) -> &ChainName {
        &self.chain
    }

    /// The iptables comment `name: "<net>" id: "<cid>"`.
    pub fn comment(&self) -> Result<&Comment, FirewallError> {
        self.comment.as_ref().map_err(|reason| {
            FirewallError::invalid("network name", self.network.as_str(), reason.clone())
        })
    }

    /// The nftables rule comment of this attachment.
    pub fn nft_comment(&self) -> String {
        names::nft_masq_comment(&self.network, &self.ifname, &self.container_id)
    }

    /// Masquerade traffic from each of `addrs` (pod address with its
    /// prefix length) to anything outside its subnet except multicast.
    /// `backend` `None` chooses like the reference (iptables unless it is
    /// unusable and nftables usable). Nothing is left half-made on error.
    /// Returns the backend used.
    pub fn setup(
        &self,
        backend: Option<Backend>,
        addrs: &[IpNet],
    ) -> Result<Backend, FirewallError> {
        self.comment()?;
        if addrs.is_empty() {
            return Ok(Backend::choose(backend));
        }
        driver::setup(&self.rules(Some(addrs)), backend)
    }

    /// Remove this attachment's masquerade state from BOTH backends, found
    /// by name (chain name; nft comment), so it works when the addresses are
    /// unknown (`known` `None`: link or netns already gone). Succeeds when
    /// nothing is there; keeps going past a failing backend and reports all
    /// failures. A backend whose tools are missing or unusable is skipped,
    /// like the reference.
    pub fn teardown(&self, known: Option<&[IpNet]>) -> Result<(), libcni::Error> {
        let mut errs = Errors::new();
        driver::teardown(&self.rules(known), &mut errs);
        errs.finish("masquerade teardown")
    }

    /// Verify that the rules for `addrs` exist in the chosen backend
    /// (`None`: the default backend). Error names what is missing.
    pub fn check(&self, backend: Option<Backend>, addrs: &[IpNet]) -> Result<(), FirewallError> {
        self.comment()?;
        driver::check(&self.rules(Some(addrs)), backend)
    }

    fn rules<'a>(&'a self, addrs: Option<&'a [IpNet]>) -> Masquerade<'a> {
        Masquerade { inst: self, addrs }
    }
}

/// One attachment's masquerade rules with its addresses (`None`: unknown),
/// on either backend.
#[derive(Debug, Clone, Copy)]
struct Masquerade<'a> {
    inst: &'a MasqInstance,
    addrs: Option<&'a [IpNet]>,
}

impl Firewall for Masquerade<'_> {
    fn iptables(&self) -> impl Driver + '_ {
        Iptables(MasqNat {
            inst: self.inst,
            addrs: self.addrs,
        })
    }

    fn nftables(&self) -> impl Driver + '_ {
        MasqNft {
            inst: self.inst,
            addrs: self.addrs,
        }
    }
}

/// Remove the masquerade state of `network` whose attachment is not in
/// `valid` (the GC verb's `cni.dev/valid-attachments`), on both backends.
/// iptables chains are per container (the reference ignores the ifname
/// there), so a container ID in `valid` keeps its chain; nftables rules are
/// per attachment (network, ifname, container ID). One read and at most one
/// write per family/backend; every failure is reported.
pub fn gc(network: &str, valid: &[Attachment]) -> Result<(), libcni::Error> {
    let network = Ident::network(network)?;
    let mut errs = Errors::new();
    driver::iptables::gc(
        &MasqGc {
            network: &network,
            valid,
        },
        &mut errs,
    );
    errs.record(nft::gc(&network, valid));
    errs.finish("masquerade GC")
}
