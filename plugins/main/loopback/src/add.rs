//! ADD: bring `lo` up and report it, or pass a chained `prevResult` on.

use hostnet::NetNs;
use hostnet::netlink::Family;
use libcni::Error;
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Interface, IpConfig};

use crate::code;
use crate::lo::{LO, open_lo};

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    // A malformed prevResult is reported before anything is changed.
    let prev = args.conf.prev_result()?;
    let netns = NetNs::open(&args.netns)?;
    let (nl, lo) = open_lo(&netns)?;
    nl.set_up(lo.index)?;
    let addrs = nl.addrs(Some(lo.index), Family::All)?;
    if let Some(bad) = addrs.iter().find(|a| !a.addr.addr().is_loopback()) {
        return Err(Error::plugin(
            code::NOT_LOOPBACK_ADDRESS,
            format!(
                "interface lo in {} has the non-loopback address {}; refusing to report it as loopback",
                args.netns, bad.addr
            ),
        ));
    }
    if let Some(prev) = prev {
        // Chained after another plugin: pass its result through.
        return Ok(prev);
    }
    let first = |v4: bool| {
        addrs
            .iter()
            .find(|a| a.addr.addr().is_ipv4() == v4)
            .map(|a| IpConfig {
                interface: Some(0),
                address: a.addr,
                gateway: None,
            })
    };
    Ok(CniResult {
        interfaces: vec![Interface {
            name: LO.to_string(),
            mac: "00:00:00:00:00:00".to_string(),
            sandbox: args.netns.clone(),
            ..Interface::default()
        }],
        ips: first(true).into_iter().chain(first(false)).collect(),
        ..CniResult::default()
    })
}
