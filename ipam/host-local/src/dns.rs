//! `ipam.resolvConf`: read a resolv.conf into the result's `dns`
//! (plugins:plugins/ipam/host-local/dns.go): `nameserver` lines append a
//! server, `domain` sets the domain, `search` and `options` append their
//! words; comments (`#`, `;`), blank and unknown lines are skipped.

use std::path::Path;

use libcni::Error;
use libcni::spec::Dns;

/// Parse resolv.conf text.
pub fn parse(text: &str) -> Dns {
    let mut dns = Dns::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(key), rest) = (words.next(), words.collect::<Vec<_>>()) else {
            continue;
        };
        let Some(first) = rest.first() else { continue };
        match key {
            "nameserver" => dns.nameservers.push((*first).to_string()),
            "domain" => dns.domain = (*first).to_string(),
            "search" => dns.search.extend(rest.iter().map(|s| (*s).to_string())),
            "options" => dns.options.extend(rest.iter().map(|s| (*s).to_string())),
            _ => {}
        }
    }
    dns
}

/// Read and parse the file named by `ipam.resolvConf` (code 7 naming the
/// key when it cannot be read).
pub fn load(path: &Path) -> Result<Dns, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::invalid_config(format!(
            "ipam.resolvConf {}: cannot read it ({e}); point it at a resolv.conf file or remove the key",
            path.display()
        ))
    })?;
    Ok(parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_known_key() {
        let d = parse(
            "# comment\n; other comment\nnameserver 10.0.0.10\nnameserver fd00::10\n\
             domain example.com\nsearch a.example b.example\noptions ndots:5 rotate\n\
             sortlist 10.0.0.0\nnameserver\n",
        );
        assert_eq!(d.nameservers, ["10.0.0.10", "fd00::10"]);
        assert_eq!(d.domain, "example.com");
        assert_eq!(d.search, ["a.example", "b.example"]);
        assert_eq!(d.options, ["ndots:5", "rotate"]);
    }

    #[test]
    fn missing_file_is_code_7_naming_the_key() {
        let e = load(Path::new("/nonexistent/resolv.conf")).unwrap_err();
        assert_eq!(e.code, 7);
        assert!(e.msg.contains("ipam.resolvConf"), "{}", e.msg);
    }
}
