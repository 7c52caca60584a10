//! The `sysctl` object: keys kept in document order with duplicates
//! visible (the reference rejects a repeated key since v1.2.0, and a
//! plain map would silently keep the last one), and the rule that turns a
//! key into a file under `/proc/sys/net/`.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// A `sysctl` object exactly as written: every key, in order, with its
/// JSON value (validated later, so that a wrong value gets a message
/// naming the key and the fix).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSysctls(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for RawSysctls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSysctls;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of sysctl keys and string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawSysctls, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, Value>()? {
                    v.push((k, val));
                }
                Ok(RawSysctls(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// The file for sysctl `key` of interface `ifname`, relative to
/// `/proc/sys` and without empty or `.` components, as the reference
/// builds it since v1.2.0: every `.` becomes `/` first, then the first
/// `IFNAME` becomes the interface name (so a dotted VLAN name such as
/// `eth0.100` stays one component), and the path must lie under
/// `/proc/sys/net/`. Returns why a key is refused.
///
/// Since dots become slashes, `..` in a key can never climb out of
/// `/proc/sys` (the reference turns `net/../kernel/x` into
/// `net////kernel/x`, a file that does not exist, and fails while
/// writing, after the keys before it were set). It is refused here, before
/// anything is written, as a mistake: no sysctl name contains it.
pub fn path_for(key: &str, ifname: &str) -> Result<String, &'static str> {
    if key.contains('\0') {
        return Err("it contains a NUL byte");
    }
    if key.contains("..") {
        return Err("'..' is not allowed in a sysctl key (no sysctl name contains it)");
    }
    let slashed = key.replace('.', "/").replacen("IFNAME", ifname, 1);
    let mut parts = Vec::new();
    for part in slashed.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("'..' is not allowed in a sysctl key"),
            p => parts.push(p),
        }
    }
    if parts.len() < 2 || parts[0] != "net" {
        return Err(
            "only keys under /proc/sys/net/ can be set (e.g. net.ipv4.conf.IFNAME.arp_notify)",
        );
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_become_slashes_before_ifname_is_substituted() {
        assert_eq!(
            path_for("net.ipv4.conf.IFNAME.arp_notify", "eth0.100").unwrap(),
            "net/ipv4/conf/eth0.100/arp_notify"
        );
        assert_eq!(
            path_for("net/ipv6/conf/IFNAME/accept_ra", "eth0").unwrap(),
            "net/ipv6/conf/eth0/accept_ra"
        );
        // Only the first IFNAME is replaced, as in the reference.
        assert_eq!(
            path_for("net.IFNAME.IFNAME", "e1").unwrap(),
            "net/e1/IFNAME"
        );
        // Empty and '.' components vanish like Go's filepath.Clean.
        assert_eq!(
            path_for("/net//core/./somaxconn", "e").unwrap(),
            "net/core/somaxconn"
        );
    }

    #[test]
    fn keys_outside_net_or_with_dotdot_are_refused() {
        for bad in [
            "kernel.hostname",
            "net",
            "net.",
            "/proc/sys/net/ipv4/ip_forward",
            "net/../kernel/hostname",
            "net/ipv4/../ipv4/ip_forward",
            "net.ipv4..ip_forward",
            "netfoo.x",
            "",
            "net/ipv4/a\0b",
        ] {
            assert!(path_for(bad, "eth0").is_err(), "{bad:?}");
        }
        assert!(path_for("net/../kernel/x", "e").unwrap_err().contains(".."));
    }

    #[test]
    fn raw_sysctls_keep_order_and_duplicates() {
        let r: RawSysctls = serde_json::from_str(r#"{"b":"1","a":"2","b":"3","n":4}"#).unwrap();
        let keys: Vec<&str> = r.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b", "n"]);
        assert_eq!(r.0[3].1, serde_json::json!(4));
        assert!(serde_json::from_str::<RawSysctls>("[]").is_err());
    }
}
