//! Finding and running the netfilter tools.
//!
//! Tools are looked up once per process in the system directories (never
//! through `$PATH`, which the runtime controls) and run by absolute path.
//! A child process inherits the network namespace of the thread that
//! spawns it, so these functions act on the namespace the caller is in.
//! Every execution is counted per thread ([`exec_count`]) so tests and
//! benchmarks can assert how many processes an operation cost.

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::error::FirewallError;
use super::types::Family;

/// Where tools are searched, in order: the system directories, never
/// `$PATH` (which the runtime controls).
pub const SEARCH_DIRS: [&str; 6] = [
    "/usr/sbin",
    "/sbin",
    "/usr/bin",
    "/bin",
    "/usr/local/sbin",
    "/usr/local/bin",
];

/// A netfilter tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// `iptables`.
    Iptables,
    /// `ip6tables`.
    Ip6tables,
    /// `iptables-restore`.
    IptablesRestore,
    /// `ip6tables-restore`.
    Ip6tablesRestore,
    /// `nft`.
    Nft,
}

const ALL_TOOLS: usize = 5;

impl Tool {
    /// The binary name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Iptables => "iptables",
            Tool::Ip6tables => "ip6tables",
            Tool::IptablesRestore => "iptables-restore",
            Tool::Ip6tablesRestore => "ip6tables-restore",
            Tool::Nft => "nft",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// `iptables` / `ip6tables` for a family.
    pub fn iptables(family: Family) -> Tool {
        match family {
            Family::V4 => Tool::Iptables,
            Family::V6 => Tool::Ip6tables,
        }
    }

    /// `iptables-restore` / `ip6tables-restore` for a family.
    pub fn restore(family: Family) -> Tool {
        match family {
            Family::V4 => Tool::IptablesRestore,
            Family::V6 => Tool::Ip6tablesRestore,
        }
    }
}

static PATHS: [OnceLock<Option<PathBuf>>; ALL_TOOLS] = [const { OnceLock::new() }; ALL_TOOLS];
thread_local! {
    static EXECS: Cell<u64> = const { Cell::new(0) };
}

/// The absolute path of `tool`, or `None` when it is not installed.
pub fn find(tool: Tool) -> Option<&'static Path> {
    PATHS[tool.index()]
        .get_or_init(|| {
            SEARCH_DIRS
                .iter()
                .map(|d| Path::new(d).join(tool.name()))
                .find(|p| p.is_file())
        })
        .as_deref()
}

/// Like [`find`], as an error naming the tool when it is missing.
pub(crate) fn require(tool: Tool) -> Result<&'static Path, FirewallError> {
    find(tool).ok_or_else(|| FirewallError::ToolMissing {
        tool: tool.name(),
        searched: SEARCH_DIRS.join(", "),
    })
}

/// Which kernel interface an iptables binary drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IptablesVariant {
    /// iptables-nft: rules live in nf_tables tables `ip nat`, `ip6 nat`...,
    /// so nfnetlink can answer existence questions without an exec.
    Nft,
    /// iptables-legacy (x_tables), invisible to nf_tables.
    Legacy,
    /// Not installed or not recognised: assume nothing.
    Unknown,
}

/// The variant of the family's restore tool, from the name of the binary
/// it finally resolves to (Debian's alternatives point `iptables-restore`
/// at `xtables-nft-multi` or `xtables-legacy-multi`). Only stat calls, no
/// exec.
pub(crate) fn iptables_variant(family: Family) -> IptablesVariant {
    static VARIANTS: [OnceLock<IptablesVariant>; 2] = [const { OnceLock::new() }; 2];
    let slot = match family {
        Family::V4 => &VARIANTS[0],
        Family::V6 => &VARIANTS[1],
    };
    *slot.get_or_init(|| {
        let Some(path) = find(Tool::restore(family)) else {
            return IptablesVariant::Unknown;
        };
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let name = real
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains("nft") {
            IptablesVariant::Nft
        } else if name.contains("legacy") {
            IptablesVariant::Legacy
        } else {
            IptablesVariant::Unknown
        }
    })
}

/// How many tool processes the calling thread has started so far.
pub fn exec_count() -> u64 {
    EXECS.with(Cell::get)
}

/// The result of one tool run.
#[derive(Debug)]
pub(crate) struct Output {
    pub success: bool,
    pub status: String,
    pub stdout: String,
    pub stderr: String,
    pub command: String,
}

impl Output {
    /// The typed error for a failed run. For restore-style input, the line
    /// the tool names ("line N failed" / "Error occurred at line: N") is
    /// quoted from `input`.
    pub fn error(self, input: Option<&str>) -> FirewallError {
        let input_line = input.and_then(|text| {
            let n = failed_line_number(&self.stderr)?;
            text.lines().nth(n.checked_sub(1)?).map(str::to_string)
        });
        FirewallError::ToolFailed {
            command: self.command,
            status: self.status,
            stderr: self.stderr.trim().to_string(),
            input_line,
        }
    }
}

/// The 1-based input line number an iptables-restore error message names.
fn failed_line_number(stderr: &str) -> Option<usize> {
    for marker in ["Error occurred at line: ", "line "] {
        if let Some(i) = stderr.find(marker) {
            let digits: String = stderr[i + marker.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                return Some(n);
            }
        }
    }
    None
}

/// Run `tool args...` with `stdin` (if any) and collect its output. Only a
/// failure to start is an error here; the caller judges the exit status.
pub(crate) fn run(tool: Tool, args: &[&str], stdin: Option<&str>) -> Result<Output, FirewallError> {
    let path = require(tool)?;
    let command = format!("{} {}", path.display(), args.join(" "));
    let mut cmd = Command::new(path);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Tools print messages we parse; keep them untranslated.
        .env("LC_ALL", "C");
    EXECS.with(|n| n.set(n.get() + 1));
    let spawn_err = |source| FirewallError::Spawn {
        tool: path.display().to_string(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let writer = child.stdin.take();
    // Feed stdin from a second thread so a tool that writes a lot before
    // reading everything cannot deadlock against us.
    let out = std::thread::scope(|s| {
        if let (Some(mut pipe), Some(text)) = (writer, stdin) {
            s.spawn(move || {
                // A write error means the tool exited early; its status and
                // stderr tell why.
                let _ = pipe.write_all(text.as_bytes());
            });
        }
        child.wait_with_output()
    })
    .map_err(spawn_err)?;
    Ok(Output {
        success: out.status.success(),
        status: out.status.to_string(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_line_numbers() {
        assert_eq!(
            failed_line_number("iptables-restore: line 2 failed: No chain"),
            Some(2)
        );
        assert_eq!(
            failed_line_number("x: Chain 'C' does not exist\nError occurred at line: 5\nTry"),
            Some(5)
        );
        assert_eq!(failed_line_number("nothing"), None);
    }

    #[test]
    fn error_quotes_the_failed_line() {
        let out = Output {
            success: false,
            status: "exit status: 1".into(),
            stdout: String::new(),
            stderr: "iptables-restore: line 2 failed: No chain/target/match by that name.\n".into(),
            command: "iptables-restore --noflush".into(),
        };
        let e = out.error(Some("*nat\n-A NOPE -j ACCEPT\nCOMMIT\n"));
        let text = e.to_string();
        assert!(text.contains("input line: -A NOPE -j ACCEPT"), "{text}");
        assert!(text.contains("No chain/target/match"), "{text}");
    }
}
