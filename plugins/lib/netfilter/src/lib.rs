//! Firewall state for the CNI plugins: the bridge's `ipMasq` and portmap.
//!
//! Every change is ONE batched transaction per operation (ARCHITECTURE.md
//! principle 1): `iptables-restore --noflush --wait` /
//! `ip6tables-restore` for iptables, `nft -j -f -` for nftables, never one
//! exec per rule; or, where it matters for cost, an nfnetlink transaction
//! with no exec at all ([`nfbatch`]: deletions by handle, and iptables
//! rules in iptables-nft's own encoding, [`iptables::nftenc`]). Reads are
//! kept to the chains actually needed, and existence questions are asked
//! over nfnetlink without any exec ([`probe`]).
//!
//! - [`driver`]: the firewall driver every plugin goes through: one
//!   attachment's rules on one backend ([`Driver`]), the runner that picks
//!   the backend, falls back, and tears down wherever state may be, and
//!   the one iptables driver ([`driver::iptables`]) every iptables rule set
//!   uses.
//! - [`backend`]: which backend, parsed from the config once.
//! - [`types`]: validated values (names, IDs, interfaces, comments,
//!   protocols) — nothing else reaches a rule.
//! - [`names`]: chain names and comments identical to the reference.
//! - [`iptables`], [`nft`]: the iptables text driver and the nft driver;
//!   [`tools`] finds and runs the binaries (absolute paths, exec counter).
//! - `nfnetlink`: the one nfnetlink layer under [`probe`], [`nfbatch`],
//!   [`conntrack`] and [`iptables::nftenc`] (socket, nfgenmsg header,
//!   attribute writer and readers), on hostnet's netlink socket.
//! - [`nfbatch`], [`probe`]: one nfnetlink transaction (deletions by
//!   handle, new chains, iptables rules in iptables-nft's encoding), and
//!   nfnetlink questions.
//! - [`conntrack`]: deleting conntrack entries over ctnetlink.
//! - [`ipmasq`]: the masquerade rule set, shared by the plugins that
//!   masquerade a pod's traffic.

pub mod backend;
pub mod conntrack;
pub mod driver;
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
pub use driver::{Driver, Firewall};
pub use error::{FirewallError, Input};
pub use ipmasq::MasqInstance;
pub use nfnetlink::close_parked as close_parked_sockets;
pub use types::{ChainName, Comment, Family, Ident, IfName, Protocol, TableFamily};
