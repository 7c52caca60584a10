//! Host-side objects of the bridge plugin: the bridge itself, the host end
//! of each veth (port flags, VLANs) and the gateway address.
//! All calls go through one netlink socket in the host namespace.

use hostnet::netlink::{
    AddrFlags, BridgePortSettings, Family, LinkInfo, NetlinkError, VlanEntry, scope,
};
use hostnet::{Netlink, sysctl};
use ipnet::IpNet;
use libcni::Error;

use crate::code;
use crate::config::BridgeConf;

/// Get the bridge, creating it (with MTU and VLAN filtering, which only
/// apply on creation, like the reference) when missing; set promiscuous
/// mode when asked, turn off router advertisements (we own its routes) and
/// bring it up. A same-named link that is not a bridge is a config error.
pub fn ensure_bridge(nl: &Netlink, conf: &BridgeConf) -> Result<LinkInfo, Error> {
    let name = conf.bridge.as_str();
    let vlan_filtering = conf.vlan != 0 || !conf.vlan_trunk.is_empty();
    let br = match nl.link_by_name(name) {
        Ok(l) => l,
        Err(e) if e.is_not_found() => {
            let mtu = (conf.mtu != 0).then_some(conf.mtu);
            let created = match nl.create_bridge(name, mtu, vlan_filtering) {
                Ok(()) => true,
                // Another ADD created it in the meantime.
                Err(e) if e.is_exists() => false,
                Err(e) if vlan_filtering => return Err(vlan_error(e)),
                Err(e) => return Err(e.into()),
            };
            let br = nl.link_by_name(name)?;
            // Pin the MAC the kernel chose: an unpinned bridge takes the
            // lowest MAC of its ports, which changes as pods come and go and
            // makes CHECK of older pods fail when there is no gateway
            // address (whose setup pins it, as in the reference).
            if created && let Some(mac) = br.mac.filter(|m| !m.is_zero()) {
                nl.set_mac(br.index, mac)?;
            }
            br
        }
        Err(e) => return Err(e.into()),
    };
    if !br.is_bridge() {
        return Err(Error::invalid_config(format!(
            "{name:?} already exists but is not a bridge (it is a {}); set \"bridge\" to another name",
            br.kind.as_deref().unwrap_or("device without a link type")
        )));
    }
    if conf.promisc_mode && !br.promisc {
        nl.set_promisc(br.index, true)?;
    }
    // Best effort: fails only where IPv6 is disabled.
    sysctl::disable_accept_ra(&br);
    if !br.up {
        nl.set_up(br.index)?;
    }
    Ok(br)
}

/// Configure the host end of a pod's veth: up, no router advertisements,
/// on the bridge, hairpin and isolation written (as the reference always
/// writes them), then the VLAN membership.
pub fn attach_port(
    nl: &Netlink,
    conf: &BridgeConf,
    br: &LinkInfo,
    port: &LinkInfo,
) -> Result<(), Error> {
    sysctl::disable_accept_ra(port);
    nl.set_master(port.index, br.index)?;
    nl.set_bridge_port(
        port.index,
        &BridgePortSettings {
            hairpin: Some(conf.hairpin_mode),
            isolated: Some(conf.port_isolation),
            learning: None,
        },
    )?;
    set_vlans(nl, conf, port.index, conf.vlan)?;
    nl.set_up(port.index)?;
    Ok(())
}

/// VLAN membership of a port: without `preserveDefaultVlan` the default
/// VLAN goes; `vlan` is the PVID, untagged; trunk VLANs are tagged, and a
/// trunk without `vlan` keeps VLAN 1 as its PVID.
fn set_vlans(nl: &Netlink, conf: &BridgeConf, index: u32, vlan: u16) -> Result<(), Error> {
    if vlan == 0 && conf.vlan_trunk.is_empty() {
        return Ok(());
    }
    set_vlan_entries(nl, conf, index, vlan).map_err(vlan_error)
}

/// A bridge VLAN request refused with EOPNOTSUPP means the kernel was
/// built without CONFIG_BRIDGE_VLAN_FILTERING (it then refuses both a
/// `vlan_filtering` bridge and per-port VLANs): say so, instead of a bare
/// errno that does not tell the operator which key is the problem.
fn vlan_error(e: NetlinkError) -> Error {
    if e.errno() != Some(libc::EOPNOTSUPP) {
        return e.into();
    }
    Error::plugin(
        code::NO_VLAN_FILTERING,
        format!(
            "this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING is not set), \
             which \"vlan\" and \"vlanTrunk\" need: remove them from the config or use a kernel \
             with VLAN filtering ({e})"
        ),
    )
}

fn set_vlan_entries(
    nl: &Netlink,
    conf: &BridgeConf,
    index: u32,
    vlan: u16,
) -> Result<(), NetlinkError> {
    if !conf.preserve_default_vlan {
        nl.bridge_vlan_clear(index)?;
    }
    if vlan != 0 {
        nl.bridge_vlan_add(index, VlanEntry::native(vlan), false)?;
    } else if !conf.preserve_default_vlan {
        nl.bridge_vlan_add(index, VlanEntry::native(1), false)?;
    }
    for (first, last) in ranges(&conf.vlan_trunk) {
        nl.bridge_vlan_add_range(index, first, last, false)?;
    }
    Ok(())
}

/// Sorted VLAN ids as inclusive ranges, so a trunk of 1000 VLANs is a few
/// requests, not 1000.
fn ranges(ids: &[u16]) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for &id in ids {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == id => *last = id,
            _ => out.push((id, id)),
        }
    }
    out
}

/// The link that carries the gateway address: the bridge, or with `vlan`
/// a host veth `<bridge>.<vlan>` whose peer is a bridge port in that VLAN
/// (as the reference does, so the gateway lives in the pod's VLAN).
pub fn gateway_link(
    nl: &Netlink,
    conf: &BridgeConf,
    br: &LinkInfo,
) -> Result<(LinkInfo, bool), Error> {
    if conf.vlan == 0 {
        return Ok((br.clone(), false));
    }
    let name = format!("{}.{}", conf.bridge, conf.vlan);
    if name.len() > 15 {
        return Err(Error::invalid_config(format!(
            "the VLAN gateway interface name {name:?} is longer than 15 bytes; use a shorter bridge name"
        )));
    }
    match nl.link_by_name(&name) {
        Ok(l) => return Ok((l, true)),
        Err(e) if !e.is_not_found() => return Err(e.into()),
        Err(_) => {}
    }
    let pair = podnet::veth::create(nl, &name, None, None, conf.mtu)?;
    let peer = nl.link_by_name(&pair.peer_name)?;
    let gw = pair.local;
    let res = (|| -> Result<(), Error> {
        nl.set_master(peer.index, br.index)?;
        set_vlans(nl, conf, peer.index, conf.vlan)?;
        nl.set_up(peer.index)?;
        nl.set_up(gw.index)?;
        Ok(())
    })();
    if let Err(e) = res {
        let _ = nl.delete_link(gw.index);
        return Err(e);
    }
    Ok((nl.link_by_index(gw.index)?, true))
}

/// Put `gw` (with the pod subnet's prefix) on `link`. An IPv4 link holds
/// one gateway: a different IPv4 address is an error unless
/// `forceAddress`, which replaces it. IPv6 allows several addresses unless
/// they overlap. The link's MAC is then pinned to its current value: a
/// bridge otherwise takes the lowest port MAC, which changes as pods come
/// and go.
pub fn ensure_gateway_addr(
    nl: &Netlink,
    link: &LinkInfo,
    gw: IpNet,
    force: bool,
) -> Result<(), Error> {
    let family = Family::of(&gw.addr());
    let existing = nl.addrs(Some(link.index), family)?;
    let mut present = false;
    for a in existing.iter().filter(|a| a.scope == scope::UNIVERSE) {
        if a.addr == gw {
            present = true;
            continue;
        }
        let conflict =
            family == Family::V4 || a.addr.contains(&gw.addr()) || gw.contains(&a.addr.addr());
        if !conflict {
            continue;
        }
        if force {
            nl.addr_del(link.index, a.addr)?;
        } else {
            return Err(Error::plugin(
                code::GATEWAY_ADDRESS_CONFLICT,
                format!(
                    "{:?} already has an IP address different from {gw} ({}); set \"forceAddress\": true to replace it",
                    link.name, a.addr
                ),
            ));
        }
    }
    if !present {
        match nl.addr_add(link.index, gw, AddrFlags::default()) {
            Ok(()) => {}
            Err(e) if e.is_exists() => {}
            Err(e) => return Err(e.into()),
        }
        // Re-read: `link` was read before the port was added, and a bridge
        // whose last port went has an all-zero MAC until a port comes
        // back (which the kernel refuses to set).
        let now = nl.link_by_index(link.index)?;
        if let Some(mac) = now.mac.filter(|m| !m.is_zero()) {
            nl.set_mac(link.index, mac)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn vlan_ranges() {
        assert_eq!(ranges(&[]), vec![]);
        assert_eq!(ranges(&[5]), vec![(5, 5)]);
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), vec![(1, 3), (7, 7), (9, 10)]);
    }
}
