//! Helpers for the unit tests: build a call's arguments from JSON.

use libcni::NetConf;
use libcni::skel::{CmdArgs, Command};
use libcni::spec::{CniArgs, conf::decode};
use serde_json::Value;

/// The arguments of an ADD of container "abc", interface "eth0", with
/// this config.
pub fn args(conf: &Value) -> CmdArgs {
    let stdin = conf.to_string().into_bytes();
    let net: NetConf = decode("t", &stdin).unwrap();
    CmdArgs {
        command: Command::Add,
        container_id: "abc".into(),
        netns: "/run/netns/x".into(),
        ifname: "eth0".into(),
        args: CniArgs::default(),
        path: vec![],
        version: net.version().unwrap(),
        conf: net,
        stdin,
    }
}
