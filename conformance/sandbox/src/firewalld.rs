//! A real firewalld for tests, on a private D-Bus, inside a network
//! namespace of the test's own.
//!
//! [`PrivateBus`] is a `dbus-daemon` with the system bus's policy (it
//! reads the distribution's `system.d` files, so firewalld's
//! `FirewallD.conf` applies as on a real node) listening on a *path*
//! socket in a temp dir. Never an abstract socket: those belong to one
//! network namespace, and the plugin under test runs in another (the fake
//! host) than firewalld.
//!
//! [`Firewalld::start`] adds firewalld to such a bus. The bus starts it
//! by D-Bus activation (`StartServiceByName`), which returns once
//! firewalld owns `org.fedoraproject.FirewallD1`: no sleeping and no
//! polling for readiness. firewalld runs as
//! `firewalld --nofork --nopid --system-config <temp>` with its log in the
//! temp dir, so it never reads or writes the machine's `/etc/firewalld`.
//! Both daemons run inside the given network namespace (firewalld's
//! nftables table lives there, never in the machine's root namespace) and
//! in a private mount namespace whose `/run` is an empty tmpfs (firewalld
//! creates `/run/firewalld` for its temp files). They are killed when the
//! guard drops, also when the test panics, and with the test process if
//! it is killed: the bus dies with the thread that started it
//! (`PR_SET_PDEATHSIG`), and firewalld exits when it loses its bus.
//!
//! Anything missing (packages, kernel support, firewalld failing to
//! start) panics with the reason and firewalld's log: the test fails, it
//! never skips.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::Netns;

/// firewalld's bus name (firewalld.dbus(5)).
const FIREWALLD_NAME: &str = "org.fedoraproject.FirewallD1";

/// Where Debian (and most distributions) install the system bus policy
/// snippets; firewalld's package puts `FirewallD.conf` in the first.
const POLICY_DIRS: [&str; 2] = ["/usr/share/dbus-1/system.d", "/etc/dbus-1/system.d"];

/// What to install when a tool is missing.
const PACKAGES: &str = "install the Debian packages firewalld, dbus-daemon and dbus-bin \
                        (scripts/test-all.sh installs them)";

/// A `dbus-daemon` for one test: the system bus's policy, a path socket,
/// no service but what the caller adds. Killed on drop.
#[derive(Debug)]
pub struct PrivateBus {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

impl PrivateBus {
    /// A bus with nothing on it: nobody owns firewalld's name.
    pub fn start(netns: &Netns) -> PrivateBus {
        PrivateBus::spawn(netns, None)
    }

    /// Start `dbus-daemon` inside `netns`; with `service`, the bus can
    /// activate that one service (a `.service` file's text).
    fn spawn(netns: &Netns, service: Option<&dyn Fn(&Path) -> String>) -> PrivateBus {
        crate::require_root();
        let dbus_daemon = find_tool("dbus-daemon");
        let dir = tempfile::Builder::new()
            .prefix("cni-dbus-")
            .tempdir()
            .expect("creating the bus temp dir");
        // Other uids may reach the socket (tests of unprivileged callers);
        // the bus policy, not the directory, decides what they may do.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("opening the bus temp dir to other uids");
        let address = format!("unix:path={}", dir.path().join("bus").display());
        let services = dir.path().join("services");
        std::fs::create_dir(&services).expect("creating the bus service dir");
        if let Some(text) = service {
            let file = services.join(format!("{FIREWALLD_NAME}.service"));
            std::fs::write(file, text(dir.path())).expect("writing the service file");
        }
        let config = dir.path().join("bus.conf");
        std::fs::write(&config, bus_config(dir.path(), &services)).expect("writing bus.conf");
        let log = File::create(dir.path().join("dbus-daemon.log")).expect("creating the bus log");

        let mut cmd = netns.command(&dbus_daemon);
        cmd.arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            // What an activated firewalld connects to: this bus.
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone().expect("cloning the bus log"));
        // SAFETY: the closure runs in the forked child before exec and
        // makes only async-signal-safe system calls (prctl, getppid,
        // unshare, mount) on static C strings; it allocates nothing.
        unsafe { cmd.pre_exec(private_run_dying_with_parent(std::process::id())) };
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}; {PACKAGES}", dbus_daemon.display()));

        // dbus-daemon prints its address once it listens: that is the
        // readiness signal. End of file instead means it exited.
        let mut stdout = BufReader::new(child.stdout.take().expect("dbus-daemon stdout is piped"));
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let mut bus = PrivateBus {
            child,
            address,
            dir,
        };
        if !matches!(read, Ok(n) if n > 0) {
            let status = bus.child.wait();
            panic!(
                "dbus-daemon did not start ({status:?}); its log:\n{}",
                bus.read_log("dbus-daemon.log")
            );
        }
        // Whatever else reaches the pipe (an activated service inherits
        // it) goes to the log, so that a full pipe never blocks a daemon.
        let mut rest = log;
        std::thread::spawn(move || io::copy(&mut stdout, &mut rest));
        bus
    }

    /// The bus address, for `DBUS_SYSTEM_BUS_ADDRESS`
    /// (`unix:path=<temp dir>/bus`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The temp dir holding the socket, the configuration and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `dbus-send` to this bus (from the caller's network namespace);
    /// (success, stdout and stderr).
    fn dbus_send(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(find_tool("dbus-send"))
            .arg(format!("--bus={}", self.address))
            .arg("--print-reply")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running dbus-send: {e}; {PACKAGES}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    fn read_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_else(|e| format!("(no {name}: {e})"))
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real firewalld on a [`PrivateBus`] inside a test's network
/// namespace. Killed (with its bus) on drop.
#[derive(Debug)]
pub struct Firewalld {
    /// firewalld's process, as a pidfd: it is the bus's child, not ours,
    /// and a pidfd can neither be confused with a recycled pid nor miss
    /// its exit.
    process: OwnedFd,
    bus: PrivateBus,
}

impl Firewalld {
    /// Start firewalld inside `netns` and return once it answers on its
    /// bus with state `RUNNING`. Panics with the reason (and firewalld's
    /// log) when it cannot run this way.
    ///
    /// The daemons die with the thread that calls this
    /// (`PR_SET_PDEATHSIG`): call it on the test's own thread, not in a
    /// helper thread that ends first.
    pub fn start(netns: &Netns) -> Firewalld {
        let firewalld = find_tool("firewalld");
        let service = |dir: &Path| {
            let etc = dir.join("etc");
            std::fs::create_dir(&etc).expect("creating firewalld's config dir");
            std::fs::write(etc.join("firewalld.conf"), FIREWALLD_CONF)
                .expect("writing firewalld.conf");
            format!(
                "[D-BUS Service]\nName={FIREWALLD_NAME}\n\
                 Exec={} --nofork --nopid --system-config {} --log-target file --log-file {}\n",
                firewalld.display(),
                etc.display(),
                dir.join("firewalld.log").display()
            )
        };
        let bus = PrivateBus::spawn(netns, Some(&service));
        let fail = |what: &str, detail: &str| -> ! {
            panic!(
                "firewalld cannot run in a test network namespace on a private bus: {what}\n\
                 {detail}\n-- firewalld.log:\n{}\n-- dbus-daemon.log:\n{}",
                bus.read_log("firewalld.log"),
                bus.read_log("dbus-daemon.log")
            )
        };

        // Blocks until firewalld owns its name, or the bus reports that
        // it exited or timed out (service_start_timeout in bus.conf).
        let (ok, out) = bus.dbus_send(&[
            "--reply-timeout=150000",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.StartServiceByName",
            &format!("string:{FIREWALLD_NAME}"),
            "uint32:0",
        ]);
        if !ok {
            fail("the bus could not start it", &out);
        }
        // Calls queue until firewalld's start-up has finished, so this
        // answers with the outcome of loading its configuration.
        let (ok, out) = bus.dbus_send(&[
            &format!("--dest={FIREWALLD_NAME}"),
            "/org/fedoraproject/FirewallD1",
            "org.freedesktop.DBus.Properties.Get",
            &format!("string:{FIREWALLD_NAME}"),
            "string:state",
        ]);
        if !ok || !out.contains("\"RUNNING\"") {
            fail("it started but is not in state RUNNING", &out);
        }
        let (ok, out) = bus.dbus_send(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            &format!("string:{FIREWALLD_NAME}"),
        ]);
        let pid = out
            .split_whitespace()
            .skip_while(|w| *w != "uint32")
            .nth(1)
            .and_then(|p| p.parse::<libc::pid_t>().ok());
        let Some(pid) = pid.filter(|_| ok) else {
            fail("the bus did not say which process it is", &out);
        };
        let process = pidfd_open(pid).unwrap_or_else(|e| fail("pidfd_open failed", &e.to_string()));
        Firewalld { process, bus }
    }

    /// The bus address, for `DBUS_SYSTEM_BUS_ADDRESS`: a plugin run with
    /// `Call::env("DBUS_SYSTEM_BUS_ADDRESS", fw.address())` talks to this
    /// firewalld from any network namespace.
    pub fn address(&self) -> &str {
        self.bus.address()
    }

    /// firewalld's log so far.
    pub fn log(&self) -> String {
        self.bus.read_log("firewalld.log")
    }

    /// Run `firewall-cmd` (firewalld's own client, an independent view of
    /// its state) against this firewalld; (success, stdout and stderr).
    pub fn firewall_cmd(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(find_tool("firewall-cmd"))
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.address())
            .output()
            .unwrap_or_else(|e| panic!("running firewall-cmd: {e}; {PACKAGES}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text.trim().to_string())
    }
}

impl Drop for Firewalld {
    fn drop(&mut self) {
        // Kill firewalld and wait until it has exited (its pidfd becomes
        // readable), then the bus goes with `self.bus`.
        if pidfd_kill(&self.process).is_ok() {
            let mut fds = [nix::poll::PollFd::new(
                self.process.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
        }
    }
}

/// The zone whose input chain firewalld's nftables send `addr` (an
/// address as nft prints it: `10.88.0.2`, `fd00::2`) to, as the kernel
/// holds it in `netns`: the rule `ip saddr <addr> goto filter_IN_<zone>`
/// in `inet firewalld filter_INPUT_ZONES`. None when there is no such rule.
pub fn nft_source_zone(netns: &Netns, addr: &str) -> Option<String> {
    let out = netns.sh_ok("nft list chain inet firewalld filter_INPUT_ZONES");
    out.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [family, "saddr", a, "goto", chain, ..]
                if (*family == "ip" || *family == "ip6") && *a == addr =>
            {
                chain.strip_prefix("filter_IN_").map(str::to_string)
            }
            _ => None,
        }
    })
}

/// firewalld's own configuration for the test: the distribution's defaults
/// spelled out, so that a changed default elsewhere cannot change the test.
const FIREWALLD_CONF: &str = "\
DefaultZone=public
FirewallBackend=nftables
CleanupOnExit=yes
Lockdown=no
IPv6_rpfilter=yes
IndividualCalls=no
LogDenied=off
FlushAllOnReload=yes
";

/// A system bus configuration for a bus in `dir`: the policy of the
/// distribution's `system.conf` (nobody may own names or call methods
/// unless a `system.d` snippet allows it) plus those snippets, and the
/// services in `services` as the only ones the bus can activate.
fn bus_config(dir: &Path, services: &Path) -> String {
    let includes: String = POLICY_DIRS
        .iter()
        .map(|d| format!("  <includedir>{d}</includedir>\n"))
        .collect();
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={bus}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services}</servicedir>
  <limit name="service_start_timeout">120000</limit>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
{includes}</busconfig>
"#,
        bus = dir.join("bus").display(),
        services = services.display(),
    )
}

/// A tool from the PATH or the usual system directories; panics naming
/// the packages when it is missing.
fn find_tool(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: {PACKAGES}"))
}

/// The child's set-up before exec: die with the thread that spawned it
/// (`parent` is the test process, checked so that a parent already gone
/// is not missed), and get a mount namespace of its own whose `/run` is an
/// empty tmpfs.
fn private_run_dying_with_parent(parent: u32) -> impl FnMut() -> io::Result<()> {
    move || {
        let check = |rc: libc::c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number only.
        check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) })?;
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } as u32 != parent {
            return Err(io::Error::other("the test process exited during the spawn"));
        }
        // SAFETY: unshare with a flag only; affects this child alone.
        check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
        // SAFETY: static NUL-terminated strings; makes every mount in the
        // new namespace private, so the tmpfs below stays in it.
        check(unsafe {
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        })?;
        // SAFETY: static NUL-terminated strings for source, target, type
        // and options.
        check(unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c"/run".as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"mode=0755".as_ptr().cast(),
            )
        })
    }
}

/// A pidfd for `pid` (Linux 5.3).
fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// SIGKILL to the process behind a pidfd.
fn pidfd_kill(fd: &OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
