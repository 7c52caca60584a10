//! The `cni-conformance` command line.

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use libcni::Version;

use crate::runner::{self, Options};
use crate::{cases, expect, report};

/// CNI spec conformance cases against the bridge, host-local, portmap,
/// loopback, ptp, firewall, tuning, bandwidth and flannel binaries of a plugin
/// directory, each case in fresh network namespaces (run as root).
#[derive(Debug, Parser)]
#[command(name = "cni-conformance", version)]
pub struct Args {
    /// Directory holding the plugin binaries (also used as CNI_PATH).
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub plugins: Option<PathBuf>,
    /// Run only cases whose name contains PATTERN (or matches it as a glob
    /// when it has `*`); repeat or separate with commas.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Spec version for the version-independent cases (default: for each
    /// case, the newest version the VERSION replies of all the plugins it
    /// runs claim); a case that needs a newer version is skipped.
    #[arg(long, value_name = "V", value_parser = parse_version)]
    pub spec_version: Option<Version>,
    /// List the cases (name, spec version, plugins) and exit.
    #[arg(long)]
    pub list: bool,
    /// Also write a JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Succeed iff the failing and skipped cases are exactly those listed
    /// in FILE (see the README for the format).
    #[arg(long, value_name = "FILE")]
    pub expect_failures: Option<PathBuf>,
    /// Run N cases at a time (default 1).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub jobs: usize,
}

fn parse_version(s: &str) -> Result<Version, String> {
    s.parse()
        .map_err(|e: libcni::spec::version::UnknownVersion| e.to_string())
}

/// Parse the process arguments and run; returns the exit status.
pub fn main() -> i32 {
    run(Args::parse())
}

/// Run with parsed arguments; returns the exit status (0 ok, 1 failures
/// or an expectation mismatch, 2 bad input).
pub fn run(args: Args) -> i32 {
    let all = cases::all();
    if args.list {
        let mut out = std::io::stdout().lock();
        for c in &all {
            let _ = writeln!(out, "{}\t{}\t{}", c.name, c.spec, c.plugins.join(","));
        }
        return 0;
    }
    let Some(dir) = args.plugins else {
        eprintln!("cni-conformance: --plugins DIR is required");
        return 2;
    };
    let expected = match &args.expect_failures {
        None => None,
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| expect::parse(&t))
        {
            Ok(e) => Some(e),
            Err(e) => {
                eprintln!("cni-conformance: {}: {e}", p.display());
                return 2;
            }
        },
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let opts = Options {
        plugins: dir.clone(),
        only: args.only,
        spec_version: args.spec_version,
        jobs: args.jobs.max(1),
    };
    let claims = runner::probe(&dir);
    let version = opts
        .spec_version
        .unwrap_or_else(|| runner::common_version(&claims));
    let todo = runner::select(&all, &opts, &claims);
    let how = match opts.spec_version {
        Some(v) => format!("spec {v} for version-independent cases"),
        None => format!(
            "version-independent cases at the newest spec their plugins claim; all claim {version}"
        ),
    };
    eprintln!(
        "cni-conformance: {} cases against {} ({how})",
        todo.len(),
        dir.display()
    );
    for (p, c) in &claims {
        if let runner::Claim::Unreadable(e) = c {
            eprintln!("cni-conformance: warning: {p}: unreadable VERSION reply: {e}");
        }
    }
    let print = |o: &runner::Outcome| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", report::line(o));
        let _ = out.flush();
    };
    let outcomes = runner::run_all(&todo, &opts, &claims, &print);
    let names: Vec<String> = all.iter().map(|c| c.name.clone()).collect();
    let problems = expected
        .as_ref()
        .map(|e| expect::compare(e, &outcomes, &names));
    let (_, failed, _) = report::counts(&outcomes);
    let mut out = std::io::stdout().lock();
    if let Some(p) = &problems {
        for line in p {
            let _ = writeln!(out, "expectation: {line}");
        }
        let _ = writeln!(
            out,
            "expectation: {}",
            if p.is_empty() {
                "the failing and skipped cases are exactly the listed ones"
            } else {
                "MISMATCH with the expected-failures list"
            }
        );
    }
    let _ = writeln!(out, "{}", report::summary(&outcomes));
    if let Some(path) = &args.json {
        let j = report::to_json(
            &dir.to_string_lossy(),
            version.as_str(),
            &outcomes,
            problems.as_deref(),
        );
        if let Err(e) = std::fs::write(path, format!("{j:#}\n")) {
            eprintln!("cni-conformance: writing {}: {e}", path.display());
            return 2;
        }
    }
    match problems {
        Some(p) => i32::from(!p.is_empty()),
        None => i32::from(failed > 0),
    }
}
