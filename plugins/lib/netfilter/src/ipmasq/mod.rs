//! IP masquerading for the bridge plugin's `ipMasq`, on both backends, with
//! the same kernel state as the reference (cni:plugins pkg/ip/ipmasq_*).
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
use libcni::spec::Attachment;

use super::backend::{self, Backend};
use super::error::FirewallError;
use super::names;
use super::types::{ChainName, Comment, Ident, IfName};

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
        let ifname = IfName::new(ifname)?;
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
            return Ok(backend.unwrap_or_else(Backend::detect));
        }
        backend::with_fallback(backend, |b| match b {
            Backend::Iptables => iptables::setup(self, addrs),
            Backend::Nftables => nft::setup(self, addrs),
        })
        .map(|(b, ())| b)
    }

    /// Remove this attachment's masquerade state from BOTH backends, found
    /// by name (chain name; nft comment), so it works when the addresses are
    /// unknown (`known` `None`: link or netns already gone). Succeeds when
    /// nothing is there; keeps going past a failing backend and reports all
    /// failures. A backend whose tools are missing or unusable is skipped,
    /// like the reference.
    pub fn teardown(&self, known: Option<&[IpNet]>) -> Result<(), FirewallError> {
        let mut errs = vec![];
        if let Err(e) = iptables::teardown(self, known) {
            errs.push(e);
        }
        if let Err(e) = nft::teardown(self) {
            errs.push(e);
        }
        FirewallError::collect(errs)
    }

    /// Verify that the rules for `addrs` exist in the chosen backend
    /// (`None`: the default backend). Error names what is missing.
    pub fn check(&self, backend: Option<Backend>, addrs: &[IpNet]) -> Result<(), FirewallError> {
        match backend.unwrap_or_else(Backend::detect) {
            Backend::Iptables => iptables::check(self, addrs),
            Backend::Nftables => nft::check(self, addrs),
        }
    }
}

/// Remove the masquerade state of `network` whose attachment is not in
/// `valid` (the GC verb's `cni.dev/valid-attachments`), on both backends.
/// iptables chains are per container (the reference ignores the ifname
/// there), so a container ID in `valid` keeps its chain; nftables rules are
/// per attachment (network, ifname, container ID). One read and at most one
/// write per family/backend.
pub fn gc(network: &str, valid: &[Attachment]) -> Result<(), FirewallError> {
    let network = Ident::network(network)?;
    let mut errs = vec![];
    if let Err(e) = iptables::gc(&network, valid) {
        errs.push(e);
    }
    if let Err(e) = nft::gc(&network, valid) {
        errs.push(e);
    }
    FirewallError::collect(errs)
}
