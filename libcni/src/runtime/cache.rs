//! The result cache, in libcni's format and place so that a node can switch
//! runtimes (or cnitool builds) with containers running
//! (cni:libcni/api.go `cachedInfo`).
//!
//! One file per attachment at `<cacheDir>/results/<network>-<containerID>-<ifname>`
//! (directory mode 0700, file mode 0600) holding
//! `{"kind":"cniCacheV1","containerId","config","ifName","networkName",
//! "netns","cniArgs":[[k,v]],"capabilityArgs":{..},"result":{..}}`, where
//! `config` is the list's bytes as Go marshals a `[]byte` (standard base64).
//! Older libcni wrote just the raw result JSON; that form is still read.
//! We write the file atomically (a temp file renamed into place), so a
//! crash never leaves a half-written cache that DEL would then misread.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::fsutil;
use crate::spec::{CniResult, Error, Version};

/// `kind` of the current cache format.
pub const CACHE_KIND_V1: &str = "cniCacheV1";

/// libcni's default cache directory.
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/cni";

/// Sub-directory of the cache directory holding the result files.
pub const RESULTS_DIR: &str = "results";

fn go_bytes_ser<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&BASE64.encode(b))
}

fn go_bytes_de<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    // Go writes a nil []byte as null.
    match Option::<String>::deserialize(d)? {
        None => Ok(vec![]),
        Some(s) => BASE64
            .decode(s.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("config is not base64: {e}"))),
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One cache file (field order as libcni writes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// Always [`CACHE_KIND_V1`].
    pub kind: String,
    /// The container ID.
    #[serde(rename = "containerId", default)]
    pub container_id: String,
    /// The bytes of the list that was added (for GC, which has only the
    /// cache to go by).
    #[serde(
        default,
        serialize_with = "go_bytes_ser",
        deserialize_with = "go_bytes_de"
    )]
    pub config: Vec<u8>,
    /// Interface name in the container.
    #[serde(rename = "ifName", default)]
    pub ifname: String,
    /// Network name.
    #[serde(rename = "networkName", default)]
    pub network_name: String,
    /// Netns path at ADD (absent in files from libcni before 1.2).
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub netns: String,
    /// `CNI_ARGS` pairs.
    #[serde(
        rename = "cniArgs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub cni_args: Vec<(String, String)>,
    /// Capability arguments given at ADD.
    #[serde(
        rename = "capabilityArgs",
        default,
        skip_serializing_if = "Map::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub capability_args: Map<String, Value>,
    /// The ADD result, in the version it was produced in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// The cache file of one attachment. The caller has validated the three
/// names (the network-name and container-ID rules exclude '/', and
/// interface names may not contain it either), so the path stays inside
/// the results directory.
pub fn cache_file_path(
    cache_dir: &Path,
    network: &str,
    container_id: &str,
    ifname: &str,
) -> PathBuf {
    cache_dir
        .join(RESULTS_DIR)
        .join(format!("{network}-{container_id}-{ifname}"))
}

/// Write `entry` to `path` atomically with libcni's modes: the results
/// directory is created 0700, the file is written 0600 under a temporary
/// name in the same directory, synced, and renamed into place.
pub fn write_entry(path: &Path, entry: &CacheEntry) -> Result<(), Error> {
    let dir = path.parent().ok_or_else(|| {
        Error::internal(format!("cache path {} has no directory", path.display()))
    })?;
    fsutil::create_private_dir(dir)
        .map_err(|e| Error::io(format!("creating cache directory {}: {e}", dir.display())))?;
    let bytes = serde_json::to_vec(entry)
        .map_err(|e| Error::internal(format!("encoding cache entry: {e}")))?;
    // The temporary name starts with '.', which keeps a leftover of a crash
    // out of attachment listings (they skip dot files).
    fsutil::write_atomic(path, &bytes)
        .map_err(|e| Error::io(format!("writing cache file {}: {e}", path.display())))
}

/// Remove a cache file; a missing file is fine.
pub fn remove_entry(path: &Path) -> Result<(), Error> {
    fsutil::remove_if_exists(path)
        .map_err(|e| Error::io(format!("removing cache file {}: {e}", path.display())))
}

/// What a cache file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheFile {
    /// The current format.
    V1(Box<CacheEntry>),
    /// An old libcni file: just the result JSON.
    LegacyResult(Value),
}

/// Read a cache file. `Ok(None)` when it does not exist; an error when it
/// is neither format.
pub fn read_file(path: &Path) -> Result<Option<CacheFile>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::io(format!(
                "reading cache file {}: {e}",
                path.display()
            )));
        }
    };
    parse_file(&bytes)
        .map(Some)
        .map_err(|e| e.context(format!("cache file {}", path.display())))
}

/// Parse cache file bytes (either format).
pub fn parse_file(bytes: &[u8]) -> Result<CacheFile, Error> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::decoding(format!("not valid JSON: {e}")))?;
    if v.get("kind").and_then(Value::as_str) == Some(CACHE_KIND_V1) {
        let entry: CacheEntry = crate::spec::result::from_value_path("cache entry", &v)?;
        Ok(CacheFile::V1(Box::new(entry)))
    } else if v.get("kind").is_some() {
        Err(Error::decoding(format!(
            "unknown cache kind {} (expected {CACHE_KIND_V1:?})",
            v["kind"]
        )))
    } else {
        Ok(CacheFile::LegacyResult(v))
    }
}

impl CacheFile {
    /// The cached result, read in any version (a result without
    /// `cniVersion` is read as `fallback`). `None` when the entry has none.
    pub fn result(&self, fallback: Version) -> Result<Option<CniResult>, Error> {
        let raw = match self {
            CacheFile::V1(e) => match &e.result {
                None | Some(Value::Null) => return Ok(None),
                Some(r) => r,
            },
            CacheFile::LegacyResult(r) => r,
        };
        CniResult::parse(raw, fallback).map(|(r, _)| Some(r))
    }
}

/// An attachment recorded in the cache (cni:libcni `NetworkAttachment`).
#[derive(Debug, Clone, PartialEq)]
pub struct CachedAttachment {
    /// Container ID.
    pub container_id: String,
    /// Network name.
    pub network: String,
    /// Interface name.
    pub ifname: String,
    /// The list bytes cached at ADD.
    pub config: Vec<u8>,
    /// Netns path cached at ADD (empty in files from older libcni).
    pub netns: String,
    /// `CNI_ARGS` pairs cached at ADD.
    pub cni_args: Vec<(String, String)>,
    /// Capability arguments cached at ADD.
    pub capability_args: Map<String, Value>,
    /// The ADD result as cached, in the version it was produced in (its
    /// `interfaces` name the host-side links the attachment made); `None`
    /// when the entry holds none.
    pub result: Option<Value>,
}

/// Every attachment in `<cache_dir>/results`, sorted by file name, keeping
/// only `container_id`'s when it is not empty. Files that are not in the
/// current format, or lack a network or interface name, are ignored (as
/// libcni does). A missing directory has no attachments.
pub fn list_attachments(
    cache_dir: &Path,
    container_id: &str,
) -> Result<Vec<CachedAttachment>, Error> {
    let dir = cache_dir.join(RESULTS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(format!("reading {}: {e}", dir.display()))),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        if !container_id.is_empty() && !name.contains(&format!("-{container_id}-")) {
            continue;
        }
        let Ok(Some(CacheFile::V1(e))) = read_file(&dir.join(&name)) else {
            continue;
        };
        if (!container_id.is_empty() && e.container_id != container_id)
            || e.ifname.is_empty()
            || e.network_name.is_empty()
        {
            continue;
        }
        let e = *e;
        out.push(CachedAttachment {
            container_id: e.container_id,
            network: e.network_name,
            ifname: e.ifname,
            config: e.config,
            netns: e.netns,
            cni_args: e.cni_args,
            capability_args: e.capability_args,
            result: e.result.filter(|r| !r.is_null()),
        });
    }
    Ok(out)
}
