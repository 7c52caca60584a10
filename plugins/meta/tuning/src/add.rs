//! ADD: write the sysctls, record the link's original attributes, then
//! change the link, all inside the pod's namespace named by `CNI_NETNS`.
//!
//! Everything the config could get wrong is checked before the first
//! change (keys, values, the allowlist, the MTU range). If a change still
//! fails (the kernel refuses a sysctl value, say), every sysctl written and
//! every attribute set is put back and the backup file is returned to what
//! it was, so a failed ADD leaves nothing half-made. The reference leaves
//! whatever it had already changed.

use hostnet::netlink::LinkInfo;
use hostnet::{NetNs, Netlink, sysctl};
use libcni::skel::CmdArgs;
use libcni::spec::CniResult;
use libcni::{Error, cni_warn};

use crate::backup::{Backup, Store};
use crate::config::{self, Conf};
use crate::{allowlist, link};

/// tuning only adjusts what a main plugin made.
pub fn missing_prev() -> Error {
    Error::invalid_config(
        "tuning must be called as a chained plugin: the configuration has no prevResult; \
         put it after an interface plugin (e.g. bridge) in a conflist",
    )
}

/// What ADD changed so far, to put back if a later step fails.
#[derive(Debug, Default)]
struct Undo {
    /// Sysctls written, with the value each had (None: unreadable).
    sysctls: Vec<(String, Option<String>)>,
    /// The backup file's previous content (None: there was none), once
    /// ADD has written it.
    backup: Option<Option<Vec<u8>>>,
    /// The link's attributes before ADD changed them.
    link: Option<Backup>,
}

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    let conf = config::load(args)?;
    allowlist::check_keys(conf.sysctls.iter().map(|s| s.key.as_str()))?;
    let mut result = args.conf.prev_result()?.ok_or_else(missing_prev)?;
    let netns = NetNs::open(&args.netns)?;
    // The link is looked at before anything changes, so that an MTU it
    // cannot take is refused up front.
    let target = if conf.tunes_link() {
        let nl = Netlink::in_netns(&netns)?;
        let l = nl.link_by_name(&args.ifname).map_err(|e| {
            Error::from(e).context(format!("interface {} in {}", args.ifname, args.netns))
        })?;
        link::check_mtu(&l, &conf)?;
        Some((nl, l))
    } else {
        None
    };

    let mut undo = Undo::default();
    if let Err(e) = change(args, &conf, &netns, target.as_ref(), &mut undo) {
        return Err(match rollback(args, &conf, &netns, target.as_ref(), undo) {
            Ok(()) => e,
            Err(u) => e.context(format!("(undoing the partial change also failed: {u})")),
        });
    }

    if let Some(mac) = &conf.mac {
        // The reference reports the MAC as written in the config.
        for i in result
            .interfaces
            .iter_mut()
            .filter(|i| i.name == args.ifname)
        {
            i.mac.clone_from(&mac.raw);
        }
    }
    Ok(result)
}

fn change(
    args: &CmdArgs,
    conf: &Conf,
    netns: &NetNs,
    target: Option<&(Netlink, LinkInfo)>,
    undo: &mut Undo,
) -> Result<(), Error> {
    let paths = conf.sysctl_paths(&args.ifname)?;
    if !paths.is_empty() {
        // /proc/sys/net shows the namespace of the thread that opens it.
        netns.run(|| -> Result<(), Error> {
            for (s, path) in &paths {
                let old = sysctl::replace(path, &s.value)?;
                undo.sysctls.push((path.clone(), old));
            }
            Ok(())
        })??;
    }
    let Some((nl, l)) = target else {
        return Ok(());
    };
    let store = Store::new(&conf.data_dir);
    let previous = store.read(&args.container_id, &args.ifname)?;
    let captured = link::capture(l, conf);
    let older = match previous.as_deref().map(Backup::parse) {
        Some(Ok(b)) => b,
        Some(Err(why)) => {
            cni_warn!(
                "ADD: replacing the unreadable tuning backup for {} ({why})",
                args.ifname
            );
            Backup::default()
        }
        None => Backup::default(),
    };
    let text = captured.clone().keeping(&older).to_text();
    undo.backup = Some(previous);
    store.write(
        &args.conf.name,
        &args.container_id,
        &args.ifname,
        text.as_bytes(),
    )?;
    undo.link = Some(captured);
    link::apply(nl, l, conf)
}

/// Put back everything `undo` recorded; every failure is reported.
fn rollback(
    args: &CmdArgs,
    conf: &Conf,
    netns: &NetNs,
    target: Option<&(Netlink, LinkInfo)>,
    undo: Undo,
) -> Result<(), Error> {
    let mut errors = libcni::Errors::new();
    if let (Some((nl, l)), Some(orig)) = (target, &undo.link)
        && let Err(e) = link::restore(nl, l.index, orig).finish("restore")
    {
        errors.push(e);
    }
    let store = Store::new(&conf.data_dir);
    match undo.backup {
        Some(Some(prev)) => {
            errors.record(store.write(&args.conf.name, &args.container_id, &args.ifname, &prev))
        }
        Some(None) => {
            errors.record(store.remove(&args.conf.name, &args.container_id, &args.ifname))
        }
        None => None,
    };
    if !undo.sysctls.is_empty() {
        let put_back = netns.run(|| {
            let mut errors = libcni::Errors::new();
            for (path, old) in undo.sysctls.iter().rev() {
                if let Some(old) = old {
                    errors.record(sysctl::write(path, old));
                }
            }
            errors.finish("restore sysctls")
        });
        match put_back {
            Ok(r) => errors.record(r),
            Err(e) => errors.record(Err::<(), _>(e)),
        };
    }
    errors.finish("undo")
}
