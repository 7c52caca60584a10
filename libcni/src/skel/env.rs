//! Reading and validating the CNI environment (SPEC.md "Parameters").

use serde_json::Value;

use super::{CmdArgs, Plugin, netns};
use crate::spec::conf::{self, interface_name_problem, is_valid_name, validate_network_name};
use crate::spec::{CniArgs, Error, NetConf, Version};

/// A CNI verb (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Set up an attachment.
    Add,
    /// Tear it down.
    Del,
    /// Verify it (0.4.0+).
    Check,
    /// Garbage-collect stale state (1.1.0).
    Gc,
    /// Report readiness (1.1.0).
    Status,
    /// Report supported versions.
    Version,
}

impl Command {
    /// Parse a `CNI_COMMAND` value (exact, upper case, as the spec writes it).
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "GC" => Command::Gc,
            "STATUS" => Command::Status,
            "VERSION" => Command::Version,
            _ => return None,
        })
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Gc => "GC",
            Command::Status => "STATUS",
            Command::Version => "VERSION",
        }
    }

    /// Whether the verb is about one attachment (needs container ID and
    /// interface name).
    fn per_attachment(self) -> bool {
        matches!(self, Command::Add | Command::Del | Command::Check)
    }
}

pub(super) enum Parsed {
    /// VERSION: the reply text.
    Version(String),
    /// Any other verb: the validated call.
    Call(Box<CmdArgs>),
}

type Fail = (Error, Version);

/// The version to tag an early error with: the config's, if it has a
/// valid one, else our newest.
fn sniff_version(stdin: &[u8]) -> Version {
    serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| v.get("cniVersion")?.as_str().and_then(Version::parse))
        .unwrap_or(Version::LATEST)
}

fn version_reply<P: Plugin>(plugin: &P, stdin: &[u8]) -> String {
    let supported = plugin.supported_versions();
    let newest = supported.iter().copied().max().unwrap_or(Version::LATEST);
    // Echo the requested version when we speak it (our decision; the
    // reference always answers with its newest).
    let asked = serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| v.get("cniVersion")?.as_str().and_then(Version::parse))
        .filter(|v| supported.contains(v))
        .unwrap_or(newest);
    let reply = serde_json::json!({
        "cniVersion": asked.as_str(),
        "supportedVersions": supported.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
    });
    format!("{reply}\n")
}

pub(super) fn read<P: Plugin>(
    plugin: &P,
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &[u8],
) -> Result<Parsed, Fail> {
    let early = sniff_version(stdin);
    let fail = |e: Error| (e, early);
    let get = |k: &str| env(k).unwrap_or_default();

    let command = match env("CNI_COMMAND") {
        None => {
            return Err(fail(Error::invalid_env(
                "CNI_COMMAND is not set: expected one of ADD, DEL, CHECK, GC, STATUS, VERSION",
            )));
        }
        Some(c) => Command::parse(&c).ok_or_else(|| {
            fail(Error::invalid_env(format!(
                "unknown CNI_COMMAND {c:?}: expected one of ADD, DEL, CHECK, GC, STATUS, VERSION"
            )))
        })?,
    };
    if command == Command::Version {
        return Ok(Parsed::Version(version_reply(plugin, stdin)));
    }

    let container_id = get("CNI_CONTAINERID");
    let ifname = get("CNI_IFNAME");
    let netns = get("CNI_NETNS");
    if command.per_attachment() {
        if container_id.is_empty() {
            return Err(fail(Error::invalid_env(format!(
                "CNI_CONTAINERID is not set; {} needs the container ID",
                command.as_str()
            ))));
        }
        if !is_valid_name(&container_id) {
            return Err(fail(Error::invalid_env(format!(
                "invalid CNI_CONTAINERID {container_id:?}: it must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
            ))));
        }
        if ifname.is_empty() {
            return Err(fail(Error::invalid_env(format!(
                "CNI_IFNAME is not set; {} needs the interface name",
                command.as_str()
            ))));
        }
        if let Some(why) = interface_name_problem(&ifname) {
            return Err(fail(Error::invalid_env(format!(
                "invalid CNI_IFNAME {ifname:?}: {why}"
            ))));
        }
    }
    if matches!(command, Command::Add | Command::Check) && netns.is_empty() {
        return Err(fail(Error::invalid_env(format!(
            "CNI_NETNS is not set; {} needs the container's network namespace path",
            command.as_str()
        ))));
    }

    if stdin.iter().all(u8::is_ascii_whitespace) {
        return Err(fail(Error::decoding(
            "no network configuration on stdin: the runtime must pass the config as JSON",
        )));
    }
    let conf: NetConf = conf::decode("network configuration", stdin).map_err(fail)?;
    let version = conf.version().map_err(fail)?;
    let fail = |e: Error| (e, version);
    validate_network_name(&conf.name).map_err(fail)?;
    if !plugin.supported_versions().contains(&version) {
        return Err(fail(Error::incompatible_version(format!(
            "this plugin does not support cniVersion {version} (supported: {})",
            plugin
                .supported_versions()
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))));
    }
    let gate = match command {
        Command::Check if !version.has_check() => Some("0.4.0"),
        Command::Gc | Command::Status if !version.has_gc_status() => Some("1.1.0"),
        _ => None,
    };
    if let Some(min) = gate {
        return Err(fail(Error::incompatible_version(format!(
            "{} needs cniVersion {min} or newer; the config says {version}",
            command.as_str()
        ))));
    }

    let strict = matches!(command, Command::Add | Command::Check);
    let raw_args = get("CNI_ARGS");
    let args = match CniArgs::parse(&raw_args) {
        Ok(a) => a,
        Err(e) if strict && plugin.cni_args_keys().is_some() => return Err(fail(e)),
        // Teardown must not fail on arguments it does not use.
        Err(_) => CniArgs::default(),
    };
    if strict && let Some(keys) = plugin.cni_args_keys() {
        args.check_known(keys).map_err(fail)?;
    }

    if matches!(command, Command::Add | Command::Check) {
        let allow_own =
            env("CNI_NETNS_OVERRIDE").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        netns::check_netns_path(&netns, allow_own).map_err(fail)?;
    }

    Ok(Parsed::Call(Box::new(CmdArgs {
        command,
        container_id,
        netns,
        ifname,
        args,
        path: crate::invoke::split_path(&get("CNI_PATH")),
        stdin: stdin.to_vec(),
        conf,
        version,
    })))
}
