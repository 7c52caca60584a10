//! Writing the small state files plugins and the runtime keep (the result
//! cache, firewall and tuning records, flannel's delegate config) so that a
//! crash at any instant leaves either the old file or the new one, never a
//! torn or empty one (ARCHITECTURE.md principle 6).
//!
//! The kernel gives that through rename(2) within one directory: the new
//! content is written and fsync'd under a temporary name first. flannel's
//! upstream learned this the hard way: files of zero bytes after a power
//! loss blocked every DEL of the pod.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Create `dir` and its parents with mode 0700 when missing.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Replace `path` with `bytes` (mode 0600): write a temporary file in the
/// same directory, fsync it, rename it over `path`, then fsync the
/// directory so the rename itself survives a power loss. The temporary
/// name starts with '.', so directory listings that skip dot files never
/// see a leftover of a crash. On failure the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    if let Some(dir) = path.parent() {
        // The data is safe once renamed; a directory that cannot be opened
        // for fsync (odd filesystems) only weakens durability, not
        // atomicity, so that is not worth failing the call.
        if let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Remove `path`; a file that is already gone is fine (idempotent
/// teardown, ARCHITECTURE.md principle 5).
pub fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The temporary files [`write_atomic`] left next to `path` when a crash
/// stopped it between creating and renaming them, for GC to remove.
pub fn leftover_temp_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return vec![];
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// `.<name>.tmp-<pid>-<seq>` next to `path`: unique per process and call,
/// so two writers never share a temporary file.
fn temp_path(path: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{seq}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_content_with_mode_0600_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"old content that is longer").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
        assert!(leftover_temp_files(&p).is_empty());
        let crashed = temp_path(&p);
        std::fs::write(&crashed, b"").unwrap();
        std::fs::write(d.path().join(".other.tmp-1-0"), b"").unwrap();
        assert_eq!(leftover_temp_files(&p), vec![crashed]);
    }

    #[test]
    fn failure_leaves_the_old_file_and_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: rename(2) fails.
        let p = d.path().join("busy");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("x"), b"").unwrap();
        assert!(write_atomic(&p, b"new").is_err());
        assert!(p.is_dir());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn private_dir_and_idempotent_remove() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("a/b");
        create_private_dir(&sub).unwrap();
        let mode = std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let f = sub.join("f");
        std::fs::write(&f, b"").unwrap();
        remove_if_exists(&f).unwrap();
        remove_if_exists(&f).unwrap();
        assert!(remove_if_exists(&sub).is_err(), "a directory is an error");
    }
}
