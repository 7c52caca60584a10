//! The point-to-point links of one pod: each IPAM address paired with its
//! gateway. ptp routes everything through the gateway, so an address
//! without one, or with no subnet around it, cannot be set up; the
//! reference finds out halfway through (a netlink error after the veth
//! exists), here it is said before anything is made.

use std::net::IpAddr;

use ipnet::IpNet;
use libcni::spec::{CniResult, Error};

use crate::code;

/// One pod address and its gateway: the pod end and the host end of a
/// point-to-point link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The pod's address with the subnet's prefix (`10.244.0.5/24`).
    pub addr: IpNet,
    /// The gateway, put on the host end with a full-length prefix.
    pub gw: IpAddr,
}

impl Link {
    /// The pod's subnet (`10.244.0.0/24`).
    pub fn subnet(&self) -> IpNet {
        self.addr.trunc()
    }

    /// The gateway as a host prefix (`10.244.0.1/32`, `fd00::1/128`).
    pub fn gw_host(&self) -> IpNet {
        IpNet::from(self.gw)
    }

    /// The pod address as a host prefix.
    pub fn addr_host(&self) -> IpNet {
        IpNet::from(self.addr.addr())
    }
}

/// The links of the IPAM result, in its order.
pub fn links(result: &CniResult) -> Result<Vec<Link>, Error> {
    result
        .ips
        .iter()
        .map(|ip| {
            let addr = ip.address;
            let gw = ip
                .gateway
                .filter(|g| g.is_ipv4() == addr.addr().is_ipv4())
                .ok_or_else(|| {
                    Error::plugin(
                        code::NO_GATEWAY,
                        format!(
                            "the IPAM plugin gave {addr} no gateway of its family: ptp routes all of \
                             the pod's traffic through the gateway; configure one in the IPAM \
                             range (\"gateway\")"
                        ),
                    )
                })?;
            if addr.prefix_len() == addr.max_prefix_len() {
                return Err(Error::plugin(
                    code::FULL_LENGTH_PREFIX,
                    format!(
                        "the IPAM plugin gave {addr}, a single-address prefix: ptp routes the pod's \
                         subnet through the gateway, so the address needs the subnet's prefix"
                    ),
                ));
            }
            Ok(Link { addr, gw })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcni::spec::IpConfig;

    fn ip(a: &str, gw: Option<&str>) -> IpConfig {
        IpConfig {
            interface: None,
            address: a.parse().unwrap(),
            gateway: gw.map(|g| g.parse().unwrap()),
        }
    }

    fn result(ips: Vec<IpConfig>) -> CniResult {
        CniResult {
            ips,
            ..CniResult::default()
        }
    }

    #[test]
    fn dual_stack_links() {
        let l = links(&result(vec![
            ip("10.244.0.5/24", Some("10.244.0.1")),
            ip("fd00:10:244::5/64", Some("fd00:10:244::1")),
        ]))
        .unwrap();
        assert_eq!(l[0].subnet().to_string(), "10.244.0.0/24");
        assert_eq!(l[0].gw_host().to_string(), "10.244.0.1/32");
        assert_eq!(l[0].addr_host().to_string(), "10.244.0.5/32");
        assert_eq!(l[1].subnet().to_string(), "fd00:10:244::/64");
        assert_eq!(l[1].gw_host().to_string(), "fd00:10:244::1/128");
    }

    #[test]
    fn an_address_without_gateway_is_named() {
        for gw in [None, Some("fd00::1")] {
            let e = links(&result(vec![ip("10.1.0.5/24", gw)])).unwrap_err();
            assert_eq!(e.code, code::NO_GATEWAY);
            assert!(e.msg.contains("10.1.0.5/24"), "{}", e.msg);
        }
    }

    #[test]
    fn a_full_length_prefix_is_refused() {
        for (a, gw) in [("10.1.0.5/32", "10.1.0.1"), ("fd00::5/128", "fd00::1")] {
            let e = links(&result(vec![ip(a, Some(gw))])).unwrap_err();
            assert_eq!(e.code, code::FULL_LENGTH_PREFIX, "{a}");
        }
    }
}
