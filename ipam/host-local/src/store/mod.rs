//! The on-disk address store, byte-compatible with the reference.
//!
//! Layout of `<dataDir>/<network>/` (plugins:.../backend/disk/backend.go):
//!
//! - `<address>`: one record per reserved address, named by the canonical
//!   address text, content `<containerID>\r\n<ifname>` (see [`record`]).
//! - `last_reserved_ip.<rangeSetIndex>`: the last address handed out from
//!   that set, for round-robin allocation.
//! - `lock`: every operation holds `flock(LOCK_EX)` on it, so our binary
//!   and the reference exclude each other on the same directory.
//! - `.by-attachment/`: our index (see [`index`]): one symbolic link per
//!   attachment listing its addresses; the reference skips it.
//!
//! Improvements over the reference: a record is written to an unnamed
//! file, flushed, and hard-linked into place ([`pending`]), so it is either
//! absent or complete after a crash or power loss; ADD, DEL and CHECK cost does not
//! grow with the number of records (the reference reads every file).

mod index;
mod pending;
pub mod record;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use libcni::Error;

use pending::Pending;
pub use record::{Key, Owner, Record};

/// The lock file the reference also takes.
pub const LOCK_FILE: &str = "lock";
/// Prefix of the per-range-set round-robin files.
pub const LAST_RESERVED_PREFIX: &str = "last_reserved_ip.";
/// Our index directory inside the network directory.
pub const INDEX_DIR: &str = ".by-attachment";
/// Prefix of temporary files (inside the index directory). Starts with
/// '.', which no container ID can, so it never collides with an index name.
const TMP_PREFIX: &str = ".tmp.";

/// Mode of record files (the reference's current mode; 1.1.1 used 0644).
const RECORD_MODE: u32 = 0o600;

/// An I/O error on the store, code 5, naming the path.
pub(crate) fn io_err(what: &str, path: &Path, e: io::Error) -> Error {
    Error::io(format!("host-local store: {what} {}: {e}", path.display()))
}

/// A network's store, locked for the lifetime of the value.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    index: PathBuf,
    _lock: File,
    /// Whether the index can be trusted for lookups in this operation.
    indexed: bool,
    /// Whether this operation changed the directory (restamp at the end).
    changed: bool,
    /// Whether a change may have left the index inexact (never restamp).
    broken: bool,
    tmp_seq: u32,
}

/// Reject a network name that could leave `dataDir` (defence in depth: the
/// skeleton already checks the spec's name rule).
fn check_network_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Error::invalid_config(format!(
            "network name {name:?} cannot be used as a directory name under dataDir"
        )));
    }
    Ok(())
}

impl Store {
    /// Open (creating directories as needed) and lock the store of
    /// `network` under `data_dir`.
    pub fn open(data_dir: &Path, network: &str) -> Result<Store, Error> {
        check_network_name(network)?;
        let dir = data_dir.join(network);
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(|e| io_err("creating", &dir, e))?;
        Self::lock(dir)
    }

    /// Like [`Store::open`] but `None` when the network directory does not
    /// exist (DEL and GC have nothing to do then, and create nothing).
    pub fn open_existing(data_dir: &Path, network: &str) -> Result<Option<Store>, Error> {
        check_network_name(network)?;
        let dir = data_dir.join(network);
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Self::lock(dir).map(Some),
            Ok(_) => Err(Error::io(format!(
                "host-local store: {} is not a directory",
                dir.display()
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("opening", &dir, e)),
        }
    }

    fn lock(dir: PathBuf) -> Result<Store, Error> {
        let path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_err("opening", &path, e))?;
        lock.lock().map_err(|e| io_err("locking", &path, e))?;
        let mut store = Store {
            index: dir.join(INDEX_DIR),
            dir,
            _lock: lock,
            indexed: false,
            changed: false,
            broken: false,
            tmp_seq: 0,
        };
        if store.index_is_current() {
            store.indexed = true;
        } else {
            store.rebuild_index()?;
        }
        Ok(store)
    }

    /// The network directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// End the operation: mark the index current if this operation left
    /// it exact, then release the lock.
    pub fn finish(self) {
        if self.changed && !self.broken && self.indexed {
            self.stamp();
        }
    }

    /// A fresh name for a temporary in the index directory. Temporaries
    /// only exist while their creator holds the lock, so one found by a
    /// lock holder is garbage of a crashed call (rebuilds remove them).
    fn temp_path(&mut self) -> PathBuf {
        self.changed = true;
        self.tmp_seq += 1;
        self.index.join(format!(
            "{TMP_PREFIX}{}.{}",
            std::process::id(),
            self.tmp_seq
        ))
    }

    /// A complete, flushed record holding `content`, not yet named.
    fn pending(&mut self, content: &[u8]) -> Result<Pending, Error> {
        let index = self.index.clone();
        let p = Pending::create(&index, RECORD_MODE, content, true, || {
            let path = self.temp_path();
            // Left by a crashed process that had our pid and sequence.
            let _ = fs::remove_file(&path);
            path
        });
        p.map_err(|e| io_err("writing a record in", &index, e))
    }

    /// Check that a record can be written (STATUS): write, flush, name and
    /// remove a test record in the index directory.
    pub fn probe_write(&mut self) -> Result<(), Error> {
        let pending = self.pending(b"probe")?;
        let path = self.temp_path();
        let linked = pending.link_to(&path);
        pending.discard();
        linked.map_err(|e| io_err("creating", &path, e))?;
        fs::remove_file(&path).map_err(|e| io_err("removing", &path, e))
    }

    /// Reserve the first free address of `candidates` for `key`, as range
    /// set `set`. Returns the address, or `None` when every candidate is
    /// taken. The record appears atomically (hard link of a complete,
    /// flushed file; `link` fails if the name exists, like O_EXCL).
    pub fn reserve(
        &mut self,
        key: &Key,
        set: usize,
        candidates: impl IntoIterator<Item = IpAddr>,
    ) -> Result<Option<IpAddr>, Error> {
        let pending = self.pending(key.content().as_bytes())?;
        self.changed = true;
        let mut won = None;
        for ip in candidates {
            let path = self.dir.join(ip.to_string());
            match pending.link_to(&path) {
                Ok(()) => {
                    won = Some(ip);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    pending.discard();
                    return Err(io_err("creating", &path, e));
                }
            }
        }
        pending.discard();
        let Some(ip) = won else {
            return Ok(None);
        };
        if let Some(name) = key.index_name() {
            self.update_entry(&name, Some(ip.to_string().as_ref()), None);
        }
        self.set_last_reserved(set, ip);
        Ok(Some(ip))
    }

    /// Every address held by `key` (current format, else legacy records of
    /// its container), as the reference's duplicate check counts them.
    pub fn addresses_of(&self, key: &Key) -> Result<Vec<IpAddr>, Error> {
        let mut out = self.lookup(key, false)?;
        out.extend(self.lookup(key, true)?);
        Ok(out.into_iter().map(|r| r.ip).collect())
    }

    /// The records of `key`: current-format ones, or (`legacy`) the
    /// containerID-only ones of its container.
    pub fn lookup(&self, key: &Key, legacy: bool) -> Result<Vec<Record>, Error> {
        let (name, owner) = if legacy {
            (
                key.legacy_index_name(),
                Owner::Legacy(key.container_id.clone()),
            )
        } else {
            (
                key.index_name(),
                Owner::Attachment {
                    container_id: key.container_id.clone(),
                    ifname: key.ifname.clone(),
                },
            )
        };
        match name {
            Some(name) if self.indexed => self.index_lookup(&name, &owner),
            _ => Ok(record::scan(&self.dir)?
                .into_iter()
                .filter(|r| {
                    if legacy {
                        r.owner.is_legacy_of(key)
                    } else {
                        r.owner.is(key)
                    }
                })
                .collect()),
        }
    }

    /// Release every address of `key` (DEL): its current-format records,
    /// or, when it has none, the legacy records of its container (as the
    /// reference does). Returns what was released.
    pub fn release(&mut self, key: &Key) -> Result<Vec<IpAddr>, Error> {
        let mut recs = self.lookup(key, false)?;
        let mut entry = key.index_name();
        if recs.is_empty() {
            recs = self.lookup(key, true)?;
            entry = key.legacy_index_name();
        }
        if let Some(name) = entry.filter(|_| !recs.is_empty()) {
            self.drop_entry(&name);
        }
        let mut errors = Vec::new();
        let mut released = Vec::new();
        for r in &recs {
            match self.remove_record(r) {
                Ok(()) => released.push(r.ip),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.is_empty() {
            Ok(released)
        } else {
            Err(Error::io(format!(
                "host-local store: releasing the addresses of {}/{}: {}",
                key.container_id,
                key.ifname,
                errors.join("; ")
            )))
        }
    }

    /// Release one address reserved by `key` in this operation (rollback).
    pub fn release_one(&mut self, key: &Key, ip: IpAddr) -> Result<(), Error> {
        let recs = self.lookup(key, false)?;
        let Some(r) = recs.iter().find(|r| r.ip == ip) else {
            return Ok(());
        };
        self.remove_record(r)?;
        if let Some(name) = key.index_name() {
            self.update_entry(&name, None, Some(&r.name));
        }
        Ok(())
    }

    /// Remove a record (callers fix the index after). Stale index entries
    /// are harmless: every listed address is checked against its record.
    fn remove_record(&mut self, r: &Record) -> Result<(), Error> {
        self.changed = true;
        let path = self.dir.join(&r.name);
        // Only while it is still the same file with the same owner: never
        // release an address someone else holds now.
        let same = matches!(record::read_record(&path), Some((ino, owner)) if ino == r.ino && owner == r.owner);
        if same {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    self.broken = true;
                    return Err(io_err("removing", &path, e));
                }
            }
        }
        Ok(())
    }

    /// Release every record whose owner `keep` rejects (GC). Always scans
    /// the whole directory (GC is the one O(records) operation) and also
    /// repairs the index. Returns the released records.
    pub fn collect(&mut self, keep: impl Fn(&Owner) -> bool) -> Result<Vec<Record>, Error> {
        let records = self.rebuild_index()?;
        let mut released = Vec::new();
        let mut errors = Vec::new();
        for r in records.into_iter().filter(|r| !keep(&r.owner)) {
            match self.remove_record(&r) {
                Ok(()) => released.push(r),
                Err(e) => errors.push(e.to_string()),
            }
        }
        // `keep` judges owners, so every record of these owners is gone.
        for name in released.iter().filter_map(|r| r.owner.index_name()) {
            self.drop_entry(&name);
        }
        if errors.is_empty() {
            Ok(released)
        } else {
            Err(Error::io(format!("host-local GC: {}", errors.join("; "))))
        }
    }

    /// The addresses of all records (names only; for STATUS).
    pub fn all_addresses(&self) -> Result<Vec<IpAddr>, Error> {
        record::addresses(&self.dir)
    }

    /// The last address reserved from range set `set`, if recorded.
    pub fn last_reserved(&self, set: usize) -> Option<IpAddr> {
        let path = self.dir.join(format!("{LAST_RESERVED_PREFIX}{set}"));
        let text = fs::read_to_string(path).ok()?;
        text.trim()
            .parse::<IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical())
    }

    /// Record `ip` as the last address reserved from set `set`, in place
    /// as the reference does. It is only a hint for round-robin order: a
    /// file torn by a crash fails to parse and the walk starts over at the
    /// first range, so a failure is logged, not returned.
    fn set_last_reserved(&mut self, set: usize, ip: IpAddr) {
        let path = self.dir.join(format!("{LAST_RESERVED_PREFIX}{set}"));
        let written = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(RECORD_MODE)
            .open(&path)
            .and_then(|mut f| f.write_all(ip.to_string().as_bytes()));
        if let Err(e) = written {
            libcni::cni_warn!("{}", io_err("writing", &path, e));
        }
    }
}

#[cfg(test)]
mod tests;
