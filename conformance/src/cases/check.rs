//! CHECK (SPEC.md "CHECK", 0.4.0+): passes right after ADD, and fails
//! (error JSON, exit 1) after each kind of drift: an address, a route, the
//! interface, its MAC, the host port rules.

use libcni::Version;

use super::{first_v4, first_v6, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::{Attachment, Ctx, describe};
use crate::net::Net;
use crate::shape::expect_error;

pub fn cases() -> Vec<Case> {
    let s = SpecNeed::Run {
        min: Version::V0_4_0,
    };
    let b = needs("bridge");
    let p = needs("portmap");
    vec![
        Case::new("check/bridge/passes-after-add", s, b, |c| {
            passes(c, false, false)
        }),
        Case::new("check/bridge/dual-stack-passes-after-add", s, b, |c| {
            passes(c, false, true)
        }),
        Case::new("check/portmap/passes-after-add-ipv4-only", s, p, |c| {
            passes(c, true, false)
        }),
        Case::new("check/portmap/passes-after-add-dual-stack", s, p, |c| {
            passes(c, true, true)
        }),
        Case::new("check/bridge/fails-after-address-drift", s, b, |c| {
            drift(c, Drift::Address)
        }),
        Case::new("check/bridge/fails-after-route-drift", s, b, |c| {
            drift(c, Drift::Route)
        }),
        Case::new("check/bridge/fails-after-interface-gone", s, b, |c| {
            drift(c, Drift::InterfaceGone)
        }),
        Case::new("check/bridge/fails-after-mac-drift", s, b, |c| {
            drift(c, Drift::Mac)
        }),
        Case::new("check/portmap/fails-after-rule-drift", s, p, |c| {
            drift(c, Drift::Rules)
        }),
    ]
}

fn net(c: &Ctx, portmap: bool, dual: bool) -> Net {
    let n = if portmap {
        c.portmap_net()
    } else {
        c.bridge_net()
    };
    if dual { n.dual_stack() } else { n }
}

fn attach(c: &Ctx, pod: &cni_sandbox::Netns) -> Attachment {
    c.attachment(pod).map_port(18080, 80, "tcp")
}

/// CHECK right after ADD passes. With portmap, an IPv4-only pod must pass
/// too (the reference fails it: plugins#819).
fn passes(c: &Ctx, portmap: bool, dual: bool) -> CaseResult {
    let pod = c.pod();
    let att = attach(c, &pod);
    let net = net(c, portmap, dual);
    let r = c.add_ok(&net, &att)?;
    c.check_ok(&net, &att, &r)
}

#[derive(Debug, Clone, Copy)]
enum Drift {
    Address,
    Route,
    InterfaceGone,
    Mac,
    Rules,
}

fn drift(c: &Ctx, kind: Drift) -> CaseResult {
    let pod = c.pod();
    let att = attach(c, &pod);
    // Rule drift uses a dual-stack pod so that a plugin passing CHECK
    // before the drift is not held back by plugins#819.
    let net = net(
        c,
        matches!(kind, Drift::Rules),
        matches!(kind, Drift::Rules),
    );
    let r = c.add_ok(&net, &att)?;
    c.check_ok(&net, &att, &r)
        .map_err(|e| format!("CHECK failed before any drift: {e}"))?;
    let ip4 = first_v4(&r, c.version)?;
    let what = match kind {
        Drift::Address => {
            pod.sh_ok(&format!("ip addr flush dev {} scope global", att.ifname));
            pod.sh_ok(&format!("ip addr add 10.77.0.250/24 dev {}", att.ifname));
            "the pod's address was replaced"
        }
        Drift::Route => {
            pod.sh_ok("ip -4 route del default");
            "the pod's default route was removed"
        }
        Drift::InterfaceGone => {
            pod.sh_ok(&format!("ip link del {}", att.ifname));
            "the pod's interface was removed"
        }
        Drift::Mac => {
            pod.sh_ok(&format!(
                "ip link set {} address 02:00:00:ab:cd:ef",
                att.ifname
            ));
            "the pod interface's MAC changed"
        }
        Drift::Rules => {
            let ip6 = first_v6(&r, c.version)?;
            let n = remove_dnat_rules(c, &[ip4.to_string(), ip6.to_string()])?;
            if n == 0 {
                return Err(format!(
                    "found no DNAT rule for {ip4} or {ip6} in iptables or nftables to remove"
                ));
            }
            "the pod's DNAT rules were removed"
        }
    };
    match c.check(&net, &att, &r) {
        Ok(()) => Err(format!("CHECK passed although {what}")),
        Err((plugin, run)) => expect_error(&run, &[])
            .map(|_| ())
            .map_err(|e| format!("{plugin} CHECK after drift: {e} ({})", describe(&run))),
    }
}

/// Remove every DNAT rule that mentions one of `ips`, from iptables (v4
/// and v6 nat tables) and from native nftables tables. Returns how many.
fn remove_dnat_rules(c: &Ctx, ips: &[String]) -> Result<usize, String> {
    let mentions = |l: &str| ips.iter().any(|ip| l.contains(ip.as_str()));
    let mut removed = 0;
    for (save, restore) in [
        ("iptables-save", "iptables-restore"),
        ("ip6tables-save", "ip6tables-restore"),
    ] {
        let (_, dump, _) = c.host().sh(&format!("{save} -t nat 2>/dev/null"));
        let keep: Vec<&str> = dump
            .lines()
            .filter(|l| {
                let drop = l.starts_with("-A") && l.contains("DNAT") && mentions(l);
                removed += usize::from(drop);
                !drop
            })
            .collect();
        if keep.len() < dump.lines().count() {
            let tmp = c.sb.dir().join(format!("{save}.rules"));
            std::fs::write(&tmp, keep.join("\n") + "\n").map_err(|e| e.to_string())?;
            c.host()
                .sh_ok(&format!("{restore} -w -T nat < {}", tmp.display()));
        }
    }
    // Native nftables: `nft -a` shows handles; track table and chain.
    let (_, listing, _) = c.host().sh("nft -a list ruleset 2>/dev/null");
    let (mut table, mut chain) = (String::new(), String::new());
    let mut deletes = Vec::new();
    for line in listing.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["table", fam, name, ..] => table = format!("{fam} {name}"),
            ["chain", name, ..] => chain = (*name).to_string(),
            _ if line.contains("dnat") && mentions(line) => {
                if let Some(h) = line
                    .rsplit("# handle ")
                    .next()
                    .filter(|h| h.trim().parse::<u64>().is_ok())
                {
                    deletes.push(format!(
                        "nft delete rule {table} {chain} handle {}",
                        h.trim()
                    ));
                }
            }
            _ => {}
        }
    }
    for d in &deletes {
        c.host().sh_ok(d);
        removed += 1;
    }
    Ok(removed)
}
