//! GC (spec 1.1.0; the reference has none and leaks `bwp*` devices): the
//! ifb of an attachment whose DEL never ran, and whose veth is gone, is
//! deleted; the ifbs of valid attachments, of live attachments of other
//! networks, and links that are not this plugin's stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::{Call, PluginRun, Sandbox, plugin_dir};
use common::*;
use serde_json::{Value, json};

fn gc(sb: &Sandbox, c: &Value) -> PluginRun {
    Call::new("GC")
        .env("CNI_PATH", &plugin_dir().to_string_lossy())
        .run(&sb.host, &ours(), &c.to_string())
}

fn valid(cids: &[&str]) -> Value {
    Value::Array(
        cids.iter()
            .map(|c| json!({"containerID": c, "ifname": "eth0"}))
            .collect(),
    )
}

#[test]
fn removes_orphaned_ifbs_only() {
    let sb = Sandbox::new();
    let limits = both(8_000_000, 800_000, 8_000_000, 800_000);
    let add = |veth: &str, cid: &str, bin: &std::path::Path, net: &str| {
        let pod = Pod::new(&sb, veth, cid, None);
        let mut c = conf("1.0.0", limits.clone());
        c["name"] = json!(net);
        pod.call(&sb, bin, "ADD", &c).expect_ok();
        pod
    };
    let live = add("bwveth0", "gc-live", &ours(), NET);
    let gone = add("bwveth1", "gc-gone", &ours(), NET);
    let gone_ref = add("bwveth2", "gc-gone-ref", &reference(), NET);
    let listed = add("bwveth3", "gc-listed", &ours(), NET);
    let other_net = add("bwveth4", "gc-other", &ours(), "othernet");
    let other_ifb = cni_bandwidth::ifb::name("othernet", "gc-other");
    // Pods that went away without DEL: the veth (and its filter) is gone.
    for p in [&gone, &gone_ref, &listed] {
        sb.host.sh_ok(&format!("ip link del {}", p.veth));
    }
    // Not ours: another ifb, and a bridge with a name like ours.
    sb.host
        .sh_ok("ip link add ifb7 type ifb && ip link add bwp0123456789ab type bridge");

    let mut c = conf("1.1.0", json!({}));
    // Without the list nothing is known to be stale.
    gc(&sb, &c).expect_ok();
    assert_eq!(ifbs(&sb.host).len(), 6);

    c["cni.dev/valid-attachments"] = valid(&["gc-live", "gc-listed"]);
    gc(&sb, &c).expect_ok();
    let mut left = ifbs(&sb.host);
    left.sort();
    let mut want = vec![live.ifb(), listed.ifb(), other_ifb, "ifb7".to_string()];
    want.sort();
    assert_eq!(left, want);
    assert!(sb.host.link("bwp0123456789ab").is_some());
    assert!(sb.host.link(&gone_ref.ifb()).is_none());
    live.call(&sb, &ours(), "CHECK", &conf("1.0.0", limits.clone()))
        .expect_ok();
    let mut oc = conf("1.0.0", limits.clone());
    oc["name"] = json!("othernet");
    other_net.call(&sb, &ours(), "CHECK", &oc).expect_ok();

    // Again: nothing more to do.
    gc(&sb, &c).expect_ok();
    assert_eq!(ifbs(&sb.host).len(), 4);

    // GC is spec 1.1.0.
    let (code, _) = gc(&sb, &conf("1.0.0", json!({}))).expect_error();
    assert_eq!(code, 1);
}
