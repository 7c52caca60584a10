//! nftables rules (`nft -j list ruleset` items) as the evaluator's
//! [`Rule`]s, and the forward base chains with a drop policy.
//!
//! nftables runs every base chain registered at a hook, in priority order;
//! `accept` ends only the chain it is in, while `drop` anywhere is final.
//! So a forward base chain with policy drop blocks pods unless its own
//! rules (or the chains they jump to) accept them, whatever other tables
//! say. iptables-nft's own tables are left to the iptables reader.

use std::collections::HashMap;

use ipnet::IpNet;
use serde_json::Value;

use super::eval::{Action, Cond, Rule, Test};
use crate::node::firewall::is_xt_table;

/// A forward base chain with policy drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropChain {
    /// Table family (`ip`, `ip6`, `inet`).
    pub family: String,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
}

impl DropChain {
    /// Whether the chain sees packets of `net`'s family.
    pub fn sees(&self, net: &IpNet) -> bool {
        match self.family.as_str() {
            "inet" => true,
            "ip" => net.addr().is_ipv4(),
            "ip6" => net.addr().is_ipv6(),
            _ => false,
        }
    }
}

/// The forward base chains with policy drop, outside iptables-nft's tables.
pub fn drop_chains(items: &[Value]) -> Vec<DropChain> {
    items
        .iter()
        .filter_map(|i| i.get("chain"))
        .filter(|c| c["hook"] == "forward" && c["policy"] == "drop")
        .filter_map(|c| {
            let family = c["family"].as_str()?;
            let table = c["table"].as_str()?;
            if is_xt_table(family, table) || !matches!(family, "ip" | "ip6" | "inet") {
                return None;
            }
            Some(DropChain {
                family: family.into(),
                table: table.into(),
                chain: c["name"].as_str()?.into(),
            })
        })
        .collect()
}

/// The rules of every chain of one table, by chain.
pub fn table_rules(items: &[Value], family: &str, table: &str) -> HashMap<String, Vec<Rule>> {
    let mut out: HashMap<String, Vec<Rule>> = HashMap::new();
    for r in items.iter().filter_map(|i| i.get("rule")) {
        if r["family"] != family || r["table"] != table {
            continue;
        }
        let Some(chain) = r["chain"].as_str() else {
            continue;
        };
        let exprs = r["expr"].as_array().map(Vec::as_slice).unwrap_or_default();
        out.entry(chain.to_string()).or_default().push(rule(exprs));
    }
    out
}

fn prefix(v: &Value) -> Option<IpNet> {
    if let Some(s) = v.as_str() {
        return s
            .parse::<IpNet>()
            .ok()
            .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from));
    }
    let p = v.get("prefix")?;
    let addr: std::net::IpAddr = p["addr"].as_str()?.parse().ok()?;
    let len = u8::try_from(p["len"].as_u64()?).ok()?;
    IpNet::new(addr, len).ok().map(|n| n.trunc())
}

fn states(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.to_ascii_lowercase()]),
        Value::Array(a) => a
            .iter()
            .map(|s| s.as_str().map(str::to_ascii_lowercase))
            .collect(),
        Value::Object(o) => states(o.get("set")?),
        _ => None,
    }
}

/// One `match` statement into `cond`; false when it is not understood.
fn condition(cond: &mut Cond, m: &Value) -> bool {
    let negated = match m["op"].as_str() {
        Some("==" | "in") => false,
        Some("!=") => true,
        _ => return false,
    };
    let left = &m["left"];
    let right = &m["right"];
    if let Some(field) = left["payload"]["field"].as_str()
        && matches!(left["payload"]["protocol"].as_str(), Some("ip" | "ip6"))
    {
        let Some(value) = prefix(right) else {
            return false;
        };
        let t = Some(Test { value, negated });
        match field {
            "saddr" => cond.src = t,
            "daddr" => cond.dst = t,
            _ => return false,
        }
        return true;
    }
    if let Some(key) = left["meta"]["key"].as_str() {
        let Some(name) = right.as_str() else {
            return false;
        };
        let t = Some(Test {
            value: name.replace("\\*", "*"),
            negated,
        });
        match key {
            "iifname" => cond.iif = t,
            "oifname" => cond.oif = t,
            _ => return false,
        }
        return true;
    }
    if left["ct"]["key"] == "state" && !negated {
        cond.ct = states(right);
        return cond.ct.is_some();
    }
    false
}

/// One rule's statements.
pub fn rule(exprs: &[Value]) -> Rule {
    let mut cond = Cond::default();
    let mut action = Action::Continue;
    for e in exprs {
        let Some((kind, body)) = e.as_object().and_then(|o| o.iter().next()) else {
            cond.other = true;
            continue;
        };
        match kind.as_str() {
            "match" => {
                if !condition(&mut cond, body) {
                    cond.other = true;
                }
            }
            "counter" | "log" => {}
            "accept" => action = Action::Accept,
            "drop" | "reject" => action = Action::Drop,
            "return" => action = Action::Return,
            "jump" | "goto" => {
                if let Some(t) = body["target"].as_str() {
                    action = Action::Jump(t.to_string());
                }
            }
            _ => cond.other = true,
        }
    }
    Rule { cond, action }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_drop_chains_outside_iptables_tables() {
        let items = vec![
            json!({"chain": {"family": "inet", "table": "filter", "name": "forward", "hook": "forward", "policy": "drop"}}),
            json!({"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "hook": "forward", "policy": "drop"}}),
            json!({"chain": {"family": "inet", "table": "x", "name": "fw", "hook": "forward", "policy": "accept"}}),
        ];
        let d = drop_chains(&items);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].chain, "forward");
        assert!(d[0].sees(&"fd00::/64".parse().unwrap()));
    }

    #[test]
    fn reads_prefixes_interfaces_and_states() {
        let r = rule(
            json!([
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                           "right": {"prefix": {"addr": "10.22.0.0", "len": 16}}}},
                {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
                {"counter": {"packets": 0, "bytes": 0}},
                {"accept": null}
            ])
            .as_array()
            .unwrap(),
        );
        assert_eq!(r.action, Action::Accept);
        assert_eq!(
            r.cond.dst.unwrap().value,
            "10.22.0.0/16".parse::<IpNet>().unwrap()
        );
        assert_eq!(r.cond.ct.unwrap(), ["established", "related"]);
        assert!(!r.cond.other);
        let r = rule(
            json!([
                {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "cni0"}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
                {"jump": {"target": "cni_forward"}}
            ])
            .as_array()
            .unwrap(),
        );
        assert!(r.cond.oif.unwrap().negated);
        assert!(r.cond.other);
        assert_eq!(r.action, Action::Jump("cni_forward".into()));
    }
}
