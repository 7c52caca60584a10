use super::*;
use libcni::spec::error::code;
use serde_json::json;

fn conf(v: serde_json::Value) -> Result<Conf, Error> {
    conf_env(v, "")
}

fn conf_env(v: serde_json::Value, env: &str) -> Result<Conf, Error> {
    parse(v.to_string().as_bytes(), &CniArgs::parse(env).unwrap())
}

fn base() -> serde_json::Value {
    json!({"cniVersion": "1.0.0", "name": "n", "type": "tuning"})
}

fn with(extra: serde_json::Value) -> serde_json::Value {
    let mut b = base();
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

#[test]
fn defaults_change_nothing() {
    let c = conf(base()).unwrap();
    assert!(c.sysctls.is_empty());
    assert!(!c.tunes_link());
    assert_eq!(c.data_dir, PathBuf::from("/run/cni/tuning"));
    // null is the same as absent.
    let c = conf(with(
        json!({"sysctl": null, "mtu": null, "txQLen": null, "allmulti": null,
                            "promisc": null, "mac": null, "args": null, "runtimeConfig": null}),
    ))
    .unwrap();
    assert!(!c.tunes_link());
}

#[test]
fn mac_precedence_is_args_then_runtime_then_env_then_top_level() {
    let top = "0a:00:00:00:00:01";
    let env = "0a:00:00:00:00:02";
    let rt = "0a:00:00:00:00:03";
    let arg = "0a:00:00:00:00:04";
    let all = with(json!({"mac": top, "runtimeConfig": {"mac": rt},
                          "args": {"cni": {"mac": arg}}}));
    let env_args = format!("IgnoreUnknown=1;MAC={env}");
    let m = conf_env(all.clone(), &env_args).unwrap().mac.unwrap();
    assert_eq!((m.raw.as_str(), m.source), (arg, "args.cni.mac"));
    let mut no_args = all.clone();
    no_args["args"]["cni"]["mac"] = json!("");
    let m = conf_env(no_args.clone(), &env_args).unwrap().mac.unwrap();
    assert_eq!(m.raw, rt);
    no_args["runtimeConfig"] = json!({});
    let m = conf_env(no_args.clone(), &env_args).unwrap().mac.unwrap();
    assert_eq!(m.raw, env);
    let m = conf(no_args).unwrap().mac.unwrap();
    assert_eq!((m.raw.as_str(), m.source), (top, "mac"));
}

#[test]
fn mac_keeps_its_spelling_and_bad_macs_are_code_7_naming_the_source() {
    let m = conf(with(json!({"mac": "0A-58-0A-F4-00-02"})))
        .unwrap()
        .mac
        .unwrap();
    assert_eq!(m.raw, "0A-58-0A-F4-00-02");
    assert_eq!(m.addr.to_string(), "0a:58:0a:f4:00:02");
    let e = conf_env(base(), "MAC=zz").unwrap_err();
    assert_eq!(e.code, code::INVALID_NETWORK_CONFIG);
    assert!(
        e.msg.contains("CNI_ARGS MAC") && e.msg.contains("\"zz\""),
        "{}",
        e.msg
    );
    // A bad MAC that loses to a good one is not used, so not an error.
    conf(with(
        json!({"mac": "bad", "args": {"cni": {"mac": "0a:00:00:00:00:09"}}}),
    ))
    .unwrap();
}

#[test]
fn args_cni_overrides_other_keys_as_the_reference_does() {
    let c = conf(with(json!({
        "promisc": true, "mtu": 1400, "allmulti": false, "txQLen": 10,
        "args": {"cni": {"promisc": false, "mtu": 0, "allmulti": true, "txQLen": 0}}
    })))
    .unwrap();
    // promisc false and mtu 0 in args do not override.
    assert!(c.promisc);
    assert_eq!(c.mtu, Some(1400));
    assert_eq!(c.allmulti, Some(true));
    assert_eq!(c.txqlen, Some(0));
    let c = conf(with(
        json!({"args": {"cni": {"promisc": true, "mtu": 9000}}}),
    ))
    .unwrap();
    assert!(c.promisc);
    assert_eq!(c.mtu, Some(9000));
    // args without cni, or with other namespaces, are fine (the
    // reference panics on the first).
    conf(with(json!({"args": {}}))).unwrap();
    conf(with(json!({"args": {"labels": {"a": "b"}}}))).unwrap();
}

#[test]
fn args_sysctls_merge_even_without_a_top_level_map() {
    let c = conf(with(
        json!({"args": {"cni": {"sysctl": {"net.core.somaxconn": "9"}}}}),
    ))
    .unwrap();
    assert_eq!(c.sysctls.len(), 1);
    let c = conf(with(json!({
        "sysctl": {"net.core.somaxconn": "1", "net.ipv4.conf.IFNAME.arp_notify": "1"},
        "args": {"cni": {"sysctl": {"net.core.somaxconn": "2", "net.ipv6.conf.IFNAME.accept_ra": "0"}}}
    })))
    .unwrap();
    let got: Vec<(&str, &str)> = c
        .sysctls
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("net.core.somaxconn", "2"),
            ("net.ipv4.conf.IFNAME.arp_notify", "1"),
            ("net.ipv6.conf.IFNAME.accept_ra", "0"),
        ]
    );
}

#[test]
fn duplicate_and_non_string_sysctls_are_code_7() {
    let text = r#"{"cniVersion":"1.0.0","name":"n","type":"tuning",
        "sysctl":{"net.core.somaxconn":"1","net.core.somaxconn":"2"}}"#;
    let e = parse(text.as_bytes(), &CniArgs::default()).unwrap_err();
    assert_eq!(e.code, code::INVALID_NETWORK_CONFIG);
    assert!(e.msg.contains("duplicated sysctl keys"), "{}", e.msg);
    let e = conf(with(json!({"sysctl": {"net.core.somaxconn": 1024}}))).unwrap_err();
    assert_eq!(e.code, code::INVALID_NETWORK_CONFIG);
    assert!(
        e.msg.contains("net.core.somaxconn") && e.msg.contains("\"1024\""),
        "{}",
        e.msg
    );
    let e = conf(with(json!({"args": {"cni": {"sysctl": {"a.b": ["x"]}}}}))).unwrap_err();
    assert!(e.msg.contains("args.cni.sysctl.a.b"), "{}", e.msg);
    // A list instead of an object is a decoding error naming the key.
    let e = conf(with(json!({"sysctl": ["net.core.somaxconn=1"]}))).unwrap_err();
    assert_eq!(e.code, code::DECODING_FAILURE);
    assert!(e.msg.contains("sysctl"), "{}", e.msg);
}

#[test]
fn numbers_out_of_range_are_code_7() {
    for (k, v) in [("mtu", -1i64), ("txQLen", -5), ("mtu", 1 << 33)] {
        let e = conf(with(json!({ k: v }))).unwrap_err();
        assert_eq!(e.code, code::INVALID_NETWORK_CONFIG, "{k}");
        assert!(e.msg.starts_with(k), "{}", e.msg);
    }
    let e = conf(with(json!({"args": {"cni": {"txQLen": -1}}}))).unwrap_err();
    assert!(e.msg.starts_with("args.cni.txQLen"), "{}", e.msg);
    let e = conf(with(json!({"mtu": "1500"}))).unwrap_err();
    assert_eq!(e.code, code::DECODING_FAILURE);
}

#[test]
fn data_dir_must_be_absolute() {
    let c = conf(with(json!({"dataDir": "/tmp/t"}))).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/tmp/t"));
    let e = conf(with(json!({"dataDir": "relative/dir"}))).unwrap_err();
    assert_eq!(e.code, code::INVALID_NETWORK_CONFIG);
    assert!(e.msg.contains("dataDir"), "{}", e.msg);
}

#[test]
fn teardown_reads_only_the_data_dir_and_never_fails() {
    let td = |v: serde_json::Value| teardown_data_dir(v.to_string().as_bytes());
    assert_eq!(td(base()), Some(PathBuf::from(DEFAULT_DATA_DIR)));
    assert_eq!(
        td(with(json!({"dataDir": "/x", "mtu": "bad", "mac": "bad"}))),
        Some(PathBuf::from("/x"))
    );
    assert_eq!(td(with(json!({"dataDir": "rel"}))), None);
    assert_eq!(td(with(json!({"dataDir": 5}))), None);
}

#[test]
fn sysctl_paths_name_the_bad_key() {
    let c = conf(with(
        json!({"sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1",
                                        "kernel.hostname": "x"}}),
    ))
    .unwrap();
    let e = c.sysctl_paths("eth0").unwrap_err();
    assert_eq!(e.code, code::INVALID_NETWORK_CONFIG);
    assert!(e.msg.contains("kernel.hostname"), "{}", e.msg);
    let c = conf(with(
        json!({"sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}}),
    ))
    .unwrap();
    let p = c.sysctl_paths("eth0.100").unwrap();
    assert_eq!(p[0].1, "net/ipv4/conf/eth0.100/arp_notify");
}
