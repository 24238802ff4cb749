//! The line syntax shared by `sshd_config(5)` and `ssh_config(5)`.
//!
//! Each line is `Keyword arguments` or `Keyword=arguments` (one `=`,
//! optionally surrounded by whitespace); keywords are case-insensitive;
//! empty lines and lines starting with `#` are ignored; arguments are
//! separated by whitespace and may be enclosed in double (or single)
//! quotes to contain spaces; a `#` at the start of an argument ends the
//! line. This follows OpenSSH's `strdelim` and `argv_split`.

use std::path::Path;

use super::{ConfigError, Location};

/// One keyword line of a configuration file, split into its keyword and
/// arguments (`sshd_config(5)`, `ssh_config(5)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigLine {
    /// The keyword as written (compare case-insensitively).
    pub keyword: String,
    /// The arguments after quote removal; a `#` starting an argument ends
    /// the list (a comment).
    pub args: Vec<String>,
    /// The raw text after the keyword and its separator, for keywords
    /// whose value is the rest of the line (`ProxyCommand`,
    /// `ForceCommand`).
    pub rest: String,
    /// Where the line is.
    pub location: Location,
}

impl ConfigLine {
    /// The keyword in lower case, for table lookups.
    pub fn keyword_lower(&self) -> String {
        self.keyword.to_ascii_lowercase()
    }
}

const WS: &[char] = &[' ', '\t', '\r', '\n'];

/// Splits one line. Returns `Ok(None)` for blank and comment lines; an
/// error (`FILE line N: ...`) for a keyword without an argument or an
/// unterminated quote, as `sshd(8)` and `ssh(1)` report them.
pub fn parse_line(text: &str, location: Location) -> Result<Option<ConfigLine>, ConfigError> {
    // Strip trailing whitespace (form feed allowed at the end only).
    let s = text.trim_end_matches([' ', '\t', '\r', '\n', '\x0c']);
    let s = s.trim_start_matches(WS);
    if s.is_empty() || s.starts_with('#') {
        return Ok(None);
    }
    let end = s.find([' ', '\t', '\r', '\n', '=']).unwrap_or(s.len());
    let keyword = &s[..end];
    let mut rest = &s[end..];
    if keyword.is_empty() {
        // A line starting with '=': nothing OpenSSH accepts.
        return Err(ConfigError::invalid(&location, format!("no keyword before \"{s}\"")));
    }
    // Skip the separator: whitespace and at most one '='.
    rest = rest.trim_start_matches(WS);
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(WS);
    }
    if rest.is_empty() {
        return Err(ConfigError::invalid(
            &location,
            format!("no argument after keyword \"{keyword}\""),
        ));
    }
    let args = split_args(rest).ok_or_else(|| ConfigError::invalid(&location, "invalid quotes"))?;
    Ok(Some(ConfigLine {
        keyword: keyword.to_string(),
        args,
        rest: rest.to_string(),
        location,
    }))
}

/// Splits arguments as OpenSSH's `argv_split` (with comment termination)
/// does: whitespace separates arguments; `"..."` and `'...'` quote;
/// `\"`, `\'`, `\\` and (outside quotes) `\ ` escape; a `#` at the start
/// of an argument ends the line. `None` for an unterminated quote.
pub fn split_args(s: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' {
            i += 1;
            continue;
        }
        if c == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                match chars.get(i + 1) {
                    Some(&n) if n == '\'' || n == '"' || n == '\\' || (quote.is_none() && n == ' ') => {
                        arg.push(n);
                        i += 2;
                    }
                    _ => {
                        arg.push(c);
                        i += 1;
                    }
                }
                continue;
            }
            match quote {
                None if c == ' ' || c == '\t' => break,
                None if c == '"' || c == '\'' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ => arg.push(c),
            }
            i += 1;
        }
        if quote.is_some() {
            return None;
        }
        out.push(arg);
    }
    Some(out)
}

/// Splits a whole file into keyword lines, numbering lines from 1.
pub fn tokenize(path: &Path, text: &str) -> Result<Vec<ConfigLine>, ConfigError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(l) = parse_line(line, Location::new(path, n + 1))? {
            out.push(l);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> ConfigLine {
        parse_line(s, Location::new("t", 1)).unwrap().unwrap()
    }

    #[test]
    fn separators() {
        for s in [
            "Port 22",
            "Port=22",
            "Port = 22",
            "  Port\t22  ",
            "Port =22",
            "Port= 22\r",
        ] {
            let l = one(s);
            assert_eq!(l.keyword, "Port", "{s}");
            assert_eq!(l.args, ["22"], "{s}");
        }
        let l = one("AcceptEnv LANG LC_*");
        assert_eq!(l.args, ["LANG", "LC_*"]);
        assert_eq!(l.rest, "LANG LC_*");
    }

    #[test]
    fn comments_and_blank_lines() {
        let loc = Location::new("t", 1);
        assert!(parse_line("", loc.clone()).unwrap().is_none());
        assert!(parse_line("   ", loc.clone()).unwrap().is_none());
        assert!(parse_line("# Port 22", loc.clone()).unwrap().is_none());
        assert!(parse_line("   #Port 22", loc).unwrap().is_none());
        let l = one("AcceptEnv LANG # the language");
        assert_eq!(l.args, ["LANG"]);
        let l = one("Banner /etc/is#sue");
        assert_eq!(l.args, ["/etc/is#sue"]);
    }

    #[test]
    fn quotes() {
        let l = one(r#"IdentityFile "/path/with space/id" second"#);
        assert_eq!(l.args, ["/path/with space/id", "second"]);
        let l = one(r#"SetEnv FOO="a b" BAR='c d'"#);
        assert_eq!(l.args, ["FOO=a b", "BAR=c d"]);
        let l = one(r#"X a\ b "q\"uote" """#);
        assert_eq!(l.args, ["a b", "q\"uote", ""]);
        let e = parse_line(r#"Banner "/etc/issue"#, Location::new("/f", 7)).unwrap_err();
        assert_eq!(e.to_string(), "/f line 7: invalid quotes");
    }

    #[test]
    fn missing_argument() {
        let e = parse_line("Port", Location::new("/f", 2)).unwrap_err();
        assert_eq!(e.to_string(), "/f line 2: no argument after keyword \"Port\"");
        assert!(parse_line("Port =", Location::new("/f", 2)).is_err());
    }

    #[test]
    fn tokenize_numbers_lines() {
        let lines = tokenize(Path::new("/f"), "# c\n\nPort 22\nListenAddress ::\n").unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].location.line, 3);
        assert_eq!(lines[1].location.line, 4);
        assert_eq!(lines[1].keyword_lower(), "listenaddress");
    }
}
