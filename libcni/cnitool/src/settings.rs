//! What cnitool reads from its environment, with upstream cnitool's names,
//! defaults and strictness (cni:cnitool/cmd/root.go), so that shell scripts
//! written for upstream run unchanged.

use std::path::{Component, Path, PathBuf};

use libcni::Error;
use serde_json::{Map, Value};
use sha2::{Digest, Sha512};

/// `NETCONFPATH`: the configuration directory.
pub const ENV_NETCONFPATH: &str = "NETCONFPATH";
/// `CNI_PATH`: plugin directories, ':'-separated.
pub const ENV_CNI_PATH: &str = "CNI_PATH";
/// `CNI_ARGS`: `K=V;K=V` passed to every plugin.
pub const ENV_CNI_ARGS: &str = "CNI_ARGS";
/// `CAP_ARGS`: capability arguments as a JSON object.
pub const ENV_CAP_ARGS: &str = "CAP_ARGS";
/// `CNI_IFNAME`: the interface name when `-i` is not given.
pub const ENV_CNI_IFNAME: &str = "CNI_IFNAME";
/// `CNI_CACHE_DIR`: our addition; the cache directory when `--cache-dir`
/// is not given.
pub const ENV_CNI_CACHE_DIR: &str = "CNI_CACHE_DIR";

/// Upstream's default configuration directory.
pub const DEFAULT_NETCONFPATH: &str = "/etc/cni/net.d";
/// Upstream's default interface name.
pub const DEFAULT_IFNAME: &str = "eth0";

/// Parse `CNI_ARGS` as upstream cnitool does: every `;`-separated pair must
/// split on `=` into exactly a non-empty key and a non-empty value (so
/// `K=`, `=V`, `K=a=b` and a trailing `;` are all errors).
pub fn parse_cni_args(raw: &str) -> Result<Vec<(String, String)>, Error> {
    raw.split(';')
        .map(|pair| {
            let parts: Vec<&str> = pair.split('=').collect();
            match parts.as_slice() {
                [k, v] if !k.is_empty() && !v.is_empty() => Ok(((*k).to_string(), (*v).to_string())),
                _ => Err(Error::invalid_env(format!(
                    "invalid CNI_ARGS pair {pair:?}: expected KEY=VALUE with a non-empty key and value, pairs separated by ';'"
                ))),
            }
        })
        .collect()
}

/// Parse `CAP_ARGS`: a JSON object (`null` means none).
pub fn parse_cap_args(raw: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(other) => Err(Error::decoding(format!(
            "CAP_ARGS must be a JSON object like {{\"portMappings\":[...]}}, got {other}"
        ))),
        Err(e) => Err(Error::decoding(format!("CAP_ARGS is not valid JSON: {e}"))),
    }
}

/// `path` made absolute against `cwd` and cleaned lexically (`.` and `..`
/// resolved without following symlinks), as Go's `filepath.Abs` does.
pub fn go_abs(path: &Path, cwd: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Upstream cnitool's container ID for a netns path: `cnitool-` followed by
/// the hex of the first 10 bytes of the SHA-512 of the absolute path.
pub fn container_id_for(abs_netns: &Path) -> String {
    let digest = Sha512::digest(abs_netns.as_os_str().as_encoded_bytes());
    let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("cnitool-{hex}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cni_args_strict_like_upstream() {
        assert_eq!(
            parse_cni_args("IgnoreUnknown=1;K8S_POD_NAME=web").unwrap(),
            [
                ("IgnoreUnknown".to_string(), "1".to_string()),
                ("K8S_POD_NAME".into(), "web".into())
            ]
        );
        for bad in ["K=", "=V", "K=a=b", "K=V;", "novalue", ";"] {
            let e = parse_cni_args(bad).unwrap_err();
            assert_eq!(e.code, 4, "{bad}");
            assert!(e.msg.contains("invalid CNI_ARGS pair"), "{}", e.msg);
        }
    }

    #[test]
    fn cap_args_must_be_an_object() {
        assert_eq!(parse_cap_args(r#"{"portMappings":[]}"#).unwrap().len(), 1);
        assert!(parse_cap_args("null").unwrap().is_empty());
        assert!(parse_cap_args("[1]").is_err());
        assert!(parse_cap_args("{").is_err());
    }

    #[test]
    fn abs_is_lexical() {
        let cwd = Path::new("/run/x");
        assert_eq!(
            go_abs(Path::new("../netns/a"), cwd),
            Path::new("/run/netns/a")
        );
        assert_eq!(
            go_abs(Path::new("/var/run/./netns//b/"), cwd),
            Path::new("/var/run/netns/b")
        );
        assert_eq!(go_abs(Path::new("/../a"), cwd), Path::new("/a"));
    }

    #[test]
    fn container_id_matches_upstream() {
        // Upstream cnitool 1.1.2 wrote its cache for this netns path as
        // realnet-cnitool-37badda368df9804e3dc-eth0 (testdata/cache).
        assert_eq!(
            container_id_for(Path::new("/run/netns/cnit-manual-pod")),
            "cnitool-37badda368df9804e3dc"
        );
        assert_eq!(
            container_id_for(Path::new("/tmp/exp/nsfile")),
            "cnitool-dfb4a440a2513ecb8caa"
        );
    }
}
