//! `cni-bench`: compare two CNI plugin directories side by side in one run.
//!
//! Every scenario runs against `--plugins` and, when given, `--baseline`,
//! alternating between them so both see the same machine. All work happens
//! in network namespaces made for the run (a fake host per directory plus
//! pod namespaces); Ctrl-C stops the scenario loops and everything is
//! removed on exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod exec;
mod floor;
mod scenarios;
mod stats;
mod target;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

use scenarios::Opts;
use target::Target;

static STOP: AtomicBool = AtomicBool::new(false);

/// True once Ctrl-C was pressed: scenario loops stop, cleanup runs.
pub fn stopped() -> bool {
    STOP.load(Ordering::Relaxed)
}

extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

#[derive(Debug, Parser)]
#[command(about = "Side-by-side benchmark of two CNI plugin directories")]
struct Args {
    /// Directory with our bridge, ptp, host-local and portmap binaries.
    #[arg(long)]
    plugins: PathBuf,
    /// Directory with the plugins to compare against (e.g. /usr/lib/cni).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Scenarios to run, comma separated: 1 single pod, 2 growth, 3
    /// parallel, 4 bridge+portmap growth, 5 check, 6 version, 7 the k3s
    /// chain (bridge + portmap + bandwidth), 8 kind (ptp + portmap), 9
    /// podman's chain (bridge + portmap + firewall + tuning), 10
    /// kube-flannel (flannel + portmap).
    #[arg(long, default_value = "1,2,3,4,5,6,7,8,9,10", value_delimiter = ',')]
    scenarios: Vec<u8>,
    /// Pods for scenarios 2 and 4.
    #[arg(long, default_value_t = 200)]
    pods: usize,
    /// Concurrent ADDs for scenario 3.
    #[arg(long, default_value_t = 100)]
    parallel: usize,
    /// Repetitions for scenarios 1 and 5 to 10.
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    /// Also write the rows as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    cni_sandbox::require_root();
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
    let state = std::env::temp_dir().join(format!("cni-bench-{}", std::process::id()));
    let ours = Target::new("ours", args.plugins.clone(), &state);
    let base = args
        .baseline
        .clone()
        .map(|d| Target::new("base", d, &state));
    let o = Opts {
        iterations: args.iterations,
        pods: args.pods,
        parallel: args.parallel,
    };
    let mut rows = Vec::new();
    for s in &args.scenarios {
        if stopped() {
            break;
        }
        eprintln!("running scenario {s} ...");
        let b = base.as_ref();
        rows.extend(match s {
            1 => scenarios::single_pod(&ours, b, &o),
            2 => scenarios::growth(&ours, b, &o, false),
            3 => scenarios::parallel(&ours, b, &o),
            4 => scenarios::growth(&ours, b, &o, true),
            5 => scenarios::check(&ours, b, &o),
            6 => scenarios::version(&ours, b, &o),
            7 => scenarios::k3s_chain(&ours, b, &o),
            8 => scenarios::kind(&ours, b, &o),
            9 => scenarios::podman(&ours, b, &o),
            10 => scenarios::flannel(&ours, b, &o),
            other => {
                eprintln!("unknown scenario {other}; use 1-10");
                Vec::new()
            }
        });
    }
    stats::print(&rows);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&rows).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("writing {}: {e}", path.display());
        }
    }
    drop(ours);
    drop(base);
    let _ = std::fs::remove_dir_all(&state);
    if stopped() {
        eprintln!("interrupted: partial results above; namespaces and state removed");
        std::process::exit(130);
    }
}
