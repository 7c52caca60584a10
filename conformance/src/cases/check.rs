//! CHECK (SPEC.md "CHECK", 0.4.0+): passes right after ADD, and fails
//! (error JSON, exit 1) after each kind of drift: an address, a route, the
//! interface, its MAC, the masquerade rules, the host port rules, the
//! lease in the IPAM store, loopback's `lo` going down; and bridge CHECK
//! fails, changing nothing, when its IPAM delegate cannot be run.

use libcni::Version;

use super::{Problems, ensure, first_v4, first_v6, needs};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::{Attachment, Ctx, describe};
use crate::net::{Net, plugin_conf};
use crate::shape::expect_error;
use crate::state::{Snapshot, store_records};

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
        Case::new("check/bridge/fails-after-masquerade-drift", s, b, |c| {
            drift(c, Drift::Masquerade)
        }),
        Case::new(
            "check/host-local/fails-after-lease-removed",
            s,
            needs("host-local"),
            |c| drift(c, Drift::Lease),
        ),
        Case::new(
            "check/loopback/fails-after-lo-down",
            s,
            needs("loopback"),
            |c| drift(c, Drift::LoDown),
        ),
        Case::new("check/bridge/fails-without-ipam-plugin", s, b, without_ipam),
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
    Masquerade,
    Lease,
    LoDown,
}

fn drift(c: &Ctx, kind: Drift) -> CaseResult {
    let pod = c.pod();
    let att = attach(c, &pod);
    // Rule drift uses a dual-stack pod so that a plugin passing CHECK
    // before the drift is not held back by plugins#819.
    let net = match kind {
        Drift::Rules => net(c, true, true),
        Drift::Lease => c.host_local_net(),
        Drift::LoDown => Net::loopback(c.version),
        _ => c.bridge_net(),
    };
    let r = c.add_ok(&net, &att)?;
    c.check_ok(&net, &att, &r)
        .map_err(|e| format!("CHECK failed before any drift: {e}"))?;
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
        Drift::Masquerade => {
            let ip4 = first_v4(&r, c.version)?;
            let n = remove_masquerade(c, &ip4.to_string())?;
            if n == 0 {
                return Err(format!(
                    "found no masquerade rule or chain for {ip4} in iptables or nftables to remove"
                ));
            }
            "the pod's masquerade rules were removed (ipMasq is on)"
        }
        Drift::Lease => {
            let records: Vec<String> = store_records(&c.data_dir)
                .into_iter()
                .filter(|(_, owner)| owner.contains(&att.id))
                .map(|(path, _)| path)
                .collect();
            if records.is_empty() {
                return Err(format!(
                    "found no store record of {} under the dataDir to remove",
                    att.id
                ));
            }
            for rec in &records {
                std::fs::remove_file(c.data_dir.join(rec))
                    .map_err(|e| format!("removing store record {rec}: {e}"))?;
            }
            "the container's lease was removed from the store"
        }
        Drift::LoDown => {
            pod.sh_ok("ip link set lo down");
            "lo was set down"
        }
        Drift::Rules => {
            let ip4 = first_v4(&r, c.version)?;
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

/// With its IPAM plugin out of reach, bridge CHECK cannot run the
/// delegate's CHECK (SPEC.md: CHECK must be passed to delegates), so it
/// fails: without CNI_PATH (required for CHECK) with code 4, with a
/// CNI_PATH lacking the plugin with any code; and changes nothing. CHECK
/// with the right CNI_PATH passes before and after.
fn without_ipam(c: &Ctx) -> CaseResult {
    let pod = c.pod();
    let att = c.attachment(&pod);
    let net = c.bridge_net();
    let r = c.add_ok(&net, &att)?;
    c.check_ok(&net, &att, &r)
        .map_err(|e| format!("CHECK failed with CNI_PATH intact: {e}"))?;
    let before = Snapshot::take(c);
    let links = pod.link_names();
    let stdin = plugin_conf(&net, &net.plugins()[0], &att.runtime, Some(&r)).to_string();
    let empty = c.sb.subdir("plugins-without-host-local");
    let missing = c.sb.dir().join("no-such-dir");
    let calls = [
        (
            "without CNI_PATH",
            c.call("CHECK", &att).without("CNI_PATH"),
            &[4][..],
        ),
        (
            "with CNI_PATH a directory without host-local",
            c.call("CHECK", &att)
                .env("CNI_PATH", &empty.to_string_lossy()),
            &[][..],
        ),
        (
            "with CNI_PATH a directory that does not exist",
            c.call("CHECK", &att)
                .env("CNI_PATH", &missing.to_string_lossy()),
            &[][..],
        ),
    ];
    let mut problems = Problems::default();
    for (label, call, codes) in calls {
        let run = c.exec("bridge", &call, &stdin);
        problems.note(
            expect_error(&run, codes)
                .map(|_| ())
                .map_err(|e| format!("CHECK {label}: {e}")),
        );
    }
    problems.note(before.expect_same(&Snapshot::take(c), "a failing CHECK changed the host"));
    problems.note(ensure(pod.link_names() == links, || {
        format!("a failing CHECK changed the pod's links: {links:?}")
    }));
    problems.note(
        c.check_ok(&net, &att, &r)
            .map_err(|e| format!("CHECK with CNI_PATH restored: {e}")),
    );
    problems.into_result()
}

/// Remove the masquerade state of pod address `ip`: in iptables (nat),
/// every POSTROUTING rule for `ip` and the chains they jump to; in native
/// nftables, every rule mentioning `ip` that masquerades or jumps. Returns
/// how many rules and chains were removed.
fn remove_masquerade(c: &Ctx, ip: &str) -> Result<usize, String> {
    let src = format!("{ip}/32");
    let mut removed = 0;
    let (_, dump, _) = c.host().sh("iptables-save -t nat 2>/dev/null");
    let words = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let mut chains: Vec<String> = Vec::new();
    for l in dump.lines().filter(|l| l.starts_with("-A POSTROUTING ")) {
        let w = words(l);
        if w.iter().any(|x| x == &src || x == ip)
            && let Some(i) = w.iter().position(|x| x == "-j" || x == "-g")
            && let Some(t) = w.get(i + 1)
            && t != "MASQUERADE"
            && t != "SNAT"
        {
            chains.push(t.clone());
        }
    }
    let keep: Vec<&str> = dump
        .lines()
        .filter(|l| {
            let w = words(l);
            let postrouting =
                l.starts_with("-A POSTROUTING ") && w.iter().any(|x| x == &src || x == ip);
            let of_chain = chains.iter().any(|ch| {
                w.first().is_some_and(|f| f == &format!(":{ch}"))
                    || (w.first().is_some_and(|f| f == "-A") && w.get(1) == Some(ch))
            });
            removed += usize::from(postrouting || of_chain);
            !(postrouting || of_chain)
        })
        .collect();
    if keep.len() < dump.lines().count() {
        let tmp = c.sb.dir().join("masquerade.rules");
        std::fs::write(&tmp, keep.join("\n") + "\n").map_err(|e| e.to_string())?;
        c.host()
            .sh_ok(&format!("iptables-restore -w -T nat < {}", tmp.display()));
    }
    removed += delete_nft_rules(c, |l| {
        l.contains(ip) && (l.contains("masquerade") || l.contains("jump") || l.contains("goto"))
    });
    Ok(removed)
}

/// Delete the native nftables rules whose `nft -a` line satisfies `pick`;
/// returns how many.
fn delete_nft_rules(c: &Ctx, pick: impl Fn(&str) -> bool) -> usize {
    let (_, listing, _) = c.host().sh("nft -a list ruleset 2>/dev/null");
    let (mut table, mut chain) = (String::new(), String::new());
    let mut deletes = Vec::new();
    for line in listing.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["table", fam, name, ..] => table = format!("{fam} {name}"),
            ["chain", name, ..] => chain = (*name).to_string(),
            _ if pick(line) => {
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
    }
    deletes.len()
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
    // Native nftables: `nft -a` shows handles.
    removed += delete_nft_rules(c, |l| l.contains("dnat") && mentions(l));
    Ok(removed)
}
