//! Reading a host-local IPAM store as the tests compare it: the on-disk
//! layout shared with the reference plugin (one file per address, named by
//! the address, holding the container ID and interface), which must
//! survive crashes and be left empty by DEL (ARCHITECTURE.md principles 5
//! and 6).

use std::collections::BTreeMap;
use std::path::Path;

/// The address records of the network directory `dir` of a host-local
/// store (`<dataDir>/<network>`): address -> raw content. Other entries
/// (the lock, `last_reserved_ip.*`, our attachment index) are left out;
/// a missing directory has no records. Panics when an entry named like an
/// address is not a regular file, or cannot be read.
pub fn ipam_records(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<std::net::IpAddr>().is_err() {
            continue;
        }
        let path = entry.path();
        assert!(
            entry.file_type().is_ok_and(|t| t.is_file()),
            "{} is not a regular file",
            path.display()
        );
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        out.insert(name, text);
    }
    out
}
