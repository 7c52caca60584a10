//! The firewall plugin, chained after bridge (spec 0.4.0 on, as the
//! reference claims): it passes prevResult through, lets the pod's
//! traffic through a FORWARD policy of DROP, removes exactly its own rules
//! on DEL (also without prevResult), checks without side effects, refuses
//! bad input before changing anything, and collects lost attachments.

use std::time::Duration;

use cni_sandbox::{TcpServer, tcp_probe};
use libcni::Version;
use serde_json::{Value, json};

use super::{ensure, first_v4, needs, sample_result};
use crate::case::{Case, CaseResult, SpecNeed};
use crate::ctx::{Attachment, Ctx, describe};
use crate::net::Net;
use crate::shape::{expect_error, expect_success};

const S: SpecNeed = SpecNeed::Run {
    min: Version::V0_4_0,
};
const V11: SpecNeed = SpecNeed::Fixed(Version::V1_1_0);

pub fn cases() -> Vec<Case> {
    let f = needs("firewall");
    vec![
        Case::new("add/firewall/accepts-and-passes-prev-result", S, f, accepts),
        Case::new(
            "datapath/firewall/forward-drop-to-outside",
            S,
            f,
            forward_drop,
        ),
        Case::new("del/firewall/removes-only-its-rules", S, f, del_own),
        Case::new("del/firewall/without-prev-result", S, f, del_without_prev),
        Case::new("check/firewall/after-add", S, f, check_after_add),
        Case::new("check/firewall/notices-a-missing-rule", S, f, check_missing),
        Case::new(
            "check/firewall/no-side-effects",
            S,
            f,
            check_no_side_effects,
        ),
        Case::new("bad-input/firewall/unknown-backend", S, f, |c| {
            bad_key(c, "backend", json!("pf"))
        }),
        Case::new("bad-input/firewall/admin-chain-too-long", S, f, |c| {
            bad_key(c, "iptablesAdminChainName", json!("A".repeat(29)))
        }),
        Case::new("bad-input/firewall/unknown-ingress-policy", S, f, |c| {
            bad_key(c, "ingressPolicy", json!("closed"))
        }),
        Case::new("bad-input/firewall/missing-prev-result", S, f, missing_prev),
        Case::new("gc/firewall/removes-stale-keeps-valid", V11, f, gc),
        Case::new("status/firewall/ready-on-fresh-node", V11, f, status),
    ]
}

/// bridge + firewall, the firewall's state in the case's temp dir (the
/// reference ignores the key).
fn net(c: &Ctx) -> Net {
    let mut n = c.bridge_net();
    if let Some(p) = n.list["plugins"].as_array_mut() {
        p.push(json!({"type": "firewall", "dataDir": c.sb.subdir("firewall")}));
    }
    n
}

/// The rule lines of the host's IPv4 filter table.
fn filter(c: &Ctx) -> Vec<String> {
    c.host()
        .iptables_filter(false)
        .into_iter()
        .filter(|l| l.starts_with("-A ") || (l.starts_with(':') && !l.contains(" ACCEPT")))
        .collect()
}

/// The two rules of `ip` as the reference writes them.
fn pod_rules(ip: &str) -> [String; 2] {
    [
        format!("-A CNI-FORWARD -d {ip}/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        format!("-A CNI-FORWARD -s {ip}/32 -j ACCEPT"),
    ]
}

fn has_pod_rules(c: &Ctx, ip: &str) -> bool {
    let f = filter(c);
    pod_rules(ip).iter().all(|r| f.contains(r))
}

fn mentions(c: &Ctx, ip: &str) -> bool {
    filter(c).iter().any(|l| l.contains(&format!("{ip}/")))
}

/// ADD the bridge alone, then return its result (the firewall's
/// prevResult) and the pod's address.
fn attach(c: &Ctx, net: &Net, att: &Attachment) -> Result<(Value, String), String> {
    let bridge_only = Net::new(net.version(), vec![net.plugins()[0].clone()]);
    let prev = c.add_ok(&bridge_only, att)?;
    let ip = first_v4(&prev, net.version())?.to_string();
    Ok((prev, ip))
}

fn firewall(
    c: &Ctx,
    net: &Net,
    verb: &str,
    att: &Attachment,
    prev: Option<&Value>,
) -> cni_sandbox::PluginRun {
    c.exec_plugin(net, 1, verb, att, prev)
}

fn accepts(c: &Ctx) -> CaseResult {
    let net = net(c);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let (prev, ip) = attach(c, &net, &att)?;
    let out = expect_success(&firewall(c, &net, "ADD", &att, Some(&prev)), "firewall ADD")?;
    ensure(out == prev, || {
        format!("the result is not prevResult: {out} != {prev}")
    })?;
    ensure(has_pod_rules(c, &ip), || {
        format!("no accept rules for {ip}: {:?}", filter(c))
    })?;
    let jump = "-A FORWARD -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD";
    ensure(filter(c).iter().any(|l| l == jump), || {
        format!("no FORWARD jump: {:?}", filter(c))
    })
}

fn forward_drop(c: &Ctx) -> CaseResult {
    c.host().sh_ok("iptables -P FORWARD DROP");
    let out = c.sb.outside();
    let server = TcpServer::start(&out, "192.0.2.2:0".parse().map_err(|_| "address")?);
    let net = net(c);
    let pod = c.pod();
    let att = c.attachment(&pod);
    c.add_ok(&net, &att)?;
    let reached = (0..3).any(|_| tcp_probe(&pod, server.addr, Duration::from_secs(2)).is_ok());
    ensure(reached, || {
        "with FORWARD DROP, the pod cannot reach the outside through the firewall's rules".into()
    })
}

fn del_own(c: &Ctx) -> CaseResult {
    let net = net(c);
    let (pa, pb) = (c.pod(), c.pod());
    let (a, b) = (c.attachment(&pa), c.attachment(&pb));
    let (prev_a, ip_a) = attach(c, &net, &a)?;
    let (prev_b, ip_b) = attach(c, &net, &b)?;
    for (att, prev) in [(&a, &prev_a), (&b, &prev_b)] {
        expect_success(&firewall(c, &net, "ADD", att, Some(prev)), "firewall ADD")?;
    }
    for _ in 0..2 {
        expect_success(&firewall(c, &net, "DEL", &a, Some(&prev_a)), "firewall DEL")?;
    }
    gone_and_kept(c, "DEL", &ip_a, &ip_b)
}

/// After `verb`, no rule names `gone` and the rules of `kept` are all there.
fn gone_and_kept(c: &Ctx, verb: &str, gone: &str, kept: &str) -> CaseResult {
    ensure(!mentions(c, gone), || {
        format!("rules of {gone} left after {verb}: {:?}", filter(c))
    })?;
    ensure(has_pod_rules(c, kept), || {
        format!("{verb} removed the rules of {kept}, which must stay")
    })
}

fn del_without_prev(c: &Ctx) -> CaseResult {
    let net = net(c);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let (prev, ip) = attach(c, &net, &att)?;
    expect_success(&firewall(c, &net, "ADD", &att, Some(&prev)), "firewall ADD")?;
    expect_success(&firewall(c, &net, "DEL", &att, None), "firewall DEL")?;
    ensure(!mentions(c, &ip), || {
        format!(
            "DEL without prevResult left the rules of {ip}: {:?}",
            filter(c)
        )
    })
}

fn check_after_add(c: &Ctx) -> CaseResult {
    let net = net(c);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let prev = c.add_ok(&net, &att)?;
    c.check_ok(&net, &att, &prev)
}

fn check_missing(c: &Ctx) -> CaseResult {
    let net = net(c);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let (prev, ip) = attach(c, &net, &att)?;
    expect_success(&firewall(c, &net, "ADD", &att, Some(&prev)), "firewall ADD")?;
    c.host()
        .sh_ok(&format!("iptables -D CNI-FORWARD -s {ip}/32 -j ACCEPT"));
    let run = firewall(c, &net, "CHECK", &att, Some(&prev));
    ensure(!run.ok(), || {
        format!(
            "CHECK passed with the rule of {ip} deleted: {}",
            describe(&run)
        )
    })?;
    expect_error(&run, &[]).map(|_| ())
}

fn check_no_side_effects(c: &Ctx) -> CaseResult {
    let net = net(c);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let before = filter(c);
    let prev = sample_result(pod.path_str(), net.version());
    let run = firewall(c, &net, "CHECK", &att, Some(&prev));
    ensure(!run.ok(), || {
        "CHECK passed on a node without any rule".into()
    })?;
    let after = filter(c);
    ensure(after == before, || {
        format!("CHECK changed the filter table: {before:?} -> {after:?}")
    })
}

fn bad_key(c: &Ctx, key: &str, value: Value) -> CaseResult {
    let net = net(c).set(&format!("/plugins/1/{key}"), value);
    let pod = c.pod();
    let att = c.attachment(&pod);
    let (prev, _) = attach(c, &net, &att)?;
    let before = filter(c);
    let run = firewall(c, &net, "ADD", &att, Some(&prev));
    expect_error(&run, &[7])?;
    ensure(filter(c) == before, || {
        format!("the refused ADD changed the filter table: {:?}", filter(c))
    })
}

fn missing_prev(c: &Ctx) -> CaseResult {
    let net = net(c);
    let pod = c.pod();
    let att = c.attachment(&pod);
    expect_error(&firewall(c, &net, "ADD", &att, None), &[7]).map(|_| ())
}

fn gc(c: &Ctx) -> CaseResult {
    let net = net(c);
    let (pk, ps) = (c.pod(), c.pod());
    let (keep, stale) = (c.attachment(&pk), c.attachment(&ps));
    let prev_k = c.add_ok(&net, &keep)?;
    let prev_s = c.add_ok(&net, &stale)?;
    let (ik, is) = (
        first_v4(&prev_k, net.version())?.to_string(),
        first_v4(&prev_s, net.version())?.to_string(),
    );
    c.gc(&net, &[&keep], &["cni.dev/valid-attachments"])?;
    gone_and_kept(c, "GC", &is, &ik)
}

fn status(c: &Ctx) -> CaseResult {
    let run = c.status(&net(c), 1);
    ensure(run.ok(), || {
        format!("STATUS failed on a usable node: {}", describe(&run))
    })
}
