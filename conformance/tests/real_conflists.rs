//! The conflists real tools write without a firewall plugin (containerd,
//! CRI-O, kubenet and its AKS successor, k0s's kube-router, kube-flannel,
//! and k3s's flannel chain), run through our cnitool on a node that has
//! only our binaries: ADD, traffic, CHECK where the version has it, DEL,
//! and nothing of the pod left behind. The conflists with `firewall` run in
//! the firewall plugin's tests (`real_conflists.rs` there); kind's, GCE's
//! and kOps's ptp lists in ptp's (`kind.rs`).
//!
//! Only the paths change (IPAM `dataDir`, the state of tuning, firewall and
//! flannel, and flannel's `subnetFile` go to the sandbox's temp dir). For
//! the flannel lists the test plays flanneld's part: it writes
//! `subnet.env` and adds flanneld's masquerade rule for the cluster
//! network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use cni_sandbox::{
    Netns, Sandbox, TcpServer, ipam_records, nft_all_rules, plugin_dir, plugin_path, tcp_retry,
};
use serde_json::{Value, json};

/// One conflist as a tool writes it, what the runtime passes with it, and
/// whether its pods are masqueraded (only then can they reach the
/// outside, which has no route back to pod networks).
struct Source {
    what: &'static str,
    list: Value,
    caps: Value,
    masquerades: bool,
    /// What the rest of the node has made before the pod starts (a shell
    /// script in the fake host), e.g. kube-proxy's chains.
    node: &'static str,
    /// The `subnet.env` flanneld would have written (flannel lists only).
    subnet_env: &'static str,
}

/// flanneld's `--ip-masq` in short: it, not the bridge, masquerades pod
/// traffic leaving the cluster network.
const FLANNELD_MASQ_10_244: &str =
    "iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE";

fn corpus() -> Vec<Source> {
    let ports =
        json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]});
    vec![
        Source {
            what: "containerd 10-containerd-net.conflist",
            list: json!({"cniVersion": "1.0.0", "name": "containerd-net", "plugins": [
                {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
                 "promiscMode": true,
                 "ipam": {"type": "host-local",
                          "ranges": [[{"subnet": "10.88.0.0/16"}], [{"subnet": "2001:4860:4860::/64"}]],
                          "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": true}}]}),
            caps: ports.clone(),
            masquerades: true,
            node: "",
            subnet_env: "",
        },
        Source {
            what: "CRI-O 10-crio-bridge.conflist (dual stack, a /24 IPv6 range)",
            list: json!({"cniVersion": "1.0.0", "name": "crio", "plugins": [
                {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
                 "hairpinMode": true,
                 "ipam": {"type": "host-local",
                          "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
                          "ranges": [[{"subnet": "10.85.0.0/16"}], [{"subnet": "1100:200::/24"}]]}}]}),
            caps: json!({}),
            masquerades: true,
            node: "",
            subnet_env: "",
        },
        Source {
            what: "CRI-O 99-loopback.conflist",
            list: json!({"cniVersion": "1.0.0", "name": "loopback", "plugins": [{"type": "loopback"}]}),
            caps: json!({}),
            masquerades: false,
            node: "",
            subnet_env: "",
        },
        Source {
            what: "AKS kubenet template (containerd)",
            list: json!({"cniVersion": "0.3.1", "name": "kubenet", "plugins": [
                {"type": "bridge", "bridge": "cbr0", "mtu": 1500, "addIf": "eth0", "isGateway": true,
                 "ipMasq": false, "promiscMode": true, "hairpinMode": false,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.1.0/24"}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": true},
                 "externalSetMarkChain": "KUBE-MARK-MASQ"}]}),
            caps: ports.clone(),
            masquerades: false,
            // portmap marks hairpin traffic through kube-proxy's chain.
            node: "iptables -t nat -N KUBE-MARK-MASQ && \
                   iptables -t nat -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
            subnet_env: "",
        },
        Source {
            what: "k0s kube-router 10-kuberouter.conflist (rendered)",
            list: json!({"cniVersion": "0.3.0", "name": "mynet", "plugins": [
                {"name": "kubernetes", "type": "bridge", "mtu": 1450, "bridge": "kube-bridge",
                 "isDefaultGateway": true, "hairpinMode": true, "ipMasq": false,
                 "ipam": {"type": "host-local", "subnet": "10.244.2.0/24"}},
                {"type": "portmap", "capabilities": {"snat": true, "portMappings": true}}]}),
            caps: ports.clone(),
            masquerades: false,
            node: "",
            subnet_env: "",
        },
        Source {
            what: "kube-flannel cni-conf.json (10-flannel.conflist)",
            list: json!({"name": "cbr0", "cniVersion": "0.3.1", "plugins": [
                {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
                {"type": "portmap", "capabilities": {"portMappings": true}}]}),
            caps: ports.clone(),
            masquerades: true,
            node: FLANNELD_MASQ_10_244,
            subnet_env: "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\n\
                         FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
        },
        Source {
            what: "k3s 10-flannel.conflist (flannel, portmap, bandwidth)",
            list: json!({"name": "cbr0", "cniVersion": "1.0.0", "plugins": [
                {"type": "flannel",
                 "delegate": {"hairpinMode": true, "forceAddress": true, "isDefaultGateway": true}},
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "bandwidth", "capabilities": {"bandwidth": true}}]}),
            caps: json!({
                "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
                "bandwidth": {"ingressRate": 10000000, "ingressBurst": 10000000,
                              "egressRate": 10000000, "egressBurst": 10000000},
            }),
            masquerades: true,
            node: "iptables -t nat -A POSTROUTING -s 10.42.0.0/16 ! -d 10.42.0.0/16 -j MASQUERADE",
            subnet_env: "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.0.1/24\n\
                         FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
        },
    ]
}

/// The conflist with its state paths moved into the sandbox. flannel's
/// delegate takes its IPAM keys from flannel's top-level `ipam`.
fn localize(mut list: Value, ipam: &Path, state: &Path, subnet_env: &Path) -> Value {
    for p in list["plugins"].as_array_mut().unwrap() {
        if p["ipam"]["type"] == "host-local" || p["type"] == "flannel" {
            p["ipam"]["dataDir"] = json!(ipam);
        }
        if p["type"] == "tuning" || p["type"] == "firewall" || p["type"] == "flannel" {
            p["dataDir"] = json!(state);
        }
        if p["type"] == "flannel" {
            p["subnetFile"] = json!(subnet_env);
        }
    }
    list
}

/// Run our cnitool in the sandbox's host, with the runtime's capability
/// arguments; (success, stdout + stderr).
fn cnitool(sb: &Sandbox, conf_dir: &Path, args: &[&str], caps: &Value) -> (bool, String) {
    let out = sb
        .host
        .command(plugin_path("cnitool"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("NETCONFPATH", conf_dir)
        .env("CNI_PATH", plugin_dir())
        .env("CNI_CACHE_DIR", sb.dir().join("cache"))
        .env("CAP_ARGS", caps.to_string())
        .env(
            "CNI_ARGS",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web",
        )
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Everything on the node that could name a pod: nat and filter rules of
/// both families, every nftables rule, and the links (veths, ifbs).
fn node_text(sb: &Sandbox) -> String {
    let mut all = vec![];
    for v6 in [false, true] {
        all.extend(sb.host.iptables_nat(v6));
        all.extend(sb.host.iptables_filter(v6));
    }
    all.extend(nft_all_rules(&sb.host).iter().map(Value::to_string));
    all.join("\n")
}

/// Host links of the kinds a pod brings: veths and bandwidth's ifbs.
fn pod_links(ns: &Netns) -> Vec<String> {
    ns.links()
        .iter()
        .filter(|l| matches!(l["linkinfo"]["info_kind"].as_str(), Some("veth" | "ifb")))
        .map(|l| l["ifname"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn real_conflists_without_firewall_run_on_our_binaries_alone() {
    for s in corpus() {
        let what = s.what;
        let sb = Sandbox::new();
        if !s.node.is_empty() {
            sb.host.sh_ok(s.node);
        }
        let out = sb.outside();
        let uplink = TcpServer::start(&out, "192.0.2.2:0".parse().unwrap());
        let conf_dir = sb.subdir("net.d");
        let ipam = sb.subdir("ipam");
        let state = sb.subdir("state");
        let env_file = sb.dir().join("subnet.env");
        std::fs::write(&env_file, s.subnet_env).unwrap();
        let list = localize(s.list, &ipam, &state, &env_file);
        let name = list["name"].as_str().unwrap().to_string();
        let version = list["cniVersion"].as_str().unwrap().to_string();
        std::fs::write(conf_dir.join("10-test.conflist"), list.to_string()).unwrap();
        let before = pod_links(&sb.host);
        let pod = sb.pod();

        let (ok, text) = cnitool(&sb, &conf_dir, &["add", &name, pod.path_str()], &s.caps);
        assert!(ok, "{what}: ADD failed:\n{text}");
        let result: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
        let ips: Vec<String> = result["ips"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|ip| ip["address"].as_str())
            .map(|a| a.split('/').next().unwrap_or_default().to_string())
            .collect();
        let has_bridge = matches!(
            list["plugins"][0]["type"].as_str(),
            Some("bridge" | "flannel")
        );
        if has_bridge {
            assert!(!ips.is_empty(), "{what}: no address in {result}");
            assert!(
                !ipam_records(&ipam.join(&name)).is_empty(),
                "{what}: no IPAM record"
            );
        } else {
            assert_eq!(result["interfaces"][0]["name"], "lo", "{what}: {result}");
            assert!(pod.sh("ip -o link show lo").1.contains("UP"), "{what}");
        }
        if s.masquerades {
            assert!(
                tcp_retry(&pod, uplink.addr).is_ok(),
                "{what}: the pod cannot reach the outside"
            );
        }
        if list["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["type"] == "bandwidth")
        {
            assert!(
                pod_links(&sb.host).iter().any(|l| l.starts_with("bwp")),
                "{what}: bandwidth made no ifb"
            );
        }
        // CHECK exists from spec 0.4.0 on.
        if !version.starts_with("0.1") && !version.starts_with("0.2") && !version.starts_with("0.3")
        {
            let (ok, text) = cnitool(&sb, &conf_dir, &["check", &name, pod.path_str()], &s.caps);
            assert!(ok, "{what}: CHECK failed:\n{text}");
        }

        let (ok, text) = cnitool(&sb, &conf_dir, &["del", &name, pod.path_str()], &s.caps);
        assert!(ok, "{what}: DEL failed:\n{text}");
        assert_eq!(pod_links(&sb.host), before, "{what}: a veth or ifb is left");
        let rules = node_text(&sb);
        for ip in &ips {
            assert!(
                !rules.contains(ip.as_str()),
                "{what}: a rule names {ip}:\n{rules}"
            );
        }
        assert!(
            ipam_records(&ipam.join(&name)).is_empty(),
            "{what}: an IPAM record is left"
        );
        let cached = std::fs::read_dir(sb.dir().join("cache").join("results"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(cached, 0, "{what}: a cached result is left");
        let saved = std::fs::read_dir(&state).unwrap().count();
        assert_eq!(
            saved,
            0,
            "{what}: plugin state is left in {}",
            state.display()
        );
    }
}
