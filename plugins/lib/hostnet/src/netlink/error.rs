//! Netlink failures as data: which operation on which object, the kernel's
//! errno and, when the kernel gave one, its extended-ACK message.

use std::fmt;

/// A failed netlink operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetlinkError {
    op: String,
    errno: Option<i32>,
    detail: String,
}

/// A failure below the operation level (socket, kernel NACK, decoding):
/// becomes a [`NetlinkError`] once the operation is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    pub(crate) errno: Option<i32>,
    pub(crate) detail: String,
}

impl Fail {
    #[cfg(test)]
    pub(crate) fn os(errno: i32) -> Fail {
        Fail {
            errno: Some(errno),
            detail: String::new(),
        }
    }

    pub(crate) fn io(e: &std::io::Error) -> Fail {
        Fail {
            errno: e.raw_os_error(),
            detail: if e.raw_os_error().is_some() {
                String::new()
            } else {
                e.to_string()
            },
        }
    }

    pub(crate) fn protocol(detail: impl Into<String>) -> Fail {
        Fail {
            errno: None,
            detail: detail.into(),
        }
    }

    /// Name the operation (only evaluated on the error path).
    pub(crate) fn during(self, op: impl fmt::Display) -> NetlinkError {
        NetlinkError {
            op: op.to_string(),
            errno: self.errno,
            detail: self.detail,
        }
    }
}

impl NetlinkError {
    /// An error for `op` with an errno (for callers composing operations).
    pub fn new(op: impl Into<String>, errno: Option<i32>, detail: impl Into<String>) -> Self {
        NetlinkError {
            op: op.into(),
            errno,
            detail: detail.into(),
        }
    }

    /// The operation and object, e.g. `create bridge "cni0"`.
    pub fn op(&self) -> &str {
        &self.op
    }

    /// The kernel's errno, when the failure came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// The kernel's extended-ACK message or a decoding problem, if any.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The object does not exist: no such link (`ENODEV`), route
    /// (`ESRCH`), address (`EADDRNOTAVAIL`) or entry (`ENOENT`). DEL paths
    /// use this to treat "already gone" as success.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno,
            Some(libc::ENODEV | libc::ENOENT | libc::ESRCH | libc::EADDRNOTAVAIL)
        )
    }

    /// The object already exists (`EEXIST`).
    pub fn is_exists(&self) -> bool {
        self.errno == Some(libc::EEXIST)
    }

    /// The kernel rejected the request as malformed or unsupported
    /// (`EINVAL`, `EOPNOTSUPP`).
    pub fn is_invalid(&self) -> bool {
        matches!(self.errno, Some(libc::EINVAL | libc::EOPNOTSUPP))
    }
}

/// The symbolic name of the errnos netlink commonly returns, so a node
/// operator can search for them.
fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENOBUFS => "ENOBUFS",
        libc::EAGAIN => "EAGAIN",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EMSGSIZE => "EMSGSIZE",
        _ => return None,
    })
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        if let Some(errno) = self.errno {
            let text = std::io::Error::from_raw_os_error(errno).to_string();
            // io::Error's text ends with "(os error N)"; keep the words.
            let words = text.split(" (os error").next().unwrap_or(&text);
            match errno_name(errno) {
                Some(name) => write!(f, ": {words} ({name})")?,
                None => write!(f, ": {words} (errno {errno})")?,
            }
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for NetlinkError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_operation_errno_and_detail() {
        let e = Fail {
            errno: Some(libc::EEXIST),
            detail: "bridge name taken".into(),
        }
        .during(format_args!("create bridge {:?}", "cni0"));
        assert_eq!(
            e.to_string(),
            "create bridge \"cni0\": File exists (EEXIST): bridge name taken"
        );
        assert!(e.is_exists());
        assert!(!e.is_not_found());
    }

    #[test]
    fn not_found_covers_links_routes_and_addresses() {
        for errno in [libc::ENODEV, libc::ESRCH, libc::EADDRNOTAVAIL, libc::ENOENT] {
            assert!(Fail::os(errno).during("x").is_not_found(), "{errno}");
        }
        assert!(!Fail::os(libc::EPERM).during("x").is_not_found());
        assert!(!Fail::protocol("bad").during("x").is_not_found());
    }

    #[test]
    fn unknown_errno_still_shown() {
        let e = Fail::os(133).during("op");
        assert!(e.to_string().contains("errno 133"), "{e}");
    }
}
