//! GC (spec 1.1.0; the reference ignores it): forward GC to the delegate,
//! so bridge and host-local reclaim the masquerade chains and leases of
//! pods whose DEL never came, and remove this network's saved delegate
//! configs of attachments that are not in `cni.dev/valid-attachments`.
//!
//! The delegate gets the config ADD would build now; when `subnet.env` is
//! gone (flanneld down), the newest saved config of this network stands
//! in, since GC must work exactly when a node is being cleaned up.

use serde_json::{Map, Value};

use libcni::skel::CmdArgs;
use libcni::spec::{Attachment, Error};
use libcni::{Errors, cni_warn, invoke};

use crate::config::Conf;
use crate::scratch::{Entry, Store};
use crate::{config, delegate, subnet_env};

/// The keys that carry the valid attachments (1.1.0 and the draft name).
const VALID_KEYS: [&str; 2] = ["cni.dev/valid-attachments", "cni.dev/attachments"];

/// Run GC.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::parse(args)?;
    let store = Store::new(&conf.data_dir);
    let mut errors = Errors::new();
    // Files of other flannel networks sharing the dataDir are not ours to
    // judge: their valid lists are different. A file that is no delegate
    // config belongs to nobody; it goes with its container.
    let entries: Vec<Entry> = errors
        .record(store.list())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e.saved
                .parse()
                .is_none_or(|d| d.get("name").and_then(Value::as_str) == Some(&conf.name))
        })
        .collect();
    if let Some(mut d) = delegate_config(&conf, &entries)
        && let Some(p) = delegate::plugin_type(&d).map(str::to_string)
    {
        if !conf.cni_version.is_empty() {
            d.insert("cniVersion".into(), Value::String(conf.cni_version.clone()));
        }
        copy_valid_attachments(&args.stdin, &mut d);
        let sent = delegate::to_bytes(&d).and_then(|bytes| {
            invoke::delegate(&p, "GC", args.require_path("the delegate plugin")?, &bytes)
        });
        errors.record(sent);
    }
    match args.conf.valid_attachments()? {
        Some(valid) => {
            for e in entries.iter().filter(|e| !is_valid(e, &valid)) {
                errors.record(store.remove_file(&e.saved.path));
            }
        }
        None => {
            cni_warn!("GC without cni.dev/valid-attachments: keeping every saved delegate config");
        }
    }
    errors.finish("GC")
}

/// The config the delegate gets: built from the lease, else the newest
/// saved one of this network.
fn delegate_config(conf: &Conf, entries: &[Entry]) -> Option<Map<String, Value>> {
    if let Ok(env) = subnet_env::load(&conf.subnet_file) {
        return delegate::build(conf, &env).ok();
    }
    entries
        .iter()
        .filter_map(|e| {
            let modified = std::fs::metadata(&e.saved.path)
                .and_then(|m| m.modified())
                .ok()?;
            Some((modified, e.saved.parse()?))
        })
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, d)| d)
}

fn copy_valid_attachments(stdin: &[u8], d: &mut Map<String, Value>) {
    if let Ok(Value::Object(raw)) = serde_json::from_slice::<Value>(stdin) {
        for key in VALID_KEYS {
            if let Some(v) = raw.get(key) {
                d.insert(key.into(), v.clone());
            }
        }
    }
}

/// Our files name the attachment; the reference's name only the
/// container, so any valid attachment of that container keeps it.
fn is_valid(e: &Entry, valid: &[Attachment]) -> bool {
    valid.iter().any(|a| {
        a.container_id == e.container_id && e.ifname.as_deref().is_none_or(|i| i == a.ifname)
    })
}
