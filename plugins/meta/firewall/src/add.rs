//! ADD (SPEC.md "ADD", chained after an interface plugin): let the pod's
//! addresses through the node's firewall, add the isolation rules of its
//! bridge, and pass prevResult on unchanged.

use libcni::skel::CmdArgs;
use libcni::{CniResult, Error, Errors};
use netfilter::{Backend, Family, driver};

use crate::attached::Attached;
use crate::backend::{Choice, Used};
use crate::config::IngressPolicy;
use crate::firewalld;
use crate::pod;
use crate::rules::Rules;
use crate::state::{Record, Store};

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    let at = Attached::load(args)?;
    if at.ips.is_empty() {
        // Nothing to let through or isolate (the reference makes no chain
        // either).
        return Ok(at.prev);
    }
    if let Some((IngressPolicy::Isolated, bridge)) = &at.isolation {
        warn_without_bridge_netfilter(bridge.as_str(), &pod::families(&at.ips));
    }
    let choice = Choice::of(at.conf.backend);
    let store = Store::new(&at.conf.data_dir, &at.conf.network);
    let planned = match choice {
        Choice::Firewalld => Used::Firewalld,
        Choice::Netfilter(b) => Used::from(Backend::choose(b)),
    };
    let mut record = Record {
        container_id: at.pod.container.as_str().to_string(),
        ifname: at.pod.ifname.as_str().to_string(),
        backend: planned,
        ips: at.ips.clone(),
        zone: (planned == Used::Firewalld).then(|| at.conf.zone.clone()),
    };
    // Recorded before anything changes (ARCHITECTURE.md principle 6): a
    // crash from here on leaves a record that DEL and GC act on.
    store.write(&at.pod, &record)?;
    let mut rules = at.rules(None);
    let done = match choice {
        Choice::Firewalld => with_firewalld(&at.conf.zone, &mut rules),
        Choice::Netfilter(explicit) => driver::setup(&rules, explicit)
            .map_err(Error::from)
            .and_then(|used| {
                // The driver fell back to nftables: say where the rules are.
                if Used::from(used) == record.backend {
                    return Ok(());
                }
                record.backend = Used::from(used);
                store.write(&at.pod, &record)
            }),
    };
    if let Err(e) = done {
        let _ = store.remove(&at.pod);
        return Err(e);
    }
    Ok(at.prev)
}

/// The firewalld backend: the addresses become sources of the zone; the
/// isolation rules still go to iptables or nftables (the reference always
/// writes them with iptables). Nothing is left half-made.
fn with_firewalld(zone: &str, rules: &mut Rules<'_>) -> Result<(), Error> {
    let fw = firewalld::connect()?;
    let sources = firewalld::sources(rules.ips);
    firewalld::add(&fw, zone, &sources)?;
    rules.admin = None;
    if rules.isolation.is_some()
        && let Err(e) = driver::setup(&*rules, None)
    {
        let mut errs = Errors::new();
        firewalld::remove(&fw, zone, &sources, &mut errs);
        return Err(e.into());
    }
    Ok(())
}

/// `isolated` drops traffic between two ports of one bridge only where
/// bridged frames pass through the IP hooks: br_netfilter with
/// `net.bridge.bridge-nf-call-iptables` (`-ip6tables` for IPv6) set to 1
/// in the node's namespace. Say so when it is not.
fn warn_without_bridge_netfilter(bridge: &str, families: &[Family]) {
    for family in families {
        let key = match family {
            Family::V4 => "net/bridge/bridge-nf-call-iptables",
            Family::V6 => "net/bridge/bridge-nf-call-ip6tables",
        };
        let state = match hostnet::sysctl::get(key) {
            Ok(v) if v.trim() == "1" => continue,
            Ok(v) => format!("is {}", v.trim()),
            Err(_) => "does not exist (br_netfilter is not loaded)".to_string(),
        };
        libcni::cni_warn!(
            "ingressPolicy \"isolated\": {} {state}, so {} traffic between two pods on bridge {bridge} is not filtered; load br_netfilter and set it to 1",
            key.replace('/', "."),
            family.label()
        );
    }
}
