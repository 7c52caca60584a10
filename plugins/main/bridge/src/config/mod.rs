//! The bridge plugin's configuration: every key of the reference bridge
//! (plugins:plugins/main/bridge/bridge.go `NetConf`), its default, and the
//! validation that turns a bad value into code 7 before anything is made.

use serde::Deserialize;

use hostnet::MacAddr;
use libcni::skel::CmdArgs;
use libcni::spec::conf::{interface_name_problem, lenient_bool};
use libcni::{Error, NetConf};

/// Default bridge name, as in the reference.
pub const DEFAULT_BRIDGE: &str = "cni0";

/// One `vlanTrunk` entry: a single `id` and/or a `minID`..`maxID` range.
#[derive(Debug, Clone, Default, Deserialize)]
struct VlanTrunkEntry {
    #[serde(rename = "minID")]
    min_id: Option<i64>,
    #[serde(rename = "maxID")]
    max_id: Option<i64>,
    id: Option<i64>,
}

fn default_bridge() -> String {
    DEFAULT_BRIDGE.to_string()
}

fn default_true() -> bool {
    true
}

/// The keys as they appear in JSON. Booleans also accept "true"/"false"
/// strings (the reference's own docs write `"portIsolation": "true"`,
/// which its Go decoder rejects).
#[derive(Debug, Deserialize)]
struct RawConf {
    #[serde(default = "default_bridge")]
    bridge: String,
    #[serde(rename = "isGateway", default, deserialize_with = "lenient_bool")]
    is_gateway: bool,
    #[serde(
        rename = "isDefaultGateway",
        default,
        deserialize_with = "lenient_bool"
    )]
    is_default_gateway: bool,
    #[serde(rename = "forceAddress", default, deserialize_with = "lenient_bool")]
    force_address: bool,
    #[serde(rename = "ipMasq", default, deserialize_with = "lenient_bool")]
    ip_masq: bool,
    #[serde(rename = "ipMasqBackend", default)]
    ip_masq_backend: Option<String>,
    #[serde(default)]
    mtu: i64,
    #[serde(rename = "hairpinMode", default, deserialize_with = "lenient_bool")]
    hairpin_mode: bool,
    #[serde(rename = "promiscMode", default, deserialize_with = "lenient_bool")]
    promisc_mode: bool,
    #[serde(default)]
    vlan: i64,
    #[serde(rename = "vlanTrunk", default)]
    vlan_trunk: Option<Vec<VlanTrunkEntry>>,
    #[serde(
        rename = "preserveDefaultVlan",
        default = "default_true",
        deserialize_with = "lenient_bool"
    )]
    preserve_default_vlan: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    macspoofchk: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    enabledad: bool,
    #[serde(
        rename = "disableContainerInterface",
        default,
        deserialize_with = "lenient_bool"
    )]
    disable_container_interface: bool,
    #[serde(rename = "portIsolation", default, deserialize_with = "lenient_bool")]
    port_isolation: bool,
}

/// The validated bridge configuration.
#[derive(Debug, Clone)]
pub struct BridgeConf {
    /// The standard part (name, ipam, dns, runtimeConfig, prevResult...).
    pub net: NetConf,
    /// Bridge device name.
    pub bridge: String,
    /// Put the gateway address on the bridge (implied by
    /// `is_default_gateway`).
    pub is_gateway: bool,
    /// Add a default route via the gateway when IPAM gives none.
    pub is_default_gateway: bool,
    /// Replace a different IPv4 address already on the bridge.
    pub force_address: bool,
    /// Masquerade traffic leaving the pod network.
    pub ip_masq: bool,
    /// Explicit masquerade backend; `None` = detect like the reference.
    pub ip_masq_backend: Option<netfilter::Backend>,
    /// MTU for the bridge (on creation) and the veth pair; 0 = kernel default.
    pub mtu: u32,
    /// Let frames go back out of the port they came in on.
    pub hairpin_mode: bool,
    /// Put the bridge in promiscuous mode.
    pub promisc_mode: bool,
    /// Access VLAN (PVID, untagged); 0 = none.
    pub vlan: u16,
    /// Trunk VLANs (tagged), sorted and deduplicated.
    pub vlan_trunk: Vec<u16>,
    /// Keep VLAN 1 on the port when vlan/vlanTrunk is set.
    pub preserve_default_vlan: bool,
    /// Drop frames from the pod with a source MAC other than its own.
    pub macspoofchk: bool,
    /// Keep IPv6 DAD on for the container interface.
    pub enabledad: bool,
    /// Only attach the host side; leave the container end down.
    pub disable_container_interface: bool,
    /// Set the bridge port `isolated` flag.
    pub port_isolation: bool,
    /// The MAC requested for the container interface, if any.
    pub mac: Option<MacAddr>,
}

impl BridgeConf {
    /// True when an IPAM plugin is configured (L3); false for L2 only.
    pub fn has_ipam(&self) -> bool {
        self.net.ipam_type().is_some()
    }
}

fn vlan_id(v: i64, what: &str) -> Result<u16, Error> {
    if (1..=4094).contains(&v) {
        Ok(v as u16)
    } else {
        Err(Error::invalid_config(format!(
            "invalid vlanTrunk {what} {v}: it must be between 1 and 4094"
        )))
    }
}

fn collect_trunk(entries: &[VlanTrunkEntry]) -> Result<Vec<u16>, Error> {
    let mut out = std::collections::BTreeSet::new();
    for e in entries {
        match (e.min_id, e.max_id) {
            (Some(lo), Some(hi)) => {
                let (lo, hi) = (vlan_id(lo, "minID")?, vlan_id(hi, "maxID")?);
                if hi < lo {
                    return Err(Error::invalid_config(format!(
                        "invalid vlanTrunk range: minID {lo} is greater than maxID {hi}"
                    )));
                }
                out.extend(lo..=hi);
            }
            (None, Some(_)) => {
                return Err(Error::invalid_config(
                    "invalid vlanTrunk entry: maxID is set without minID; set both or use \"id\"",
                ));
            }
            (Some(_), None) => {
                return Err(Error::invalid_config(
                    "invalid vlanTrunk entry: minID is set without maxID; set both or use \"id\"",
                ));
            }
            (None, None) => {}
        }
        if let Some(id) = e.id {
            out.insert(vlan_id(id, "id")?);
        }
    }
    Ok(out.into_iter().collect())
}

fn mac_from(source: &str, s: &str) -> Result<MacAddr, Error> {
    s.parse().map_err(|_| {
        Error::invalid_config(format!(
            "invalid MAC address {s:?} in {source}: expected six hex bytes like 02:42:ac:11:00:02"
        ))
    })
}

/// Decode and validate the config of one call. Order and messages follow
/// the reference where it has them.
pub fn load(args: &CmdArgs) -> Result<BridgeConf, Error> {
    let raw: RawConf = args.decode_conf()?;
    if let Some(why) = interface_name_problem(&raw.bridge) {
        return Err(Error::invalid_config(format!(
            "invalid bridge name {:?}: {why}",
            raw.bridge
        )));
    }
    if !(0..=4094).contains(&raw.vlan) {
        return Err(Error::invalid_config(format!(
            "invalid VLAN ID {} (must be between 0 and 4094)",
            raw.vlan
        )));
    }
    let vlan_trunk = collect_trunk(raw.vlan_trunk.as_deref().unwrap_or_default())?;
    if raw.vlan > 0 && !vlan_trunk.is_empty() {
        return Err(Error::invalid_config(
            "cannot set vlan and vlanTrunk at the same time: a port is either an access port or a trunk",
        ));
    }
    if raw.hairpin_mode && raw.promisc_mode {
        return Err(Error::invalid_config(
            "cannot set hairpinMode and promiscMode at the same time",
        ));
    }
    let mtu = podnet::veth::config_mtu(raw.mtu)?;
    let ip_masq_backend =
        netfilter::Backend::from_config("ipMasqBackend", raw.ip_masq_backend.as_deref())?;
    let net = args.conf.clone();
    if raw.disable_container_interface && net.ipam_type().is_some() {
        return Err(Error::invalid_config(
            "disableContainerInterface cannot be combined with ipam: addresses cannot be configured on an interface that stays down",
        ));
    }

    // MAC precedence: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC=.
    let mut mac = None;
    if let Some(m) = args.args.get("MAC").filter(|m| !m.is_empty()) {
        mac = Some(mac_from("CNI_ARGS MAC", m)?);
    }
    if let Some(m) = net
        .args_cni()
        .and_then(|a| a.mac.as_deref())
        .filter(|m| !m.is_empty())
    {
        mac = Some(mac_from("args.cni.mac", m)?);
    }
    match net.runtime("mac") {
        None => {}
        Some(serde_json::Value::String(m)) if m.is_empty() => {}
        Some(serde_json::Value::String(m)) => mac = Some(mac_from("runtimeConfig.mac", m)?),
        Some(other) => {
            return Err(Error::decoding(format!(
                "runtimeConfig.mac must be a string, got {other}"
            )));
        }
    }
    if let Some(m) = mac
        && (m.is_multicast() || m.is_zero())
    {
        return Err(Error::invalid_config(format!(
            "invalid MAC address {m}: it must be a non-zero unicast address"
        )));
    }

    Ok(BridgeConf {
        bridge: raw.bridge,
        is_gateway: raw.is_gateway || raw.is_default_gateway,
        is_default_gateway: raw.is_default_gateway,
        force_address: raw.force_address,
        ip_masq: raw.ip_masq,
        ip_masq_backend,
        mtu,
        hairpin_mode: raw.hairpin_mode,
        promisc_mode: raw.promisc_mode,
        vlan: raw.vlan as u16,
        vlan_trunk,
        preserve_default_vlan: raw.preserve_default_vlan,
        macspoofchk: raw.macspoofchk,
        enabledad: raw.enabledad,
        disable_container_interface: raw.disable_container_interface,
        port_isolation: raw.port_isolation,
        mac,
        net,
    })
}

#[cfg(test)]
mod tests;
