//! CHECK (SPEC.md "CHECK"): every rule ADD makes for this attachment is in
//! place, on the backend ADD used. Unlike the reference, CHECK changes
//! nothing (it creates missing chains), checks the isolation rules too,
//! and with firewalld fails when a source is not in the zone (the
//! reference ignores `querySource`'s answer).

use libcni::Error;
use libcni::skel::CmdArgs;
use netfilter::{FirewallError, driver};

use crate::backend::{Choice, Used};
use crate::config::{self, IngressPolicy};
use crate::pod::{self, Pod};
use crate::rules::Rules;
use crate::state::Store;
use crate::{code, firewalld};

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let prev = conf.require_prev()?;
    let pod = Pod::new(&conf.network, args)?;
    let ips = pod::addresses(prev);
    let isolation = match conf.ingress {
        IngressPolicy::Open => None,
        p => Some((p, pod::bridge(prev)?)),
    }
    .filter(|_| !ips.is_empty());
    let recorded = Store::new(&conf.data_dir, &conf.network)
        .read(&pod)?
        .map(|r| r.backend);
    let firewalld = match recorded {
        Some(u) => u == Used::Firewalld,
        None => Choice::of(conf.backend) == Choice::Firewalld,
    };
    let mut rules = Rules {
        pod: &pod,
        ips: &ips,
        admin: Some(&conf.admin_chain),
        isolation,
        used: recorded,
    };
    let explicit = recorded
        .and_then(Used::netfilter)
        .or_else(|| Choice::of(conf.backend).netfilter());
    if firewalld {
        let fw = firewalld::connect()?;
        let sources: Vec<String> = ips.iter().map(|ip| firewalld::source(*ip)).collect();
        firewalld::check(&fw, &conf.zone, &sources)?;
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
