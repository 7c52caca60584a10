//! The firewall drivers' error type, and its mapping to CNI error codes.
//!
//! The code of a [`FirewallError`] follows from its variant alone
//! (ARCHITECTURE.md principle 4): a rejected value carries the input it
//! came from ([`Input`]), everything else is a firewall failure
//! (`libcni::hostnet::code::FIREWALL`).

use std::fmt;

/// Where a rejected value came from: it decides the CNI code (SPEC.md
/// "Error": 4 for a `CNI_*` variable, 7 for the network configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The network configuration (network name, backend key, rule content).
    Config,
    /// A `CNI_*` variable (`CNI_CONTAINERID`, `CNI_IFNAME`).
    Env,
}

/// Everything that can go wrong while changing or reading netfilter state.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// A value that would end up in a rule was rejected before any tool
    /// ran (principle 7: no rule injection).
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What the value is ("network name", "container ID", ...).
        what: &'static str,
        /// Which input the value came from.
        input: Input,
        /// The offending value (Debug-quoted when shown).
        value: String,
        /// Why it was rejected and, where possible, what is allowed.
        reason: String,
    },
    /// The tool is not installed in any of the system directories.
    #[error(
        "{tool} not found in {searched}; install iptables/nftables or choose the other backend"
    )]
    ToolMissing {
        /// Tool name.
        tool: &'static str,
        /// The directories that were searched.
        searched: String,
    },
    /// The tool could not be started.
    #[error("could not run {tool}: {source}")]
    Spawn {
        /// Tool path.
        tool: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The tool ran and failed.
    #[error("`{command}` failed ({status}): {stderr}{}", line_hint(.input_line))]
    ToolFailed {
        /// The command line (tool and arguments).
        command: String,
        /// Exit status as text.
        status: String,
        /// The tool's stderr, trimmed.
        stderr: String,
        /// For restore scripts: the input line the tool complained about.
        input_line: Option<String>,
    },
    /// A netlink request to the kernel failed (no tool involved).
    #[error("netlink: {what}: {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A tool's output could not be understood.
    #[error("could not parse the output of {tool}: {detail}")]
    Parse {
        /// Tool name.
        tool: String,
        /// What was wrong.
        detail: String,
    },
    /// CHECK found state missing or different.
    #[error("{0}")]
    CheckFailed(String),
    /// Neither backend can be used.
    #[error("no usable firewall backend: {0}")]
    Unavailable(String),
    /// Setup failed on iptables, iptables turned out unusable, and the
    /// fallback to nftables failed too (the reference's choice, see
    /// [`crate::driver::setup`]): both failures, in that order.
    #[error("{iptables}; {nftables}")]
    Fallback {
        /// Why iptables failed.
        iptables: Box<FirewallError>,
        /// Why nftables failed.
        nftables: Box<FirewallError>,
    },
}

fn line_hint(line: &Option<String>) -> String {
    match line {
        Some(l) => format!(" (input line: {l})"),
        None => String::new(),
    }
}

impl FirewallError {
    /// A configuration value rejected before it reached a rule.
    pub(crate) fn invalid(
        what: &'static str,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        FirewallError::Invalid {
            what,
            input: Input::Config,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The same error, for a value that came from a `CNI_*` variable.
    pub fn in_env(self) -> Self {
        match self {
            FirewallError::Invalid {
                what,
                value,
                reason,
                ..
            } => FirewallError::Invalid {
                what,
                input: Input::Env,
                value,
                reason,
            },
            other => other,
        }
    }
}

impl From<FirewallError> for libcni::Error {
    fn from(e: FirewallError) -> Self {
        match &e {
            FirewallError::Invalid {
                input: Input::Env, ..
            } => libcni::Error::invalid_env(e.to_string()),
            FirewallError::Invalid {
                input: Input::Config,
                ..
            } => libcni::Error::invalid_config(e.to_string()),
            _ => libcni::Error::plugin(libcni::hostnet::code::FIREWALL, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Ident, IfName};

    #[test]
    fn code_follows_the_input() {
        let env: libcni::Error = Ident::container_id("a b").unwrap_err().into();
        assert_eq!(env.code, libcni::spec::error::code::INVALID_ENV);
        let conf: libcni::Error = Ident::network("a b").unwrap_err().into();
        assert_eq!(conf.code, libcni::spec::error::code::INVALID_NETWORK_CONFIG);
        let ifname: libcni::Error = IfName::new("a/b").unwrap_err().into();
        assert_eq!(
            ifname.code,
            libcni::spec::error::code::INVALID_NETWORK_CONFIG
        );
        let ifname: libcni::Error = IfName::new("a/b").unwrap_err().in_env().into();
        assert_eq!(ifname.code, libcni::spec::error::code::INVALID_ENV);
        let fw: libcni::Error = FirewallError::CheckFailed("gone".into()).into();
        assert_eq!(fw.code, libcni::hostnet::code::FIREWALL);
        assert_eq!(fw.msg, "gone");
    }
}
