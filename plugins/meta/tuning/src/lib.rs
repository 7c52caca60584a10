//! The CNI `tuning` plugin: a chained plugin that sets sysctls and link
//! attributes (MAC, promiscuous mode, MTU, all-multicast, transmit queue
//! length) of the pod interface a main plugin made, and puts the link
//! attributes back on DEL (plugins:plugins/meta/tuning, same keys, same
//! backup file).
//!
//! - `config/`: the keys, their precedence (`args.cni` over
//!   `runtimeConfig` over `CNI_ARGS` over the top level) and validation;
//!   sysctl keys become paths under `/proc/sys/net/`.
//! - [`allowlist`]: the node's `/etc/cni/tuning/allowlist.conf`.
//! - [`backup`]: `<dataDir>/<cid>_<ifname>.json` in the reference's format,
//!   so either implementation restores what the other tuned.
//! - `link.rs`: applying and restoring link attributes over rtnetlink.
//! - one file per verb. ADD undoes everything it changed when a step
//!   fails; GC removes backups of attachments that are no longer valid.

mod add;
pub mod allowlist;
pub mod backup;
mod check;
pub mod code;
pub mod config;
mod del;
mod gc;
mod link;
mod plugin;
mod status;

pub use plugin::Tuning;
