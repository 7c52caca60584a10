//! The node doctor (`cnitool doctor`): what is wrong with a node's pod
//! networking, each finding with its severity, the evidence (the rule, the
//! sysctl, the file), why it breaks pods, and the exact command that fixes
//! it.
//!
//! It reads the node as a runtime would (conf dirs, bin dirs, the result
//! cache) and the kernel state visible from the network namespace it runs
//! in, once per source ([`node`]), then runs pure checks over that
//! snapshot ([`checks`], one module per finding):
//!
//! | id | finding |
//! |---|---|
//! | `forward-drop` | the forward path drops by default and a pod subnet is not accepted in front of it |
//! | `ip-forward-off` | IPv4 (or, with IPv6 ranges, IPv6) forwarding is off |
//! | `br-netfilter-missing`, `bridge-nf-call-off` | bridged traffic skips the IP firewall hooks while a bridge network is configured |
//! | `iptables-split` | rules in both iptables-legacy and iptables-nft |
//! | `mtu-mismatch` | a bridge's MTU is larger than the overlay's |
//! | `several-networks` | more than one network in a conf dir (CRI runtimes use the first) |
//! | `plugin-missing`, `plugin-version` | a plugin in no bin dir, or one that does not speak the list's version |
//! | `subnet-overlap` | a pod subnet overlaps a network the node routes elsewhere |
//! | `leaked-leases`, `leaked-veths`, `leaked-chains`, `leaked-ifbs`, `leaked-files` | state of attachments the cache does not know |
//! | `no-networks`, `not-inspected` | nothing configured; a source that could not be read |
//!
//! It changes nothing, except with [`gc::run`] (`--gc`), which runs the
//! plugins' own GC with the cached attachments as valid ([`gc`]).
//!
//! ```no_run
//! let mut opts = cni_doctor::Options::node_defaults();
//! opts.conf_dirs = vec!["/etc/cni/net.d".into()];
//! let report = cni_doctor::inspect(&opts);
//! print!("{}", report.render(false));
//! std::process::exit(report.exit_code());
//! ```

pub mod checks;
pub mod finding;
pub mod fixcmd;
pub mod gc;
pub mod node;
pub mod report;

pub use finding::{Finding, Severity};
pub use node::Options;
pub use report::{EXIT_FINDINGS, EXIT_HEALTHY, EXIT_UNINSPECTED, Report};

/// Inspect the node (the calling thread's network namespace) and report.
/// Changes nothing.
pub fn inspect(opts: &Options) -> Report {
    let node = node::collect(opts);
    let findings = checks::run(&node);
    Report::new(&node, findings)
}
