//! The word syntax of iptables-restore input and iptables-save output.
//!
//! iptables-restore splits a line into words at spaces and tabs; a double
//! quote opens and closes a quoted part, inside which a backslash makes
//! the next character literal (xtables `add_param_to_argv`). iptables-save
//! writes words the same way (`xtables_save_string`). [`quote`] and
//! [`split`] are inverses for every string without a newline or NUL.

/// Quote one word for an iptables-restore line. Words made only of
/// characters that can never be special are written bare (so generated
/// text looks like iptables-save output); anything else is put in double
/// quotes with `"` and `\` escaped.
pub fn quote(word: &str) -> String {
    let bare = !word.is_empty()
        && word.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'_' | b'.' | b',' | b':' | b'/' | b'-' | b'+' | b'=' | b'@' | b'!' | b'[' | b']')
        })
        // A leading '#' would make a comment line; '!' alone is the
        // negation token and must only be produced on purpose.
        && word != "!";
    if bare {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Split one line into words the way iptables-restore does. Fails on an
/// unterminated quote.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = vec![];
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut escaped = false;
    for c in line.chars() {
        if quoted {
            if escaped {
                cur.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                in_word = true;
            }
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(format!("unterminated quote in {line:?}"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Render words as one line, quoting each.
pub fn join(words: &[String]) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if w == "!" {
            // The negation operator is only ever a word of its own.
            out.push('!');
        } else {
            out.push_str(&quote(w));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_save_output() {
        let line = r#"-A POSTROUTING -s 10.99.0.2/32 -m comment --comment "name: \"n\" id: \"abc\"" -j CNI-5a1527d2fe74c1a342e29c75"#;
        let w = split(line).unwrap();
        assert_eq!(w.len(), 10);
        assert_eq!(w[7], r#"name: "n" id: "abc""#);
        assert_eq!(w[9], "CNI-5a1527d2fe74c1a342e29c75");
    }

    #[test]
    fn quote_roundtrips_hostile_text() {
        for s in [
            r#"x" -j ACCEPT"#,
            r"back\slash",
            r#"\""#,
            "tab\tinside",
            "# not a comment",
            "",
            "!",
            "ünïcödé and spaces",
            "-j DROP",
        ] {
            let q = quote(s);
            let back = split(&format!("--comment {q}")).unwrap();
            assert_eq!(back, vec!["--comment".to_string(), s.to_string()], "{q}");
        }
    }

    #[test]
    fn bare_words_stay_bare() {
        assert_eq!(quote("10.0.0.0/8"), "10.0.0.0/8");
        assert_eq!(quote("CNI-HOSTPORT-DNAT"), "CNI-HOSTPORT-DNAT");
        assert_eq!(quote("0x2000/0x2000"), "0x2000/0x2000");
        assert_eq!(quote("a b"), "\"a b\"");
    }

    #[test]
    fn unterminated_quote_fails() {
        assert!(split(r#"-A X --comment "oops"#).is_err());
    }

    #[test]
    fn join_keeps_negation() {
        let w: Vec<String> = ["!", "-d", "224.0.0.0/4"].map(String::from).to_vec();
        assert_eq!(join(&w), "! -d 224.0.0.0/4");
        assert_eq!(split(&join(&w)).unwrap(), w);
    }
}
