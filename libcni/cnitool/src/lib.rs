//! `cnitool`: run a CNI network configuration against a network namespace
//! from the shell, like upstream cnitool (cni:cnitool), on top of
//! [`libcni::runtime`].
//!
//! Same commands, flags and environment as upstream
//! (`add|check|del|gc|status <net> <netns>`, `-i/--ifname`, `NETCONFPATH`,
//! `CNI_PATH`, `CNI_ARGS`, `CAP_ARGS`, `CNI_IFNAME`), the same container ID
//! derived from the netns path, the same cache, and `add` prints the result
//! byte for byte as upstream does. Beyond upstream: `version`, `validate`,
//! `list`, `--cache-dir`/`CNI_CACHE_DIR`, `--container-id`, `gc --valid`,
//! a failed `add` rolls back (`--no-rollback` to keep upstream's
//! behaviour), and `doctor` says what is wrong with the node's pod
//! networking (crate `cni-doctor`).

mod commands;
mod doctor;
pub mod settings;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "cnitool",
    version,
    about = "Add, check, remove, garbage-collect or query CNI networks of a network namespace",
    after_help = "Environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_ARGS (K=V;K=V), \
CAP_ARGS (JSON object), CNI_IFNAME (default eth0), CNI_CACHE_DIR (default /var/lib/cni)"
)]
pub struct Cli {
    /// Interface name in the namespace (default: $CNI_IFNAME, else eth0).
    #[arg(short = 'i', long = "ifname", global = true)]
    pub ifname: Option<String>,
    /// Cache directory (default: $CNI_CACHE_DIR, else /var/lib/cni).
    #[arg(long = "cache-dir", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Container ID to use instead of the one derived from the netns path.
    #[arg(long = "container-id", global = true)]
    pub container_id: Option<String>,
    /// On a failed add, leave what the plugins made (upstream behaviour)
    /// instead of deleting it.
    #[arg(long = "no-rollback", global = true)]
    pub no_rollback: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Add the network's interface to a network namespace; print the result.
    Add {
        /// Network name.
        net: String,
        /// Network namespace path.
        netns: PathBuf,
        /// Arguments after the netns: ignored with a warning, as upstream
        /// ignores them, so scripts that pass them keep working.
        #[arg(hide = true)]
        extra: Vec<String>,
    },
    /// Check the interface against the cached result (spec 0.4.0+).
    Check {
        /// Network name.
        net: String,
        /// Network namespace path.
        netns: PathBuf,
        /// Arguments after the netns: ignored with a warning, as upstream
        /// ignores them, so scripts that pass them keep working.
        #[arg(hide = true)]
        extra: Vec<String>,
    },
    /// Remove the network's interface from a network namespace.
    Del {
        /// Network name.
        net: String,
        /// Network namespace path.
        netns: PathBuf,
        /// Arguments after the netns: ignored with a warning, as upstream
        /// ignores them, so scripts that pass them keep working.
        #[arg(hide = true)]
        extra: Vec<String>,
    },
    /// Garbage-collect: delete cached attachments of the network that are
    /// not valid (all of them unless --valid is given), then send GC to the
    /// plugins (spec 1.1.0+).
    Gc {
        /// Network name.
        net: String,
        /// Network namespace path (accepted for compatibility; unused).
        netns: Option<PathBuf>,
        /// An attachment to keep, as CONTAINERID:IFNAME (repeatable).
        #[arg(long = "valid", value_name = "CONTAINERID:IFNAME")]
        valid: Vec<String>,
    },
    /// Ask every plugin of the network whether it is ready (spec 1.1.0+).
    Status {
        /// Network name.
        net: String,
        /// Network namespace path (accepted for compatibility; unused).
        netns: Option<PathBuf>,
    },
    /// Show the VERSION info of every plugin of a network, or of one plugin.
    Version {
        /// Network name, or with --plugin a plugin type or binary path.
        target: String,
        /// Treat TARGET as a plugin type (found in CNI_PATH) or a path.
        #[arg(long)]
        plugin: bool,
    },
    /// Check that every plugin of the network exists and supports its
    /// version; print the capabilities the network accepts.
    Validate {
        /// Network name.
        net: String,
    },
    /// List the networks in NETCONFPATH and the files that are skipped.
    List,
    /// Say what is wrong with this node's pod networking: each finding with
    /// its evidence, why it breaks pods and the command that fixes it.
    /// Changes nothing unless --gc. Exit status: 0 healthy, 1 findings,
    /// 2 something could not be inspected.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Reclaim the state of attachments the cache does not know (leases,
        /// veths, NAT chains, ifbs, state files) through the plugins' own
        /// GC, then report the node as it is afterwards.
        #[arg(long)]
        gc: bool,
        /// A conf dir to read instead of $NETCONFPATH (repeatable).
        #[arg(long = "conf-dir", value_name = "DIR")]
        conf_dirs: Vec<PathBuf>,
    },
}

/// Run cnitool with `args` (program name first); returns the exit status.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    libcni::log::set_name("cnitool");
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // Upstream exits 1 on usage errors; help and --version are 0.
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    if let Cmd::Doctor {
        json,
        gc,
        conf_dirs,
    } = &cli.command
    {
        return doctor::run(&cli, *json, *gc, conf_dirs);
    }
    match commands::execute(&cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
