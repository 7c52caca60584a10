//! `--gc`, the doctor's one repair: reclaim what attachments the cache does
//! not know left behind, through the plugins' own GC.
//!
//! 1. The host ends of leaked veths are deleted (the kernel deletes a veth
//!    pair with either end). No plugin keeps a record tying a host veth to
//!    its attachment, so no plugin's GC can prove one stale; the doctor
//!    can, from the cache. This goes first because the bandwidth plugin's
//!    GC keeps an ifb while a veth's ingress filter still redirects to it.
//! 2. For every configured network, libcni's `gc_network_list` with the
//!    cache's attachments of that network as the valid ones: nothing
//!    cached is deleted, and GC reaches every plugin (host-local releases
//!    leases, bridge and ptp remove masquerade chains, portmap its chains,
//!    bandwidth its ifbs, tuning, firewall and flannel their files). GC
//!    needs spec 1.1.0: an older list is sent GC as 1.1.0 when every
//!    binary of the network speaks 1.1.0 (ours all do), else it is
//!    skipped and the report says so.
//! 3. The node is read again; the leak items that went away are what was
//!    reclaimed.

use hostnet::Netlink;
use libcni::Version;
use libcni::runtime::CniConfig;
use libcni::spec::Attachment;
use serde_json::{Value, json};

use crate::checks::{self, leaks};
use crate::finding::Finding;
use crate::node::{self, Network, Node, Options};
use crate::report::Report;

/// What GC did to one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkGc {
    /// The network.
    pub network: String,
    /// How many cached attachments were passed as valid.
    pub valid: usize,
    /// The version GC was sent with, when it was sent.
    pub version: Option<Version>,
    /// Why GC was not sent, or how it failed.
    pub error: Option<String>,
}

/// What `--gc` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcOutcome {
    /// Leaked veths: name, and the error when deleting it failed.
    pub veths: Vec<(String, Option<String>)>,
    /// Each network's GC.
    pub networks: Vec<NetworkGc>,
    /// Leak items present before and gone after.
    pub reclaimed: Vec<String>,
    /// Why nothing was done at all.
    pub refused: Option<String>,
}

impl GcOutcome {
    /// As JSON (the `gc` key of `--json`).
    pub fn to_json(&self) -> Value {
        json!({
            "refused": self.refused,
            "veths": self.veths.iter().map(|(n, e)| json!({"name": n, "error": e})).collect::<Vec<_>>(),
            "networks": self.networks.iter().map(|n| json!({
                "network": n.network,
                "valid": n.valid,
                "version": n.version.map(Version::as_str),
                "error": n.error,
            })).collect::<Vec<_>>(),
            "reclaimed": self.reclaimed,
        })
    }

    /// As text.
    pub fn render(&self) -> String {
        let mut out = String::from("GC:\n");
        if let Some(why) = &self.refused {
            out.push_str(&format!("  nothing done: {why}\n"));
            return out;
        }
        for (name, err) in &self.veths {
            match err {
                None => out.push_str(&format!("  deleted leaked veth {name}\n")),
                Some(e) => out.push_str(&format!("  could not delete veth {name}: {e}\n")),
            }
        }
        for n in &self.networks {
            let line = match (&n.version, &n.error) {
                (Some(v), None) => format!("GC sent as {v} with {} valid attachments", n.valid),
                (Some(v), Some(e)) => format!("GC sent as {v} failed: {e}"),
                (None, Some(e)) => format!("GC not sent: {e}"),
                (None, None) => "GC not sent".to_string(),
            };
            out.push_str(&format!("  network {}: {line}\n", n.network));
        }
        out.push_str(&format!(
            "  reclaimed {} leaked objects\n",
            self.reclaimed.len()
        ));
        for r in &self.reclaimed {
            out.push_str(&format!("    {r}\n"));
        }
        out
    }
}

fn leak_items(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.id.starts_with("leaked-"))
        .flat_map(|f| f.items.iter().cloned())
        .collect()
}

fn delete_veth(name: &str, index: u32) -> Option<String> {
    let nl = match Netlink::new() {
        Ok(nl) => nl,
        Err(e) => return Some(e.to_string()),
    };
    // The index must still be the same link: a new pod may have taken
    // the name since the dump.
    match nl.link_by_index(index) {
        Ok(l) if l.name == name && l.is_veth() => {}
        Ok(_) => return None,
        Err(e) if e.is_not_found() => return None,
        Err(e) => return Some(e.to_string()),
    }
    match nl.delete_link(index) {
        Ok(()) => None,
        Err(e) if e.is_not_found() => None,
        Err(e) => Some(e.to_string()),
    }
}

fn gc_network(node: &Node, net: &Network) -> NetworkGc {
    let valid: Vec<Attachment> = node
        .attachments()
        .iter()
        .filter(|a| a.network == net.name)
        .map(|a| Attachment {
            container_id: a.container_id.clone(),
            ifname: a.ifname.clone(),
        })
        .collect();
    let mut out = NetworkGc {
        network: net.name.clone(),
        valid: valid.len(),
        version: None,
        error: None,
    };
    if net.list.disable_gc {
        out.error = Some("the list sets disableGC".into());
        return out;
    }
    let mut list = net.list.clone();
    if !list.cni_version.has_gc_status() {
        let old: Vec<&str> = net
            .binaries
            .iter()
            .filter(|b| {
                !node
                    .plugins
                    .iter()
                    .any(|p| &p.plugin_type == *b && p.supports(Version::V1_1_0))
            })
            .map(String::as_str)
            .collect();
        if !old.is_empty() {
            out.error = Some(format!(
                "cniVersion {} has no GC, and {} do not speak 1.1.0",
                list.cni_version,
                old.join(", ")
            ));
            return out;
        }
        list.cni_version = Version::V1_1_0;
    }
    out.version = Some(list.cni_version);
    let cni = CniConfig::new(node.opts.bin_dirs.clone()).with_cache_dir(&node.opts.cache_dir);
    if let Err(e) = cni.gc_network_list(&list, Some(&valid)) {
        out.error = Some(e.to_string());
    }
    out
}

/// Run `--gc` and report the node as it is afterwards, with what was done.
pub fn run(opts: &Options) -> Report {
    let node = node::collect(opts);
    let before = checks::run(&node);
    let Some(known) = leaks::Known::of(&node) else {
        let mut report = Report::new(&node, before);
        report.gc = Some(GcOutcome {
            refused: Some(
                "the result cache could not be read, so no attachment can be shown stale".into(),
            ),
            ..GcOutcome::default()
        });
        return report;
    };
    let mut outcome = GcOutcome::default();
    for (link, _) in leaks::veths::leaked(&node, &known) {
        outcome
            .veths
            .push((link.name.clone(), delete_veth(&link.name, link.index)));
    }
    for net in &node.networks {
        outcome.networks.push(gc_network(&node, net));
    }
    let after_node = node::collect(opts);
    let after = checks::run(&after_node);
    let remaining = leak_items(&after);
    outcome.reclaimed = leak_items(&before)
        .into_iter()
        .filter(|i| !remaining.contains(i))
        .collect();
    let mut report = Report::new(&after_node, after);
    report.gc = Some(outcome);
    report
}
