//! A tiny stderr logger. A plugin's stdout is its reply, so every
//! diagnostic goes to stderr, prefixed with the plugin name so that a
//! runtime log mixing several plugins stays readable.

use std::io::Write;
use std::sync::OnceLock;

static NAME: OnceLock<String> = OnceLock::new();

/// Set the prefix used by [`warn`] (the plugin's binary name).
pub fn set_name(name: &str) {
    let _ = NAME.set(name.to_string());
}

/// Write one warning line to stderr. Errors writing stderr are ignored:
/// there is nowhere left to report them.
pub fn warn(args: std::fmt::Arguments<'_>) {
    let name = NAME.get().map(String::as_str).unwrap_or("cni");
    let _ = writeln!(std::io::stderr().lock(), "{name}: {args}");
}

/// Log a formatted warning to stderr: `cni_warn!("could not {}", x)`.
#[macro_export]
macro_rules! cni_warn {
    ($($t:tt)*) => { $crate::log::warn(format_args!($($t)*)) };
}
