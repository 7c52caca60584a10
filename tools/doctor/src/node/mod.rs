//! Everything the checks look at, read once: a snapshot of the node.
//!
//! One read per source (the cost a node with 1,000 pods pays): the conf
//! dirs, the result cache directory, one link dump and one route dump
//! over rtnetlink (hostnet, in the namespace of the calling thread), four
//! sysctls, one `*-save` per iptables variant and family (none for
//! iptables-legacy when the kernel has no legacy table in this namespace),
//! `nft -j list chains` and the rules of the few nftables tables a check
//! reads, one VERSION per plugin binary, and each plugin state directory
//! once. The checks are pure functions of this
//! snapshot, so they can be tested without a kernel.

pub mod conf;
pub mod firewall;
pub mod kernel;
pub mod plugins;
pub mod state;
pub mod tools;

use std::path::PathBuf;

use hostnet::netlink::{LinkInfo, RouteInfo};
use libcni::runtime::CachedAttachment;

pub use conf::{ConfDir, Iface, IfaceKind, Network};
pub use firewall::{Listing, Variant};
pub use plugins::PluginState;
pub use state::StateFiles;

/// Where the doctor looks, and how it tells the user to run it again.
#[derive(Debug, Clone)]
pub struct Options {
    /// Configuration directories, each read as a runtime reads it.
    pub conf_dirs: Vec<PathBuf>,
    /// Plugin directories (`CNI_PATH`).
    pub bin_dirs: Vec<PathBuf>,
    /// The result cache directory (`<cache_dir>/results`).
    pub cache_dir: PathBuf,
    /// Where `iptables-*-save` and `nft` are looked up (never `$PATH`).
    pub tool_dirs: Vec<PathBuf>,
    /// `None`: sysctls are the kernel's, as seen from the calling thread's
    /// network namespace. `Some(dir)`: read from files under `dir`
    /// instead (tests fake a kernel without `br_netfilter` this way).
    pub sysctl_root: Option<PathBuf>,
    /// Directories searched for a plugin that is missing from every bin
    /// dir, so that the fix can name a binary to copy.
    pub spare_plugin_dirs: Vec<PathBuf>,
    /// The command that runs the doctor again with these settings; fixes
    /// that are a doctor run (`--gc`) start with it.
    pub rerun: String,
}

impl Options {
    /// The defaults of a node: `/etc/cni/net.d`, `/opt/cni/bin`,
    /// `/var/lib/cni`, the system tool directories, the kernel's sysctls.
    pub fn node_defaults() -> Options {
        Options {
            conf_dirs: vec![PathBuf::from("/etc/cni/net.d")],
            bin_dirs: vec![PathBuf::from("/opt/cni/bin")],
            cache_dir: PathBuf::from(libcni::runtime::DEFAULT_CACHE_DIR),
            tool_dirs: netfilter::tools::SEARCH_DIRS
                .iter()
                .map(PathBuf::from)
                .collect(),
            sysctl_root: None,
            spare_plugin_dirs: ["/opt/cni/bin", "/usr/lib/cni", "/usr/libexec/cni"]
                .iter()
                .map(PathBuf::from)
                .collect(),
            rerun: "cnitool doctor".into(),
        }
    }
}

/// A source that could not be read: what, why, and what would make it
/// readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// What could not be inspected ("the iptables-legacy rules (IPv4)").
    pub what: String,
    /// Why.
    pub why: String,
    /// A command that makes it readable (installing a tool).
    pub fix: Option<String>,
}

impl Unread {
    /// `what` could not be read because of `why`.
    pub fn new(what: impl Into<String>, why: impl Into<String>) -> Unread {
        Unread {
            what: what.into(),
            why: why.into(),
            fix: None,
        }
    }

    /// Add the command that makes it readable.
    pub fn with_fix(mut self, fix: impl Into<String>) -> Unread {
        self.fix = Some(fix.into());
        self
    }
}

/// The sysctls the checks read (slash form, under /proc/sys).
pub const SYSCTLS: [&str; 4] = [
    kernel::IP_FORWARD,
    kernel::IPV6_FORWARDING,
    kernel::BRIDGE_NF_IPTABLES,
    kernel::BRIDGE_NF_IP6TABLES,
];

/// The snapshot.
#[derive(Debug, Clone)]
pub struct Node {
    /// The settings it was read with.
    pub opts: Options,
    /// Each conf dir, its files in the order CRI runtimes sort them.
    pub conf_dirs: Vec<ConfDir>,
    /// Every network the conf dirs define (the first definition of a name
    /// wins, as in a search by name).
    pub networks: Vec<Network>,
    /// The attachments in the result cache.
    pub cache: Result<Vec<CachedAttachment>, Unread>,
    /// Links of this namespace.
    pub links: Result<Vec<LinkInfo>, Unread>,
    /// Routes of this namespace, both families, every table.
    pub routes: Result<Vec<RouteInfo>, Unread>,
    /// The [`SYSCTLS`]: `Ok(None)` when the key does not exist.
    pub sysctls: Vec<(&'static str, Result<Option<String>, Unread>)>,
    /// iptables rules per variant and family.
    pub iptables: Vec<Listing>,
    /// `nft -j list ruleset`: the items of `nftables`.
    pub nft: Result<Vec<serde_json::Value>, Unread>,
    /// Whether `iptables` is iptables-nft (`None`: not installed or not
    /// recognised).
    pub iptables_default_nft: Option<bool>,
    /// Every plugin binary the networks run, by type.
    pub plugins: Vec<PluginState>,
    /// Plugin state on disk.
    pub state: StateFiles,
}

impl Node {
    /// The value of sysctl `key` when it was read and exists.
    pub fn sysctl(&self, key: &str) -> Option<&str> {
        self.sysctls
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_ref().ok())
            .and_then(|v| v.as_deref())
    }

    /// Whether sysctl `key` was read and does not exist.
    pub fn sysctl_absent(&self, key: &str) -> bool {
        self.sysctls
            .iter()
            .any(|(k, v)| *k == key && matches!(v, Ok(None)))
    }

    /// The link with index `index`.
    pub fn link(&self, index: u32) -> Option<&LinkInfo> {
        self.links.as_ref().ok()?.iter().find(|l| l.index == index)
    }

    /// The link named `name`.
    pub fn link_named(&self, name: &str) -> Option<&LinkInfo> {
        self.links.as_ref().ok()?.iter().find(|l| l.name == name)
    }

    /// The cached attachments, empty when the cache could not be read.
    pub fn attachments(&self) -> &[CachedAttachment] {
        self.cache.as_deref().unwrap_or_default()
    }

    /// The network named `name`.
    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }
}

/// Read the node.
pub fn collect(opts: &Options) -> Node {
    let tools = tools::Tools::new(&opts.tool_dirs);
    let (conf_dirs, networks) = conf::read(&opts.conf_dirs);
    let cache = libcni::runtime::CniConfig::new(Vec::<PathBuf>::new())
        .with_cache_dir(&opts.cache_dir)
        .get_cached_attachments("")
        .map_err(|e| {
            Unread::new(
                format!("the result cache {}", opts.cache_dir.display()),
                e.to_string(),
            )
        });
    let (links, routes) = kernel::links_and_routes();
    let sysctls = SYSCTLS
        .iter()
        .map(|k| (*k, kernel::sysctl(opts.sysctl_root.as_deref(), k)))
        .collect();
    let nft = firewall::nft_ruleset(&tools);
    let iptables = firewall::listings(&tools, &nft);
    let plugins = plugins::probe(&networks, opts);
    let state = state::read(&networks);
    Node {
        opts: opts.clone(),
        conf_dirs,
        networks,
        cache,
        links,
        routes,
        sysctls,
        iptables,
        nft,
        iptables_default_nft: tools::iptables_is_nft(&tools),
        plugins,
        state,
    }
}
