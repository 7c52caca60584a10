//! The backup of the link attributes tuning changed, so that DEL can put
//! them back: `<dataDir>/<CNI_CONTAINERID>_<CNI_IFNAME>.json`, byte for
//! byte in the reference's format (Go's `json.MarshalIndent` with a
//! one-space indent of its `configToRestore`), so the reference restores
//! what we tuned and we restore what it tuned.
//!
//! Only the attributes a config changes are recorded, with the value the
//! link had before: `mac` (lower-case colon form), `promisc`, `mtu`,
//! `allmulti`, `txQLen`, in that order. Sysctls are not backed up (the
//! reference decided so: the pod's namespace usually dies with the pod).
//!
//! Beyond the reference:
//! - a second ADD keeps the originals already recorded (the reference
//!   overwrote them with the tuned values, so DEL "restored" those);
//! - the file is written to a temporary name and renamed (ARCHITECTURE.md
//!   principle 6), so a reader never sees half a file;
//! - each backup we write has an empty marker
//!   `<dataDir>/.networks/<network>/<cid>_<ifname>`: the backup's own name
//!   does not say which network it belongs to, and GC, which only knows
//!   the valid attachments of one network, must not remove another
//!   network's backups. Backups without a marker (written by the
//!   reference) are left to DEL.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use libcni::spec::Attachment;
use libcni::{Error, Errors, fsutil};

use crate::code;

/// The original values of the attributes a config changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// The MAC address, `aa:bb:cc:dd:ee:ff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Whether promiscuous mode was on (recorded when `promisc: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promisc: Option<bool>,
    /// The MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Whether all-multicast was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allmulti: Option<bool>,
    /// The transmit queue length (0 is recorded: it is a real value).
    #[serde(rename = "txQLen", default, skip_serializing_if = "Option::is_none")]
    pub txqlen: Option<u32>,
}

impl Backup {
    /// The file's text: Go's `MarshalIndent(v, "", " ")`, no trailing
    /// newline. An empty MAC and an MTU of 0 are omitted, as Go's
    /// `omitempty` does.
    pub fn to_text(&self) -> String {
        let mut b = self.clone();
        b.mac = b.mac.filter(|m| !m.is_empty());
        b.mtu = b.mtu.filter(|m| *m != 0);
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // A struct of strings, booleans and integers always serializes.
        if b.serialize(&mut ser).is_err() {
            return "{}".to_string();
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Read a backup file's text. Unknown keys are ignored and `mtu: 0`
    /// means "not recorded", as in the reference. Returns why the text
    /// cannot be used.
    pub fn parse(text: &[u8]) -> Result<Backup, String> {
        let mut b: Backup = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        b.mac = b.mac.filter(|m| !m.is_empty());
        b.mtu = b.mtu.filter(|m| *m != 0);
        Ok(b)
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        *self == Backup::default()
    }

    /// This backup with every attribute `older` already recorded taken
    /// from `older`: the first ADD saw the originals, a later one only
    /// sees what tuning set.
    pub fn keeping(self, older: &Backup) -> Backup {
        Backup {
            mac: older.mac.clone().or(self.mac),
            promisc: older.promisc.or(self.promisc),
            mtu: older.mtu.or(self.mtu),
            allmulti: older.allmulti.or(self.allmulti),
            txqlen: older.txqlen.or(self.txqlen),
        }
    }
}

/// The backups of one `dataDir`.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// The directory of GC markers, under the data dir. Its name starts with
/// a dot, which no container ID can (they start with a letter or digit),
/// so it never collides with a backup.
const MARKERS: &str = ".networks";

fn io_error(what: &str, path: &Path, e: &io::Error) -> Error {
    Error::plugin(code::BACKUP, format!("{what} {}: {e}", path.display()))
}

impl Store {
    /// The backups under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    /// `<dataDir>/<cid>_<ifname>.json`. Both parts were validated by the
    /// skeleton (ARCHITECTURE.md principle 7): no `/`, no leading dot.
    pub fn file(&self, cid: &str, ifname: &str) -> PathBuf {
        self.dir.join(format!("{cid}_{ifname}.json"))
    }

    fn marker_dir(&self, network: &str) -> PathBuf {
        self.dir.join(MARKERS).join(network)
    }

    fn marker(&self, network: &str, cid: &str, ifname: &str) -> PathBuf {
        self.marker_dir(network).join(format!("{cid}_{ifname}"))
    }

    /// The backup's bytes, or None when there is none.
    pub fn read(&self, cid: &str, ifname: &str) -> Result<Option<Vec<u8>>, Error> {
        let path = self.file(cid, ifname);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading the tuning backup", &path, &e)),
        }
    }

    /// Write the backup (mode 0600) through a temporary file and a rename,
    /// creating the data dir (0700) and the network's marker first.
    pub fn write(&self, network: &str, cid: &str, ifname: &str, text: &[u8]) -> Result<(), Error> {
        let marker_dir = self.marker_dir(network);
        fsutil::create_private_dir(&marker_dir)
            .map_err(|e| io_error("creating the tuning data directory", &marker_dir, &e))?;
        let marker = self.marker(network, cid, ifname);
        std::fs::write(&marker, b"").map_err(|e| io_error("writing", &marker, &e))?;
        let path = self.file(cid, ifname);
        fsutil::write_atomic(&path, text)
            .map_err(|e| io_error("writing the tuning backup", &path, &e))
    }

    /// Remove the backup and its marker; both may already be gone.
    pub fn remove(&self, network: &str, cid: &str, ifname: &str) -> Result<(), Error> {
        let mut errors = Errors::new();
        for path in [self.file(cid, ifname), self.marker(network, cid, ifname)] {
            errors.record(remove_file(&path));
        }
        errors.finish("removing the tuning backup")
    }

    /// GC: remove the backups this network wrote for attachments that are
    /// not in `valid`. Every failure is reported; the rest still goes.
    pub fn gc(&self, network: &str, valid: &[Attachment]) -> Result<(), Error> {
        let dir = self.marker_dir(network);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("listing", &dir, &e)),
        };
        let keep: std::collections::HashSet<String> = valid
            .iter()
            .map(|a| format!("{}_{}", a.container_id, a.ifname))
            .collect();
        let mut errors = Errors::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors.push(io_error("listing", &dir, &e));
                    continue;
                }
            };
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if keep.contains(&name) {
                continue;
            }
            let backup = self.dir.join(format!("{name}.json"));
            let leftovers = fsutil::leftover_temp_files(&backup);
            for path in [backup, entry.path()].into_iter().chain(leftovers) {
                errors.record(remove_file(&path));
            }
        }
        errors.finish("GC")
    }
}

fn remove_file(path: &Path) -> Result<(), Error> {
    fsutil::remove_if_exists(path).map_err(|e| io_error("removing", path, &e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn text_is_the_references_format() {
        let b = Backup {
            mac: Some("0a:58:0a:58:00:05".into()),
            mtu: Some(1500),
            ..Backup::default()
        };
        assert_eq!(
            b.to_text(),
            "{\n \"mac\": \"0a:58:0a:58:00:05\",\n \"mtu\": 1500\n}"
        );
        let all = Backup {
            mac: Some("0a:00:00:00:00:01".into()),
            promisc: Some(false),
            mtu: Some(1450),
            allmulti: Some(true),
            txqlen: Some(0),
        };
        assert_eq!(
            all.to_text(),
            "{\n \"mac\": \"0a:00:00:00:00:01\",\n \"promisc\": false,\n \"mtu\": 1450,\n \"allmulti\": true,\n \"txQLen\": 0\n}"
        );
        assert_eq!(Backup::default().to_text(), "{}");
        let zero = Backup {
            mac: Some(String::new()),
            mtu: Some(0),
            ..Backup::default()
        };
        assert_eq!(zero.to_text(), "{}");
        assert_eq!(Backup::parse(all.to_text().as_bytes()).unwrap(), all);
    }

    #[test]
    fn parse_is_lenient_like_go_but_rejects_garbage() {
        let b = Backup::parse(br#"{"mtu":0,"mac":"","other":1,"txQLen":5}"#).unwrap();
        assert_eq!(
            b,
            Backup {
                txqlen: Some(5),
                ..Backup::default()
            }
        );
        assert!(Backup::parse(b"").is_err());
        assert!(Backup::parse(b"{\"mtu\": -1}").is_err());
        assert!(Backup::parse(b"{\"mtu\": 1500").is_err());
    }

    #[test]
    fn a_second_add_keeps_the_first_originals() {
        let first = Backup {
            mtu: Some(1500),
            mac: Some("0a:00:00:00:00:01".into()),
            ..Backup::default()
        };
        let second = Backup {
            mtu: Some(9000),
            allmulti: Some(false),
            ..Backup::default()
        };
        let m = second.keeping(&first);
        assert_eq!(m.mtu, Some(1500));
        assert_eq!(m.mac.as_deref(), Some("0a:00:00:00:00:01"));
        assert_eq!(m.allmulti, Some(false));
    }

    #[test]
    fn write_read_remove_and_gc_by_network() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let s = Store::new(dir.path().join("data"));
        assert_eq!(s.read("c1", "eth0").unwrap(), None);
        s.write("net1", "c1", "eth0", b"{}").unwrap();
        s.write("net1", "c2", "eth0", b"{}").unwrap();
        s.write("net2", "c3", "eth1", b"{}").unwrap();
        let f = s.file("c1", "eth0");
        assert_eq!(f, dir.path().join("data/c1_eth0.json"));
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let d = std::fs::metadata(dir.path().join("data")).unwrap();
        assert_eq!(d.permissions().mode() & 0o777, 0o700);
        assert_eq!(s.read("c1", "eth0").unwrap().unwrap(), b"{}");
        // A backup the reference wrote has no marker: GC leaves it.
        std::fs::write(s.file("ref", "eth0"), "{}").unwrap();

        // GC of net1 keeps c1, removes c2, and never looks at net2.
        let valid = [Attachment {
            container_id: "c1".into(),
            ifname: "eth0".into(),
        }];
        s.gc("net1", &valid).unwrap();
        assert!(s.read("c1", "eth0").unwrap().is_some());
        assert!(s.read("c2", "eth0").unwrap().is_none());
        assert!(s.read("c3", "eth1").unwrap().is_some());
        assert!(s.read("ref", "eth0").unwrap().is_some());
        assert!(!dir.path().join("data/.networks/net1/c2_eth0").exists());
        s.gc("net-none", &[]).unwrap();

        s.remove("net1", "c1", "eth0").unwrap();
        assert!(s.read("c1", "eth0").unwrap().is_none());
        assert!(!dir.path().join("data/.networks/net1/c1_eth0").exists());
        // Idempotent.
        s.remove("net1", "c1", "eth0").unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn write_failure_is_a_backup_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let e = Store::new(&file)
            .write("n", "c", "eth0", b"{}")
            .unwrap_err();
        assert_eq!(e.code, code::BACKUP);
        assert!(e.msg.contains("not-a-dir"), "{}", e.msg);
    }
}
