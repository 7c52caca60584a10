//! Plugin state on disk, each directory read once: host-local leases,
//! tuning backups, firewall state files and flannel's saved delegate
//! configs. Temporary files (names starting with '.') are skipped, as the
//! plugins skip them.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{Network, Unread};

/// One host-local lease: `<dataDir>/<network>/<ip>` holding
/// `<containerID>\r\n<ifname>` (or only the container ID, from old
/// reference versions; or nothing, from a crashed reference ADD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The file.
    pub path: PathBuf,
    /// The network whose store it is in.
    pub network: String,
    /// The address.
    pub ip: String,
    /// The container ID (empty for an empty record).
    pub container_id: String,
    /// The interface, when recorded.
    pub ifname: Option<String>,
}

/// One tuning backup `<dataDir>/<containerID>_<ifname>.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The file.
    pub path: PathBuf,
    /// `<containerID>_<ifname>`.
    pub stem: String,
    /// The network of its marker `<dataDir>/.networks/<network>/<stem>`
    /// (ours write one; the reference's backups have none).
    pub network: Option<String>,
}

/// One per-attachment file named `<containerID>` or
/// `<containerID>:<ifname>` (firewall state, flannel's saved configs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentFile {
    /// The file.
    pub path: PathBuf,
    /// The network it belongs to (its directory's, or the `name` of the
    /// saved delegate config); `None` when it does not say.
    pub network: Option<String>,
    /// The container ID.
    pub container_id: String,
    /// The interface, for `<cid>:<ifname>` names.
    pub ifname: Option<String>,
}

/// Everything on disk.
#[derive(Debug, Clone, Default)]
pub struct StateFiles {
    /// host-local leases of every network.
    pub leases: Vec<Lease>,
    /// tuning backups.
    pub backups: Vec<Backup>,
    /// firewall state files.
    pub firewall: Vec<AttachmentFile>,
    /// flannel's saved delegate configs.
    pub flannel: Vec<AttachmentFile>,
    /// Directories that exist but could not be read.
    pub unread: Vec<Unread>,
}

/// The names in `dir` that are not temporary files; a missing directory
/// has none.
fn names(dir: &Path, unread: &mut Vec<Unread>) -> Vec<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return vec![],
        Err(e) => {
            unread.push(Unread::new(
                format!("plugin state in {}", dir.display()),
                e.to_string(),
            ));
            return vec![];
        }
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    out.sort();
    out
}

/// Split `<cid>:<ifname>` (ifname `None` without a ':').
fn split_attachment(name: &str) -> (String, Option<String>) {
    match name.split_once(':') {
        Some((cid, ifname)) => (cid.to_string(), Some(ifname.to_string())),
        None => (name.to_string(), None),
    }
}

fn push_unique(dirs: &mut Vec<(PathBuf, String)>, dir: &Path, net: &str) {
    if !dirs.iter().any(|(d, n)| d == dir && n == net) {
        dirs.push((dir.to_path_buf(), net.to_string()));
    }
}

/// Read the state directories of every network.
pub fn read(networks: &[Network]) -> StateFiles {
    let mut st = StateFiles::default();
    let (mut lease_dirs, mut fw_dirs, mut tuning, mut flannel) = (vec![], vec![], vec![], vec![]);
    for n in networks {
        for d in &n.lease_dirs {
            push_unique(&mut lease_dirs, d, &n.name);
        }
        for d in &n.firewall_dirs {
            push_unique(&mut fw_dirs, d, &n.name);
        }
        for d in &n.tuning_dirs {
            push_unique(&mut tuning, d, "");
        }
        if let Some(f) = &n.flannel {
            push_unique(&mut flannel, &f.data_dir, "");
        }
    }
    for (dir, net) in &lease_dirs {
        leases(&mut st, dir, net);
    }
    for (dir, net) in &fw_dirs {
        for name in names(dir, &mut st.unread) {
            let (container_id, ifname) = split_attachment(&name);
            st.firewall.push(AttachmentFile {
                path: dir.join(&name),
                network: Some(net.clone()),
                container_id,
                ifname,
            });
        }
    }
    for (dir, _) in &tuning {
        backups(&mut st, dir);
    }
    for (dir, _) in &flannel {
        for name in names(dir, &mut st.unread) {
            let path = dir.join(&name);
            let network = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v.get("name")?.as_str().map(str::to_string));
            let (container_id, ifname) = split_attachment(&name);
            st.flannel.push(AttachmentFile {
                path,
                network,
                container_id,
                ifname,
            });
        }
    }
    st
}

fn leases(st: &mut StateFiles, dir: &Path, net: &str) {
    for name in names(dir, &mut st.unread) {
        if name.parse::<std::net::IpAddr>().is_err() {
            continue;
        }
        let path = dir.join(&name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            // Released between the listing and the read.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => {
                st.unread.push(Unread::new(
                    format!("lease {}", path.display()),
                    e.to_string(),
                ));
                continue;
            }
        };
        let mut lines = text.lines().map(str::trim);
        let container_id = lines.next().unwrap_or_default().to_string();
        let ifname = lines.next().filter(|s| !s.is_empty()).map(str::to_string);
        st.leases.push(Lease {
            path,
            network: net.to_string(),
            ip: name,
            container_id,
            ifname,
        });
    }
}

fn backups(st: &mut StateFiles, dir: &Path) {
    let markers_dir = dir.join(".networks");
    let mut markers: HashMap<String, String> = HashMap::new();
    for net in names(&markers_dir, &mut st.unread) {
        for stem in names(&markers_dir.join(&net), &mut st.unread) {
            markers.insert(stem, net.clone());
        }
    }
    for name in names(dir, &mut st.unread) {
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        st.backups.push(Backup {
            path: dir.join(&name),
            stem: stem.to_string(),
            network: markers.get(stem).cloned(),
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_leases_backups_and_attachment_files() {
        let d = tempfile::tempdir().unwrap();
        let store = d.path().join("ipam/n");
        std::fs::create_dir_all(store.join(".by-attachment")).unwrap();
        std::fs::write(store.join("10.1.0.2"), "c1\r\neth0").unwrap();
        std::fs::write(store.join("10.1.0.3"), "old").unwrap();
        std::fs::write(store.join("10.1.0.4"), "").unwrap();
        std::fs::write(store.join("last_reserved_ip.0"), "10.1.0.4").unwrap();
        std::fs::write(store.join("lock"), "").unwrap();
        let tuning = d.path().join("tuning");
        std::fs::create_dir_all(tuning.join(".networks/n")).unwrap();
        std::fs::write(tuning.join("c1_eth0.json"), "{}").unwrap();
        std::fs::write(tuning.join(".networks/n/c1_eth0"), "").unwrap();
        std::fs::write(tuning.join("c2_net1.json"), "{}").unwrap();
        let list = libcni::runtime::ConfList::from_bytes(
            format!(
                r#"{{"cniVersion":"1.0.0","name":"n","plugins":[{{"type":"bridge","ipam":{{"type":"host-local","dataDir":"{}"}}}},{{"type":"tuning","dataDir":"{}"}}]}}"#,
                d.path().join("ipam").display(),
                tuning.display()
            )
            .as_bytes(),
        )
        .unwrap();
        let net = super::super::conf::analyse(list, PathBuf::from("/x"));
        let st = read(&[net]);
        assert!(st.unread.is_empty(), "{:?}", st.unread);
        assert_eq!(st.leases.len(), 3);
        assert_eq!(st.leases[0].container_id, "c1");
        assert_eq!(st.leases[0].ifname.as_deref(), Some("eth0"));
        assert_eq!(st.leases[1].ifname, None);
        assert_eq!(st.leases[2].container_id, "");
        assert_eq!(st.backups.len(), 2);
        assert_eq!(st.backups[0].network.as_deref(), Some("n"));
        assert_eq!(st.backups[1].network, None);
        assert_eq!(
            split_attachment("c:eth0"),
            ("c".into(), Some("eth0".into()))
        );
    }
}
