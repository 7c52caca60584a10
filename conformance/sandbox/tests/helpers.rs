//! The kit's shared helpers: what the crates' tests rely on them to read
//! (results, stores, firewall listings, VERSION replies) is read right.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use cni_sandbox::{
    PluginRun, Sandbox, answers_version, ipam_records, median, nft_family_rules, nft_rules,
    result_addresses, result_ip, supported_versions,
};
use serde_json::json;

fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn result_addresses_drop_the_prefix_and_keep_the_order() {
    let r = json!({"ips": [{"address": "10.1.0.5/24"}, {"address": "fd00::5/64"}]});
    assert_eq!(result_addresses(&r), ["10.1.0.5", "fd00::5"]);
    assert_eq!(result_ip(&r, true).to_string(), "10.1.0.5");
    assert_eq!(result_ip(&r, false).to_string(), "fd00::5");
}

#[test]
#[should_panic(expected = "no v6 address")]
fn result_ip_of_a_missing_family_panics() {
    result_ip(&json!({"ips": [{"address": "10.1.0.5/24"}]}), false);
}

#[test]
fn plugin_run_error_and_ips() {
    let err = PluginRun {
        code: 1,
        stdout: r#"{"code":7,"msg":"bad"}"#.into(),
        stderr: String::new(),
    };
    assert_eq!(err.expect_error(), (7, "bad".to_string()));
    let ok = PluginRun {
        code: 0,
        stdout: r#"{"ips":[{"address":"10.0.0.2/8"}]}"#.into(),
        stderr: String::new(),
    };
    assert_eq!(ok.ips(), ["10.0.0.2"]);
}

#[test]
fn ipam_records_are_the_files_named_by_an_address() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("10.1.0.2"), "c1\r\neth0").unwrap();
    std::fs::write(d.join("fd00::2"), "c2\r\neth0").unwrap();
    std::fs::write(d.join("last_reserved_ip.0"), "10.1.0.2").unwrap();
    std::fs::write(d.join("lock"), "").unwrap();
    std::fs::create_dir(d.join(".by-attachment")).unwrap();
    let recs = ipam_records(d);
    assert_eq!(
        recs.into_iter().collect::<Vec<_>>(),
        [
            ("10.1.0.2".to_string(), "c1\r\neth0".to_string()),
            ("fd00::2".to_string(), "c2\r\neth0".to_string())
        ]
    );
    assert!(ipam_records(&d.join("missing")).is_empty());
}

#[test]
#[should_panic(expected = "is not a regular file")]
fn an_ipam_record_that_is_not_a_file_panics() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("10.1.0.3")).unwrap();
    ipam_records(t.path());
}

#[test]
fn median_is_the_middle_sample() {
    let ms = Duration::from_millis;
    assert_eq!(median(&[ms(5), ms(1), ms(3)]), ms(3));
    assert_eq!(median(&[ms(4), ms(1), ms(3), ms(2)]), ms(3));
}

#[test]
fn the_version_probe_reads_supported_versions() {
    let t = tempfile::tempdir().unwrap();
    let plugin = script(
        t.path(),
        "plugin",
        r#"[ "$CNI_COMMAND" = VERSION ] && echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'"#,
    );
    assert_eq!(supported_versions(&plugin).unwrap(), ["0.4.0", "1.0.0"]);
    assert!(answers_version(&plugin));
    let placeholder = script(t.path(), "placeholder", "echo not a plugin");
    assert_eq!(supported_versions(&placeholder), None);
    assert!(!answers_version(&t.path().join("missing")));
}

#[test]
fn nft_rules_of_one_chain() {
    let sb = Sandbox::new();
    sb.host.sh_ok(
        "nft add table inet kit && nft add chain inet kit a && nft add chain inet kit b && \
         nft add table ip kit && nft add chain ip kit a && \
         nft add rule inet kit a counter comment '\"one\"' && \
         nft add rule inet kit b counter && nft add rule ip kit a counter",
    );
    let a = nft_rules(&sb.host, "kit", "a");
    assert_eq!(a.len(), 2, "{a:?}");
    let inet = nft_family_rules(&sb.host, "inet", "kit", "a");
    assert_eq!(inet.len(), 1, "{inet:?}");
    assert_eq!(inet[0]["comment"], "one");
    assert!(nft_rules(&sb.host, "kit", "none").is_empty());
}

#[test]
fn a_direct_command_gets_only_the_given_env() {
    let t = tempfile::tempdir().unwrap();
    let plugin = script(
        t.path(),
        "plugin",
        r#"echo "$CNI_COMMAND ${HOME:-nohome} $(cat)""#,
    );
    let mut child = cni_sandbox::Call::new("DEL")
        .command(&plugin)
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"in").unwrap();
    let run = PluginRun::from_output(&child.wait_with_output().unwrap());
    assert!(run.ok(), "{run:?}");
    assert_eq!(run.stdout, "DEL nohome in\n");
}
