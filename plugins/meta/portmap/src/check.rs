//! CHECK (SPEC.md "CHECK"): every chain and rule ADD makes for this
//! container is in place on the backend in use.

use libcni::Error;
use libcni::skel::CmdArgs;
use netfilter::{Backend, FirewallError, driver};

use crate::code;
use crate::config;
use crate::forward::Forward;
use crate::pod::{Pod, PodAddrs};

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let prev = conf.require_prev()?;
    if conf.mappings.is_empty() {
        return Ok(());
    }
    let pod = Pod::new(&conf.network, &args.container_id)?;
    conf.check_backend(Backend::choose(conf.backend))?;
    let fw = Forward {
        conf: &conf,
        pod: &pod,
        addrs: PodAddrs::from_result(&prev, &args.ifname),
    };
    driver::check(&fw, conf.backend).map_err(|e| match e {
        FirewallError::CheckFailed(msg) => Error::plugin(code::CHECK_FAILED, msg),
        other => other.into(),
    })
}
