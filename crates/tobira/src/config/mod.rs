//! OpenSSH-compatible configuration files.
//!
//! - [`server`]: `tobirad_config`, in the syntax and with the semantics of
//!   `sshd_config(5)` (first obtained value wins, `Include`, `Match`
//!   blocks);
//! - [`client`]: `ssh_config(5)` files (`Host` and `Match` sections,
//!   `-o` options first, then the user's file, then the system file);
//!   `client_dump` prints the result as `ssh -G` does;
//! - [`lexer`]: the line syntax both share (`Keyword value`,
//!   `Keyword=value`, `#` comments, quoted arguments).
//!
//! This module holds what both sides use: errors that name the file and
//! line, the TIME FORMATS of `sshd_config(5)`, byte sizes with `K`/`M`/`G`
//! suffixes (`RekeyLimit`), `LogLevel`, `%` token expansion and OpenSSH's
//! pattern lists (`PATTERNS` in `ssh_config(5)`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod client;
mod client_dump;
pub mod lexer;
pub mod server;

pub use client::{resolve_client_config, ClientConfig};
pub use lexer::ConfigLine;
pub use server::{load_server_config, parse_server_config, ServerConfig};

/// Maximum nesting of `Include` directives (`SERVCONF_MAX_DEPTH` /
/// `READCONF_MAX_DEPTH` of OpenSSH, see `sshd_config(5)` and
/// `ssh_config(5)` under `Include`).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Where a configuration line comes from: a file and a 1-based line number.
///
/// `-o` options use the pseudo-file `command-line` and line 0, as
/// `sshd(8)` and `ssh(1)` do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file the line was read from (`command-line` for `-o`).
    pub path: PathBuf,
    /// The 1-based line number (0 for `-o` options).
    pub line: usize,
}

impl Location {
    /// A location in a file.
    pub fn new(path: impl Into<PathBuf>, line: usize) -> Self {
        Location {
            path: path.into(),
            line,
        }
    }

    /// The location OpenSSH gives to `-o` options: `command-line line 0`.
    pub fn command_line() -> Self {
        Location::new("command-line", 0)
    }
}

impl fmt::Display for Location {
    /// Formats as OpenSSH does in its messages: `FILE line N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.path.display(), self.line)
    }
}

/// An error in a configuration file or `-o` option (`sshd_config(5)`,
/// `ssh_config(5)`). Every variant names the file and the line, worded as
/// `sshd(8)` and `ssh(1)` word them.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A keyword neither tobira nor OpenSSH knows:
    /// `FILE: line N: Bad configuration option: KEYWORD` (OpenSSH's
    /// wording; the client lowercases the keyword as `ssh(1)` does).
    #[error("{}: line {}: Bad configuration option: {keyword}", .at.path.display(), .at.line)]
    BadOption {
        /// Where the keyword appears.
        at: Location,
        /// The keyword as reported.
        keyword: String,
    },
    /// An algorithm list (`Ciphers`, `KexAlgorithms`, ...) naming an
    /// algorithm this build does not implement, or resolving to nothing:
    /// `FILE line N: Bad SSH2 Ciphers 'spec': unsupported algorithm 'name'`.
    #[error("{at}: Bad SSH2 {keyword} '{spec}': {reason}")]
    BadAlgorithm {
        /// Where the list appears.
        at: Location,
        /// The keyword (`Ciphers`, `MACs`, ...).
        keyword: String,
        /// The list as written.
        spec: String,
        /// Why it was refused (names the algorithm).
        reason: tobira_proto::algorithms::ListError,
    },
    /// Any other invalid line: `FILE line N: MESSAGE`.
    #[error("{at}: {message}")]
    Invalid {
        /// Where the line is.
        at: Location,
        /// What is wrong, in OpenSSH's words where it has some.
        message: String,
    },
    /// A configuration file could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(at: &Location, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            at: at.clone(),
            message: message.into(),
        }
    }
}

/// Reads a configuration file as text (invalid UTF-8 is replaced rather
/// than refused, as OpenSSH reads bytes).
pub(crate) fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Verbosity of logging, the `LogLevel` keyword of `sshd_config(5)` and
/// `ssh_config(5)`: QUIET, FATAL, ERROR, INFO, VERBOSE, DEBUG (= DEBUG1),
/// DEBUG1, DEBUG2, DEBUG3. The default is INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LogLevel {
    /// `QUIET`: nothing is logged.
    Quiet,
    /// `FATAL`.
    Fatal,
    /// `ERROR`.
    Error,
    /// `INFO` (the default).
    #[default]
    Info,
    /// `VERBOSE`.
    Verbose,
    /// `DEBUG` or `DEBUG1`.
    Debug1,
    /// `DEBUG2`.
    Debug2,
    /// `DEBUG3`.
    Debug3,
}

impl LogLevel {
    /// Parses a level name, case-insensitively, as `sshd_config(5)`'s
    /// `LogLevel` lists them.
    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s.to_ascii_uppercase().as_str() {
            "QUIET" => LogLevel::Quiet,
            "FATAL" => LogLevel::Fatal,
            "ERROR" => LogLevel::Error,
            "INFO" => LogLevel::Info,
            "VERBOSE" => LogLevel::Verbose,
            "DEBUG" | "DEBUG1" => LogLevel::Debug1,
            "DEBUG2" => LogLevel::Debug2,
            "DEBUG3" => LogLevel::Debug3,
            _ => return None,
        })
    }

    /// The name OpenSSH prints for this level (`sshd -T` style).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Quiet => "QUIET",
            LogLevel::Fatal => "FATAL",
            LogLevel::Error => "ERROR",
            LogLevel::Info => "INFO",
            LogLevel::Verbose => "VERBOSE",
            LogLevel::Debug1 => "DEBUG1",
            LogLevel::Debug2 => "DEBUG2",
            LogLevel::Debug3 => "DEBUG3",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `RekeyLimit` (`sshd_config(5)`, `ssh_config(5)`): the amount of data
/// and, optionally, the time after which the session key is renegotiated.
/// tobira's default is `RekeyLimit 1G 1h` (`bytes: None` meaning 1 GiB or
/// sooner for 64-bit block ciphers, RFC 4344 §3.2; `interval: 1 hour`);
/// `none` as the second argument turns time-based rekeying off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RekeyLimit {
    /// Bytes after which to rekey; `None` means `default` (1 GiB, or the
    /// cipher's own limit if that is smaller).
    pub bytes: Option<u64>,
    /// Time after which to rekey; `None` means `none` (no time-based
    /// rekeying).
    pub interval: Option<Duration>,
}

/// The default time limit of [`RekeyLimit`]: one hour.
pub const DEFAULT_REKEY_INTERVAL: Duration = Duration::from_secs(3600);

impl Default for RekeyLimit {
    fn default() -> Self {
        RekeyLimit {
            bytes: None,
            interval: Some(DEFAULT_REKEY_INTERVAL),
        }
    }
}

impl RekeyLimit {
    /// The byte limit to hand to the protocol core.
    pub fn bytes_or_default(&self) -> u64 {
        self.bytes.unwrap_or(tobira_proto::config::DEFAULT_REKEY_BYTES)
    }
}

/// Parses the second argument of `RekeyLimit`: a time, or `none` (or 0)
/// for no time-based rekeying (`sshd_config(5)`).
pub(crate) fn parse_rekey_interval(arg: &str, at: &Location) -> Result<Option<Duration>, ConfigError> {
    let d = if arg == "none" {
        Duration::ZERO
    } else {
        parse_time(arg).ok_or_else(|| ConfigError::invalid(at, "invalid time value."))?
    };
    Ok((!d.is_zero()).then_some(d))
}

/// Parses the first argument of `RekeyLimit`: `default` or a byte count
/// with an optional `K`, `M`, `G` (...) suffix, at least 16 unless 0
/// (`sshd_config(5)`). Returns `Ok(None)` for `default`/0.
pub(crate) fn parse_rekey_bytes(arg: &str, keyword: &str, at: &Location) -> Result<Option<u64>, ConfigError> {
    if arg == "default" {
        return Ok(None);
    }
    let v = parse_size(arg)
        .ok_or_else(|| ConfigError::invalid(at, format!("Bad {keyword} number '{arg}': Invalid argument")))?;
    if v != 0 && v < 16 {
        return Err(ConfigError::invalid(at, format!("{keyword} too small")));
    }
    Ok(if v == 0 { None } else { Some(v) })
}

/// Parses a time interval in the TIME FORMATS of `sshd_config(5)`: a
/// sequence of `time[qualifier]` where the qualifier is none or `s`
/// (seconds), `m` (minutes), `h` (hours), `d` (days) or `w` (weeks),
/// case-insensitive; the values add up (`1h30m`, `90`, `2m`).
/// Returns `None` for a malformed value or one beyond `i32::MAX` seconds.
pub fn parse_time(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let secs: i64 = s[start..i].parse().ok()?;
        let mult: i64 = match b.get(i) {
            None => 1,
            Some(c) => {
                i += 1;
                match c.to_ascii_lowercase() {
                    b's' => 1,
                    b'm' => 60,
                    b'h' => 3600,
                    b'd' => 86_400,
                    b'w' => 604_800,
                    _ => return None,
                }
            }
        };
        let v = secs.checked_mul(mult)?;
        total = total.checked_add(v)?;
        if total > i64::from(i32::MAX) {
            return None;
        }
    }
    u64::try_from(total).ok().map(Duration::from_secs)
}

/// Parses a byte count as OpenSSH's `scan_scaled` does for `RekeyLimit`:
/// a number, optionally with a fraction, and an optional unit `B`, `K`,
/// `M`, `G`, `T`, `P` or `E` (powers of 1024, case-insensitive):
/// `1G`, `512K`, `1.5M`, `1000`.
pub fn parse_size(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let whole: u64 = s[..i].parse().ok()?;
    let mut frac_digits = "";
    if b.get(i) == Some(&b'.') {
        let fs = i + 1;
        let mut j = fs;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        frac_digits = &s[fs..j];
        i = j;
    }
    let shift: u32 = match b.get(i) {
        None => 0,
        Some(c) => {
            i += 1;
            match c.to_ascii_uppercase() {
                b'B' => 0,
                b'K' => 10,
                b'M' => 20,
                b'G' => 30,
                b'T' => 40,
                b'P' => 50,
                b'E' => 60,
                _ => return None,
            }
        }
    };
    if i != b.len() {
        return None;
    }
    let mult = 1u64 << shift;
    let mut v = whole.checked_mul(mult)?;
    if !frac_digits.is_empty() {
        // Only as many fraction digits as can matter (like scan_scaled).
        let digits = &frac_digits[..frac_digits.len().min(18)];
        let num: u128 = digits.parse().ok()?;
        let den: u128 = 10u128.checked_pow(u32::try_from(digits.len()).ok()?)?;
        let extra = num.checked_mul(u128::from(mult))? / den;
        v = v.checked_add(u64::try_from(extra).ok()?)?;
    }
    Some(v)
}

/// Parses a yes/no flag. `sshd_config(5)` accepts `yes` and `no`;
/// `ssh_config(5)` also `true` and `false` (`allow_true_false`).
pub(crate) fn parse_yes_no(arg: &str, allow_true_false: bool) -> Option<bool> {
    match arg.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        "true" if allow_true_false => Some(true),
        "false" if allow_true_false => Some(false),
        _ => None,
    }
}

/// Expands `%` tokens as OpenSSH's `percent_expand` does (`TOKENS` in
/// `ssh_config(5)` and `sshd_config(5)`): `%%` is a literal `%`, `%c` is
/// replaced by the value given for `c` in `tokens`; an unknown token or a
/// trailing `%` is an error naming it.
pub fn expand_tokens(s: &str, tokens: &[(char, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(k) => match tokens.iter().find(|(t, _)| *t == k) {
                Some((_, v)) => out.push_str(v),
                None => return Err(format!("percent_expand: unknown key %{k}")),
            },
            None => return Err("percent_expand: invalid format".to_string()),
        }
    }
    Ok(out)
}

/// Expands a leading `~` (alone or followed by `/`) to `home`, as
/// OpenSSH's `tilde_expand_filename` does for the current user. Other
/// strings (including `~user/...`) are returned unchanged.
pub fn expand_tilde(s: &str, home: &Path) -> String {
    if s == "~" {
        return home.to_string_lossy().into_owned();
    }
    if let Some(rest) = s.strip_prefix("~/") {
        return home.join(rest).to_string_lossy().into_owned();
    }
    s.to_string()
}

/// OpenSSH's `match_pattern`: `*` matches any sequence, `?` any one
/// character; everything else literally (PATTERNS in `ssh_config(5)`).
pub fn match_pattern(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The result of matching a name against a pattern list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// A negated (`!pattern`) entry matched: the list refuses the name.
    Negated,
    /// No entry matched.
    NoMatch,
    /// A positive entry matched and no negated one did.
    Match,
}

/// OpenSSH's `match_pattern_list`: a comma-separated list of patterns,
/// each optionally negated with `!`; a negated match wins over positive
/// ones (PATTERNS in `ssh_config(5)`). With `lowercase`, the name is
/// compared case-insensitively (host names).
pub fn match_pattern_list(name: &str, list: &str, lowercase: bool) -> ListMatch {
    let name = if lowercase {
        name.to_ascii_lowercase()
    } else {
        name.to_string()
    };
    let mut got = ListMatch::NoMatch;
    for entry in list.split(',') {
        let (neg, pat) = match entry.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, entry),
        };
        let pat = if lowercase {
            pat.to_ascii_lowercase()
        } else {
            pat.to_string()
        };
        if match_pattern(&name, &pat) {
            if neg {
                return ListMatch::Negated;
            }
            got = ListMatch::Match;
        }
    }
    got
}

/// Parses `addr` or `addr/len` (CIDR). `Ok(None)`: not an address (the
/// entry is then a wildcard pattern); `Err`: an address with an invalid or
/// inconsistent mask (host bits set), which OpenSSH refuses.
fn parse_cidr(s: &str) -> Result<Option<(IpAddr, u8)>, ()> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let Ok(ip) = a.parse::<IpAddr>() else {
        return if len.is_some() { Err(()) } else { Ok(None) };
    };
    let max = if ip.is_ipv4() { 32u8 } else { 128u8 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max && !l.starts_with('+') => n,
            _ => return Err(()),
        },
    };
    let bits = ip_bits(ip);
    let mask = prefix_mask(len, max);
    if bits & !mask != 0 {
        return Err(());
    }
    Ok(Some((ip, len)))
}

fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn prefix_mask(len: u8, max: u8) -> u128 {
    let all: u128 = if max == 32 { u128::from(u32::MAX) } else { u128::MAX };
    if len == 0 {
        0
    } else {
        (all << (max - len)) & all
    }
}

/// Unwraps an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) to IPv4, as
/// `sshd(8)` reports peers.
pub(crate) fn canonical_ip(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => addr,
        },
        v4 => v4,
    }
}

/// OpenSSH's `addr_match_list` (`Match Address` in `sshd_config(5)`):
/// a comma-separated list of CIDR networks (`10.0.0.0/8`), addresses or
/// wildcard patterns (`192.168.*`), each optionally negated with `!`.
/// `Err` carries the entry that is not a valid network.
pub fn addr_match_list(addr: Option<IpAddr>, list: &str) -> Result<ListMatch, String> {
    let addr = addr.map(canonical_ip);
    let text = addr.map(|a| a.to_string());
    let mut got = ListMatch::NoMatch;
    for entry in list.split(',') {
        let (neg, pat) = match entry.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, entry),
        };
        if pat.is_empty() {
            return Err(entry.to_string());
        }
        let hit = match parse_cidr(pat) {
            Err(()) => return Err(entry.to_string()),
            Ok(Some((net, len))) => match addr {
                Some(a) if a.is_ipv4() == net.is_ipv4() => {
                    let max = if a.is_ipv4() { 32 } else { 128 };
                    let mask = prefix_mask(len, max);
                    ip_bits(a) & mask == ip_bits(net) & mask
                }
                _ => false,
            },
            Ok(None) => text.as_deref().is_some_and(|t| match_pattern(t, pat)),
        };
        if hit {
            if neg {
                return Ok(ListMatch::Negated);
            }
            got = ListMatch::Match;
        }
    }
    Ok(got)
}

/// Expands an `Include` argument (already made absolute) into the files it
/// names, sorted, like `glob(3)`: `*` and `?` in any path component match
/// names not starting with `.`; a path without wildcards names itself if
/// it exists. A pattern matching nothing yields no files (not an error,
/// as in `sshd_config(5)`).
pub(crate) fn glob_paths(pattern: &Path) -> Vec<PathBuf> {
    use std::path::Component;
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for comp in pattern.components() {
        let mut next = Vec::new();
        match comp {
            Component::Normal(name) => {
                let name = name.to_string_lossy();
                if name.contains(['*', '?']) {
                    for base in &current {
                        let dir = if base.as_os_str().is_empty() {
                            PathBuf::from(".")
                        } else {
                            base.clone()
                        };
                        let Ok(rd) = std::fs::read_dir(&dir) else {
                            continue;
                        };
                        let mut hits: Vec<PathBuf> = rd
                            .filter_map(|e| e.ok())
                            .filter_map(|e| {
                                let n = e.file_name().to_string_lossy().into_owned();
                                if n.starts_with('.') && !name.starts_with('.') {
                                    return None;
                                }
                                match_pattern(&n, &name).then(|| base.join(&n))
                            })
                            .collect();
                        hits.sort();
                        next.extend(hits);
                    }
                } else {
                    next = current.iter().map(|b| b.join(&*name)).collect();
                }
            }
            other => {
                next = current.iter().map(|b| b.join(other.as_os_str())).collect();
            }
        }
        current = next;
        if current.is_empty() {
            break;
        }
    }
    current.retain(|p| !p.as_os_str().is_empty() && p.exists());
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(parse_time("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_time("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_time("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_time("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_time("1W2D"), Some(Duration::from_secs(604_800 + 2 * 86_400)));
        assert_eq!(parse_time("0"), Some(Duration::ZERO));
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("1x"), None);
        assert_eq!(parse_time("m"), None);
        assert_eq!(parse_time("-5"), None);
        assert_eq!(parse_time("99999999999"), None);
    }

    #[test]
    fn size_formats() {
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("1K"), Some(1024));
        assert_eq!(parse_size("512k"), Some(512 * 1024));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("4M"), Some(4 << 20));
        assert_eq!(parse_size("1.5M"), Some(3 << 19));
        assert_eq!(parse_size("1Q"), None);
        assert_eq!(parse_size("G"), None);
        assert_eq!(parse_size("1GB"), None);
        assert_eq!(parse_size("99999999999E"), None);
    }

    #[test]
    fn tokens_and_tilde() {
        let t = [('h', "example.org"), ('u', "alice"), ('d', "/home/alice"), ('r', "bob")];
        assert_eq!(
            expand_tokens("%d/.ssh/id_%h_%r", &t).unwrap(),
            "/home/alice/.ssh/id_example.org_bob"
        );
        assert_eq!(expand_tokens("100%% %u", &t).unwrap(), "100% alice");
        assert!(expand_tokens("%z", &t).unwrap_err().contains("%z"));
        assert!(expand_tokens("abc%", &t).is_err());
        let home = Path::new("/home/alice");
        assert_eq!(expand_tilde("~/.ssh/id", home), "/home/alice/.ssh/id");
        assert_eq!(expand_tilde("~", home), "/home/alice");
        assert_eq!(expand_tilde("/etc/x", home), "/etc/x");
    }

    #[test]
    fn patterns() {
        assert!(match_pattern("foo.example.org", "*.example.org"));
        assert!(match_pattern("ab", "a?"));
        assert!(!match_pattern("abc", "a?"));
        assert!(match_pattern("", "*"));
        assert!(match_pattern("aaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*b"));
        assert_eq!(match_pattern_list("web1", "web*,!web2", false), ListMatch::Match);
        assert_eq!(match_pattern_list("web2", "web*,!web2", false), ListMatch::Negated);
        assert_eq!(match_pattern_list("db", "web*", false), ListMatch::NoMatch);
        assert_eq!(match_pattern_list("WEB1", "web*", true), ListMatch::Match);
    }

    #[test]
    fn address_lists() {
        let a: IpAddr = "192.168.1.7".parse().unwrap();
        assert_eq!(addr_match_list(Some(a), "192.168.1.0/24"), Ok(ListMatch::Match));
        assert_eq!(addr_match_list(Some(a), "10.0.0.0/8"), Ok(ListMatch::NoMatch));
        assert_eq!(
            addr_match_list(Some(a), "192.168.*,!192.168.1.7"),
            Ok(ListMatch::Negated)
        );
        assert_eq!(addr_match_list(Some(a), "192.168.1.7"), Ok(ListMatch::Match));
        assert!(addr_match_list(Some(a), "192.168.1.1/24").is_err());
        assert!(addr_match_list(Some(a), "192.168.1.0/33").is_err());
        let mapped: IpAddr = "::ffff:192.168.1.7".parse().unwrap();
        assert_eq!(addr_match_list(Some(mapped), "192.168.0.0/16"), Ok(ListMatch::Match));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(addr_match_list(Some(v6), "2001:db8::/32"), Ok(ListMatch::Match));
        assert_eq!(addr_match_list(Some(v6), "0.0.0.0/0"), Ok(ListMatch::NoMatch));
    }

    #[test]
    fn error_wording() {
        let e = ConfigError::BadOption {
            at: Location::new("/etc/tobira/tobirad_config", 3),
            keyword: "Frobnicate".into(),
        };
        assert_eq!(
            e.to_string(),
            "/etc/tobira/tobirad_config: line 3: Bad configuration option: Frobnicate"
        );
        let e = ConfigError::invalid(&Location::command_line(), "missing argument.");
        assert_eq!(e.to_string(), "command-line line 0: missing argument.");
    }
}
