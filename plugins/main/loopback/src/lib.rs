//! The `loopback` plugin: brings `lo` up in the container's network
//! namespace (ADD), checks that it is up (CHECK) and brings it down (DEL),
//! like the reference (plugins:plugins/main/loopback).
//!
//! ADD reports `lo` with MAC 00:00:00:00:00:00 and the first IPv4 and
//! first IPv6 address the kernel has on it (127.0.0.1/8 and ::1/128 unless
//! IPv6 is disabled), or passes a `prevResult` through unchanged when it
//! runs chained after another plugin. `CNI_IFNAME` is ignored: the plugin
//! only ever touches `lo`. No `CNI_PATH` is needed (there is no delegate).

use hostnet::netlink::Family;
use hostnet::{NetNs, NetNsError, Netlink};
use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::{CniResult, Interface, IpConfig};
use libcni::{Error, cni_warn};

/// The loopback plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loopback;

/// The only interface this plugin touches.
const LO: &str = "lo";

/// A handle on `lo` in the container's namespace.
fn open_lo(netns: &NetNs) -> Result<(Netlink, hostnet::netlink::LinkInfo), Error> {
    let nl = Netlink::in_netns(netns)?;
    let lo = nl.link_by_name(LO)?;
    Ok((nl, lo))
}

impl Plugin for Loopback {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        // A malformed prevResult is reported before anything is changed.
        let prev = args.conf.prev_result()?;
        let netns = NetNs::open(&args.netns)?;
        let (nl, lo) = open_lo(&netns)?;
        nl.set_up(lo.index)?;
        let addrs = nl.addrs(Some(lo.index), Family::All)?;
        if let Some(bad) = addrs.iter().find(|a| !a.addr.addr().is_loopback()) {
            return Err(Error::plugin(
                100,
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

    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        // containerd's second DEL comes without a netns; a netns that is
        // gone took its loopback with it.
        if args.netns.is_empty() {
            return Ok(());
        }
        let netns = match NetNs::open(&args.netns) {
            Ok(ns) => ns,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e @ NetNsError::NotNetns { .. }) => {
                // A leftover file where the namespace was bind-mounted.
                cni_warn!("DEL: {e}; treating the namespace as gone");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let (nl, lo) = open_lo(&netns)?;
        nl.set_down(lo.index)?;
        Ok(())
    }

    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        let netns = NetNs::open(&args.netns)?;
        let (_, lo) = open_lo(&netns)?;
        if !lo.up {
            return Err(Error::plugin(
                100,
                format!("loopback interface lo is down in {}", args.netns),
            ));
        }
        Ok(())
    }
}
