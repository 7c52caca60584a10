//! Firewall drivers for the bridge (`ipMasq`) and portmap plugins.
//!
//! Every change is ONE batched transaction per operation (ARCHITECTURE.md
//! principle 1): `iptables-restore --noflush --wait` / `ip6tables-restore`
//! for iptables, `nft -j -f -` for nftables, never one exec per rule; or,
//! where it matters for cost, an nfnetlink transaction with no exec at all
//! ([`nfbatch`]: deletions by handle, and iptables rules in iptables-nft's
//! own encoding, [`iptables::nftenc`]). Reads are kept to the chains
//! actually needed, and existence questions are asked over nfnetlink
//! without any exec ([`probe`]).
//!
//! - [`types`]: validated values (names, IDs, interfaces, comments,
//!   protocols) — nothing else reaches a rule.
//! - [`names`]: chain names and comments identical to the reference.
//! - [`iptables`], [`nft`]: the two drivers; [`tools`] finds and runs the
//!   binaries (absolute paths, exec counter).
//! - `nfnetlink`: the one nfnetlink layer under [`probe`], [`nfbatch`],
//!   [`conntrack`] and [`iptables::nftenc`] (socket, nfgenmsg header,
//!   attribute writer and readers), on hostnet's netlink socket.
//! - [`nfbatch`]: one nfnetlink transaction: deletions by handle, new
//!   chains, iptables rules appended in iptables-nft's encoding.
//! - [`backend`]: which backend to use.
//! - [`conntrack`]: deleting conntrack entries over ctnetlink.
//! - [`ipmasq`]: masquerade state of one attachment (setup, teardown,
//!   check) and GC of a network.

pub mod backend;
pub mod conntrack;
pub mod error;
pub mod ipmasq;
pub mod iptables;
pub mod names;
pub mod nfbatch;
mod nfnetlink;
pub mod nft;
pub mod probe;
pub mod tools;
pub mod types;

pub use backend::Backend;
pub use error::{CODE_FIREWALL, FirewallError};
pub use ipmasq::MasqInstance;
pub use types::{ChainName, Comment, Family, Ident, IfName, Protocol, TableFamily};
