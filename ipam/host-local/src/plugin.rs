//! The CNI verbs of host-local on top of the config, allocator and store.

use std::collections::HashSet;
use std::net::IpAddr;

use libcni::Error;
use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::{CniResult, Dns};

use crate::allocator::allocate;
use crate::config::{Config, data_dir_lenient};
use crate::store::{Key, Owner, Store};
use crate::{code, dns};

/// The host-local IPAM plugin.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostLocal;

fn key(args: &CmdArgs) -> Key {
    Key::new(&args.container_id, &args.ifname)
}

impl Plugin for HostLocal {
    /// `IP=` is the only CNI_ARGS key host-local reads; others fail ADD and
    /// CHECK unless `IgnoreUnknown` is set (as in the reference).
    fn cni_args_keys(&self) -> Option<&'static [&'static str]> {
        Some(&["IP"])
    }

    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        let conf = Config::load(args, true)?;
        let dns = match &conf.resolv_conf {
            Some(path) => dns::load(path)?,
            None => Dns::default(),
        };
        let mut store = Store::open(&conf.data_dir, &args.conf.name)?;
        let ips = allocate(&mut store, &key(args), &conf.range_sets, &conf.requested);
        store.finish();
        Ok(CniResult {
            interfaces: Vec::new(),
            ips: ips?,
            routes: conf.routes,
            dns,
        })
    }

    /// Release every address of the attachment. Needs only the network
    /// name and `dataDir`, so a config that no longer validates (or a
    /// store that was never created) does not make DEL fail.
    fn del(&self, args: &CmdArgs) -> Result<(), Error> {
        let data_dir = data_dir_lenient(&args.stdin)?;
        let Some(mut store) = Store::open_existing(&data_dir, &args.conf.name)? else {
            return Ok(());
        };
        let released = store.release(&key(args));
        store.finish();
        released.map(|_| ())
    }

    /// The attachment must hold a recorded address, and (given a
    /// prevResult) exactly the addresses prevResult reports in our ranges.
    fn check(&self, args: &CmdArgs) -> Result<(), Error> {
        let conf = Config::load(args, false)?;
        let key = key(args);
        let missing = || {
            Error::plugin(
                code::CHECK_FAILED,
                format!(
                    "no address is recorded for container {} interface {} in network {}",
                    key.container_id, key.ifname, args.conf.name
                ),
            )
        };
        let Some(store) = Store::open_existing(&conf.data_dir, &args.conf.name)? else {
            return Err(missing());
        };
        let mut held = store.lookup(&key, false);
        if held.as_ref().is_ok_and(Vec::is_empty) {
            held = store.lookup(&key, true);
        }
        store.finish();
        let held: Vec<IpAddr> = held?.into_iter().map(|r| r.ip).collect();
        if held.is_empty() {
            return Err(missing());
        }
        let Some(prev) = args.conf.prev_result()? else {
            return Ok(());
        };
        let prev: Vec<IpAddr> = prev
            .ips
            .iter()
            .map(|c| c.address.addr().to_canonical())
            .collect();
        for (i, set) in conf.range_sets.iter().enumerate() {
            let mismatch = |what: String| Err(Error::plugin(code::CHECK_FAILED, what));
            for ip in prev.iter().filter(|ip| set.contains(**ip)) {
                if !held.contains(ip) {
                    return mismatch(format!(
                        "prevResult address {ip} (range set {i}) is not recorded for container {} interface {}",
                        key.container_id, key.ifname
                    ));
                }
            }
            for ip in held.iter().filter(|ip| set.contains(**ip)) {
                if !prev.contains(ip) {
                    return mismatch(format!(
                        "address {ip} (range set {i}) is recorded for container {} interface {} but missing from prevResult",
                        key.container_id, key.ifname
                    ));
                }
            }
        }
        Ok(())
    }

    /// Release every record of this network whose attachment is not in
    /// `cni.dev/valid-attachments` (or `cni.dev/attachments`). Without
    /// either key nothing is assumed stale and nothing is released.
    fn gc(&self, args: &CmdArgs) -> Result<(), Error> {
        let Some(valid) = args.conf.valid_attachments()? else {
            return Ok(());
        };
        let data_dir = data_dir_lenient(&args.stdin)?;
        let Some(mut store) = Store::open_existing(&data_dir, &args.conf.name)? else {
            return Ok(());
        };
        let pairs: HashSet<(&str, &str)> = valid
            .iter()
            .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
            .collect();
        let ids: HashSet<&str> = valid.iter().map(|a| a.container_id.as_str()).collect();
        let released = store.collect(|owner| match owner {
            Owner::Attachment {
                container_id,
                ifname,
            } => pairs.contains(&(container_id.as_str(), ifname.as_str())),
            Owner::Legacy(id) => ids.contains(id.as_str()),
            // Empty or unreadable content: a reservation that never
            // completed; nobody can hold it.
            Owner::Unknown => false,
        });
        store.finish();
        released.map(|_| ())
    }

    /// Code 50 when the store cannot be created, locked or written; 51
    /// when some range set is exhausted, i.e. every range of its pool is
    /// full: ADD needs one address from each set, so it would fail. A set
    /// with one full range and room in another is fine (ADD walks on).
    fn status(&self, args: &CmdArgs) -> Result<(), Error> {
        let conf = Config::load(args, false)?;
        let unusable = |e: Error| {
            Error::not_available(format!(
                "the address store under {} is not usable: {}",
                conf.data_dir.display(),
                e.msg
            ))
        };
        let mut store = Store::open(&conf.data_dir, &args.conf.name).map_err(unusable)?;
        let probe = store.probe_write();
        let used = store.all_addresses();
        store.finish();
        probe.map_err(unusable)?;
        let used: HashSet<IpAddr> = used.map_err(unusable)?.into_iter().collect();
        let exhausted: Vec<String> = conf
            .range_sets
            .iter()
            .enumerate()
            .filter(|(_, set)| set.is_exhausted(&used))
            .map(|(i, set)| format!("range set {i} ({set})"))
            .collect();
        if exhausted.is_empty() {
            return Ok(());
        }
        Err(Error::not_available_limited(format!(
            "{} exhausted: every address of every range is allocated, so ADD (one address per set) would fail; release some (DEL, GC) or enlarge the range",
            if exhausted.len() == 1 {
                format!("{} is", exhausted[0])
            } else {
                format!("{} are", exhausted.join(" and "))
            }
        )))
    }
}
