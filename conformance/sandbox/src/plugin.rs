//! Running plugin binaries inside the fake host netns with a CNI
//! environment, and finding our builds and the reference builds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::Netns;

/// Where the reference plugins from Debian's `containernetworking-plugins`
/// live.
const REFERENCE_DIR: &str = "/usr/lib/cni";

/// The directory holding our built plugin binaries: `$CNI_TEST_PLUGIN_DIR`
/// if set, else the cargo target directory of the running test
/// (`target/<profile>`).
pub fn plugin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CNI_TEST_PLUGIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash>  ->  target/<profile>
    let mut dir = exe
        .parent()
        .expect("test binary has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of our plugin `name`; panics with a hint when it is not built.
pub fn plugin_path(name: &str) -> PathBuf {
    let p = plugin_dir().join(name);
    assert!(
        p.is_file(),
        "plugin binary {} is missing: run `cargo build --workspace --bins` first (or set CNI_TEST_PLUGIN_DIR)",
        p.display()
    );
    p
}

/// The reference plugin directory (/usr/lib/cni).
pub fn reference_dir() -> PathBuf {
    PathBuf::from(REFERENCE_DIR)
}

/// Path of reference plugin `name`; panics when Debian's
/// containernetworking-plugins is not installed (the README's test command
/// installs it: differential tests must not pass by being skipped).
pub fn reference_plugin(name: &str) -> PathBuf {
    let p = reference_dir().join(name);
    assert!(
        p.is_file(),
        "reference plugin {} is missing: apt-get install containernetworking-plugins",
        p.display()
    );
    p
}

/// The arguments a plugin's verb receives for an ADD of container `c1`
/// on `eth0` with `conf` on stdin, decoded as the skeleton decodes them:
/// for unit tests of a plugin's config loading, without a process.
pub fn cmd_args(conf: &Value) -> libcni::skel::CmdArgs {
    let stdin = conf.to_string().into_bytes();
    libcni::skel::CmdArgs::from_config(libcni::skel::Command::Add, "c1", "eth0", stdin)
        .unwrap_or_else(|e| panic!("test config does not decode: {e}"))
}

/// The outcome of one plugin execution.
#[derive(Debug, Clone)]
pub struct PluginRun {
    /// Exit status (-1 if killed by a signal).
    pub code: i32,
    /// stdout text.
    pub stdout: String,
    /// stderr text.
    pub stderr: String,
}

impl PluginRun {
    /// The outcome of a finished process (a plugin run directly, outside
    /// the sandbox, as host-local's and libcni's tests do). Output that is
    /// not UTF-8 is converted lossily.
    pub fn from_output(out: &Output) -> PluginRun {
        PluginRun {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// True when the exit status is 0.
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// stdout parsed as one JSON value; panics (showing the output) if it
    /// is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "plugin stdout is not JSON ({e}): exit {}\nstdout: {}\nstderr: {}",
                self.code, self.stdout, self.stderr
            )
        })
    }

    /// Assert success and return the parsed reply (Null when empty).
    pub fn expect_ok(&self) -> Value {
        assert!(
            self.ok(),
            "plugin failed: exit {}\nstdout: {}\nstderr: {}",
            self.code,
            self.stdout,
            self.stderr
        );
        if self.stdout.trim().is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Assert failure with an error JSON and return its code.
    pub fn expect_err(&self) -> u64 {
        assert_eq!(
            self.code, 1,
            "expected exit 1 with an error JSON\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let v = self.json();
        v["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("error JSON without a numeric code: {v}"))
    }

    /// Assert failure with an error JSON (SPEC.md "Error": `code` and
    /// `msg`) and return its code and message ("" when `msg` is missing).
    pub fn expect_error(&self) -> (u64, String) {
        let code = self.expect_err();
        let msg = self.json()["msg"].as_str().unwrap_or_default().to_string();
        (code, msg)
    }

    /// Assert success and return the addresses of the ADD result, as
    /// printed but without the prefix length ([`crate::result_addresses`]).
    pub fn ips(&self) -> Vec<String> {
        crate::result_addresses(&self.expect_ok())
    }
}

/// The environment of one plugin call, built step by step.
#[derive(Debug, Clone, Default)]
pub struct Call {
    env: Vec<(String, String)>,
}

impl Call {
    /// A call with `CNI_COMMAND` set.
    pub fn new(command: &str) -> Call {
        Call::default().env("CNI_COMMAND", command)
    }

    /// A per-attachment call: command, container ID, netns path, ifname and
    /// CNI_PATH set.
    pub fn attach(
        command: &str,
        container_id: &str,
        netns: &str,
        ifname: &str,
        path: &Path,
    ) -> Call {
        Call::new(command)
            .env("CNI_CONTAINERID", container_id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", &path.to_string_lossy())
    }

    /// Set (or replace) one variable.
    pub fn env(mut self, k: &str, v: &str) -> Call {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Remove one variable.
    pub fn without(mut self, k: &str) -> Call {
        self.env.retain(|(key, _)| key != k);
        self
    }

    /// A command for `binary` with exactly this environment (plus PATH) and
    /// stdin, stdout and stderr piped, run in the caller's namespaces. For
    /// plugins that touch no network state and are told so with
    /// `CNI_NETNS_OVERRIDE=1` (host-local, the skeleton's test plugin):
    /// they need neither a sandbox nor root.
    pub fn command(&self, binary: &Path) -> Command {
        let mut cmd = Command::new(binary);
        self.prepare(&mut cmd);
        cmd
    }

    /// Give `cmd` exactly this environment (plus the caller's PATH, which
    /// a runtime passes too) and piped stdio.
    fn prepare(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }

    /// Start `binary` inside `ns` with exactly this environment (plus PATH),
    /// stdout and stderr piped, and `stdin` written (a plugin that exits
    /// without reading it is not an error here).
    fn spawn(&self, ns: &Netns, binary: &Path, stdin: &str) -> Child {
        let mut cmd = ns.command(binary);
        self.prepare(&mut cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", binary.display()));
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        child
    }

    /// Run `binary` inside `ns` with exactly this environment (plus PATH)
    /// and `stdin`.
    pub fn run(&self, ns: &Netns, binary: &Path, stdin: &str) -> PluginRun {
        let child = self.spawn(ns, binary, stdin);
        let out = child.wait_with_output().expect("waiting for the plugin");
        PluginRun::from_output(&out)
    }

    /// Like [`Call::run`], but a plugin still running after `timeout` is
    /// killed (this child only, by its handle) and reported as exit -1
    /// with a "timed out" stderr, so a hung plugin cannot stall a suite.
    pub fn run_timeout(
        &self,
        ns: &Netns,
        binary: &Path,
        stdin: &str,
        timeout: std::time::Duration,
    ) -> PluginRun {
        use std::io::Read;
        let mut child = self.spawn(ns, binary, stdin);
        let read_all = |mut r: Box<dyn Read + Send>| {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        };
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        // stdout reaches EOF when the plugin exits: wait for that with a
        // deadline instead of polling the process.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(read_all(Box::new(out)));
        });
        let err_reader = std::thread::spawn(move || read_all(Box::new(err)));
        let (stdout, timed_out) = match rx.recv_timeout(timeout) {
            Ok(s) => (s, false),
            Err(_) => {
                let _ = child.kill();
                (rx.recv().unwrap_or_default(), true)
            }
        };
        let status = child.wait().expect("waiting for the plugin");
        let mut stderr = err_reader.join().unwrap_or_default();
        if timed_out {
            stderr.push_str(&format!("\n(timed out after {timeout:?}: killed)"));
        }
        PluginRun {
            code: if timed_out {
                -1
            } else {
                status.code().unwrap_or(-1)
            },
            stdout,
            stderr,
        }
    }
}
