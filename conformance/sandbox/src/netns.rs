//! Named network namespaces under /run/netns, created without iproute2
//! (unshare + bind mount in a throwaway thread) so that tests and the
//! benchmark can make hundreds quickly.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use serde_json::Value;

const RUN_DIR: &str = "/run/netns";
const PREFIX: &str = "cnit-";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace bound at /run/netns/<name>; removed on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    path: PathBuf,
    removed: AtomicBool,
}

/// Make /run/netns a shared mount point, as `ip netns add` does, so that
/// namespaces bound there are visible to runtimes in other mount
/// namespaces and iproute2 treats the directory the same way.
fn prepare_run_dir() -> io::Result<()> {
    std::fs::create_dir_all(RUN_DIR)?;
    let shared = || {
        mount(
            None::<&str>,
            RUN_DIR,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    if shared().is_err() {
        mount(
            Some(RUN_DIR),
            RUN_DIR,
            Some("none"),
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(io::Error::from)?;
        shared().map_err(io::Error::from)?;
    }
    Ok(())
}

/// Bring `lo` up in the calling thread's netns with SIOCSIFFLAGS.
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned here only.
    let sock = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: valid socket fd and a properly initialised ifreq that the
    // kernel reads the name from and writes the flags into.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; the kernel reads the name and flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Netns {
    /// Create a namespace named `cnit-<pid>-<n>-<role>` with `lo` up.
    pub fn new(role: &str) -> io::Result<Netns> {
        prepare_run_dir()?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}-{role}", std::process::id());
        let path = Path::new(RUN_DIR).join(&name);
        let p = path.clone();
        std::thread::spawn(move || -> io::Result<()> {
            unshare(CloneFlags::CLONE_NEWNET)?;
            File::options().write(true).create_new(true).open(&p)?;
            let bound = mount(
                Some("/proc/thread-self/ns/net"),
                &p,
                Some("none"),
                MsFlags::MS_BIND,
                None::<&str>,
            );
            if let Err(e) = bound {
                let _ = std::fs::remove_file(&p);
                return Err(e.into());
            }
            loopback_up()
        })
        .join()
        .map_err(|_| io::Error::other("netns creation thread panicked"))??;
        Ok(Netns {
            name,
            path,
            removed: AtomicBool::new(false),
        })
    }

    /// The name under /run/netns (for `ip -n`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind-mount path, what `CNI_NETNS` is set to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`Netns::path`] as a string.
    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap_or_default()
    }

    /// Unmount and delete the namespace file now. Interfaces inside die
    /// with it once no process holds it. Idempotent.
    pub fn remove(&self) {
        if self.removed.swap(true, Ordering::SeqCst) {
            return;
        }
        remove_path(&self.path);
    }

    /// Run `f` on a thread that has entered this namespace. Sockets made
    /// inside stay bound to the namespace after `f` returns.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let file = File::open(&self.path).expect("opening the netns file");
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns into the test netns");
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// A command that will run inside this namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let file = File::open(&self.path).expect("opening the netns file");
        let mut cmd = Command::new(program);
        // SAFETY: the closure runs in the forked child before exec and only
        // calls setns(2), which is async-signal-safe; `file` is owned by the
        // closure and stays open until then.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Run a shell script inside the namespace; returns (status ok, stdout,
    /// stderr).
    pub fn sh(&self, script: &str) -> (bool, String, String) {
        let out = self
            .command("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("running sh in the test netns");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Run a shell script and panic with its output if it fails.
    pub fn sh_ok(&self, script: &str) -> String {
        let (ok, out, err) = self.sh(script);
        assert!(ok, "in {}: `{script}` failed:\n{out}\n{err}", self.name);
        out
    }

    /// `ip -j <args>` inside the namespace, parsed.
    pub fn ip_json(&self, args: &str) -> Value {
        let out = self.sh_ok(&format!("ip -j {args}"));
        if out.trim().is_empty() {
            return Value::Array(vec![]);
        }
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args}: {e}: {out}"))
    }

    /// `tc -j <args>` inside the namespace, parsed as a list (`tc` prints
    /// nothing at all for an empty filter list). Use `-r -d` for raw
    /// numbers: `burst_raw` (a TBF's buffer in ticks) and `limit`.
    pub fn tc_json(&self, args: &str) -> Vec<Value> {
        let out = self.sh_ok(&format!("tc -j {args}"));
        if out.trim().is_empty() {
            return vec![];
        }
        match serde_json::from_str(&out) {
            Ok(Value::Array(v)) => v,
            Ok(other) => panic!("tc -j {args}: not a list: {other}"),
            Err(e) => panic!("tc -j {args}: {e}: {out}"),
        }
    }

    /// All links (`ip -j -d link show`).
    pub fn links(&self) -> Vec<Value> {
        match self.ip_json("-d link show") {
            Value::Array(v) => v,
            _ => vec![],
        }
    }

    /// One link by name.
    pub fn link(&self, name: &str) -> Option<Value> {
        self.links().into_iter().find(|l| l["ifname"] == name)
    }

    /// Names of all links.
    pub fn link_names(&self) -> Vec<String> {
        self.links()
            .iter()
            .filter_map(|l| l["ifname"].as_str().map(str::to_string))
            .collect()
    }

    /// Addresses of `ifname` as "addr/prefix" (global and link scope).
    pub fn addrs(&self, ifname: &str) -> Vec<String> {
        let v = self.ip_json(&format!("addr show dev {ifname}"));
        let mut out = vec![];
        for link in v.as_array().into_iter().flatten() {
            for a in link["addr_info"].as_array().into_iter().flatten() {
                if let (Some(ip), Some(len)) = (a["local"].as_str(), a["prefixlen"].as_u64()) {
                    out.push(format!("{ip}/{len}"));
                }
            }
        }
        out
    }

    /// Routes of one family (`4` or `6`) in the main table.
    pub fn routes(&self, family: u8) -> Vec<Value> {
        match self.ip_json(&format!("-{family} route show")) {
            Value::Array(v) => v,
            _ => vec![],
        }
    }

    /// A sysctl under /proc/sys as seen from inside the namespace, e.g.
    /// `net/ipv4/ip_forward`.
    pub fn sysctl(&self, key: &str) -> String {
        let path = format!("/proc/sys/{key}");
        self.run(move || std::fs::read_to_string(&path))
            .unwrap_or_else(|e| panic!("reading {key}: {e}"))
            .trim()
            .to_string()
    }

    /// `iptables-save` (or `ip6tables-save` with `v6`) of the nat table, with
    /// comment lines and counters removed so that dumps compare equal
    /// ([`crate::iptables_nat`]).
    pub fn iptables_nat(&self, v6: bool) -> Vec<String> {
        crate::rules::iptables_nat(self, v6)
    }

    /// The same for the filter table ([`crate::iptables_table`]).
    pub fn iptables_filter(&self, v6: bool) -> Vec<String> {
        crate::rules::iptables_table(self, "filter", v6)
    }

    /// The nftables ruleset as JSON (`nft -j list ruleset`,
    /// [`crate::nft_ruleset`]).
    pub fn nft_ruleset(&self) -> Value {
        crate::rules::nft_ruleset(self)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.remove();
    }
}

fn remove_path(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

/// Remove namespaces left behind by test processes that no longer exist
/// (a test run killed with SIGKILL cannot run its destructors).
pub(crate) fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir(RUN_DIR) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove_path(&entry.path());
        }
    }
}
