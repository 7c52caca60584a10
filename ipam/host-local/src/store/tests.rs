use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::time::SystemTime;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(c: &str) -> Key {
    Key::new(c, "eth0")
}

fn open(dir: &Path) -> Store {
    Store::open(dir, "net").unwrap()
}

fn reserve(dir: &Path, k: &Key, a: &str) {
    let mut s = open(dir);
    assert_eq!(s.reserve(k, 0, [ip(a)]).unwrap(), Some(ip(a)));
    s.finish();
}

/// Every index entry, as "name -> target".
fn index_entries(dir: &Path) -> Vec<String> {
    let idx = dir.join("net").join(INDEX_DIR);
    let mut out: Vec<String> = fs::read_dir(&idx)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let t = fs::read_link(e.path()).map(|t| t.display().to_string());
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                t.unwrap_or_default()
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn records_are_byte_compatible() {
    let t = tempfile::tempdir().unwrap();
    let mut s = open(t.path());
    let got = s
        .reserve(&key("c1"), 3, [ip("10.0.0.2"), ip("10.0.0.3")])
        .unwrap();
    assert_eq!(got, Some(ip("10.0.0.2")));
    s.finish();
    let net = t.path().join("net");
    assert_eq!(fs::read(net.join("10.0.0.2")).unwrap(), b"c1\r\neth0");
    assert_eq!(
        fs::read(net.join("last_reserved_ip.3")).unwrap(),
        b"10.0.0.2"
    );
    assert!(net.join("lock").is_file());
    assert_eq!(index_entries(t.path()), ["c1:eth0 -> 10.0.0.2"]);
    let s = open(t.path());
    assert_eq!(s.last_reserved(3), Some(ip("10.0.0.2")));
    assert_eq!(s.last_reserved(0), None);
}

#[test]
fn taken_addresses_are_skipped_and_exhaustion_is_none() {
    let t = tempfile::tempdir().unwrap();
    reserve(t.path(), &key("c1"), "10.0.0.2");
    let mut s = open(t.path());
    let got = s
        .reserve(&key("c2"), 0, [ip("10.0.0.2"), ip("10.0.0.3")])
        .unwrap();
    assert_eq!(got, Some(ip("10.0.0.3")));
    assert_eq!(
        s.reserve(&key("c3"), 0, [ip("10.0.0.2"), ip("10.0.0.3")])
            .unwrap(),
        None
    );
    s.finish();
    // No temporary is left behind.
    assert_eq!(
        index_entries(t.path()),
        ["c1:eth0 -> 10.0.0.2", "c2:eth0 -> 10.0.0.3"]
    );
}

#[test]
fn release_by_key_and_legacy_fallback() {
    let t = tempfile::tempdir().unwrap();
    reserve(t.path(), &key("c1"), "10.0.0.2");
    reserve(t.path(), &key("c1"), "fd00::2");
    reserve(t.path(), &Key::new("c1", "eth1"), "10.0.0.3");
    let net = t.path().join("net");
    fs::write(net.join("10.0.0.9"), "old").unwrap(); // legacy record of "old"
    let mut s = open(t.path());
    let mut got = s.release(&key("c1")).unwrap();
    got.sort();
    assert_eq!(got, [ip("10.0.0.2"), ip("fd00::2")]);
    assert!(s.release(&key("c1")).unwrap().is_empty());
    assert_eq!(s.release(&key("old")).unwrap(), [ip("10.0.0.9")]);
    s.finish();
    assert!(!net.join("10.0.0.2").exists() && !net.join("fd00::2").exists());
    assert!(net.join("10.0.0.3").exists());
    assert_eq!(index_entries(t.path()), ["c1:eth1 -> 10.0.0.3"]);
}

#[test]
fn foreign_records_are_found_after_the_directory_changed() {
    let t = tempfile::tempdir().unwrap();
    reserve(t.path(), &key("c1"), "10.0.0.2");
    // What the reference binary does: plain O_EXCL create + write.
    fs::write(t.path().join("net/10.0.0.7"), "ref\r\neth0").unwrap();
    let mut s = open(t.path());
    assert_eq!(s.addresses_of(&key("ref")).unwrap(), [ip("10.0.0.7")]);
    assert_eq!(s.release(&key("ref")).unwrap(), [ip("10.0.0.7")]);
    s.finish();
    assert!(!t.path().join("net/10.0.0.7").exists());
}

#[test]
fn a_current_index_is_trusted_without_reading_records() {
    let t = tempfile::tempdir().unwrap();
    reserve(t.path(), &key("c1"), "10.0.0.2");
    let net = t.path().join("net");
    let stamp = fs::metadata(&net).unwrap().modified().unwrap();
    // A change nobody could see: a record added with the stamp restored.
    fs::write(net.join("10.0.0.8"), "hidden\r\neth0").unwrap();
    fs::File::open(&net).unwrap().set_modified(stamp).unwrap();
    let s = open(t.path());
    assert!(
        s.addresses_of(&key("hidden")).unwrap().is_empty(),
        "index not used"
    );
    s.finish();
    // Any visible change (here: the mtime) makes the next call rescan.
    fs::File::open(&net)
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
    let s = open(t.path());
    assert_eq!(s.addresses_of(&key("hidden")).unwrap(), [ip("10.0.0.8")]);
    s.finish();
}

#[test]
fn rebuild_drops_stale_entries_and_temporaries() {
    let t = tempfile::tempdir().unwrap();
    reserve(t.path(), &key("c1"), "10.0.0.2");
    reserve(t.path(), &key("c2"), "10.0.0.3");
    let net = t.path().join("net");
    let idx = net.join(INDEX_DIR);
    // A crash after the record was removed but before its index entry was.
    fs::remove_file(net.join("10.0.0.2")).unwrap();
    // A crashed reservation's temporary and an entry pointing at a record
    // that now belongs to someone else.
    fs::write(idx.join(".tmp.1.1"), "c9\r\neth0").unwrap();
    std::os::unix::fs::symlink("10.0.0.3", idx.join("c3:eth0")).unwrap();
    // An entry in the old layout (a directory).
    fs::create_dir(idx.join("c4:eth0")).unwrap();
    let s = open(t.path());
    assert!(s.addresses_of(&key("c1")).unwrap().is_empty());
    assert!(s.addresses_of(&key("c3")).unwrap().is_empty());
    assert_eq!(s.addresses_of(&key("c2")).unwrap(), [ip("10.0.0.3")]);
    s.finish();
    assert_eq!(index_entries(t.path()), ["c2:eth0 -> 10.0.0.3"]);
}

#[test]
fn a_record_linked_but_not_indexed_is_recovered() {
    let t = tempfile::tempdir().unwrap();
    // Crash between link() and rename() into the index, before the stamp.
    reserve(t.path(), &key("c1"), "10.0.0.2");
    let net = t.path().join("net");
    let idx = net.join(INDEX_DIR);
    fs::write(idx.join(".tmp.7.1"), "c2\r\neth0").unwrap();
    fs::hard_link(idx.join(".tmp.7.1"), net.join("10.0.0.3")).unwrap();
    let mut s = open(t.path());
    assert_eq!(s.release(&key("c2")).unwrap(), [ip("10.0.0.3")]);
    s.finish();
    assert_eq!(index_entries(t.path()), ["c1:eth0 -> 10.0.0.2"]);
}

#[test]
fn odd_files_do_not_break_teardown() {
    let t = tempfile::tempdir().unwrap();
    reserve(t.path(), &key("c1"), "10.0.0.2");
    let net = t.path().join("net");
    // A FIFO, a directory and a symlink named like addresses.
    nix::unistd::mkfifo(&net.join("10.0.0.50"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    fs::create_dir(net.join("10.0.0.51")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", net.join("10.0.0.52")).unwrap();
    let mut s = open(t.path());
    assert_eq!(s.release(&key("c1")).unwrap(), [ip("10.0.0.2")]);
    // GC keeps nothing it cannot read; the odd files stay untouched.
    let released = s.collect(|_| false).unwrap();
    assert!(released.is_empty());
    s.finish();
    assert!(net.join("10.0.0.50").exists() && net.join("10.0.0.51").exists());
}

#[test]
fn collect_releases_what_keep_rejects() {
    let t = tempfile::tempdir().unwrap();
    reserve(t.path(), &key("keep"), "10.0.0.2");
    reserve(t.path(), &key("drop"), "10.0.0.3");
    let net = t.path().join("net");
    fs::write(net.join("10.0.0.4"), "").unwrap(); // a never-completed record
    let mut s = open(t.path());
    let released = s
        .collect(|o| matches!(o, Owner::Attachment { container_id, .. } if container_id == "keep"))
        .unwrap();
    let mut ips: Vec<IpAddr> = released.iter().map(|r| r.ip).collect();
    ips.sort();
    assert_eq!(ips, [ip("10.0.0.3"), ip("10.0.0.4")]);
    s.finish();
    assert_eq!(index_entries(t.path()), ["keep:eth0 -> 10.0.0.2"]);
}

#[test]
fn network_names_cannot_escape_the_data_dir() {
    let t = tempfile::tempdir().unwrap();
    for bad in ["", ".", "..", "a/b", "a\0b"] {
        assert_eq!(Store::open(t.path(), bad).unwrap_err().code, 7, "{bad:?}");
    }
}

#[test]
fn missing_store_is_none_and_not_created() {
    let t = tempfile::tempdir().unwrap();
    assert!(Store::open_existing(t.path(), "net").unwrap().is_none());
    assert!(!t.path().join("net").exists());
}

#[test]
fn long_keys_fall_back_to_scanning() {
    let t = tempfile::tempdir().unwrap();
    let long = Key::new(&"a".repeat(300), "eth0");
    reserve(t.path(), &long, "10.0.0.2");
    assert!(index_entries(t.path()).is_empty());
    let mut s = open(t.path());
    assert_eq!(s.addresses_of(&long).unwrap(), [ip("10.0.0.2")]);
    assert_eq!(s.release(&long).unwrap(), [ip("10.0.0.2")]);
    s.finish();
}

#[test]
fn a_stale_entry_never_releases_someone_elses_address() {
    let t = tempfile::tempdir().unwrap();
    reserve(t.path(), &key("c1"), "10.0.0.2");
    reserve(t.path(), &key("c9"), "10.0.0.3");
    let net = t.path().join("net");
    let idx = net.join(INDEX_DIR);
    let stamp = fs::metadata(&net).unwrap().modified().unwrap();
    // An index entry claiming c1's address for c9, hidden from the
    // change detection: the record check alone must save c1.
    fs::remove_file(idx.join("c9:eth0")).unwrap();
    std::os::unix::fs::symlink("10.0.0.2,10.0.0.3", idx.join("c9:eth0")).unwrap();
    fs::File::open(&idx).unwrap().set_modified(stamp).unwrap();
    let mut s = open(t.path());
    assert_eq!(s.release(&key("c9")).unwrap(), [ip("10.0.0.3")]);
    s.finish();
    assert_eq!(fs::read(net.join("10.0.0.2")).unwrap(), b"c1\r\neth0");
}

#[test]
fn two_addresses_of_one_attachment_share_an_entry() {
    let t = tempfile::tempdir().unwrap();
    let mut s = open(t.path());
    s.reserve(&key("c1"), 0, [ip("10.0.0.2")]).unwrap();
    s.reserve(&key("c1"), 1, [ip("fd00::2")]).unwrap();
    s.finish();
    assert_eq!(index_entries(t.path()), ["c1:eth0 -> 10.0.0.2,fd00::2"]);
    let mut s = open(t.path());
    s.release_one(&key("c1"), ip("10.0.0.2")).unwrap();
    s.finish();
    assert_eq!(index_entries(t.path()), ["c1:eth0 -> fd00::2"]);
}
