//! Reading the addresses out of an ADD result (SPEC.md "Success": `ips`
//! is a list of objects whose `address` is an address in CIDR notation).

use std::net::IpAddr;

use serde_json::Value;

/// The addresses of `result`'s `ips`, as printed but without the prefix
/// length, in order. Panics when `ips` is missing or an entry has no
/// `address` string: that is a malformed result.
pub fn result_addresses(result: &Value) -> Vec<String> {
    result["ips"]
        .as_array()
        .unwrap_or_else(|| panic!("result without an ips list: {result}"))
        .iter()
        .map(|ip| {
            let address = ip["address"]
                .as_str()
                .unwrap_or_else(|| panic!("ips entry without an address: {ip}"));
            address.split('/').next().unwrap_or(address).to_string()
        })
        .collect()
}

/// The first address of `result` of the family (`v4` true: IPv4, else
/// IPv6); panics when there is none or it does not parse.
pub fn result_ip(result: &Value, v4: bool) -> IpAddr {
    result_addresses(result)
        .iter()
        .map(|a| {
            a.parse::<IpAddr>()
                .unwrap_or_else(|e| panic!("address {a:?} in {result}: {e}"))
        })
        .find(|a| a.is_ipv4() == v4)
        .unwrap_or_else(|| panic!("no {} address in {result}", if v4 { "v4" } else { "v6" }))
}
