//! Finding 8: state of attachments the result cache does not know. The
//! cache is the runtime's record of the pods it has attached (libcni writes
//! an entry after a successful ADD and removes it after DEL); a lease, a
//! veth, a NAT chain, an ifb or a state file that no cached attachment
//! accounts for was left by a crash, a killed ADD, or a runtime that lost
//! the pod. Leaked leases exhaust the subnet, leaked chains slow every
//! NAT lookup, leaked ifbs and veths pile up.
//!
//! One finding per kind: [`leases`], [`veths`], [`chains`], [`ifbs`],
//! [`files`]. Only networks configured in the conf dirs are judged (`--gc`
//! can only reach those), and nothing is judged when the cache could not
//! be read.

pub mod chains;
pub mod files;
pub mod ifbs;
pub mod leases;
pub mod veths;

use std::collections::HashSet;

use libcni::runtime::CachedAttachment;
use serde_json::Value;

use crate::finding::{Finding, Severity};
use crate::node::Node;

/// The attachments the cache knows.
#[derive(Debug)]
pub struct Known<'a> {
    attachments: &'a [CachedAttachment],
    triples: HashSet<(&'a str, &'a str, &'a str)>,
    containers: HashSet<(&'a str, &'a str)>,
    anywhere: HashSet<&'a str>,
    /// Host-side interfaces named in cached results.
    pub host_ifaces: HashSet<String>,
    /// Networks with a cached attachment whose result names no interfaces
    /// (results before spec 0.3.0): their veths cannot be judged.
    pub blind: HashSet<String>,
}

impl<'a> Known<'a> {
    /// The attachments of the node's cache; `None` when it was not read.
    pub fn of(node: &'a Node) -> Option<Known<'a>> {
        let attachments = node.cache.as_deref().ok()?;
        let mut host_ifaces = HashSet::new();
        let mut blind = HashSet::new();
        for a in attachments {
            let ifaces = a
                .result
                .as_ref()
                .and_then(|r| r.get("interfaces"))
                .and_then(Value::as_array);
            let Some(ifaces) = ifaces else {
                blind.insert(a.network.clone());
                continue;
            };
            for i in ifaces {
                let sandbox = i.get("sandbox").and_then(Value::as_str).unwrap_or_default();
                if let (Some(name), true) =
                    (i.get("name").and_then(Value::as_str), sandbox.is_empty())
                {
                    host_ifaces.insert(name.to_string());
                }
            }
        }
        Some(Known {
            attachments,
            triples: attachments
                .iter()
                .map(|a| {
                    (
                        a.network.as_str(),
                        a.container_id.as_str(),
                        a.ifname.as_str(),
                    )
                })
                .collect(),
            containers: attachments
                .iter()
                .map(|a| (a.network.as_str(), a.container_id.as_str()))
                .collect(),
            anywhere: attachments
                .iter()
                .map(|a| a.container_id.as_str())
                .collect(),
            host_ifaces,
            blind,
        })
    }

    /// The cached attachments.
    pub fn attachments(&self) -> &'a [CachedAttachment] {
        self.attachments
    }

    /// Whether `(network, container, ifname)` is cached.
    pub fn has(&self, net: &str, cid: &str, ifname: &str) -> bool {
        self.triples.contains(&(net, cid, ifname))
    }

    /// Whether the container has any cached attachment on `net`.
    pub fn has_container(&self, net: &str, cid: &str) -> bool {
        self.containers.contains(&(net, cid))
    }

    /// Whether the container has any cached attachment at all.
    pub fn has_container_anywhere(&self, cid: &str) -> bool {
        self.anywhere.contains(cid)
    }
}

/// One leaked object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// What it is, as one stable line.
    pub item: String,
    /// Whether `--gc` reclaims it.
    pub gc: bool,
    /// The command that removes it when `--gc` does not.
    pub manual: Option<String>,
}

impl Leak {
    /// A leak `--gc` reclaims.
    pub fn gc(item: String) -> Leak {
        Leak {
            item,
            gc: true,
            manual: None,
        }
    }

    /// A leak only `command` removes.
    pub fn manual(item: String, command: String) -> Leak {
        Leak {
            item,
            gc: false,
            manual: Some(command),
        }
    }
}

/// How many items the evidence lists before "and N more".
const SHOWN: usize = 20;

/// The finding for leaks of one kind.
pub fn finding(
    node: &Node,
    id: &'static str,
    what: &str,
    why: &str,
    leaks: Vec<Leak>,
) -> Option<Finding> {
    if leaks.is_empty() {
        return None;
    }
    let mut f = Finding::new(
        id,
        Severity::Warning,
        format!(
            "{} {what} of attachments the result cache does not know",
            leaks.len()
        ),
        why,
    );
    for l in leaks.iter().take(SHOWN) {
        f = f.evidence(l.item.clone());
    }
    if leaks.len() > SHOWN {
        f = f.evidence(format!("... and {} more (see --json)", leaks.len() - SHOWN));
    }
    f = f.evidence(format!(
        "result cache {}: {} attachments",
        node.opts.cache_dir.join("results").display(),
        node.attachments().len()
    ));
    let mut cmds = vec![];
    if leaks.iter().any(|l| l.gc) {
        cmds.push(format!("{} --gc", node.opts.rerun));
    }
    cmds.extend(leaks.iter().filter_map(|l| l.manual.clone()));
    f.items = leaks.into_iter().map(|l| l.item).collect();
    Some(f.fix(cmds.join(" && ")).note(
        "--gc runs GC through the plugins of every configured network, with every attachment \
             the cache knows as valid, and deletes the host end of leaked veths. An ADD in \
             progress looks like a leak until it finishes: run the doctor again if in doubt.",
    ))
}

/// The findings.
pub fn check(node: &Node) -> Vec<Finding> {
    let Some(known) = Known::of(node) else {
        return vec![];
    };
    [
        leases::check(node, &known),
        veths::check(node, &known),
        chains::check(node, &known),
        ifbs::check(node, &known),
        files::check(node, &known),
    ]
    .into_iter()
    .flatten()
    .collect()
}
