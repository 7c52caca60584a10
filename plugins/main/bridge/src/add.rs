//! ADD (SPEC.md "ADD"), in the reference's order: bridge, veth pair, port
//! settings, spoof check, IPAM, gateways, pod addresses and routes,
//! gateway address on the bridge and forwarding, masquerade, then wait for
//! the port to come up. Anything made before a failure is removed again,
//! so a failed ADD leaves no veth, no lease and no rules.

use std::time::Duration;

use hostnet::netlink::LinkInfo;
use hostnet::{NetNs, Netlink, sysctl};
use ipnet::IpNet;
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Error, Interface, Route};
use podnet::container::{self, PodSysctls};
use podnet::ipam::Ipam;
use podnet::rollback::Rollback;

use crate::code;
use crate::config::{self, BridgeConf};
use crate::host;
use crate::spoofchk::SpoofCheck;

/// How long the host veth may take to become operationally up once both
/// ends are up and on the bridge (the reference gives it ~2.5 s).
const PORT_UP_TIMEOUT: Duration = Duration::from_secs(3);

/// What this ADD has made so far, undone in reverse if a later step fails:
/// the spoof check, then what every pod interface plugin undoes.
#[derive(Default)]
struct Undo<'a> {
    spoof: Option<SpoofCheck>,
    common: Rollback<'a>,
}

impl Undo<'_> {
    fn run(self, args: &CmdArgs) {
        if let Some(s) = self.spoof
            && let Err(e) = s.teardown()
        {
            libcni::cni_warn!("rollback: {e}");
        }
        self.common.run(args);
    }
}

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    let conf = config::load(args)?;
    // Find the IPAM plugin before anything is made: a missing or
    // path-like type then fails with nothing to undo.
    let ipam = Ipam::find(args, &conf.net)?;
    let host_ns = NetNs::current()?;
    let pod_ns = NetNs::open(&args.netns)?;
    let host_nl = Netlink::new()?;
    let pod_nl = Netlink::in_netns(&pod_ns)?;
    let br = host::ensure_bridge(&host_nl, &conf)?;

    let mut undo = Undo::default();
    let ctx = Ctx {
        args,
        conf: &conf,
        ipam: ipam.as_ref(),
        host_ns: &host_ns,
        pod_ns: &pod_ns,
        host_nl: &host_nl,
        br: &br,
    };
    match add(&ctx, &pod_nl, &mut undo) {
        Ok(r) => Ok(r),
        Err(e) => {
            undo.run(args);
            Err(e)
        }
    }
}

/// What every step of one ADD needs.
struct Ctx<'a> {
    args: &'a CmdArgs,
    conf: &'a BridgeConf,
    /// The IPAM plugin, when the network has one.
    ipam: Option<&'a Ipam>,
    host_ns: &'a NetNs,
    pod_ns: &'a NetNs,
    host_nl: &'a Netlink,
    br: &'a LinkInfo,
}

fn add<'a>(ctx: &Ctx<'a>, pod_nl: &'a Netlink, undo: &mut Undo<'a>) -> Result<CniResult, Error> {
    let Ctx {
        args,
        conf,
        host_ns,
        pod_ns,
        host_nl,
        br,
        ..
    } = *ctx;
    // The veth pair: container end created in the pod, host end created
    // directly in the host namespace.
    podnet::veth::ensure_absent(pod_nl, args)?;
    let pair = podnet::veth::create(pod_nl, &args.ifname, Some(host_ns), conf.mac, conf.mtu)?;
    let (cont, host_name) = (pair.local, pair.peer_name);
    undo.common.veth = Some((pod_nl, cont.index));
    let host_veth = host_nl.link_by_name(&host_name)?;
    host::attach_port(host_nl, conf, br, &host_veth)?;
    let cont_mac = cont.mac.ok_or_else(|| {
        Error::plugin(
            code::LINK_STATE,
            format!("{} has no MAC address", args.ifname),
        )
    })?;

    if conf.macspoofchk {
        let sc = SpoofCheck::new(&args.container_id, &args.ifname);
        sc.setup(&host_name, cont_mac)?;
        undo.spoof = Some(sc);
    }

    let mut result = CniResult {
        interfaces: vec![
            Interface {
                name: br.name.clone(),
                ..Interface::default()
            },
            Interface {
                name: host_name.clone(),
                ..Interface::default()
            },
            Interface {
                name: args.ifname.clone(),
                mac: cont_mac.to_string(),
                sandbox: args.netns.clone(),
                ..Interface::default()
            },
        ],
        ..CniResult::default()
    };

    if let Some(ipam) = ctx.ipam {
        let r = ipam.add(args, &mut undo.common)?;
        result.ips = r.ips;
        result.routes = r.routes;
        result.dns = r.dns;
        let gateways = compute_gateways(conf, &mut result);

        let has_v6 = result.ips.iter().any(|ip| !ip.is_v4());
        let want = PodSysctls {
            arp_notify: true,
            dad: Some(conf.enabledad),
            ipv6: has_v6,
        };
        container::set_sysctls(pod_ns, pod_nl, &cont, want)?;
        container::configure(pod_nl, cont.index, &result, conf.enabledad)?;

        if conf.is_gateway && !gateways.is_empty() {
            let (gw_link, is_vlan_if) = host::gateway_link(host_nl, conf, br)?;
            if is_vlan_if {
                result.interfaces.push(Interface {
                    name: gw_link.name.clone(),
                    mac: gw_link.mac.map(|m| m.to_string()).unwrap_or_default(),
                    ..Interface::default()
                });
            }
            for gw in &gateways {
                host::ensure_gateway_addr(host_nl, &gw_link, *gw, conf.force_address)?;
            }
            for gw in &gateways {
                sysctl::enable_forwarding(&gw.addr())?;
            }
        }

        if conf.ip_masq {
            undo.common
                .masquerade(args, &conf.net.name, conf.ip_masq_backend, &result)?;
        }
    } else if !conf.disable_container_interface {
        pod_nl.set_up(cont.index)?;
    }

    let host_veth = if conf.disable_container_interface {
        host_nl.link_by_index(host_veth.index)?
    } else {
        host_nl
            .wait_oper_up(host_veth.index, PORT_UP_TIMEOUT)
            .map_err(|e| {
                Error::plugin(
                    code::LINK_STATE,
                    format!("bridge port {host_name} did not come up: {e}"),
                )
            })?
    };
    // MACs may change as ports and addresses are added: report them as
    // they are now.
    let br_now = host_nl.link_by_index(br.index)?;
    result.interfaces[0].mac = br_now.mac.map(|m| m.to_string()).unwrap_or_default();
    result.interfaces[1].mac = host_veth.mac.map(|m| m.to_string()).unwrap_or_default();
    if let Some(dns) = &conf.net.dns
        && !dns.is_empty()
    {
        result.dns = dns.clone();
    }
    Ok(result)
}

/// Fill in gateways the IPAM result lacks and the default routes
/// `isDefaultGateway` asks for; every address is on the container
/// interface (index 2). Returns the gateway addresses (with the pod
/// subnet's prefix) to put on the bridge, one per distinct gateway.
fn compute_gateways(conf: &BridgeConf, result: &mut CniResult) -> Vec<IpNet> {
    let mut gateways: Vec<IpNet> = Vec::new();
    let mut default_found = [false, false];
    for ip in &mut result.ips {
        ip.interface = Some(2);
        let v4 = ip.is_v4();
        if ip.gateway.is_none() && conf.is_gateway {
            ip.gateway = next_ip(ip.address.network());
        }
        let fam = usize::from(!v4);
        if conf.is_default_gateway && !default_found[fam] {
            let any: IpNet = if v4 {
                IpNet::V4(ipnet::Ipv4Net::default())
            } else {
                IpNet::V6(ipnet::Ipv6Net::default())
            };
            let exists = result.routes.iter().any(|r| r.dst == any && r.gw.is_some());
            if !exists {
                result.routes.push(Route::new(any, ip.gateway));
            }
            default_found[fam] = true;
        }
        if conf.is_gateway
            && let Some(gw) = ip.gateway
            && let Ok(net) = IpNet::new(gw, ip.address.prefix_len())
            && !gateways.contains(&net)
        {
            gateways.push(net);
        }
    }
    gateways
}

/// The address after `a` (the network address + 1 is the default gateway).
fn next_ip(a: std::net::IpAddr) -> Option<std::net::IpAddr> {
    match a {
        std::net::IpAddr::V4(v) => u32::from(v)
            .checked_add(1)
            .map(|n| std::net::Ipv4Addr::from(n).into()),
        std::net::IpAddr::V6(v) => u128::from(v)
            .checked_add(1)
            .map(|n| std::net::Ipv6Addr::from(n).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcni::spec::IpConfig;

    fn conf(is_gw: bool, default_gw: bool) -> BridgeConf {
        let stdin = serde_json::json!({
            "cniVersion": "1.0.0", "name": "n", "isGateway": is_gw, "isDefaultGateway": default_gw
        })
        .to_string()
        .into_bytes();
        let net: libcni::NetConf = libcni::spec::conf::decode("t", &stdin).unwrap();
        let args = CmdArgs {
            command: libcni::skel::Command::Add,
            container_id: "c".into(),
            netns: "/x".into(),
            ifname: "eth0".into(),
            args: Default::default(),
            path: vec![],
            version: net.version().unwrap(),
            conf: net,
            stdin,
        };
        config::load(&args).unwrap()
    }

    fn ip(a: &str, gw: Option<&str>) -> IpConfig {
        IpConfig {
            interface: None,
            address: a.parse().unwrap(),
            gateway: gw.map(|g| g.parse().unwrap()),
        }
    }

    #[test]
    fn gateway_computed_when_missing() {
        let mut r = CniResult {
            ips: vec![ip("10.1.2.7/24", None), ip("fd00::7/64", Some("fd00::fe"))],
            ..CniResult::default()
        };
        let gws = compute_gateways(&conf(true, false), &mut r);
        assert_eq!(r.ips[0].gateway.unwrap().to_string(), "10.1.2.1");
        assert_eq!(r.ips[0].interface, Some(2));
        let gws: Vec<String> = gws.iter().map(ToString::to_string).collect();
        assert_eq!(gws, ["10.1.2.1/24", "fd00::fe/64"]);
        assert!(r.routes.is_empty());
    }

    #[test]
    fn default_route_added_once_per_family() {
        let mut r = CniResult {
            ips: vec![
                ip("10.1.2.7/24", None),
                ip("10.1.3.7/24", None),
                ip("fd00::7/64", None),
            ],
            ..CniResult::default()
        };
        compute_gateways(&conf(true, true), &mut r);
        let routes: Vec<String> = r
            .routes
            .iter()
            .map(|r| format!("{} {:?}", r.dst, r.gw))
            .collect();
        assert_eq!(routes, ["0.0.0.0/0 Some(10.1.2.1)", "::/0 Some(fd00::1)"]);
    }

    #[test]
    fn existing_default_route_kept() {
        let mut r = CniResult {
            ips: vec![ip("10.1.2.7/24", Some("10.1.2.254"))],
            routes: vec![Route::new(
                "0.0.0.0/0".parse().unwrap(),
                Some("10.1.2.254".parse().unwrap()),
            )],
            ..CniResult::default()
        };
        compute_gateways(&conf(true, true), &mut r);
        assert_eq!(r.routes.len(), 1);
    }

    #[test]
    fn no_gateway_without_is_gateway() {
        let mut r = CniResult {
            ips: vec![ip("10.1.2.7/24", None)],
            ..CniResult::default()
        };
        assert!(compute_gateways(&conf(false, false), &mut r).is_empty());
        assert!(r.ips[0].gateway.is_none());
    }
}
