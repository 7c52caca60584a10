//! What ADD and CHECK work from: the config, the attachment, its
//! addresses from prevResult and the isolation its policy asks for, all
//! validated before anything changes (the reference finds a missing bridge
//! only after its accept rules are in place).

use std::net::IpAddr;

use libcni::skel::CmdArgs;
use libcni::{CniResult, Error};
use netfilter::IfName;

use crate::backend::Used;
use crate::config::{self, Conf, IngressPolicy};
use crate::pod::{self, Pod};
use crate::rules::Rules;

/// One ADD or CHECK, validated.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The config.
    pub conf: Conf,
    /// The attachment.
    pub pod: Pod,
    /// prevResult.
    pub prev: CniResult,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
    /// The policy and bridge, unless the policy is open.
    pub isolation: Option<(IngressPolicy, IfName)>,
}

impl Attached {
    /// Load and validate the call.
    pub fn load(args: &CmdArgs) -> Result<Attached, Error> {
        let conf = config::load(args)?;
        let prev = conf.require_prev()?.clone();
        let pod = Pod::new(&conf.network, args)?;
        let isolation = match conf.ingress {
            IngressPolicy::Open => None,
            p => Some((p, pod::bridge(&prev)?)),
        };
        Ok(Attached {
            ips: pod::addresses(&prev),
            conf,
            pod,
            prev,
            isolation,
        })
    }

    /// Its rules (the accept path with the config's admin chain), on the
    /// backend `used` when known.
    pub fn rules(&self, used: Option<Used>) -> Rules<'_> {
        Rules {
            pod: &self.pod,
            ips: &self.ips,
            admin: Some(&self.conf.admin_chain),
            isolation: self.isolation.clone(),
            used,
        }
    }
}
