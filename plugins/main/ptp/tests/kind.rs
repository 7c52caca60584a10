//! A kind-style node: the conf list kindnetd writes (ptp + host-local +
//! portmap, spec 0.3.1, dual stack, the node's MTU), and the templates of
//! containerd's GCE config and kOps (spec 1.0.0, so CHECK runs too),
//! driven through our `cnitool` with only our binaries in CNI_PATH, a
//! private result cache and a temp IPAM store (kindnetd's
//! `/run/cni-ipam-state` becomes a sandbox directory). Pods reach each
//! other on both families, a host port is reached from an outside
//! namespace, and after the DELs the node holds what it held before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;

use cni_sandbox::{
    Netns, Sandbox, TcpServer, dir_names, ipam_records, nat_rules, plugin_path, result_ip,
    tcp_retry, veth_names, wait_not_tentative,
};
use serde_json::{Value, json};

/// A node whose CNI_PATH holds only our ptp, host-local and portmap, a
/// conf dir with one list, a result cache and an IPAM store.
struct KindNode {
    sb: Sandbox,
    conf_dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    store: std::path::PathBuf,
}

impl KindNode {
    fn new(list: impl FnOnce(&Path) -> Value) -> KindNode {
        let sb = Sandbox::new();
        let bin = sb.subdir("bin");
        for p in ["ptp", "host-local", "portmap"] {
            std::os::unix::fs::symlink(plugin_path(p), bin.join(p)).unwrap();
        }
        let store = sb.subdir("cni-ipam-state");
        let conf_dir = sb.subdir("net.d");
        let conf = list(&store);
        std::fs::write(
            conf_dir.join("10-kindnet.conflist"),
            serde_json::to_vec_pretty(&conf).unwrap(),
        )
        .unwrap();
        KindNode {
            sb,
            conf_dir,
            bin,
            store,
        }
    }

    /// Run our cnitool in the fake host with exactly the runtime's
    /// environment; `caps` is CAP_ARGS.
    fn cnitool(&self, args: &[&str], caps: Option<&Value>) -> (bool, String, String) {
        let mut cmd = self.sb.host.command(plugin_path("cnitool"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NETCONFPATH", &self.conf_dir)
            .env("CNI_PATH", &self.bin)
            .env("CNI_CACHE_DIR", self.sb.dir().join("cache"));
        if let Some(c) = caps {
            cmd.env("CAP_ARGS", c.to_string());
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str], caps: Option<&Value>) -> String {
        let (ok, out, err) = self.cnitool(args, caps);
        assert!(ok, "cnitool {args:?} failed:\n{out}\n{err}");
        out
    }

    fn add(&self, net: &str, pod: &Netns, caps: Option<&Value>) -> Value {
        let out = self.ok(&["add", net, pod.path_str()], caps);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// What attachments leave: veths, host routes, nat rules, leases,
    /// cached results.
    fn state(&self, net: &str) -> Vec<String> {
        let host = &self.sb.host;
        let mut v = veth_names(host);
        v.extend(
            [4, 6]
                .into_iter()
                .flat_map(|f| host.routes(f))
                .map(|r| r.to_string()),
        );
        v.extend(nat_rules(host));
        v.extend(ipam_records(&self.store.join(net)).into_keys());
        v.extend(dir_names(&self.sb.dir().join("cache").join("results")));
        v
    }
}

/// kindnetd's template (real-conflists.md §6b), dual stack, as written to
/// /etc/cni/net.d/10-kindnet.conflist.
fn kindnet(store: &Path) -> Value {
    json!({
        "cniVersion": "0.3.1",
        "name": "kindnet",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "dataDir": store,
                    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
                    "ranges": [[{"subnet": "10.244.0.0/24"}], [{"subnet": "fd00:10:244::/64"}]]
                },
                "mtu": 1500
            },
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    })
}

fn port(host: u16, container: u16) -> Value {
    json!({"portMappings": [{"hostPort": host, "containerPort": container, "protocol": "tcp"}]})
}

#[test]
fn kindnet_pods_talk_and_take_host_ports_then_leave_nothing() {
    let node = KindNode::new(kindnet);
    let out = node.sb.outside();
    // A neighbour keeps the network-wide state (portmap's shared chains)
    // that stays after the last pod, as with the reference.
    let neighbour = node.sb.pod();
    node.add("kindnet", &neighbour, Some(&port(18081, 81)));
    let base = node.state("kindnet");

    let (a, b) = (node.sb.pod(), node.sb.pod());
    let ra = node.add("kindnet", &a, Some(&port(18080, 80)));
    let rb = node.add("kindnet", &b, None);
    assert_eq!(ra["cniVersion"], "0.3.1");
    assert_eq!(a.link("eth0").unwrap()["mtu"], 1500);
    for r in [&ra, &rb] {
        let veth = r["interfaces"][0]["name"].as_str().unwrap();
        wait_not_tentative(&node.sb.host, veth);
    }
    for v4 in [true, false] {
        let (ipa, ipb) = (result_ip(&ra, v4), result_ip(&rb, v4));
        let server = TcpServer::start(&b, SocketAddr::new(ipb, 0));
        assert_eq!(tcp_retry(&a, server.addr).unwrap().seen_peer.ip(), ipa);
    }
    // The host port, from outside the node, to pod a's port 80.
    let server = TcpServer::start(&a, "0.0.0.0:80".parse().unwrap());
    let seen = tcp_retry(&out, "192.0.2.1:18080".parse().unwrap()).unwrap();
    assert_eq!(seen.seen_peer.ip().to_string(), "192.0.2.2");
    drop(server);

    // Spec 0.3.1 has no CHECK: cnitool says so and calls no plugin.
    let (ok, _, err) = node.cnitool(&["check", "kindnet", a.path_str()], None);
    assert!(!ok && err.contains("0.3.1"), "{err}");

    node.ok(&["del", "kindnet", a.path_str()], Some(&port(18080, 80)));
    node.ok(&["del", "kindnet", b.path_str()], None);
    assert_eq!(node.state("kindnet"), base);
    assert_eq!(a.link_names(), ["lo"]);
    // containerd's second DEL, and a DEL of a pod whose netns is gone.
    node.ok(&["del", "kindnet", a.path_str()], None);
    b.remove();
    node.ok(&["del", "kindnet", b.path_str()], None);
    assert_eq!(node.state("kindnet"), base);
}

/// containerd's GCE template (ptp `mtu` 1460, routes from the kubelet) and
/// kOps's (spec 1.0.0): ADD, CHECK, DEL through cnitool.
#[test]
fn gce_and_kops_templates_add_check_del() {
    let gce = |store: &Path| {
        json!({ "name": "k8s-pod-network", "cniVersion": "1.0.0",
          "plugins": [
            { "type": "ptp", "mtu": 1460,
              "ipam": { "type": "host-local", "dataDir": store,
                        "ranges": [[{"subnet": "10.64.1.0/24"}]],
                        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.96.0.0/12"}] } },
            { "type": "portmap", "capabilities": { "portMappings": true } } ] })
    };
    let kops = |store: &Path| {
        json!({ "cniVersion": "1.0.0", "name": "k8s-pod-network",
          "plugins": [
            { "type": "ptp", "ipam": { "type": "host-local", "dataDir": store,
                                       "ranges": [[{"subnet": "100.96.1.0/24"}]],
                                       "routes": [{"dst":"0.0.0.0/0"}] } },
            { "type": "portmap", "capabilities": {"portMappings": true} } ] })
    };
    for (list, mtu) in [(gce as fn(&Path) -> Value, 1460), (kops, 1500)] {
        let node = KindNode::new(list);
        let neighbour = node.sb.pod();
        node.add("k8s-pod-network", &neighbour, Some(&port(18081, 81)));
        let base = node.state("k8s-pod-network");
        let pod = node.sb.pod();
        let r = node.add("k8s-pod-network", &pod, Some(&port(18080, 80)));
        assert_eq!(r["cniVersion"], "1.0.0");
        assert_eq!(pod.link("eth0").unwrap()["mtu"], mtu);
        // The kubelet's service route goes via the gateway too (the
        // reference 1.1.1 fails CHECK on it, plugins#886).
        node.ok(
            &["check", "k8s-pod-network", pod.path_str()],
            Some(&port(18080, 80)),
        );
        node.ok(
            &["del", "k8s-pod-network", pod.path_str()],
            Some(&port(18080, 80)),
        );
        assert_eq!(node.state("k8s-pod-network"), base);
    }
}
