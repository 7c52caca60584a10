//! The saved delegate config of each attachment, in `dataDir`, so that DEL
//! replays exactly what ADD ran even after `subnet.env` changed or is gone
//! (ARCHITECTURE.md principle 6).
//!
//! Two names per attachment:
//! - `<containerID>`: the reference's name. ADD writes it too, so a node
//!   switched back to the Go plugin can still DEL pods we added; our DEL
//!   reads it when our own file is absent, so we can DEL pods the Go plugin
//!   added. Go reads only `type` from it and passes the bytes on, so any
//!   delegate config serves.
//! - `<containerID>:<ifname>`: ours. The reference's name holds one
//!   attachment per container, so a second attachment overwrote the
//!   first one's config. `:` cannot appear in an interface name (the
//!   kernel refuses it) nor in a container ID (the spec's character set),
//!   so the two names never collide.
//!
//! Files are written through [`libcni::fsutil::write_atomic`] (temporary
//! file, fsync, rename): the reference once left zero-byte files after a
//! power loss, and every DEL of those pods then failed.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use libcni::{Error, fsutil};

use crate::code;

/// The `dataDir` of one flannel network.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// A saved delegate config, as found on disk.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The file it came from.
    pub path: PathBuf,
    /// Its bytes, replayed as they are.
    pub bytes: Vec<u8>,
}

impl Saved {
    /// The delegate config as a JSON object, when the file holds one.
    pub fn parse(&self) -> Option<Map<String, Value>> {
        serde_json::from_slice(&self.bytes).ok()
    }

    /// The delegate plugin it names, when it is a delegate config at all.
    pub fn plugin_type(&self) -> Option<String> {
        self.parse()
            .and_then(|d| crate::delegate::plugin_type(&d).map(str::to_string))
    }
}

/// One file of the store, for GC.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The container the file is for.
    pub container_id: String,
    /// The interface, for our own files; `None` for the reference's.
    pub ifname: Option<String>,
    /// The file.
    pub saved: Saved,
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::plugin(
        code::SCRATCH,
        format!(
            "{what} {}: {e}; check that the flannel dataDir is a writable directory",
            path.display()
        ),
    )
}

impl Store {
    /// The store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    fn ours(&self, cid: &str, ifname: &str) -> PathBuf {
        self.dir.join(format!("{cid}:{ifname}"))
    }

    fn reference(&self, cid: &str) -> PathBuf {
        self.dir.join(cid)
    }

    /// Save `bytes` for the attachment (directory 0700, files 0600), under
    /// both names.
    pub fn save(&self, cid: &str, ifname: &str, bytes: &[u8]) -> Result<(), Error> {
        fsutil::create_private_dir(&self.dir).map_err(|e| io_error("creating", &self.dir, &e))?;
        for path in [self.ours(cid, ifname), self.reference(cid)] {
            fsutil::write_atomic(&path, bytes).map_err(|e| io_error("writing", &path, &e))?;
        }
        Ok(())
    }

    /// The saved configs of the attachment that exist, in the order to
    /// try them: ours, then the reference's. A file that cannot be parsed
    /// (zero bytes after a power loss) must not hide a good one behind it.
    pub fn candidates(&self, cid: &str, ifname: &str) -> Result<Vec<Saved>, Error> {
        let mut out = vec![];
        for path in [self.ours(cid, ifname), self.reference(cid)] {
            out.extend(read(&path)?);
        }
        Ok(out)
    }

    /// The first saved config of the attachment that is a delegate config.
    pub fn load(&self, cid: &str, ifname: &str) -> Result<Option<Saved>, Error> {
        Ok(self
            .candidates(cid, ifname)?
            .into_iter()
            .find(|s| s.plugin_type().is_some()))
    }

    /// Forget the attachment whose config was `replayed`: our file, and the
    /// reference's name when it holds the same bytes (another attachment of
    /// the container may have written it since; then it stays for that
    /// one).
    pub fn remove(&self, cid: &str, ifname: &str, replayed: &Saved) -> Result<(), Error> {
        let ours = self.ours(cid, ifname);
        let reference = self.reference(cid);
        let mut doomed = vec![ours.clone()];
        if replayed.path == reference
            || read(&reference)?.is_some_and(|s| s.bytes == replayed.bytes)
        {
            doomed.push(reference);
        }
        for path in doomed {
            fsutil::remove_if_exists(&path).map_err(|e| io_error("removing", &path, &e))?;
        }
        Ok(())
    }

    /// Remove one file (GC).
    pub fn remove_file(&self, path: &Path) -> Result<(), Error> {
        fsutil::remove_if_exists(path).map_err(|e| io_error("removing", path, &e))?;
        for tmp in fsutil::leftover_temp_files(path) {
            fsutil::remove_if_exists(&tmp).map_err(|e| io_error("removing", &tmp, &e))?;
        }
        Ok(())
    }

    /// Every saved config in the store; temporary files are skipped.
    pub fn list(&self) -> Result<Vec<Entry>, Error> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io_error("listing", &self.dir, &e)),
        };
        let mut out = vec![];
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing", &self.dir, &e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let (container_id, ifname) = match name.split_once(':') {
                Some((c, i)) => (c.to_string(), Some(i.to_string())),
                None => (name.clone(), None),
            };
            if let Some(saved) = read(&entry.path())? {
                out.push(Entry {
                    container_id,
                    ifname,
                    saved,
                });
            }
        }
        Ok(out)
    }
}

fn read(path: &Path) -> Result<Option<Saved>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(Saved {
            path: path.to_path_buf(),
            bytes,
        })),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("reading", path, &e)),
    }
}

#[cfg(test)]
mod tests;
