//! Helpers shared by the firewall integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use cni_sandbox::{Call, Netns, Sandbox, reference_dir, reference_plugin};
use ipnet::IpNet;
use serde_json::json;

/// The nat table of `ns` as normalised `iptables-save` lines.
pub fn nat(ns: &Netns, v6: bool) -> Vec<String> {
    ns.iptables_nat(v6)
}

/// Run the reference bridge (1.1.1) ADD with ipMasq inside the sandbox's
/// host and return the pod addresses it configured.
pub fn reference_bridge(
    sb: &Sandbox,
    pod: &Netns,
    command: &str,
    net: &str,
    cid: &str,
    dual: bool,
) -> Vec<IpNet> {
    let mut ranges = vec![json!([{"subnet": "10.99.0.0/24"}])];
    if dual {
        ranges.push(json!([{"subnet": "fd99::/64"}]));
    }
    let conf = json!({
        "cniVersion": "1.0.0",
        "name": net,
        "type": "bridge",
        "bridge": "cnibr0",
        "isGateway": true,
        "ipMasq": true,
        "ipam": {"type": "host-local", "ranges": ranges, "dataDir": sb.subdir("ipam")},
    });
    let run = Call::attach(command, cid, pod.path_str(), "eth0", &reference_dir()).run(
        &sb.host,
        &reference_plugin("bridge"),
        &conf.to_string(),
    );
    let reply = run.expect_ok();
    let mut out = vec![];
    for ip in reply["ips"].as_array().into_iter().flatten() {
        out.push(ip["address"].as_str().unwrap().parse().unwrap());
    }
    out
}

/// Parse a list of prefixes.
pub fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}
