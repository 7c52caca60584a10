//! The CNI specification as Rust types: versions, configuration, results,
//! errors and `CNI_ARGS`.

pub mod args;
pub mod conf;
pub mod error;
pub mod result;
pub mod version;

pub use args::CniArgs;
pub use conf::{Attachment, NetConf, NetConfList};
pub use error::{Error, Errors};
pub use result::{CniResult, Dns, Interface, IpConfig, Route};
pub use version::{ALL_VERSIONS, Version};
