//! iptables-restore scripts for `--noflush` mode: one script is one exec
//! and one kernel transaction (iptables-nft) per family.
//!
//! In `--noflush` mode a `:CHAIN - [0:0]` declaration creates the chain or,
//! if it exists, FLUSHES it. That is what a per-container chain wants (set
//! up from scratch; flush before delete), and what a shared chain holding
//! other containers' rules must never get: [`RestoreScript::declare`] is for
//! per-container chains only; shared chains are referenced by name in
//! `-A`/`-I`/`-D` lines and created with [`RestoreScript::new_chain`] (`-N`,
//! which fails instead of flushing) only when a read showed they are absent.

use super::rule::{Rule, Table};
use super::save::SavedRule;
use super::syntax::{join, quote};
use crate::error::FirewallError;
use crate::types::{ChainName, Family};

#[derive(Debug, Clone)]
struct Block {
    table: Table,
    declared: Vec<String>,
    ops: Vec<String>,
}

/// A `--noflush` restore script for one family.
#[derive(Debug, Clone)]
pub struct RestoreScript {
    family: Family,
    blocks: Vec<Block>,
}

impl RestoreScript {
    /// An empty script for `family`.
    pub fn new(family: Family) -> RestoreScript {
        RestoreScript {
            family,
            blocks: vec![],
        }
    }

    /// The family (selects iptables-restore or ip6tables-restore).
    pub fn family(&self) -> Family {
        self.family
    }

    /// True when the script would change nothing.
    pub fn is_empty(&self) -> bool {
        self.blocks
            .iter()
            .all(|b| b.declared.is_empty() && b.ops.is_empty())
    }

    fn block(&mut self, table: Table) -> &mut Block {
        if let Some(i) = self.blocks.iter().position(|b| b.table == table) {
            &mut self.blocks[i]
        } else {
            self.blocks.push(Block {
                table,
                declared: vec![],
                ops: vec![],
            });
            let last = self.blocks.len() - 1;
            &mut self.blocks[last]
        }
    }

    /// `:CHAIN - [0:0]`: create the chain, or flush it if it exists. Only
    /// for chains that belong to one container.
    pub fn declare(&mut self, table: Table, chain: &ChainName) {
        let b = self.block(table);
        if !b.declared.iter().any(|c| c == chain.as_str()) {
            b.declared.push(chain.as_str().to_string());
        }
    }

    /// `-N CHAIN`: create a chain that a read showed to be absent (fails if
    /// it exists, so a shared chain is never flushed by accident).
    pub fn new_chain(&mut self, table: Table, chain: &ChainName) {
        self.block(table).ops.push(format!("-N {chain}"));
    }

    /// `-A CHAIN rule`.
    pub fn append(
        &mut self,
        table: Table,
        chain: &ChainName,
        rule: &Rule,
    ) -> Result<(), FirewallError> {
        let words = rule.words(self.family)?;
        self.block(table)
            .ops
            .push(format!("-A {chain} {}", join(&words)));
        Ok(())
    }

    /// `-I CHAIN position rule` (position 1 is the head of the chain).
    pub fn insert(
        &mut self,
        table: Table,
        chain: &ChainName,
        position: u32,
        rule: &Rule,
    ) -> Result<(), FirewallError> {
        if position == 0 {
            return Err(FirewallError::invalid(
                "rule position",
                position,
                "positions start at 1",
            ));
        }
        let words = rule.words(self.family)?;
        self.block(table)
            .ops
            .push(format!("-I {chain} {position} {}", join(&words)));
        Ok(())
    }

    /// `-D CHAIN rule` (fails the whole script if the rule is absent).
    pub fn delete(
        &mut self,
        table: Table,
        chain: &ChainName,
        rule: &Rule,
    ) -> Result<(), FirewallError> {
        let words = rule.words(self.family)?;
        self.block(table)
            .ops
            .push(format!("-D {chain} {}", join(&words)));
        Ok(())
    }

    /// `-D CHAIN <words>` for a rule read back from a dump. The words are
    /// re-quoted, not pasted, so the line always means exactly that rule.
    pub fn delete_saved(&mut self, table: Table, rule: &SavedRule) -> Result<(), FirewallError> {
        let chain = ChainName::new(&rule.chain)?;
        self.block(table)
            .ops
            .push(format!("-D {chain} {}", join(&rule.words)));
        Ok(())
    }

    /// `-F CHAIN`.
    pub fn flush(&mut self, table: Table, chain: &ChainName) {
        self.block(table).ops.push(format!("-F {chain}"));
    }

    /// `-X CHAIN` (the chain must be empty and unreferenced by then).
    pub fn delete_chain(&mut self, table: Table, chain: &ChainName) {
        self.block(table).ops.push(format!("-X {chain}"));
    }

    /// The script text: per table, declarations first, then the lines in
    /// the order given, then COMMIT.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            if b.declared.is_empty() && b.ops.is_empty() {
                continue;
            }
            out.push('*');
            out.push_str(b.table.as_str());
            out.push('\n');
            for c in &b.declared {
                out.push(':');
                out.push_str(&quote(c));
                out.push_str(" - [0:0]\n");
            }
            for op in &b.ops {
                out.push_str(op);
                out.push('\n');
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::rule::Target;
    use crate::iptables::save;
    use crate::types::Comment;

    #[test]
    fn golden_masquerade_setup() {
        let ch = ChainName::new("CNI-5a1527d2fe74c1a342e29c75").unwrap();
        let post = ChainName::new("POSTROUTING").unwrap();
        let cm = Comment::new(r#"name: "n" id: "abc""#).unwrap();
        let mut s = RestoreScript::new(Family::V4);
        s.declare(Table::Nat, &ch);
        s.append(
            Table::Nat,
            &ch,
            &Rule::new(Target::Accept)
                .destination("10.99.0.0/24".parse().unwrap(), false)
                .comment(cm.clone()),
        )
        .unwrap();
        s.append(
            Table::Nat,
            &post,
            &Rule::new(Target::Jump(ch.clone()))
                .source("10.99.0.2/32".parse().unwrap(), false)
                .comment(cm),
        )
        .unwrap();
        s.delete_chain(Table::Nat, &ch);
        assert_eq!(
            s.render(),
            "*nat\n\
             :CNI-5a1527d2fe74c1a342e29c75 - [0:0]\n\
             -A CNI-5a1527d2fe74c1a342e29c75 -d 10.99.0.0/24 -m comment --comment \"name: \\\"n\\\" id: \\\"abc\\\"\" -j ACCEPT\n\
             -A POSTROUTING -s 10.99.0.2/32 -m comment --comment \"name: \\\"n\\\" id: \\\"abc\\\"\" -j CNI-5a1527d2fe74c1a342e29c75\n\
             -X CNI-5a1527d2fe74c1a342e29c75\n\
             COMMIT\n"
        );
    }

    #[test]
    fn hostile_comment_stays_one_word() {
        let ch = ChainName::new("X").unwrap();
        let evil = Comment::new("a\" -j ACCEPT -m comment --comment \"b\\").unwrap();
        let mut s = RestoreScript::new(Family::V4);
        s.append(
            Table::Filter,
            &ch,
            &Rule::new(Target::Drop).comment(evil.clone()),
        )
        .unwrap();
        let text = s.render();
        assert_eq!(text.lines().count(), 3, "{text}");
        let dump = save::parse(&text).unwrap();
        assert_eq!(dump.rules.len(), 1);
        assert_eq!(dump.rules[0].comment(), Some(evil.as_str()));
        assert_eq!(dump.rules[0].target(), Some("DROP"));
    }

    #[test]
    fn delete_saved_requotes() {
        let dump = save::parse(
            "-A POSTROUTING -s 10.0.0.2/32 -m comment --comment \"name: \\\"n\\\" id: \\\"a\\\"\" -j CNI-x\n",
        )
        .unwrap();
        let mut s = RestoreScript::new(Family::V4);
        s.delete_saved(Table::Nat, &dump.rules[0]).unwrap();
        assert_eq!(
            s.render(),
            "*nat\n-D POSTROUTING -s 10.0.0.2/32 -m comment --comment \"name: \\\"n\\\" id: \\\"a\\\"\" -j CNI-x\nCOMMIT\n"
        );
    }

    #[test]
    fn empty_and_insert() {
        let mut s = RestoreScript::new(Family::V6);
        assert!(s.is_empty());
        assert_eq!(s.render(), "");
        let post = ChainName::new("POSTROUTING").unwrap();
        let m = ChainName::new("CNI-HOSTPORT-MASQ").unwrap();
        assert!(
            s.insert(Table::Nat, &post, 0, &Rule::new(Target::Jump(m.clone())))
                .is_err()
        );
        s.insert(Table::Nat, &post, 1, &Rule::new(Target::Jump(m)))
            .unwrap();
        assert_eq!(
            s.render(),
            "*nat\n-I POSTROUTING 1 -j CNI-HOSTPORT-MASQ\nCOMMIT\n"
        );
    }
}
