//! GC, STATUS, validation and VERSION replies.

use serde_json::json;

use super::{FakeExec, list, result, runtime};
use crate::Error;
use crate::runtime::{ConfList, PluginInfo, RuntimeConf};
use crate::spec::Attachment;

fn net(version: &str) -> ConfList {
    list(json!({
        "cniVersion": version,
        "name": "net",
        "plugins": [
            {"type": "main", "capabilities": {"portMappings": true}},
            {"type": "meta"}
        ]
    }))
}

fn other() -> ConfList {
    list(json!({"cniVersion": "1.1.0", "name": "other", "plugins": [{"type": "main"}]}))
}

/// Cache attachments c1/eth0 and c2/eth0 on "net" and c3/eth0 on "other".
fn populate(fake: &FakeExec, cni: &crate::runtime::CniConfig, l: &ConfList) {
    fake.reply("main", "ADD", Ok(result("eth0", "10.0.0.2/24")))
        .reply("meta", "ADD", Ok(result("eth0", "10.0.0.2/24")));
    for cid in ["c1", "c2"] {
        let rt = RuntimeConf::new(cid, format!("/run/netns/{cid}"), "eth0")
            .with_arg("K", cid)
            .with_capability("portMappings", json!([{"hostPort": 1}]));
        cni.add_network_list(l, &rt).unwrap();
    }
    cni.add_network_list(&other(), &RuntimeConf::new("c3", "/run/netns/c3", "eth0"))
        .unwrap();
    fake.clear();
}

fn valid(cid: &str) -> Attachment {
    Attachment {
        container_id: cid.into(),
        ifname: "eth0".into(),
    }
}

#[test]
fn gc_deletes_stale_attachments_then_sends_gc_with_the_valid_list() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path());
    let l = net("1.1.0");
    populate(&fake, &cni, &l);
    cni.gc_network_list(&l, Some(&[valid("c1")])).unwrap();
    let calls = fake.calls();
    let trace = fake.trace();
    assert_eq!(
        trace,
        [
            ("meta".into(), "DEL".into()),
            ("main".into(), "DEL".into()),
            ("main".into(), "GC".into()),
            ("meta".into(), "GC".into()),
        ]
    );
    // The stale DEL uses what the cache recorded at ADD.
    for c in &calls[..2] {
        assert_eq!(c.env["CNI_CONTAINERID"], "c2");
        assert_eq!(c.env["CNI_NETNS"], "/run/netns/c2");
        assert_eq!(c.env["CNI_ARGS"], "K=c2");
        assert_eq!(c.stdin["prevResult"]["ips"][0]["address"], "10.0.0.2/24");
    }
    assert_eq!(
        calls[1].stdin["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 1}]})
    );
    // The GC payload: both keys, no attachment variables, no runtimeConfig.
    for c in &calls[2..] {
        let expect = json!([{"containerID": "c1", "ifname": "eth0"}]);
        assert_eq!(c.stdin["cni.dev/valid-attachments"], expect);
        assert_eq!(c.stdin["cni.dev/attachments"], expect);
        assert_eq!(c.stdin["name"], "net");
        assert_eq!(c.stdin["cniVersion"], "1.1.0");
        assert!(c.stdin.get("runtimeConfig").is_none());
        assert!(c.stdin.get("capabilities").is_none());
        assert_eq!(c.env["CNI_CONTAINERID"], "");
        assert_eq!(c.env["CNI_NETNS"], "");
        assert_eq!(c.env["CNI_IFNAME"], "");
    }
    let left: Vec<_> = cni
        .get_cached_attachments("")
        .unwrap()
        .into_iter()
        .map(|a| (a.network, a.container_id))
        .collect();
    assert_eq!(
        left,
        [("net".into(), "c1".into()), ("other".into(), "c3".into())]
    );
}

#[test]
fn gc_without_a_valid_list_deletes_every_attachment_of_the_network() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path());
    let l = net("1.1.0");
    populate(&fake, &cni, &l);
    cni.gc_network_list(&l, None).unwrap();
    let dels: Vec<_> = fake
        .calls()
        .iter()
        .filter(|c| c.command() == "DEL")
        .map(|c| c.env["CNI_CONTAINERID"].clone())
        .collect();
    assert_eq!(dels, ["c1", "c1", "c2", "c2"]);
    for c in fake.calls().iter().filter(|c| c.command() == "GC") {
        assert!(
            c.stdin.get("cni.dev/valid-attachments").is_none(),
            "{}",
            c.stdin
        );
    }
    assert_eq!(cni.get_cached_attachments("").unwrap().len(), 1);
}

#[test]
fn gc_before_1_1_0_only_deletes_and_disable_gc_does_nothing() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path());
    let l = net("1.0.0");
    populate(&fake, &cni, &l);
    let mut disabled = l.clone();
    disabled.disable_gc = true;
    cni.gc_network_list(&disabled, None).unwrap();
    assert!(fake.calls().is_empty());
    cni.gc_network_list(&l, Some(&[])).unwrap();
    assert!(fake.calls().iter().all(|c| c.command() == "DEL"));
    assert_eq!(fake.calls().len(), 4);
}

#[test]
fn gc_collects_every_failure() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path());
    let l = net("1.1.0");
    populate(&fake, &cni, &l);
    fake.reply("main", "DEL", Err(Error::plugin(100, "del failed")));
    fake.reply("meta", "GC", Err(Error::plugin(100, "gc failed")));
    let e = cni.gc_network_list(&l, None).unwrap_err();
    assert!(e.msg.contains("stale attachment c1 eth0"), "{}", e.msg);
    assert!(e.msg.contains("stale attachment c2 eth0"), "{}", e.msg);
    assert!(e.msg.contains("gc failed"), "{}", e.msg);
    assert_eq!(
        fake.calls().iter().filter(|c| c.command() == "GC").count(),
        2
    );
}

#[test]
fn status_only_from_1_1_0_and_stops_at_first_failure() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path());
    cni.get_status_network_list(&net("1.0.0")).unwrap();
    assert!(fake.calls().is_empty());
    cni.get_status_network_list(&net("1.1.0")).unwrap();
    assert_eq!(
        fake.trace(),
        [
            ("main".into(), "STATUS".into()),
            ("meta".into(), "STATUS".into())
        ]
    );
    assert!(fake.calls()[0].stdin.get("capabilities").is_none());
    fake.clear();
    fake.reply("main", "STATUS", Err(Error::not_available("no IPs left")));
    let e = cni.get_status_network_list(&net("1.1.0")).unwrap_err();
    assert_eq!(e.code, 50);
    assert!(
        e.msg.contains("type=\"main\" failed (status): no IPs left"),
        "{}",
        e.msg
    );
    assert_eq!(fake.calls().len(), 1);
}

#[test]
fn version_replies_including_legacy_forms() {
    let info =
        PluginInfo::decode(br#"{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}"#)
            .unwrap();
    assert!(info.supports(crate::Version::V1_0_0));
    assert!(!info.supports(crate::Version::V1_1_0));
    let old = PluginInfo::decode(br#"{"cniVersion":"0.2.0"}"#).unwrap();
    assert_eq!(old.supported_versions, ["0.1.0", "0.2.0"]);
    assert!(PluginInfo::decode(br#"{"cniVersion":"0.3.0"}"#).is_err());
    assert!(PluginInfo::decode(br#"{"supportedVersions":["0.3.0"]}"#).is_err());
    assert!(PluginInfo::decode(b"garbage").is_err());

    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    fake.reply(
        "ancient",
        "VERSION",
        Err(Error::new(4, "unknown CNI_COMMAND: VERSION")),
    );
    fake.reply(
        "main",
        "VERSION",
        Ok(json!({"cniVersion": "1.1.0", "supportedVersions": ["1.0.0", "1.1.0"]})),
    );
    let cni = runtime(&fake, d.path());
    assert_eq!(
        cni.get_version_info("ancient").unwrap().supported_versions,
        ["0.1.0"]
    );
    cni.get_version_info("main").unwrap();
    let c = &fake.calls()[1];
    assert_eq!(c.env["CNI_NETNS"], "dummy");
    assert_eq!(c.env["CNI_IFNAME"], "dummy");
    assert_eq!(c.env["CNI_PATH"], "dummy");
    assert_eq!(c.stdin, json!({"cniVersion": "1.1.0"}));
}

#[test]
fn validate_checks_versions_and_returns_capabilities() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let all = json!({"cniVersion": "1.1.0", "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]});
    fake.reply("main", "VERSION", Ok(all.clone()))
        .reply("meta", "VERSION", Ok(all));
    let cni = runtime(&fake, d.path());
    let l = list(json!({"cniVersion": "1.1.0", "name": "net", "plugins": [
        {"type": "main", "capabilities": {"portMappings": true, "ips": false}},
        {"type": "meta", "capabilities": {"bandwidth": true, "portMappings": true}}
    ]}));
    assert_eq!(
        cni.validate_network_list(&l).unwrap(),
        ["bandwidth", "portMappings"]
    );
    fake.reply(
        "meta",
        "VERSION",
        Ok(json!({"cniVersion": "1.0.0", "supportedVersions": ["1.0.0"]})),
    );
    let with_missing = list(json!({"cniVersion": "1.1.0", "name": "net", "plugins": [
        {"type": "missing"}, {"type": "meta"}
    ]}));
    let e = cni.validate_network_list(&with_missing).unwrap_err();
    assert!(e.msg.contains("2 errors"), "{}", e.msg);
    assert!(e.msg.contains("\"missing\""), "{}", e.msg);
    assert!(
        e.msg.contains("does not support config version \"1.1.0\""),
        "{}",
        e.msg
    );
}
