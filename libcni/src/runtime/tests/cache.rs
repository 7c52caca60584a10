//! The result cache: libcni's format and place, both directions, and the
//! result printed like upstream cnitool.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};

use super::{FakeExec, list, result, runtime};
use crate::Version;
use crate::runtime::{
    CacheEntry, CacheFile, ConfList, RuntimeConf, cache_file_path, result_to_go_pretty,
    result_value_to_go_pretty,
};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/cache");

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(TESTDATA).join(name)).unwrap()
}

#[test]
fn written_entry_has_libcni_layout_modes_and_fields() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    fake.reply("main", "ADD", Ok(result("eth0", "10.0.0.2/24")));
    let cni = runtime(&fake, d.path());
    let l = list(json!({"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "main"}]}));
    let rt = RuntimeConf::new("c1", "/run/netns/p", "eth0")
        .with_arg("A", "b")
        .with_capability("portMappings", json!([]));
    cni.add_network_list(&l, &rt).unwrap();
    let path = d.path().join("cache/results/net-c1-eth0");
    assert_eq!(cni.cache_file(&l, &rt), path);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    // No temp file left beside it.
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
    let text = std::fs::read_to_string(&path).unwrap();
    // Field order as libcni writes it.
    let keys = [
        "\"kind\"",
        "\"containerId\"",
        "\"config\"",
        "\"ifName\"",
        "\"networkName\"",
        "\"netns\"",
        "\"cniArgs\"",
        "\"capabilityArgs\"",
        "\"result\"",
    ];
    let pos: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["kind"], "cniCacheV1");
    assert_eq!(v["containerId"], "c1");
    assert_eq!(v["ifName"], "eth0");
    assert_eq!(v["networkName"], "net");
    assert_eq!(v["netns"], "/run/netns/p");
    assert_eq!(v["cniArgs"], json!([["A", "b"]]));
    assert_eq!(v["capabilityArgs"], json!({"portMappings": []}));
    assert_eq!(v["result"]["ips"][0]["address"], "10.0.0.2/24");
    // config is the list bytes as Go encodes a []byte: standard base64.
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(v["config"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, l.bytes);
}

#[test]
fn entry_round_trips_and_empty_fields_are_omitted_like_go() {
    let e = CacheEntry {
        kind: "cniCacheV1".into(),
        container_id: "c".into(),
        config: b"{\"name\":\"n\"}\n".to_vec(),
        ifname: "eth0".into(),
        network_name: "n".into(),
        netns: String::new(),
        cni_args: vec![],
        capability_args: Default::default(),
        result: Some(json!({"cniVersion": "1.0.0"})),
    };
    let text = serde_json::to_string(&e).unwrap();
    assert_eq!(
        text,
        r#"{"kind":"cniCacheV1","containerId":"c","config":"eyJuYW1lIjoibiJ9Cg==","ifName":"eth0","networkName":"n","result":{"cniVersion":"1.0.0"}}"#
    );
    match crate::runtime::cache::parse_file(text.as_bytes()).unwrap() {
        CacheFile::V1(back) => assert_eq!(*back, e),
        other => panic!("{other:?}"),
    }
    // Go writes nil slices and maps as null when not omitted.
    let with_nulls = r#"{"kind":"cniCacheV1","containerId":"c","config":null,"ifName":"eth0","networkName":"n","cniArgs":null,"capabilityArgs":null}"#;
    assert!(matches!(
        crate::runtime::cache::parse_file(with_nulls.as_bytes()).unwrap(),
        CacheFile::V1(_)
    ));
    assert!(crate::runtime::cache::parse_file(br#"{"kind":"cniCacheV9"}"#).is_err());
}

#[test]
fn reads_a_cache_file_written_by_upstream_libcni() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path());
    let conflist = testdata("upstream-libcni-1.1.2.conflist");
    let l = ConfList::from_bytes(&conflist).unwrap();
    let rt = RuntimeConf::new(
        "cnitool-37badda368df9804e3dc",
        "/run/netns/cnit-manual-pod",
        "eth0",
    );
    let path = cni.cache_file(&l, &rt);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, testdata("upstream-libcni-1.1.2-v1.json")).unwrap();

    let r = cni
        .get_network_list_cached_result(&l, &rt)
        .unwrap()
        .unwrap();
    assert_eq!(r.interfaces.len(), 3);
    assert_eq!(r.interfaces[2].name, "eth0");
    assert_eq!(r.interfaces[2].sandbox, "/run/netns/cnit-manual-pod");
    assert_eq!(r.ips[0].address.to_string(), "10.88.7.2/24");
    assert_eq!(r.ips[0].interface, Some(2));

    let (bytes, crt) = cni
        .get_network_list_cached_config(&l, &rt)
        .unwrap()
        .unwrap();
    assert_eq!(
        bytes, conflist,
        "the cached config is the conflist file's bytes"
    );
    assert_eq!(
        crt.args,
        [
            ("IgnoreUnknown".to_string(), "1".to_string()),
            ("K8S_POD_NAME".into(), "web".into())
        ]
    );
    assert_eq!(crt.capability_args["portMappings"][0]["hostPort"], 18080);

    let atts = cni
        .get_cached_attachments("cnitool-37badda368df9804e3dc")
        .unwrap();
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].network, "realnet");
    assert_eq!(atts[0].netns, "", "libcni 1.1.2 does not record the netns");
    assert!(cni.get_cached_attachments("other").unwrap().is_empty());

    // DEL of the upstream attachment hands its cached result to every plugin.
    cni.del_network_list(&l, &rt).unwrap();
    for c in fake.calls() {
        assert_eq!(c.stdin["prevResult"]["ips"][0]["address"], "10.88.7.2/24");
        assert_eq!(c.stdin["prevResult"]["cniVersion"], "0.4.0");
    }
    assert!(!path.exists());
}

#[test]
fn reads_the_legacy_raw_result_form() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeExec::default();
    let cni = runtime(&fake, d.path());
    let l = list(json!({"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "main"}]}));
    let rt = RuntimeConf::new("c1", "", "eth0");
    let path = cache_file_path(cni.cache_dir(), "net", "c1", "eth0");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        br#"{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.1.0.5/16"}]}"#,
    )
    .unwrap();
    let r = cni
        .get_network_list_cached_result(&l, &rt)
        .unwrap()
        .unwrap();
    assert_eq!(r.ips[0].address.to_string(), "10.1.0.5/16");
    // Converted to the list's version for the plugins.
    cni.del_network_list(&l, &rt).unwrap();
    assert_eq!(
        fake.calls()[0].stdin["prevResult"],
        json!({"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.5/16"}]})
    );
    // A legacy file is not an attachment (no names in it).
    std::fs::write(&path, br#"{"cniVersion":"0.3.1"}"#).unwrap();
    assert!(cni.get_cached_attachments("").unwrap().is_empty());
    assert!(
        cni.get_network_list_cached_config(&l, &rt)
            .unwrap()
            .is_none()
    );
}

#[test]
fn prints_results_byte_for_byte_like_upstream_cnitool() {
    let entry = testdata("upstream-libcni-1.1.2-v1.json");
    let v: Value = serde_json::from_slice(&entry).unwrap();
    let (r, ver) = crate::CniResult::parse(&v["result"], Version::V0_4_0).unwrap();
    let expected = String::from_utf8(testdata("upstream-cnitool-1.1.2-add.out")).unwrap();
    assert_eq!(result_to_go_pretty(&r, ver).unwrap(), expected);
}

#[test]
fn go_style_printing_escapes_and_orders_like_go() {
    let v = json!({"cniVersion": "1.1.0", "zeta": "<&>", "ips": [{"gateway": "10.0.0.1", "address": "10.0.0.2/24", "interface": 0}], "interfaces": []});
    assert_eq!(
        result_value_to_go_pretty(&v),
        "{\n    \"cniVersion\": \"1.1.0\",\n    \"interfaces\": [],\n    \"ips\": [\n        {\n            \"interface\": 0,\n            \"address\": \"10.0.0.2/24\",\n            \"gateway\": \"10.0.0.1\"\n        }\n    ],\n    \"dns\": {},\n    \"zeta\": \"\\u003c\\u0026\\u003e\"\n}"
    );
    let legacy = json!({"cniVersion": "0.2.0", "ip4": {"routes": [{"gw": "1.1.1.1", "dst": "0.0.0.0/0"}], "ip": "10.0.0.2/24"}});
    assert_eq!(
        result_value_to_go_pretty(&legacy),
        "{\n    \"cniVersion\": \"0.2.0\",\n    \"ip4\": {\n        \"ip\": \"10.0.0.2/24\",\n        \"routes\": [\n            {\n                \"dst\": \"0.0.0.0/0\",\n                \"gw\": \"1.1.1.1\"\n            }\n        ]\n    },\n    \"dns\": {}\n}"
    );
}
