//! Throwaway network namespaces for testing CNI plugins.
//!
//! A [`Sandbox`] is a fake *host* network namespace plus any number of pod
//! namespaces and a temp directory for IPAM stores and caches. Plugins are
//! run inside the fake host (`setns` in the child before exec), so nothing
//! ever touches the machine's own root namespace. Everything is removed on
//! drop, also when a test panics; namespaces left by a killed test run are
//! swept the next time a sandbox is created.
//!
//! Tests that need root call [`require_root`] (through [`Sandbox::new`]),
//! which fails loudly instead of skipping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod net;
mod netns;
mod plugin;

pub use net::{Probe, TcpServer, UdpServer, tcp_probe, udp_probe, udp_probe_from};
pub use netns::Netns;
pub use plugin::{Call, PluginRun, plugin_dir, plugin_path, reference_dir, reference_plugin};

use std::path::{Path, PathBuf};

/// Fail the calling test with a clear message unless running as root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "this test creates network namespaces and must run as root (euid is {euid}); \
         run the README's test command as root"
    );
}

/// A fake host netns, its pods, and a private temp directory.
#[derive(Debug)]
pub struct Sandbox {
    /// The fake host: plugins run here.
    pub host: Netns,
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new fake host with `lo` up and an empty temp dir.
    pub fn new() -> Sandbox {
        require_root();
        netns::sweep_stale();
        let host = Netns::new("host").expect("creating the fake host netns");
        let dir = tempfile::Builder::new()
            .prefix("cni-sandbox-")
            .tempdir()
            .expect("creating the sandbox temp dir");
        Sandbox { host, dir }
    }

    /// A new pod netns with `lo` up. It is removed when dropped (or
    /// earlier with [`Netns::remove`], to test DEL after the netns is gone).
    pub fn pod(&self) -> Netns {
        Netns::new("pod").expect("creating a pod netns")
    }

    /// Another namespace beside the host (an "outside" peer, a second node).
    pub fn extra(&self, role: &str) -> Netns {
        Netns::new(role).expect("creating a netns")
    }

    /// The sandbox's private temp directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh sub-directory of the temp dir (created), e.g. for a dataDir.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("creating a sandbox sub-directory");
        p
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}
