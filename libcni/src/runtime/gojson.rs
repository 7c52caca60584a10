//! Printing a result exactly as upstream cnitool does (cni:pkg/types
//! `Result.Print`: Go's `json.MarshalIndent(result, "", "    ")`, no
//! trailing newline), so that scripts written against upstream cnitool's
//! output keep working byte for byte.
//!
//! What Go does that serde_json does not: keys in struct-field order rather
//! than sorted, `"dns": {}` even when empty (a struct is never omitted),
//! and `<`, `>`, `&`, U+2028, U+2029 escaped as `\u003c` etc.

use std::fmt::Write;

use serde_json::Value;

use crate::spec::{CniResult, Error, Version};

/// Where in a result an object sits: decides its key order.
#[derive(Clone, Copy)]
enum Ctx {
    Top,
    Interface,
    Ip,
    Route,
    Dns,
    /// 0.1.0/0.2.0 `ip4` / `ip6`.
    LegacyIp,
    Other,
}

fn key_order(ctx: Ctx) -> &'static [&'static str] {
    match ctx {
        Ctx::Top => &[
            "cniVersion",
            "interfaces",
            "ips",
            "ip4",
            "ip6",
            "routes",
            "dns",
        ],
        Ctx::Interface => &["name", "mac", "mtu", "sandbox", "socketPath", "pciID"],
        Ctx::Ip => &["version", "interface", "address", "gateway"],
        Ctx::Route => &["dst", "gw", "mtu", "advmss", "priority", "table", "scope"],
        Ctx::Dns => &["nameservers", "domain", "search", "options"],
        Ctx::LegacyIp => &["ip", "gateway", "routes"],
        Ctx::Other => &[],
    }
}

fn child_ctx(ctx: Ctx, key: &str) -> Ctx {
    match (ctx, key) {
        (Ctx::Top, "interfaces") => Ctx::Interface,
        (Ctx::Top, "ips") => Ctx::Ip,
        (Ctx::Top | Ctx::LegacyIp, "routes") => Ctx::Route,
        (Ctx::Top, "dns") => Ctx::Dns,
        (Ctx::Top, "ip4" | "ip6") => Ctx::LegacyIp,
        _ => Ctx::Other,
    }
}

/// A JSON string as Go's encoder writes it.
fn go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("    ");
    }
}

fn write_value(out: &mut String, v: &Value, ctx: Ctx, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => go_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                write_value(out, item, ctx, level + 1);
            }
            indent(out, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let order = key_order(ctx);
            let mut keys: Vec<&String> = map.keys().collect();
            // Known fields in struct order, then anything else sorted (as
            // Go orders the keys of a map).
            keys.sort_by_key(|k| (order.iter().position(|o| o == k).unwrap_or(order.len()), *k));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                go_string(out, k);
                out.push_str(": ");
                write_value(out, &map[k.as_str()], child_ctx(ctx, k), level + 1);
            }
            indent(out, level);
            out.push('}');
        }
    }
}

/// A result JSON value as upstream cnitool prints it. `"dns": {}` is added
/// when absent, as Go always writes the DNS struct.
pub fn result_value_to_go_pretty(result: &Value) -> String {
    let mut v = result.clone();
    if let Value::Object(m) = &mut v {
        m.entry("dns")
            .or_insert_with(|| Value::Object(Default::default()));
    }
    let mut out = String::new();
    write_value(&mut out, &v, Ctx::Top, 0);
    out
}

/// `result` in `version`'s format, printed as upstream cnitool prints it.
///
/// ```
/// use libcni::{CniResult, Version};
/// let r = CniResult::default();
/// let text = libcni::runtime::result_to_go_pretty(&r, Version::V1_0_0).unwrap();
/// assert_eq!(text, "{\n    \"cniVersion\": \"1.0.0\",\n    \"dns\": {}\n}");
/// ```
pub fn result_to_go_pretty(result: &CniResult, version: Version) -> Result<String, Error> {
    Ok(result_value_to_go_pretty(&result.to_value(version)?))
}
