//! Helpers for the unit tests: build a call's arguments from JSON.

use libcni::skel::{CmdArgs, Command};
use serde_json::Value;

use crate::config::{self, PortmapConf};

/// The arguments of an ADD of container "abc" with this config.
pub fn args(conf: &Value) -> CmdArgs {
    CmdArgs::from_config(Command::Add, "abc", "eth0", conf.to_string().into_bytes()).unwrap()
}

/// A loaded config of network "n" with these mappings and extra keys.
pub fn conf(maps: Value, extra: Value) -> PortmapConf {
    let mut c = serde_json::json!({"cniVersion": "1.0.0", "name": "n", "type": "portmap",
        "runtimeConfig": {"portMappings": maps}});
    if let (Some(o), Value::Object(e)) = (c.as_object_mut(), extra) {
        o.extend(e);
    }
    config::load(&args(&c)).unwrap()
}

/// The mappings of the golden tests (those of the reference run recorded
/// in the tests): TCP, UDP, TCP to an IPv4 hostIP, TCP to an IPv6 hostIP.
pub fn golden_maps() -> Value {
    serde_json::json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 8081, "containerPort": 81, "protocol": "udp"},
        {"hostPort": 8082, "containerPort": 82, "protocol": "tcp", "hostIP": "192.168.1.1"},
        {"hostPort": 8083, "containerPort": 83, "protocol": "tcp", "hostIP": "fd00::1"}
    ])
}
