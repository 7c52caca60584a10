//! Checks on `CNI_NETNS` made before a plugin runs, so that a bad path is
//! reported as a bad environment variable and nothing is half-made.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use crate::spec::Error;

/// `NSFS_MAGIC` from linux/magic.h: the filesystem of namespace files.
const NSFS_MAGIC: i64 = 0x6e73_6673;
/// `NS_GET_NSTYPE` from linux/nsfs.h: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Verify that `path` is a network namespace file (a bind mount under
/// /run/netns, or /proc/<pid>/ns/net) and that it is not the namespace the
/// plugin itself runs in (a runtime bug that would wire the host up as if
/// it were a pod; libcni's `CNI_NETNS_OVERRIDE` turns the second check off).
pub fn check_netns_path(path: &str, allow_own: bool) -> Result<(), Error> {
    let file = File::open(path).map_err(|e| {
        Error::invalid_env(format!(
            "CNI_NETNS={path:?} cannot be opened ({e}); it must name an existing network namespace"
        ))
    })?;
    let fd = file.as_raw_fd();
    // SAFETY: `statfs` is plain old data; zeroed is a valid initial value
    // and fstatfs only writes into it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is a valid open descriptor owned by `file` for the whole
    // call and `st` is a valid, writable statfs.
    let rc = unsafe { libc::fstatfs(fd, &mut st) };
    #[allow(clippy::unnecessary_cast)]
    if rc != 0 || st.f_type as i64 != NSFS_MAGIC {
        return Err(Error::invalid_env(format!(
            "CNI_NETNS={path:?} is not a namespace file (expected /run/netns/<name> or /proc/<pid>/ns/net)"
        )));
    }
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the namespace
    // behind `fd`, which stays open for the call.
    let kind = unsafe { libc::ioctl(fd, NS_GET_NSTYPE as _) };
    if kind != libc::CLONE_NEWNET {
        return Err(Error::invalid_env(format!(
            "CNI_NETNS={path:?} is a namespace but not a network namespace"
        )));
    }
    if !allow_own {
        let theirs = file
            .metadata()
            .map_err(|e| Error::invalid_env(format!("CNI_NETNS={path:?}: {e}")))?;
        if let Ok(own) = std::fs::metadata("/proc/thread-self/ns/net")
            && own.dev() == theirs.dev()
            && own.ino() == theirs.ino()
        {
            return Err(Error::new(
                crate::spec::error::code::INVALID_NETNS,
                format!(
                    "CNI_NETNS={path:?} is the plugin's own network namespace; refusing to configure the host as a container (set CNI_NETNS_OVERRIDE=1 if this is intended)"
                ),
            ));
        }
    }
    Ok(())
}
