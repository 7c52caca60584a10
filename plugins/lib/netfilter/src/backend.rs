//! Choosing between iptables and nftables.
//!
//! The reference (pkg/ip/ipmasq_linux.go, portmap) uses iptables unless
//! iptables is unusable and nftables is usable; an explicit backend in the
//! config wins. Its usability tests exec `iptables` and `nft` on every ADD.
//! Ours cost no exec in the normal case: [`Backend::detect`] only looks for
//! the binaries (stat calls), and the full test ([`iptables_usable`] /
//! [`nft_usable`]) runs only after an iptables operation has failed, to
//! decide whether to fall back to nftables (see
//! [`with_fallback`]). Same decision as the reference, paid only when it
//! matters.

use std::fmt;
use std::str::FromStr;

use super::error::FirewallError;
use super::iptables::run as ipt_run;
use super::nft;
use super::tools::{self, Tool};
use super::types::Family;

/// A firewall backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// iptables (-nft or -legacy), through iptables-restore.
    Iptables,
    /// nftables, through `nft -j -f -`.
    Nftables,
}

impl Backend {
    /// The config spelling ("iptables" / "nftables").
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Iptables => "iptables",
            Backend::Nftables => "nftables",
        }
    }

    /// The default backend: iptables when `iptables-restore` is installed,
    /// else nftables when `nft` is, else iptables (whose error then names
    /// the missing tool). No exec.
    pub fn detect() -> Backend {
        if tools::find(Tool::IptablesRestore).is_some() {
            Backend::Iptables
        } else if tools::find(Tool::Nft).is_some() {
            Backend::Nftables
        } else {
            Backend::Iptables
        }
    }
}

impl FromStr for Backend {
    type Err = FirewallError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "iptables" => Ok(Backend::Iptables),
            "nftables" => Ok(Backend::Nftables),
            _ => Err(FirewallError::invalid(
                "firewall backend",
                format!("{s:?}"),
                "expected \"iptables\" or \"nftables\"",
            )),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reference's "iptables is usable" test (one exec).
pub fn iptables_usable() -> bool {
    ipt_run::usable(Family::V4)
}

/// The reference's "nftables is usable" test (no exec: binary present and
/// nf_tables answering over netlink).
pub fn nft_usable() -> bool {
    nft::usable()
}

/// Run `op` with the chosen backend. With no explicit choice, an iptables
/// failure is retried on nftables when iptables turns out to be unusable
/// and nftables usable (the reference's rule, checked lazily). Returns the
/// backend that succeeded.
pub fn with_fallback<T>(
    explicit: Option<Backend>,
    mut op: impl FnMut(Backend) -> Result<T, FirewallError>,
) -> Result<(Backend, T), FirewallError> {
    if let Some(b) = explicit {
        return op(b).map(|v| (b, v));
    }
    let first = Backend::detect();
    match op(first) {
        Ok(v) => Ok((first, v)),
        Err(e) if first == Backend::Iptables && !iptables_usable() && nft_usable() => {
            op(Backend::Nftables)
                .map(|v| (Backend::Nftables, v))
                .map_err(|e2| FirewallError::Multiple(vec![e, e2]))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config_values() {
        assert_eq!("iptables".parse::<Backend>().unwrap(), Backend::Iptables);
        assert_eq!("nftables".parse::<Backend>().unwrap(), Backend::Nftables);
        assert!("nft".parse::<Backend>().is_err());
        assert!("IPTABLES".parse::<Backend>().is_err());
    }

    #[test]
    fn explicit_backend_is_used_as_is() {
        let (b, v) = with_fallback(Some(Backend::Nftables), Ok::<_, FirewallError>).unwrap();
        assert_eq!((b, v), (Backend::Nftables, Backend::Nftables));
        let e = with_fallback(Some(Backend::Iptables), |_| {
            Err::<(), _>(FirewallError::CheckFailed("x".into()))
        });
        assert!(e.is_err());
    }
}
