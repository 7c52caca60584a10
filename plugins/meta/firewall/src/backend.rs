//! Which backend a call uses.
//!
//! The reference (`getBackend`) asks D-Bus whether firewalld owns its bus
//! name, and otherwise uses iptables; anything but "iptables" or
//! "firewalld" in the config silently means "detect". Here: the config's
//! backend when it names one ("iptables", "nftables", "firewalld"; any
//! other value is refused when the config is loaded), else firewalld when
//! it runs, else netfilter's choice ([`netfilter::Backend::choose`]:
//! iptables, or nftables when no iptables binary exists, with the
//! reference's fallback to nftables when iptables turns out unusable).
//!
//! The backend ADD used is written to the attachment's state file, so DEL
//! and GC act where the rules are even when detection would now answer
//! differently (with the reference, firewalld started or stopped between
//! ADD and DEL leaks the rules).

use serde::{Deserialize, Serialize};

use netfilter::Backend;

use crate::config::BackendKey;
use crate::firewalld;

/// The backend of one call, decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// firewalld's zones.
    Firewalld,
    /// iptables or nftables through netfilter's driver: `Some` when the
    /// config names it, `None` to let the driver choose (and fall back).
    Netfilter(Option<Backend>),
}

impl Choice {
    /// The choice for `key`: detection asks D-Bus once.
    pub fn of(key: BackendKey) -> Choice {
        match key {
            BackendKey::Iptables => Choice::Netfilter(Some(Backend::Iptables)),
            BackendKey::Nftables => Choice::Netfilter(Some(Backend::Nftables)),
            BackendKey::Firewalld => Choice::Firewalld,
            BackendKey::Auto if firewalld::running() => Choice::Firewalld,
            BackendKey::Auto => Choice::Netfilter(None),
        }
    }

    /// The netfilter backend the isolation rules go to (the reference
    /// always uses iptables for them, even with firewalld): the config's
    /// when it names iptables or nftables, else the driver's choice.
    pub fn netfilter(self) -> Option<Backend> {
        match self {
            Choice::Firewalld => None,
            Choice::Netfilter(b) => b,
        }
    }
}

/// The backend an attachment's rules were written with (state file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Used {
    /// iptables (filter table).
    Iptables,
    /// nftables.
    Nftables,
    /// firewalld (zone sources).
    Firewalld,
}

impl From<Backend> for Used {
    fn from(b: Backend) -> Used {
        match b {
            Backend::Iptables => Used::Iptables,
            Backend::Nftables => Used::Nftables,
        }
    }
}

impl Used {
    /// The netfilter backend, for the two that are one.
    pub fn netfilter(self) -> Option<Backend> {
        match self {
            Used::Iptables => Some(Backend::Iptables),
            Used::Nftables => Some(Backend::Nftables),
            Used::Firewalld => None,
        }
    }
}
