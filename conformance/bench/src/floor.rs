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

use std::time::{Duration, Instant};

use cni_sandbox::Netns;
use hostnet::netlink::VethSpec;
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

/// Measure `reps` samples on `bridge` in `host` (which must exist).
pub fn measure(host: &Netns, bridge: &str, reps: usize) -> Result<Floor, String> {
    let pod = Netns::new("bfloor").map_err(|e| format!("scratch netns: {e}"))?;
    let host_ns = NetNs::open(host.path_str()).map_err(|e| e.to_string())?;
    let pod_ns = NetNs::open(pod.path_str()).map_err(|e| e.to_string())?;
    let host_nl = Netlink::in_netns(&host_ns).map_err(|e| e.to_string())?;
    let pod_nl = Netlink::in_netns(&pod_ns).map_err(|e| e.to_string())?;
    let br = host_nl.link_by_name(bridge).map_err(|e| e.to_string())?;
    let (mut up, mut add, mut del) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..reps {
        let peer = format!("vfloor{i}");
        let t = Instant::now();
        let cont = pod_nl
            .create_veth(&VethSpec {
                name: "eth0",
                peer_name: &peer,
                peer_netns: Some(&host_ns),
                mac: None,
                peer_mac: None,
                mtu: None,
            })
            .map_err(|e| e.to_string())?;
        let port = host_nl.link_by_name(&peer).map_err(|e| e.to_string())?;
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
