//! The CNI error object (SPEC.md "Error") and its well-known codes.
//!
//! Every failure a plugin or the runtime reports is one of these: a numeric
//! code a runtime can branch on, a message a node operator can act on, and
//! optional details. Codes 1-99 are reserved by the spec; 100 and up belong
//! to plugins.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::version::Version;

/// Well-known error codes (SPEC.md "Error", cni:pkg/types/types.go).
pub mod code {
    /// Incompatible CNI version.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// Unsupported field in the network configuration.
    pub const UNSUPPORTED_FIELD: u32 = 2;
    /// Container unknown or does not exist (also: missing container ID).
    pub const UNKNOWN_CONTAINER: u32 = 3;
    /// Invalid or missing environment variable.
    pub const INVALID_ENV: u32 = 4;
    /// I/O failure, e.g. reading stdin.
    pub const IO_FAILURE: u32 = 5;
    /// Failed to decode content (bad JSON, wrong types).
    pub const DECODING_FAILURE: u32 = 6;
    /// Invalid network configuration: the JSON decodes but a value is wrong.
    pub const INVALID_NETWORK_CONFIG: u32 = 7;
    /// The netns is invalid (libcni extension, not in SPEC.md).
    pub const INVALID_NETNS: u32 = 8;
    /// Try again later: a transient condition (e.g. a lock).
    pub const TRY_AGAIN_LATER: u32 = 11;
    /// STATUS: the plugin is not available to take ADDs.
    pub const PLUGIN_NOT_AVAILABLE: u32 = 50;
    /// STATUS: not available, and existing containers may have limited
    /// connectivity.
    pub const PLUGIN_NOT_AVAILABLE_LIMITED_CONNECTIVITY: u32 = 51;
    /// First plugin-specific code.
    pub const PLUGIN_SPECIFIC: u32 = 100;
    /// Internal error (libcni uses it for untyped errors; we use it for
    /// panics, which are bugs).
    pub const INTERNAL: u32 = 999;
}

/// A CNI error: what a plugin prints on stdout (exit status 1) and what a
/// runtime reads back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// The spec version of the reply; filled in when printed.
    #[serde(
        rename = "cniVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cni_version: String,
    /// The error code (see [`code`]).
    #[serde(default)]
    pub code: u32,
    /// A short message naming the problem and, where possible, the fix.
    #[serde(default)]
    pub msg: String,
    /// Longer context (the underlying OS error, the offending input).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl Error {
    /// An error with a code and message, no details.
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        Error {
            cni_version: String::new(),
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// Add details (typically the underlying cause).
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }

    /// Code 1: the requested version is not supported.
    pub fn incompatible_version(msg: impl Into<String>) -> Self {
        Self::new(code::INCOMPATIBLE_VERSION, msg)
    }
    /// Code 2: a field the plugin does not support.
    pub fn unsupported_field(msg: impl Into<String>) -> Self {
        Self::new(code::UNSUPPORTED_FIELD, msg)
    }
    /// Code 3: unknown container.
    pub fn unknown_container(msg: impl Into<String>) -> Self {
        Self::new(code::UNKNOWN_CONTAINER, msg)
    }
    /// Code 4: invalid or missing environment variable.
    pub fn invalid_env(msg: impl Into<String>) -> Self {
        Self::new(code::INVALID_ENV, msg)
    }
    /// Code 5: I/O failure.
    pub fn io(msg: impl Into<String>) -> Self {
        Self::new(code::IO_FAILURE, msg)
    }
    /// Code 6: the input could not be decoded.
    pub fn decoding(msg: impl Into<String>) -> Self {
        Self::new(code::DECODING_FAILURE, msg)
    }
    /// Code 7: the configuration decodes but is invalid.
    pub fn invalid_config(msg: impl Into<String>) -> Self {
        Self::new(code::INVALID_NETWORK_CONFIG, msg)
    }
    /// Code 11: transient, try again later.
    pub fn try_again(msg: impl Into<String>) -> Self {
        Self::new(code::TRY_AGAIN_LATER, msg)
    }
    /// Code 50: STATUS says the plugin cannot take ADDs.
    pub fn not_available(msg: impl Into<String>) -> Self {
        Self::new(code::PLUGIN_NOT_AVAILABLE, msg)
    }
    /// Code 51: STATUS says the plugin cannot take ADDs and existing
    /// containers may be affected.
    pub fn not_available_limited(msg: impl Into<String>) -> Self {
        Self::new(code::PLUGIN_NOT_AVAILABLE_LIMITED_CONNECTIVITY, msg)
    }
    /// A plugin-specific error; `code` is clamped to at least 100.
    pub fn plugin(code: u32, msg: impl Into<String>) -> Self {
        Self::new(code.max(code::PLUGIN_SPECIFIC), msg)
    }
    /// Code 999: internal error.
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(code::INTERNAL, msg)
    }

    /// Prefix the message with context ("ipam add: ...") keeping the code.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.msg = format!("{ctx}: {}", self.msg);
        self
    }

    /// The JSON text printed on stdout for this error, tagged with `version`.
    pub fn to_json(&self, version: Version) -> String {
        let mut e = self.clone();
        e.cni_version = version.as_str().to_string();
        // Serializing a struct of strings and an integer cannot fail.
        serde_json::to_string(&e).unwrap_or_else(|_| {
            format!(
                "{{\"cniVersion\":\"{version}\",\"code\":{},\"msg\":\"error\"}}",
                self.code
            )
        })
    }
}

/// The failures of a teardown (DEL, GC) that keeps going past each one and
/// reports all of them at the end (ARCHITECTURE.md principle 4). Every
/// plugin combines its teardown errors through this one type.
#[derive(Debug, Default)]
pub struct Errors {
    list: Vec<Error>,
}

impl Errors {
    /// No failure yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record one failure.
    pub fn push(&mut self, e: impl Into<Error>) {
        self.list.push(e.into());
    }

    /// Record the failure of `r`, if any, and hand back its value.
    pub fn record<T, E: Into<Error>>(&mut self, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(e);
                None
            }
        }
    }

    /// Whether nothing failed.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `Ok` when nothing failed; the failure itself when there was one;
    /// otherwise one error with the first failure's code whose message
    /// lists every failure in order: `"<verb> finished with N errors: a; b"`.
    pub fn finish(mut self, verb: &str) -> Result<(), Error> {
        match self.list.len() {
            0 => Ok(()),
            1 => Err(self.list.remove(0)),
            n => {
                let code = self.list[0].code;
                let msg: Vec<String> = self.list.iter().map(ToString::to_string).collect();
                Err(Error::new(
                    code,
                    format!("{verb} finished with {n} errors: {}", msg.join("; ")),
                ))
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.details.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}; {}", self.msg, self.details)
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_spec_fields() {
        let e = Error::invalid_config("bad key").with_details("more");
        let v: serde_json::Value = serde_json::from_str(&e.to_json(Version::V1_0_0)).unwrap();
        assert_eq!(v["cniVersion"], "1.0.0");
        assert_eq!(v["code"], 7);
        assert_eq!(v["msg"], "bad key");
        assert_eq!(v["details"], "more");
    }

    #[test]
    fn empty_details_omitted() {
        let s = Error::io("x").to_json(Version::V0_4_0);
        assert!(!s.contains("details"), "{s}");
    }

    #[test]
    fn errors_report_every_failure_with_the_first_code() {
        assert!(Errors::new().finish("DEL").is_ok());
        let mut one = Errors::new();
        one.push(Error::invalid_env("bad netns"));
        assert_eq!(
            one.finish("DEL").unwrap_err(),
            Error::invalid_env("bad netns")
        );
        let mut two = Errors::new();
        assert_eq!(two.record(Ok::<u8, Error>(3)), Some(3));
        two.push(Error::plugin(104, "masquerade"));
        two.record(Err::<(), _>(Error::plugin(101, "link")));
        assert!(!two.is_empty());
        let e = two.finish("GC").unwrap_err();
        assert_eq!(e.code, 104);
        assert_eq!(e.msg, "GC finished with 2 errors: masquerade; link");
    }

    #[test]
    fn plugin_codes_start_at_100() {
        assert_eq!(Error::plugin(3, "x").code, 100);
        assert_eq!(Error::plugin(120, "x").code, 120);
    }

    #[test]
    fn reads_reference_error_without_version() {
        let e: Error = serde_json::from_str(r#"{"code":11,"msg":"busy"}"#).unwrap();
        assert_eq!(e.code, 11);
        assert_eq!(e.msg, "busy");
        assert!(e.cni_version.is_empty());
    }
}
