//! CHECK (SPEC.md "CHECK"; chained-plugins.md §3.4): the shaping the
//! config asks for is in the kernel. Compared with what is really there,
//! not with the first qdisc of a list as the reference does:
//!
//! - ingress: the host veth's root qdisc is a TBF with the config's rate,
//!   limit and buffer;
//! - egress: the ifb exists, its root qdisc is such a TBF, and a
//!   match-all filter on the host veth's ingress redirects to it (the
//!   reference never looks at the filter).
//!
//! A config without limits passes: ADD made nothing (the reference up to
//! v1.9.0 panics here).

use hostnet::Netlink;
use hostnet::netlink::tc::{Handle, Tbf};
use libcni::skel::CmdArgs;
use libcni::spec::Error;

use crate::config::{self, Limit};
use crate::{code, hostveth, ifb, tbf};

fn fail(msg: String) -> Error {
    Error::plugin(code::CHECK_FAILED, msg)
}

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let prev = args.conf.prev_result()?.ok_or_else(|| {
        Error::invalid_config(
            "must be called as a chained plugin: CHECK needs prevResult, the cached ADD result",
        )
    })?;
    if !conf.shapes() {
        return Ok(());
    }
    let host = Netlink::new()?;
    let veth = hostveth::find(&host, args, &prev, fail)?;
    if let Some(limit) = conf.ingress {
        check_tbf(&host, veth.index, &veth.name, limit)?;
    }
    if let Some(limit) = conf.egress {
        let name = ifb::name(&args.conf.name, &args.container_id);
        let dev = match host.link_by_name(&name) {
            Ok(d) if ifb::is_bandwidth_ifb(d.kind.as_deref(), &d.name) => d,
            Ok(d) => {
                return Err(fail(format!(
                    "{name} is a {}, not this attachment's ifb",
                    d.kind.as_deref().unwrap_or("device")
                )));
            }
            Err(e) if e.is_not_found() => {
                return Err(fail(format!(
                    "the ifb {name} of this attachment is missing"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        check_tbf(&host, dev.index, &name, limit)?;
        let redirected = host
            .filters(veth.index, Handle::INGRESS_HANDLE)?
            .iter()
            .any(|f| {
                f.is_match_all() && f.redirects.first().is_some_and(|r| r.ifindex == dev.index)
            });
        if !redirected {
            return Err(fail(format!(
                "no filter on the ingress of {} redirects to {name}: traffic out of the pod is \
                 not shaped",
                veth.name
            )));
        }
    }
    Ok(())
}

/// The root qdisc of `index` is the TBF `limit` gives.
fn check_tbf(host: &Netlink, index: u32, dev: &str, limit: Limit) -> Result<(), Error> {
    let want = tbf::for_limit(limit);
    let have: Tbf = match host.qdisc(index, Handle::ROOT)? {
        Some(q) => match q.tbf {
            Some(t) => t,
            None => {
                return Err(fail(format!(
                    "the root qdisc of {dev} is {}, not a TBF",
                    q.kind
                )));
            }
        },
        None => return Err(fail(format!("{dev} has no root qdisc"))),
    };
    let fields = [
        ("Rate", have.rate, want.rate, "bytes/s"),
        ("Limit", have.limit.into(), want.limit.into(), "bytes"),
        ("Buffer", have.buffer.into(), want.buffer.into(), "ticks"),
    ];
    for (what, have, want, unit) in fields {
        if have != want {
            return Err(fail(format!(
                "{what} doesn't match: the TBF on {dev} has {have} {unit}, the config gives {want}"
            )));
        }
    }
    Ok(())
}
