//! The kernel's share of one pod, measured in-process without any plugin:
//! the floor under every implementation's ADD and DEL on the same node.
//! The growth scenarios measure it on the first pod and again with N pods
//! in place, so that growth the kernel imposes can be told apart from
//! growth an implementation adds (process starts, reads of state).
//!
//! What one sample does, in the target's fake host (the same work a bridge
//! ADD/DEL must do, with hostnet's netlink and nfnetlink code):
//! - **port up**: a veth pair made in a scratch pod namespace with its peer
//!   in the host, the peer put on the bridge, both ends up, then waited on
//!   until the port is operationally up;
//! - **masq add**: one pod's masquerade chain and its POSTROUTING jump in
//!   the reference's iptables layout, committed over nfnetlink (every commit
//!   that adds a jump makes the kernel re-validate the nat table);
//! - **port del**: deleting the pair (the kernel waits for RCU readers).
//!
//! The chain scenarios (7 and 8) measure a DEL floor instead
//! ([`chain_del`]): the waits their DEL must make in the kernel, one after
//! another, because the runtime runs the plugins one at a time.

use std::time::{Duration, Instant};

use cni_sandbox::Netns;
use hostnet::netlink::{AddrFlags, IfbSpec, LinkInfo, RouteSpec, VethSpec};
use hostnet::{NetNs, Netlink};
use ipnet::IpNet;
use netfilter::{Backend, MasqInstance};

use crate::stats::median;

/// Medians, in ms, of the three parts.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// veth pair made, on the bridge, operationally up.
    pub port_up: f64,
    /// One pod's masquerade chain and jump added (one nfnetlink commit).
    pub masq_add: f64,
    /// veth pair deleted.
    pub port_del: f64,
}

impl std::fmt::Display for Floor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "port up {:.2} ms, masq add {:.2} ms, port del {:.2} ms",
            self.port_up, self.masq_add, self.port_del
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A scratch pod namespace beside `host`, with a netlink socket in each:
/// what both floors make their pod's veth pair with.
struct Sides {
    host_ns: NetNs,
    host_nl: Netlink,
    pod_nl: Netlink,
    // Last: the namespace outlives the sockets in it.
    _pod: Netns,
}

impl Sides {
    fn open(host: &Netns) -> Result<Sides, String> {
        let pod = Netns::new("bfloor").map_err(|e| format!("scratch netns: {e}"))?;
        let host_ns = NetNs::open(host.path_str()).map_err(|e| e.to_string())?;
        let pod_ns = NetNs::open(pod.path_str()).map_err(|e| e.to_string())?;
        Ok(Sides {
            host_nl: Netlink::in_netns(&host_ns).map_err(|e| e.to_string())?,
            pod_nl: Netlink::in_netns(&pod_ns).map_err(|e| e.to_string())?,
            host_ns,
            _pod: pod,
        })
    }

    /// A veth pair, `eth0` in the pod and `peer` in the host: (pod end,
    /// host end).
    fn pair(&self, peer: &str) -> Result<(LinkInfo, LinkInfo), String> {
        let cont = self
            .pod_nl
            .create_veth(&VethSpec {
                name: "eth0",
                peer_name: peer,
                peer_netns: Some(&self.host_ns),
                mac: None,
                peer_mac: None,
                mtu: None,
            })
            .map_err(|e| e.to_string())?;
        let port = self.host_nl.link_by_name(peer).map_err(|e| e.to_string())?;
        Ok((cont, port))
    }
}

/// Measure `reps` samples on `bridge` in `host` (which must exist).
pub fn measure(host: &Netns, bridge: &str, reps: usize) -> Result<Floor, String> {
    let sides = Sides::open(host)?;
    let (host_nl, pod_nl) = (&sides.host_nl, &sides.pod_nl);
    let br = host_nl.link_by_name(bridge).map_err(|e| e.to_string())?;
    let (mut up, mut add, mut del) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..reps {
        let peer = format!("vfloor{i}");
        let t = Instant::now();
        let (cont, port) = sides.pair(&peer)?;
        host_nl
            .set_master(port.index, br.index)
            .and_then(|()| host_nl.set_up(port.index))
            .and_then(|()| pod_nl.set_up(cont.index))
            .and_then(|()| host_nl.wait_oper_up(port.index, Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        up.push(ms(t.elapsed()));

        let inst = MasqInstance::new("benchfloor", &format!("floor{i}"), "eth0")
            .map_err(|e| e.to_string())?;
        let addr: IpNet = "10.254.0.2/16".parse().map_err(|e| format!("{e}"))?;
        let t = Instant::now();
        host.run(|| inst.setup(Some(Backend::Iptables), &[addr]))
            .map_err(|e| e.to_string())?;
        add.push(ms(t.elapsed()));
        host.run(|| inst.teardown(Some(&[addr])))
            .map_err(|e| e.to_string())?;

        let t = Instant::now();
        pod_nl.delete_link(cont.index).map_err(|e| e.to_string())?;
        del.push(ms(t.elapsed()));
    }
    Ok(Floor {
        port_up: median(&up),
        masq_add: median(&add),
        port_del: median(&del),
    })
}

/// One kernel wait in a chain's DEL, named after the plugin that makes it
/// in the chains scenarios 7 and 8 run. The runtime calls the plugins one
/// after another (spec, "Section 5: Execution Protocol", DEL in reverse
/// order), so a chain's waits add up: no plugin can overlap another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelStep {
    /// bandwidth: deleting the pod's ifb in the host (the kernel's
    /// `netdev_run_todo` waits in `rcu_barrier()`).
    Ifb,
    /// portmap: one nf_tables commit that deletes a chain and its jump,
    /// then releasing the nfnetlink socket, as a plugin does at exit (the
    /// release flushes the deferred frees: one `synchronize_rcu()`).
    Rules,
    /// bridge or ptp: deleting the pod's veth pair (`rcu_barrier()` again).
    Veth,
}

impl DelStep {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            DelStep::Ifb => "ifb",
            DelStep::Rules => "rules",
            DelStep::Veth => "veth",
        }
    }
}

/// One sample of a chain's DEL floor in `host`: a pod's veth pair (its
/// host end on `bridge` when given), ifb and masquerade-style chain made
/// untimed, then `steps` done in order, each timed. Returns ms per step.
pub fn chain_del(
    host: &Netns,
    bridge: Option<&str>,
    steps: &[DelStep],
) -> Result<Vec<f64>, String> {
    let sides = Sides::open(host)?;
    let (host_nl, pod_nl) = (&sides.host_nl, &sides.pod_nl);
    let tag = std::process::id() % 100_000;
    let ifb = format!("bwpfloor{tag}");
    let peer = format!("vchain{tag}");
    let (cont, port) = sides.pair(&peer)?;
    if let Some(b) = bridge {
        let br = host_nl.link_by_name(b).map_err(|e| e.to_string())?;
        host_nl
            .set_master(port.index, br.index)
            .map_err(|e| e.to_string())?;
    }
    host_nl
        .set_up(port.index)
        .and_then(|()| pod_nl.set_up(cont.index))
        .map_err(|e| e.to_string())?;
    // Configured as a pod is, because a pair carrying addresses and routes
    // takes longer to unregister than a bare one (more for the kernel to
    // free first): the pod's address and default route, and, without a
    // bridge, ptp's host side (gateway /32, route to the pod).
    let net = |s: &str| s.parse::<IpNet>().map_err(|e| format!("{s}: {e}"));
    let gw = net("10.254.0.1/32")?;
    let (default, pod_host) = (net("0.0.0.0/0")?, net("10.254.0.2/32")?);
    let addr = net("10.254.0.2/16")?;
    pod_nl
        .addr_add(cont.index, addr, AddrFlags::NONE)
        .and_then(|()| {
            pod_nl.route_add(&RouteSpec {
                gw: Some(gw.addr()),
                oif: Some(cont.index),
                ..RouteSpec::new(default)
            })
        })
        .map_err(|e| e.to_string())?;
    if bridge.is_none() {
        host_nl
            .addr_add(port.index, gw, AddrFlags::NONE)
            .and_then(|()| {
                host_nl.route_add(&RouteSpec {
                    oif: Some(port.index),
                    ..RouteSpec::new(pod_host)
                })
            })
            .map_err(|e| e.to_string())?;
    }
    if steps.contains(&DelStep::Ifb) {
        host_nl
            .create_ifb(&IfbSpec {
                name: &ifb,
                mtu: None,
                txqlen: Some(0),
                up: true,
            })
            .map_err(|e| e.to_string())?;
    }
    let inst = MasqInstance::new("benchfloor", &format!("chain{tag}"), "eth0")
        .map_err(|e| e.to_string())?;
    if steps.contains(&DelStep::Rules) {
        host.run(|| {
            let r = inst.setup(Some(Backend::Iptables), &[addr]);
            // The setup's own release wait is not part of the floor.
            netfilter::close_parked_sockets();
            r
        })
        .map_err(|e| e.to_string())?;
    }
    let mut out = Vec::with_capacity(steps.len());
    for step in steps {
        let t = Instant::now();
        match step {
            DelStep::Ifb => host_nl
                .delete_link_by_name(&ifb)
                .map_err(|e| e.to_string())?,
            DelStep::Rules => host
                .run(|| {
                    let r = inst.teardown(Some(&[addr]));
                    netfilter::close_parked_sockets();
                    r
                })
                .map_err(|e| e.to_string())?,
            DelStep::Veth => pod_nl.delete_link(cont.index).map_err(|e| e.to_string())?,
        }
        out.push(ms(t.elapsed()));
    }
    Ok(out)
}

/// A chain DEL row's note on its floor: the median of the per-sample
/// totals, each step's median, and how the floor compares with our median
/// and the baseline's.
pub fn chain_del_note(
    steps: &[DelStep],
    samples: &[Vec<f64>],
    ours_ms: f64,
    base_ms: Option<f64>,
) -> String {
    if samples.is_empty() {
        return "kernel floor: no sample".to_string();
    }
    let total = median(&samples.iter().map(|s| s.iter().sum()).collect::<Vec<f64>>());
    let parts: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let m = median(
                &samples
                    .iter()
                    .filter_map(|s| s.get(i).copied())
                    .collect::<Vec<f64>>(),
            );
            format!("{} {m:.1}", st.name())
        })
        .collect();
    let mut note = format!(
        "kernel floor of this DEL ({} in series, in-process, no plugin): median {total:.1} ms ({}); ours is {:.1} ms above it",
        steps
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", "),
        parts.join(", "),
        ours_ms - total,
    );
    if let Some(b) = base_ms.filter(|b| *b > 0.0) {
        note.push_str(&format!("; floor ÷ baseline median = {:.2}", total / b));
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A floor sample makes the pod's devices and chain, times their
    /// removal, and leaves the host as it found it: a floor that left its
    /// ifb or chain behind would time less than a DEL must do.
    #[test]
    fn chain_del_times_each_step_and_removes_what_it_made() {
        cni_sandbox::require_root();
        let host = Netns::new("bfloortest").expect("host netns");
        host.sh_ok("ip link set lo up");
        let before_links = host.sh_ok("ip -o link show | wc -l");
        let steps = [DelStep::Ifb, DelStep::Rules, DelStep::Veth];
        let sample = chain_del(&host, None, &steps).expect("floor sample");
        assert_eq!(sample.len(), steps.len());
        assert!(sample.iter().all(|ms| *ms > 0.0), "{sample:?}");
        assert_eq!(host.sh_ok("ip -o link show | wc -l"), before_links);
        // The chain is `CNI-` and a hash (iptables-nft keeps the comment
        // naming the network where `nft` does not print it).
        let rules = host.sh_ok("nft list ruleset");
        assert!(!rules.contains("CNI-"), "masquerade chain left:\n{rules}");
    }
}
