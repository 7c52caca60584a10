//! CHECK: `lo` must be up.

use hostnet::NetNs;
use libcni::Error;
use libcni::skel::CmdArgs;

use crate::code;
use crate::lo::open_lo;

/// Run CHECK.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let netns = NetNs::open(&args.netns)?;
    let (_, lo) = open_lo(&netns)?;
    if !lo.up {
        return Err(Error::plugin(
            code::LO_DOWN,
            format!("loopback interface lo is down in {}", args.netns),
        ));
    }
    Ok(())
}
