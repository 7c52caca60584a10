//! STATUS (spec 1.1.0): whether the backend this config would use can be
//! used now (code 50 when it cannot). The reference has no STATUS.

use libcni::Error;
use libcni::skel::CmdArgs;
use netfilter::Backend;

use crate::backend::Choice;
use crate::config;
use crate::firewalld;

/// Run STATUS.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    match Choice::of(conf.backend) {
        Choice::Firewalld if !firewalld::running() => Err(Error::not_available(
            "firewalld is not running (nobody owns org.fedoraproject.FirewallD1 on the system bus)",
        )),
        Choice::Firewalld => Ok(()),
        Choice::Netfilter(explicit) => {
            let b = Backend::choose(explicit);
            if b.usable() {
                Ok(())
            } else {
                Err(Error::not_available(format!(
                    "the {b} backend cannot be used: its tools are missing or the kernel refuses them"
                )))
            }
        }
    }
}
