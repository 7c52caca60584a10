//! The firewall drivers' error type, and its mapping to CNI error codes.

use std::fmt;

/// CNI error code (plugin-specific range, SPEC.md "Error") for a firewall
/// operation that failed in the kernel or in a tool.
pub const CODE_FIREWALL: u32 = libcni::hostnet::code::FIREWALL;

/// Everything that can go wrong while changing or reading netfilter state.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// A value that would end up in a rule was rejected before any tool
    /// ran (principle 7: no rule injection).
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What the value is ("network name", "container ID", ...).
        what: &'static str,
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
    /// Several independent failures (teardown keeps going past errors,
    /// principle 4, and reports all of them).
    #[error("{}", join(.0))]
    Multiple(Vec<FirewallError>),
}

fn line_hint(line: &Option<String>) -> String {
    match line {
        Some(l) => format!(" (input line: {l})"),
        None => String::new(),
    }
}

fn join(errs: &[FirewallError]) -> String {
    let parts: Vec<String> = errs.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

impl FirewallError {
    pub(crate) fn invalid(
        what: &'static str,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        FirewallError::Invalid {
            what,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Combine collected errors: `Ok` when there are none, the error itself
    /// when there is one.
    pub(crate) fn collect(mut errs: Vec<FirewallError>) -> Result<(), FirewallError> {
        match errs.len() {
            0 => Ok(()),
            1 => Err(errs.remove(0)),
            _ => Err(FirewallError::Multiple(errs)),
        }
    }
}

impl From<FirewallError> for libcni::Error {
    fn from(e: FirewallError) -> Self {
        match &e {
            // Container ID and ifname come from CNI_* variables (code 4);
            // everything else that is validated comes from the config (7).
            FirewallError::Invalid { what, .. }
                if *what == "container ID" || *what == "interface name" =>
            {
                libcni::Error::invalid_env(e.to_string())
            }
            FirewallError::Invalid { .. } => libcni::Error::invalid_config(e.to_string()),
            _ => libcni::Error::plugin(CODE_FIREWALL, e.to_string()),
        }
    }
}
