//! What the interface plugins' tests (bridge, ptp) ask of a fake node:
//! the state attachments leave (veths, nat rules, nftables rules, global
//! addresses, store entries) in a form two runs can compare, an "outside"
//! namespace to masquerade towards, TCP reachability with a bounded retry,
//! and a bounded wait for IPv6 DAD.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Netns, Probe, Sandbox, nft_items, tcp_probe};

/// Shallow merge of two configs: keys of `extra` replace those of `base`;
/// a `null` value removes the key.
pub fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            if v.is_null() {
                b.remove(&k);
            } else {
                b.insert(k, v);
            }
        }
    }
    base
}

/// `conf` with `prevResult` set to `result` (for CHECK and DEL).
pub fn with_prev(conf: &Value, result: &Value) -> Value {
    merge(conf.clone(), json!({ "prevResult": result }))
}

/// iptables nat rules (`-A ...`) and user chains of both families, each
/// prefixed with the family (`4 `, `6 `).
pub fn nat_rules(ns: &Netns) -> Vec<String> {
    let mut out = vec![];
    for (fam, v6) in [("4", false), ("6", true)] {
        for l in ns.iptables_nat(v6) {
            let builtin = [":PREROUTING", ":INPUT", ":OUTPUT", ":POSTROUTING"]
                .iter()
                .any(|b| l.starts_with(b));
            if l.starts_with("-A") || (l.starts_with(':') && !builtin) {
                out.push(format!("{fam} {l}"));
            }
        }
    }
    out
}

/// nft rules as "family table chain: exprs comment" and chain names that
/// are not hooked (per-attachment chains), sorted. The masquerade table's
/// chains and the rules of its `postrouting` chain are network-wide state
/// that the reference keeps once made, so they are left out (the per-pod
/// rules in `masq_checks` are not).
pub fn nft_attachment_rules(ns: &Netns) -> Vec<String> {
    let mut out = vec![];
    for item in nft_items(ns) {
        if let Some(r) = item.get("rule") {
            if r["table"] == "cni_plugins_masquerade" && r["chain"] == "postrouting" {
                continue;
            }
            out.push(format!(
                "rule {} {} {}: {} {}",
                r["family"], r["table"], r["chain"], r["expr"], r["comment"]
            ));
        } else if let Some(c) = item.get("chain")
            && c.get("hook").is_none()
            && c["table"] != "cni_plugins_masquerade"
        {
            out.push(format!(
                "chain {} {} {}",
                c["family"], c["table"], c["name"]
            ));
        }
    }
    out.sort();
    out
}

/// Names of the veths in `ns`, sorted.
pub fn veth_names(ns: &Netns) -> Vec<String> {
    let mut out: Vec<String> = ns
        .links()
        .iter()
        .filter(|l| l["linkinfo"]["info_kind"] == "veth")
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

/// Addresses of `dev` in `ns` other than IPv6 link-local ("addr/prefix").
pub fn global_addrs(ns: &Netns, dev: &str) -> Vec<String> {
    ns.addrs(dev)
        .into_iter()
        .filter(|a| !a.starts_with("fe80:"))
        .collect()
}

/// The names in `dir`, sorted; none when it does not exist.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// An "outside" namespace routed from `sb`'s fake host: host side `vout`
/// 192.0.2.1/24 + 2001:db8:99::1/64, outside `eth0` 192.0.2.2 +
/// 2001:db8:99::2 (documentation prefixes, never routed), with no route
/// back to any pod network, so only masqueraded traffic gets an answer.
pub fn outside(sb: &Sandbox) -> Netns {
    let out = sb.extra("out");
    let host = sb.host.name();
    out.sh_ok(&format!(
        "ip link add eth0 type veth peer name vout netns {host} && \
         sysctl -qw net.ipv6.conf.eth0.accept_dad=0 && \
         ip addr add 192.0.2.2/24 dev eth0 && \
         ip addr add 2001:db8:99::2/64 dev eth0 nodad && ip link set eth0 up"
    ));
    sb.host.sh_ok(
        "sysctl -qw net.ipv6.conf.vout.accept_dad=0 && \
         ip addr add 192.0.2.1/24 dev vout && \
         ip addr add 2001:db8:99::1/64 dev vout nodad && ip link set vout up",
    );
    out
}

/// TCP probe with a bounded retry (a few short attempts; the first SYN may
/// race neighbour resolution or a port reaching forwarding state).
pub fn tcp_retry(from: &Netns, to: SocketAddr) -> io::Result<Probe> {
    let mut last = io::Error::from(io::ErrorKind::TimedOut);
    for _ in 0..3 {
        match tcp_probe(from, to, Duration::from_secs(2)) {
            Ok(p) => return Ok(p),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A TCP probe expected to fail: one short attempt.
pub fn tcp_fails(from: &Netns, to: SocketAddr) -> bool {
    tcp_probe(from, to, Duration::from_millis(700)).is_err()
}

/// Wait (at most 5 s, looking every 20 ms) until no address of `dev` in
/// `ns` is tentative: a new IPv6 address goes through duplicate address
/// detection and cannot be bound or answer neighbour solicitations
/// before. Panics if it is still tentative then.
pub fn wait_not_tentative(ns: &Netns, dev: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = ns.ip_json(&format!("addr show dev {dev}"));
        let tentative = v[0]["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["tentative"] == true);
        if !tentative {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{dev} in {} still has tentative addresses: {v}",
            ns.name()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
