//! Writing fix commands a user can paste into a shell.

/// `s` as one shell word: unchanged when it holds only characters no
/// shell treats specially, else single-quoted.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A path as one shell word.
pub fn path(p: &std::path::Path) -> String {
    quote(&p.to_string_lossy())
}

/// Commands run one after the other, stopping at the first failure.
pub fn and_then<I: IntoIterator<Item = String>>(cmds: I) -> String {
    cmds.into_iter().collect::<Vec<_>>().join(" && ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("/tmp/a-b_c.conflist"), "/tmp/a-b_c.conflist");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(and_then(["a".to_string(), "b".into()]), "a && b");
    }
}
