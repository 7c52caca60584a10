//! Configuration directory search: order, plugin files, fallbacks, and
//! files that do not parse.

use std::path::Path;

use serde_json::json;

use crate::Version;
use crate::runtime::{ConfList, list_networks, load_conf_list};

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn types(list: &ConfList) -> Vec<&str> {
    list.plugins
        .iter()
        .map(|p| p.plugin_type.as_str())
        .collect()
}

#[test]
fn first_conflist_by_file_name_wins() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "20-a.conflist",
        r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"second"}]}"#,
    );
    write(
        d.path(),
        "10-z.conflist",
        r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"first"}]}"#,
    );
    write(
        d.path(),
        "05-other.conflist",
        r#"{"cniVersion":"1.0.0","name":"other","plugins":[{"type":"x"}]}"#,
    );
    let loaded = load_conf_list(d.path(), "net").unwrap();
    assert_eq!(types(&loaded.list), ["first"]);
    assert_eq!(
        loaded.list.source.as_deref(),
        Some(d.path().join("10-z.conflist").as_path())
    );
    assert!(loaded.warnings.is_empty());
}

#[test]
fn unparsable_file_is_skipped_with_a_warning_naming_it() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "00-broken.conflist", "{ not json");
    write(
        d.path(),
        "01-noname.conflist",
        r#"{"cniVersion":"1.0.0","plugins":[{"type":"x"}]}"#,
    );
    write(
        d.path(),
        "10-net.conflist",
        r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"good"}]}"#,
    );
    let loaded = load_conf_list(d.path(), "net").unwrap();
    assert_eq!(types(&loaded.list), ["good"]);
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].contains("00-broken.conflist"),
        "{:?}",
        loaded.warnings
    );
    assert!(
        loaded.warnings[1].contains("01-noname.conflist"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn not_found_errors_use_libcni_wording_and_mention_skipped_files() {
    let empty = tempfile::tempdir().unwrap();
    let e = load_conf_list(empty.path(), "net").unwrap_err();
    assert!(
        e.msg.starts_with("no net configurations found in"),
        "{}",
        e.msg
    );
    let missing = load_conf_list(&empty.path().join("nope"), "net").unwrap_err();
    assert!(
        missing.msg.starts_with("no net configurations found in"),
        "{}",
        missing.msg
    );

    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "10-x.conflist",
        r#"{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"a"}]}"#,
    );
    write(d.path(), "20-bad.conflist", "[]");
    let e = load_conf_list(d.path(), "net").unwrap_err();
    assert!(
        e.msg
            .starts_with("no net configuration with name \"net\" in"),
        "{}",
        e.msg
    );
    assert!(e.msg.contains("20-bad.conflist"), "{}", e.msg);
}

#[test]
fn plugin_files_from_the_network_directory_are_appended_in_order() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "10-net.conflist",
        r#"{"cniVersion":"1.1.0","name":"net","plugins":[{"type":"inline"}]}"#,
    );
    write(d.path(), "net/20-b.conf", r#"{"type":"b"}"#);
    write(
        d.path(),
        "net/10-a.conf",
        r#"{"type":"a","capabilities":{"portMappings":true}}"#,
    );
    write(
        d.path(),
        "net/30-ignored.json",
        r#"{"type":"json-is-not-loaded"}"#,
    );
    let list = load_conf_list(d.path(), "net").unwrap().list;
    assert_eq!(types(&list), ["inline", "a", "b"]);
    assert_eq!(
        list.plugins[1].source.as_deref(),
        Some(d.path().join("net/10-a.conf").as_path())
    );
    assert_eq!(list.capabilities(), ["portMappings"]);
}

#[test]
fn list_without_plugins_array_takes_them_from_the_directory() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "10-net.conflist",
        r#"{"cniVersion":"1.1.0","name":"net"}"#,
    );
    write(d.path(), "net/10-a.conf", r#"{"type":"a"}"#);
    assert_eq!(types(&load_conf_list(d.path(), "net").unwrap().list), ["a"]);
    // ...and with none there either, the network is unusable: an error.
    write(
        d.path(),
        "10-empty.conflist",
        r#"{"cniVersion":"1.1.0","name":"empty"}"#,
    );
    let e = load_conf_list(d.path(), "empty").unwrap_err();
    assert!(e.msg.contains("no plugin configs found"), "{}", e.msg);
}

#[test]
fn load_only_inlined_plugins_ignores_the_directory() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "10-net.conflist",
        r#"{"cniVersion":"1.1.0","name":"net","loadOnlyInlinedPlugins":"true","plugins":[{"type":"inline"}]}"#,
    );
    write(d.path(), "net/10-a.conf", r#"{"type":"a"}"#);
    assert_eq!(
        types(&load_conf_list(d.path(), "net").unwrap().list),
        ["inline"]
    );
    let e =
        ConfList::from_bytes(br#"{"cniVersion":"1.1.0","name":"n","loadOnlyInlinedPlugins":true}"#)
            .unwrap_err();
    assert!(e.msg.contains("loadOnlyInlinedPlugins"), "{}", e.msg);
}

#[test]
fn broken_plugin_file_of_the_requested_network_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "10-net.conflist",
        r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"a"}]}"#,
    );
    write(d.path(), "net/10-bad.conf", r#"{"notype":1}"#);
    // Another network is unaffected by it.
    write(
        d.path(),
        "20-other.conflist",
        r#"{"cniVersion":"1.0.0","name":"other","plugins":[{"type":"o"}]}"#,
    );
    let e = load_conf_list(d.path(), "net").unwrap_err();
    assert!(e.msg.contains("10-bad.conf"), "{}", e.msg);
    assert_eq!(
        types(&load_conf_list(d.path(), "other").unwrap().list),
        ["o"]
    );
}

#[test]
fn single_plugin_files_are_the_fallback_and_are_upgraded() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "10-net.conf",
        r#"{"cniVersion":"0.3.1","name":"net","type":"bridge","bridge":"br0"}"#,
    );
    write(
        d.path(),
        "20-js.json",
        r#"{"cniVersion":"0.4.0","name":"js","type":"ptp"}"#,
    );
    write(
        d.path(),
        "05-list.conflist",
        r#"{"cniVersion":"1.0.0","name":"shadow","plugins":[{"type":"fromlist"}]}"#,
    );
    write(
        d.path(),
        "06-shadow.conf",
        r#"{"cniVersion":"1.0.0","name":"shadow","type":"fromconf"}"#,
    );
    let list = load_conf_list(d.path(), "net").unwrap().list;
    assert_eq!(list.cni_version, Version::V0_3_1);
    assert_eq!(types(&list), ["bridge"]);
    // The bytes libcni builds for an upgraded conf (Go sorts map keys).
    assert_eq!(
        String::from_utf8(list.bytes.clone()).unwrap(),
        r#"{"cniVersion":"0.3.1","name":"net","plugins":[{"bridge":"br0","cniVersion":"0.3.1","name":"net","type":"bridge"}]}"#
    );
    assert_eq!(
        types(&load_conf_list(d.path(), "js").unwrap().list),
        ["ptp"]
    );
    // A conflist wins over a single file of the same name.
    assert_eq!(
        types(&load_conf_list(d.path(), "shadow").unwrap().list),
        ["fromlist"]
    );
}

#[test]
fn directories_and_other_extensions_are_ignored() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("dir.conflist")).unwrap();
    write(
        d.path(),
        "10-net.conflist.bak",
        r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"bak"}]}"#,
    );
    write(
        d.path(),
        "20-net.conflist",
        r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"real"}]}"#,
    );
    let loaded = load_conf_list(d.path(), "net").unwrap();
    assert_eq!(types(&loaded.list), ["real"]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn cni_versions_picks_the_newest_supported_including_cni_version() {
    let l = ConfList::from_bytes(br#"{"name":"n","cniVersion":"0.4.0","cniVersions":["1.0.0","1.1.0","9.9.9"],"plugins":[{"type":"a"}]}"#).unwrap();
    assert_eq!(l.cni_version, Version::V1_1_0);
    let l = ConfList::from_bytes(
        br#"{"name":"n","cniVersion":"1.1.0","cniVersions":["0.4.0"],"plugins":[{"type":"a"}]}"#,
    )
    .unwrap();
    assert_eq!(l.cni_version, Version::V1_1_0);
    let e =
        ConfList::from_bytes(br#"{"name":"n","cniVersions":["9.9.9"],"plugins":[{"type":"a"}]}"#)
            .unwrap_err();
    assert_eq!(e.code, 1);
    let l = ConfList::from_bytes(br#"{"name":"n","plugins":[{"type":"a"}]}"#).unwrap();
    assert_eq!(l.cni_version, Version::V0_1_0);
}

#[test]
fn bad_lists_are_rejected_with_the_reason() {
    for (text, needle) in [
        (r#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#, "empty"),
        (
            r#"{"cniVersion":"1.0.0","name":"n","plugins":{}}"#,
            "plugins",
        ),
        (
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"name":"x"}]}"#,
            "type",
        ),
        (
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a","capabilities":{"x":"yes"}}]}"#,
            "capabilities",
        ),
        (
            r#"{"cniVersion":"1.0.0","name":5,"plugins":[{"type":"a"}]}"#,
            "name",
        ),
        (
            r#"{"cniVersion":"7.0.0","name":"n","plugins":[{"type":"a"}]}"#,
            "7.0.0",
        ),
        (
            r#"{"cniVersion":"1.0.0","name":"n","disableCheck":"maybe","plugins":[{"type":"a"}]}"#,
            "disableCheck",
        ),
    ] {
        let e = ConfList::from_bytes(text.as_bytes()).unwrap_err();
        assert!(e.msg.contains(needle), "{text}: {}", e.msg);
    }
}

#[test]
fn list_networks_reports_networks_and_skipped_files() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "10-a.conflist",
        r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"bridge"},{"type":"portmap"}]}"#,
    );
    write(
        d.path(),
        "20-a.conflist",
        r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"dup"}]}"#,
    );
    write(d.path(), "30-bad.conflist", "nope");
    write(
        d.path(),
        "40-b.conf",
        r#"{"cniVersion":"0.4.0","name":"b","type":"ptp"}"#,
    );
    let l = list_networks(d.path()).unwrap();
    let names: Vec<_> = l
        .networks
        .iter()
        .map(|n| (n.name.as_str(), n.single_plugin_file))
        .collect();
    assert_eq!(names, [("a", false), ("b", true)]);
    assert_eq!(l.networks[0].plugins, ["bridge", "portmap"]);
    assert_eq!(l.skipped.len(), 2);
    assert!(l.skipped[0].file.ends_with("20-a.conflist"));
    assert!(
        l.skipped[0].reason.contains("10-a.conflist"),
        "{}",
        l.skipped[0].reason
    );
    assert!(l.skipped[1].file.ends_with("30-bad.conflist"));
    assert_eq!(json!(l.networks[1].cni_version), json!("0.4.0"));
}
