//! `cnitool doctor`: the node doctor ([`cni_doctor`]) with cnitool's
//! settings: `NETCONFPATH` (or `--conf-dir`), `CNI_PATH`, `--cache-dir` /
//! `CNI_CACHE_DIR`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use cni_doctor::{EXIT_UNINSPECTED, Options};
use libcni::invoke::split_path;

use crate::Cli;
use crate::settings::*;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The doctor's settings from cnitool's, and the command line that
/// repeats them (so a printed fix such as `... doctor --gc` runs against
/// the same node).
fn options(cli: &Cli, conf_dirs: &[PathBuf]) -> Options {
    let q = |p: &std::path::Path| cni_doctor::fixcmd::path(p);
    let mut opts = Options::node_defaults();
    let mut rerun = vec![];
    let mut flags = vec![];
    if !conf_dirs.is_empty() {
        opts.conf_dirs = conf_dirs.to_vec();
        for d in conf_dirs {
            flags.push(format!("--conf-dir {}", q(d)));
        }
    } else if let Some(dir) = env(ENV_NETCONFPATH) {
        rerun.push(format!("NETCONFPATH={}", cni_doctor::fixcmd::quote(&dir)));
        opts.conf_dirs = vec![PathBuf::from(dir)];
    }
    if let Some(path) = env(ENV_CNI_PATH) {
        rerun.push(format!("CNI_PATH={}", cni_doctor::fixcmd::quote(&path)));
        opts.bin_dirs = split_path(&path);
    }
    if let Some(dir) = cli
        .cache_dir
        .clone()
        .or_else(|| env(ENV_CNI_CACHE_DIR).map(PathBuf::from))
    {
        rerun.push(format!("cnitool --cache-dir {}", q(&dir)));
        opts.cache_dir = dir;
    } else {
        rerun.push("cnitool".into());
    }
    rerun.push("doctor".into());
    rerun.extend(flags);
    opts.rerun = rerun.join(" ");
    // A plugin missing from CNI_PATH may sit next to cnitool itself (the
    // install puts them together).
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        opts.spare_plugin_dirs.insert(0, dir);
    }
    opts
}

/// Run the doctor; returns the exit status (0 healthy, 1 findings, 2 not
/// everything could be inspected).
pub fn run(cli: &Cli, json: bool, gc: bool, conf_dirs: &[PathBuf]) -> i32 {
    let opts = options(cli, conf_dirs);
    let report = if gc {
        cni_doctor::gc::run(&opts)
    } else {
        cni_doctor::inspect(&opts)
    };
    let text = if json {
        let mut t = report.to_json().to_string();
        t.push('\n');
        t
    } else {
        let stdout = std::io::stdout();
        let colour = stdout.is_terminal() && env("NO_COLOR").is_none();
        report.render(colour)
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return EXIT_UNINSPECTED;
    }
    report.exit_code()
}
