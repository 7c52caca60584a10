//! DEL (SPEC.md "DEL"): idempotent and complete (ARCHITECTURE.md
//! principle 5). The container's rules are found by name, so DEL works
//! without prevResult or addresses and succeeds when nothing is left;
//! every failure is reported.

use libcni::skel::CmdArgs;
use libcni::{Error, Errors};
use netfilter::{Family, driver};

use crate::config;
use crate::forward::Forward;
use crate::pod::{Pod, PodAddrs};
use crate::udp;

/// Run DEL.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::load(args)?;
    let pod = Pod::new(&conf.network, &args.container_id)?;
    let mut errs = Errors::new();
    let fw = Forward {
        conf: &conf,
        pod: &pod,
        addrs: PodAddrs::default(),
    };
    driver::teardown(&fw, &mut errs);
    // The families the pod had, when prevResult says; else both.
    let families = conf
        .prev_result
        .as_ref()
        .map(|prev| PodAddrs::from_result(prev, &args.ifname).families())
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| Family::ALL.to_vec());
    udp::flush(&conf, &families);
    errs.finish("DEL")
}
