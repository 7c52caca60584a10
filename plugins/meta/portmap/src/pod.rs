//! One container's identity on one network, and the names derived from it
//! exactly as the reference derives them, so that either implementation
//! finds and removes the other's state.

use ipnet::IpNet;
use libcni::{CniResult, Error};
use netfilter::{ChainName, Comment, Family, Ident, names};

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
            dn_chain: names::dnat_chain(network, &container),
            sn_chain: names::legacy_snat_chain(network, &container),
            comment: names::dnat_comment(network, &container),
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

    /// True when the pod has no address at all.
    pub fn is_empty(&self) -> bool {
        self.v4.is_none() && self.v6.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
