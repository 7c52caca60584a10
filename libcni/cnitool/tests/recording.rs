//! What cnitool sends to plugins, asserted exactly with fake "recording"
//! plugins (shell scripts that log their environment and stdin and print a
//! canned result), and compared with what upstream cnitool sends for the
//! same conf list. Needs root (the tools run inside a throwaway netns, and
//! upstream cnitool in a private mount namespace).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use cni_sandbox::{Netns, Sandbox};
use common::{Tool, ToolEnv, cache_files, calls, failing, recorder, run_tool, trace, write_conf};
use serde_json::{Value, json};

struct Setup {
    sb: Sandbox,
    pod: Netns,
    bin: PathBuf,
    log: PathBuf,
    env: ToolEnv,
}

fn reply(addr: &str) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/x"}],
        "ips": [{"address": addr, "gateway": "10.7.0.1", "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0"}]
    })
}

/// Three recording plugins a, b, c in a list of `version`.
fn setup(version: &str) -> Setup {
    let sb = Sandbox::new();
    let pod = sb.pod();
    let bin = sb.subdir("bin");
    let log = sb.dir().join("calls.log");
    let versions = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"];
    recorder(&bin, "rec-a", &log, &reply("10.7.0.2/24"), &versions);
    recorder(&bin, "rec-b", &log, &reply("10.7.0.3/24"), &versions);
    recorder(&bin, "rec-c", &log, &reply("10.7.0.4/24"), &versions);
    let conf = sb.subdir("net.d");
    write_conf(
        &conf,
        "10-rec.conflist",
        &json!({
            "cniVersion": version,
            "name": "recnet",
            "plugins": [
                {"type": "rec-a", "capabilities": {"portMappings": true, "ips": false}, "x": "<&>"},
                {"type": "rec-b", "capabilities": {"bandwidth": true}},
                {"type": "rec-c", "name": "not-this", "cniVersion": "0.1.0"}
            ]
        }),
    );
    let mut env = ToolEnv::new(&conf, &bin.to_string_lossy(), &sb.dir().join("cache"));
    env.cni_args = Some("IgnoreUnknown=1;K8S_POD_NAME=web".into());
    env.cap_args = Some(r#"{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],"ips":["10.7.0.9"],"mac":"aa:bb:cc:dd:ee:ff"}"#.into());
    Setup {
        sb,
        pod,
        bin,
        log,
        env,
    }
}

fn container_id(netns: &Path) -> String {
    cnitool::settings::container_id_for(netns)
}

#[test]
fn add_check_del_status_gc_send_what_a_runtime_should() {
    let s = setup("1.1.0");
    let ns = s.pod.path_str();
    let cid = container_id(s.pod.path());
    let out = run_tool(
        Tool::Ours,
        &s.sb.host,
        &s.env,
        &["add", "-i", "net1", "recnet", ns],
    )
    .expect_ok("add");
    // The printed result is the last plugin's, in the list's version.
    assert_eq!(out.json()["ips"][0]["address"], "10.7.0.4/24");
    assert_eq!(out.json()["cniVersion"], "1.1.0");
    let c = calls(&s.log);
    assert_eq!(
        trace(&s.log),
        [
            ("rec-a".into(), "ADD".into()),
            ("rec-b".into(), "ADD".into()),
            ("rec-c".into(), "ADD".into())
        ]
    );
    for call in &c {
        assert_eq!(call["cid"], cid.as_str());
        assert_eq!(call["netns"], ns);
        assert_eq!(call["ifname"], "net1");
        assert_eq!(call["args"], "IgnoreUnknown=1;K8S_POD_NAME=web");
        assert_eq!(call["path"], s.bin.to_str().unwrap());
        assert_eq!(call["stdin"]["name"], "recnet");
        assert_eq!(call["stdin"]["cniVersion"], "1.1.0");
        assert!(
            call["stdin"].get("capabilities").is_none(),
            "{}",
            call["stdin"]
        );
    }
    assert_eq!(
        c[0]["stdin"]["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
    );
    assert_eq!(c[0]["stdin"]["x"], "<&>");
    assert!(c[1]["stdin"].get("runtimeConfig").is_none());
    assert!(c[0]["stdin"].get("prevResult").is_none());
    assert_eq!(
        c[1]["stdin"]["prevResult"]["ips"][0]["address"],
        "10.7.0.2/24"
    );
    assert_eq!(
        c[2]["stdin"]["prevResult"]["ips"][0]["address"],
        "10.7.0.3/24"
    );
    assert_eq!(c[2]["stdin"]["prevResult"]["cniVersion"], "1.1.0");
    assert_eq!(
        cache_files(&s.env.cache_dir),
        [format!("recnet-{cid}-net1")]
    );

    std::fs::remove_file(&s.log).unwrap();
    run_tool(
        Tool::Ours,
        &s.sb.host,
        &s.env,
        &["check", "-i", "net1", "recnet", ns],
    )
    .expect_ok("check");
    let c = calls(&s.log);
    assert_eq!(c.len(), 3);
    for call in &c {
        assert_eq!(call["cmd"], "CHECK");
        assert_eq!(
            call["stdin"]["prevResult"]["ips"][0]["address"],
            "10.7.0.4/24"
        );
    }

    std::fs::remove_file(&s.log).unwrap();
    run_tool(Tool::Ours, &s.sb.host, &s.env, &["status", "recnet", ns]).expect_ok("status");
    assert_eq!(
        trace(&s.log),
        [
            ("rec-a".into(), "STATUS".into()),
            ("rec-b".into(), "STATUS".into()),
            ("rec-c".into(), "STATUS".into())
        ]
    );
    for call in calls(&s.log) {
        assert_eq!(call["cid"], "");
        assert_eq!(call["ifname"], "");
    }

    std::fs::remove_file(&s.log).unwrap();
    run_tool(
        Tool::Ours,
        &s.sb.host,
        &s.env,
        &["del", "-i", "net1", "recnet", ns],
    )
    .expect_ok("del");
    assert_eq!(
        trace(&s.log),
        [
            ("rec-c".into(), "DEL".into()),
            ("rec-b".into(), "DEL".into()),
            ("rec-a".into(), "DEL".into())
        ]
    );
    for call in calls(&s.log) {
        assert_eq!(
            call["stdin"]["prevResult"]["ips"][0]["address"],
            "10.7.0.4/24"
        );
    }
    assert!(cache_files(&s.env.cache_dir).is_empty());
    // DEL again: fine, without prevResult.
    std::fs::remove_file(&s.log).unwrap();
    run_tool(
        Tool::Ours,
        &s.sb.host,
        &s.env,
        &["del", "-i", "net1", "recnet", ns],
    )
    .expect_ok("second del");
    assert!(
        calls(&s.log)
            .iter()
            .all(|c| c["stdin"].get("prevResult").is_none())
    );
}

#[test]
fn gc_deletes_stale_attachments_and_sends_the_valid_list() {
    let s = setup("1.1.0");
    let pod2 = s.sb.pod();
    for p in [&s.pod, &pod2] {
        run_tool(
            Tool::Ours,
            &s.sb.host,
            &s.env,
            &["add", "recnet", p.path_str()],
        )
        .expect_ok("add");
    }
    let keep = container_id(s.pod.path());
    let stale = container_id(pod2.path());
    std::fs::remove_file(&s.log).unwrap();
    let valid = format!("{keep}:eth0");
    run_tool(
        Tool::Ours,
        &s.sb.host,
        &s.env,
        &["gc", "recnet", "--valid", &valid],
    )
    .expect_ok("gc");
    let c = calls(&s.log);
    let t: Vec<_> = trace(&s.log)
        .into_iter()
        .map(|(p, c)| format!("{p} {c}"))
        .collect();
    assert_eq!(
        t,
        [
            "rec-c DEL",
            "rec-b DEL",
            "rec-a DEL",
            "rec-a GC",
            "rec-b GC",
            "rec-c GC"
        ]
    );
    for call in &c[..3] {
        assert_eq!(call["cid"], stale.as_str());
        assert_eq!(call["netns"], pod2.path_str());
        assert_eq!(call["args"], "IgnoreUnknown=1;K8S_POD_NAME=web");
    }
    assert_eq!(
        c[2]["stdin"]["runtimeConfig"]["portMappings"][0]["hostPort"],
        8080
    );
    let expect = json!([{"containerID": keep, "ifname": "eth0"}]);
    for call in &c[3..] {
        assert_eq!(call["stdin"]["cni.dev/valid-attachments"], expect);
        assert_eq!(call["stdin"]["cni.dev/attachments"], expect);
        assert_eq!(call["stdin"]["cniVersion"], "1.1.0");
        assert_eq!(call["cid"], "");
        assert!(call["stdin"].get("runtimeConfig").is_none());
    }
    assert_eq!(
        cache_files(&s.env.cache_dir),
        [format!("recnet-{keep}-eth0")]
    );

    // Upstream semantics without --valid: every cached attachment goes.
    std::fs::remove_file(&s.log).unwrap();
    run_tool(
        Tool::Ours,
        &s.sb.host,
        &s.env,
        &["gc", "recnet", s.pod.path_str()],
    )
    .expect_ok("gc all");
    let t: Vec<_> = trace(&s.log)
        .into_iter()
        .map(|(p, c)| format!("{p} {c}"))
        .collect();
    assert_eq!(
        t,
        [
            "rec-c DEL",
            "rec-b DEL",
            "rec-a DEL",
            "rec-a GC",
            "rec-b GC",
            "rec-c GC"
        ]
    );
    assert!(
        calls(&s.log)[3]["stdin"]
            .get("cni.dev/valid-attachments")
            .is_none()
    );
    assert!(cache_files(&s.env.cache_dir).is_empty());
}

#[test]
fn failed_add_rolls_back_in_reverse_unless_disabled() {
    let s = setup("1.0.0");
    failing(&s.bin, "fail", &s.log);
    write_conf(
        &s.env.conf_dir,
        "20-fail.conflist",
        &json!({"cniVersion": "1.0.0", "name": "failnet", "plugins": [{"type": "rec-a"}, {"type": "rec-b"}, {"type": "fail"}, {"type": "rec-c"}]}),
    );
    let ns = s.pod.path_str();
    let out = run_tool(Tool::Ours, &s.sb.host, &s.env, &["add", "failnet", ns]).expect_fail("add");
    assert!(
        out.stderr
            .contains("plugin 3/4 type=\"fail\" failed (add): fake failure on purpose"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("rolled back"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let t: Vec<_> = trace(&s.log)
        .into_iter()
        .map(|(p, c)| format!("{p} {c}"))
        .collect();
    assert_eq!(
        t,
        [
            "rec-a ADD",
            "rec-b ADD",
            "fail ADD",
            "fail DEL",
            "rec-b DEL",
            "rec-a DEL"
        ]
    );
    assert_eq!(
        calls(&s.log)[5]["stdin"]["prevResult"]["ips"][0]["address"],
        "10.7.0.3/24"
    );
    assert!(cache_files(&s.env.cache_dir).is_empty());

    std::fs::remove_file(&s.log).unwrap();
    run_tool(
        Tool::Ours,
        &s.sb.host,
        &s.env,
        &["--no-rollback", "add", "failnet", ns],
    )
    .expect_fail("add");
    let t: Vec<_> = trace(&s.log)
        .into_iter()
        .map(|(p, c)| format!("{p} {c}"))
        .collect();
    assert_eq!(t, ["rec-a ADD", "rec-b ADD", "fail ADD"]);
}

#[test]
fn strict_cni_args_and_bad_cap_args_fail_before_any_plugin_runs() {
    let mut s = setup("1.0.0");
    for (args, caps) in [
        (Some("K="), None),
        (Some("a=b;"), None),
        (None, Some("[1]")),
    ] {
        s.env.cni_args = args.map(Into::into);
        s.env.cap_args = caps.map(Into::into);
        for tool in [Tool::Ours, Tool::Upstream] {
            run_tool(
                tool,
                &s.sb.host,
                &s.env,
                &["add", "recnet", s.pod.path_str()],
            )
            .expect_fail("add");
        }
    }
    assert!(calls(&s.log).is_empty());
}

/// A recorded call with what legitimately differs between the two tools
/// removed: upstream passes `capabilities` through (we strip it, as the
/// spec says), and Go writes `"dns": {}` into results.
fn normalized(mut c: Value) -> Value {
    let stdin = c["stdin"].as_object_mut().unwrap();
    stdin.remove("capabilities");
    if let Some(Value::Object(prev)) = stdin.get_mut("prevResult")
        && prev.get("dns") == Some(&json!({}))
    {
        prev.remove("dns");
    }
    c
}

#[test]
fn sends_the_same_requests_and_prints_the_same_result_as_upstream() {
    // Upstream libcni 1.1.2 speaks up to 1.0.0.
    let s = setup("1.0.0");
    let ns = s.pod.path_str();
    let mut seen = Vec::new();
    for tool in [Tool::Upstream, Tool::Ours] {
        let _ = std::fs::remove_file(&s.log);
        let add = run_tool(tool, &s.sb.host, &s.env, &["add", "recnet", ns]).expect_ok("add");
        let cache: Vec<u8> = std::fs::read(
            s.env
                .cache_dir
                .join("results")
                .join(&cache_files(&s.env.cache_dir)[0]),
        )
        .unwrap();
        run_tool(tool, &s.sb.host, &s.env, &["check", "recnet", ns]).expect_ok("check");
        run_tool(tool, &s.sb.host, &s.env, &["del", "recnet", ns]).expect_ok("del");
        assert!(
            cache_files(&s.env.cache_dir).is_empty(),
            "{tool:?} left its cache file"
        );
        seen.push((add.stdout, cache, calls(&s.log)));
    }
    let (up, ours) = (&seen[0], &seen[1]);
    assert_eq!(ours.0, up.0, "add output differs");
    let up_calls: Vec<Value> = up.2.iter().cloned().map(normalized).collect();
    let our_calls: Vec<Value> = ours.2.iter().cloned().map(normalized).collect();
    assert_eq!(our_calls.len(), 9);
    assert_eq!(our_calls, up_calls);
    // The cache files hold the same data (upstream 1.1.2 records no netns;
    // Go writes an empty dns object).
    let mut up_cache: Value = serde_json::from_slice(&up.1).unwrap();
    let mut our_cache: Value = serde_json::from_slice(&ours.1).unwrap();
    our_cache.as_object_mut().unwrap().remove("netns");
    up_cache["result"].as_object_mut().unwrap().remove("dns");
    assert_eq!(our_cache, up_cache);
}

#[test]
fn each_tool_reads_the_others_cache() {
    let s = setup("1.0.0");
    let ns = s.pod.path_str();
    for (adder, other) in [(Tool::Upstream, Tool::Ours), (Tool::Ours, Tool::Upstream)] {
        run_tool(adder, &s.sb.host, &s.env, &["add", "recnet", ns]).expect_ok("add");
        std::fs::remove_file(&s.log).unwrap();
        run_tool(other, &s.sb.host, &s.env, &["check", "recnet", ns]).expect_ok("check");
        run_tool(other, &s.sb.host, &s.env, &["del", "recnet", ns]).expect_ok("del");
        let c = calls(&s.log);
        assert_eq!(c.len(), 6, "{adder:?} -> {other:?}");
        for call in &c {
            assert_eq!(
                call["stdin"]["prevResult"]["ips"][0]["address"], "10.7.0.4/24",
                "{other:?} did not get the result cached by {adder:?}: {call}"
            );
            assert_eq!(call["args"], "IgnoreUnknown=1;K8S_POD_NAME=web");
        }
        assert!(
            cache_files(&s.env.cache_dir).is_empty(),
            "{other:?} did not remove {adder:?}'s cache"
        );
    }
}

/// Upstream reads `<cmd> <net> <netns>` and ignores whatever follows, so a
/// script may pass more; ours must run it the same (with a warning) rather
/// than fail on a usage error.
#[test]
fn arguments_after_the_netns_are_ignored_like_upstream() {
    let s = setup("1.0.0");
    let ns = s.pod.path_str();
    let mut seen = Vec::new();
    for tool in [Tool::Upstream, Tool::Ours] {
        let _ = std::fs::remove_file(&s.log);
        let add = run_tool(tool, &s.sb.host, &s.env, &["add", "recnet", ns, "extra"])
            .expect_ok("add with an extra argument");
        run_tool(tool, &s.sb.host, &s.env, &["check", "recnet", ns, "x", "y"])
            .expect_ok("check with extra arguments");
        let del = run_tool(tool, &s.sb.host, &s.env, &["del", "recnet", ns, "extra"])
            .expect_ok("del with an extra argument");
        assert!(cache_files(&s.env.cache_dir).is_empty(), "{tool:?}");
        if tool == Tool::Ours {
            assert!(
                del.stderr
                    .contains("ignoring extra arguments after the netns path: [\"extra\"]"),
                "{}",
                del.stderr
            );
        }
        seen.push((add.stdout, calls(&s.log)));
    }
    assert_eq!(seen[1].0, seen[0].0, "add output differs");
    let up: Vec<Value> = seen[0].1.iter().cloned().map(normalized).collect();
    let ours: Vec<Value> = seen[1].1.iter().cloned().map(normalized).collect();
    assert_eq!(ours.len(), 9);
    assert_eq!(ours, up);
}
