//! The firewall plugin with `backend: firewalld` against a REAL firewalld
//! (cni_sandbox::firewalld): firewalld runs in a network namespace of its
//! own on a private bus with a path socket, and the plugin runs in the
//! fake host with `DBUS_SYSTEM_BUS_ADDRESS` pointing at that bus, as on a
//! node. Every outcome is checked with firewalld's own `firewall-cmd`.
//! If firewalld cannot run this way the harness panics with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cni_sandbox::firewalld::Firewalld;
use cni_sandbox::{Call, PluginRun, Sandbox, plugin_dir};
use common::{conf, ours, prev};
use serde_json::{Value, json};

const ADDR: &str = "10.88.0.7/24";
const SOURCE: &str = "10.88.0.7/32";

struct Setup {
    sb: Sandbox,
    fw: Firewalld,
    pod: cni_sandbox::Netns,
    data: std::path::PathBuf,
}

fn setup() -> Setup {
    let sb = Sandbox::new();
    let ns = sb.extra("firewalld");
    let fw = Firewalld::start(&ns);
    let pod = sb.pod();
    let data = sb.subdir("firewall");
    Setup { sb, fw, pod, data }
}

impl Setup {
    fn conf(&self, extra: Value, with_prev: bool) -> Value {
        conf(
            "fwdnet",
            &self.data,
            extra,
            with_prev.then(|| prev("cni0", &[ADDR])),
        )
    }

    fn run(&self, cmd: &str, conf: &Value) -> PluginRun {
        Call::attach(cmd, "ctr-fwd", self.pod.path_str(), "eth0", &plugin_dir())
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.fw.address())
            .run(&self.sb.host, &ours(), &conf.to_string())
    }

    /// The zone firewalld binds the pod's source to, by its own tool.
    fn zone_of_source(&self) -> String {
        let (_, out) = self.fw.firewall_cmd(&["--get-zone-of-source", SOURCE]);
        out.trim().to_string()
    }
}

/// ADD binds the pod's address to the zone, a second ADD passes, CHECK
/// passes, DEL unbinds it, and a second DEL passes; nothing is written to
/// iptables.
#[test]
fn add_check_del_bind_and_unbind_the_source() {
    let s = setup();
    let c = s.conf(json!({"backend": "firewalld"}), true);
    s.run("ADD", &c).expect_ok();
    assert_eq!(s.zone_of_source(), "trusted", "{}", s.fw.log());
    s.run("ADD", &c).expect_ok();
    assert_eq!(s.zone_of_source(), "trusted");
    s.run("CHECK", &c).expect_ok();
    let listing = s.sb.host.iptables_filter(false).join("\n");
    assert!(!listing.contains("10.88.0.7"), "{listing}");
    s.run("DEL", &c).expect_ok();
    assert_eq!(s.zone_of_source(), "no zone");
    s.run("DEL", &c).expect_ok();
}

/// The zone comes from `firewalldZone`; auto-detection (`backend: ""`)
/// picks firewalld because it owns its bus name.
#[test]
fn detection_and_firewalld_zone() {
    let s = setup();
    let c = s.conf(json!({"backend": "", "firewalldZone": "internal"}), true);
    s.run("ADD", &c).expect_ok();
    assert_eq!(s.zone_of_source(), "internal", "{}", s.fw.log());
    s.run("DEL", &c).expect_ok();
    assert_eq!(s.zone_of_source(), "no zone");
}

/// An address bound to another zone is a clear error (ZONE_CONFLICT):
/// ADD fails naming the other zone and leaves that binding alone.
#[test]
fn a_conflicting_zone_fails_clearly() {
    let s = setup();
    let (ok, out) =
        s.fw.firewall_cmd(&["--zone=public", "--add-source", SOURCE]);
    assert!(ok, "{out}");
    let c = s.conf(json!({"backend": "firewalld"}), true);
    let run = s.run("ADD", &c);
    let (code, msg) = run.expect_error();
    assert!(code >= 100, "{code} {msg}");
    assert!(msg.contains("public"), "{msg}");
    assert_eq!(s.zone_of_source(), "public");
}

/// CHECK really checks: it fails once the source was removed behind the
/// plugin's back (the reference ignores querySource's answer).
#[test]
fn check_fails_when_the_source_was_removed_behind_its_back() {
    let s = setup();
    let c = s.conf(json!({"backend": "firewalld"}), true);
    s.run("ADD", &c).expect_ok();
    let (ok, out) =
        s.fw.firewall_cmd(&["--zone=trusted", "--remove-source", SOURCE]);
    assert!(ok, "{out}");
    let (_, msg) = s.run("CHECK", &c).expect_error();
    assert!(msg.contains(SOURCE), "{msg}");
    s.run("DEL", &c).expect_ok();
}

/// DEL without prevResult still unbinds the source (from the state file
/// ADD wrote); the reference removes nothing then.
#[test]
fn del_without_prev_result_unbinds_the_source() {
    let s = setup();
    s.run("ADD", &s.conf(json!({"backend": "firewalld"}), true))
        .expect_ok();
    assert_eq!(s.zone_of_source(), "trusted");
    s.run("DEL", &s.conf(json!({"backend": "firewalld"}), false))
        .expect_ok();
    assert_eq!(s.zone_of_source(), "no zone");
}
