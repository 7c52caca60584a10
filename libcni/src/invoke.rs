//! Finding and executing plugin binaries (SPEC.md "Section 3: Execution
//! Protocol"; cni:pkg/invoke).
//!
//! Plugins use this to call their IPAM delegate (the delegate gets the same
//! environment and stdin, with `CNI_COMMAND` possibly changed); the runtime
//! side uses it to run each plugin of a list.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::spec::{CniResult, Error, Version};

/// How often and how long to retry when the binary is being written
/// ("text file busy"): libcni retries 6 times, one second apart.
const ETXTBSY_RETRIES: u32 = 6;
const ETXTBSY_WAIT: Duration = Duration::from_secs(1);

/// Split `CNI_PATH` into directories, dropping empty entries.
pub fn split_path(cni_path: &str) -> Vec<PathBuf> {
    cni_path
        .split(':')
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Locate plugin `name` in `dirs` (first regular file wins). A name with a
/// path separator or a leading '.' is refused so that a config cannot
/// execute an arbitrary file.
pub fn find_in_path(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, Error> {
    if name.is_empty() {
        return Err(Error::invalid_config(
            "plugin type is empty: set \"type\" to a plugin binary name",
        ));
    }
    if name.contains('/') || name.starts_with('.') || name.contains('\0') {
        return Err(Error::invalid_config(format!(
            "invalid plugin type {name:?}: it must be a file name, not a path"
        )));
    }
    if dirs.is_empty() {
        return Err(Error::invalid_env(format!(
            "CNI_PATH is empty: cannot find plugin {name:?}; set CNI_PATH to the plugin directory"
        )));
    }
    for dir in dirs {
        let candidate = dir.join(name);
        if std::fs::metadata(&candidate).is_ok_and(|m| m.is_file()) {
            return Ok(candidate);
        }
    }
    Err(Error::invalid_config(format!(
        "failed to find plugin {name:?} in path {dirs:?}"
    )))
}

/// The raw outcome of running a plugin.
#[derive(Debug)]
pub struct Output {
    /// Exit status was 0.
    pub success: bool,
    /// Everything the plugin printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything the plugin printed on stderr (already forwarded to ours).
    pub stderr: Vec<u8>,
}

/// Run `binary` with `env` added to (or overriding) the inherited
/// environment and `stdin` as input. The plugin's stderr is forwarded to
/// ours. Retries on ETXTBSY as libcni does.
pub fn run(binary: &Path, env: &[(&str, &str)], stdin: &[u8]) -> Result<Output, Error> {
    let mut attempt = 0;
    let mut child = loop {
        let mut cmd = Command::new(binary);
        cmd.envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match cmd.spawn() {
            Ok(c) => break c,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < ETXTBSY_RETRIES => {
                attempt += 1;
                std::thread::sleep(ETXTBSY_WAIT);
            }
            Err(e) => {
                return Err(Error::io(format!(
                    "cannot execute {}: {e}",
                    binary.display()
                )));
            }
        }
    };
    if let Some(mut input) = child.stdin.take() {
        // A plugin that exits without reading stdin closes the pipe: EPIPE
        // here is not an error of ours, its exit status tells the story.
        let _ = input.write_all(stdin);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("waiting for {}: {e}", binary.display())))?;
    if !out.stderr.is_empty() {
        let _ = std::io::stderr().write_all(&out.stderr);
    }
    Ok(Output {
        success: out.status.success(),
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

/// Turn a failed run into the plugin's error: the error JSON on stdout when
/// there is one, else the stderr text, else the exit status.
pub fn failure_to_error(binary: &Path, out: &Output) -> Error {
    if let Ok(e) = serde_json::from_slice::<Error>(&out.stdout)
        && (e.code != 0 || !e.msg.is_empty())
    {
        return e;
    }
    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .trim()
    .to_string();
    let name = binary.file_name().map_or_else(
        || binary.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if text.is_empty() {
        Error::internal(format!("plugin {name} failed without an error message"))
    } else {
        Error::internal(format!("plugin {name} failed: {text}"))
    }
}

/// Run a delegate plugin (IPAM) of `plugin_type` from `CNI_PATH` with
/// command `command`, inheriting the rest of the CNI environment, and
/// return its stdout on success or its error.
pub fn delegate(
    plugin_type: &str,
    command: &str,
    cni_path: &[PathBuf],
    stdin: &[u8],
) -> Result<Vec<u8>, Error> {
    delegate_exec(&find_in_path(plugin_type, cni_path)?, command, stdin)
}

/// Like [`delegate`] with the binary already found, so a plugin can
/// resolve its delegate before it changes anything (a missing IPAM plugin
/// then fails ADD with nothing made).
pub fn delegate_exec(binary: &Path, command: &str, stdin: &[u8]) -> Result<Vec<u8>, Error> {
    let out = run(binary, &[("CNI_COMMAND", command)], stdin)?;
    if out.success {
        Ok(out.stdout)
    } else {
        Err(failure_to_error(binary, &out))
    }
}

/// ADD on a delegate binary, parsing its result (read as `version` when it
/// has no `cniVersion`).
pub fn delegate_add(binary: &Path, stdin: &[u8], version: Version) -> Result<CniResult, Error> {
    let out = delegate_exec(binary, "ADD", stdin)?;
    let (r, _) = CniResult::parse_bytes(&out, version).map_err(|e| {
        e.context(format!(
            "reading the result of {}",
            binary.file_name().unwrap_or_default().to_string_lossy()
        ))
    })?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_splitting() {
        assert_eq!(
            split_path("/a::/b:"),
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert!(split_path("").is_empty());
    }

    #[test]
    fn refuses_path_like_types() {
        let dirs = vec![PathBuf::from("/bin")];
        for bad in ["../sh", "/bin/sh", "a/b", "", ".x"] {
            let e = find_in_path(bad, &dirs).unwrap_err();
            assert_eq!(e.code, 7, "{bad}");
        }
    }

    #[test]
    fn finds_first_regular_file() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        std::fs::create_dir(d1.path().join("p")).unwrap(); // a dir is skipped
        std::fs::write(d2.path().join("p"), b"").unwrap();
        let dirs = vec![d1.path().to_path_buf(), d2.path().to_path_buf()];
        assert_eq!(find_in_path("p", &dirs).unwrap(), d2.path().join("p"));
        assert!(find_in_path("q", &dirs).unwrap_err().msg.contains("\"q\""));
    }

    #[test]
    fn error_from_stdout_json_or_stderr() {
        let bin = Path::new("/x/plugin");
        let out = Output {
            success: false,
            stdout: br#"{"code":11,"msg":"busy"}"#.to_vec(),
            stderr: vec![],
        };
        assert_eq!(failure_to_error(bin, &out).code, 11);
        let out = Output {
            success: false,
            stdout: vec![],
            stderr: b"boom\n".to_vec(),
        };
        let e = failure_to_error(bin, &out);
        assert_eq!(e.code, 999);
        assert!(e.msg.contains("plugin plugin failed: boom"), "{}", e.msg);
    }
}
