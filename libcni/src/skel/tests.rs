use std::collections::HashMap;

use super::*;
use crate::spec::{IpConfig, Version};
use serde_json::{Value, json};

/// A plugin that records nothing and returns one address on ADD, or fails
/// in the way the config's `behave` key asks.
struct Dummy;

impl Plugin for Dummy {
    fn cni_args_keys(&self) -> Option<&'static [&'static str]> {
        Some(&["IP"])
    }
    fn add(&self, a: &CmdArgs) -> Result<CniResult, Error> {
        match a.conf.extra.get("behave").and_then(Value::as_str) {
            Some("panic") => panic!("boom"),
            Some("fail") => Err(Error::plugin(101, "asked to fail")),
            Some("empty") => Ok(CniResult::default()),
            _ => Ok(CniResult {
                ips: vec![IpConfig {
                    interface: None,
                    address: "10.0.0.2/24".parse().unwrap(),
                    gateway: None,
                }],
                ..CniResult::default()
            }),
        }
    }
    fn del(&self, _: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }
    fn check(&self, _: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }
}

fn base_env(cmd: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for (k, v) in [
        ("CNI_COMMAND", cmd),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", "/proc/self/ns/net"),
        ("CNI_NETNS_OVERRIDE", "1"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/nonexistent"),
    ] {
        m.insert(k.to_string(), v.to_string());
    }
    m
}

fn conf(version: &str) -> Vec<u8> {
    json!({"cniVersion": version, "name": "net1", "type": "dummy"})
        .to_string()
        .into_bytes()
}

fn go(env: &HashMap<String, String>, stdin: &[u8]) -> (i32, Value) {
    let r = dispatch(&Dummy, &|k| env.get(k).cloned(), stdin);
    let v = if r.stdout.is_empty() {
        Value::Null
    } else {
        // Exactly one JSON object and nothing else on stdout.
        let mut it = serde_json::Deserializer::from_str(&r.stdout).into_iter::<Value>();
        let v = it.next().unwrap().unwrap();
        assert!(
            it.next().is_none(),
            "more than one JSON value: {}",
            r.stdout
        );
        assert!(v.is_object(), "{}", r.stdout);
        v
    };
    (r.exit_code, v)
}

fn expect_code(env: &HashMap<String, String>, stdin: &[u8], code: u64) -> Value {
    let (rc, v) = go(env, stdin);
    assert_eq!(rc, 1, "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert!(v["msg"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v["cniVersion"].is_string(), "{v}");
    v
}

#[test]
fn version_lists_all_seven() {
    let env = base_env("VERSION");
    let (rc, v) = go(&env, b"");
    assert_eq!(rc, 0);
    assert_eq!(
        v["supportedVersions"],
        json!([
            "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"
        ])
    );
    assert_eq!(v["cniVersion"], "1.1.0");
}

#[test]
fn version_echoes_requested_and_ignores_garbage() {
    let env = base_env("VERSION");
    for (input, want) in [
        (&b"{\"cniVersion\":\"0.3.1\"}"[..], "0.3.1"),
        (b"{\"cniVersion\":\"9.9.9\"}", "1.1.0"),
        (b"not json at all", "1.1.0"),
        (b"", "1.1.0"),
    ] {
        let (rc, v) = go(&env, input);
        assert_eq!(rc, 0);
        assert_eq!(v["cniVersion"], want);
    }
}

#[test]
fn version_needs_no_other_env() {
    let mut env = HashMap::new();
    env.insert("CNI_COMMAND".to_string(), "VERSION".to_string());
    assert_eq!(go(&env, b"").0, 0);
}

#[test]
fn add_prints_result_in_config_version() {
    for v in crate::spec::ALL_VERSIONS {
        let (rc, out) = go(&base_env("ADD"), &conf(v.as_str()));
        assert_eq!(rc, 0, "{v}: {out}");
        assert_eq!(out["cniVersion"], v.as_str());
        if v < Version::V0_3_0 {
            assert_eq!(out["ip4"]["ip"], "10.0.0.2/24");
        } else {
            assert_eq!(out["ips"][0]["address"], "10.0.0.2/24");
        }
    }
}

#[test]
fn add_result_not_expressible_in_020_is_code_1() {
    let stdin = json!({"cniVersion": "0.2.0", "name": "n", "behave": "empty"}).to_string();
    expect_code(&base_env("ADD"), stdin.as_bytes(), 1);
}

#[test]
fn del_check_gc_status_print_nothing() {
    for cmd in ["DEL", "CHECK", "GC", "STATUS"] {
        let (rc, v) = go(&base_env(cmd), &conf("1.1.0"));
        assert_eq!(rc, 0, "{cmd}: {v}");
        assert!(v.is_null());
    }
}

#[test]
fn verb_version_gates() {
    for v in crate::spec::ALL_VERSIONS {
        for (cmd, allowed) in [
            ("ADD", true),
            ("DEL", true),
            ("CHECK", v.has_check()),
            ("GC", v.has_gc_status()),
            ("STATUS", v.has_gc_status()),
        ] {
            let (rc, out) = go(&base_env(cmd), &conf(v.as_str()));
            if allowed {
                assert_eq!(rc, 0, "{cmd} {v}: {out}");
            } else {
                assert_eq!(rc, 1, "{cmd} {v}");
                assert_eq!(out["code"], 1, "{cmd} {v}");
                assert_eq!(out["cniVersion"], v.as_str());
            }
        }
    }
}

#[test]
fn missing_and_unknown_command() {
    let mut env = base_env("ADD");
    env.remove("CNI_COMMAND");
    expect_code(&env, &conf("1.0.0"), 4);
    env.insert("CNI_COMMAND".into(), "add".into());
    let v = expect_code(&env, &conf("1.0.0"), 4);
    assert!(v["msg"].as_str().unwrap().contains("\"add\""));
}

#[test]
fn container_id_required_and_validated() {
    for cmd in ["ADD", "DEL", "CHECK"] {
        let mut env = base_env(cmd);
        env.remove("CNI_CONTAINERID");
        let v = expect_code(&env, &conf("1.0.0"), 4);
        assert!(v["msg"].as_str().unwrap().contains("CNI_CONTAINERID"));
        for bad in ["../x", "-abc", "a b", "a/b", "é"] {
            env.insert("CNI_CONTAINERID".into(), bad.into());
            expect_code(&env, &conf("1.0.0"), 4);
        }
    }
}

#[test]
fn ifname_required_and_validated() {
    for cmd in ["ADD", "DEL", "CHECK"] {
        let mut env = base_env(cmd);
        env.remove("CNI_IFNAME");
        let v = expect_code(&env, &conf("1.0.0"), 4);
        assert!(v["msg"].as_str().unwrap().contains("CNI_IFNAME"));
        for bad in ["toolonginterface0", ".", "..", "a/b", "a:b", "a b"] {
            env.insert("CNI_IFNAME".into(), bad.into());
            expect_code(&env, &conf("1.0.0"), 4);
        }
    }
}

#[test]
fn netns_required_for_add_and_check_only() {
    for cmd in ["ADD", "CHECK"] {
        let mut env = base_env(cmd);
        env.remove("CNI_NETNS");
        let v = expect_code(&env, &conf("1.0.0"), 4);
        assert!(v["msg"].as_str().unwrap().contains("CNI_NETNS"));
    }
    let mut env = base_env("DEL");
    env.insert("CNI_NETNS".into(), String::new());
    assert_eq!(go(&env, &conf("1.0.0")).0, 0);
}

#[test]
fn netns_must_be_a_network_namespace() {
    let mut env = base_env("ADD");
    env.insert("CNI_NETNS".into(), "/nonexistent/netns".into());
    expect_code(&env, &conf("1.0.0"), 4);
    env.insert("CNI_NETNS".into(), "/etc/hostname".into());
    let v = expect_code(&env, &conf("1.0.0"), 4);
    assert!(
        v["msg"].as_str().unwrap().contains("not a namespace"),
        "{v}"
    );
    env.insert("CNI_NETNS".into(), "/proc/self/ns/mnt".into());
    expect_code(&env, &conf("1.0.0"), 4);
}

#[test]
fn own_netns_refused_without_override() {
    let mut env = base_env("ADD");
    env.remove("CNI_NETNS_OVERRIDE");
    expect_code(&env, &conf("1.0.0"), 8);
}

#[test]
fn gc_and_status_need_no_attachment_env() {
    for cmd in ["GC", "STATUS"] {
        let mut env = HashMap::new();
        env.insert("CNI_COMMAND".to_string(), cmd.to_string());
        assert_eq!(go(&env, &conf("1.1.0")).0, 0, "{cmd}");
    }
}

#[test]
fn cni_path_not_required_by_skeleton() {
    let mut env = base_env("ADD");
    env.remove("CNI_PATH");
    assert_eq!(go(&env, &conf("1.0.0")).0, 0);
}

#[test]
fn stdin_problems() {
    let env = base_env("ADD");
    expect_code(&env, b"", 6);
    expect_code(&env, b"  \n", 6);
    expect_code(&env, b"{not json", 6);
    expect_code(&env, b"[1,2]", 6);
    let v = expect_code(&env, br#"{"cniVersion":"1.0.0","name":5}"#, 6);
    assert!(v["msg"].as_str().unwrap().contains("name"), "{v}");
    expect_code(&env, br#"{"cniVersion":"1.0.0"}"#, 7);
    expect_code(&env, br#"{"cniVersion":"1.0.0","name":"../x"}"#, 7);
    let v = expect_code(&env, br#"{"cniVersion":"5.0.0","name":"n"}"#, 1);
    assert_eq!(v["cniVersion"], "1.1.0");
}

#[test]
fn errors_are_tagged_with_config_version() {
    let mut env = base_env("ADD");
    env.remove("CNI_IFNAME");
    let v = expect_code(&env, &conf("0.4.0"), 4);
    assert_eq!(v["cniVersion"], "0.4.0");
}

#[test]
fn cni_args_checked_on_add_and_check() {
    let mut env = base_env("ADD");
    env.insert("CNI_ARGS".into(), "K8S_POD_NAME=x".into());
    expect_code(&env, &conf("1.0.0"), 4);
    env.insert("CNI_ARGS".into(), "IP=10.0.0.9".into());
    assert_eq!(go(&env, &conf("1.0.0")).0, 0);
    env.insert("CNI_ARGS".into(), "K8S_POD_NAME=x;IgnoreUnknown=1".into());
    assert_eq!(go(&env, &conf("1.0.0")).0, 0);
    env.insert("CNI_ARGS".into(), "broken".into());
    expect_code(&env, &conf("1.0.0"), 4);
    // DEL never fails on arguments.
    let mut env = base_env("DEL");
    env.insert("CNI_ARGS".into(), "broken;K8S=1".into());
    assert_eq!(go(&env, &conf("1.0.0")).0, 0);
}

#[test]
fn plugin_errors_and_panics_become_error_json() {
    let env = base_env("ADD");
    let stdin = json!({"cniVersion": "1.0.0", "name": "n", "behave": "fail"}).to_string();
    let v = expect_code(&env, stdin.as_bytes(), 101);
    assert_eq!(v["msg"], "asked to fail");
    let stdin = json!({"cniVersion": "1.0.0", "name": "n", "behave": "panic"}).to_string();
    let v = expect_code(&env, stdin.as_bytes(), 999);
    assert!(v["msg"].as_str().unwrap().contains("boom"));
}

#[test]
fn about_names_plugin_semver_and_protocol_versions() {
    let text = about("firewall", &Dummy);
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    // nerdctl: the line starting with "CNI firewall plugin ", the rest a semver.
    let version = first.strip_prefix("CNI firewall plugin v").unwrap();
    let (core, build) = version.split_once('+').unwrap();
    let nums: Vec<u32> = core.split('.').map(|n| n.parse().unwrap()).collect();
    assert_eq!(nums.len(), 3, "{first}");
    assert!(nums >= vec![1, 7, 1], "nerdctl needs >= 1.7.1: {first}");
    assert_eq!(build, format!("cni-rs.{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(
        lines.next().unwrap(),
        "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"
    );
    assert!(lines.next().is_none());
}

#[test]
fn from_config_decodes_the_standard_part() {
    let a = CmdArgs::from_config(
        Command::Add,
        "c1",
        "eth0",
        br#"{"cniVersion":"0.4.0","name":"n","type":"x","ipam":{"type":"host-local"}}"#.to_vec(),
    )
    .unwrap();
    assert_eq!(a.version, Version::V0_4_0);
    assert_eq!(a.conf.ipam_type(), Some("host-local"));
    assert_eq!((a.container_id.as_str(), a.ifname.as_str()), ("c1", "eth0"));
    let e = CmdArgs::from_config(Command::Add, "c1", "eth0", b"{".to_vec()).unwrap_err();
    assert_eq!(e.code, crate::spec::error::code::DECODING_FAILURE);
}
