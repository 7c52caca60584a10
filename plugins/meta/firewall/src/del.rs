//! DEL (SPEC.md "DEL"): idempotent and complete (ARCHITECTURE.md
//! principle 5). The attachment's state file says what ADD set up, so DEL
//! removes exactly its rules also without prevResult (the reference then
//! removes nothing); prevResult is the fallback for attachments ADD'ed by
//! the reference. Nothing known means nothing to remove.

use libcni::skel::CmdArgs;
use libcni::{Error, Errors};

use crate::config;
use crate::pod::{self, Pod};
use crate::state::Store;
use crate::teardown::{self, Known};

/// Run DEL.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let pod = Pod::new(&conf.network, args)?;
    let store = Store::new(&conf.data_dir, &conf.network);
    let mut errs = Errors::new();
    let known = match errs.record(store.read(&pod)).flatten() {
        Some(rec) => Known::recorded(rec, &conf),
        None => match &conf.prev_result {
            Some(prev) => Known {
                used: None,
                ips: pod::addresses(prev),
                zone: conf.zone.clone(),
            },
            None => return errs.finish("DEL"),
        },
    };
    teardown::remove(&conf, &pod, &known, &store, &mut errs);
    errs.finish("DEL")
}
