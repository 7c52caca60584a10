//! Kernel parameters under `/proc/sys`.
//!
//! `/proc/sys/net` shows the network namespace of the *calling thread*
//! (procfs resolves it per task), so inside [`crate::NetNs::run`] these
//! functions read and write the pod's values.
//!
//! Keys are given either with slashes (`net/ipv6/conf/eth0/accept_dad`),
//! which is the only way to name an interface containing a dot such as
//! `br0.100`, or with dots (`net.ipv4.ip_forward`) when there is no slash.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::netlink::LinkInfo;

const BASE: &str = "/proc/sys";

/// A sysctl that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// The key is malformed (empty, `..`, absolute...).
    #[error("invalid sysctl key {key:?}: {why}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Reading or writing failed.
    #[error("{op} sysctl {key} ({path}): {source}")]
    Io {
        /// "read" or "write".
        op: &'static str,
        /// The key as given.
        key: String,
        /// The file under /proc/sys.
        path: String,
        /// The OS error.
        source: io::Error,
    },
}

impl SysctlError {
    /// The key does not exist (e.g. IPv6 disabled, or no such interface).
    pub fn is_not_found(&self) -> bool {
        matches!(self, SysctlError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// The file under /proc/sys for `key`.
pub fn path_of(key: &str) -> Result<PathBuf, SysctlError> {
    let invalid = |why| SysctlError::InvalidKey {
        key: key.to_string(),
        why,
    };
    let rel = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    if rel.is_empty() {
        return Err(invalid("it is empty"));
    }
    if rel.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    for part in rel.split('/') {
        match part {
            "" => {
                return Err(invalid(
                    "it has an empty path component (or starts with '/')",
                ));
            }
            "." | ".." => return Err(invalid("'.' and '..' are not allowed")),
            _ => {}
        }
    }
    Ok(PathBuf::from(BASE).join(rel))
}

/// The current value, without the trailing newline.
pub fn get(key: &str) -> Result<String, SysctlError> {
    let path = path_of(key)?;
    let text = std::fs::read_to_string(&path).map_err(|source| SysctlError::Io {
        op: "read",
        key: key.to_string(),
        path: path.display().to_string(),
        source,
    })?;
    Ok(text.trim_end_matches('\n').to_string())
}

/// Set `key` to `value` unless it already has that value (compared after
/// trimming whitespace, so "1" matches "1\n"). Returns whether it wrote.
/// Skipping the write avoids side effects some keys have even when
/// rewritten with the same value, and works in read-only cases where the
/// value is already right.
pub fn set(key: &str, value: &str) -> Result<bool, SysctlError> {
    if get(key)?.trim() == value.trim() {
        return Ok(false);
    }
    write(key, value)?;
    Ok(true)
}

/// Write `value` to `key` without reading it first: for callers that
/// already know the current value differs (e.g. from the link's
/// `IFLA_AF_SPEC`, [`crate::netlink::LinkInfo::ipv6_conf`]), which saves a
/// /proc/sys lookup that costs O(namespaces on the node).
pub fn write(key: &str, value: &str) -> Result<(), SysctlError> {
    let path = path_of(key)?;
    std::fs::write(&path, value.as_bytes()).map_err(|source| SysctlError::Io {
        op: "write",
        key: key.to_string(),
        path: path.display().to_string(),
        source,
    })
}

/// Write `value` to `key` and return the value it had before (without the
/// trailing newline), through one open of the file: a caller that may have
/// to undo its change learns the old value for the price of the write
/// alone (the path lookup is what costs, see [`crate::netlink::LinkInfo::ipv4_conf`]).
///
/// The value is written as given, at offset 0, like `write`. A key that
/// cannot be read (mode 0200, such as `net/ipv4/route/flush`) is still
/// written, and its old value is `None`.
pub fn replace(key: &str, value: &str) -> Result<Option<String>, SysctlError> {
    use std::io::Read;
    use std::os::unix::fs::FileExt;

    let path = path_of(key)?;
    let fail = |op, source| SysctlError::Io {
        op,
        key: key.to_string(),
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            write(key, value)?;
            return Ok(None);
        }
        Err(e) => return Err(fail("open", e)),
    };
    let mut old = String::new();
    file.read_to_string(&mut old).map_err(|e| fail("read", e))?;
    // procfs sysctls take a write at offset 0 as a new value.
    file.write_all_at(value.as_bytes(), 0)
        .map_err(|e| fail("write", e))?;
    Ok(Some(old.trim_end_matches('\n').to_string()))
}

/// The key that turns on forwarding for `ip`'s family: `ip_forward` for
/// IPv4, `conf/all/forwarding` for IPv6 (which also makes every interface
/// ignore router advertisements unless its `accept_ra` is 2).
pub fn forwarding_key(ip: &IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "net/ipv4/ip_forward",
        IpAddr::V6(_) => "net/ipv6/conf/all/forwarding",
    }
}

/// Turn on forwarding for `ip`'s family in the calling thread's namespace,
/// writing only when it is off (as the reference's `EnableForward`).
/// Returns whether it wrote.
pub fn enable_forwarding(ip: &IpAddr) -> Result<bool, SysctlError> {
    set(forwarding_key(ip), "1")
}

/// `accept_ra=0` on a host-side link whose routes the plugin owns (a
/// bridge, a host veth), as the reference sets it. The current value comes
/// with the link (`IFLA_AF_SPEC`), so the file is written only when it
/// differs: a /proc/sys lookup costs O(namespaces on the node). Best
/// effort, as in the reference: the key is absent where IPv6 is disabled.
pub fn disable_accept_ra(link: &LinkInfo) {
    if link.ipv6_conf.is_some_and(|c| c.accept_ra == 0) {
        return;
    }
    let _ = write(&format!("net/ipv6/conf/{}/accept_ra", link.name), "0");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_dots_or_slashes() {
        assert_eq!(
            path_of("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            path_of("net/ipv6/conf/br0.100/accept_ra").unwrap(),
            PathBuf::from("/proc/sys/net/ipv6/conf/br0.100/accept_ra")
        );
    }

    #[test]
    fn rejects_traversal_and_empty() {
        for bad in [
            "",
            "/net/ipv4/ip_forward",
            "net/../../etc/passwd",
            "net//x",
            "net/./x",
            "net.ipv4..x",
            "a\0b",
        ] {
            let e = path_of(bad).unwrap_err();
            assert!(matches!(e, SysctlError::InvalidKey { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn replace_returns_the_old_value_and_writes_the_new_one() {
        // In a private network namespace of its own thread, so that the
        // machine's values are never touched.
        let t = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let key = "net/ipv4/conf/lo/arp_ignore";
            assert_eq!(get(key).unwrap(), "0");
            assert_eq!(replace(key, "2").unwrap().as_deref(), Some("0"));
            assert_eq!(get(key).unwrap(), "2");
            assert_eq!(replace(key, "1\n").unwrap().as_deref(), Some("2"));
            assert_eq!(get(key).unwrap(), "1");
            let e = replace(key, "bogus").unwrap_err();
            assert!(e.to_string().contains("write sysctl"), "{e}");
            assert_eq!(get(key).unwrap(), "1");
            let e = replace("net/ipv4/conf/no-such-if0/arp_ignore", "1").unwrap_err();
            assert!(e.is_not_found(), "{e}");
            // Write-only (mode 0200): written, no old value.
            assert_eq!(replace("net/ipv4/route/flush", "1").unwrap(), None);
        });
        t.join().unwrap();
    }

    #[test]
    fn forwarding_keys_per_family() {
        assert_eq!(
            forwarding_key(&"10.0.0.1".parse().unwrap()),
            "net/ipv4/ip_forward"
        );
        assert_eq!(
            forwarding_key(&"fd00::1".parse().unwrap()),
            "net/ipv6/conf/all/forwarding"
        );
    }

    #[test]
    fn reads_a_value_and_reports_missing_keys() {
        let v = get("kernel/ostype").unwrap();
        assert_eq!(v, "Linux");
        let e = get("net/ipv4/conf/no-such-if0/forwarding").unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(e.to_string().contains("no-such-if0"), "{e}");
    }
}
