//! One attachment: its identity (network, container, interface), the
//! addresses its rules are about, and the bridge its isolation rules name,
//! all validated before they can reach a rule, a path or a D-Bus call.

use std::net::IpAddr;

use libcni::skel::CmdArgs;
use libcni::{CniResult, Error};
use netfilter::{Family, Ident, IfName, names};

/// Network, container and interface of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// Network name.
    pub network: Ident,
    /// Container ID.
    pub container: Ident,
    /// Interface name in the container.
    pub ifname: IfName,
}

impl Pod {
    /// The attachment of `args` on `network` (the skeleton has validated
    /// both values already; they are checked again here, where they become
    /// a rule comment or a file name).
    pub fn new(network: &Ident, args: &CmdArgs) -> Result<Pod, Error> {
        Pod::from_parts(network, &args.container_id, &args.ifname)
    }

    /// The attachment (container, ifname) of `network`.
    pub fn from_parts(network: &Ident, container: &str, ifname: &str) -> Result<Pod, Error> {
        Ok(Pod {
            network: network.clone(),
            container: Ident::container_id(container)?,
            ifname: IfName::new(ifname).map_err(netfilter::FirewallError::in_env)?,
        })
    }

    /// The comment of this attachment's nftables rules: the masquerade
    /// rules' form (`<hash>, net: .., if: .., id: ..`), so the hash prefix
    /// finds every rule of the attachment.
    pub fn nft_comment(&self) -> String {
        names::nft_masq_comment(&self.network, &self.ifname, &self.container)
    }

    /// The hash prefix of [`Pod::nft_comment`].
    pub fn nft_prefix(&self) -> String {
        names::nft_instance_hash(&self.network, &self.ifname, &self.container)
    }
}

/// Every address of `prev`, each once, whatever interface it is on (the
/// reference takes them all).
pub fn addresses(prev: &CniResult) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = vec![];
    for ip in &prev.ips {
        let a = ip.address.addr();
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// The addresses of one family.
pub fn of_family(ips: &[IpAddr], family: Family) -> Vec<IpAddr> {
    ips.iter()
        .copied()
        .filter(|ip| Family::of(*ip) == family)
        .collect()
}

/// The families `ips` has addresses in, v4 first.
pub fn families(ips: &[IpAddr]) -> Vec<Family> {
    Family::ALL
        .into_iter()
        .filter(|f| ips.iter().any(|ip| Family::of(*ip) == *f))
        .collect()
}

/// The bridge the isolation rules name: the first interface of `prev`
/// (the bridge, when firewall is chained after the bridge plugin).
pub fn bridge(prev: &CniResult) -> Result<IfName, Error> {
    let name = prev.interfaces.first().map(|i| i.name.as_str());
    match name {
        None | Some("") => Err(Error::invalid_config(
            "ingressPolicy needs the bridge: prevResult has no interface (or its first has no name); chain \"firewall\" after \"bridge\"",
        )),
        Some(n) => IfName::new(n)
            .map_err(|e| Error::invalid_config(format!("prevResult.interfaces[0]: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(v: serde_json::Value) -> CniResult {
        CniResult::parse(&v, libcni::Version::V1_0_0).unwrap().0
    }

    #[test]
    fn every_address_once_and_the_first_interface() {
        let r = result(json!({"cniVersion": "1.0.0",
        "interfaces": [{"name": "cni0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/x"}],
        "ips": [
            {"address": "10.88.0.2/16", "interface": 2},
            {"address": "fd88::2/64", "interface": 2},
            {"address": "10.88.0.2/16"},
            {"address": "10.89.0.9/24", "interface": 0}
        ]}));
        let ips = addresses(&r);
        assert_eq!(ips.len(), 3);
        assert_eq!(
            of_family(&ips, Family::V6),
            ["fd88::2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(families(&ips), Family::ALL);
        assert_eq!(bridge(&r).unwrap().as_str(), "cni0");
    }

    #[test]
    fn isolation_without_a_bridge_is_a_config_error() {
        let none = result(json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}));
        let e = bridge(&none).unwrap_err();
        assert_eq!(e.code, 7);
        assert!(
            e.msg.contains("chain \"firewall\" after \"bridge\""),
            "{}",
            e.msg
        );
        let empty = result(json!({"cniVersion": "1.0.0", "interfaces": [{"name": ""}]}));
        assert_eq!(bridge(&empty).unwrap_err().code, 7);
    }
}
