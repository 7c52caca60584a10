//! What one record file says, and reading every record of a network.
//!
//! A record is a file `<dataDir>/<network>/<address>` whose content names
//! the attachment holding the address: `<containerID>\r\n<ifname>` with no
//! trailing newline, or only `<containerID>` in stores written by very old
//! reference versions. The reference compares the whitespace-trimmed
//! content (plugins:.../backend/disk/backend.go), and so do we.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use libcni::Error;
use libcni::spec::conf::{interface_name_problem, is_valid_name};

use super::io_err;

/// Longest file name the index can use (NAME_MAX on Linux filesystems).
const NAME_MAX: usize = 255;

/// Largest record content we read; real records are under 300 bytes.
const MAX_RECORD: u64 = 4096;

/// The attachment an ADD, DEL or CHECK is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
}

impl Key {
    /// A key from the call's container ID and interface name.
    pub fn new(container_id: &str, ifname: &str) -> Key {
        Key {
            container_id: container_id.trim().to_string(),
            ifname: ifname.to_string(),
        }
    }

    /// The record content for this attachment (the reference's format).
    pub fn content(&self) -> String {
        format!("{}\r\n{}", self.container_id, self.ifname)
    }

    /// The index directory holding this attachment's records, or `None`
    /// when the name cannot be used (then the store scans instead).
    pub fn index_name(&self) -> Option<String> {
        index_name(&self.container_id, Some(&self.ifname))
    }

    /// The index directory of records written in the legacy
    /// containerID-only format for this container.
    pub fn legacy_index_name(&self) -> Option<String> {
        index_name(&self.container_id, None)
    }
}

/// Index directory name for an owner: `<id>:<ifname>`, or `<id>` for a
/// legacy record. Only names a valid request can produce are used: the
/// container ID rule excludes ':' and '/', and so does the ifname rule, so
/// the name is unambiguous and cannot leave the index directory.
fn index_name(container_id: &str, ifname: Option<&str>) -> Option<String> {
    if !is_valid_name(container_id) {
        return None;
    }
    let name = match ifname {
        Some(i) if interface_name_problem(i).is_none() => format!("{container_id}:{i}"),
        Some(_) => return None,
        None => container_id.to_string(),
    };
    (name.len() <= NAME_MAX).then_some(name)
}

/// Who a record says holds its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// `<containerID>\r\n<ifname>` (trimmed).
    Attachment {
        /// Container ID as written.
        container_id: String,
        /// Interface name as written.
        ifname: String,
    },
    /// Only `<containerID>`: written by reference versions before 0.7.
    Legacy(String),
    /// Empty or unreadable content: a reservation that never completed
    /// (the reference writes the content after creating the file).
    Unknown,
}

impl Owner {
    /// Parse record content the way the reference matches it.
    pub fn parse(content: &[u8]) -> Owner {
        let Ok(text) = std::str::from_utf8(content) else {
            return Owner::Unknown;
        };
        let text = text.trim();
        if text.is_empty() {
            return Owner::Unknown;
        }
        match text.split_once("\r\n") {
            Some((id, ifname)) => Owner::Attachment {
                container_id: id.to_string(),
                ifname: ifname.to_string(),
            },
            None => Owner::Legacy(text.to_string()),
        }
    }

    /// Whether this record belongs to `key` in the current format.
    pub fn is(&self, key: &Key) -> bool {
        matches!(self, Owner::Attachment { container_id, ifname }
            if *container_id == key.container_id && *ifname == key.ifname)
    }

    /// Whether this is a legacy record of `key`'s container.
    pub fn is_legacy_of(&self, key: &Key) -> bool {
        matches!(self, Owner::Legacy(id) if *id == key.container_id)
    }

    /// The index directory name for this owner, if it has one.
    pub fn index_name(&self) -> Option<String> {
        match self {
            Owner::Attachment {
                container_id,
                ifname,
            } => index_name(container_id, Some(ifname)),
            Owner::Legacy(id) => index_name(id, None),
            Owner::Unknown => None,
        }
    }
}

/// One record found on disk.
#[derive(Debug, Clone)]
pub struct Record {
    /// The file name (the address text; kept verbatim for unlinking).
    pub name: OsString,
    /// The address.
    pub ip: IpAddr,
    /// Inode number: index entries are hard links to it.
    pub ino: u64,
    /// Who holds it.
    pub owner: Owner,
}

/// The address a directory entry name stands for, if it is a record name.
/// `lock`, `last_reserved_ip.N` and the index directory never parse.
pub fn record_ip(name: &std::ffi::OsStr) -> Option<IpAddr> {
    name.to_str()?.parse::<IpAddr>().ok()
}

/// Read one record. `None` for anything that is not a regular file we
/// can read (symlinks, FIFOs, unreadable files): the reference skips
/// unreadable files too, and teardown must not fail on them.
pub(super) fn read_record(path: &Path) -> Option<(u64, Owner)> {
    // O_NONBLOCK: opening a FIFO planted in the store must not hang.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file: File = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            libcni::cni_warn!("skipping {}: {e}", path.display());
            return None;
        }
    };
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut content = Vec::new();
    if let Err(e) = file.take(MAX_RECORD).read_to_end(&mut content) {
        libcni::cni_warn!("skipping unreadable {}: {e}", path.display());
        return None;
    }
    Some((meta.ino(), Owner::parse(&content)))
}

/// Every record in the network directory `dir` (reads each file: O(n)).
pub fn scan(dir: &Path) -> Result<Vec<Record>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_err("listing", dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("listing", dir, e))?;
        let name = entry.file_name();
        let Some(ip) = record_ip(&name) else { continue };
        if let Some((ino, owner)) = read_record(&dir.join(&name)) {
            out.push(Record {
                name,
                ip: ip.to_canonical(),
                ino,
                owner,
            });
        }
    }
    Ok(out)
}

/// The addresses taken in `dir`, without reading contents (for STATUS:
/// cheap, and content does not matter for counting). Only names an
/// allocation would collide with count: the canonical text of an address,
/// the name ADD links to. A stray `::ffff:10.0.0.2` or `fd00:0::2` does
/// not keep `10.0.0.2` or `fd00::2` from being handed out.
pub fn addresses(dir: &Path) -> Result<Vec<IpAddr>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_err("listing", dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("listing", dir, e))?;
        let name = entry.file_name();
        if let Some(ip) = record_ip(&name)
            && ip.to_canonical() == ip
            && name.to_str() == Some(ip.to_string().as_str())
        {
            out.push(ip);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_parse_like_the_reference_matches() {
        assert_eq!(
            Owner::parse(b"abc\r\neth0"),
            Owner::Attachment {
                container_id: "abc".into(),
                ifname: "eth0".into()
            }
        );
        // Trimmed, as the reference compares trimmed content.
        assert!(Owner::parse(b" abc\r\neth0\n").is(&Key::new("abc", "eth0")));
        assert_eq!(Owner::parse(b"abc\n"), Owner::Legacy("abc".into()));
        assert!(Owner::parse(b"abc").is_legacy_of(&Key::new("abc", "eth0")));
        assert_eq!(Owner::parse(b""), Owner::Unknown);
        assert_eq!(Owner::parse(b"  \n"), Owner::Unknown);
        assert_eq!(Owner::parse(&[0xff, 0xfe]), Owner::Unknown);
        assert!(!Owner::parse(b"abc\r\neth1").is(&Key::new("abc", "eth0")));
    }

    #[test]
    fn content_is_byte_compatible() {
        assert_eq!(Key::new("c1", "eth0").content(), "c1\r\neth0");
    }

    #[test]
    fn index_names_are_safe_path_components() {
        assert_eq!(Key::new("c1", "eth0").index_name().unwrap(), "c1:eth0");
        assert_eq!(Key::new("c1", "eth0").legacy_index_name().unwrap(), "c1");
        assert!(Key::new("../x", "eth0").index_name().is_none());
        assert!(Key::new("c1", "a/b").index_name().is_none());
        assert!(Key::new(&"a".repeat(251), "eth0").index_name().is_none());
        assert!(Key::new(&"a".repeat(250), "eth0").index_name().is_some());
        assert!(Owner::parse(b"c1\r\neth0\r\nx").index_name().is_none());
        assert!(Owner::Unknown.index_name().is_none());
    }

    #[test]
    fn taken_addresses_are_the_canonical_names() {
        let d = tempfile::tempdir().unwrap();
        for name in [
            "10.0.0.2",
            "fd00::2",
            "::ffff:10.0.0.3",
            "fd00:0::3",
            "lock",
        ] {
            std::fs::write(d.path().join(name), "c\r\neth0").unwrap();
        }
        let mut got: Vec<String> = addresses(d.path())
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        got.sort();
        assert_eq!(got, ["10.0.0.2", "fd00::2"]);
    }

    #[test]
    fn record_names() {
        assert!(record_ip("10.0.0.2".as_ref()).is_some());
        assert!(record_ip("fd00::2".as_ref()).is_some());
        for other in [
            "lock",
            "last_reserved_ip.0",
            ".by-attachment",
            "10.0.0.2.tmp",
        ] {
            assert!(record_ip(other.as_ref()).is_none(), "{other}");
        }
    }
}
