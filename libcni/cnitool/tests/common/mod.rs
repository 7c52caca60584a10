//! Helpers shared by the cnitool integration tests: running our cnitool or
//! upstream's inside a fake host netns with a private conf dir and cache,
//! and fake plugins (shell scripts) that record what they receive.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use cni_sandbox::Netns;
use serde_json::Value;

/// Our cnitool, built by cargo for these tests.
pub fn our_cnitool() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cnitool"))
}

/// The cargo target directory of the running test.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>  ->  target
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Upstream cnitool, built once by scripts/build-upstream-cnitool.sh. Panics
/// when it cannot be built: the differential tests must not pass by being
/// skipped.
pub fn upstream_cnitool() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-upstream-cnitool.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(target_dir())
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/build-upstream-cnitool.sh");
        assert!(
            out.status.success(),
            "building upstream cnitool failed (see stderr)"
        );
        let path = String::from_utf8(out.stdout).unwrap();
        let bin = PathBuf::from(path.lines().last().unwrap().trim());
        assert!(bin.is_file(), "{} missing", bin.display());
        bin
    })
}

/// Which cnitool to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ours,
    Upstream,
}

/// The environment of one cnitool run.
#[derive(Debug, Clone)]
pub struct ToolEnv {
    pub conf_dir: PathBuf,
    pub cni_path: String,
    pub cache_dir: PathBuf,
    pub cni_args: Option<String>,
    pub cap_args: Option<String>,
    pub ifname: Option<String>,
}

impl ToolEnv {
    pub fn new(conf_dir: &Path, cni_path: &str, cache_dir: &Path) -> ToolEnv {
        ToolEnv {
            conf_dir: conf_dir.to_path_buf(),
            cni_path: cni_path.to_string(),
            cache_dir: cache_dir.to_path_buf(),
            cni_args: None,
            cap_args: None,
            ifname: None,
        }
    }
}

/// What a cnitool run printed.
#[derive(Debug, Clone)]
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn expect_ok(self, what: &str) -> Out {
        assert!(
            self.ok,
            "{what} failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn expect_fail(self, what: &str) -> Out {
        assert!(
            !self.ok,
            "{what} should have failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl Tool {
    /// The binary.
    pub fn bin(self) -> PathBuf {
        match self {
            Tool::Ours => our_cnitool(),
            Tool::Upstream => upstream_cnitool().to_path_buf(),
        }
    }

    /// The cache directory the binary uses when nothing says otherwise:
    /// libcni's `/var/lib/cni` for ours, the directory
    /// scripts/build-upstream-cnitool.sh linked into upstream's.
    pub fn default_cache_dir(self) -> PathBuf {
        match self {
            Tool::Ours => PathBuf::from(libcni::runtime::DEFAULT_CACHE_DIR),
            Tool::Upstream => upstream_cnitool().parent().unwrap().join("default-cache"),
        }
    }
}

/// A command that runs `program` inside `ns`, in a private mount namespace
/// where `cache` is bind-mounted over `default_cache`: whatever runs there
/// and uses the default cache dir writes to `cache` instead, with no
/// setting at all (upstream cnitool has none). When `default_cache` does
/// not exist (ours, `/var/lib/cni`, on a machine without it), a tmpfs
/// mounted over its parent provides the mount point; like the bind mount it
/// exists only in that mount namespace, so the machine's directories are
/// never written. The mount namespace dies with the process.
pub fn with_private_cache(
    ns: &Netns,
    default_cache: &Path,
    cache: &Path,
    program: impl AsRef<std::ffi::OsStr>,
) -> std::process::Command {
    std::fs::create_dir_all(cache).unwrap();
    let mut c = ns.command("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-ec"])
        .arg(
            r#"cache=$1 default=$2; shift 2
if [ ! -d "$default" ]; then
    mount -t tmpfs -o mode=0755 cnitool-test "$(dirname "$default")"
    mkdir "$default"
fi
mount --bind "$cache" "$default"
exec "$@""#,
        )
        .arg("sh")
        .arg(cache)
        .arg(default_cache)
        .arg(program);
    c
}

/// Run `tool args...` inside `ns` with exactly `env` (plus PATH). Upstream
/// cnitool has no cache-dir setting: it runs in a private mount namespace
/// where `env.cache_dir` is bind-mounted over its built-in cache dir.
pub fn run_tool(tool: Tool, ns: &Netns, env: &ToolEnv, args: &[&str]) -> Out {
    let mut cmd = match tool {
        Tool::Ours => ns.command(our_cnitool()),
        Tool::Upstream => with_private_cache(
            ns,
            &tool.default_cache_dir(),
            &env.cache_dir,
            upstream_cnitool(),
        ),
    };
    cmd.args(args);
    std::fs::create_dir_all(&env.cache_dir).unwrap();
    cmd.env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )
        .env("NETCONFPATH", &env.conf_dir)
        .env("CNI_PATH", &env.cni_path)
        .env("CNI_CACHE_DIR", &env.cache_dir);
    if let Some(a) = &env.cni_args {
        cmd.env("CNI_ARGS", a);
    }
    if let Some(a) = &env.cap_args {
        cmd.env("CAP_ARGS", a);
    }
    if let Some(i) = &env.ifname {
        cmd.env("CNI_IFNAME", i);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Write a conf list file.
pub fn write_conf(dir: &Path, file: &str, conf: &Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(file), serde_json::to_vec_pretty(conf).unwrap()).unwrap();
}

fn write_script(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    // Write to a temp name and rename: executing a file still open for
    // writing fails with ETXTBSY.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, body).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

/// The shell line that appends one JSON record of the call to `log`.
fn record_line(name: &str, log: &Path) -> String {
    format!(
        r#"in=$(cat)
printf '{{"plugin":"%s","cmd":"%s","cid":"%s","netns":"%s","ifname":"%s","args":"%s","path":"%s","stdin":%s}}\n' \
  '{name}' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "${{in:-null}}" >> '{}'
"#,
        log.display()
    )
}

/// A plugin `name` in `dir` that logs every call to `log` and answers ADD
/// with `add_reply` and VERSION with `versions`.
pub fn recorder(dir: &Path, name: &str, log: &Path, add_reply: &Value, versions: &[&str]) {
    let version =
        serde_json::json!({"cniVersion": versions.last().unwrap(), "supportedVersions": versions});
    let body = format!(
        "#!/bin/sh\n{}case \"$CNI_COMMAND\" in\nADD) cat <<'EOF'\n{add_reply}\nEOF\n;;\nVERSION) cat <<'EOF'\n{version}\nEOF\n;;\nesac\n",
        record_line(name, log)
    );
    write_script(dir, name, &body);
}

/// A plugin `name` in `dir` that logs every call and fails ADD with code
/// 100 (DEL and the rest succeed).
pub fn failing(dir: &Path, name: &str, log: &Path) {
    let body = format!(
        "#!/bin/sh\n{}if [ \"$CNI_COMMAND\" = ADD ]; then\n  echo '{{\"code\":100,\"msg\":\"fake failure on purpose\"}}'\n  exit 1\nfi\n",
        record_line(name, log)
    );
    write_script(dir, name, &body);
}

/// The calls recorded in `log`, in order.
pub fn calls(log: &Path) -> Vec<Value> {
    match std::fs::read_to_string(log) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line ({e}): {l}")))
            .collect(),
        Err(_) => vec![],
    }
}

/// (plugin, command) of each recorded call.
pub fn trace(log: &Path) -> Vec<(String, String)> {
    calls(log)
        .iter()
        .map(|c| {
            (
                c["plugin"].as_str().unwrap().to_string(),
                c["cmd"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The result cache files under `cache_dir`.
pub fn cache_files(cache_dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(cache_dir.join("results"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
