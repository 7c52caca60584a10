//! STATUS (spec 1.1.0; the reference has none): code 50 when every ADD
//! of this network would fail for a reason of the node, not of one pod:
//! the allowlist cannot be read or refuses a configured sysctl, or
//! `dataDir` exists but is not a directory.

use libcni::Error;
use libcni::skel::CmdArgs;

use crate::{allowlist, config};

/// Run STATUS.
pub fn run(args: &CmdArgs) -> Result<(), Error> {
    let conf = config::parse(&args.stdin, &args.args)?;
    let unavailable =
        |e: Error| Error::not_available(format!("tuning cannot take ADDs: {}", e.msg));
    allowlist::check_keys(conf.sysctls.iter().map(|s| s.key.as_str())).map_err(unavailable)?;
    if conf.tunes_link()
        && let Ok(m) = std::fs::metadata(&conf.data_dir)
        && !m.is_dir()
    {
        return Err(Error::not_available(format!(
            "tuning cannot take ADDs: dataDir {} is not a directory",
            conf.data_dir.display()
        )));
    }
    Ok(())
}
