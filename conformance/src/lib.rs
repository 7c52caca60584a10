//! `cni-conformance`: CNI spec conformance cases for any plugin directory.
//!
//! The suite drives the `bridge`, `host-local`, `portmap` and `loopback`
//! binaries of a directory the way a container runtime does (SPEC.md
//! section 3: environment, stdin config, stdout reply), each case in fresh
//! network namespaces inside a fake host netns ([`cni_sandbox`]), and checks
//! replies, kernel state and real traffic. See README.md for the cases and
//! how another implementation runs them.

pub mod case;
pub mod cases;
pub mod cli;
pub mod ctx;
pub mod expect;
pub mod net;
pub mod report;
pub mod runner;
pub mod shape;
pub mod state;

pub use case::{Case, CaseResult, SpecNeed};
pub use ctx::{Attachment, Ctx};
pub use net::Net;
