//! The CNI `portmap` plugin: forwards host ports to a container with
//! iptables or nftables DNAT, chained after an interface plugin
//! (plugins:plugins/meta/portmap; CONVENTIONS.md `portMappings`).
//!
//! - [`config`]: keys, defaults, validation of every value that reaches a
//!   rule.
//! - [`pod`]: the container's identity and derived names.
//! - [`iptables`], [`nft`]: the two backends (layouts identical to the
//!   reference's, so a node can switch implementations with pods running).
//! - [`hostif`]: `route_localnet` on the interface towards the pod.
//!
//! UDP conntrack entries of the mapped host ports are deleted after ADD
//! and DEL (netfilter::conntrack), so a flow that hit the port while
//! no rule (or an old rule) was in place does not stay blackholed.

pub mod config;
pub mod hostif;
pub mod iptables;
pub mod nft;
pub mod pod;

#[cfg(test)]
mod testutil;

use libcni::skel::{CmdArgs, Plugin};
use libcni::{CniResult, Error, cni_warn};
use netfilter::{FirewallError, backend, conntrack};

use config::{Backend, Family, PortmapConf, Protocol};
use pod::{Pod, PodAddrs};

/// The plugin.
#[derive(Debug, Default)]
pub struct Portmap;

fn missing_prev() -> Error {
    Error::invalid_config(
        "portmap must be called as a chained plugin: the configuration has no prevResult; \
         put it after an interface plugin (e.g. bridge) in a conflist",
    )
}

fn firewall(e: FirewallError) -> Error {
    Error::from(e)
}

/// Delete the UDP conntrack entries of every UDP host port that applies to
/// each of `families` (failures are only logged: the rules are in place).
fn flush_udp(conf: &PortmapConf, families: &[Family]) {
    for family in families {
        let mut ports: Vec<u16> = conf
            .mappings
            .iter()
            .filter(|m| m.protocol == Protocol::Udp && m.applies_to(*family))
            .map(|m| m.host_port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        for port in ports {
            if let Err(e) = conntrack::delete_by_dport(*family, Protocol::Udp, port) {
                cni_warn!(
                    "could not delete stale {} UDP conntrack entries of host port {port}: {e}",
                    family.label()
                );
            }
        }
    }
}

fn apply(
    conf: &PortmapConf,
    backend: Backend,
    pod: &Pod,
    addrs: &PodAddrs,
) -> Result<(), FirewallError> {
    match backend {
        Backend::Iptables => iptables::setup(conf, pod, addrs),
        Backend::Nftables => nft::setup(conf, pod, addrs),
    }
}

impl Portmap {
    fn add_impl(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        let conf = config::load(args)?;
        let prev = conf.prev_result.clone().ok_or_else(missing_prev)?;
        if conf.mappings.is_empty() {
            return Ok(prev);
        }
        let addrs = PodAddrs::from_result(&prev, &args.ifname);
        if addrs.is_empty() {
            return Ok(prev);
        }
        let pod = Pod::new(&conf.network, &args.container_id)?;
        let first = conf.backend.unwrap_or_else(Backend::detect);
        conf.check_backend(first)?;
        if conf.snat
            && let Some(v4) = addrs.v4
            && let std::net::IpAddr::V4(ip) = v4.addr()
            && let Some((nl, link)) = hostif::route_interface(ip)
        {
            hostif::enable_route_localnet(&nl, &link)?;
        }
        backend::with_fallback(conf.backend, |b| {
            if b != first {
                conf.check_backend(b)
                    .map_err(|e| FirewallError::Unavailable(e.msg))?;
            }
            apply(&conf, b, &pod, &addrs)
        })
        .map_err(firewall)?;
        let families: Vec<Family> = addrs.each().into_iter().map(|(f, _)| f).collect();
        flush_udp(&conf, &families);
        Ok(prev)
    }

    fn del_impl(&self, args: &CmdArgs) -> Result<(), Error> {
        let conf = config::load(args)?;
        let pod = Pod::new(&conf.network, &args.container_id)?;
        let mut errs = vec![];
        // iptables state is named after network + container: removing it
        // is always safe, and free when nothing is there.
        if let Err(e) = iptables::teardown(&conf, &pod, &Family::ALL) {
            errs.push(e);
        }
        // nft state only carries the container ID: touch it only when nft
        // is this network's backend.
        if conf.backend.unwrap_or_else(Backend::detect) == Backend::Nftables
            && let Err(e) = nft::teardown(&pod)
        {
            errs.push(e);
        }
        let families = match &conf.prev_result {
            Some(prev) => {
                let a = PodAddrs::from_result(prev, &args.ifname);
                if a.is_empty() {
                    Family::ALL.to_vec()
                } else {
                    a.each().into_iter().map(|(f, _)| f).collect()
                }
            }
            None => Family::ALL.to_vec(),
        };
        flush_udp(&conf, &families);
        match errs.len() {
            0 => Ok(()),
            1 => Err(firewall(errs.remove(0))),
            _ => Err(firewall(FirewallError::Multiple(errs))),
        }
    }

    fn check_impl(&self, args: &CmdArgs) -> Result<(), Error> {
        let conf = config::load(args)?;
        let prev = conf.prev_result.clone().ok_or_else(missing_prev)?;
        if conf.mappings.is_empty() {
            return Ok(());
        }
        let addrs = PodAddrs::from_result(&prev, &args.ifname);
        let pod = Pod::new(&conf.network, &args.container_id)?;
        let b = conf.backend.unwrap_or_else(Backend::detect);
        conf.check_backend(b)?;
        match b {
            Backend::Iptables => iptables::check(&conf, &pod, &addrs),
            Backend::Nftables => nft::check(&conf, &pod, &addrs),
        }
        .map_err(firewall)
    }

    fn gc_impl(&self, args: &CmdArgs) -> Result<(), Error> {
        let conf = config::load(args)?;
        // Without the list, nothing can be known to be stale.
        let Some(valid) = args.conf.valid_attachments()? else {
            return Ok(());
        };
        iptables::gc(&conf.network, &valid).map_err(firewall)
    }
}

impl Plugin for Portmap {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        self.add_impl(args)
    }

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        self.del_impl(args)
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        self.check_impl(args)
    }

    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        self.gc_impl(args)
    }
}
