//! Our cnitool driving real plugins (bridge + host-local + portmap) inside
//! a throwaway fake host, checking kernel state: addresses in the pod, the
//! bridge, NAT rules, IPAM store files, real traffic through a host port.
//!
//! Every test runs twice: against our plugins (the build of this
//! workspace, or `$CNITOOL_TEST_PLUGIN_DIR`; `cargo build --workspace
//! --bins` first) and against the reference plugins in /usr/lib/cni.
//!
//! The reference plugins (Debian 1.1.1) speak spec 1.0.0 at most and have
//! no GC or STATUS verb, so against them the list is 1.0.0: `gc` then
//! exercises the DEL-of-stale-attachments half of GC, and `status` is a
//! successful no-op. Against any other directory the list is 1.1.0, so GC
//! (with `cni.dev/valid-attachments`) and STATUS reach the plugins too;
//! `$CNITOOL_TEST_CNI_VERSION` overrides the choice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cni_sandbox::{Netns, Sandbox, TcpServer, tcp_probe};
use cnitool::settings::container_id_for;
use common::{Tool, ToolEnv, cache_files, failing, run_tool, write_conf};
use serde_json::json;

/// Our plugins: see the module documentation.
fn ours() -> PathBuf {
    match std::env::var_os("CNITOOL_TEST_PLUGIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => cni_sandbox::plugin_dir(),
    }
}

/// The spec version of the test list: see the module documentation.
fn list_version(dir: &Path) -> String {
    std::env::var("CNITOOL_TEST_CNI_VERSION").unwrap_or_else(|_| {
        if dir == cni_sandbox::reference_dir() {
            "1.0.0".into()
        } else {
            "1.1.0".into()
        }
    })
}

struct Net {
    sb: Sandbox,
    env: ToolEnv,
    store: PathBuf,
    /// The plugin directory under test.
    dir: PathBuf,
}

const NET: &str = "e2enet";

fn setup(dir: PathBuf, extra_plugins: &[serde_json::Value], bin_extra: Option<&Path>) -> Net {
    let sb = Sandbox::new();
    for p in ["bridge", "host-local", "portmap"] {
        assert!(
            dir.join(p).is_file(),
            "plugin {p} missing in {}",
            dir.display()
        );
    }
    let store = sb.subdir("ipam");
    let mut plugins = vec![
        json!({
            "type": "bridge", "bridge": "cnie2e0", "isGateway": true, "ipMasq": true,
            "ipam": {"type": "host-local", "dataDir": store, "ranges": [[{"subnet": "10.99.0.0/24"}]],
                     "routes": [{"dst": "0.0.0.0/0"}]}
        }),
        json!({"type": "portmap", "capabilities": {"portMappings": true}}),
    ];
    plugins.extend(extra_plugins.iter().cloned());
    let conf = sb.subdir("net.d");
    write_conf(
        &conf,
        "10-e2e.conflist",
        &json!({"cniVersion": list_version(&dir), "name": NET, "plugins": plugins}),
    );
    let mut path = dir.to_string_lossy().into_owned();
    if let Some(extra) = bin_extra {
        path = format!("{}:{path}", extra.display());
    }
    let mut env = ToolEnv::new(&conf, &path, &sb.dir().join("cache"));
    env.cni_args = Some("IgnoreUnknown=1;K8S_POD_NAME=web".into());
    env.cap_args =
        Some(r#"{"portMappings":[{"hostPort":18080,"containerPort":80,"protocol":"tcp"}]}"#.into());
    Net {
        sb,
        env,
        store,
        dir,
    }
}

fn cid(pod: &Netns) -> String {
    container_id_for(pod.path())
}

fn lease(n: &Net, ip: &str) -> Option<String> {
    std::fs::read_to_string(n.store.join(NET).join(ip)).ok()
}

/// NAT rules mentioning `needle` in the fake host.
fn nat_rules(n: &Net, needle: &str) -> Vec<String> {
    n.sb.host
        .iptables_nat(false)
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect()
}

/// The IPv4 addresses of `ifname` in `ns` (the kernel adds an IPv6
/// link-local one by itself).
fn v4(ns: &Netns, ifname: &str) -> Vec<String> {
    ns.addrs(ifname)
        .into_iter()
        .filter(|a| !a.contains(':'))
        .collect()
}

/// CHECK the pod. The reference portmap (1.1.1) fails CHECK of every
/// IPv4-only pod that has port mappings (plugins#819: it looks for an IPv6
/// DNAT chain); that one known failure is accepted from the reference only,
/// after bridge and host-local have passed CHECK (portmap is last).
fn check(n: &Net, pod: &Netns) {
    let out = run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["check", NET, pod.path_str()],
    );
    let reference_bug = n.dir == cni_sandbox::reference_dir()
        && out
            .stderr
            .contains("type=\"portmap\" failed (check): could not check ipv6 dnat");
    if !reference_bug {
        out.expect_ok("check");
    }
}

fn add(n: &Net, pod: &Netns) -> serde_json::Value {
    run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["add", NET, pod.path_str()],
    )
    .expect_ok("add")
    .json()
}

#[test]
fn add_check_del_gc_status_with_kernel_state_ours() {
    add_check_del_gc_status_with_kernel_state(ours());
}

#[test]
fn add_check_del_gc_status_with_kernel_state_reference() {
    add_check_del_gc_status_with_kernel_state(cni_sandbox::reference_dir());
}

fn add_check_del_gc_status_with_kernel_state(dir: PathBuf) {
    let n = setup(dir, &[], None);
    let pod = n.sb.pod();
    let id = cid(&pod);

    let result = add(&n, &pod);
    assert_eq!(result["cniVersion"], list_version(&n.dir).as_str());
    assert_eq!(result["ips"][0]["address"], "10.99.0.2/24");
    assert_eq!(v4(&pod, "eth0"), ["10.99.0.2/24"]);
    assert!(
        n.sb.host
            .addrs("cnie2e0")
            .contains(&"10.99.0.1/24".to_string())
    );
    assert!(lease(&n, "10.99.0.2").unwrap().contains(&id));
    assert!(!nat_rules(&n, &id).is_empty(), "no NAT rules for {id}");
    assert!(
        nat_rules(&n, "18080")
            .iter()
            .any(|r| r.contains("10.99.0.2:80")),
        "{:?}",
        nat_rules(&n, "18080")
    );
    assert_eq!(cache_files(&n.env.cache_dir), [format!("{NET}-{id}-eth0")]);

    // Real traffic through the host port (locally generated: OUTPUT DNAT).
    let server = TcpServer::start(&pod, "0.0.0.0:80".parse().unwrap());
    tcp_probe(
        &n.sb.host,
        "10.99.0.1:18080".parse().unwrap(),
        Duration::from_secs(3),
    )
    .expect("host port 18080 reaches the pod");
    drop(server);

    check(&n, &pod);
    run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["status", NET, pod.path_str()],
    )
    .expect_ok("status");

    // A second pod that the runtime then forgets: GC removes it.
    let stale = n.sb.pod();
    let stale_id = cid(&stale);
    let mut env2 = n.env.clone();
    env2.cap_args =
        Some(r#"{"portMappings":[{"hostPort":18081,"containerPort":80,"protocol":"tcp"}]}"#.into());
    run_tool(
        Tool::Ours,
        &n.sb.host,
        &env2,
        &["add", NET, stale.path_str()],
    )
    .expect_ok("add stale");
    assert_eq!(v4(&stale, "eth0"), ["10.99.0.3/24"]);
    assert!(!nat_rules(&n, &stale_id).is_empty());
    let valid = format!("{id}:eth0");
    run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["gc", NET, pod.path_str(), "--valid", &valid],
    )
    .expect_ok("gc");
    assert!(
        !stale.link_names().contains(&"eth0".to_string()),
        "stale veth left: {:?}",
        stale.link_names()
    );
    assert!(lease(&n, "10.99.0.3").is_none(), "stale lease left");
    assert!(
        nat_rules(&n, &stale_id).is_empty(),
        "stale rules left: {:?}",
        nat_rules(&n, &stale_id)
    );
    assert!(nat_rules(&n, "18081").is_empty());
    assert_eq!(cache_files(&n.env.cache_dir), [format!("{NET}-{id}-eth0")]);
    // The valid attachment is untouched.
    assert_eq!(v4(&pod, "eth0"), ["10.99.0.2/24"]);
    assert!(lease(&n, "10.99.0.2").is_some());
    check(&n, &pod);

    // CHECK notices a broken attachment and names the plugin.
    pod.sh_ok("ip link set dev eth0 address 02:11:22:33:44:55");
    let out = run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["check", NET, pod.path_str()],
    )
    .expect_fail("check");
    assert!(
        out.stderr.contains("type=\"bridge\" failed (check)"),
        "{}",
        out.stderr
    );

    run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["del", NET, pod.path_str()],
    )
    .expect_ok("del");
    assert!(!pod.link_names().contains(&"eth0".to_string()));
    assert!(lease(&n, "10.99.0.2").is_none());
    assert!(nat_rules(&n, &id).is_empty(), "{:?}", nat_rules(&n, &id));
    assert!(nat_rules(&n, "18080").is_empty());
    assert!(cache_files(&n.env.cache_dir).is_empty());
    run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["del", NET, pod.path_str()],
    )
    .expect_ok("second del");
    // CHECK without an ADD fails and says why.
    let out = run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["check", NET, pod.path_str()],
    )
    .expect_fail("check");
    assert!(out.stderr.contains("no cached result"), "{}", out.stderr);
}

#[test]
fn failing_plugin_after_bridge_and_host_local_leaves_nothing_ours() {
    failing_plugin_after_bridge_and_host_local_leaves_nothing(ours());
}

#[test]
fn failing_plugin_after_bridge_and_host_local_leaves_nothing_reference() {
    failing_plugin_after_bridge_and_host_local_leaves_nothing(cni_sandbox::reference_dir());
}

fn failing_plugin_after_bridge_and_host_local_leaves_nothing(dir: PathBuf) {
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("calls.log");
    failing(bin.path(), "fail", &log);
    let n = setup(dir, &[json!({"type": "fail"})], Some(bin.path()));
    let pod = n.sb.pod();
    let id = cid(&pod);

    let out = run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["add", NET, pod.path_str()],
    )
    .expect_fail("add");
    assert!(
        out.stderr
            .contains("plugin 3/3 type=\"fail\" failed (add): fake failure on purpose"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("rolled back"), "{}", out.stderr);
    assert!(
        !pod.link_names().contains(&"eth0".to_string()),
        "pod still has eth0"
    );
    let veths: Vec<String> =
        n.sb.host
            .link_names()
            .into_iter()
            .filter(|l| l.starts_with("veth"))
            .collect();
    assert!(veths.is_empty(), "host veth left: {veths:?}");
    assert!(lease(&n, "10.99.0.2").is_none(), "lease left");
    assert!(
        nat_rules(&n, &id).is_empty(),
        "rules left: {:?}",
        nat_rules(&n, &id)
    );
    assert!(nat_rules(&n, "18080").is_empty());
    assert!(cache_files(&n.env.cache_dir).is_empty());

    // Without rollback the half-made attachment stays (upstream behaviour)
    // until a DEL.
    run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["--no-rollback", "add", NET, pod.path_str()],
    )
    .expect_fail("add");
    assert_eq!(
        v4(&pod, "eth0"),
        ["10.99.0.3/24"],
        "host-local does not reuse the last address at once"
    );
    assert!(lease(&n, "10.99.0.3").is_some());
    run_tool(
        Tool::Ours,
        &n.sb.host,
        &n.env,
        &["del", NET, pod.path_str()],
    )
    .expect_ok("del");
    assert!(!pod.link_names().contains(&"eth0".to_string()));
    assert!(lease(&n, "10.99.0.3").is_none());
    assert!(nat_rules(&n, &id).is_empty());
}
