//! ADD (SPEC.md "ADD", chained after an interface plugin): let the pod's
//! addresses through the node's firewall, add the isolation rules of its
//! bridge, and pass prevResult on unchanged.

use libcni::skel::CmdArgs;
use libcni::{CniResult, Error, Errors};
use netfilter::{Backend, Family, driver};

use crate::backend::{Choice, Used};
use crate::config::{self, IngressPolicy};
use crate::firewalld;
use crate::pod::{self, Pod};
use crate::rules::Rules;
use crate::state::{Record, Store};

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    let conf = config::load(args)?;
    let prev = conf.require_prev()?;
    let pod = Pod::new(&conf.network, args)?;
    let ips = pod::addresses(prev);
    // The bridge is checked before anything changes (the reference fails
    // on it after its accept rules are in place).
    let isolation = match conf.ingress {
        IngressPolicy::Open => None,
        p => Some((p, pod::bridge(prev)?)),
    }
    .filter(|_| !ips.is_empty());
    if let Some((IngressPolicy::Isolated, bridge)) = &isolation {
        warn_without_bridge_netfilter(bridge.as_str(), &pod::families(&ips));
    }
    let choice = Choice::of(conf.backend);
    let store = Store::new(&conf.data_dir, &conf.network);
    let planned = match choice {
        Choice::Firewalld => Used::Firewalld,
        Choice::Netfilter(b) => Used::from(Backend::choose(b)),
    };
    let mut record = Record {
        container_id: pod.container.as_str().to_string(),
        ifname: pod.ifname.as_str().to_string(),
        backend: planned,
        ips: ips.clone(),
        zone: (planned == Used::Firewalld).then(|| conf.zone.clone()),
    };
    // Recorded before anything changes (ARCHITECTURE.md principle 6): a
    // crash from here on leaves a record that DEL and GC act on.
    store.write(&pod, &record)?;
    let mut rules = Rules {
        pod: &pod,
        ips: &ips,
        admin: Some(&conf.admin_chain),
        isolation,
        used: None,
    };
    let done = match choice {
        Choice::Firewalld => with_firewalld(&conf.zone, &mut rules),
        Choice::Netfilter(explicit) => driver::setup(&rules, explicit)
            .map_err(Error::from)
            .and_then(|used| {
                // The driver fell back to nftables: say where the rules are.
                if Used::from(used) == record.backend {
                    return Ok(());
                }
                record.backend = Used::from(used);
                store.write(&pod, &record)
            }),
    };
    if let Err(e) = done {
        let _ = store.remove(&pod);
        return Err(e);
    }
    Ok(prev.clone())
}

/// The firewalld backend: the addresses become sources of the zone; the
/// isolation rules still go to iptables or nftables (the reference always
/// writes them with iptables). Nothing is left half-made.
fn with_firewalld(zone: &str, rules: &mut Rules<'_>) -> Result<(), Error> {
    let fw = firewalld::connect()?;
    let sources: Vec<String> = rules.ips.iter().map(|ip| firewalld::source(*ip)).collect();
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
