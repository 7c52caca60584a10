//! A complete, flushed record that has no name yet, to be hard-linked to
//! its address name: the record then appears atomically and is never
//! empty or partial, even after a power loss.
//!
//! Preferably an anonymous `O_TMPFILE` inode (nothing to clean up after a
//! crash, no directory entry created and removed), linked through
//! `/proc/self/fd` (linkat(2) with `AT_SYMLINK_FOLLOW`, which needs no
//! capability). Where the filesystem or kernel lacks `O_TMPFILE`, or /proc
//! is not mounted, a named temporary in the index directory instead.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AT_FDCWD, AtFlags};

/// A written, flushed record file without a name.
#[derive(Debug)]
pub(super) enum Pending {
    /// An `O_TMPFILE` inode.
    Anonymous(File),
    /// A named temporary (removed by `discard`, or by the next index
    /// rebuild after a crash).
    Named(PathBuf),
}

impl Pending {
    /// Write `content` (mode `mode`) into a new unnamed file on the
    /// filesystem of `dir`, flushed to disk when `sync`. `named` gives a
    /// fresh temporary path for the fallback.
    pub(super) fn create(
        dir: &Path,
        mode: u32,
        content: &[u8],
        sync: bool,
        named: impl FnOnce() -> PathBuf,
    ) -> io::Result<Pending> {
        let fill = |mut f: File| {
            f.write_all(content)?;
            if sync {
                f.sync_data()?;
            }
            Ok::<File, io::Error>(f)
        };
        if Path::new("/proc/self/fd").is_dir()
            && let Ok(f) = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_TMPFILE)
                .mode(mode)
                .open(dir)
        {
            return fill(f).map(Pending::Anonymous);
        }
        let path = named();
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)?;
        match fill(f) {
            Ok(_) => Ok(Pending::Named(path)),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Give the file the name `dst`; fails with `AlreadyExists` when the
    /// name is taken (like `O_EXCL`), leaving `self` usable for another try.
    pub(super) fn link_to(&self, dst: &Path) -> io::Result<()> {
        match self {
            Pending::Anonymous(f) => {
                let src = format!("/proc/self/fd/{}", f.as_raw_fd());
                nix::unistd::linkat(
                    AT_FDCWD,
                    src.as_str(),
                    AT_FDCWD,
                    dst,
                    AtFlags::AT_SYMLINK_FOLLOW,
                )
                .map_err(io::Error::from)
            }
            Pending::Named(p) => fs::hard_link(p, dst),
        }
    }

    /// Drop the unnamed file (the linked names stay).
    pub(super) fn discard(self) {
        if let Pending::Named(p) = self {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(p: Pending, dir: &Path) {
        let dst = dir.join("10.0.0.2");
        p.link_to(&dst).unwrap();
        let again = p.link_to(&dst).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        p.link_to(&dir.join("10.0.0.3")).unwrap();
        p.discard();
        assert_eq!(fs::read(&dst).unwrap(), b"c1\r\neth0");
        assert_eq!(fs::read(dir.join("10.0.0.3")).unwrap(), b"c1\r\neth0");
    }

    #[test]
    fn anonymous_records_link_like_o_excl() {
        let t = tempfile::tempdir().unwrap();
        let p = Pending::create(t.path(), 0o600, b"c1\r\neth0", true, || unreachable!()).unwrap();
        assert!(matches!(p, Pending::Anonymous(_)));
        check(p, t.path());
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 2);
    }

    #[test]
    fn named_fallback_links_and_cleans_up() {
        let t = tempfile::tempdir().unwrap();
        // O_TMPFILE on a missing directory fails: the fallback is used.
        let tmp = t.path().join(".tmp.1");
        let p = Pending::create(
            &t.path().join("missing"),
            0o600,
            b"c1\r\neth0",
            false,
            || tmp.clone(),
        )
        .unwrap();
        assert!(matches!(p, Pending::Named(_)));
        check(p, t.path());
        assert!(!tmp.exists());
    }
}
