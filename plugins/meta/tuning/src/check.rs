//! CHECK: the sysctls and link attributes are still what the config asks
//! for, compared as the reference compares them (v1.3.0+): sysctl files
//! without their trailing newline against the config's strings (with
//! `IFNAME` substituted), the MAC as the *raw* config string against the
//! kernel's lower-case colon form, promiscuous mode both ways (a config
//! without `promisc: true` wants it off), and MTU, all-multicast and
//! queue length when set. No allowlist check, as in the reference.

use hostnet::{NetNs, Netlink, sysctl};
use libcni::Error;
use libcni::skel::CmdArgs;

use crate::add::missing_prev;
use crate::{code, config};

fn differs(what: impl std::fmt::Display) -> Error {
    Error::plugin(code::CHECK_FAILED, format!("tuning CHECK: {what}"))
}

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    args.conf.prev_result()?.ok_or_else(missing_prev)?;
    let ifname = &args.ifname;
    let paths = conf.sysctl_paths(ifname)?;
    let netns = NetNs::open(&args.netns)?;
    if !paths.is_empty() {
        netns.run(|| -> Result<(), Error> {
            for (s, path) in &paths {
                let current = sysctl::get(path)?;
                if current != s.value {
                    return Err(differs(format_args!(
                        "sysctl /proc/sys/{path} is {current:?}, the config wants {:?}",
                        s.value
                    )));
                }
            }
            Ok(())
        })??;
    }
    let nl = Netlink::in_netns(&netns)?;
    let l = nl.link_by_name(ifname).map_err(|e| {
        if e.is_not_found() {
            differs(format_args!(
                "cannot find container link {ifname} in {}",
                args.netns
            ))
        } else {
            e.into()
        }
    })?;
    if let Some(mac) = &conf.mac {
        let current = l.mac.map(|m| m.to_string()).unwrap_or_default();
        if mac.raw != current {
            return Err(differs(format_args!(
                "{ifname} has MAC {current}, {} says {:?}",
                mac.source, mac.raw
            )));
        }
    }
    if conf.promisc != l.promisc {
        return Err(differs(format_args!(
            "{ifname} has promiscuous mode {}, the config wants {}",
            on_off(l.promisc),
            on_off(conf.promisc)
        )));
    }
    if let Some(mtu) = conf.mtu.filter(|m| *m != l.mtu) {
        return Err(differs(format_args!(
            "{ifname} has MTU {}, the config wants {mtu}",
            l.mtu
        )));
    }
    if let Some(on) = conf.allmulti.filter(|a| *a != l.allmulti) {
        return Err(differs(format_args!(
            "{ifname} has all-multicast {}, the config wants {}",
            on_off(l.allmulti),
            on_off(on)
        )));
    }
    if let Some(q) = conf.txqlen.filter(|q| *q != l.txqlen) {
        return Err(differs(format_args!(
            "{ifname} has txqueuelen {}, the config wants {q}",
            l.txqlen
        )));
    }
    Ok(())
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
