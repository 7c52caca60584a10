//! `cnitool doctor` as tools see it: the `--json` shape, the exit codes
//! (0 healthy, 1 findings, 2 could not inspect), text without colour when
//! not on a terminal, `--conf-dir`, and missing tools as findings rather
//! than crashes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Node;
use serde_json::Value;

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn json_shape_and_exit_codes() {
    let node = Node::new();
    node.simple("pods", "cnid0", "10.88.0.0/24");

    let healthy = node.doctor(&[]);
    assert_eq!(healthy.code, 0);
    assert_eq!(
        keys(&healthy.json),
        ["counts", "exitCode", "findings", "healthy", "inspected"]
    );
    assert_eq!(healthy.json["healthy"], true);
    assert_eq!(healthy.json["exitCode"], 0);
    assert_eq!(
        keys(&healthy.json["inspected"]),
        ["attachments", "binDirs", "cacheDir", "confDirs", "networks"]
    );
    assert_eq!(
        healthy.json["inspected"]["cacheDir"],
        node.cache.display().to_string()
    );

    node.sb.host.sh_ok("sysctl -qw net.ipv4.ip_forward=0");
    let sick = node.doctor(&[]);
    assert_eq!(sick.code, 1);
    assert_eq!(sick.json["exitCode"], 1);
    assert_eq!(sick.json["counts"]["error"], 1);
    let f = &sick.findings()[0];
    assert_eq!(
        keys(f),
        [
            "evidence", "fix", "id", "items", "note", "severity", "summary", "why"
        ]
    );
    assert_eq!(f["id"], "ip-forward-off");
    assert_eq!(f["severity"], "error");
    node.sb.host.sh_ok("sysctl -qw net.ipv4.ip_forward=1");

    // A cache dir that cannot be read: not inspected, exit 2.
    let file = node.sb.dir().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let out = node
        .command(&common::cnitool())
        .args(["doctor", "--json"])
        .env("CNI_CACHE_DIR", &file)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(v["healthy"], false);
    assert_eq!(v["counts"]["unknown"], 1);
    assert_eq!(v["findings"][0]["id"], "not-inspected");
    assert_eq!(v["findings"][0]["severity"], "unknown");
    assert!(
        v["findings"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("could not inspect the result cache"),
        "{v:#}"
    );
}

#[test]
fn text_report_and_conf_dir_flag() {
    let node = Node::new();
    let other = node.sb.subdir("other.d");
    node.simple("pods", "cnid0", "10.88.0.0/24");
    std::fs::rename(
        node.conf.join("10-pods.conflist"),
        other.join("10-pods.conflist"),
    )
    .unwrap();
    node.sb.host.sh_ok("sysctl -qw net.ipv4.ip_forward=0");
    // NETCONFPATH (empty now) is replaced by --conf-dir.
    let (code, text, _) = node.cnitool(&["doctor", "--conf-dir", other.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.starts_with("1 errors, 0 warnings, 0 not inspected"),
        "{text}"
    );
    assert!(text.contains("ERROR [ip-forward-off]"), "{text}");
    assert!(
        text.contains("  fix:      sysctl -w net.ipv4.ip_forward=1"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "colour on a pipe: {text}");
    // Without any network config: a warning.
    let (code, text, _) = node.cnitool(&["doctor"], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("[no-networks]"), "{text}");
}

/// Without any listing tool the doctor still answers: every firewall
/// listing it could not make is a "could not inspect" finding.
#[test]
fn missing_tools_are_findings_not_crashes() {
    let node = Node::new();
    node.simple("pods", "cnid0", "10.88.0.0/24");
    let mut opts = cni_doctor::Options::node_defaults();
    opts.conf_dirs = vec![node.conf.clone()];
    opts.bin_dirs = vec![node.bin.clone()];
    opts.cache_dir = node.cache.clone();
    opts.tool_dirs = vec![node.sb.subdir("no-tools")];
    let report = node.sb.host.run(|| cni_doctor::inspect(&opts));
    assert_eq!(
        report.exit_code(),
        cni_doctor::EXIT_UNINSPECTED,
        "{}",
        report.render(false)
    );
    let whats: Vec<&str> = report.findings.iter().map(|f| f.summary.as_str()).collect();
    assert!(
        whats.contains(&"could not inspect the nftables ruleset"),
        "{whats:?}"
    );
    assert!(
        whats.contains(&"could not inspect the iptables-nft rules (IPv4)"),
        "{whats:?}"
    );
    let nft = report
        .findings
        .iter()
        .find(|f| f.summary.contains("nftables ruleset"))
        .unwrap();
    assert_eq!(nft.fix.as_deref(), Some("apt-get install nftables"));
    assert!(nft.why.contains("nft is not installed"), "{}", nft.why);
}
