//! CHECK: run the delegate's CHECK with the saved config and the runtime's
//! `prevResult`. The reference returns success without looking, so a pod
//! whose veth or address vanished passed CHECK; here the delegate (bridge
//! and its IPAM) verifies the attachment as it would without flannel.

use serde_json::Value;

use libcni::invoke;
use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::scratch::Store;
use crate::{config, delegate};

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::parse(args)?;
    let store = Store::new(&conf.data_dir);
    let saved = store
        .load(&args.container_id, &args.ifname)?
        .ok_or_else(|| {
            Error::unknown_container(format!(
                "no delegate config saved for container {} interface {} in {}: \
                 this attachment was not added through flannel on this node",
                args.container_id,
                args.ifname,
                conf.data_dir.display()
            ))
        })?;
    let mut d = saved.parse().ok_or_else(|| {
        Error::decoding(format!(
            "{} is not a delegate config (no JSON object): DEL and ADD the pod again",
            saved.path.display()
        ))
    })?;
    let plugin = delegate::plugin_type(&d)
        .ok_or_else(|| {
            Error::decoding(format!(
                "{} names no delegate \"type\"",
                saved.path.display()
            ))
        })?
        .to_string();
    // The runtime's prevResult is in the conf's version; the delegate must
    // read it in that version.
    if !conf.cni_version.is_empty() {
        d.insert("cniVersion".into(), Value::String(conf.cni_version.clone()));
    }
    if let Some(rc) = &conf.runtime_config {
        d.insert("runtimeConfig".into(), Value::Object(rc.clone()));
    }
    if let Some(prev) = prev_result(&args.stdin) {
        d.insert("prevResult".into(), prev);
    }
    let bytes = delegate::to_bytes(&d)?;
    invoke::delegate(
        &plugin,
        "CHECK",
        args.require_path("the delegate plugin")?,
        &bytes,
    )?;
    Ok(())
}

/// The raw `prevResult` of the call, passed on as it came.
fn prev_result(stdin: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(stdin).ok()?;
    v.get("prevResult").filter(|p| !p.is_null()).cloned()
}
