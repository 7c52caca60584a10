use std::path::Path;

use libcni::skel::{CmdArgs, Command};
use serde_json::json;

use super::*;
use crate::config;
use crate::subnet_env;

fn conf(v: serde_json::Value) -> Conf {
    let args =
        CmdArgs::from_config(Command::Add, "c1", "eth0", v.to_string().into_bytes()).unwrap();
    config::parse(&args).unwrap()
}

fn env(text: &str) -> SubnetEnv {
    subnet_env::parse(Path::new("subnet.env"), text).unwrap()
}

const KUBE_FLANNEL_ENV: &str = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

/// kube-flannel's conflist, first plugin, as the runtime passes it.
fn kube_flannel() -> serde_json::Value {
    json!({"name": "cbr0", "cniVersion": "0.3.1", "type": "flannel",
           "delegate": {"hairpinMode": true, "isDefaultGateway": true}})
}

#[test]
fn kube_flannel_delegate_is_byte_for_byte_the_references() {
    let d = build(&conf(kube_flannel()), &env(KUBE_FLANNEL_ENV)).unwrap();
    let bytes = to_bytes(&d).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}"#
    );
}

#[test]
fn k3s_delegate_is_the_references() {
    let c = conf(
        json!({"name": "cbr0", "cniVersion": "1.0.0", "type": "flannel",
        "delegate": {"hairpinMode": true, "forceAddress": true, "isDefaultGateway": true}}),
    );
    let e = env(
        "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.0.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    let d = build(&c, &e).unwrap();
    assert_eq!(
        String::from_utf8(to_bytes(&d).unwrap()).unwrap(),
        r#"{"cniVersion":"1.0.0","forceAddress":true,"hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.42.0.0/24"}]],"routes":[{"dst":"10.42.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}"#
    );
}

#[test]
fn dual_stack_ranges_and_routes_in_order() {
    let e = env(
        "FLANNEL_NETWORK=10.244.0.0/16,10.250.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\n\
         FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64\n\
         FLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
    );
    let c = conf(json!({"name": "n", "cniVersion": "1.0.0",
        "ipam": {"routes": [{"dst": "192.168.0.0/24", "gw": "10.244.3.254", "junk": 1}], "dataDir": "/x"}}));
    let d = build(&c, &e).unwrap();
    assert_eq!(
        d["ipam"],
        json!({
            "type": "host-local",
            "dataDir": "/x",
            "ranges": [[{"subnet": "10.244.3.0/24"}], [{"subnet": "fd00:10:244:3::/64"}]],
            "routes": [
                {"dst": "192.168.0.0/24", "gw": "10.244.3.254"},
                {"dst": "10.244.0.0/16"},
                {"dst": "10.250.0.0/16"},
                {"dst": "fd00:10:244::/56"}
            ]
        })
    );
    assert_eq!(
        d["ipMasq"],
        json!(true),
        "FLANNEL_IPMASQ=false: the bridge masquerades"
    );
}

#[test]
fn user_values_win_except_what_flannel_owns() {
    let c = conf(json!({"name": "n", "cniVersion": "0.4.0",
        "delegate": {"type": "bridge", "ipMasq": true, "mtu": null, "isGateway": false,
                     "bridge": "mybr", "cniVersion": "0.2.0"},
        "ipam": {"type": "static", "ranges": [[{"subnet": "1.2.3.0/24"}]]},
        "runtimeConfig": {"portMappings": []}}));
    let d = build(&c, &env(KUBE_FLANNEL_ENV)).unwrap();
    assert_eq!(d["ipMasq"], json!(true));
    assert_eq!(d["mtu"], json!(null), "a present mtu is kept, even null");
    assert_eq!(d["isGateway"], json!(false));
    assert_eq!(d["bridge"], json!("mybr"));
    assert_eq!(
        d["cniVersion"],
        json!("0.4.0"),
        "the conf's version overrides"
    );
    assert_eq!(d["runtimeConfig"], json!({"portMappings": []}));
    assert_eq!(d["ipam"]["type"], json!("static"));
    assert_eq!(
        d["ipam"]["ranges"],
        json!([[{"subnet": "10.244.1.0/24"}]]),
        "ranges are always flannel's"
    );
}

#[test]
fn is_gateway_only_for_bridge_and_no_version_when_the_conf_has_none() {
    let c = conf(json!({"name": "n", "delegate": {"type": "ptp"}}));
    let d = build(&c, &env(KUBE_FLANNEL_ENV)).unwrap();
    assert!(!d.contains_key("isGateway"));
    assert!(!d.contains_key("cniVersion"));
    assert!(!d.contains_key("runtimeConfig"));
    assert_eq!(required_type(&d).unwrap(), "ptp");
}

#[test]
fn bad_routes_and_empty_type_are_code_7() {
    let c = conf(json!({"name": "n", "ipam": {"routes": [{"dst": "nope"}]}}));
    let e = build(&c, &env(KUBE_FLANNEL_ENV)).unwrap_err();
    assert_eq!(e.code, 7);
    assert!(e.msg.contains("ipam.routes"), "{}", e.msg);
    let c = conf(json!({"name": "n", "delegate": {"type": ""}}));
    let d = build(&c, &env(KUBE_FLANNEL_ENV)).unwrap();
    assert_eq!(required_type(&d).unwrap_err().code, 7);
}
