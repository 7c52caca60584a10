//! The attachment index, so ADD, DEL and CHECK do not read every record.
//!
//! `.by-attachment/<containerID>:<ifname>/<address>` (and
//! `.by-attachment/<containerID>/<address>` for legacy records) are hard
//! links to the records. Listing one small directory answers "which
//! addresses does this attachment hold" in O(1) records.
//!
//! How it stays right when the reference binary shares the store:
//!
//! - The reference's DEL walks the network directory recursively and
//!   deletes every file whose trimmed content matches; a hard link has the
//!   record's content, so it deletes the record and its index entries
//!   together. Its duplicate check only counts files whose names parse as
//!   addresses, which index entries also are, so it sees the same owner.
//! - The reference's ADD creates a record we have not indexed. Every
//!   change the reference (or a crash, or an operator) makes adds or
//!   removes an entry of the network directory, which sets the directory's
//!   mtime to the current time. After each operation we set the mtimes of
//!   the network directory and of the index to one value in the past with a
//!   fixed nanosecond field (the "stamp"). An operation that finds the two
//!   mtimes equal knows nobody else touched the directory since; otherwise
//!   it rebuilds the index from a full scan (once, O(records)) before
//!   trusting it. The kernel sets mtimes from the current time, so it does
//!   not produce the past stamp; requiring the stamp's nanosecond field too
//!   keeps two directories changed in the same clock tick (a crash of ours
//!   half-way) from looking current.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File};
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libcni::Error;

use super::record::{self, Key, Owner, Record, record_ip};
use super::{Store, io_err};

/// Nanosecond field of the stamp: a fixed, unremarkable-looking value that
/// a coincidental mtime matches with probability ~1e-9.
const STAMP_NANOS: u32 = 271_828_182;
/// How far in the past the stamp lies; any later change carries a
/// current-time mtime, which is always newer.
const STAMP_AGE_SECS: u64 = 2;

/// Whether `t` carries the stamp's nanosecond field. On a filesystem that
/// cannot store nanoseconds no mtime ever does, so the index is rebuilt on
/// every call there: slower, never wrong.
fn is_stamp(t: SystemTime) -> bool {
    t.duration_since(UNIX_EPOCH)
        .is_ok_and(|d| d.subsec_nanos() == STAMP_NANOS)
}

fn mkdir(path: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(0o755).create(path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

impl Store {
    /// Whether the index matches the records: both directories carry the
    /// stamp of our last complete operation.
    pub(super) fn index_is_current(&self) -> bool {
        let (Ok(d), Ok(i)) = (fs::metadata(&self.dir), fs::symlink_metadata(&self.index)) else {
            return false;
        };
        match (i.is_dir(), d.modified(), i.modified()) {
            // Equal alone is not enough: a crashed operation of ours can
            // change both directories within one clock tick.
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
    /// or foreign entries and temporaries, link missing records. Returns
    /// the records. O(records); runs only after a change we did not make.
    pub(super) fn rebuild_index(&mut self) -> Result<Vec<Record>, Error> {
        self.changed = true;
        self.indexed = false;
        let records = record::scan(&self.dir)?;
        match fs::symlink_metadata(&self.index) {
            Ok(m) if !m.is_dir() => {
                fs::remove_file(&self.index).map_err(|e| io_err("removing", &self.index, e))?
            }
            _ => {}
        }
        mkdir(&self.index).map_err(|e| io_err("creating", &self.index, e))?;

        let mut want: HashMap<(OsString, OsString), u64> = records
            .iter()
            .filter_map(|r| Some(((r.owner.index_name()?.into(), r.name.clone()), r.ino)))
            .collect();
        let mut ok = true;
        let listing = fs::read_dir(&self.index).map_err(|e| io_err("listing", &self.index, e))?;
        for entry in listing {
            let entry = entry.map_err(|e| io_err("listing", &self.index, e))?;
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir {
                // Temporaries of crashed operations and stray files.
                ok &= remove_any(&path);
                continue;
            }
            let dir_name = entry.file_name();
            let mut kept = 0usize;
            let subs = fs::read_dir(&path).map_err(|e| io_err("listing", &path, e))?;
            for sub in subs {
                let sub = sub.map_err(|e| io_err("listing", &path, e))?;
                let k = (dir_name.clone(), sub.file_name());
                let ino = sub.metadata().map(|m| m.ino()).ok();
                if ino.is_some() && want.get(&k) == ino.as_ref() {
                    want.remove(&k);
                    kept += 1;
                } else {
                    ok &= remove_any(&sub.path());
                }
            }
            if kept == 0 {
                let _ = fs::remove_dir(&path);
            }
        }
        for (dir_name, name) in want.into_keys() {
            let kd = self.index.join(&dir_name);
            let linked =
                mkdir(&kd).and_then(|()| fs::hard_link(self.dir.join(&name), kd.join(&name)));
            if let Err(e) = linked {
                libcni::cni_warn!("cannot index {}: {e}", self.dir.join(&name).display());
                ok = false;
            }
        }
        self.indexed = ok;
        self.broken |= !ok;
        Ok(records)
    }

    /// The records listed under index directory `name`, owned by `owner`.
    pub(super) fn index_lookup(&self, name: &str, owner: &Owner) -> Result<Vec<Record>, Error> {
        let dir = self.index.join(name);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("listing", &dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err("listing", &dir, e))?;
            let file_name = entry.file_name();
            let Some(ip) = record_ip(&file_name) else {
                continue;
            };
            let ino = entry
                .metadata()
                .map_err(|e| io_err("inspecting", &entry.path(), e))?
                .ino();
            out.push(Record {
                name: file_name,
                ip: ip.to_canonical(),
                ino,
                owner: owner.clone(),
            });
        }
        Ok(out)
    }

    /// Move the temporary `tmp` (already hard-linked as the record of `ip`)
    /// into the index as the entry of `key`.
    pub(super) fn index_new_record(&mut self, key: &Key, ip: IpAddr, tmp: &Path) {
        let name = match key.index_name() {
            Some(name) if self.indexed => name,
            // Scanning mode, or a key too long to index (such keys are
            // always looked up by scanning).
            _ => {
                let _ = fs::remove_file(tmp);
                return;
            }
        };
        let kd = self.index.join(name);
        let moved = mkdir(&kd).and_then(|()| fs::rename(tmp, kd.join(ip.to_string())));
        if let Err(e) = moved {
            libcni::cni_warn!("cannot index {ip}: {e}; the next call rescans the store");
            let _ = fs::remove_file(tmp);
            self.broken = true;
        }
    }

    /// Remove the index entry `record` of index directory `dir_name`, and
    /// the directory once it is empty.
    pub(super) fn unindex(&mut self, dir_name: &str, record: &OsStr) {
        let kd = self.index.join(dir_name);
        match fs::remove_file(kd.join(record)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                libcni::cni_warn!(
                    "cannot remove index entry {}: {e}",
                    kd.join(record).display()
                );
                self.broken = true;
            }
        }
        // Fails harmlessly (ENOTEMPTY) while other addresses remain.
        let _ = fs::remove_dir(&kd);
    }
}

/// Remove a file or directory tree; false (and a warning) on failure.
fn remove_any(path: &Path) -> bool {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
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
