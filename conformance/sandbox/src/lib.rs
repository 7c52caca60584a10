//! The test kit every crate's integration tests share: throwaway network
//! namespaces, running plugins, and the helpers the tests would otherwise
//! copy.
//!
//! A [`Sandbox`] is a fake *host* network namespace plus any number of pod
//! namespaces and a temp directory for IPAM stores and caches. Plugins are
//! run inside the fake host (`setns` in the child before exec), so nothing
//! ever touches the machine's own root namespace. Everything is removed on
//! drop, also when a test panics; namespaces left by a killed test run are
//! swept the next time a sandbox is created.
//!
//! Around it: [`Call`] and [`PluginRun`] (one plugin execution and its
//! outcome), real traffic ([`tcp_probe`], [`tcp_transfer`]), the
//! firewall listings ([`iptables_nat`], [`nft_rules`], ...), kernel
//! feature probes ([`kernel_has_vlan_filtering`]), what an attachment
//! leaves on a node and an outside namespace to reach ([`nat_rules`],
//! [`Sandbox::outside`], [`tcp_retry`]), the VERSION
//! probe ([`supported_versions`]), reading ADD results
//! ([`result_addresses`]) and host-local stores ([`ipam_records`]), and
//! the median of measurements, and [`firewalld`]: a real firewalld on a
//! private D-Bus inside a namespace of the test's own. The crate also
//! builds the test-only plugin `cni-skel-testplugin` (libcni's process
//! tests run it).
//!
//! Tests that need root call [`require_root`] (through [`Sandbox::new`]),
//! which fails loudly instead of skipping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod firewalld;
mod kernel;
mod measure;
mod net;
mod netns;
mod node;
mod plugin;
mod result;
mod rules;
mod store;
mod version;

pub use kernel::kernel_has_vlan_filtering;
pub use measure::median;
pub use net::{
    Probe, TcpServer, Transfer, UdpServer, tcp_best_rate, tcp_probe, tcp_transfer, udp_probe,
    udp_probe_from,
};
pub use netns::Netns;
pub use node::{
    CALL_TIMEOUT, PluginNode, dir_names, global_addrs, merge, nat_rules, nft_attachment_rules,
    route_lines, tcp_fails, tcp_retry, veth_names, wait_not_tentative, with_prev,
};
pub use plugin::{
    Call, PluginRun, cmd_args, plugin_dir, plugin_path, reference_dir, reference_plugin,
};
pub use result::{result_addresses, result_ip};
pub use rules::{
    iptables_nat, iptables_table, nft_all_rules, nft_family_rules, nft_items, nft_rules,
    nft_ruleset,
};
pub use store::ipam_records;
pub use version::{answers_version, supported_versions};

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

    /// An "outside" namespace routed from the fake host: host side `vout`
    /// 192.0.2.1/24 + 2001:db8:99::1/64, outside 192.0.2.2 +
    /// 2001:db8:99::2 with no route back to the pod networks (so only
    /// masqueraded traffic gets an answer).
    pub fn outside(&self) -> Netns {
        let out = self.extra("out");
        let host = self.host.name();
        out.sh_ok(&format!(
            "ip link add eth0 type veth peer name vout netns {host} && \
             sysctl -qw net.ipv6.conf.eth0.accept_dad=0 && \
             ip addr add 192.0.2.2/24 dev eth0 && \
             ip addr add 2001:db8:99::2/64 dev eth0 nodad && ip link set eth0 up"
        ));
        self.host.sh_ok(
            "sysctl -qw net.ipv6.conf.vout.accept_dad=0 && \
             ip addr add 192.0.2.1/24 dev vout && \
             ip addr add 2001:db8:99::1/64 dev vout nodad && ip link set vout up",
        );
        out
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
