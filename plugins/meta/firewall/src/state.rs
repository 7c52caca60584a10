//! The per-attachment state file: what ADD set up (backend, addresses,
//! firewalld zone), so that DEL removes exactly that without `prevResult`
//! (the reference then removes nothing and leaks the rules), on the
//! backend ADD used even when detection would now answer differently, and
//! so that GC knows which attachments exist.
//!
//! One small JSON file per attachment at
//! `<dataDir>/<network>/<containerID>:<ifname>` (`dataDir` defaults to
//! `/run/cni/firewall`: the rules it describes do not survive a reboot
//! either). Neither a container ID nor an interface name can contain ':'
//! or '/', so names never collide or leave the directory. A file is
//! written to a temporary name and renamed (ARCHITECTURE.md principle 6):
//! it is absent or complete. ADD writes it before touching the firewall,
//! so a crash in between leaves a record GC can act on.
//!
//! The files are ours only: the reference keeps no state, and a node
//! switched back to it simply ignores them.

use std::fs;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use libcni::{Error, fsutil};

use crate::backend::Used;
use crate::code;
use crate::pod::Pod;

/// What one attachment's ADD set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `CNI_CONTAINERID`.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// The backend the rules were written with.
    pub backend: Used,
    /// The pod's addresses.
    pub ips: Vec<IpAddr>,
    /// The firewalld zone, for the firewalld backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// The state files of one network.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::plugin(code::STATE, format!("{what} {}: {e}", path.display()))
}

impl Store {
    /// The store of `network` under `data_dir`.
    pub fn new(data_dir: &Path, network: &netfilter::Ident) -> Store {
        Store {
            dir: data_dir.join(network.as_str()),
        }
    }

    /// The file of one attachment.
    pub fn path(&self, pod: &Pod) -> PathBuf {
        self.dir.join(format!("{}:{}", pod.container, pod.ifname))
    }

    /// The record of `pod`; `None` when there is none. A file that cannot
    /// be parsed is reported and treated as absent: DEL must not fail on
    /// it, and prevResult may still say what to remove.
    pub fn read(&self, pod: &Pod) -> Result<Option<Record>, Error> {
        let path = self.path(pod);
        match fs::read(&path) {
            Ok(bytes) => Ok(parse(&path, &bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading the firewall state", &path, &e)),
        }
    }

    /// Write `rec` for `pod` (mode 0600, temporary file then rename).
    pub fn write(&self, pod: &Pod, rec: &Record) -> Result<(), Error> {
        let path = self.path(pod);
        let err = |e: std::io::Error| io_error("writing the firewall state", &path, &e);
        fsutil::create_private_dir(&self.dir).map_err(err)?;
        // The data dir may have been made by someone else with a wider mode.
        let _ = fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700));
        let text = serde_json::to_vec(rec).map_err(|e| err(std::io::Error::other(e)))?;
        fsutil::write_atomic(&path, &text).map_err(err)
    }

    /// Remove the record of `pod` (nothing there is fine).
    pub fn remove(&self, pod: &Pod) -> Result<(), Error> {
        let path = self.path(pod);
        fsutil::remove_if_exists(&path)
            .map_err(|e| io_error("removing the firewall state", &path, &e))
    }

    /// Every record of the network (GC). Temporary and unparsable files
    /// are skipped.
    pub fn list(&self) -> Result<Vec<Record>, Error> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io_error("listing the firewall state", &self.dir, &e)),
        };
        let mut out = vec![];
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if let Ok(bytes) = fs::read(&path)
                && let Some(rec) = parse(&path, &bytes)
            {
                out.push(rec);
            }
        }
        Ok(out)
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Option<Record> {
    match serde_json::from_slice(bytes) {
        Ok(r) => Some(r),
        Err(e) => {
            libcni::cni_warn!("ignoring the unreadable state file {}: {e}", path.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netfilter::Ident;

    fn pod(cid: &str, ifname: &str) -> Pod {
        Pod::from_parts(&Ident::network("n").unwrap(), cid, ifname).unwrap()
    }

    #[test]
    fn write_read_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), &Ident::network("n").unwrap());
        let p = pod("abc", "eth0");
        assert_eq!(store.read(&p).unwrap(), None);
        assert!(store.list().unwrap().is_empty());
        let rec = Record {
            container_id: "abc".into(),
            ifname: "eth0".into(),
            backend: Used::Iptables,
            ips: vec!["10.88.0.2".parse().unwrap(), "fd88::2".parse().unwrap()],
            zone: None,
        };
        store.write(&p, &rec).unwrap();
        assert_eq!(store.read(&p).unwrap(), Some(rec.clone()));
        let path = store.path(&p);
        assert_eq!(path, dir.path().join("n/abc:eth0"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            r#"{"containerID":"abc","ifname":"eth0","backend":"iptables","ips":["10.88.0.2","fd88::2"]}"#
        );
        // Names cannot collide: ("a_b", "c") and ("a", "b_c") differ.
        assert_ne!(store.path(&pod("a_b", "c")), store.path(&pod("a", "b_c")));
        assert_eq!(store.list().unwrap(), [rec]);
        // Garbage is skipped, not fatal.
        fs::write(dir.path().join("n/zzz:eth0"), "{").unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        assert_eq!(store.read(&pod("zzz", "eth0")).unwrap(), None);
        store.remove(&p).unwrap();
        store.remove(&p).unwrap();
        assert_eq!(store.read(&p).unwrap(), None);
    }
}
