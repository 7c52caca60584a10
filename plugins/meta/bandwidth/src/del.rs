//! DEL (SPEC.md "DEL"; chained-plugins.md §3.4): delete the attachment's
//! ifb, found by name (network name + container ID), so neither the
//! netns nor prevResult is needed, and it works on an ifb the reference
//! made. A missing ifb is success: DEL is idempotent (ARCHITECTURE.md
//! principle 5). The qdiscs and the filter on the host veth go away with
//! the veth, which the interface plugin deletes.
//!
//! As in the reference, the configuration is validated first, so a config
//! ADD would reject fails DEL too (ADD made nothing with it).

use hostnet::Netlink;
use libcni::skel::CmdArgs;
use libcni::spec::{Error, Errors};

use crate::{config, ifb};

/// Run DEL.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    config::load(args)?;
    let name = ifb::name(&args.conf.name, &args.container_id);
    let mut errors = Errors::new();
    match Netlink::new().and_then(|host| host.delete_link_by_name(&name)) {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => errors.push(Error::from(e).context(format!("deleting the ifb {name}"))),
    }
    errors.finish("DEL")
}
