//! The runtime side of libcni running real processes (shell-script plugins
//! in a temp dir): how replies, errors and VERSION answers of every era are
//! read, plugin lookup, the "text file busy" retry. No root needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use libcni::runtime::{CniConfig, ConfList, DefaultExec, Exec, RuntimeConf, version_info};
use serde_json::json;

fn script(dir: &Path, name: &str, body: &str) {
    let tmp = dir.join(format!(".{name}"));
    std::fs::write(&tmp, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

fn one(plugin: &str) -> ConfList {
    ConfList::from_bytes(
        json!({"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": plugin}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
}

fn setup() -> (tempfile::TempDir, CniConfig) {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("bin")).unwrap();
    let cni = CniConfig::new([d.path().join("bin")])
        .with_cache_dir(d.path().join("cache"))
        .with_rollback_on_failed_add(false);
    (d, cni)
}

fn rt() -> RuntimeConf {
    RuntimeConf::new("c1", "/run/netns/x", "eth0")
}

#[test]
fn result_read_from_stdout_and_environment_set() {
    let (d, cni) = setup();
    // The reply is built from what the plugin received.
    script(
        &d.path().join("bin"),
        "echoer",
        r#"in=$(cat)
printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"10.0.0.2/24"}],"dns":{"domain":"%s-%s-%s"}}' \
  "$CNI_IFNAME" "$CNI_NETNS" "$CNI_COMMAND" "$CNI_CONTAINERID" "${CNI_ARGS:-none}""#,
    );
    let r = cni.add_network_list(&one("echoer"), &rt()).unwrap();
    assert_eq!(r.interfaces[0].name, "eth0");
    assert_eq!(r.interfaces[0].sandbox, "/run/netns/x");
    assert_eq!(r.dns.domain, "ADD-c1-none");
}

#[test]
fn errors_come_from_stdout_json_else_stderr() {
    let (d, cni) = setup();
    let bin = d.path().join("bin");
    script(
        &bin,
        "json-err",
        r#"echo '{"code":11,"msg":"try later","details":"lock held"}'; exit 1"#,
    );
    script(
        &bin,
        "stderr-err",
        "echo 'cannot open /dev/thing' >&2; exit 2",
    );
    script(&bin, "silent-err", "exit 3");
    script(&bin, "garbage", "echo 'not json'; exit 1");
    let e = cni.add_network_list(&one("json-err"), &rt()).unwrap_err();
    assert_eq!((e.code, e.details.as_str()), (11, "lock held"));
    assert!(
        e.msg.contains("type=\"json-err\" failed (add): try later"),
        "{}",
        e.msg
    );
    let e = cni.add_network_list(&one("stderr-err"), &rt()).unwrap_err();
    assert!(e.msg.contains("cannot open /dev/thing"), "{}", e.msg);
    let e = cni.add_network_list(&one("silent-err"), &rt()).unwrap_err();
    assert!(e.msg.contains("without an error message"), "{}", e.msg);
    let e = cni.add_network_list(&one("garbage"), &rt()).unwrap_err();
    assert!(e.msg.contains("not json"), "{}", e.msg);
}

#[test]
fn version_replies_of_every_era() {
    let (d, cni) = setup();
    let bin = d.path().join("bin");
    // Spec 0.1.0 plugins had no VERSION verb.
    script(
        &bin,
        "v010",
        r#"echo '{"code":4,"msg":"unknown CNI_COMMAND: VERSION"}'; exit 1"#,
    );
    // 0.2.0 plugins answered without supportedVersions.
    script(&bin, "v020", r#"echo '{"cniVersion":"0.2.0"}'"#);
    script(
        &bin,
        "modern",
        r#"[ "$CNI_COMMAND" = VERSION ] && [ "$CNI_NETNS" = dummy ] && cat >/dev/null && echo '{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}'"#,
    );
    assert_eq!(
        cni.get_version_info("v010").unwrap().supported_versions,
        ["0.1.0"]
    );
    assert_eq!(
        cni.get_version_info("v020").unwrap().supported_versions,
        ["0.1.0", "0.2.0"]
    );
    let info = version_info(&DefaultExec, &bin.join("modern")).unwrap();
    assert_eq!(info.supported_versions, ["1.0.0", "1.1.0"]);
    // validate: v020 cannot run a 1.0.0 list.
    let list = ConfList::from_bytes(
        br#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"modern","capabilities":{"mac":true}},{"type":"v020"}]}"#,
    )
    .unwrap();
    let e = cni.validate_network_list(&list).unwrap_err();
    assert!(
        e.msg
            .contains("plugin 2/2 type=\"v020\" does not support config version \"1.0.0\""),
        "{}",
        e.msg
    );
}

#[test]
fn plugin_lookup_follows_cni_path_order_and_refuses_paths() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    script(&b, "p", "exit 0");
    script(&a, "p", "exit 0");
    assert_eq!(
        DefaultExec
            .find_in_path("p", &[a.clone(), b.clone()])
            .unwrap(),
        a.join("p")
    );
    assert_eq!(
        DefaultExec
            .find_in_path("p", &[b.clone(), a.clone()])
            .unwrap(),
        b.join("p")
    );
    for bad in ["../a/p", "a/p", "/bin/sh"] {
        assert_eq!(
            DefaultExec
                .find_in_path(bad, std::slice::from_ref(&a))
                .unwrap_err()
                .code,
            7,
            "{bad}"
        );
    }
    let cni = CniConfig::new([a.clone()]).with_cache_dir(d.path().join("c"));
    let e = cni.add_network_list(&one("nope"), &rt()).unwrap_err();
    assert!(
        e.msg.contains("type=\"nope\" failed (add)") && e.msg.contains("failed to find plugin"),
        "{}",
        e.msg
    );
}

#[test]
fn retries_while_the_binary_is_being_written() {
    let (d, cni) = setup();
    let path = d.path().join("bin/busy");
    // Keep the binary open for writing: exec fails with ETXTBSY until the
    // writer closes it, and the runtime retries (once a second, 6 times).
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&path)
        .unwrap();
    f.write_all(
        b"#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.7/24\"}]}'\n",
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let list = one("busy");
    let worker = std::thread::spawn(move || {
        tx.send(()).unwrap();
        cni.add_network_list(&list, &rt())
    });
    rx.recv().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(f);
    let r = worker.join().unwrap().unwrap();
    assert_eq!(r.ips[0].address.to_string(), "10.0.0.7/24");
}
