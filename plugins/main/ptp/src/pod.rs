//! ptp's own routes in the pod, after the IPAM routes (reference
//! `setupContainerVeth`): per address, the connected route goes, the
//! gateway becomes a `scope link` host route with the address as source,
//! and the subnet is routed via the gateway. Every packet, to a pod of
//! the same subnet too, then leaves through the gateway (the host).
//!
//! ```text
//! default via 10.244.0.1 dev eth0                        (IPAM route)
//! 10.244.0.0/24 via 10.244.0.1 dev eth0 src 10.244.0.5
//! 10.244.0.1 dev eth0 scope link src 10.244.0.5
//! ```

use hostnet::Netlink;
use hostnet::netlink::{RouteSpec, scope};
use libcni::Error;

use crate::p2p::Link;

/// Replace the connected route of each link by the point-to-point routes
/// on pod interface `index`. Plain adds, as the reference: a route already
/// there is an error.
pub fn routes(nl: &Netlink, index: u32, links: &[Link]) -> Result<(), Error> {
    for l in links {
        let subnet = l.subnet();
        let src = Some(l.addr.addr());
        // Any scope, protocol and metric: the kernel's own route.
        nl.route_del(&RouteSpec {
            oif: Some(index),
            ..RouteSpec::new(subnet)
        })
        .map_err(|e| Error::from(e).context(format_args!("deleting the route to {subnet}")))?;
        nl.route_add(&RouteSpec {
            oif: Some(index),
            scope: Some(scope::LINK),
            src,
            ..RouteSpec::new(l.gw_host())
        })
        .map_err(|e| Error::from(e).context(format_args!("adding the route to {}", l.gw)))?;
        nl.route_add(&RouteSpec {
            src,
            ..RouteSpec::via(subnet, Some(l.gw), index)
        })
        .map_err(|e| {
            Error::from(e).context(format_args!("adding the route to {subnet} via {}", l.gw))
        })?;
    }
    Ok(())
}
