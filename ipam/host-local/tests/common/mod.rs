//! Running host-local binaries (ours and the reference) as a runtime would,
//! and reading the store they share. host-local touches no network state,
//! so the plugins run directly with `CNI_NETNS_OVERRIDE=1`; every store
//! lives in a temp dir.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

pub use cni_sandbox::PluginRun;
use cni_sandbox::{Call, ipam_records, reference_plugin};
use serde_json::{Value, json};

/// Our binary.
pub fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_host-local"))
}

/// The reference binary from Debian's containernetworking-plugins;
/// differential tests must not pass by skipping.
pub fn reference() -> PathBuf {
    reference_plugin("host-local")
}

/// A network config using host-local with `ipam` keys merged in.
pub fn conf(data_dir: &Path, ipam: Value) -> Value {
    let mut section = json!({"type": "host-local", "dataDir": data_dir});
    for (k, v) in ipam.as_object().unwrap() {
        section[k] = v.clone();
    }
    json!({"cniVersion": "1.0.0", "name": "net", "type": "bridge", "ipam": section})
}

/// A dual-stack config: one IPv4 set and one IPv6 set.
pub fn dual(data_dir: &Path, v4: &str, v6: &str) -> Value {
    conf(
        data_dir,
        json!({"ranges": [[{"subnet": v4}], [{"subnet": v6}]]}),
    )
}

/// The command for one call (stdin piped, environment explicit), run
/// directly: host-local needs no network namespace.
pub fn command(bin: &Path, verb: &str, cid: &str, ifname: &str, cni_args: &str) -> Command {
    Call::attach(
        verb,
        cid,
        "/proc/self/ns/net",
        ifname,
        Path::new("/usr/lib/cni"),
    )
    .env("CNI_NETNS_OVERRIDE", "1")
    .env("CNI_ARGS", cni_args)
    .command(bin)
}

/// Start a call and feed it the config.
pub fn spawn(
    bin: &Path,
    verb: &str,
    cid: &str,
    ifname: &str,
    cni_args: &str,
    conf: &Value,
) -> Child {
    let mut child = command(bin, verb, cid, ifname, cni_args).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A killed child may have closed its stdin already.
    let _ = stdin.write_all(conf.to_string().as_bytes());
    drop(stdin);
    child
}

/// Wait for a started call: its outcome, and the signal that killed it if
/// one did (the outcome then has exit code -1).
pub fn wait_signal(child: Child) -> (PluginRun, Option<i32>) {
    let out = child.wait_with_output().unwrap();
    (PluginRun::from_output(&out), out.status.signal())
}

/// Wait for a started call.
pub fn wait(child: Child) -> PluginRun {
    wait_signal(child).0
}

/// Run one call to completion in a private mount namespace of its own, in
/// which `readonly` (an existing directory) is a read-only bind mount of
/// itself and each of `writable` (existing paths below it) is a writable
/// bind mount of itself again. Nothing changes in the test's own mount
/// namespace: the child unshares its namespace and makes every mount in it
/// private (as `unshare -m` does) before mounting anything, and a failure
/// of either step fails the spawn before any mount is made. The namespace
/// dies with the child.
pub fn run_readonly(
    readonly: &Path,
    writable: &[&Path],
    bin: &Path,
    verb: &str,
    conf: &Value,
) -> PluginRun {
    let cstr = |p: &Path| CString::new(p.as_os_str().as_bytes()).unwrap();
    let ro = cstr(readonly);
    let rw: Vec<CString> = writable.iter().map(|p| cstr(p)).collect();
    let mut cmd = command(bin, verb, "", "", "");
    // SAFETY: the closure runs in the forked child between fork and exec.
    // It only makes raw system calls on C strings built before the fork
    // (no allocation, no locks, nothing shared with other threads), and
    // `io::Error::last_os_error` does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            let check = |rc: libc::c_int| {
                if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            let none = std::ptr::null::<libc::c_char>();
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            let bind = |path: &CString, flags: libc::c_ulong| {
                check(libc::mount(
                    path.as_ptr(),
                    path.as_ptr(),
                    none,
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
                // A bind mount inherits the flags of the mount it comes
                // from: set them explicitly.
                check(libc::mount(
                    none,
                    path.as_ptr(),
                    none,
                    libc::MS_REMOUNT | libc::MS_BIND | flags,
                    std::ptr::null(),
                ))
            };
            bind(&ro, libc::MS_RDONLY)?;
            for path in &rw {
                bind(path, 0)?;
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(conf.to_string().as_bytes()).unwrap();
    drop(stdin);
    wait(child)
}

/// Run one call to completion.
pub fn run(
    bin: &Path,
    verb: &str,
    cid: &str,
    ifname: &str,
    cni_args: &str,
    conf: &Value,
) -> PluginRun {
    wait(spawn(bin, verb, cid, ifname, cni_args, conf))
}

pub fn add(bin: &Path, cid: &str, conf: &Value) -> PluginRun {
    run(bin, "ADD", cid, "eth0", "", conf)
}

pub fn del(bin: &Path, cid: &str, conf: &Value) -> PluginRun {
    run(bin, "DEL", cid, "eth0", "", conf)
}

/// The records of network `net` under `data_dir`: address -> raw content.
/// Panics on anything named like an address that is not a regular file.
pub fn records(data_dir: &Path) -> BTreeMap<String, String> {
    ipam_records(&data_dir.join("net"))
}

/// Every index entry, as "name -> target".
pub fn index_files(data_dir: &Path) -> Vec<String> {
    let idx = data_dir.join("net").join(".by-attachment");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&idx) else {
        return out;
    };
    for e in entries {
        let e = e.unwrap();
        let target = std::fs::read_link(e.path())
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        out.push(format!("{} -> {target}", e.file_name().to_string_lossy()));
    }
    out.sort();
    out
}
