//! The node allowlist `/etc/cni/tuning/allowlist.conf`, whose path is
//! fixed (no config key or variable can move it: it is the operator's
//! control). To give the plugin a test allowlist without writing to the
//! machine's /etc, each call runs in a private mount namespace (unshare)
//! in which /etc is an overlay whose upper layer is a tmpfs: the file
//! exists only for that process and vanishes with it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

const CID: &str = "al";
const REAL: &str = "/etc/cni/tuning/allowlist.conf";

/// A wrapper that runs our plugin with `allowlist` (file content, or a
/// directory when None) as the node's allowlist.
fn wrapped(node: &Node, allowlist: Option<&str>) -> PathBuf {
    let dir = node.sb.subdir("allowlist");
    std::fs::create_dir_all(dir.join("ovl")).unwrap();
    let install = match allowlist {
        Some(text) => {
            std::fs::write(dir.join("allowlist.conf"), text).unwrap();
            "cp \"$0/allowlist.conf\" /etc/cni/tuning/allowlist.conf"
        }
        None => "mkdir /etc/cni/tuning/allowlist.conf",
    };
    let script = format!(
        "#!/bin/sh\n\
         exec unshare --mount --propagation private sh -c '\n\
         set -e\n\
         mount -t tmpfs tuning-test \"$0/ovl\"\n\
         mkdir \"$0/ovl/up\" \"$0/ovl/work\"\n\
         mount -t overlay overlay -o lowerdir=/etc,upperdir=\"$0/ovl/up\",workdir=\"$0/ovl/work\" /etc\n\
         mkdir -p /etc/cni/tuning\n\
         {install}\n\
         exec \"$1\"\n\
         ' \"{dir}\" \"{plugin}\"\n",
        dir = dir.display(),
        plugin = ours().display()
    );
    let path = dir.join("tuning-with-allowlist");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn add(node: &Node, bin: &Path, sysctl: Value) -> cni_sandbox::PluginRun {
    node.exec(bin, "ADD", CID, &node.conf(json!({"sysctl": sysctl})))
}

#[test]
fn keys_must_match_a_line_unanchored_on_the_raw_key() {
    let real_before = Path::new(REAL).exists();
    let node = Node::new();
    let bin = wrapped(
        &node,
        Some("^net\\.ipv4\\.conf\\.IFNAME\\.arp_notify$\n\n  somaxconn \n"),
    );
    // Matched before IFNAME is replaced, and unanchored.
    add(
        &node,
        &bin,
        json!({"net.ipv4.conf.IFNAME.arp_notify": "1", "net.core.somaxconn": "555"}),
    )
    .expect_ok();
    assert_eq!(node.sysctl("net/ipv4/conf/eth0/arp_notify"), "1");
    assert_eq!(node.sysctl("net/core/somaxconn"), "555");

    let node2 = Node::new();
    let bin2 = wrapped(&node2, Some("somaxconn\n"));
    let before = node2.sysctl("net/core/somaxconn");
    let (code, msg) = add(
        &node2,
        &bin2,
        json!({"net.core.somaxconn": "556", "net.ipv4.conf.eth0.arp_notify": "1"}),
    )
    .expect_error();
    assert_eq!(code, 7);
    assert!(
        msg.starts_with("Sysctl net.ipv4.conf.eth0.arp_notify is not allowed"),
        "{msg}"
    );
    assert!(msg.contains(REAL), "{msg}");
    assert_eq!(node2.sysctl("net/core/somaxconn"), before);
    assert_eq!(node2.sysctl("net/ipv4/conf/eth0/arp_notify"), "0");
    // args.cni.sysctl keys are checked too.
    let conf = node2.conf(json!({"args": {"cni": {"sysctl": {"net.ipv4.ip_forward": "1"}}}}));
    let (code, _) = node2.exec(&bin2, "ADD", CID, &conf).expect_error();
    assert_eq!(code, 7);
    // A config without sysctls does not need the allowlist.
    node2
        .exec(&bin2, "ADD", CID, &node2.conf(json!({"mtu": 1400})))
        .expect_ok();
    // Nothing reached the machine's /etc.
    assert_eq!(Path::new(REAL).exists(), real_before);
}

#[test]
fn an_unreadable_or_invalid_allowlist_fails_with_its_own_code() {
    let node = Node::new();
    let bin = wrapped(&node, None);
    let (code, msg) = add(&node, &bin, json!({"net.core.somaxconn": "557"})).expect_error();
    assert_eq!(code, 110, "{msg}");
    assert!(msg.contains("cannot be read"), "{msg}");
    let node = Node::new();
    let bin = wrapped(&node, Some("net.(\n"));
    let (code, msg) = add(&node, &bin, json!({"net.core.somaxconn": "557"})).expect_error();
    assert_eq!(code, 110, "{msg}");
    assert!(msg.contains("not a valid regular expression"), "{msg}");
    // STATUS says so too.
    let conf = json!({"cniVersion": "1.1.0", "name": NET, "type": "tuning",
                      "sysctl": {"net.core.somaxconn": "1"}});
    let call = cni_sandbox::Call::new("STATUS").env("CNI_PATH", "/nonexistent");
    let (code, msg) = node.run(&bin, &call, &conf).expect_error();
    assert_eq!(code, 50, "{msg}");
}
