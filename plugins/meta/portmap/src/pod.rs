//! One container's identity on one network, and the names derived from it
//! exactly as the reference derives them (plugins/meta/portmap), so that
//! either implementation finds and removes the other's state.
//!
//! - DNAT chain: `CNI-DN-` + hex(sha512(network + containerID)), cut to 28
//!   characters (the shared derivation of [`names::chain_name`]);
//! - legacy SNAT chain: the same with `SN-` (portmap < 0.7; only torn
//!   down);
//! - entry rule comment: `dnat name: "<net>" id: "<cid>"`, trimmed to 255
//!   bytes.

use ipnet::IpNet;
use libcni::{CniResult, Error};
use netfilter::types::MAX_COMMENT;
use netfilter::{ChainName, Comment, Family, FirewallError, Ident, names};

/// The DNAT chain prefix (after `CNI-`).
const DNAT_PREFIX: &str = "DN-";
/// The legacy SNAT chain prefix (after `CNI-`).
const LEGACY_SNAT_PREFIX: &str = "SN-";

/// The per-container DNAT chain `CNI-DN-<21 hex>`.
pub fn dnat_chain(network: &Ident, container: &Ident) -> Result<ChainName, FirewallError> {
    names::chain_name(network, container, DNAT_PREFIX)
}

/// The entry rules' comment `dnat name: "<net>" id: "<cid>"`, trimmed with
/// "..." when longer than 255 bytes. (The reference keeps 253 bytes +
/// "...", 256 in all, which iptables then rejects; we keep 252 so the rule
/// loads.)
pub fn dnat_comment(network: &Ident, container: &Ident) -> Result<Comment, FirewallError> {
    let mut s = format!("dnat name: \"{network}\" id: \"{container}\"");
    if s.len() > MAX_COMMENT {
        // Idents are ASCII, so any byte index is a char boundary.
        s.truncate(MAX_COMMENT - 3);
        s.push_str("...");
    }
    Comment::new(&s)
}

/// Read back a DNAT comment: `(network, container ID)`, or `None` when the
/// text is not exactly of that form (a comment trimmed with "..." is not,
/// so such an entry is never attributed to a network).
pub fn parse_dnat_comment(text: &str) -> Option<(Ident, Ident)> {
    let rest = text.strip_prefix("dnat name: \"")?;
    let (net, rest) = rest.split_once("\" id: \"")?;
    let cid = rest.strip_suffix('"')?;
    Some((Ident::network(net).ok()?, Ident::container_id(cid).ok()?))
}

/// Network + container ID, validated, with the derived chain names.
#[derive(Debug, Clone)]
pub struct Pod {
    /// Network name.
    pub network: Ident,
    /// Container ID (`CNI_CONTAINERID`).
    pub container: Ident,
    /// The per-container DNAT chain `CNI-DN-<hash>`.
    pub dn_chain: ChainName,
    /// The legacy per-container SNAT chain `CNI-SN-<hash>` (only torn down).
    pub sn_chain: ChainName,
    /// The entry rules' comment `dnat name: "<net>" id: "<cid>"`.
    pub comment: Comment,
}

impl Pod {
    /// Derive the names of `container` on `network`.
    pub fn new(network: &Ident, container: &str) -> Result<Pod, Error> {
        let container = Ident::container_id(container)?;
        Ok(Pod {
            dn_chain: dnat_chain(network, &container)?,
            sn_chain: names::chain_name(network, &container, LEGACY_SNAT_PREFIX)?,
            comment: dnat_comment(network, &container)?,
            network: network.clone(),
            container,
        })
    }
}

/// The pod addresses traffic is forwarded to: at most one per family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodAddrs {
    /// First IPv4 address (with its prefix) on the interface.
    pub v4: Option<IpNet>,
    /// First IPv6 address (with its prefix) on the interface.
    pub v6: Option<IpNet>,
}

impl PodAddrs {
    /// The pod's addresses on `ifname` in `prev` (see
    /// [`crate::config::container_ips`]).
    pub fn from_result(prev: &CniResult, ifname: &str) -> PodAddrs {
        let (v4, v6) = crate::config::container_ips(prev, ifname);
        PodAddrs { v4, v6 }
    }

    /// The address of one family.
    pub fn get(&self, family: Family) -> Option<IpNet> {
        match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }

    /// (family, address) for each family the pod has, v4 first.
    pub fn each(&self) -> Vec<(Family, IpNet)> {
        Family::ALL
            .iter()
            .filter_map(|f| self.get(*f).map(|n| (*f, n)))
            .collect()
    }

    /// The families the pod has an address in, v4 first.
    pub fn families(&self) -> Vec<Family> {
        self.each().into_iter().map(|(f, _)| f).collect()
    }

    /// True when the pod has no address at all.
    pub fn is_empty(&self) -> bool {
        self.v4.is_none() && self.v6.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Ident {
        Ident::container_id(s).unwrap()
    }

    #[test]
    fn names_match_the_reference() {
        // /usr/lib/cni/portmap 1.1.1, network "n", container "abc".
        let p = Pod::new(&Ident::network("n").unwrap(), "abc").unwrap();
        assert_eq!(p.dn_chain.as_str(), "CNI-DN-5a1527d2fe74c1a342e29");
        assert!(
            p.sn_chain
                .as_str()
                .starts_with("CNI-SN-5a1527d2fe74c1a342e29")
        );
        assert_eq!(p.comment.as_str(), r#"dnat name: "n" id: "abc""#);
        assert_eq!(
            Pod::new(&Ident::network("n").unwrap(), "a b")
                .unwrap_err()
                .code,
            4
        );
    }

    #[test]
    fn comments_read_back_only_in_their_exact_form() {
        let d = dnat_comment(&id("n"), &id("abc")).unwrap();
        assert_eq!(parse_dnat_comment(d.as_str()), Some((id("n"), id("abc"))));
        assert_eq!(parse_dnat_comment(r#"name: "n" id: "abc""#), None);
        let long = dnat_comment(&id(&"x".repeat(300)), &id("abc")).unwrap();
        assert_eq!(long.as_str().len(), 255);
        assert!(long.as_str().ends_with("..."));
        assert_eq!(parse_dnat_comment(long.as_str()), None);
    }
}
