//! The reference's iptables layout, in the filter table of each family
//! the pod has an address in (plugins:plugins/meta/firewall iptables.go,
//! ingresspolicy.go), as netfilter's shared-chain driver writes it: the
//! same chains, comments, positions and per-address rules, so either
//! implementation's rules are the other's.
//!
//! ```text
//! -A FORWARD -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)" -j CNI-ISOLATION-STAGE-1
//! -A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
//! -A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN
//! -A CNI-FORWARD -d 10.88.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
//! -A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT
//! -A CNI-ISOLATION-STAGE-1 -i cni0 -o cni0 -m comment --comment "... (ingressPolicy: isolated)" -j DROP        (isolated)
//! -A CNI-ISOLATION-STAGE-1 -i cni0 ! -o cni0 -m comment --comment "... (ingressPolicy: <policy>)" -j CNI-ISOLATION-STAGE-2
//! -A CNI-ISOLATION-STAGE-1 -m comment --comment "... (ingressPolicy: same-bridge|isolated)" -j RETURN
//! -A CNI-ISOLATION-STAGE-2 -o cni0 -m comment --comment "... (ingressPolicy: same-bridge|isolated)" -j DROP
//! -A CNI-ISOLATION-STAGE-2 -m comment --comment "... (ingressPolicy: same-bridge|isolated)" -j RETURN
//! ```
//!
//! The jumps are put first in their chain when missing and never moved
//! afterwards. Only the two per-address rules belong to the attachment;
//! the chains and every other rule are shared and stay (the reference
//! removes none of them either). Isolation rules written by v1.1.0 to
//! v1.6.x (Debian's 1.1.1 among them) carry one comment for every rule,
//! `CNI firewall plugin rules (ingressPolicy: same-bridge)`; they are
//! recognised, so a node upgraded from those gets no duplicates (the
//! reference v1.7+ adds a second set).

use std::net::IpAddr;

use netfilter::driver::iptables::shared::{Layout, Place, Placed, SharedRules};
use netfilter::iptables::{CtStates, Rule, Table, Target};
use netfilter::{ChainName, Comment, Family, FirewallError, IfName};

use crate::config::IngressPolicy;
use crate::pod;

/// The built-in chain everything hangs off.
pub const FORWARD: &str = "FORWARD";
/// The chain of the per-address rules.
pub const CNI_FORWARD: &str = "CNI-FORWARD";
/// The isolation chains.
pub const STAGE_1: &str = "CNI-ISOLATION-STAGE-1";
/// The second isolation chain.
pub const STAGE_2: &str = "CNI-ISOLATION-STAGE-2";
/// The comment of the FORWARD jump.
pub const RULES_COMMENT: &str = "CNI firewall plugin rules";
/// The comment of the jump to the admin chain.
pub const ADMIN_COMMENT: &str = "CNI firewall plugin admin overrides";
/// The comment of the isolation rules common to both policies (v1.7+).
pub const ISOLATION_COMMENT: &str =
    "CNI firewall plugin rules (ingressPolicy: same-bridge|isolated)";
/// The one comment of every isolation rule before v1.7.0.
pub const OLD_ISOLATION_COMMENT: &str = "CNI firewall plugin rules (ingressPolicy: same-bridge)";

/// The lock serializing the creation of the shared chains and jumps (both
/// backends).
pub const SETUP_LOCK: &str = "/run/cni-firewall-setup.lock";

/// The comment of the isolation rules that depend on the policy.
pub fn policy_comment(policy: IngressPolicy) -> String {
    format!(
        "CNI firewall plugin rules (ingressPolicy: {})",
        policy.as_str()
    )
}

fn chain(name: &str) -> Result<ChainName, FirewallError> {
    ChainName::new(name)
}

fn comment(text: &str) -> Result<Comment, FirewallError> {
    Comment::new(text)
}

/// The accept path of `ips` (addresses of one family): the two shared
/// chains, the two jumps, and the attachment's two rules per address.
pub fn accept_layout(admin: &ChainName, ips: &[IpAddr]) -> Result<Layout, FirewallError> {
    let fwd = chain(CNI_FORWARD)?;
    let mut own = vec![];
    for ip in ips {
        let host = Family::host(*ip);
        own.push(Placed::new(
            fwd.clone(),
            Rule::new(Target::Accept)
                .destination(host, false)
                .ctstate(CtStates::RELATED.union(CtStates::ESTABLISHED)),
            Place::Tail,
        ));
        own.push(Placed::new(
            fwd.clone(),
            Rule::new(Target::Accept).source(host, false),
            Place::Tail,
        ));
    }
    Ok(Layout {
        chains: vec![fwd.clone(), admin.clone()],
        shared: vec![
            Placed::new(
                chain(FORWARD)?,
                Rule::new(Target::Jump(fwd.clone())).comment(comment(RULES_COMMENT)?),
                Place::Head,
            ),
            Placed::new(
                fwd,
                Rule::new(Target::Jump(admin.clone())).comment(comment(ADMIN_COMMENT)?),
                Place::Head,
            ),
        ],
        own,
    })
}

/// The isolation rules of `bridge` under `policy` (§ ingressPolicy of the
/// reference, in its order), each also recognised with the old comment
/// where the old versions wrote the rule.
pub fn isolation_layout(policy: IngressPolicy, bridge: &IfName) -> Result<Layout, FirewallError> {
    let s1 = chain(STAGE_1)?;
    let s2 = chain(STAGE_2)?;
    let any = comment(ISOLATION_COMMENT)?;
    let old = comment(OLD_ISOLATION_COMMENT)?;
    let this = comment(&policy_comment(policy))?;
    let br = || bridge.clone();
    // A rule carrying the common comment, also known by the old one.
    let common = |c: ChainName, r: Rule, place| {
        Placed::new(c, r.clone().comment(any.clone()), place).or(r.comment(old.clone()))
    };
    let mut shared = vec![
        common(
            chain(FORWARD)?,
            Rule::new(Target::Jump(s1.clone())),
            Place::Head,
        ),
        Placed::new(
            s1.clone(),
            Rule::new(Target::Jump(s2.clone()))
                .in_interface(br(), false)
                .out_interface(br(), true)
                .comment(this.clone()),
            Place::Head,
        ),
    ];
    if policy == IngressPolicy::Isolated {
        shared.push(Placed::new(
            s1.clone(),
            Rule::new(Target::Drop)
                .in_interface(br(), false)
                .out_interface(br(), false)
                .comment(this),
            Place::Head,
        ));
    }
    shared.push(common(s1.clone(), Rule::new(Target::Return), Place::Tail));
    shared.push(common(
        s2.clone(),
        Rule::new(Target::Drop).out_interface(br(), false),
        Place::Head,
    ));
    shared.push(common(s2.clone(), Rule::new(Target::Return), Place::Tail));
    Ok(Layout {
        chains: vec![s1, s2],
        shared,
        own: vec![],
    })
}

/// An attachment's rules in the filter table: the accept path of its
/// addresses (`admin` set) and the isolation rules of its bridge
/// (`isolation` set).
#[derive(Debug, Clone, Copy)]
pub struct FilterRules<'a> {
    /// The pod's addresses (the families to write).
    pub ips: &'a [IpAddr],
    /// The admin chain, when the accept path is wanted.
    pub admin: Option<&'a ChainName>,
    /// The policy and bridge, when isolation rules are wanted.
    pub isolation: Option<(IngressPolicy, &'a IfName)>,
}

impl SharedRules for FilterRules<'_> {
    fn table(&self) -> Table {
        Table::Filter
    }

    fn families(&self) -> Vec<Family> {
        pod::families(self.ips)
    }

    fn layout(&self, family: Family) -> Result<Layout, FirewallError> {
        let mut layout = Layout::default();
        if let Some(admin) = self.admin {
            layout.extend(accept_layout(admin, &pod::of_family(self.ips, family))?);
        }
        if let Some((policy, bridge)) = self.isolation {
            layout.extend(isolation_layout(policy, bridge)?);
        }
        Ok(layout)
    }

    fn lock_path(&self) -> Option<&'static str> {
        Some(SETUP_LOCK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netfilter::iptables::RestoreScript;

    /// The rules of a layout as a restore script would add them all
    /// (chains created, head rules inserted, tail rules appended), in
    /// order.
    fn script(family: Family, l: &Layout) -> String {
        let mut s = RestoreScript::new(family);
        for c in &l.chains {
            s.new_chain(Table::Filter, c);
        }
        for p in l.shared.iter().chain(&l.own) {
            match p.place {
                Place::Head => s.insert(Table::Filter, &p.chain, 1, &p.rule).unwrap(),
                Place::Tail => s.append(Table::Filter, &p.chain, &p.rule).unwrap(),
            }
        }
        s.render()
    }

    #[test]
    fn accept_path_is_the_references() {
        let admin = ChainName::new("CNI-ADMIN").unwrap();
        let ips: Vec<IpAddr> = vec!["10.88.0.2".parse().unwrap()];
        assert_eq!(
            script(Family::V4, &accept_layout(&admin, &ips).unwrap()),
            "*filter\n\
             -N CNI-FORWARD\n\
             -N CNI-ADMIN\n\
             -I FORWARD 1 -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD\n\
             -I CNI-FORWARD 1 -m comment --comment \"CNI firewall plugin admin overrides\" -j CNI-ADMIN\n\
             -A CNI-FORWARD -d 10.88.0.2/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
             -A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT\n\
             COMMIT\n"
        );
        let v6: Vec<IpAddr> = vec!["fd88::2".parse().unwrap()];
        let text = script(Family::V6, &accept_layout(&admin, &v6).unwrap());
        assert!(
            text.contains("-A CNI-FORWARD -s fd88::2/128 -j ACCEPT\n"),
            "{text}"
        );
    }

    #[test]
    fn isolation_is_the_references_with_old_comments_recognised() {
        let br = IfName::new("cni1").unwrap();
        let l = isolation_layout(IngressPolicy::Isolated, &br).unwrap();
        let any = ISOLATION_COMMENT;
        let iso = policy_comment(IngressPolicy::Isolated);
        assert_eq!(
            script(Family::V4, &l),
            format!(
                "*filter\n\
                 -N CNI-ISOLATION-STAGE-1\n\
                 -N CNI-ISOLATION-STAGE-2\n\
                 -I FORWARD 1 -m comment --comment \"{any}\" -j CNI-ISOLATION-STAGE-1\n\
                 -I CNI-ISOLATION-STAGE-1 1 -i cni1 ! -o cni1 -m comment --comment \"{iso}\" -j CNI-ISOLATION-STAGE-2\n\
                 -I CNI-ISOLATION-STAGE-1 1 -i cni1 -o cni1 -m comment --comment \"{iso}\" -j DROP\n\
                 -A CNI-ISOLATION-STAGE-1 -m comment --comment \"{any}\" -j RETURN\n\
                 -I CNI-ISOLATION-STAGE-2 1 -o cni1 -m comment --comment \"{any}\" -j DROP\n\
                 -A CNI-ISOLATION-STAGE-2 -m comment --comment \"{any}\" -j RETURN\n\
                 COMMIT\n"
            )
        );
        // Every rule with the common comment has the old form too; the
        // policy's own rules carry what the old versions wrote already.
        for p in &l.shared {
            let c = p.rule.text(Family::V4);
            assert_eq!(c.contains(any), p.also.len() == 1, "{c}");
        }
        let same = isolation_layout(IngressPolicy::SameBridge, &br).unwrap();
        assert_eq!(same.shared.len(), 5);
        assert!(
            same.shared[1]
                .rule
                .text(Family::V4)
                .contains(OLD_ISOLATION_COMMENT)
        );
    }
}
