//! The ptp plugin's configuration: every key of the reference ptp
//! (plugins:plugins/main/ptp/ptp.go `NetConf`), its default, and the
//! validation that turns a bad value into code 7 before anything is made.

use serde::Deserialize;

use libcni::skel::CmdArgs;
use libcni::spec::Dns;
use libcni::spec::conf::lenient_bool;
use libcni::{Error, NetConf};

/// `dns` as written: a list that is present, even empty, is not the same
/// as one that is absent (the reference replaces the IPAM plugin's DNS
/// when any list is present or `domain` is non-empty).
#[derive(Debug, Default, Deserialize)]
struct RawDns {
    nameservers: Option<Vec<String>>,
    domain: Option<String>,
    search: Option<Vec<String>>,
    options: Option<Vec<String>>,
}

impl RawDns {
    /// The DNS that replaces the IPAM plugin's, if this one says anything.
    fn override_dns(self) -> Option<Dns> {
        let domain = self.domain.unwrap_or_default();
        let any_list =
            self.nameservers.is_some() || self.search.is_some() || self.options.is_some();
        (any_list || !domain.is_empty()).then(|| Dns {
            nameservers: self.nameservers.unwrap_or_default(),
            domain,
            search: self.search.unwrap_or_default(),
            options: self.options.unwrap_or_default(),
        })
    }
}

/// The keys as they appear in JSON. Booleans also accept "true"/"false"
/// strings, as every plugin of this project does.
#[derive(Debug, Deserialize)]
struct RawConf {
    #[serde(rename = "ipMasq", default, deserialize_with = "lenient_bool")]
    ip_masq: bool,
    #[serde(rename = "ipMasqBackend", default)]
    ip_masq_backend: Option<String>,
    #[serde(default)]
    mtu: i64,
    #[serde(default)]
    dns: Option<RawDns>,
}

/// The validated ptp configuration.
#[derive(Debug, Clone)]
pub struct PtpConf {
    /// The standard part (name, ipam, runtimeConfig, prevResult...).
    pub net: NetConf,
    /// Masquerade traffic leaving the pod network.
    pub ip_masq: bool,
    /// Explicit masquerade backend; `None` = detect like the reference.
    pub ip_masq_backend: Option<netfilter::Backend>,
    /// MTU of both ends of the veth pair; 0 = kernel default.
    pub mtu: u32,
    /// The DNS that replaces the IPAM plugin's in the result, if any.
    pub dns: Option<Dns>,
}

/// Decode and validate the config of one call.
pub fn load(args: &CmdArgs) -> Result<PtpConf, Error> {
    let raw: RawConf = args.decode_conf()?;
    if args.conf.ipam_type().is_none() {
        return Err(Error::invalid_config(
            "ptp needs an IPAM plugin to give the pod its addresses: set \"ipam\": {\"type\": \"host-local\", ...}",
        ));
    }
    let mtu = podnet::veth::config_mtu(raw.mtu)?;
    let ip_masq_backend =
        netfilter::Backend::from_config("ipMasqBackend", raw.ip_masq_backend.as_deref())?;
    Ok(PtpConf {
        net: args.conf.clone(),
        ip_masq: raw.ip_masq,
        ip_masq_backend,
        mtu,
        dns: raw.dns.and_then(RawDns::override_dns),
    })
}

#[cfg(test)]
mod tests;
