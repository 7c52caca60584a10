use libcni::skel::Command;
use serde_json::json;

use super::*;

fn parse_json(v: serde_json::Value) -> Result<Conf, Error> {
    let args = CmdArgs::from_config(Command::Add, "c1", "eth0", v.to_string().into_bytes())?;
    parse(&args)
}

#[test]
fn defaults_are_the_references() {
    let c = parse_json(json!({"name": "cbr0", "cniVersion": "0.3.1", "type": "flannel"})).unwrap();
    assert_eq!(c.subnet_file, PathBuf::from("/run/flannel/subnet.env"));
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/cni/flannel"));
    assert!(c.delegate.is_empty() && c.ipam.is_none() && c.runtime_config.is_none());
    let c = parse_json(json!({"name": "n", "type": "flannel", "subnetFile": "", "dataDir": ""}))
        .unwrap();
    assert_eq!(
        c.data_dir,
        PathBuf::from(DEFAULT_DATA_DIR),
        "empty means default"
    );
}

#[test]
fn keys_are_read() {
    let c = parse_json(
        json!({"name": "n", "cniVersion": "1.0.0", "type": "flannel",
        "subnetFile": "/tmp/s.env", "dataDir": "/tmp/d", "delegate": {"hairpinMode": true},
        "ipam": {"type": "host-local"}, "runtimeConfig": {"x": 1}}),
    )
    .unwrap();
    assert_eq!(c.subnet_file, PathBuf::from("/tmp/s.env"));
    assert_eq!(c.data_dir, PathBuf::from("/tmp/d"));
    assert_eq!(c.delegate["hairpinMode"], json!(true));
    assert_eq!(c.ipam.unwrap()["type"], json!("host-local"));
    assert_eq!(c.runtime_config.unwrap()["x"], json!(1));
}

#[test]
fn delegate_may_not_set_name_or_ipam_and_type_is_a_string() {
    for (delegate, needle) in [
        (json!({"name": "x"}), "must not set \"name\""),
        (
            json!({"ipam": {}}),
            "move \"ipam\" from \"delegate\" to the top level",
        ),
        (
            json!({"type": 5}),
            "\"delegate.type\" must be a plugin name",
        ),
    ] {
        let e =
            parse_json(json!({"name": "n", "type": "flannel", "delegate": delegate})).unwrap_err();
        assert_eq!(e.code, 7, "{delegate}");
        assert!(e.msg.contains(needle), "{}", e.msg);
    }
}

#[test]
fn wrong_types_are_decoding_errors() {
    for bad in [
        json!({"delegate": []}),
        json!({"ipam": "x"}),
        json!({"subnetFile": 1}),
    ] {
        let mut v = json!({"name": "n", "type": "flannel"});
        v.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        assert_eq!(parse_json(v).unwrap_err().code, 6);
    }
}

#[test]
fn relative_paths_are_refused() {
    for key in ["subnetFile", "dataDir"] {
        let e = parse_json(json!({"name": "n", "type": "flannel", key: "rel/dir"})).unwrap_err();
        assert_eq!(e.code, 7);
        assert!(
            e.msg.contains(key) && e.msg.contains("absolute"),
            "{}",
            e.msg
        );
    }
}
