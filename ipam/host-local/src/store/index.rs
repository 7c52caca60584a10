//! The attachment index, so ADD, DEL and CHECK do not read every record.
//!
//! `.by-attachment/<containerID>:<ifname>` (and `.by-attachment/<containerID>`
//! for legacy records) is a symbolic link whose target is the list of the
//! attachment's record names, comma-separated (`10.1.0.2,fd00::2`). It is
//! never followed: the target is only read with `readlink`, and every
//! address in it is verified against its record (content and owner) before
//! use, so a stale entry can never release someone else's address. A short
//! target lives inside the inode (no data block), and one directory holds
//! all entries, so the index costs about one inode per attachment.
//!
//! How it stays right when the reference binary shares the store:
//!
//! - The reference walks the network directory recursively and reads every
//!   file; an index entry's target does not resolve, so the reference skips
//!   it (read error) and never counts or deletes it.
//! - Every change the reference (or a crash, or an operator) makes adds or
//!   removes an entry of the network directory, which sets the directory's
//!   mtime to the current time. After each complete operation we set the
//!   mtimes of the network directory and of the index to one value in the
//!   past with a fixed nanosecond field (the "stamp"). An operation that
//!   finds both mtimes equal to a stamp knows nobody else touched the
//!   directory since; otherwise it rebuilds the index from a full scan
//!   (once, O(records)) before trusting it. The kernel sets mtimes from the
//!   current time, so it does not produce the past stamp; requiring the
//!   stamp's nanosecond field too keeps two directories changed in the same
//!   clock tick (a crash of ours half-way) from looking current.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libcni::Error;

use super::record::{self, Owner, Record, record_ip};
use super::{Store, io_err};

/// Nanosecond field of the stamp: a fixed, unremarkable-looking value that
/// a coincidental mtime matches with probability ~1e-9.
const STAMP_NANOS: u32 = 271_828_182;
/// How far in the past the stamp lies; any later change carries a
/// current-time mtime, which is always newer.
const STAMP_AGE_SECS: u64 = 2;
/// Separator of record names in an entry's target (never in an address).
const SEP: u8 = b',';

/// Whether `t` carries the stamp's nanosecond field. On a filesystem that
/// cannot store nanoseconds no mtime ever does, so the index is rebuilt on
/// every call there: slower, never wrong.
fn is_stamp(t: SystemTime) -> bool {
    t.duration_since(UNIX_EPOCH)
        .is_ok_and(|d| d.subsec_nanos() == STAMP_NANOS)
}

/// The target text for a list of record names.
fn target(names: &[OsString]) -> OsString {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        out.extend_from_slice(n.as_bytes());
    }
    OsStr::from_bytes(&out).to_owned()
}

/// The record names in an entry's target.
fn names(target: &OsStr) -> Vec<OsString> {
    target
        .as_bytes()
        .split(|b| *b == SEP)
        .filter(|n| !n.is_empty())
        .map(|n| OsStr::from_bytes(n).to_owned())
        .collect()
}

impl Store {
    /// Whether the index matches the records: both directories carry the
    /// stamp of our last complete operation.
    pub(super) fn index_is_current(&self) -> bool {
        let (Ok(d), Ok(i)) = (fs::metadata(&self.dir), fs::symlink_metadata(&self.index)) else {
            return false;
        };
        match (i.is_dir(), d.modified(), i.modified()) {
            (true, Ok(a), Ok(b)) => a == b && is_stamp(a),
            _ => false,
        }
    }

    /// Mark the index current (see the module docs). The network directory
    /// first: a crash in between leaves the two different, which is safe.
    pub(super) fn stamp(&self) {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let t = UNIX_EPOCH + Duration::new(secs.saturating_sub(STAMP_AGE_SECS), STAMP_NANOS);
        for dir in [&self.dir, &self.index] {
            if let Err(e) = File::open(dir).and_then(|f| f.set_modified(t)) {
                libcni::cni_warn!(
                    "cannot stamp {} ({e}); the next call rescans the store",
                    dir.display()
                );
                return;
            }
        }
    }

    /// Scan every record and make the index match it exactly: drop stale
    /// entries and temporaries, write missing or wrong entries. Returns the
    /// records. O(records); runs only after a change we did not make.
    pub(super) fn rebuild_index(&mut self) -> Result<Vec<Record>, Error> {
        self.changed = true;
        self.indexed = false;
        let records = record::scan(&self.dir)?;
        if fs::symlink_metadata(&self.index).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&self.index).map_err(|e| io_err("removing", &self.index, e))?;
        }
        match DirBuilder::new().mode(0o755).create(&self.index) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(io_err("creating", &self.index, e));
            }
            _ => {}
        }

        let mut want: HashMap<OsString, Vec<OsString>> = HashMap::new();
        for r in &records {
            if let Some(name) = r.owner.index_name() {
                want.entry(name.into()).or_default().push(r.name.clone());
            }
        }
        let mut want: HashMap<OsString, OsString> = want
            .into_iter()
            .map(|(k, mut v)| {
                v.sort();
                (k, target(&v))
            })
            .collect();
        let mut ok = true;
        let listing = fs::read_dir(&self.index).map_err(|e| io_err("listing", &self.index, e))?;
        for entry in listing {
            let entry = entry.map_err(|e| io_err("listing", &self.index, e))?;
            let name = entry.file_name();
            let current = fs::read_link(entry.path()).ok();
            if current.is_some_and(|t| want.get(&name) == Some(&t.into_os_string())) {
                want.remove(&name);
            } else {
                // Stale entries, temporaries of crashed calls, strays.
                ok &= remove_any(&entry.path());
            }
        }
        for (name, t) in want {
            // Missing entries are created in place (no temporary + rename:
            // this loop runs once per attachment on a big store).
            let direct = std::os::unix::fs::symlink(&t, self.index.join(&name));
            if let Err(e) = direct.or_else(|_| self.write_entry(&name, &t)) {
                libcni::cni_warn!("{e}");
                ok = false;
            }
        }
        self.indexed = ok;
        self.broken |= !ok;
        Ok(records)
    }

    /// Replace (atomically: symlink under a temporary name, then rename)
    /// the index entry `name` with `target`.
    fn write_entry(&mut self, name: &OsStr, target: &OsStr) -> Result<(), Error> {
        let tmp = self.temp_path();
        let made = std::os::unix::fs::symlink(target, &tmp).or_else(|e| {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(e);
            }
            // Left by a crashed process that had our pid and sequence.
            fs::remove_file(&tmp)?;
            std::os::unix::fs::symlink(target, &tmp)
        });
        made.map_err(|e| io_err("creating", &tmp, e))?;
        let path = self.index.join(name);
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err("replacing", &path, e)
        })
    }

    /// The record names listed by index entry `name` (empty if none).
    fn entry_names(&self, name: &str) -> Result<Vec<OsString>, Error> {
        let path = self.index.join(name);
        match fs::read_link(&path) {
            Ok(t) => Ok(names(t.as_os_str())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_err("reading", &path, e)),
        }
    }

    /// The records listed under index entry `name` that still belong to
    /// `owner` (each one read and checked).
    pub(super) fn index_lookup(&self, name: &str, owner: &Owner) -> Result<Vec<Record>, Error> {
        let mut out = Vec::new();
        for file_name in self.entry_names(name)? {
            let Some(ip) = record_ip(&file_name) else {
                continue;
            };
            let Some((ino, found)) = record::read_record(&self.dir.join(&file_name)) else {
                continue;
            };
            if found == *owner {
                out.push(Record {
                    name: file_name,
                    ip: ip.to_canonical(),
                    ino,
                    owner: found,
                });
            }
        }
        Ok(out)
    }

    /// Change index entry `name`: add `add` to its list and drop `drop`
    /// from it; an empty list removes the entry. A failure leaves the index
    /// untrusted (the next call rebuilds it), it does not fail the call.
    pub(super) fn update_entry(&mut self, name: &str, add: Option<&OsStr>, drop: Option<&OsStr>) {
        if !self.indexed {
            return;
        }
        self.changed = true;
        let result = self.entry_names(name).and_then(|mut list| {
            let was_empty = list.is_empty();
            list.retain(|n| Some(n.as_os_str()) != drop && Some(n.as_os_str()) != add);
            list.extend(add.map(OsStr::to_owned));
            if was_empty && !list.is_empty() {
                // A new entry: creating a symlink is atomic by itself.
                self.changed = true;
                let path = self.index.join(name);
                let t = target(&list);
                std::os::unix::fs::symlink(&t, &path)
                    .or_else(|_| {
                        self.write_entry(name.as_ref(), &t)
                            .map_err(io::Error::other)
                    })
                    .map_err(|e| io_err("creating", &path, e))
            } else if list.is_empty() {
                let path = self.index.join(name);
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        Err(io_err("removing", &path, e))
                    }
                    _ => Ok(()),
                }
            } else {
                self.write_entry(name.as_ref(), &target(&list))
            }
        });
        if let Err(e) = result {
            libcni::cni_warn!("{e}; the next call rescans the store");
            self.broken = true;
        }
    }
}

impl Store {
    /// Remove index entry `name` (all addresses of that attachment went).
    pub(super) fn drop_entry(&mut self, name: &str) {
        self.changed = true;
        let path = self.index.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                libcni::cni_warn!(
                    "cannot remove {}: {e}; the next call rescans the store",
                    path.display()
                );
                self.broken = true;
            }
        }
    }
}

/// Remove a file or directory tree; false (and a warning) on failure.
fn remove_any(path: &Path) -> bool {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => {
            libcni::cni_warn!("cannot remove {}: {e}", path.display());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip() {
        let list = vec![OsString::from("10.0.0.2"), OsString::from("fd00::2")];
        let t = target(&list);
        assert_eq!(t, "10.0.0.2,fd00::2");
        assert_eq!(names(&t), list);
        assert!(names(OsStr::new("")).is_empty());
    }
}
