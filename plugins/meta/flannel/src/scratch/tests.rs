use std::os::unix::fs::PermissionsExt;

use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::new(d.path().join("flannel"));
    (d, s)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn save_writes_both_names_private() {
    let (d, s) = store();
    s.save("c1", "eth0", br#"{"type":"bridge"}"#).unwrap();
    let dir = d.path().join("flannel");
    assert_eq!(mode(&dir), 0o700);
    for name in ["c1", "c1:eth0"] {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            br#"{"type":"bridge"}"#
        );
        assert_eq!(mode(&dir.join(name)), 0o600);
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "no temporary file left"
    );
}

#[test]
fn load_prefers_ours_then_the_references() {
    let (d, s) = store();
    assert!(s.load("c1", "eth0").unwrap().is_none());
    let dir = d.path().join("flannel");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c1"), br#"{"type":"reference"}"#).unwrap();
    let got = s.load("c1", "eth0").unwrap().unwrap();
    assert_eq!(
        (got.bytes.as_slice(), got.path.clone()),
        (&br#"{"type":"reference"}"#[..], dir.join("c1"))
    );
    std::fs::write(dir.join("c1:eth0"), br#"{"type":"ours"}"#).unwrap();
    assert_eq!(
        s.load("c1", "eth0").unwrap().unwrap().bytes,
        br#"{"type":"ours"}"#
    );
}

#[test]
fn two_attachments_keep_their_own_config() {
    let (d, s) = store();
    let dir = d.path().join("flannel");
    s.save("c1", "eth0", br#"{"type":"A"}"#).unwrap();
    s.save("c1", "net1", br#"{"type":"B"}"#).unwrap();
    assert_eq!(
        s.load("c1", "eth0").unwrap().unwrap().bytes,
        br#"{"type":"A"}"#
    );
    // DEL of eth0: the reference name now holds net1's config and stays.
    let a = s.load("c1", "eth0").unwrap().unwrap();
    s.remove("c1", "eth0", &a).unwrap();
    assert!(!dir.join("c1:eth0").exists());
    assert_eq!(std::fs::read(dir.join("c1")).unwrap(), br#"{"type":"B"}"#);
    let b = s.load("c1", "net1").unwrap().unwrap();
    s.remove("c1", "net1", &b).unwrap();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn replaying_the_references_file_removes_it() {
    let (d, s) = store();
    let dir = d.path().join("flannel");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c1"), br#"{"type":"X"}"#).unwrap();
    let saved = s.load("c1", "eth0").unwrap().unwrap();
    s.remove("c1", "eth0", &saved).unwrap();
    assert!(!dir.join("c1").exists());
    s.remove("c1", "eth0", &saved).unwrap();
}

#[test]
fn list_names_the_attachment_and_skips_temporary_files() {
    let (d, s) = store();
    s.save("c1", "eth0", b"{}").unwrap();
    std::fs::write(d.path().join("flannel/.c2.tmp-1-0"), b"").unwrap();
    std::fs::create_dir(d.path().join("flannel/subdir")).unwrap();
    let mut got: Vec<(String, Option<String>)> = s
        .list()
        .unwrap()
        .into_iter()
        .map(|e| (e.container_id, e.ifname))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![("c1".into(), None), ("c1".into(), Some("eth0".into()))]
    );
    assert!(Store::new(d.path().join("none")).list().unwrap().is_empty());
}

#[test]
fn an_unwritable_dir_is_the_scratch_code() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("f");
    std::fs::write(&file, b"").unwrap();
    let e = Store::new(&file).save("c1", "eth0", b"{}").unwrap_err();
    assert_eq!(e.code, crate::code::SCRATCH);
    assert!(e.msg.contains("dataDir"), "{}", e.msg);
}
