//! ADD (SPEC.md "ADD", chained after an interface plugin): forward the
//! mapped host ports to the container's addresses from prevResult, then
//! pass prevResult on unchanged.

use std::net::IpAddr;

use libcni::skel::CmdArgs;
use libcni::{CniResult, Error};
use netfilter::{Backend, driver};

use crate::config;
use crate::forward::Forward;
use crate::hostif;
use crate::pod::{Pod, PodAddrs};
use crate::udp;

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    let conf = config::load(args)?;
    let prev = conf.require_prev()?;
    if conf.mappings.is_empty() {
        return Ok(prev);
    }
    let addrs = PodAddrs::from_result(&prev, &args.ifname);
    if addrs.is_empty() {
        return Ok(prev);
    }
    let pod = Pod::new(&conf.network, &args.container_id)?;
    // Options of the other backend fail before anything is changed.
    conf.check_backend(Backend::choose(conf.backend))?;
    if conf.snat
        && let Some(v4) = addrs.v4
        && let IpAddr::V4(ip) = v4.addr()
        && let Some((nl, link)) = hostif::route_interface(ip)
    {
        hostif::enable_route_localnet(&nl, &link)?;
    }
    let fw = Forward {
        conf: &conf,
        pod: &pod,
        addrs,
    };
    driver::setup(&fw, conf.backend)?;
    udp::flush(&conf, &addrs.families());
    Ok(prev)
}
