//! Removing one attachment's rules, as DEL and GC do: on the backend its
//! state file names (else wherever they may be), for the addresses known
//! from the state file or prevResult. The chains, the node-level jumps
//! and the isolation rules of the bridge stay: they are shared.

use std::net::IpAddr;

use libcni::Errors;
use netfilter::driver;

use crate::backend::{Choice, Used};
use crate::config::Conf;
use crate::firewalld;
use crate::pod::Pod;
use crate::rules::Rules;
use crate::state::{Record, Store};

/// What is known about an attachment's rules.
#[derive(Debug, Clone)]
pub struct Known {
    /// The backend, when recorded.
    pub used: Option<Used>,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
    /// The firewalld zone.
    pub zone: String,
}

impl Known {
    /// From the attachment's state file.
    pub fn recorded(rec: Record, conf: &Conf) -> Known {
        Known {
            used: Some(rec.backend),
            ips: rec.ips,
            zone: rec.zone.unwrap_or_else(|| conf.zone.clone()),
        }
    }
}

/// Remove `pod`'s rules and then its state file; every failure is
/// recorded in `errs` (the file stays when something failed, so a later
/// DEL or GC can finish).
pub fn remove(conf: &Conf, pod: &Pod, known: &Known, store: &Store, errs: &mut Errors) {
    let firewalld = match known.used {
        Some(u) => u == Used::Firewalld,
        None => Choice::of(conf.backend) == Choice::Firewalld,
    };
    let mut failed = Errors::new();
    if firewalld {
        remove_sources(&known.zone, &known.ips, &mut failed);
    } else {
        let rules = Rules {
            pod,
            ips: &known.ips,
            admin: Some(&conf.admin_chain),
            isolation: None,
            used: known.used,
        };
        driver::teardown(&rules, &mut failed);
    }
    if failed.is_empty() {
        errs.record(store.remove(pod));
    } else if let Err(e) = failed.finish("teardown") {
        errs.push(e);
    }
}

/// Unbind the sources. firewalld not running means its runtime sources
/// are gone already.
fn remove_sources(zone: &str, ips: &[IpAddr], errs: &mut Errors) {
    if ips.is_empty() || !firewalld::running() {
        return;
    }
    match firewalld::connect() {
        Ok(fw) => {
            let sources = firewalld::sources(ips);
            firewalld::remove(&fw, zone, &sources, errs);
        }
        Err(e) => errs.push(e),
    }
}
