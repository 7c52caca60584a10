//! Helpers for the unit tests: build a call's arguments from JSON.

use libcni::skel::{CmdArgs, Command};
use serde_json::Value;

/// The arguments of an ADD of container "abc", interface "eth0", with
/// this config.
pub fn args(conf: &Value) -> CmdArgs {
    CmdArgs::from_config(Command::Add, "abc", "eth0", conf.to_string().into_bytes()).unwrap()
}
