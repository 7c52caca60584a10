use super::*;
use crate::iptables::{Target, save};
use crate::types::Comment;

fn ch(s: &str) -> ChainName {
    ChainName::new(s).unwrap()
}

fn layout() -> Layout {
    let fwd = ch("CNI-FORWARD");
    let jump = Rule::new(Target::Jump(fwd.clone())).comment(Comment::new("c").unwrap());
    Layout {
        chains: vec![fwd.clone()],
        shared: vec![Placed::new(ch("FORWARD"), jump, Place::Head)],
        own: vec![
            Placed::new(
                fwd.clone(),
                Rule::new(Target::Accept).source("10.0.0.2/32".parse().unwrap(), false),
                Place::Tail,
            ),
            Placed::new(
                fwd,
                Rule::new(Target::Accept).source("10.0.0.2/32".parse().unwrap(), false),
                Place::Tail,
            ),
        ],
    }
}

#[test]
fn missing_counts_identical_own_rules_once_each() {
    let l = layout();
    let dump = save::parse(
        "-P FORWARD ACCEPT\n-N CNI-FORWARD\n-A FORWARD -m comment --comment c -j CNI-FORWARD\n-A CNI-FORWARD -s 10.0.0.2/32 -j ACCEPT\n",
    )
    .unwrap();
    let seen = Seen::from_listing(&dump, &l);
    let m = missing(&l, &seen, Family::V4);
    assert!(m.chains.is_empty());
    assert!(m.shared.is_empty());
    // One of the two identical rules is there; the other is missing.
    assert_eq!(m.own.len(), 1);
    assert!(builtins_exist(&l, &seen));
    let empty = Seen::from_listing(&save::parse("").unwrap(), &l);
    let m = missing(&l, &empty, Family::V4);
    assert_eq!(m.chains.len(), 1);
    assert_eq!(m.shared.len(), 1);
    assert_eq!(m.own.len(), 2);
    assert!(!builtins_exist(&l, &empty));
}

#[test]
fn older_forms_count_as_present() {
    let fwd = ch("X");
    let p = Placed::new(
        fwd,
        Rule::new(Target::Return).comment(Comment::new("new").unwrap()),
        Place::Tail,
    )
    .or(Rule::new(Target::Return).comment(Comment::new("old").unwrap()));
    let l = Layout {
        chains: vec![],
        shared: vec![p],
        own: vec![],
    };
    let dump = save::parse("-N X\n-A X -m comment --comment old -j RETURN\n").unwrap();
    let seen = Seen::from_listing(&dump, &l);
    assert!(missing(&l, &seen, Family::V4).is_empty());
}
