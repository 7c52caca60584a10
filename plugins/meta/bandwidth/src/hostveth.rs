//! Finding the host end of the pod's veth, as the reference does
//! (`getHostInterface`): the pod-side interface must be a veth, its peer
//! index (`IFLA_LINK`) names a link in the host namespace, and that link
//! must be listed in `prevResult.interfaces` without a sandbox. Plugins
//! whose pod interface has no host end (macvlan, ipvlan, host-device,
//! SR-IOV) cannot be shaped this way, as with the reference.
//!
//! The index alone could name an unrelated host link when the peer lives
//! in a third namespace; the name check against the result is what rules
//! that out, as in the reference.

use hostnet::{NetNs, Netlink};
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Error};

/// The host end of the pod's veth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVeth {
    /// Its index in the host namespace.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its MTU (the ifb copies it).
    pub mtu: u32,
}

/// Find the host veth of `args.ifname` in `args.netns`. What the chain
/// got wrong (no interfaces, not a veth, a peer that is not in the result)
/// becomes an error made by `chain`: code 7 for ADD, a CHECK failure for
/// CHECK. Kernel and namespace failures keep their own codes.
pub fn find(
    host: &Netlink,
    args: &CmdArgs,
    prev: &CniResult,
    chain: fn(String) -> Error,
) -> Result<HostVeth, Error> {
    if prev.interfaces.is_empty() {
        return Err(chain(
            "no interfaces provided: prevResult lists no interfaces; bandwidth must be chained \
             after the plugin that creates the pod's veth (e.g. bridge or ptp)"
                .into(),
        ));
    }
    let ifname = &args.ifname;
    let pod = Netlink::in_netns(&NetNs::open(&args.netns)?)?;
    let cont = match pod.link_by_name(ifname) {
        Ok(l) => l,
        Err(e) if e.is_not_found() => {
            return Err(chain(format!(
                "container interface {ifname} has no veth peer: there is no {ifname} in {}",
                args.netns
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let peer = match (cont.is_veth(), cont.link) {
        (true, Some(peer)) => peer,
        _ => {
            return Err(chain(format!(
                "container interface {ifname} has no veth peer: it is {}, not a veth; bandwidth \
                 shapes the host end of a veth pair (bridge, ptp), not macvlan, ipvlan or \
                 host-device interfaces",
                cont.kind.as_deref().map_or_else(
                    || "a device without a link type".to_string(),
                    |k| format!("a {k}")
                )
            )));
        }
    };
    let link = match host.link_by_index(peer) {
        Ok(l) => l,
        Err(e) if e.is_not_found() => {
            return Err(chain(format!(
                "veth peer with index {peer} is not in host ns: the peer of {ifname} must be in \
                 the namespace the plugin runs in"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if !prev
        .interfaces
        .iter()
        .any(|i| i.sandbox.is_empty() && i.name == link.name)
    {
        return Err(chain(format!(
            "no veth peer of container interface found in host ns: {ifname}'s peer {} is not \
             listed in prevResult.interfaces without a sandbox",
            link.name
        )));
    }
    Ok(HostVeth {
        index: link.index,
        name: link.name,
        mtu: link.mtu,
    })
}
