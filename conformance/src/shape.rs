//! What well-formed replies look like: error JSON (SPEC.md "Error"),
//! VERSION replies, and ADD results in each version's wire format
//! (SPEC.md "Success" and the 0.x type definitions).

use std::net::IpAddr;

use cni_sandbox::PluginRun;
use ipnet::IpNet;
use libcni::Version;
use libcni::spec::version::ResultFormat;
use serde_json::{Map, Value};

use crate::ctx::describe;

/// Text that only a crash prints (Rust and Go panics, backtraces).
const PANIC_MARKERS: [&str; 6] = [
    "panicked at",
    "stack backtrace",
    "RUST_BACKTRACE",
    "goroutine ",
    "panic: ",
    "SIGSEGV",
];

/// Fail if stdout or stderr carries panic text.
pub fn no_panic(run: &PluginRun) -> Result<(), String> {
    for m in PANIC_MARKERS {
        if run.stdout.contains(m) || run.stderr.contains(m) {
            return Err(format!(
                "the plugin crashed ({m:?} in its output): {}",
                describe(run)
            ));
        }
    }
    Ok(())
}

/// A parsed error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// `code`.
    pub code: u64,
    /// `msg`.
    pub msg: String,
    /// `cniVersion`, when present.
    pub cni_version: Option<String>,
}

/// Check that `run` is a clean failure: no panic text, exit status 1,
/// stdout one JSON object with a numeric `code` and a string `msg`, and
/// (when `codes` is not empty) a code from `codes`.
pub fn expect_error(run: &PluginRun, codes: &[u64]) -> Result<ErrorReply, String> {
    no_panic(run)?;
    if run.code != 1 {
        return Err(format!(
            "expected exit 1 with an error JSON, got {}",
            describe(run)
        ));
    }
    let v: Value = serde_json::from_str(&run.stdout)
        .map_err(|e| format!("stdout is not one JSON object ({e}): {}", describe(run)))?;
    let Some(code) = v.get("code").and_then(Value::as_u64) else {
        return Err(format!(
            "error JSON without a numeric code: {}",
            describe(run)
        ));
    };
    let Some(msg) = v.get("msg").and_then(Value::as_str) else {
        return Err(format!(
            "error JSON without a string msg: {}",
            describe(run)
        ));
    };
    if !codes.is_empty() && !codes.contains(&code) {
        let want = codes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(format!(
            "expected error code {want}, got {code}: {}",
            describe(run)
        ));
    }
    Ok(ErrorReply {
        code,
        msg: msg.to_string(),
        cni_version: v
            .get("cniVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Check that `run` succeeded without panic text; returns stdout parsed
/// (Null when empty).
pub fn expect_success(run: &PluginRun, what: &str) -> Result<Value, String> {
    no_panic(run)?;
    if !run.ok() {
        return Err(format!("{what} failed: {}", describe(run)));
    }
    if run.stdout.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&run.stdout)
        .map_err(|e| format!("{what}: stdout is not JSON ({e}): {}", describe(run)))
}

fn is_semver(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Validate a VERSION reply: `cniVersion` a version string, and
/// `supportedVersions` a non-empty list of distinct version strings that
/// contains `cniVersion`. Returns (cniVersion, supportedVersions).
pub fn version_reply(v: &Value) -> Result<(String, Vec<String>), String> {
    let Some(cv) = v.get("cniVersion").and_then(Value::as_str) else {
        return Err(format!("VERSION reply without a string cniVersion: {v}"));
    };
    if !is_semver(cv) {
        return Err(format!(
            "VERSION reply cniVersion {cv:?} is not a version: {v}"
        ));
    }
    let Some(list) = v.get("supportedVersions").and_then(Value::as_array) else {
        return Err(format!(
            "VERSION reply without a supportedVersions list: {v}"
        ));
    };
    let mut out = Vec::new();
    for s in list {
        let Some(s) = s.as_str().filter(|s| is_semver(s)) else {
            return Err(format!(
                "supportedVersions entry {s} is not a version string"
            ));
        };
        if out.iter().any(|o| o == s) {
            return Err(format!("supportedVersions lists {s} twice"));
        }
        out.push(s.to_string());
    }
    if out.is_empty() {
        return Err("supportedVersions is empty".into());
    }
    if !out.iter().any(|s| s == cv) {
        return Err(format!(
            "the reply's cniVersion {cv} is not in its own supportedVersions {out:?}"
        ));
    }
    Ok((cv.to_string(), out))
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!(
                "{what} has key {k:?}, which this spec version does not define"
            ));
        }
    }
    Ok(())
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} is not an object: {v}"))
}

fn array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} is not an array: {v}"))
}

fn cidr(v: &Value, what: &str) -> Result<IpNet, String> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{what} is not an address/prefix: {v}"))
}

fn ip(v: &Value, what: &str) -> Result<IpAddr, String> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{what} is not an IP address: {v}"))
}

fn same_family(a: IpAddr, b: &IpNet, what: &str) -> Result<(), String> {
    if a.is_ipv4() == b.addr().is_ipv4() {
        Ok(())
    } else {
        Err(format!("{what} {a} is not of the family of {b}"))
    }
}

fn string_list(v: &Value, what: &str) -> Result<(), String> {
    for s in array(v, what)? {
        if !s.is_string() {
            return Err(format!("{what} has a non-string entry {s}"));
        }
    }
    Ok(())
}

fn dns(v: &Value) -> Result<(), String> {
    let o = object(v, "dns")?;
    only_keys(o, &["nameservers", "domain", "search", "options"], "dns")?;
    for k in ["nameservers", "search", "options"] {
        if let Some(x) = o.get(k) {
            string_list(x, &format!("dns.{k}"))?;
        }
    }
    if let Some(d) = o.get("domain")
        && !d.is_string()
    {
        return Err(format!("dns.domain is not a string: {d}"));
    }
    Ok(())
}

fn mac_ok(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() >= 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn legacy_ip(v: &Value, fam6: bool, what: &str) -> Result<(), String> {
    let o = object(v, what)?;
    only_keys(o, &["ip", "gateway", "routes"], what)?;
    let net = cidr(o.get("ip").unwrap_or(&Value::Null), &format!("{what}.ip"))?;
    if net.addr().is_ipv6() != fam6 {
        return Err(format!("{what}.ip {net} is of the wrong family"));
    }
    if let Some(g) = o.get("gateway") {
        same_family(
            ip(g, &format!("{what}.gateway"))?,
            &net,
            &format!("{what}.gateway"),
        )?;
    }
    if let Some(r) = o.get("routes") {
        for (i, r) in array(r, &format!("{what}.routes"))?.iter().enumerate() {
            let w = format!("{what}.routes[{i}]");
            let ro = object(r, &w)?;
            only_keys(ro, &["dst", "gw"], &w)?;
            let dst = cidr(ro.get("dst").unwrap_or(&Value::Null), &format!("{w}.dst"))?;
            same_family(net.addr(), &dst, &format!("{w}.dst"))?;
            if let Some(g) = ro.get("gw") {
                same_family(ip(g, &format!("{w}.gw"))?, &net, &format!("{w}.gw"))?;
            }
        }
    }
    Ok(())
}

/// Validate `v` as an ADD result in `version`'s wire format: the keys that
/// version defines and no others (so fields newer than the version are
/// caught), well-formed addresses, and `ips[].interface` indexes that
/// point into `interfaces`.
pub fn result(v: &Value, version: Version) -> Result<(), String> {
    let o = object(v, "result")?;
    match o.get("cniVersion").and_then(Value::as_str) {
        Some(cv) if cv == version.as_str() => {}
        other => {
            return Err(format!(
                "result cniVersion is {other:?}, expected \"{version}\" (the config's version)"
            ));
        }
    }
    if let Some(d) = o.get("dns") {
        dns(d)?;
    }
    match version.result_format() {
        ResultFormat::V02 => {
            only_keys(o, &["cniVersion", "ip4", "ip6", "dns"], "result")?;
            if let Some(x) = o.get("ip4") {
                legacy_ip(x, false, "ip4")?;
            }
            if let Some(x) = o.get("ip6") {
                legacy_ip(x, true, "ip6")?;
            }
            Ok(())
        }
        ResultFormat::V04 | ResultFormat::V1 => rich_result(o, version),
    }
}

fn rich_result(o: &Map<String, Value>, version: Version) -> Result<(), String> {
    let v11 = version >= Version::V1_1_0;
    let v04 = version.result_format() == ResultFormat::V04;
    only_keys(
        o,
        &["cniVersion", "interfaces", "ips", "routes", "dns"],
        "result",
    )?;
    let mut n_if = 0;
    if let Some(ifs) = o.get("interfaces") {
        let ifs = array(ifs, "interfaces")?;
        n_if = ifs.len();
        let allowed: &[&str] = if v11 {
            &["name", "mac", "mtu", "sandbox", "socketPath", "pciID"]
        } else {
            &["name", "mac", "sandbox"]
        };
        for (i, x) in ifs.iter().enumerate() {
            let w = format!("interfaces[{i}]");
            let xo = object(x, &w)?;
            only_keys(xo, allowed, &w)?;
            if xo
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(format!("{w} has no name"));
            }
            if let Some(m) = xo.get("mac") {
                match m.as_str() {
                    Some(s) if s.is_empty() || mac_ok(s) => {}
                    _ => return Err(format!("{w}.mac {m} is not a MAC address")),
                }
            }
            if let Some(s) = xo.get("sandbox")
                && !s.is_string()
            {
                return Err(format!("{w}.sandbox is not a string"));
            }
            if let Some(m) = xo.get("mtu")
                && m.as_u64().is_none()
            {
                return Err(format!("{w}.mtu is not a number"));
            }
        }
    }
    if let Some(ips) = o.get("ips") {
        for (i, x) in array(ips, "ips")?.iter().enumerate() {
            let w = format!("ips[{i}]");
            let xo = object(x, &w)?;
            let allowed: &[&str] = if v04 {
                &["version", "address", "gateway", "interface"]
            } else {
                &["address", "gateway", "interface"]
            };
            only_keys(xo, allowed, &w)?;
            let net = cidr(
                xo.get("address").unwrap_or(&Value::Null),
                &format!("{w}.address"),
            )?;
            if v04 {
                let want = if net.addr().is_ipv4() { "4" } else { "6" };
                match xo.get("version").and_then(Value::as_str) {
                    Some(s) if s == want => {}
                    other => {
                        return Err(format!(
                            "{w}.version is {other:?}, expected {want:?} for {net} (0.3.x/0.4.0 require it)"
                        ));
                    }
                }
            }
            if let Some(g) = xo.get("gateway") {
                same_family(
                    ip(g, &format!("{w}.gateway"))?,
                    &net,
                    &format!("{w}.gateway"),
                )?;
            }
            if let Some(idx) = xo.get("interface") {
                match idx.as_u64() {
                    Some(n) if (n as usize) < n_if => {}
                    _ => {
                        return Err(format!(
                            "{w}.interface {idx} does not index the {n_if} interfaces"
                        ));
                    }
                }
            }
        }
    }
    if let Some(routes) = o.get("routes") {
        let allowed: &[&str] = if v11 {
            &["dst", "gw", "mtu", "advmss", "priority", "table", "scope"]
        } else {
            &["dst", "gw"]
        };
        for (i, x) in array(routes, "routes")?.iter().enumerate() {
            let w = format!("routes[{i}]");
            let xo = object(x, &w)?;
            only_keys(xo, allowed, &w)?;
            let dst = cidr(xo.get("dst").unwrap_or(&Value::Null), &format!("{w}.dst"))?;
            if let Some(g) = xo.get("gw") {
                same_family(ip(g, &format!("{w}.gw"))?, &dst, &format!("{w}.gw"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(code: i32, stdout: &str) -> PluginRun {
        PluginRun {
            code,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    #[test]
    fn error_replies() {
        let ok = run(1, r#"{"cniVersion":"1.0.0","code":7,"msg":"bad"}"#);
        let e = expect_error(&ok, &[7]).unwrap();
        assert_eq!(e.code, 7);
        assert_eq!(e.cni_version.as_deref(), Some("1.0.0"));
        assert!(
            expect_error(&ok, &[4])
                .unwrap_err()
                .contains("expected error code 4, got 7")
        );
        assert!(expect_error(&run(2, r#"{"code":7,"msg":"x"}"#), &[]).is_err());
        assert!(expect_error(&run(1, "oops"), &[]).is_err());
        assert!(expect_error(&run(1, r#"{"msg":"x"}"#), &[]).is_err());
        let panicked = PluginRun {
            code: 1,
            stdout: r#"{"code":999,"msg":"x"}"#.into(),
            stderr: "thread 'main' panicked at src/main.rs".into(),
        };
        assert!(
            expect_error(&panicked, &[])
                .unwrap_err()
                .contains("crashed")
        );
    }

    #[test]
    fn version_replies() {
        let (cv, list) =
            version_reply(&json!({"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}))
                .unwrap();
        assert_eq!(cv, "1.0.0");
        assert_eq!(list.len(), 2);
        for bad in [
            json!({"supportedVersions":["1.0.0"]}),
            json!({"cniVersion":"1.0.0"}),
            json!({"cniVersion":"1.0.0","supportedVersions":[]}),
            json!({"cniVersion":"1.0.0","supportedVersions":["1.0.0","1.0.0"]}),
            json!({"cniVersion":"1.0.0","supportedVersions":["0.4.0"]}),
            json!({"cniVersion":"1.0","supportedVersions":["1.0"]}),
        ] {
            assert!(version_reply(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn result_shapes_per_version() {
        let v1 = json!({"cniVersion":"1.0.0",
            "interfaces":[{"name":"eth0","mac":"0a:58:0a:4d:00:02","sandbox":"/run/netns/x"}],
            "ips":[{"address":"10.77.0.2/24","gateway":"10.77.0.1","interface":0}],
            "routes":[{"dst":"0.0.0.0/0","gw":"10.77.0.1"}],"dns":{}});
        result(&v1, Version::V1_0_0).unwrap();
        // Wrong version tag, a 0.4.0-only key in 1.0.0, a 1.1.0 key in 1.0.0.
        assert!(result(&v1, Version::V1_1_0).is_err());
        let mut with_version = v1.clone();
        with_version["ips"][0]["version"] = json!("4");
        assert!(result(&with_version, Version::V1_0_0).is_err());
        let mut with_mtu = v1.clone();
        with_mtu["routes"][0]["mtu"] = json!(1400);
        assert!(result(&with_mtu, Version::V1_0_0).is_err());
        with_mtu["cniVersion"] = json!("1.1.0");
        result(&with_mtu, Version::V1_1_0).unwrap();
        let mut bad_idx = v1.clone();
        bad_idx["ips"][0]["interface"] = json!(3);
        assert!(result(&bad_idx, Version::V1_0_0).is_err());

        let v04 = json!({"cniVersion":"0.4.0",
            "ips":[{"version":"4","address":"10.77.0.2/24"}]});
        result(&v04, Version::V0_4_0).unwrap();
        let mut wrong_fam = v04.clone();
        wrong_fam["ips"][0]["version"] = json!("6");
        assert!(result(&wrong_fam, Version::V0_4_0).is_err());

        let v02 = json!({"cniVersion":"0.2.0","ip4":{"ip":"10.77.0.2/24","gateway":"10.77.0.1",
            "routes":[{"dst":"0.0.0.0/0"}]}});
        result(&v02, Version::V0_2_0).unwrap();
        let mut v02_rich = v02.clone();
        v02_rich["ips"] = json!([]);
        assert!(result(&v02_rich, Version::V0_2_0).is_err());
        let mut v02_v6_in_4 = v02.clone();
        v02_v6_in_4["ip4"]["ip"] = json!("fd77::2/64");
        assert!(result(&v02_v6_in_4, Version::V0_2_0).is_err());
    }
}
