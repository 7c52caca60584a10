//! `cni-skel-testplugin`: TEST-ONLY. A minimal plugin on the skeleton so
//! that libcni's tests (`libcni/tests/skel_process.rs`) can run the
//! skeleton as a real process: exit status, stdout and stderr exactly as a
//! runtime sees them. It touches nothing; it is not installed and must
//! never be configured on a node. It lives in the test kit, not in libcni,
//! so that the library ships no binary.
//!
//! ADD returns an empty result, or panics with the message given as the
//! config's `"panic"` key. DEL and CHECK succeed.

use libcni::Error;
use libcni::skel::{CmdArgs, Plugin};
use libcni::spec::CniResult;

struct TestPlugin;

impl Plugin for TestPlugin {
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error> {
        if let Some(msg) = args.conf.extra.get("panic").and_then(|v| v.as_str()) {
            panic!("{msg}");
        }
        Ok(CniResult::default())
    }

    fn del(&self, _: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }

    fn check(&self, _: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {
    libcni::skel::run("cni-skel-testplugin", &TestPlugin)
}
