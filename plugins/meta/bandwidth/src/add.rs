//! ADD: shape the pod's veth (chained-plugins.md §3.3, the reference's
//! order). Ingress first: TBF `1:` at the root of the host veth. Then
//! egress: the ifb (up, the veth's MTU, txqueuelen 0), the ingress qdisc
//! on the host veth, the u32 redirect to the ifb, and TBF `1:` on the
//! ifb, which is appended to the result's interfaces.
//!
//! Beyond the reference: a failure part-way removes what this call made
//! (the reference leaves it for DEL), so a failed ADD leaves nothing.
//! Like the reference, ADD is not idempotent: a second ADD finds the TBF
//! in place and fails with EEXIST, touching nothing.

use hostnet::Netlink;
use hostnet::netlink::tc::Handle;
use libcni::skel::CmdArgs;
use libcni::spec::{CniResult, Error, Interface};

use crate::config::{self, BandwidthConf};
use crate::hostveth::{self, HostVeth};
use crate::{ifb, tbf};

/// The error for a call without `prevResult`: bandwidth only exists
/// chained after an interface plugin.
pub fn missing_prev() -> Error {
    Error::invalid_config(
        "must be called as chained plugin: the configuration has no prevResult; put bandwidth \
         after the plugin that creates the pod's veth (e.g. bridge or ptp) in a conflist",
    )
}

/// Run ADD.
pub fn run(args: &CmdArgs) -> Result<CniResult, Error> {
    let conf = config::load(args)?;
    let prev = args.conf.prev_result()?.ok_or_else(missing_prev)?;
    if !conf.shapes() {
        return Ok(prev);
    }
    let host = Netlink::new()?;
    let veth = hostveth::find(&host, args, &prev, Error::invalid_config)?;
    let mut made = Made::default();
    match shape(&host, &conf, args, &veth, &mut made) {
        Ok(ifb) => {
            let mut result = prev;
            result.interfaces.extend(ifb);
            Ok(result)
        }
        Err(e) => {
            made.undo(&host, &veth);
            Err(e)
        }
    }
}

/// What this call has made so far, to undo on failure.
#[derive(Debug, Default)]
struct Made {
    root_tbf: bool,
    ifb: Option<String>,
    ingress_qdisc: bool,
}

impl Made {
    /// Remove what this call made, newest first. Failures are only
    /// logged: the error that stopped ADD is the one to report.
    fn undo(&self, host: &Netlink, veth: &HostVeth) {
        let warn = |what: &str, r: Result<(), hostnet::NetlinkError>| {
            if let Err(e) = r
                && !e.is_not_found()
            {
                libcni::cni_warn!("undoing a failed ADD: could not remove {what}: {e}");
            }
        };
        if self.ingress_qdisc {
            warn(
                "the ingress qdisc",
                host.delete_qdisc(veth.index, Handle::INGRESS),
            );
        }
        if let Some(name) = &self.ifb {
            warn(name, host.delete_link_by_name(name));
        }
        if self.root_tbf {
            warn(
                "the ingress TBF",
                host.delete_qdisc(veth.index, Handle::ROOT),
            );
        }
    }
}

/// Make the qdiscs, filter and ifb; the ifb's entry for the result.
fn shape(
    host: &Netlink,
    conf: &BandwidthConf,
    args: &CmdArgs,
    veth: &HostVeth,
    made: &mut Made,
) -> Result<Option<Interface>, Error> {
    if let Some(limit) = conf.ingress {
        ifb::add_tbf(host, veth.index, &tbf::for_limit(limit)).map_err(|e| {
            Error::from(e).context(format!("shaping traffic into the pod on {}", veth.name))
        })?;
        made.root_tbf = true;
    }
    let Some(limit) = conf.egress else {
        return Ok(None);
    };
    let name = ifb::name(&args.conf.name, &args.container_id);
    host.create_ifb(&ifb::spec(&name, veth.mtu))
        .map_err(|e| Error::from(e).context("creating the ifb for traffic out of the pod"))?;
    made.ifb = Some(name.clone());
    let dev = host.link_by_name(&name)?;
    host.add_ingress_qdisc(veth.index)?;
    made.ingress_qdisc = true;
    host.add_u32_match_all(veth.index, &ifb::redirect(dev.index))?;
    ifb::add_tbf(host, dev.index, &tbf::for_limit(limit))
        .map_err(|e| Error::from(e).context(format!("shaping traffic out of the pod on {name}")))?;
    Ok(Some(Interface {
        name,
        mac: dev.mac.map(|m| m.to_string()).unwrap_or_default(),
        ..Default::default()
    }))
}
