//! The plugin binaries the networks run: where each is in the bin dirs and
//! what its VERSION reply says, asked once per binary. When one is missing
//! or too old, a binary in the spare directories that would do (present,
//! and speaking every version the networks need) is looked for, so that
//! the fix can name it.

use std::path::{Path, PathBuf};

use libcni::Version;
use libcni::runtime::{DefaultExec, PluginInfo, version_info};

use super::{Network, Options};

/// One plugin binary.
#[derive(Debug, Clone)]
pub struct PluginState {
    /// The plugin type (binary name).
    pub plugin_type: String,
    /// Where it was found in the bin dirs; `None` when in none.
    pub path: Option<PathBuf>,
    /// Its VERSION reply, when it was found.
    pub info: Option<Result<PluginInfo, String>>,
    /// The spec versions the networks that run it need.
    pub needed: Vec<Version>,
    /// A binary outside the bin dirs that is there and speaks every needed
    /// version, when this one is missing or does not.
    pub spare: Option<PathBuf>,
}

impl PluginState {
    /// Whether it is found and speaks `v`.
    pub fn supports(&self, v: Version) -> bool {
        matches!(&self.info, Some(Ok(i)) if i.supports(v))
    }

    /// Whether something is wrong with it.
    pub fn is_broken(&self) -> bool {
        self.path.is_none() || self.needed.iter().any(|v| !self.supports(*v))
    }
}

fn version_of(binary: &Path) -> Result<PluginInfo, String> {
    version_info(&DefaultExec, binary).map_err(|e| e.to_string())
}

/// Find and ask every binary the networks run, once each.
pub fn probe(networks: &[Network], opts: &Options) -> Vec<PluginState> {
    let mut out: Vec<PluginState> = vec![];
    for net in networks {
        for t in &net.binaries {
            let v = net.list.cni_version;
            if let Some(p) = out.iter_mut().find(|p| &p.plugin_type == t) {
                if !p.needed.contains(&v) {
                    p.needed.push(v);
                }
                continue;
            }
            let path = libcni::invoke::find_in_path(t, &opts.bin_dirs).ok();
            let info = path.as_deref().map(version_of);
            out.push(PluginState {
                plugin_type: t.clone(),
                path,
                info,
                needed: vec![v],
                spare: None,
            });
        }
    }
    for p in out.iter_mut().filter(|p| p.is_broken()) {
        p.spare = spare(p, opts);
    }
    out
}

/// A binary of that type in the spare directories (not the bin dirs) that
/// speaks every needed version.
fn spare(p: &PluginState, opts: &Options) -> Option<PathBuf> {
    opts.spare_plugin_dirs
        .iter()
        .filter(|d| !opts.bin_dirs.contains(d))
        .map(|d| d.join(&p.plugin_type))
        .filter(|c| c.is_file() && Some(c) != p.path.as_ref())
        .find(|c| version_of(c).is_ok_and(|info| p.needed.iter().all(|v| info.supports(*v))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn stub(dir: &Path, name: &str, versions: &str) {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho '{{\"cniVersion\":\"0.4.0\",\"supportedVersions\":[{versions}]}}'\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn missing_old_and_spare_binaries() {
        let bin = tempfile::tempdir().unwrap();
        let spare_dir = tempfile::tempdir().unwrap();
        stub(bin.path(), "bridge", r#""0.3.1","0.4.0","1.0.0""#);
        stub(bin.path(), "firewall", r#""0.3.1""#);
        stub(spare_dir.path(), "firewall", r#""0.4.0","1.0.0""#);
        let list = libcni::runtime::ConfList::from_bytes(
            br#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"},{"type":"firewall"},{"type":"tuning"}]}"#,
        )
        .unwrap();
        let net = super::super::conf::analyse(list, PathBuf::from("/x"));
        let mut opts = Options::node_defaults();
        opts.bin_dirs = vec![bin.path().to_path_buf()];
        opts.spare_plugin_dirs = vec![spare_dir.path().to_path_buf()];
        let states = probe(&[net], &opts);
        assert_eq!(states.len(), 3);
        assert!(!states[0].is_broken());
        assert!(states[1].is_broken());
        assert_eq!(states[1].spare, Some(spare_dir.path().join("firewall")));
        assert!(states[2].path.is_none());
        assert_eq!(states[2].spare, None);
    }
}
