//! ADD (SPEC.md "ADD"), in the reference's order: IPAM, forwarding on the
//! host, the veth pair (pod end in the pod, host end created in the host),
//! the pod side (sysctls, addresses, DAD, IPAM routes, then ptp's own
//! routes), the host side (gateway addresses, routes to the pod), then
//! masquerade and DNS. Unlike the reference, anything made before a
//! failure is removed again (the veth too), and the IPAM result is checked
//! before anything else is made, so a failed ADD leaves no veth, no lease
//! and no rules.

use hostnet::netlink::LinkInfo;
use hostnet::{NetNs, Netlink};
use libcni::skel::CmdArgs;
use libcni::spec::error::code::INVALID_NETNS;
use libcni::spec::{CniResult, Error, Interface};
use podnet::container::{self, PodSysctls};
use podnet::ipam::Ipam;
use podnet::rollback::Rollback;

use crate::config::{self, PtpConf};
use crate::{host, p2p, pod};

/// The result's index of the pod interface (the host veth is 0).
const POD_IFACE: usize = 1;

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    let conf = config::load(args)?;
    // Found before anything is made: a missing or path-like type then
    // fails with nothing to undo. `config::load` made sure there is one.
    let ipam = Ipam::find(args, &conf.net)?
        .ok_or_else(|| Error::invalid_config("ptp needs an IPAM plugin: set ipam.type"))?;
    let host_ns = NetNs::current()?;
    let pod_ns = NetNs::open(&args.netns)?;
    // What the reference's skeleton finds only after ADD (v1.6+): with the
    // host as the "pod", ptp would delete the host's connected routes.
    if pod_ns.same_as(&host_ns)? {
        return Err(Error::new(
            INVALID_NETNS,
            format!(
                "CNI_NETNS {} is the plugin's own network namespace, not a pod's",
                args.netns
            ),
        ));
    }
    let host_nl = Netlink::new()?;
    let pod_nl = Netlink::in_netns(&pod_ns)?;
    podnet::veth::ensure_absent(&pod_nl, args)?;

    let add = Add {
        args,
        conf: &conf,
        ipam: &ipam,
        host: (&host_ns, &host_nl),
        pod: (&pod_ns, &pod_nl),
    };
    let mut undo = Rollback::default();
    add.run(&mut undo).inspect_err(|_| undo.run(args))
}

/// One ADD: the call, its config and IPAM plugin, and the host's and the
/// pod's namespace with a socket in each (ARCHITECTURE.md principle 2).
struct Add<'a> {
    args: &'a CmdArgs,
    conf: &'a PtpConf,
    ipam: &'a Ipam,
    host: (&'a NetNs, &'a Netlink),
    pod: (&'a NetNs, &'a Netlink),
}

impl<'a> Add<'a> {
    fn run(&self, undo: &mut Rollback<'a>) -> Result<CniResult, Error> {
        let (args, conf) = (self.args, self.conf);
        let ((host_ns, host_nl), (pod_ns, pod_nl)) = (self.host, self.pod);
        let mut result = self.ipam.add(args, undo)?;
        let links = p2p::links(&result)?;
        for ip in &mut result.ips {
            ip.interface = Some(POD_IFACE);
        }
        host::enable_forwarding(&links)?;

        let pair = podnet::veth::create(pod_nl, &args.ifname, Some(host_ns), None, conf.mtu)?;
        let cont = pair.local;
        undo.veth = Some((pod_nl, cont.index));
        let host_veth = host_nl.link_by_name(&pair.peer_name)?;
        host::up(host_nl, &host_veth)?;

        let want = PodSysctls {
            arp_notify: false,
            dad: None,
            ipv6: links.iter().any(|l| l.gw.is_ipv6()),
        };
        container::set_sysctls(pod_ns, pod_nl, &cont, want)?;
        // DAD is left on: the pod's IPv6 addresses are waited for, as the
        // reference does, since a route with a tentative source is refused.
        container::configure(pod_nl, cont.index, &result, true)?;
        pod::routes(pod_nl, cont.index, &links)?;
        host::configure(host_nl, &host_veth, &links)?;

        if conf.ip_masq {
            undo.masquerade(args, &conf.net.name, conf.ip_masq_backend, &result)?;
        }
        let mac = |l: &LinkInfo| l.mac.map(|m| m.to_string()).unwrap_or_default();
        result.interfaces = vec![
            Interface {
                name: host_veth.name.clone(),
                mac: mac(&host_veth),
                ..Interface::default()
            },
            Interface {
                name: args.ifname.clone(),
                mac: mac(&cont),
                sandbox: args.netns.clone(),
                ..Interface::default()
            },
        ];
        if let Some(dns) = &conf.dns {
            result.dns = dns.clone();
        }
        Ok(result)
    }
}
