//! Shared helpers for the hostnet integration tests: a netlink handle on a
//! sandbox namespace, and `ip -j` lookups.
#![allow(dead_code)]

use cni_sandbox::Netns;
use hostnet::{NetNs, Netlink};
use serde_json::Value;

/// Open `ns` as a hostnet namespace handle.
pub fn netns(ns: &Netns) -> NetNs {
    NetNs::open(ns.path()).unwrap()
}

/// A netlink handle bound to `ns`.
pub fn nl(ns: &Netns) -> Netlink {
    Netlink::in_netns(&netns(ns)).unwrap()
}

/// `ip -j -d link show <name>` (the single object).
pub fn link(ns: &Netns, name: &str) -> Value {
    ns.link(name)
        .unwrap_or_else(|| panic!("link {name} not found in {}", ns.name()))
}

/// The `flags` array of a link as strings.
pub fn flags(l: &Value) -> Vec<String> {
    l["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// `ip -j addr show dev <name>`'s addr_info entries.
pub fn addr_info(ns: &Netns, name: &str) -> Vec<Value> {
    let v = ns.ip_json(&format!("addr show dev {name}"));
    v[0]["addr_info"].as_array().cloned().unwrap_or_default()
}
