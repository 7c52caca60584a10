//! Choosing between iptables and nftables.
//!
//! The reference (pkg/ip/ipmasq_linux.go, portmap) uses iptables unless
//! iptables is unusable and nftables is usable; an explicit backend in the
//! config wins. Its usability tests exec `iptables` and `nft` on every ADD.
//! Ours cost no exec in the normal case: [`Backend::choose`] only looks for
//! the binaries (stat calls), and the full test (`iptables_usable` /
//! `nft_usable`) runs only after an iptables operation has failed, to
//! decide whether to fall back to nftables ([`crate::driver::setup`]). Same
//! decision as the reference, paid only when it matters.

use std::fmt;
use std::str::FromStr;

use super::error::FirewallError;
use super::iptables::run as ipt_run;
use super::nft;
use super::tools::{self, Tool};
use super::types::Family;

/// What a backend key accepts, for error messages.
const ACCEPTED: &str = "use \"iptables\" or \"nftables\"";

/// A firewall backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// iptables (-nft or -legacy), through iptables-restore.
    Iptables,
    /// nftables, through `nft -j -f -`.
    Nftables,
}

impl Backend {
    /// Both backends, iptables first.
    pub const ALL: [Backend; 2] = [Backend::Iptables, Backend::Nftables];

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

    /// The backend an operation starts with: the explicit choice of the
    /// config, else [`Backend::detect`].
    pub fn choose(explicit: Option<Backend>) -> Backend {
        explicit.unwrap_or_else(Backend::detect)
    }

    /// Whether this backend can be used now: the reference's usability
    /// test (one exec for iptables; nftables asks the kernel).
    pub fn usable(self) -> bool {
        match self {
            Backend::Iptables => iptables_usable(),
            Backend::Nftables => nft_usable(),
        }
    }

    /// The value of the config key `key` (`ipMasqBackend`, `backend`):
    /// absent or empty means "detect" (`None`); anything but the two
    /// spellings is rejected with a message naming the key (code 7).
    pub fn from_config(
        key: &'static str,
        value: Option<&str>,
    ) -> Result<Option<Backend>, FirewallError> {
        match value {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| FirewallError::invalid(key, s, ACCEPTED)),
        }
    }
}

impl FromStr for Backend {
    type Err = FirewallError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "iptables" => Ok(Backend::Iptables),
            "nftables" => Ok(Backend::Nftables),
            _ => Err(FirewallError::invalid("firewall backend", s, ACCEPTED)),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reference's "iptables is usable" test (one exec).
pub(crate) fn iptables_usable() -> bool {
    ipt_run::usable(Family::V4)
}

/// The reference's "nftables is usable" test (no exec: binary present and
/// nf_tables answering over netlink).
pub(crate) fn nft_usable() -> bool {
    nft::usable()
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
    fn config_errors_name_the_key_and_the_values() {
        assert_eq!(Backend::from_config("backend", None).unwrap(), None);
        assert_eq!(Backend::from_config("backend", Some("")).unwrap(), None);
        assert_eq!(
            Backend::from_config("backend", Some("nftables")).unwrap(),
            Some(Backend::Nftables)
        );
        let e: libcni::Error = Backend::from_config("ipMasqBackend", Some("pf"))
            .unwrap_err()
            .into();
        assert_eq!(e.code, 7);
        assert_eq!(
            e.msg,
            r#"invalid ipMasqBackend "pf": use "iptables" or "nftables""#
        );
    }

    #[test]
    fn explicit_choice_wins() {
        assert_eq!(Backend::choose(Some(Backend::Nftables)), Backend::Nftables);
        assert_eq!(Backend::choose(None), Backend::detect());
    }
}
