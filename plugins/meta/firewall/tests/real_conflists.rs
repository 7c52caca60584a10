//! The conflists real tools write (see the project's corpus of podman,
//! nerdctl, Nomad, BuildKit, minikube and Apptainer networks) whose plugins
//! we provide, run through our cnitool on a node that has only our
//! binaries and a FORWARD policy of DROP: ADD, traffic to the outside,
//! CHECK, DEL, and nothing of the pod left behind.
//!
//! Only the paths are changed (IPAM `dataDir`, the firewall's and
//! tuning's state go to the sandbox's temp dir). The conflists without a
//! firewall run in the conformance crate's `real_conflists.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use cni_sandbox::{
    Netns, Sandbox, TcpServer, ipam_records, nft_all_rules, plugin_dir, plugin_path,
};
use common::*;
use serde_json::{Value, json};

/// (description, conflist, CNI_ARGS) as the tools write and pass them.
fn corpus() -> Vec<(&'static str, Value, &'static str)> {
    let podman_args = "IgnoreUnknown=1;K8S_POD_NAME=web";
    vec![
        (
            "podman 87-podman-bridge.conflist",
            json!({"cniVersion": "0.4.0", "name": "podman", "plugins": [
                {"type": "bridge", "bridge": "cni-podman0", "isGateway": true, "ipMasq": true,
                 "hairpinMode": true,
                 "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                          "ranges": [[{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]]}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "firewall"},
                {"type": "tuning"}]}),
            podman_args,
        ),
        (
            "podman network create",
            json!({"args": {"podman_labels": {"k": "v"}}, "cniVersion": "0.4.0", "name": "cni-podman1", "plugins": [
                {"type": "bridge", "bridge": "cni-podman1", "isGateway": true, "ipMasq": true,
                 "hairpinMode": true,
                 "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                          "ranges": [[{"subnet": "10.89.0.0/24", "gateway": "10.89.0.1"}]]},
                 "capabilities": {"ips": true}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "firewall", "backend": ""},
                {"type": "tuning"}]}),
            podman_args,
        ),
        (
            "podman network create -o isolate=true",
            json!({"args": {"podman_options": {"isolate": "true"}}, "cniVersion": "0.4.0", "name": "isolated", "plugins": [
                {"type": "bridge", "bridge": "cni-podman2", "isGateway": true, "ipMasq": true,
                 "hairpinMode": true,
                 "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                          "ranges": [[{"subnet": "10.89.1.0/24", "gateway": "10.89.1.1"}]]},
                 "capabilities": {"ips": true}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "firewall", "backend": "", "ingressPolicy": "same-bridge"},
                {"type": "tuning"}]}),
            podman_args,
        ),
        (
            "nerdctl default network",
            json!({"cniVersion": "1.0.0", "name": "bridge",
                   "nerdctlID": "0dd6b1ac3f4b2b8d58b0da2db7b1c1c4bd3f00a8a1ed5e7ec8b2e3c8dc8f7a4e",
                   "nerdctlLabels": {"nerdctl/default-network": "true"}, "plugins": [
                {"type": "bridge", "bridge": "nerdctl0", "isGateway": true, "ipMasq": true,
                 "hairpinMode": true,
                 "ipam": {"ranges": [[{"gateway": "10.4.0.1", "subnet": "10.4.0.0/24"}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "type": "host-local"}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "firewall", "ingressPolicy": "same-bridge"},
                {"type": "tuning"}]}),
            "IgnoreUnknown=1;NERDCTL_CNI_DHCP_HOSTNAME=web",
        ),
        (
            "nerdctl network create -o icc=false",
            json!({"cniVersion": "1.0.0", "name": "noicc", "nerdctlID": "x", "plugins": [
                {"type": "bridge", "bridge": "br-5cd0a3f5d0b7", "isGateway": true, "ipMasq": true,
                 "hairpinMode": true,
                 "ipam": {"ranges": [[{"gateway": "10.4.1.1", "subnet": "10.4.1.0/24"}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "type": "host-local"}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "firewall", "ingressPolicy": "isolated"},
                {"type": "tuning"}]}),
            "IgnoreUnknown=1",
        ),
        (
            "Nomad bridge networking mode",
            json!({"cniVersion": "0.4.0", "name": "nomad", "plugins": [
                {"type": "loopback"},
                {"type": "bridge", "bridge": "nomad", "ipMasq": true, "isGateway": true,
                 "forceAddress": true, "hairpinMode": false,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": "172.26.64.0/20"}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "/var/run/cni"}},
                {"type": "firewall", "backend": "iptables", "iptablesAdminChainName": "NOMAD-ADMIN"},
                {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}]}),
            "IgnoreUnknown=true;NOMAD_REGION=global;NOMAD_NAMESPACE=default;NOMAD_JOB_ID=web;NOMAD_GROUP_NAME=web;NOMAD_ALLOC_ID=9b3b7d8a-1f2e-4c5d-8e9f-0a1b2c3d4e5f",
        ),
        (
            "BuildKit bridge worker",
            json!({"cniVersion": "1.0.0", "name": "buildkit", "plugins": [
                {"type": "loopback"},
                {"type": "bridge", "bridge": "buildkit0", "isDefaultGateway": true, "ipMasq": true,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.10.0.0/16"}]]}},
                {"type": "firewall", "ingressPolicy": "same-bridge"}]}),
            "",
        ),
        (
            "minikube --cni=bridge",
            json!({"cniVersion": "0.4.0", "name": "bridge", "plugins": [
                {"type": "bridge", "bridge": "bridge", "addIf": "true", "isDefaultGateway": true,
                 "forceAddress": false, "ipMasq": true, "hairpinMode": true,
                 "ipam": {"type": "host-local", "subnet": "10.244.0.0/16"}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "firewall"}]}),
            "",
        ),
        (
            "Apptainer 00_bridge.conflist",
            json!({"cniVersion": "1.0.0", "name": "bridge", "plugins": [
                {"type": "bridge", "bridge": "sbr0", "isGateway": true, "ipMasq": true,
                 "ipam": {"type": "host-local", "subnet": "10.22.0.0/16",
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "firewall"},
                {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}]}),
            "",
        ),
    ]
}

/// The conflist with its paths moved into the sandbox.
fn localize(mut list: Value, ipam: &Path, state: &Path) -> Value {
    for p in list["plugins"].as_array_mut().unwrap() {
        if p["ipam"]["type"] == "host-local" {
            p["ipam"]["dataDir"] = json!(ipam);
        }
        if p["type"] == "firewall" {
            p["dataDir"] = json!(state);
        }
        // Beside the firewall's state dir, never the machine's /run.
        if p["type"] == "tuning" {
            p["dataDir"] = json!(state.with_file_name("tuning"));
        }
    }
    list
}

/// Run our cnitool in the sandbox's host.
fn cnitool(
    sb: &Sandbox,
    conf_dir: &Path,
    args: &[&str],
    cni_args: &str,
    caps: &Value,
) -> (bool, String) {
    let mut cmd = sb.host.command(plugin_path("cnitool"));
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("NETCONFPATH", conf_dir)
        .env("CNI_PATH", plugin_dir())
        .env("CNI_CACHE_DIR", sb.dir().join("cache"))
        .env("CAP_ARGS", caps.to_string());
    if !cni_args.is_empty() {
        cmd.env("CNI_ARGS", cni_args);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Everything on the node that could name a pod: rules of both tables in
/// both families and every nftables rule, as text.
fn firewall_text(sb: &Sandbox) -> String {
    let mut all = vec![];
    for v6 in [false, true] {
        all.extend(sb.host.iptables_nat(v6));
        all.extend(sb.host.iptables_filter(v6));
    }
    for r in nft_all_rules(&sb.host) {
        all.push(r.to_string());
    }
    all.join("\n")
}

fn veths(ns: &Netns) -> usize {
    ns.links()
        .iter()
        .filter(|l| l["linkinfo"]["info_kind"] == "veth")
        .count()
}

#[test]
fn real_conflists_run_on_our_binaries_alone() {
    for (what, list, cni_args) in corpus() {
        let sb = Sandbox::new();
        sb.host
            .sh_ok("iptables -P FORWARD DROP && ip6tables -P FORWARD DROP");
        let out = sb.outside();
        let uplink = TcpServer::start(&out, "192.0.2.2:0".parse().unwrap());
        let conf_dir = sb.subdir("net.d");
        let ipam = sb.subdir("ipam");
        let state = sb.subdir("firewall");
        let list = localize(list, &ipam, &state);
        let name = list["name"].as_str().unwrap().to_string();
        std::fs::write(conf_dir.join("10-test.conflist"), list.to_string()).unwrap();
        let caps =
            json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]});
        let baseline = veths(&sb.host);
        let pod = sb.pod();
        let (ok, text) = cnitool(
            &sb,
            &conf_dir,
            &["add", &name, pod.path_str()],
            cni_args,
            &caps,
        );
        assert!(ok, "{what}: ADD failed:\n{text}");
        let result: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
        let ip = result["ips"][0]["address"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        assert!(
            reaches(&pod, uplink.addr),
            "{what}: the pod cannot reach the outside"
        );
        assert!(firewall_text(&sb).contains(&ip), "{what}: no rule for {ip}");
        assert!(
            !ipam_records(&ipam.join(&name)).is_empty(),
            "{what}: no IPAM record"
        );
        assert_eq!(files_under(&state).len(), 1, "{what}: no firewall state");
        let (ok, text) = cnitool(
            &sb,
            &conf_dir,
            &["check", &name, pod.path_str()],
            cni_args,
            &caps,
        );
        assert!(ok, "{what}: CHECK failed:\n{text}");
        let (ok, text) = cnitool(
            &sb,
            &conf_dir,
            &["del", &name, pod.path_str()],
            cni_args,
            &caps,
        );
        assert!(ok, "{what}: DEL failed:\n{text}");
        // Nothing of the pod is left: no rule naming its address, no veth,
        // no IPAM record, no firewall state, no cached result.
        let left = firewall_text(&sb);
        assert!(
            !left.contains(&format!("{ip}/")) && !left.contains(&format!("\"{ip}\"")),
            "{what}: rules of {ip} left:\n{left}"
        );
        assert_eq!(veths(&sb.host), baseline, "{what}: veth left");
        assert!(
            ipam_records(&ipam.join(&name)).is_empty(),
            "{what}: IPAM record left"
        );
        assert!(
            files_under(&state).is_empty(),
            "{what}: firewall state left"
        );
        assert!(
            files_under(&sb.dir().join("cache"))
                .iter()
                .all(|f| !f.to_string_lossy().contains("/results/")),
            "{what}: cached result left"
        );
    }
}
