//! The plugin side of the protocol (SPEC.md "Section 3"; cni:pkg/skel).
//!
//! A plugin implements [`Plugin`] and calls [`run`] from `main`. `run` reads
//! the environment and stdin, validates them, gates verbs by the config's
//! version, answers VERSION itself, calls the plugin, prints the reply (or
//! the error JSON) on stdout and exits 0 or 1. A panic in the plugin still
//! produces an error JSON (code 999).

mod env;
mod netns;

use std::io::{Read, Write};
use std::path::PathBuf;

pub use env::Command;
pub use netns::check_netns_path;

use crate::spec::{ALL_VERSIONS, CniArgs, CniResult, Error, NetConf, Version, conf};

/// Everything a plugin call receives.
#[derive(Debug, Clone)]
pub struct CmdArgs {
    /// The verb.
    pub command: Command,
    /// `CNI_CONTAINERID` (empty for GC and STATUS).
    pub container_id: String,
    /// `CNI_NETNS` (may be empty for DEL, GC, STATUS).
    pub netns: String,
    /// `CNI_IFNAME` (empty for GC and STATUS).
    pub ifname: String,
    /// `CNI_ARGS`, parsed (syntax errors on DEL are tolerated: empty).
    pub args: CniArgs,
    /// `CNI_PATH`, split.
    pub path: Vec<PathBuf>,
    /// The raw stdin, for the plugin's own typed decoding and for delegates.
    pub stdin: Vec<u8>,
    /// The standard part of the config.
    pub conf: NetConf,
    /// The config's version: the version of every reply.
    pub version: Version,
}

impl CmdArgs {
    /// The arguments of a call with `stdin` as its config and no other
    /// environment (no netns, `CNI_ARGS` or `CNI_PATH`): what a plugin's
    /// config and unit tests load a config from.
    pub fn from_config(
        command: Command,
        container_id: &str,
        ifname: &str,
        stdin: Vec<u8>,
    ) -> Result<CmdArgs, Error> {
        let conf: NetConf = conf::decode("network configuration", &stdin)?;
        Ok(CmdArgs {
            command,
            container_id: container_id.to_string(),
            netns: String::new(),
            ifname: ifname.to_string(),
            args: CniArgs::default(),
            path: vec![],
            version: conf.version()?,
            conf,
            stdin,
        })
    }

    /// Decode the plugin's own typed config from stdin (code 6 on failure,
    /// naming the key).
    pub fn decode_conf<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        conf::decode("network configuration", &self.stdin)
    }

    /// `CNI_PATH` is required when a delegate must be found.
    pub fn require_path(&self, why: &str) -> Result<&[PathBuf], Error> {
        if self.path.is_empty() {
            Err(Error::invalid_env(format!(
                "CNI_PATH is not set: it is needed to find {why}"
            )))
        } else {
            Ok(&self.path)
        }
    }
}

/// What a plugin implements. Handlers return typed errors; `run` prints
/// them. Verbs the plugin does not override (GC, STATUS) succeed without
/// doing anything, as the spec allows.
pub trait Plugin {
    /// Versions this plugin speaks (all seven by default).
    fn supported_versions(&self) -> &[Version] {
        &ALL_VERSIONS
    }

    /// The `CNI_ARGS` keys the plugin understands. `Some` makes ADD and
    /// CHECK reject unknown keys unless `IgnoreUnknown` is set (as the
    /// reference does for bridge and host-local); `None` means the plugin
    /// does not read `CNI_ARGS` at all and any content is accepted.
    fn cni_args_keys(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// ADD: set up the attachment and return the result.
    fn add(&self, args: &CmdArgs) -> Result<CniResult, Error>;
    /// DEL: tear it down; must succeed when it is already gone.
    fn del(&self, args: &CmdArgs) -> Result<(), Error>;
    /// CHECK (0.4.0+): verify the attachment matches `prevResult`.
    fn check(&self, args: &CmdArgs) -> Result<(), Error>;
    /// GC (1.1.0): remove state of attachments not in the valid list.
    fn gc(&self, _args: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }
    /// STATUS (1.1.0): succeed when ready for ADD, else code 50/51.
    fn status(&self, _args: &CmdArgs) -> Result<(), Error> {
        Ok(())
    }
}

/// What a call produced: the text for stdout and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Text for stdout (one JSON object and a newline, or empty).
    pub stdout: String,
    /// 0 on success, 1 on error.
    pub exit_code: i32,
}

impl Reply {
    fn ok(stdout: String) -> Reply {
        Reply {
            stdout,
            exit_code: 0,
        }
    }
    fn err(e: &Error, version: Version) -> Reply {
        let mut stdout = e.to_json(version);
        stdout.push('\n');
        Reply {
            stdout,
            exit_code: 1,
        }
    }
}

/// The version the "about" text reports: the reference release whose
/// behaviour these plugins match, with our own release as semver build
/// metadata. Tools compare the core (nerdctl wants firewall >= 1.7.1
/// before it writes `ingressPolicy: isolated`; Nomad wants >= 0.4.0), and
/// semver ignores build metadata in comparisons, so both checks pass while
/// the text still names this project's release.
pub const ABOUT_VERSION: &str = concat!("v1.9.1+cni-rs.", env!("CARGO_PKG_VERSION"));

/// The text the reference's skeleton prints on stderr when `CNI_COMMAND`
/// is unset or empty: `CNI <name> plugin <version>` and the protocol
/// versions. nerdctl finds the first line by its prefix and parses the
/// rest as a semver.
pub fn about<P: Plugin>(name: &str, plugin: &P) -> String {
    let versions: Vec<&str> = plugin
        .supported_versions()
        .iter()
        .map(|v| v.as_str())
        .collect();
    format!(
        "CNI {name} plugin {ABOUT_VERSION}\nCNI protocol versions supported: {}\n",
        versions.join(", ")
    )
}

/// Entry point for a plugin's `main`: runs the call described by the
/// process environment and stdin, prints the reply and exits. Without
/// `CNI_COMMAND` (unset or empty) it prints [`about`] on stderr and exits
/// 0 without reading stdin, as the reference does: a person or a tool
/// probing the binary gets its name and version, not an error.
pub fn run<P: Plugin>(name: &str, plugin: &P) -> ! {
    crate::log::set_name(name);
    if std::env::var_os("CNI_COMMAND").is_none_or(|c| c.is_empty()) {
        let _ = std::io::stderr().write_all(about(name, plugin).as_bytes());
        std::process::exit(0);
    }
    let mut stdin = Vec::new();
    let read = std::io::stdin().read_to_end(&mut stdin);
    let reply = match read {
        Ok(_) => dispatch(plugin, &|k| std::env::var(k).ok(), &stdin),
        Err(e) => Reply::err(
            &Error::io(format!("reading the configuration from stdin: {e}")),
            Version::LATEST,
        ),
    };
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(reply.stdout.as_bytes())
        .and_then(|()| out.flush());
    let code = if written.is_err() { 1 } else { reply.exit_code };
    std::process::exit(code)
}

/// Run one call with an explicit environment lookup and stdin, returning
/// the reply instead of printing it (used by `run` and by tests).
pub fn dispatch<P: Plugin>(
    plugin: &P,
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &[u8],
) -> Reply {
    match env::read(plugin, env, stdin) {
        Err((e, v)) => Reply::err(&e, v),
        Ok(env::Parsed::Version(reply)) => Reply::ok(reply),
        Ok(env::Parsed::Call(args)) => {
            let version = args.version;
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(plugin, &args)));
            match outcome {
                Ok(Ok(text)) => Reply::ok(text),
                Ok(Err(e)) => Reply::err(&e, version),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".to_string());
                    Reply::err(
                        &Error::internal(format!(
                            "internal error (plugin panicked; please report it): {what}"
                        )),
                        version,
                    )
                }
            }
        }
    }
}

fn call<P: Plugin>(plugin: &P, args: &CmdArgs) -> Result<String, Error> {
    match args.command {
        Command::Add => {
            let result = plugin.add(args)?;
            let mut text = result.to_json(args.version)?;
            text.push('\n');
            Ok(text)
        }
        Command::Del => plugin.del(args).map(|()| String::new()),
        Command::Check => plugin.check(args).map(|()| String::new()),
        Command::Gc => plugin.gc(args).map(|()| String::new()),
        Command::Status => plugin.status(args).map(|()| String::new()),
        // VERSION is answered in env::read; never dispatched.
        Command::Version => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests;
