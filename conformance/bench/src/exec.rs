//! Running one plugin process inside a fake host netns and measuring it:
//! wall time, CPU time and peak RSS of the whole process tree (the plugin
//! plus the delegates and firewall tools it waited for), from wait4(2).

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cni_sandbox::Netns;

/// One plugin execution.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Wall-clock time from spawn to exit.
    pub wall: Duration,
    /// User + system CPU time of the process and its waited-for children.
    pub cpu: Duration,
    /// Peak resident set size of the process tree, KiB, from wait4(2). It
    /// includes the pages the child inherited from this (forked) process
    /// before exec, so it is at least this benchmark's own RSS at the time.
    pub max_rss_kib: u64,
    /// Exit status 0.
    pub ok: bool,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Run `binary` inside `ns` with `env` (plus PATH) and `stdin`.
pub fn run(ns: &Netns, binary: &Path, env: &[(&str, String)], stdin: &str) -> Sample {
    let start = Instant::now();
    let mut cmd = ns.command(binary);
    cmd.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Sample {
                wall: start.elapsed(),
                cpu: Duration::ZERO,
                max_rss_kib: 0,
                ok: false,
                stdout: String::new(),
                stderr: format!("spawn {}: {e}", binary.display()),
            };
        }
    };
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    let err_pipe = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = err_pipe {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    if let Ok(s) = err_thread.join() {
        stderr = s;
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain old data, zero is a valid value, and wait4
    // only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child (std's Child never waited
    // for it); status and ru are valid, writable locals.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = start.elapsed();
    let ok = rc == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Sample {
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss.max(0) as u64,
        ok,
        stdout,
        stderr,
    }
}
