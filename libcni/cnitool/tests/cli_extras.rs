//! Our cnitool's command-line extras, which upstream cnitool does not have:
//! `--version`, `version`, `validate`, `list`, `--container-id` and
//! `--cache-dir`. Fake recording plugins (see common) where only what
//! cnitool sends and prints matters; our real bridge + host-local where
//! the container ID has to reach the IPAM store. Needs root (everything
//! runs inside a throwaway netns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use cni_sandbox::Sandbox;
use cnitool::settings::container_id_for;
use common::{Out, Tool, ToolEnv, cache_files, recorder, run_tool, trace, write_conf};
use serde_json::{Value, json};

struct Setup {
    sb: Sandbox,
    log: PathBuf,
    env: ToolEnv,
}

const ALL: [&str; 4] = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"];
/// What a plugin that stopped at spec 0.4.0 answers to VERSION.
const OLD: [&str; 3] = ["0.3.0", "0.3.1", "0.4.0"];

fn reply() -> Value {
    json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/x"}],
        "ips": [{"address": "10.7.0.2/24", "gateway": "10.7.0.1", "interface": 0}]
    })
}

/// Recording plugins rec-a, rec-b (every version) and rec-old (up to
/// 0.4.0) in CNI_PATH, an empty conf dir.
fn setup() -> Setup {
    let sb = Sandbox::new();
    let bin = sb.subdir("bin");
    let log = sb.dir().join("calls.log");
    recorder(&bin, "rec-a", &log, &reply(), &ALL);
    recorder(&bin, "rec-b", &log, &reply(), &ALL);
    recorder(&bin, "rec-old", &log, &reply(), &OLD);
    let conf = sb.subdir("net.d");
    let env = ToolEnv::new(&conf, &bin.to_string_lossy(), &sb.dir().join("cache"));
    Setup { sb, log, env }
}

impl Setup {
    fn cnitool(&self, args: &[&str]) -> Out {
        run_tool(Tool::Ours, &self.sb.host, &self.env, args)
    }
    fn conf(&self, file: &str) -> PathBuf {
        self.env.conf_dir.join(file)
    }
    fn list(&self, file: &str, name: &str, version: &str, plugins: &[Value]) {
        write_conf(
            &self.env.conf_dir,
            file,
            &json!({"cniVersion": version, "name": name, "plugins": plugins}),
        );
    }
    /// Only VERSION was ever sent (nothing was attached or deleted).
    fn only_version_calls(&self) {
        let t = trace(&self.log);
        assert!(!t.is_empty(), "no plugin was asked");
        assert!(t.iter().all(|(_, cmd)| cmd == "VERSION"), "{t:?}");
    }
}

#[test]
fn version_flag_prints_the_package_version() {
    let s = setup();
    let out = s.cnitool(&["--version"]).expect_ok("--version");
    assert_eq!(
        out.stdout,
        format!("cnitool {}\n", env!("CARGO_PKG_VERSION"))
    );
    // `version` needs a network or a plugin: a usage error, not a crash.
    let out = s
        .cnitool(&["version"])
        .expect_fail("version without target");
    assert!(out.stderr.contains("<TARGET>"), "{}", out.stderr);
}

#[test]
fn version_asks_every_plugin_of_a_network_and_says_which_cannot_run_it() {
    let s = setup();
    s.list(
        "10-v.conflist",
        "vnet",
        "0.4.0",
        &[json!({"type": "rec-a"}), json!({"type": "rec-old"})],
    );
    s.list(
        "20-w.conflist",
        "wnet",
        "1.0.0",
        &[json!({"type": "rec-a"}), json!({"type": "rec-old"})],
    );
    let file = |f: &str| s.conf(f).display().to_string();

    let out = s.cnitool(&["version", "vnet"]).expect_ok("version vnet");
    assert_eq!(
        out.stdout,
        format!(
            "network vnet: cniVersion 0.4.0 ({})\n  \
             rec-a: cniVersion 1.1.0, supports 0.3.1 0.4.0 1.0.0 1.1.0  [ok for 0.4.0]\n  \
             rec-old: cniVersion 0.4.0, supports 0.3.0 0.3.1 0.4.0  [ok for 0.4.0]\n",
            file("10-v.conflist")
        )
    );

    // The same plugins under a 1.0.0 list: rec-old cannot run it.
    let out = s.cnitool(&["version", "wnet"]).expect_fail("version wnet");
    assert!(
        out.stdout.contains(
            "  rec-old: cniVersion 0.4.0, supports 0.3.0 0.3.1 0.4.0  [does NOT support 1.0.0]\n"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("[ok for 1.0.0]"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("network \"wnet\": not every plugin can run cniVersion 1.0.0"),
        "{}",
        out.stderr
    );
    s.only_version_calls();
}

#[test]
fn version_of_one_plugin_by_type_or_path() {
    let s = setup();
    let out = s
        .cnitool(&["version", "--plugin", "rec-old"])
        .expect_ok("version --plugin rec-old");
    assert_eq!(
        out.stdout,
        "rec-old: cniVersion 0.4.0, supports 0.3.0 0.3.1 0.4.0\n"
    );

    // A path is run as is, whatever CNI_PATH says.
    let elsewhere = s.sb.subdir("elsewhere");
    recorder(&elsewhere, "other", &s.log, &reply(), &["1.0.0"]);
    let path = elsewhere.join("other");
    let out = s
        .cnitool(&["version", "--plugin", path.to_str().unwrap()])
        .expect_ok("version --plugin <path>");
    assert_eq!(
        out.stdout,
        format!("{}: cniVersion 1.0.0, supports 1.0.0\n", path.display())
    );

    let out = s
        .cnitool(&["version", "--plugin", "other"])
        .expect_fail("version --plugin not in CNI_PATH");
    assert!(
        out.stderr.contains("failed to find plugin \"other\""),
        "{}",
        out.stderr
    );
    s.only_version_calls();
}

#[test]
fn validate_a_good_list_a_missing_plugin_and_a_version_mismatch() {
    let s = setup();
    s.list(
        "10-good.conflist",
        "goodnet",
        "1.0.0",
        &[
            json!({"type": "rec-a", "capabilities": {"portMappings": true, "ips": false}}),
            json!({"type": "rec-b", "capabilities": {"bandwidth": true}}),
        ],
    );
    s.list(
        "20-miss.conflist",
        "missnet",
        "1.0.0",
        &[json!({"type": "rec-a"}), json!({"type": "not-installed"})],
    );
    s.list(
        "30-old.conflist",
        "oldnet",
        "1.1.0",
        &[json!({"type": "rec-a"}), json!({"type": "rec-old"})],
    );

    let out = s
        .cnitool(&["validate", "goodnet"])
        .expect_ok("validate goodnet");
    assert_eq!(
        out.stdout,
        "network goodnet: valid, cniVersion 1.0.0, plugins rec-a,rec-b; capabilities: bandwidth,portMappings\n"
    );

    // A plugin missing from CNI_PATH: non-zero exit, the plugin named.
    let out = s
        .cnitool(&["validate", "missnet"])
        .expect_fail("validate missnet");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("failed to find plugin \"not-installed\""),
        "{}",
        out.stderr
    );

    // Present but too old for the list: named, with what it supports.
    let out = s
        .cnitool(&["validate", "oldnet"])
        .expect_fail("validate oldnet");
    assert!(
        out.stderr.contains(
            "network \"oldnet\": plugin 2/2 type=\"rec-old\" does not support config version \"1.1.0\""
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("rec-a"), "{}", out.stderr);

    let out = s
        .cnitool(&["validate", "nonet"])
        .expect_fail("validate nonet");
    assert!(
        out.stderr
            .contains("no net configuration with name \"nonet\""),
        "{}",
        out.stderr
    );
    // Validating never attaches anything.
    s.only_version_calls();
}

#[test]
fn list_shows_networks_and_why_files_are_skipped() {
    let s = setup();
    let out = s.cnitool(&["list"]).expect_ok("list, empty");
    assert_eq!(
        out.stdout,
        format!("no networks in {}\n", s.env.conf_dir.display())
    );

    s.list(
        "10-a.conflist",
        "anet",
        "1.0.0",
        &[json!({"type": "rec-a"}), json!({"type": "rec-b"})],
    );
    std::fs::write(s.conf("15-broken.conflist"), r#"{"cniVersion": "1.0.0", "#).unwrap();
    s.list(
        "30-a-again.conflist",
        "anet",
        "1.0.0",
        &[json!({"type": "rec-old"})],
    );
    write_conf(
        &s.env.conf_dir,
        "40-single.conf",
        &json!({"cniVersion": "0.4.0", "name": "single", "type": "rec-old"}),
    );
    let file = |f: &str| s.conf(f).display().to_string();

    let out = s.cnitool(&["list"]).expect_ok("list");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert_eq!(
        lines[0],
        format!("anet\t1.0.0\t{}\trec-a,rec-b", file("10-a.conflist"))
    );
    assert_eq!(
        lines[1],
        format!(
            "single\t0.4.0\t{}\trec-old\t(deprecated single-plugin file)",
            file("40-single.conf")
        )
    );
    let broken = format!("skipped {}: ", file("15-broken.conflist"));
    let broken_line = lines
        .iter()
        .find(|l| l.starts_with(&broken))
        .unwrap_or_else(|| panic!("broken file not reported:\n{}", out.stdout));
    assert!(
        broken_line.contains("EOF while parsing"),
        "no reason: {broken_line}"
    );
    assert!(
        lines.contains(
            &format!(
                "skipped {}: network \"anet\" is already defined by {}, which is found first",
                file("30-a-again.conflist"),
                file("10-a.conflist")
            )
            .as_str()
        ),
        "{}",
        out.stdout
    );
    // Listing runs no plugin at all.
    assert!(trace(&s.log).is_empty());
}

/// The hex of SHA-512(`s`), as the chain names are cut from it.
fn sha512_hex(s: &str) -> String {
    use sha2::{Digest, Sha512};
    Sha512::digest(s)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `--container-id` replaces the ID derived from the netns path in every
/// command: the IPAM record, the masquerade rule and the cache entry carry
/// it, a DEL without it does not release the attachment, a DEL with it
/// does.
#[test]
fn container_id_flag_overrides_the_derived_id() {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let store = sb.subdir("ipam");
    let conf = sb.subdir("net.d");
    write_conf(
        &conf,
        "10-id.conflist",
        &json!({"cniVersion": "1.0.0", "name": "idnet", "plugins": [
            {"type": "bridge", "bridge": "cniid0", "isGateway": true, "ipMasq": true,
             "ipam": {"type": "host-local", "dataDir": store,
                      "ranges": [[{"subnet": "10.96.0.0/24"}]]}}
        ]}),
    );
    let env = ToolEnv::new(
        &conf,
        &cni_sandbox::plugin_dir().to_string_lossy(),
        &sb.dir().join("cache"),
    );
    let ns = pod.path_str();
    let derived = container_id_for(pod.path());
    let id = "my-pod-1";
    let record = || std::fs::read_to_string(store.join("idnet/10.96.0.2")).ok();
    let nat = || sb.host.iptables_nat(false).join("\n");

    run_tool(
        Tool::Ours,
        &sb.host,
        &env,
        &["--container-id", id, "add", "idnet", ns],
    )
    .expect_ok("add --container-id");
    assert_eq!(record().as_deref(), Some("my-pod-1\r\neth0"));
    assert_eq!(cache_files(&env.cache_dir), ["idnet-my-pod-1-eth0"]);
    let chain = format!("CNI-{}", &sha512_hex(&format!("idnet{id}"))[..24]);
    assert!(
        nat().contains(&format!(":{chain} ")) && nat().contains("id: \\\"my-pod-1\\\""),
        "{}",
        nat()
    );
    assert!(!nat().contains(&derived), "{}", nat());
    run_tool(
        Tool::Ours,
        &sb.host,
        &env,
        &["--container-id", id, "check", "idnet", ns],
    )
    .expect_ok("check --container-id");

    // Without the flag it is another container: nothing cached for it,
    // and host-local releases by ID, so my-pod-1's record stays.
    run_tool(Tool::Ours, &sb.host, &env, &["check", "idnet", ns])
        .expect_fail("check with the derived ID");
    run_tool(Tool::Ours, &sb.host, &env, &["del", "idnet", ns])
        .expect_ok("del with the derived ID");
    assert_eq!(record().as_deref(), Some("my-pod-1\r\neth0"));
    assert_eq!(cache_files(&env.cache_dir), ["idnet-my-pod-1-eth0"]);

    run_tool(
        Tool::Ours,
        &sb.host,
        &env,
        &["--container-id", id, "del", "idnet", ns],
    )
    .expect_ok("del --container-id");
    assert_eq!(record(), None);
    assert!(cache_files(&env.cache_dir).is_empty());
    assert!(!nat().contains(&chain), "{}", nat());
    assert!(!nat().contains("my-pod-1"), "{}", nat());
}

/// `--cache-dir` wins over `CNI_CACHE_DIR`, for every command.
#[test]
fn cache_dir_flag_beats_cni_cache_dir() {
    let s = setup();
    s.list(
        "10-c.conflist",
        "cnet",
        "1.0.0",
        &[json!({"type": "rec-a"})],
    );
    let pod = s.sb.pod();
    let ns = pod.path_str();
    let flag_dir = s.sb.dir().join("flag-cache");
    let flag = flag_dir.to_str().unwrap();
    let entry = format!("cnet-{}-eth0", container_id_for(pod.path()));

    s.cnitool(&["--cache-dir", flag, "add", "cnet", ns])
        .expect_ok("add --cache-dir");
    assert_eq!(cache_files(&flag_dir), [entry.as_str()]);
    assert!(cache_files(&s.env.cache_dir).is_empty());
    s.cnitool(&["--cache-dir", flag, "check", "cnet", ns])
        .expect_ok("check --cache-dir");
    // CNI_CACHE_DIR alone points at an empty cache.
    let out = s
        .cnitool(&["check", "cnet", ns])
        .expect_fail("check without the flag");
    assert!(out.stderr.contains("no cached result"), "{}", out.stderr);
    s.cnitool(&["--cache-dir", flag, "del", "cnet", ns])
        .expect_ok("del --cache-dir");
    assert!(cache_files(&flag_dir).is_empty());
    assert_eq!(
        trace(&s.log)
            .into_iter()
            .filter(|(_, c)| c != "VERSION")
            .map(|(_, c)| c)
            .collect::<Vec<_>>(),
        ["ADD", "CHECK", "DEL"]
    );
}
