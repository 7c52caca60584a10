//! The delegate config: what the plugin hands to `bridge` (or the
//! `delegate.type` the user chose), built exactly as the reference's
//! `doCmdAdd` and `getDelegateIPAM` build it, so the bridge, its IPAM
//! state and its masquerade rules are the same whichever flannel made them.
//!
//! Starting from the conf's `delegate` object:
//! - `name` is the network's, `type` defaults to `bridge`;
//! - `ipMasq` defaults to NOT `FLANNEL_IPMASQ` (flanneld masquerades, so
//!   the bridge must not do it twice);
//! - `mtu` defaults to `FLANNEL_MTU` (a key that is present, even `null`,
//!   is kept);
//! - for `bridge` only, `isGateway` defaults to true: the bridge holds the
//!   subnet's gateway address that pods route through;
//! - `cniVersion` is the conf's when set, `runtimeConfig` the conf's when
//!   present;
//! - `ipam` starts from the conf's `ipam`: `type` defaults to
//!   `host-local`, `ranges` is always replaced by the node's subnets (v4
//!   set, then v6 set, each only when present), and `routes` is the user's
//!   routes followed by one route per cluster network (v4, then v6).
//!
//! The bytes are compact JSON with sorted keys, as Go's `json.Marshal` of a
//! map writes them.

use serde_json::{Map, Value, json};

use libcni::Error;
use libcni::spec::Route;

use crate::config::Conf;
use crate::subnet_env::SubnetEnv;

/// Build the delegate config of `conf` on a node whose lease is `env`.
pub fn build(conf: &Conf, env: &SubnetEnv) -> Result<Map<String, Value>, Error> {
    let mut d = conf.delegate.clone();
    d.insert("name".into(), json!(conf.name));
    d.entry("type").or_insert_with(|| json!("bridge"));
    d.entry("ipMasq").or_insert_with(|| json!(!env.ipmasq));
    d.entry("mtu").or_insert_with(|| json!(env.mtu));
    if d.get("type").and_then(Value::as_str) == Some("bridge") {
        d.entry("isGateway").or_insert_with(|| json!(true));
    }
    if !conf.cni_version.is_empty() {
        d.insert("cniVersion".into(), json!(conf.cni_version));
    }
    if let Some(rc) = &conf.runtime_config {
        d.insert("runtimeConfig".into(), Value::Object(rc.clone()));
    }
    d.insert("ipam".into(), Value::Object(ipam(conf, env)?));
    Ok(d)
}

fn ipam(conf: &Conf, env: &SubnetEnv) -> Result<Map<String, Value>, Error> {
    let mut ipam = conf.ipam.clone().unwrap_or_default();
    ipam.entry("type").or_insert_with(|| json!("host-local"));
    let ranges: Vec<Value> = [env.subnet, env.ipv6_subnet]
        .into_iter()
        .flatten()
        .map(|sn| json!([{ "subnet": sn.to_string() }]))
        .collect();
    ipam.insert("ranges".into(), Value::Array(ranges));
    let mut routes: Vec<Route> = match ipam.get("routes") {
        None | Some(Value::Null) => vec![],
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            Error::invalid_config(format!(
                "\"ipam.routes\" must be a list of routes ({{\"dst\": \"<cidr>\", \"gw\": \"<ip>\"}}): {e}"
            ))
        })?,
    };
    routes.extend(
        env.networks
            .iter()
            .chain(&env.ipv6_networks)
            .map(|&dst| Route::new(dst, None)),
    );
    let routes = serde_json::to_value(routes)
        .map_err(|e| Error::internal(format!("encoding the delegate's routes: {e}")))?;
    ipam.insert("routes".into(), routes);
    Ok(ipam)
}

/// The bytes saved and sent to the delegate.
pub fn to_bytes(d: &Map<String, Value>) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(d).map_err(|e| Error::internal(format!("encoding the delegate config: {e}")))
}

/// The plugin a delegate config names (`type`), if it names one.
pub fn plugin_type(d: &Map<String, Value>) -> Option<&str> {
    d.get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

/// The plugin a delegate config built by [`build`] names: code 7 when the
/// conf's `delegate.type` is an empty string.
pub fn required_type(d: &Map<String, Value>) -> Result<&str, Error> {
    plugin_type(d).ok_or_else(|| {
        Error::invalid_config("\"delegate.type\" is empty: name a plugin, or remove it for bridge")
    })
}

#[cfg(test)]
mod tests;
