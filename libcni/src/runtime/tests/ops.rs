//! ADD/CHECK/DEL: what each plugin receives, in which order, and what is
//! cached.

use serde_json::json;

use super::{FakeExec, list, result, runtime};
use crate::Error;
use crate::runtime::RuntimeConf;

fn three_plugins(version: &str) -> crate::runtime::ConfList {
    list(json!({
        "cniVersion": version,
        "name": "net",
        "plugins": [
            {"type": "main", "cniVersion": "0.1.0", "name": "ignored",
             "capabilities": {"portMappings": true, "ips": false}, "bridge": "br0"},
            {"type": "meta", "capabilities": {"bandwidth": true}},
            {"type": "last"}
        ]
    }))
}

fn rt() -> RuntimeConf {
    RuntimeConf::new("c1", "/run/netns/p", "eth0")
        .with_arg("IgnoreUnknown", "1")
        .with_arg("K8S_POD_NAME", "web")
        .with_capability(
            "portMappings",
            json!([{"hostPort": 8080, "containerPort": 80}]),
        )
        .with_capability("ips", json!(["10.0.0.9"]))
        .with_capability("mac", json!("aa:bb:cc:dd:ee:ff"))
}

fn scripted(fake: &FakeExec) {
    fake.reply("main", "ADD", Ok(result("eth0", "10.0.0.2/24")))
        .reply("meta", "ADD", Ok(result("eth0", "10.0.0.3/24")))
        .reply("last", "ADD", Ok(result("eth0", "10.0.0.4/24")));
}

#[test]
fn add_injects_name_and_version_filters_runtime_config_strips_capabilities() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    scripted(&fake);
    let cni = runtime(&fake, d.path());
    cni.add_network_list(&three_plugins("1.0.0"), &rt())
        .unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 3);
    let first = &calls[0].stdin;
    assert_eq!(first["name"], "net");
    assert_eq!(first["cniVersion"], "1.0.0");
    assert_eq!(first["bridge"], "br0");
    // Only the declared-and-true capability reaches the plugin.
    assert_eq!(
        first["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 8080, "containerPort": 80}]})
    );
    assert!(first.get("capabilities").is_none(), "{first}");
    assert!(first.get("prevResult").is_none());
    // A declared capability the runtime gave no argument for: no runtimeConfig.
    assert!(
        calls[1].stdin.get("runtimeConfig").is_none(),
        "{}",
        calls[1].stdin
    );
    assert!(calls[2].stdin.get("runtimeConfig").is_none());
    // The environment of every call.
    for c in &calls {
        assert_eq!(c.env["CNI_COMMAND"], "ADD");
        assert_eq!(c.env["CNI_CONTAINERID"], "c1");
        assert_eq!(c.env["CNI_NETNS"], "/run/netns/p");
        assert_eq!(c.env["CNI_IFNAME"], "eth0");
        assert_eq!(c.env["CNI_ARGS"], "IgnoreUnknown=1;K8S_POD_NAME=web");
        assert_eq!(c.env["CNI_PATH"], "/opt/cni/bin:/usr/lib/cni");
    }
}

#[test]
fn add_threads_prev_result_and_caches_the_last_result() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    scripted(&fake);
    let cni = runtime(&fake, d.path());
    let l = three_plugins("1.0.0");
    let r = cni.add_network_list(&l, &rt()).unwrap();
    assert_eq!(r.ips[0].address.to_string(), "10.0.0.4/24");
    let calls = fake.calls();
    assert_eq!(
        calls[1].stdin["prevResult"]["ips"][0]["address"],
        "10.0.0.2/24"
    );
    assert_eq!(
        calls[2].stdin["prevResult"]["ips"][0]["address"],
        "10.0.0.3/24"
    );
    assert_eq!(calls[2].stdin["prevResult"]["cniVersion"], "1.0.0");
    let cached = cni
        .get_network_list_cached_result(&l, &rt())
        .unwrap()
        .unwrap();
    assert_eq!(cached, r);
    let (bytes, crt) = cni
        .get_network_list_cached_config(&l, &RuntimeConf::new("c1", "", "eth0"))
        .unwrap()
        .unwrap();
    assert_eq!(bytes, l.bytes);
    assert_eq!(crt.args, rt().args);
    assert_eq!(crt.capability_args, rt().capability_args);
}

#[test]
fn prev_result_is_converted_to_the_list_version() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    // An old plugin answering in 0.3.1 inside a 1.0.0 list...
    fake.reply(
        "main",
        "ADD",
        Ok(json!({"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.0.0.2/24"}]})),
    );
    // ...and one that omits cniVersion: read as the list's version.
    fake.reply(
        "meta",
        "ADD",
        Ok(json!({"ips": [{"address": "10.0.0.3/24"}]})),
    );
    fake.reply("last", "ADD", Ok(result("eth0", "10.0.0.4/24")));
    let cni = runtime(&fake, d.path());
    cni.add_network_list(&three_plugins("1.0.0"), &rt())
        .unwrap();
    let calls = fake.calls();
    assert_eq!(
        calls[1].stdin["prevResult"],
        json!({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]})
    );
    assert_eq!(
        calls[2].stdin["prevResult"]["ips"][0]["address"],
        "10.0.0.3/24"
    );
}

#[test]
fn del_runs_in_reverse_with_cached_prev_result_and_removes_the_cache() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    scripted(&fake);
    let cni = runtime(&fake, d.path());
    let l = three_plugins("0.4.0");
    cni.add_network_list(&l, &rt()).unwrap();
    let cache_file = cni.cache_file(&l, &rt());
    assert!(cache_file.exists());
    fake.clear();
    cni.del_network_list(&l, &rt()).unwrap();
    let order: Vec<_> = fake.trace();
    assert_eq!(
        order,
        [
            ("last".into(), "DEL".into()),
            ("meta".into(), "DEL".into()),
            ("main".into(), "DEL".into())
        ]
    );
    for c in fake.calls() {
        assert_eq!(c.stdin["prevResult"]["cniVersion"], "0.4.0");
        assert_eq!(c.stdin["prevResult"]["ips"][0]["address"], "10.0.0.4/24");
        assert_eq!(c.stdin["prevResult"]["ips"][0]["version"], "4");
    }
    assert!(!cache_file.exists());
    // A second DEL succeeds, without prevResult.
    fake.clear();
    cni.del_network_list(&l, &rt()).unwrap();
    assert_eq!(fake.calls().len(), 3);
    assert!(
        fake.calls()
            .iter()
            .all(|c| c.stdin.get("prevResult").is_none())
    );
}

#[test]
fn del_before_0_4_0_sends_no_prev_result() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    scripted(&fake);
    let cni = runtime(&fake, d.path());
    let l = three_plugins("0.3.1");
    cni.add_network_list(&l, &rt()).unwrap();
    fake.clear();
    cni.del_network_list(&l, &rt()).unwrap();
    assert!(
        fake.calls()
            .iter()
            .all(|c| c.stdin.get("prevResult").is_none())
    );
    assert!(!cni.cache_file(&l, &rt()).exists());
}

#[test]
fn del_keeps_going_and_keeps_the_cache_when_a_plugin_fails() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    scripted(&fake);
    let cni = runtime(&fake, d.path());
    let l = three_plugins("1.0.0");
    cni.add_network_list(&l, &rt()).unwrap();
    fake.reply("meta", "DEL", Err(Error::plugin(120, "meta broke")));
    fake.clear();
    let e = cni.del_network_list(&l, &rt()).unwrap_err();
    assert_eq!(e.code, 120);
    assert!(
        e.msg.contains("plugin 2/3 type=\"meta\" failed (delete)"),
        "{}",
        e.msg
    );
    assert_eq!(fake.calls().len(), 3, "DEL went on to the first plugin");
    assert!(
        cni.cache_file(&l, &rt()).exists(),
        "a retry needs the cached result"
    );
}

#[test]
fn unreadable_cache_is_dropped_on_del() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path());
    let l = three_plugins("1.0.0");
    let path = cni.cache_file(&l, &rt());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"{garbage").unwrap();
    cni.del_network_list(&l, &rt()).unwrap();
    assert!(
        fake.calls()
            .iter()
            .all(|c| c.stdin.get("prevResult").is_none())
    );
    assert!(!path.exists());
}

#[test]
fn failed_add_rolls_back_in_reverse_and_caches_nothing() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    scripted(&fake);
    fake.reply("last", "ADD", Err(Error::plugin(101, "no more ports")));
    let cni = runtime(&fake, d.path());
    let l = three_plugins("1.0.0");
    let e = cni.add_network_list(&l, &rt()).unwrap_err();
    assert_eq!(e.code, 101);
    assert!(
        e.msg
            .contains("network \"net\": plugin 3/3 type=\"last\" failed (add): no more ports"),
        "{}",
        e.msg
    );
    assert!(e.details.contains("rolled back"), "{}", e.details);
    assert_eq!(
        fake.trace(),
        [
            ("main".into(), "ADD".into()),
            ("meta".into(), "ADD".into()),
            ("last".into(), "ADD".into()),
            ("last".into(), "DEL".into()),
            ("meta".into(), "DEL".into()),
            ("main".into(), "DEL".into()),
        ]
    );
    // The rollback DELs carry the last successful result and the same
    // runtime config as the ADD.
    let calls = fake.calls();
    for c in &calls[3..] {
        assert_eq!(c.stdin["prevResult"]["ips"][0]["address"], "10.0.0.3/24");
        assert_eq!(c.env["CNI_CONTAINERID"], "c1");
    }
    assert_eq!(
        calls[5].stdin["runtimeConfig"]["portMappings"][0]["hostPort"],
        8080
    );
    assert!(!cni.cache_file(&l, &rt()).exists());
}

#[test]
fn rollback_failures_are_reported_and_rollback_can_be_disabled() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    scripted(&fake);
    fake.reply("meta", "ADD", Err(Error::plugin(101, "boom")));
    fake.reply("main", "DEL", Err(Error::try_again("busy")));
    let cni = runtime(&fake, d.path());
    let l = three_plugins("1.0.0");
    let e = cni.add_network_list(&l, &rt()).unwrap_err();
    assert_eq!(e.code, 101);
    assert!(e.details.contains("rollback incomplete"), "{}", e.details);
    assert!(e.details.contains("busy"), "{}", e.details);

    fake.clear();
    let cni = cni.with_rollback_on_failed_add(false);
    cni.add_network_list(&l, &rt()).unwrap_err();
    assert_eq!(
        fake.trace(),
        [("main".into(), "ADD".into()), ("meta".into(), "ADD".into())]
    );
}

#[test]
fn add_refuses_bad_names_and_empty_results() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path());
    let l = three_plugins("1.0.0");
    for bad in [
        RuntimeConf::new("", "/n", "eth0"),
        RuntimeConf::new("../etc", "/n", "eth0"),
        RuntimeConf::new("c1", "/n", "a/b"),
        RuntimeConf::new("c1", "/n", "0123456789abcdef"),
    ] {
        let e = cni.add_network_list(&l, &bad).unwrap_err();
        assert!(matches!(e.code, 3 | 4), "{bad:?}: {e}");
    }
    let bad_name = list(json!({"cniVersion": "1.0.0", "name": "../x", "plugins": [{"type": "a"}]}));
    assert_eq!(cni.add_network_list(&bad_name, &rt()).unwrap_err().code, 7);
    assert!(fake.calls().is_empty());
    // A plugin that prints nothing on ADD.
    let e = cni.add_network_list(&l, &rt()).unwrap_err();
    assert!(e.msg.contains("printed no result"), "{}", e.msg);
}

#[test]
fn check_uses_the_cached_result_and_respects_version_and_disable_check() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    scripted(&fake);
    let cni = runtime(&fake, d.path());
    let l = three_plugins("1.0.0");
    let e = cni.check_network_list(&l, &rt()).unwrap_err();
    assert_eq!(e.code, 3, "no ADD yet: {e}");
    assert!(e.msg.contains("no cached result"), "{}", e.msg);
    cni.add_network_list(&l, &rt()).unwrap();
    fake.clear();
    cni.check_network_list(&l, &rt()).unwrap();
    let calls = fake.calls();
    assert_eq!(
        fake.trace()
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
        ["main", "meta", "last"]
    );
    for c in &calls {
        assert_eq!(c.command(), "CHECK");
        assert_eq!(c.stdin["prevResult"]["ips"][0]["address"], "10.0.0.4/24");
    }
    assert_eq!(
        calls[0].stdin["runtimeConfig"]["portMappings"][0]["hostPort"],
        8080
    );

    fake.reply("meta", "CHECK", Err(Error::plugin(100, "veth gone")));
    let e = cni.check_network_list(&l, &rt()).unwrap_err();
    assert!(
        e.msg.contains("type=\"meta\" failed (check): veth gone"),
        "{}",
        e.msg
    );

    let old = three_plugins("0.3.1");
    assert_eq!(cni.check_network_list(&old, &rt()).unwrap_err().code, 1);
    let mut disabled = l.clone();
    disabled.disable_check = true;
    fake.clear();
    cni.check_network_list(&disabled, &rt()).unwrap();
    assert!(fake.calls().is_empty());
}

#[test]
fn missing_plugin_is_named() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path()).with_rollback_on_failed_add(false);
    let l = list(json!({"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "missing"}]}));
    let e = cni.add_network_list(&l, &rt()).unwrap_err();
    assert!(
        e.msg.contains("plugin 1/1 type=\"missing\" failed (add)"),
        "{}",
        e.msg
    );
}
