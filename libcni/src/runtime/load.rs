//! Finding a network in a configuration directory the way libcni does
//! (cni:libcni/conf.go `LoadNetworkConf`), except that a file that does not
//! parse is skipped with a warning naming it instead of aborting the whole
//! search (one bad file must not take every network of a node down).
//!
//! Search order:
//! 1. `*.conflist` files, sorted by file name; the first whose `name`
//!    matches wins. Its plugins are the inlined `plugins` followed, unless
//!    `loadOnlyInlinedPlugins`, by `<dir>/<name>/*.conf` in file-name order.
//! 2. Deprecated single-plugin files, `*.conf` and `*.json`, sorted by file
//!    name, upgraded to a one-plugin list.

use std::path::{Path, PathBuf};

use super::conflist::ConfList;
use crate::spec::{Error, Version};

/// A network found by [`load_conf_list`], with the files skipped on the way.
#[derive(Debug, Clone)]
pub struct LoadedConfList {
    /// The network.
    pub list: ConfList,
    /// One line per file that could not be read or parsed, naming it.
    pub warnings: Vec<String>,
}

/// The regular files of `dir` (not recursive) whose extension is one of
/// `exts` (without the dot), sorted by name. A missing directory has no
/// files; any other read error is code 5.
pub fn conf_files(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(Error::io(format!(
                "reading directory {}: {e}",
                dir.display()
            )));
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::io(format!("reading directory {}: {e}", dir.display())))?;
        let path = entry.path();
        let ext_ok = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e));
        // Follow symlinks: a conf dir made of links into a config
        // management tree is common.
        if ext_ok && std::fs::metadata(&path).is_ok_and(|m| !m.is_dir()) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn skip_warning(file: &Path, e: &Error) -> String {
    format!("skipping {}: {e}", file.display())
}

/// Read a deprecated single-plugin file and upgrade it.
fn single_conf(file: &Path) -> Result<ConfList, Error> {
    let bytes =
        std::fs::read(file).map_err(|e| Error::io(format!("reading {}: {e}", file.display())))?;
    let mut list = ConfList::from_plugin_conf_bytes(&bytes)?;
    list.source = Some(file.to_path_buf());
    Ok(list)
}

/// Parse just enough of a file to learn the network's name, so that a
/// broken plugin file of another network does not matter for this one.
fn list_name(file: &Path) -> Result<String, Error> {
    let bytes =
        std::fs::read(file).map_err(|e| Error::io(format!("reading {}: {e}", file.display())))?;
    Ok(ConfList::from_bytes(&bytes)?.name)
}

/// Find network `name` in `dir`; see the module documentation for the
/// order. Files that cannot be parsed are reported in `warnings`; the
/// error when nothing matches lists them too, since the network may be in
/// one of them.
///
/// ```no_run
/// let loaded = libcni::runtime::load_conf_list("/etc/cni/net.d".as_ref(), "mynet")?;
/// for w in &loaded.warnings {
///     eprintln!("warning: {w}");
/// }
/// println!("{} plugins", loaded.list.plugins.len());
/// # Ok::<(), libcni::Error>(())
/// ```
pub fn load_conf_list(dir: &Path, name: &str) -> Result<LoadedConfList, Error> {
    let mut warnings = Vec::new();
    let lists = conf_files(dir, &["conflist"])?;
    for file in &lists {
        match list_name(file) {
            Ok(n) if n == name => {
                // The requested network: its own errors (a broken plugin
                // file in <dir>/<name>/) are errors, not warnings.
                let list = ConfList::from_file(file)
                    .map_err(|e| e.context(format!("loading {}", file.display())))?;
                return Ok(LoadedConfList { list, warnings });
            }
            Ok(_) => {}
            Err(e) => warnings.push(skip_warning(file, &e)),
        }
    }
    let singles = conf_files(dir, &["conf", "json"])?;
    for file in &singles {
        match single_conf(file) {
            Ok(list) if list.name == name => return Ok(LoadedConfList { list, warnings }),
            Ok(_) => {}
            Err(e) => warnings.push(skip_warning(file, &e)),
        }
    }
    // libcni's wording, so that scripts matching on it keep working.
    let mut msg = if lists.is_empty() && singles.is_empty() {
        format!("no net configurations found in {}", dir.display())
    } else {
        format!(
            "no net configuration with name \"{name}\" in {}",
            dir.display()
        )
    };
    if !warnings.is_empty() {
        msg.push_str(&format!(" ({})", warnings.join("; ")));
    }
    Err(Error::invalid_config(msg))
}

/// One network visible in a configuration directory.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkEntry {
    /// Network name.
    pub name: String,
    /// The file that defines it.
    pub file: PathBuf,
    /// The version it runs with.
    pub cni_version: Version,
    /// Plugin types in ADD order.
    pub plugins: Vec<String>,
    /// Loaded from a deprecated single-plugin `.conf`/`.json` file.
    pub single_plugin_file: bool,
}

/// A file [`list_networks`] did not use, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedFile {
    /// The file.
    pub file: PathBuf,
    /// Why it is not used (a parse error, or the network it defines is
    /// already defined by a file that sorts first).
    pub reason: String,
}

/// Everything in a configuration directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkListing {
    /// Networks in the order a search visits them.
    pub networks: Vec<NetworkEntry>,
    /// Files that are not used.
    pub skipped: Vec<SkippedFile>,
}

/// List the networks [`load_conf_list`] can find in `dir`, and the files it
/// would skip with the reason (unparsable, or shadowed by an earlier file
/// defining the same network).
pub fn list_networks(dir: &Path) -> Result<NetworkListing, Error> {
    let mut out = NetworkListing::default();
    for file in conf_files(dir, &["conflist"])? {
        let res = ConfList::from_file(&file);
        out.record(file, res, false);
    }
    for file in conf_files(dir, &["conf", "json"])? {
        let res = single_conf(&file);
        out.record(file, res, true);
    }
    Ok(out)
}

impl NetworkListing {
    fn record(&mut self, file: PathBuf, res: Result<ConfList, Error>, single: bool) {
        let list = match res {
            Ok(list) => list,
            Err(e) => {
                self.skipped.push(SkippedFile {
                    file,
                    reason: e.to_string(),
                });
                return;
            }
        };
        if let Some(first) = self.networks.iter().find(|n| n.name == list.name) {
            let reason = format!(
                "network {:?} is already defined by {}, which is found first",
                list.name,
                first.file.display()
            );
            self.skipped.push(SkippedFile { file, reason });
            return;
        }
        self.networks.push(NetworkEntry {
            name: list.name.clone(),
            file,
            cni_version: list.cni_version,
            plugins: list.plugins.iter().map(|p| p.plugin_type.clone()).collect(),
            single_plugin_file: single,
        });
    }
}
