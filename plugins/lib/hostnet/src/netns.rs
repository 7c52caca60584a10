//! Network namespaces as open file descriptors.
//!
//! `setns(2)` with `CLONE_NEWNET` moves only the calling thread, so a
//! plugin (single-threaded, ARCHITECTURE.md principle 1) can step into a pod's
//! namespace, open a netlink socket there and step back: the socket stays
//! bound to the namespace it was created in (ARCHITECTURE.md principle 2). The
//! step back is done by a guard, so it also happens when the closure
//! returns early or panics.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `NSFS_MAGIC` from linux/magic.h: the filesystem namespace files live on.
const NSFS_MAGIC: i64 = 0x6e73_6673;
/// `NS_GET_NSTYPE` from linux/nsfs.h (`_IO(0xb7, 0x3)`): which kind of
/// namespace an nsfs file is.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Why a namespace could not be opened or entered.
#[derive(Debug, thiserror::Error)]
pub enum NetNsError {
    /// The path does not exist (the pod is gone: DEL treats this as done).
    #[error("network namespace {path:?} does not exist")]
    NotFound {
        /// The path that was given.
        path: PathBuf,
    },
    /// The path exists but is not a network namespace file.
    #[error(
        "{path:?} is not a network namespace (expected /run/netns/<name> or /proc/<pid>/ns/net): {why}"
    )]
    NotNetns {
        /// The path that was given.
        path: PathBuf,
        /// What it is instead.
        why: String,
    },
    /// A system call failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// What was being done ("open", "setns into", ...).
        op: &'static str,
        /// The namespace path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl NetNsError {
    /// True when the namespace does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, NetNsError::NotFound { .. })
    }
}

/// An open handle on a network namespace.
#[derive(Debug)]
pub struct NetNs {
    file: File,
    path: PathBuf,
}

impl NetNs {
    /// Open the network namespace at `path` (a bind mount such as
    /// `/run/netns/<name>`, or `/proc/<pid>/ns/net`), checking that it
    /// really is one.
    pub fn open(path: impl AsRef<Path>) -> Result<NetNs, NetNsError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => NetNsError::NotFound { path: path.clone() },
            _ => NetNsError::Io {
                op: "open",
                path: path.clone(),
                source: e,
            },
        })?;
        check_is_netns(&file, &path)?;
        Ok(NetNs { file, path })
    }

    /// The network namespace of the calling thread.
    pub fn current() -> Result<NetNs, NetNsError> {
        // thread-self, not self: setns moves one thread, and the process's
        // main thread may be elsewhere (test harnesses are multi-threaded).
        NetNs::open("/proc/thread-self/ns/net")
    }

    /// A second handle on the same namespace (the fd is duplicated).
    pub fn try_clone(&self) -> Result<NetNs, NetNsError> {
        Ok(NetNs {
            file: self.file.try_clone().map_err(|e| self.io("duplicate", e))?,
            path: self.path.clone(),
        })
    }

    /// The path this handle was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether both handles refer to the same namespace (same nsfs inode).
    pub fn same_as(&self, other: &NetNs) -> Result<bool, NetNsError> {
        let a = self.file.metadata().map_err(|e| self.io("stat", e))?;
        let b = other.file.metadata().map_err(|e| other.io("stat", e))?;
        Ok(a.dev() == b.dev() && a.ino() == b.ino())
    }

    /// Run `f` with the calling thread inside this namespace, then move the
    /// thread back to where it was, also when `f` returns an error or
    /// panics (the panic then continues in the original namespace).
    /// Sockets opened inside `f` stay bound to this namespace.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> Result<T, NetNsError> {
        let original = NetNs::current()?;
        if self.same_as(&original)? {
            return Ok(f());
        }
        setns(self.file.as_fd()).map_err(|e| self.io("setns into", e))?;
        let _back = Restore(original);
        Ok(f())
    }

    fn io(&self, op: &'static str, source: io::Error) -> NetNsError {
        NetNsError::Io {
            op,
            path: self.path.clone(),
            source,
        }
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for NetNs {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// Moves the thread back into the namespace it came from when dropped.
struct Restore(NetNs);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Err(e) = setns(self.0.file.as_fd()) {
            // Carrying on would configure the wrong namespace (possibly the
            // host as if it were a pod). This cannot happen with a valid fd
            // and CAP_SYS_ADMIN, which entering already required.
            eprintln!("cannot return to the original network namespace ({e}); aborting");
            std::process::abort();
        }
    }
}

fn setns(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `fd` is a valid open descriptor for the duration of the call;
    // setns only reads it.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn check_is_netns(file: &File, path: &Path) -> Result<(), NetNsError> {
    let fd = file.as_raw_fd();
    // SAFETY: statfs is plain old data; all-zero is a valid value that
    // fstatfs overwrites.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` stays open (owned by `file`) and `st` is writable.
    let rc = unsafe { libc::fstatfs(fd, &mut st) };
    if rc != 0 {
        return Err(NetNsError::Io {
            op: "statfs",
            path: path.to_path_buf(),
            source: io::Error::last_os_error(),
        });
    }
    #[allow(clippy::unnecessary_cast)]
    if st.f_type as i64 != NSFS_MAGIC {
        return Err(NetNsError::NotNetns {
            path: path.to_path_buf(),
            why: "not a namespace file".into(),
        });
    }
    // SAFETY: NS_GET_NSTYPE takes no argument and only inspects the
    // namespace behind `fd`, which stays open for the call.
    let kind = unsafe { libc::ioctl(fd, NS_GET_NSTYPE as _) };
    if kind != libc::CLONE_NEWNET {
        return Err(NetNsError::NotNetns {
            path: path.to_path_buf(),
            why: "a namespace of another kind".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_path_is_not_found() {
        let e = NetNs::open("/nonexistent/netns/x").unwrap_err();
        assert!(e.is_not_found(), "{e}");
    }

    #[test]
    fn regular_file_is_not_a_netns() {
        let e = NetNs::open("/proc/self/status").unwrap_err();
        assert!(matches!(e, NetNsError::NotNetns { .. }), "{e}");
        assert!(e.to_string().contains("not a network namespace"), "{e}");
    }

    #[test]
    fn other_namespace_kind_is_rejected() {
        let e = NetNs::open("/proc/self/ns/mnt").unwrap_err();
        assert!(matches!(e, NetNsError::NotNetns { .. }), "{e}");
    }

    #[test]
    fn current_is_same_as_itself() {
        let a = NetNs::current().unwrap();
        let b = NetNs::open("/proc/thread-self/ns/net").unwrap();
        assert!(a.same_as(&b).unwrap());
        assert_eq!(a.run(|| 7).unwrap(), 7);
    }
}
