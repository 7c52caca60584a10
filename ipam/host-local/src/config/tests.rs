use serde_json::{Value, json};

use libcni::skel::{CmdArgs, Command};
use libcni::spec::{CniArgs, NetConf};

use super::*;

fn cmd(conf: Value, cni_args: &str) -> CmdArgs {
    let stdin = serde_json::to_vec(&conf).unwrap();
    let nc: NetConf = libcni::spec::conf::decode("c", &stdin).unwrap();
    CmdArgs {
        command: Command::Add,
        container_id: "c1".into(),
        netns: String::new(),
        ifname: "eth0".into(),
        args: CniArgs::parse(cni_args).unwrap(),
        path: Vec::new(),
        stdin,
        version: nc.version().unwrap(),
        conf: nc,
    }
}

fn net(ipam: Value) -> Value {
    json!({"cniVersion": "1.0.0", "name": "n", "type": "bridge", "ipam": ipam})
}

fn load(conf: Value) -> Result<Config, Error> {
    Config::load(&cmd(conf, ""), true)
}

fn err(conf: Value) -> Error {
    load(conf).unwrap_err()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn set_order_is_runtime_then_legacy_then_ranges() {
    let mut c = net(json!({
        "type": "host-local",
        "subnet": "10.2.0.0/24",
        "ranges": [[{"subnet": "10.3.0.0/24"}], [{"subnet": "fd00::/64"}]],
    }));
    c["runtimeConfig"] = json!({"ipRanges": [[{"subnet": "10.1.0.0/24"}]]});
    let conf = load(c).unwrap();
    let firsts: Vec<String> = conf
        .range_sets
        .iter()
        .map(|s| s.ranges[0].subnet.to_string())
        .collect();
    assert_eq!(
        firsts,
        ["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24", "fd00::/64"]
    );
    assert_eq!(conf.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert_eq!(conf.requested, [None, None, None, None]);
}

#[test]
fn legacy_keys_define_one_range() {
    let conf = load(net(json!({
        "type": "host-local", "subnet": "10.2.0.0/24",
        "rangeStart": "10.2.0.10", "rangeEnd": "10.2.0.20", "gateway": "10.2.0.254",
        "dataDir": "/tmp/x", "resolvConf": "/etc/resolv.conf",
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.9.0.0/16", "gw": "10.2.0.1", "mtu": 1400, "table": 100, "scope": 253}]
    })))
    .unwrap();
    let r = &conf.range_sets[0].ranges[0];
    assert_eq!(
        (r.start, r.end, r.gateway),
        (ip("10.2.0.10"), ip("10.2.0.20"), ip("10.2.0.254"))
    );
    assert_eq!(conf.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(conf.resolv_conf, Some(PathBuf::from("/etc/resolv.conf")));
    assert_eq!(conf.routes.len(), 2);
    assert_eq!(conf.routes[1].mtu, 1400);
    assert_eq!(conf.routes[1].table, Some(100));
    assert_eq!(conf.routes[1].scope, Some(253));
}

#[test]
fn empty_strings_mean_unset_like_go() {
    let conf = load(net(json!({
        "type": "host-local",
        "ranges": [[{"subnet": "10.2.0.0/24", "rangeStart": "", "gateway": ""}]],
        "dataDir": ""
    })))
    .unwrap();
    assert_eq!(conf.range_sets[0].ranges[0].start, ip("10.2.0.1"));
    assert_eq!(conf.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
}

#[test]
fn missing_pieces_are_code_7() {
    let e = err(json!({"cniVersion": "1.0.0", "name": "n"}));
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("\"ipam\""), "{}", e.msg);
    let e = err(net(json!({"type": "host-local"})));
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("ipam.ranges"), "{}", e.msg);
    let e = err(net(
        json!({"type": "host-local", "ranges": [[{"rangeStart": "10.0.0.5"}]]}),
    ));
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("ipam.ranges[0][0].subnet"), "{}", e.msg);
    let e = err(net(json!({"type": "host-local", "ranges": [[]]})));
    assert!(e.msg.contains("ipam.ranges[0]"), "{}", e.msg);
}

#[test]
fn undecodable_values_are_code_6_with_the_key() {
    let e = err(net(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0"}]]}),
    ));
    assert_eq!(e.code, 6);
    assert!(e.msg.contains("ipam.ranges[0][0].subnet"), "{}", e.msg);
    let e = err(net(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24", "gateway": "x"}]]}),
    ));
    assert_eq!(e.code, 6);
    assert!(e.msg.contains("gateway"), "{}", e.msg);
    let e = err(net(
        json!({"type": "host-local", "subnet": "10.0.0.0/24", "dataDir": 5}),
    ));
    assert_eq!(e.code, 6);
}

#[test]
fn range_problems_name_the_key() {
    let e = err(net(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.1.0.5/24"}]]}),
    ));
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("ipam.ranges[1][0].subnet") && e.msg.contains("host bits"),
        "{}",
        e.msg
    );
    let e = err(net(json!({"type": "host-local", "subnet": "10.0.0.0/32"})));
    assert!(
        e.msg.contains("ipam.subnet") && e.msg.contains("too small"),
        "{}",
        e.msg
    );
    let e = err(net(
        json!({"type": "host-local", "ranges": [[{"subnet": "fd00::/127"}]]}),
    ));
    assert!(e.msg.contains("too small"), "{}", e.msg);
    let e = err(net(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.1.9"}]]}),
    ));
    assert!(e.msg.contains("ipam.ranges[0][0].rangeEnd"), "{}", e.msg);
    let e = err(net(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]}),
    ));
    assert!(e.msg.contains("mixes address families"), "{}", e.msg);
}

#[test]
fn overlapping_sets_are_rejected() {
    let e = err(net(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/16"}], [{"subnet": "10.0.5.0/24"}]]}),
    ));
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("range set 0") && e.msg.contains("range set 1"),
        "{}",
        e.msg
    );
    // The legacy range counts too.
    let e = err(net(
        json!({"type": "host-local", "subnet": "10.0.0.0/24", "ranges": [[{"subnet": "10.0.0.0/24"}]]}),
    ));
    assert!(e.msg.contains("overlaps"), "{}", e.msg);
    // Disjoint windows of one subnet in two sets are allowed.
    load(net(json!({"type": "host-local", "ranges": [
        [{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.2", "rangeEnd": "10.0.0.9"}],
        [{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.19"}]]})))
    .unwrap();
}

#[test]
fn old_versions_get_one_address_per_family() {
    let two_v4 = json!({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.1.0.0/24"}]]});
    let mut c = net(two_v4.clone());
    c["cniVersion"] = json!("0.2.0");
    let e = err(c);
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("0.2.0") && e.msg.contains("0.3.0"),
        "{}",
        e.msg
    );
    let mut c = net(two_v4);
    c["cniVersion"] = json!("0.3.0");
    load(c).unwrap();
    let mut c = net(
        json!({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "fd00::/64"}]]}),
    );
    c["cniVersion"] = json!("0.1.0");
    load(c).unwrap();
}

fn dual() -> Value {
    net(json!({"type": "host-local", "ranges": [
        [{"subnet": "10.0.0.0/24"}], [{"subnet": "10.1.0.0/24"}], [{"subnet": "fd00::/64"}]]}))
}

#[test]
fn requested_addresses_are_merged_and_placed() {
    let mut c = dual();
    c["args"] = json!({"cni": {"ips": ["10.1.0.7/24"]}});
    c["runtimeConfig"] = json!({"ips": ["fd00::7", "10.1.0.7"]});
    let conf = Config::load(&cmd(c, "IP=10.0.0.5"), true).unwrap();
    assert_eq!(
        conf.requested,
        [
            Some(ip("10.0.0.5")),
            Some(ip("10.1.0.7")),
            Some(ip("fd00::7"))
        ]
    );
    // A comma list in CNI_ARGS; IgnoreUnknown handled by the skeleton.
    let conf = Config::load(&cmd(dual(), "IP=10.1.0.9, fd00::9"), true).unwrap();
    assert_eq!(
        conf.requested,
        [None, Some(ip("10.1.0.9")), Some(ip("fd00::9"))]
    );
    // Not read unless asked for.
    let conf = Config::load(&cmd(dual(), "IP=10.1.0.9"), false).unwrap();
    assert_eq!(conf.requested, [None, None, None]);
}

#[test]
fn bad_requests_name_the_address() {
    let e = Config::load(&cmd(dual(), "IP=10.9.0.1"), true).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(
        e.msg.contains("10.9.0.1") && e.msg.contains("not in any range set"),
        "{}",
        e.msg
    );
    let e = Config::load(&cmd(dual(), "IP=10.0.0.1"), true).unwrap_err();
    assert!(
        e.msg.contains("10.0.0.1") && e.msg.contains("gateway"),
        "{}",
        e.msg
    );
    let e = Config::load(&cmd(dual(), "IP=10.0.0.5,10.0.0.6"), true).unwrap_err();
    assert!(
        e.msg.contains("10.0.0.5") && e.msg.contains("10.0.0.6"),
        "{}",
        e.msg
    );
    let e = Config::load(&cmd(dual(), "IP=banana"), true).unwrap_err();
    assert_eq!(e.code, 4);
    assert!(e.msg.contains("banana"), "{}", e.msg);
    let mut c = dual();
    c["runtimeConfig"] = json!({"ips": ["10.0.0.300"]});
    let e = load(c).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("runtimeConfig.ips"), "{}", e.msg);
}

/// Repeated and empty `IP=` as in the reference, which decodes each
/// occurrence into one field: the last one is the request, an empty one
/// requests nothing, and an invalid one is an error wherever it is.
#[test]
fn repeated_and_empty_ip_args_follow_the_reference() {
    let requested =
        |cni_args: &str| Config::load(&cmd(dual(), cni_args), true).map(|c| c.requested);
    assert_eq!(
        requested("IP=10.0.0.5;IP=10.0.0.6").unwrap(),
        [Some(ip("10.0.0.6")), None, None]
    );
    assert_eq!(
        requested("IP=10.0.0.5,fd00::5;IP=fd00::6").unwrap(),
        [None, None, Some(ip("fd00::6"))]
    );
    assert_eq!(requested("IP=").unwrap(), [None, None, None]);
    assert_eq!(requested("IP=10.0.0.5;IP=").unwrap(), [None, None, None]);
    assert_eq!(
        requested("IP=;IP=10.0.0.5").unwrap(),
        [Some(ip("10.0.0.5")), None, None]
    );
    for s in ["IP=banana;IP=10.0.0.6", "IP=10.0.0.6;IP=banana"] {
        let e = requested(s).unwrap_err();
        assert_eq!(e.code, 4, "{s}");
        assert!(e.msg.contains("banana"), "{s}: {}", e.msg);
    }
}

#[test]
fn requested_parse_forms() {
    assert_eq!(parse_requested(" 10.0.0.5 "), Some(ip("10.0.0.5")));
    assert_eq!(parse_requested("10.0.0.5/24"), Some(ip("10.0.0.5")));
    assert_eq!(parse_requested("::ffff:10.0.0.5"), Some(ip("10.0.0.5")));
    assert_eq!(parse_requested("fd00::5/64"), Some(ip("fd00::5")));
    assert_eq!(parse_requested("10.0.0.5/99"), None);
    assert_eq!(parse_requested(""), None);
}

#[test]
fn lenient_data_dir_ignores_the_rest() {
    let bad = br#"{"name":"n","ipam":{"dataDir":"/d","ranges":"nonsense"}}"#;
    assert_eq!(data_dir_lenient(bad).unwrap(), PathBuf::from("/d"));
    assert_eq!(
        data_dir_lenient(br#"{"name":"n"}"#).unwrap(),
        PathBuf::from(DEFAULT_DATA_DIR)
    );
    assert_eq!(
        data_dir_lenient(br#"{"ipam":{"dataDir":3}}"#)
            .unwrap_err()
            .code,
        6
    );
    assert_eq!(
        data_dir_lenient(b"{\"ipam\":{\"dataDir\":\"a\\u0000b\"}}")
            .unwrap_err()
            .code,
        7
    );
}
