//! iptables rules (the words of `-A CHAIN ...` in save output) as the
//! evaluator's [`Rule`]s.

use std::collections::HashMap;

use ipnet::IpNet;
use netfilter::iptables::save::Dump;

use super::eval::{Action, Cond, Rule, Test};

/// `10.0.0.0/8` or a bare address.
fn prefix(word: &str) -> Option<IpNet> {
    word.parse::<IpNet>()
        .ok()
        .or_else(|| word.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        .map(|n| n.trunc())
}

fn target(word: &str, is_chain: &dyn Fn(&str) -> bool) -> Action {
    match word {
        "ACCEPT" => Action::Accept,
        "DROP" | "REJECT" => Action::Drop,
        "RETURN" => Action::Return,
        w if is_chain(w) => Action::Jump(w.to_string()),
        _ => Action::Continue,
    }
}

/// One rule's words, after `-A CHAIN`.
pub fn rule(words: &[String], is_chain: &dyn Fn(&str) -> bool) -> Rule {
    let mut cond = Cond::default();
    let mut action = Action::Continue;
    let mut negated = false;
    let mut i = 0;
    while i < words.len() {
        let flag = words[i].as_str();
        let value = words.get(i + 1).map(String::as_str).unwrap_or_default();
        let mut used = 2;
        match flag {
            "!" => {
                negated = true;
                i += 1;
                continue;
            }
            "-s" | "--source" | "-d" | "--destination" => match prefix(value) {
                Some(net) => {
                    let t = Some(Test {
                        value: net,
                        negated,
                    });
                    if flag.starts_with("-s") || flag == "--source" {
                        cond.src = t;
                    } else {
                        cond.dst = t;
                    }
                }
                None => cond.other = true,
            },
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let t = Some(Test {
                    value: value.to_string(),
                    negated,
                });
                if flag.starts_with("-i") || flag == "--in-interface" {
                    cond.iif = t;
                } else {
                    cond.oif = t;
                }
            }
            "-p" | "--protocol" => cond.other |= value != "all" || negated,
            "-m" | "--match" => cond.other |= !matches!(value, "comment" | "conntrack" | "state"),
            "--comment" => {}
            "--ctstate" | "--state" => {
                if negated {
                    cond.other = true;
                } else {
                    cond.ct = Some(value.split(',').map(str::to_ascii_lowercase).collect());
                }
            }
            // What follows the target are its options.
            "-j" | "--jump" | "-g" | "--goto" => {
                action = target(value, is_chain);
                break;
            }
            _ => {
                cond.other = true;
                used = 1;
            }
        }
        negated = false;
        i += used;
    }
    Rule { cond, action }
}

/// The rules of every chain of `table` in a dump, by chain.
pub fn table_rules(dump: &Dump, table: &str) -> HashMap<String, Vec<Rule>> {
    let in_table = |t: &Option<String>| t.as_deref().is_none_or(|t| t == table);
    let is_chain = |name: &str| {
        dump.chains
            .iter()
            .any(|c| in_table(&c.table) && c.name == name && c.policy.is_none())
    };
    let mut out: HashMap<String, Vec<Rule>> = HashMap::new();
    for r in dump.rules.iter().filter(|r| in_table(&r.table)) {
        out.entry(r.chain.clone())
            .or_default()
            .push(rule(&r.words, &is_chain));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use netfilter::iptables::save::parse;

    fn words(line: &str) -> Vec<String> {
        netfilter::iptables::syntax::split(line).unwrap()
    }

    #[test]
    fn reads_addresses_interfaces_states_and_targets() {
        let no_chain = |_: &str| false;
        let r = rule(
            &words("-d 10.22.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            &no_chain,
        );
        assert_eq!(r.action, Action::Accept);
        assert_eq!(
            r.cond.dst.unwrap().value,
            "10.22.0.5/32".parse::<IpNet>().unwrap()
        );
        assert_eq!(r.cond.ct.unwrap(), ["related", "established"]);
        assert!(!r.cond.other);
        let r = rule(
            &words("! -s 10.0.0.0/8 -i cni0 ! -o cni0 -j ACCEPT"),
            &no_chain,
        );
        assert!(r.cond.src.unwrap().negated);
        assert!(!r.cond.iif.unwrap().negated);
        assert!(r.cond.oif.unwrap().negated);
        let r = rule(&words("-p tcp -m tcp --dport 80 -j ACCEPT"), &no_chain);
        assert!(r.cond.other);
        let r = rule(
            &words("-j REJECT --reject-with icmp-port-unreachable"),
            &no_chain,
        );
        assert_eq!(r.action, Action::Drop);
        let r = rule(&words("-j LOG --log-prefix x"), &no_chain);
        assert_eq!(r.action, Action::Continue);
    }

    #[test]
    fn jumps_only_to_user_chains_of_the_table() {
        let dump = parse(
            "*filter\n:FORWARD DROP [0:0]\n:CNI-FORWARD - [0:0]\n-A FORWARD -j CNI-FORWARD\n-A CNI-FORWARD -s 10.1.0.2/32 -j ACCEPT\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n",
        )
        .unwrap();
        let rules = table_rules(&dump, "filter");
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules["FORWARD"][0].action,
            Action::Jump("CNI-FORWARD".into())
        );
        assert!(!rules.contains_key("POSTROUTING"));
    }
}
