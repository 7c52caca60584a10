//! Our cnitool and upstream cnitool (1.1.2, built by
//! scripts/build-upstream-cnitool.sh) on the same conf list, with the real
//! reference plugins and with ours: the same observable results, and each
//! takes over the other's attachments through the shared result cache (a
//! node can switch tools with containers running).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use cni_sandbox::{Netns, Sandbox, ipam_records};
use cnitool::settings::container_id_for;
use common::{Tool, ToolEnv, cache_files, run_tool, write_conf};
use libcni::runtime::{CniConfig, RuntimeConf, load_conf_list};
use serde_json::{Value, json};

const NET: &str = "upnet";

struct Node {
    sb: Sandbox,
    pod: Netns,
    env: ToolEnv,
    store: PathBuf,
}

/// A fake host with bridge + host-local + portmap from the reference
/// (spec 1.0.0: the newest both upstream 1.1.2 and the plugins speak).
fn node() -> Node {
    node_with(cni_sandbox::reference_dir())
}

/// The same with the plugins of `dir`.
fn node_with(dir: PathBuf) -> Node {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let store = sb.subdir("ipam");
    let conf = sb.subdir("net.d");
    write_conf(
        &conf,
        "10-up.conflist",
        &json!({"cniVersion": "1.0.0", "name": NET, "plugins": [
            {"type": "bridge", "bridge": "cniup0", "isGateway": true, "ipMasq": true,
             "ipam": {"type": "host-local", "dataDir": store, "ranges": [[{"subnet": "10.98.0.0/24"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]}),
    );
    let mut env = ToolEnv::new(&conf, &dir.to_string_lossy(), &sb.dir().join("cache"));
    env.cni_args = Some("IgnoreUnknown=1;K8S_POD_NAME=web".into());
    env.cap_args =
        Some(r#"{"portMappings":[{"hostPort":18090,"containerPort":80,"protocol":"tcp"}]}"#.into());
    Node {
        sb,
        pod,
        env,
        store,
    }
}

impl Node {
    fn cid(&self) -> String {
        container_id_for(self.pod.path())
    }
    fn run(&self, tool: Tool, cmd: &str) -> common::Out {
        run_tool(
            tool,
            &self.sb.host,
            &self.env,
            &[cmd, NET, self.pod.path_str()],
        )
    }
    /// The store's records only: files named by their address (our
    /// host-local also keeps an index directory), sorted by name.
    fn leases(&self) -> Vec<(String, String)> {
        ipam_records(&self.store.join(NET))
            .into_iter()
            .map(|(name, text)| (name, self.norm(&text)))
            .collect()
    }
    /// `s` with this node's container ID, netns path and chain hashes
    /// replaced by placeholders.
    fn norm(&self, s: &str) -> String {
        mask_hashes(
            &s.replace(&self.cid(), "<cid>")
                .replace(self.pod.path_str(), "<netns>"),
        )
    }
    fn nat(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sb
            .host
            .iptables_nat(false)
            .iter()
            .map(|l| self.norm(l))
            .collect();
        v.sort();
        v
    }
    fn pod_state(&self) -> (Vec<String>, Value) {
        let addrs = self
            .pod
            .addrs("eth0")
            .into_iter()
            .filter(|a| !a.contains(':'))
            .collect();
        (addrs, json!(self.pod.routes(4)))
    }
    /// An ADD result with its random parts (MACs, veth name, netns) masked.
    fn norm_result(&self, text: &str) -> String {
        let mut v: Value = serde_json::from_str(text).unwrap();
        for i in v["interfaces"].as_array_mut().unwrap() {
            i["mac"] = json!("<mac>");
            if i["name"].as_str().unwrap().starts_with("veth") {
                i["name"] = json!("<veth>");
            }
        }
        // Keep Go's layout: mask inside the original text instead of
        // re-serialising.
        let mut out = text.to_string();
        let orig: Value = serde_json::from_str(text).unwrap();
        for (o, n) in orig["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .zip(v["interfaces"].as_array().unwrap())
        {
            out = out.replace(o["mac"].as_str().unwrap(), n["mac"].as_str().unwrap());
            out = out.replace(o["name"].as_str().unwrap(), n["name"].as_str().unwrap());
        }
        self.norm(&out)
    }
}

/// Replace the hex part of `CNI-<hex>` / `CNI-DN-<hex>` chain names (a
/// hash of the container ID) with `<hash>`.
fn mask_hashes(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("CNI-") {
        let (head, tail) = rest.split_at(i + 4);
        out.push_str(head);
        let tail = tail.strip_prefix("DN-").map_or(tail, |t| {
            out.push_str("DN-");
            t
        });
        let n = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        if n >= 16 {
            out.push_str("<hash>");
            rest = &tail[n..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn same_observable_results_as_upstream() {
    let up = node();
    let ours = node();
    assert_eq!(up.nat(), ours.nat());

    let a = up.run(Tool::Upstream, "add").expect_ok("upstream add");
    let b = ours.run(Tool::Ours, "add").expect_ok("our add");
    assert_eq!(
        ours.norm_result(&b.stdout),
        up.norm_result(&a.stdout),
        "add output"
    );
    assert_eq!(ours.pod_state(), up.pod_state(), "pod addresses and routes");
    assert_eq!(ours.pod_state().0, ["10.98.0.2/24"]);
    assert_eq!(ours.nat(), up.nat(), "NAT rules");
    assert!(ours.nat().iter().any(|r| r.contains("18090")));
    assert_eq!(ours.leases(), up.leases(), "IPAM store");
    assert_eq!(ours.leases().len(), 1);

    // CHECK: the same verdict (the reference portmap fails CHECK of an
    // IPv4-only pod with mappings, plugins#819: both tools must say so).
    let ca = up.run(Tool::Upstream, "check");
    let cb = ours.run(Tool::Ours, "check");
    assert_eq!(ca.ok, cb.ok, "check: upstream {ca:?} ours {cb:?}");

    for _ in 0..2 {
        up.run(Tool::Upstream, "del").expect_ok("upstream del");
        ours.run(Tool::Ours, "del").expect_ok("our del");
        assert_eq!(ours.nat(), up.nat(), "NAT rules after del");
        // Only portmap's shared top-level chains may stay.
        let left: Vec<String> = ours
            .nat()
            .into_iter()
            .filter(|r| r.contains("<cid>") || r.contains("<hash>") || r.contains("18090"))
            .collect();
        assert!(
            left.is_empty(),
            "del left per-container NAT rules: {left:?}"
        );
        assert!(ours.leases().is_empty() && up.leases().is_empty());
        assert!(!ours.pod.link_names().contains(&"eth0".to_string()));
        assert!(cache_files(&ours.env.cache_dir).is_empty());
        assert!(cache_files(&up.env.cache_dir).is_empty());
    }
}

#[test]
fn we_read_a_real_upstream_cache_and_take_over_its_attachment() {
    let n = node();
    let printed = n
        .run(Tool::Upstream, "add")
        .expect_ok("upstream add")
        .json();
    assert_eq!(
        cache_files(&n.env.cache_dir),
        [format!("{NET}-{}-eth0", n.cid())]
    );

    // The library reads what upstream libcni wrote.
    let list = load_conf_list(&n.env.conf_dir, NET).unwrap().list;
    let cni = CniConfig::new([cni_sandbox::reference_dir()]).with_cache_dir(&n.env.cache_dir);
    let rt = RuntimeConf::new(n.cid(), n.pod.path_str(), "eth0");
    let cached = cni
        .get_network_list_cached_result(&list, &rt)
        .unwrap()
        .unwrap();
    assert_eq!(cached.to_value(list.cni_version).unwrap(), {
        let mut p = printed.clone();
        p.as_object_mut().unwrap().remove("dns");
        p
    });
    let (bytes, crt) = cni
        .get_network_list_cached_config(&list, &rt)
        .unwrap()
        .unwrap();
    assert_eq!(bytes, list.bytes);
    assert_eq!(crt.args[1], ("K8S_POD_NAME".to_string(), "web".to_string()));
    assert_eq!(crt.capability_args["portMappings"][0]["hostPort"], 18090);
    let atts = cni.get_cached_attachments("").unwrap();
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].container_id, n.cid());

    // Our cnitool deletes the upstream attachment completely.
    n.run(Tool::Ours, "del").expect_ok("our del");
    assert!(n.leases().is_empty());
    assert!(
        !n.nat()
            .iter()
            .any(|r| r.contains("<cid>") || r.contains("<hash>") || r.contains("18090")),
        "{:?}",
        n.nat()
    );
    assert!(!n.pod.link_names().contains(&"eth0".to_string()));
    assert!(cache_files(&n.env.cache_dir).is_empty());

    // And the other way round: upstream deletes what we added.
    n.run(Tool::Ours, "add").expect_ok("our add");
    assert_eq!(n.leases().len(), 1);
    n.run(Tool::Upstream, "del").expect_ok("upstream del");
    assert!(n.leases().is_empty());
    assert!(
        !n.nat()
            .iter()
            .any(|r| r.contains("<cid>") || r.contains("<hash>") || r.contains("18090")),
        "{:?}",
        n.nat()
    );
    assert!(!n.pod.link_names().contains(&"eth0".to_string()));
    assert!(
        cache_files(&n.env.cache_dir).is_empty(),
        "upstream did not remove our cache file"
    );
}

/// What a script sees after ADD: the printed result, the pod's addresses
/// and routes, the NAT rules and the IPAM records (all normalised).
type Observed = (
    String,
    (Vec<String>, Value),
    Vec<String>,
    Vec<(String, String)>,
);

/// A script written for upstream cnitool gives the same observable result
/// whichever tool runs it and whichever plugins it drives: result, pod
/// addresses and routes, NAT rules and IPAM store after ADD, and nothing
/// per-container left after DEL (twice). CHECK passes with our plugins
/// under both tools (the reference portmap fails it, plugins#819).
#[test]
fn upstream_and_our_cnitool_on_our_plugins_and_the_reference() {
    let ours_dir = cni_sandbox::plugin_dir();
    let runs = [
        (Tool::Upstream, cni_sandbox::reference_dir()),
        (Tool::Ours, cni_sandbox::reference_dir()),
        (Tool::Upstream, ours_dir.clone()),
        (Tool::Ours, ours_dir.clone()),
    ];
    let mut seen: Option<Observed> = None;
    for (tool, dir) in runs {
        let what = format!("{tool:?} cnitool with plugins from {}", dir.display());
        let n = node_with(dir.clone());
        let out = n.run(tool, "add").expect_ok(&what);
        let result = n.norm_result(&out.stdout);
        let got = (result, n.pod_state(), n.nat(), n.leases());
        match &seen {
            None => seen = Some(got),
            Some(first) => {
                // cnitool prints Go's indentation either way; compare values.
                let a: Value = serde_json::from_str(&first.0).unwrap();
                let b: Value = serde_json::from_str(&got.0).unwrap();
                let strip = |mut v: Value| {
                    v.as_object_mut().unwrap().remove("dns");
                    v
                };
                assert_eq!(strip(b), strip(a), "{what}: add result");
                assert_eq!(got.1, first.1, "{what}: pod addresses and routes");
                assert_eq!(got.2, first.2, "{what}: NAT rules");
                assert_eq!(got.3, first.3, "{what}: IPAM records");
            }
        }
        if dir == ours_dir {
            n.run(tool, "check").expect_ok(&format!("{what}: check"));
        }
        for _ in 0..2 {
            n.run(tool, "del").expect_ok(&format!("{what}: del"));
            let left: Vec<String> = n
                .nat()
                .into_iter()
                .filter(|r| r.contains("<cid>") || r.contains("<hash>") || r.contains("18090"))
                .collect();
            assert!(left.is_empty(), "{what}: del left {left:?}");
            assert!(n.leases().is_empty(), "{what}: leases left");
            assert!(!n.pod.link_names().contains(&"eth0".to_string()));
            assert!(cache_files(&n.env.cache_dir).is_empty());
        }
    }
}

#[test]
fn chain_hash_masking() {
    assert_eq!(
        mask_hashes(
            "-A CNI-HOSTPORT-DNAT -j CNI-DN-82e6dbbb690c9afe06eb9 x CNI-8f9347026fceaefd4d1c56cd"
        ),
        "-A CNI-HOSTPORT-DNAT -j CNI-DN-<hash> x CNI-<hash>"
    );
}
