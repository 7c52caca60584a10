use super::*;

fn p() -> &'static Path {
    Path::new("/run/flannel/subnet.env")
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn reads_what_flanneld_writes() {
    let env = parse(
        p(),
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    )
    .unwrap();
    assert_eq!(
        env,
        SubnetEnv {
            networks: vec![net("10.244.0.0/16")],
            ipv6_networks: vec![],
            subnet: Some(net("10.244.1.0/24")),
            ipv6_subnet: None,
            mtu: 1450,
            ipmasq: true,
        }
    );
}

#[test]
fn dual_stack_and_lists_with_duplicates_dropped() {
    let env = parse(
        p(),
        "FLANNEL_NETWORK=10.244.0.0/16,10.245.0.5/16,10.244.0.0/16\n\
         FLANNEL_SUBNET=10.244.1.1/24\n\
         FLANNEL_IPV6_NETWORK=fd00:10:244::/56\n\
         FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\n\
         FLANNEL_MTU=1400\n\
         FLANNEL_IPMASQ=false\n",
    )
    .unwrap();
    assert_eq!(
        env.networks,
        vec![net("10.244.0.0/16"), net("10.245.0.0/16")]
    );
    assert_eq!(env.ipv6_networks, vec![net("fd00:10:244::/56")]);
    assert_eq!(env.ipv6_subnet, Some(net("fd00:10:244:1::/64")));
    assert_eq!(env.mtu, 1400);
    assert!(!env.ipmasq);
}

#[test]
fn ipv6_only_is_complete() {
    let env = parse(
        p(),
        "FLANNEL_IPV6_NETWORK=fd00::/48\nFLANNEL_IPV6_SUBNET=fd00:0:0:3::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true",
    )
    .unwrap();
    assert!(env.networks.is_empty() && env.subnet.is_none());
    assert_eq!(env.ipv6_subnet, Some(net("fd00:0:0:3::/64")));
}

#[test]
fn only_the_exact_text_true_is_true() {
    for (text, want) in [
        ("true", true),
        ("True", false),
        ("1", false),
        ("", false),
        ("true ", false),
    ] {
        let env = parse(
            p(),
            &format!("FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.1.0.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ={text}\n"),
        )
        .unwrap();
        assert_eq!(env.ipmasq, want, "{text:?}");
    }
}

#[test]
fn crlf_unknown_keys_blank_lines_comments_and_later_lines() {
    let env = parse(
        p(),
        "# written by hand\r\n\r\nFOO=bar\r\nFLANNEL_NETWORK=10.0.0.0/8\r\nFLANNEL_SUBNET=10.1.0.1/24\r\n\
         FLANNEL_SUBNET=10.2.0.1/24\r\nFLANNEL_MTU=1500\r\nFLANNEL_IPMASQ=true\r\nnonsense line\r\n",
    )
    .unwrap();
    assert_eq!(env.subnet, Some(net("10.2.0.0/24")));
    assert!(
        env.ipmasq,
        "the \\r before the newline is not part of the value"
    );
}

#[test]
fn missing_keys_are_listed() {
    let e = parse(p(), "FLANNEL_SUBNET=10.244.1.1/24\n").unwrap_err();
    assert_eq!(
        e,
        LoadError::Incomplete(
            p().to_path_buf(),
            vec![
                "FLANNEL_NETWORK or FLANNEL_IPV6_NETWORK",
                "FLANNEL_MTU",
                "FLANNEL_IPMASQ"
            ]
        )
    );
    let msg = e.to_string();
    assert!(
        msg.contains("/run/flannel/subnet.env is missing FLANNEL_NETWORK"),
        "{msg}"
    );
    assert!(msg.contains("check that flanneld runs"), "{msg}");
    let e = parse(p(), "").unwrap_err();
    let LoadError::Incomplete(_, missing) = e else {
        panic!("{e:?}")
    };
    assert_eq!(missing.len(), 4);
}

#[test]
fn a_key_without_equals_is_an_error_naming_the_line() {
    let e = parse(p(), "FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_MTU\n").unwrap_err();
    assert_eq!(
        e,
        LoadError::Invalid {
            path: p().to_path_buf(),
            line: 2,
            why: "FLANNEL_MTU has no '=' and no value".into()
        }
    );
}

#[test]
fn garbage_values_are_errors() {
    for (line, needle) in [
        (
            "FLANNEL_NETWORK=10.0.0.0",
            "FLANNEL_NETWORK=\"10.0.0.0\" is not a CIDR",
        ),
        ("FLANNEL_NETWORK=", "FLANNEL_NETWORK=\"\" is not a CIDR"),
        ("FLANNEL_NETWORK=10.0.0.0/8,", "is not a CIDR"),
        ("FLANNEL_SUBNET=banana/24", "FLANNEL_SUBNET=\"banana/24\""),
        ("FLANNEL_IPV6_SUBNET=fd00::/129", "FLANNEL_IPV6_SUBNET"),
        (
            "FLANNEL_MTU= 1450",
            "FLANNEL_MTU=\" 1450\" is not a decimal number",
        ),
        ("FLANNEL_MTU=-1", "is not a decimal number"),
        ("FLANNEL_MTU=4294967296", "is not a decimal number"),
    ] {
        let e = parse(p(), &format!("FLANNEL_IPMASQ=true\n{line}\n")).unwrap_err();
        let LoadError::Invalid { line: n, why, .. } = &e else {
            panic!("{line}: {e:?}")
        };
        assert_eq!(*n, 2, "{line}");
        assert!(why.contains(needle), "{line}: {why}");
    }
}

#[test]
fn codes_for_add_and_status() {
    let missing = LoadError::Missing(p().to_path_buf());
    let add = missing.for_add();
    assert_eq!(add.code, 11);
    // The reference's words first (runbooks search for them), then ours.
    assert!(
        add.msg.starts_with(
            "failed to load flannel 'subnet.env' file: open /run/flannel/subnet.env: no such file or directory"
        ),
        "{}",
        add.msg
    );
    assert!(
        add.msg.contains("check that flanneld runs on this node"),
        "{}",
        add.msg
    );
    assert!(
        add.msg
            .ends_with("Check the flannel pod log for this node."),
        "{}",
        add.msg
    );
    assert_eq!(missing.for_status().code, 50);
    let incomplete = LoadError::Incomplete(p().to_path_buf(), vec!["FLANNEL_MTU"]);
    assert_eq!(incomplete.for_add().code, 11);
    assert_eq!(incomplete.for_status().code, 50);
    let invalid = LoadError::Invalid {
        path: p().to_path_buf(),
        line: 1,
        why: "x".into(),
    };
    assert_eq!(invalid.for_add().code, crate::code::SUBNET_ENV_INVALID);
    assert_eq!(invalid.for_status().code, 50);
    assert_eq!(
        LoadError::Unreadable(p().to_path_buf(), "EACCES".into())
            .for_add()
            .code,
        5
    );
}

#[test]
fn load_tells_missing_from_unreadable() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("subnet.env");
    assert_eq!(load(&f).unwrap_err(), LoadError::Missing(f.clone()));
    assert!(matches!(
        load(d.path()).unwrap_err(),
        LoadError::Unreadable(..)
    ));
    std::fs::write(&f, "FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.0.5.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n").unwrap();
    assert_eq!(load(&f).unwrap().subnet, Some(net("10.0.5.0/24")));
}
