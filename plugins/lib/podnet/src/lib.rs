//! What the plugins that create a pod's interface (bridge, ptp) share,
//! written once: the veth pair with the reference's random host name, the
//! pod side of the reference's `ConfigureIface` (sysctls, addresses, DAD,
//! IPAM routes), IPAM delegation with rollback, the DEL that tears down
//! whatever is left, CHECK's common questions, and GC and STATUS.
//!
//! Kernel work stays in `hostnet` and firewall work in `netfilter`
//! (ARCHITECTURE.md, "Layers"); this crate only puts their calls in the
//! order the reference plugins share and turns their failures into CNI
//! errors with the codes in [`code`].
//!
//! - [`veth`]: the pair, pod end in the pod, host end created in the host.
//! - [`container`]: inside the pod (sysctls, addresses, routes, DAD).
//! - [`ipam`]: the IPAM delegate (found before anything is made, ADD with
//!   its result checked, release on rollback, CHECK, GC, STATUS).
//! - [`rollback`]: what a failed ADD undoes, in reverse.
//! - [`teardown`]: DEL, complete and idempotent (ARCHITECTURE.md
//!   principle 5), and GC.
//! - [`check`]: the CHECK questions every pod interface plugin asks.

pub mod check;
pub mod code;
pub mod container;
pub mod ipam;
pub mod rollback;
pub mod teardown;
pub mod veth;
