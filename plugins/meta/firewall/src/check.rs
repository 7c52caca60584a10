//! CHECK (SPEC.md "CHECK"): every rule ADD makes for this attachment is in
//! place, on the backend ADD used. Unlike the reference, CHECK changes
//! nothing (it creates missing chains), checks the isolation rules too,
//! and with firewalld fails when a source is not in the zone (the
//! reference ignores `querySource`'s answer).

use libcni::Error;
use libcni::skel::CmdArgs;
use netfilter::{FirewallError, driver};

use crate::attached::Attached;
use crate::backend::{Choice, Used};
use crate::state::Store;
use crate::{code, firewalld};

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let at = Attached::load(args)?;
    if at.ips.is_empty() {
        return Ok(());
    }
    let recorded = Store::new(&at.conf.data_dir, &at.conf.network)
        .read(&at.pod)?
        .map(|r| r.backend);
    let choice = Choice::of(at.conf.backend);
    let firewalld = match recorded {
        Some(u) => u == Used::Firewalld,
        None => choice == Choice::Firewalld,
    };
    let mut rules = at.rules(recorded);
    let explicit = recorded
        .and_then(Used::netfilter)
        .or_else(|| choice.netfilter());
    if firewalld {
        let fw = firewalld::connect()?;
        let sources = firewalld::sources(&at.ips);
        firewalld::check(&fw, &at.conf.zone, &sources)?;
        rules.admin = None;
        if rules.isolation.is_none() {
            return Ok(());
        }
    }
    driver::check(&rules, explicit).map_err(|e| match e {
        FirewallError::CheckFailed(msg) => Error::plugin(code::CHECK_FAILED, msg),
        other => other.into(),
    })
}
