//! The pod's veth pair: the pod end named `CNI_IFNAME`, the host end with
//! the reference's random `veth%08x` name, created directly in the host
//! namespace (`hostnet`'s [`Netlink::create_veth_random_peer`]).

use hostnet::netlink::{VethPair, VethPairError};
use hostnet::{MacAddr, NetNs, Netlink};
use libcni::Error;
use libcni::skel::CmdArgs;

use crate::code;

/// The `mtu` key of a config: 0 (the kernel default) or 68–65535 (what
/// the kernel accepts on a veth), else code 7 naming the key. Negative
/// values, which the reference silently treats as 0, are refused too.
pub fn config_mtu(value: i64) -> Result<u32, Error> {
    u32::try_from(value)
        .ok()
        .filter(|m| *m == 0 || (68..=65535).contains(m))
        .ok_or_else(|| {
            Error::invalid_config(format!(
                "invalid mtu {value}: use 0 for the kernel default or a value between 68 and 65535"
            ))
        })
}

/// Fail with [`code::INTERFACE_EXISTS`] when `CNI_IFNAME` already exists
/// in the pod (`pod` is a socket there). Asked before the IPAM delegate
/// runs, so a repeated ADD never releases the live attachment's address
/// in its rollback.
pub fn ensure_absent(pod: &Netlink, args: &CmdArgs) -> Result<(), Error> {
    if pod.link_by_name(&args.ifname).is_ok() {
        return Err(Error::plugin(
            code::INTERFACE_EXISTS,
            format!(
                "interface {:?} already exists in {}: a container may not be added twice without DEL",
                args.ifname, args.netns
            ),
        ));
    }
    Ok(())
}

/// Create the pair from `nl`'s namespace: the local end is `name` (with
/// `mac`), the peer gets a random `veth%08x` name and is created in
/// `peer_netns` (or beside the local end when `None`); `mtu` 0 is the
/// kernel default. A taken local name is [`code::INTERFACE_EXISTS`]; no
/// free random name is [`code::VETH_NAME`].
pub fn create(
    nl: &Netlink,
    name: &str,
    peer_netns: Option<&NetNs>,
    mac: Option<MacAddr>,
    mtu: u32,
) -> Result<VethPair, Error> {
    nl.create_veth_random_peer(name, peer_netns, mac, (mtu != 0).then_some(mtu))
        .map_err(|e| match e {
            VethPairError::NameTaken { .. } => Error::plugin(
                code::INTERFACE_EXISTS,
                format!("interface {name:?} already exists in the container network namespace"),
            ),
            VethPairError::NoFreeName { .. } | VethPairError::Random(_) => {
                Error::plugin(code::VETH_NAME, e.to_string())
            }
            VethPairError::Netlink(e) => e.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_bounds() {
        for ok in [0, 68, 1500, 65535] {
            assert_eq!(config_mtu(ok).unwrap(), ok as u32);
        }
        for bad in [-1, 1, 67, 65536, i64::MAX] {
            let e = config_mtu(bad).unwrap_err();
            assert_eq!(e.code, 7, "{bad}");
            assert!(e.msg.contains("mtu"), "{}", e.msg);
        }
    }
}
