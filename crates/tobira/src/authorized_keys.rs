//! OpenSSH `authorized_keys` files: the server's publickey authorization.
//!
//! The format is the one described in sshd(8), "AUTHORIZED_KEYS FILE
//! FORMAT": one key per line as
//!
//! ```text
//! [options] keytype base64-key [comment]
//! ```
//!
//! where `options` is a comma-separated list without unquoted blanks
//! (`no-pty,command="echo \"a, b\"",from="10.0.0.0/8"`). Option names are
//! case-insensitive. Blank lines and lines starting with `#` are comments.
//! A line with an unknown or malformed option is skipped (sshd logs "bad key
//! options" and goes on with the next line), as is any other malformed line;
//! both are logged with `tracing::debug!`.
//!
//! The parser follows OpenSSH's `auth_check_authkey_line()` (auth2-pubkeyfile.c)
//! and `sshauthopt_parse()` (auth-options.c); [`find`] follows
//! `check_authkeys_file()` and `auth_authorise_keyopts()`, [`from_matches`]
//! follows `match_host_and_ip()` (match.c) and `addr_match_list()`
//! (addrmatch.c), and [`check_strict_modes`] follows `safe_path()` (misc.c).

use std::fs;
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::pubkey::AnyPublicKey;

/// OpenSSH's `SSH_AUTHOPT_ENV_MAX`: at most this many `environment=` options.
const ENV_MAX: usize = 1024;
/// OpenSSH's `SSH_AUTHOPT_PERMIT_MAX`: at most this many `permitopen=` /
/// `permitlisten=` options of each kind.
const PERMIT_MAX: usize = 4096;
/// OpenSSH's `SSH_TUNID_MAX`: the highest tunnel device number.
const TUNID_MAX: u32 = 0x7fff_fffd;
/// OpenSSH's `NI_MAXHOST`: host names in `permitopen=` must be shorter.
const NI_MAXHOST: usize = 1025;
/// The subpattern buffer of OpenSSH's `match_pattern_list()`.
const MAX_SUBPATTERN: usize = 1024;
/// `addr_pton_cidr()` copies the pattern into a 64-byte buffer.
const MAX_CIDR_TEXT: usize = 64;

/// The device of a `tunnel="n"` option (sshd(8), AUTHORIZED_KEYS FILE
/// FORMAT): forces a tun(4) device on the server instead of the one the
/// client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelDevice {
    /// `tunnel="any"`: the next available device.
    Any,
    /// `tunnel="n"`: device number `n` (0 to 0x7ffffffd).
    Unit(u32),
}

/// The options of one authorized_keys line (sshd(8), AUTHORIZED_KEYS FILE
/// FORMAT; OpenSSH's `struct sshauthopt`).
///
/// The default value is a line without options: everything permitted.
/// `restrict` is already folded into the `no_*` flags: it sets all of them,
/// and a later `pty`, `port-forwarding`, `agent-forwarding`,
/// `X11-forwarding` or `user-rc` clears the matching one again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyOptions {
    /// `command="command"`: the forced command, run instead of anything the
    /// client asks for.
    pub command: Option<String>,
    /// `environment="NAME=value"` (repeatable), in file order; for a name
    /// given twice the first one wins, as in sshd.
    pub environment: Vec<(String, String)>,
    /// `from="pattern-list"`: the client's canonical host name or address
    /// must match (see [`from_matches`]).
    pub from: Option<String>,
    /// `expiry-time="timespec"`: the key is refused after this time; with
    /// several, the earliest. `YYYYMMDD[HHMM[SS]]` followed by `Z` or `UTC`
    /// is UTC; sshd reads a time without a suffix in the system's local
    /// time zone, which this implementation (having no time-zone database
    /// at hand) also treats as UTC.
    pub expiry_time: Option<SystemTime>,
    /// `no-pty` (or `restrict` without a later `pty`): no pty allocation.
    pub no_pty: bool,
    /// `no-port-forwarding` (or `restrict` without a later
    /// `port-forwarding`): no TCP/IP forwarding in either direction.
    pub no_port_forwarding: bool,
    /// `no-agent-forwarding` (or `restrict` without a later
    /// `agent-forwarding`).
    pub no_agent_forwarding: bool,
    /// `no-X11-forwarding` (or `restrict` without a later `X11-forwarding`).
    pub no_x11_forwarding: bool,
    /// `no-user-rc` (or `restrict` without a later `user-rc`): don't run
    /// `~/.ssh/rc`.
    pub no_user_rc: bool,
    /// `permitopen="host:port"` (repeatable): the only `direct-tcpip`
    /// destinations allowed; empty means no restriction. `host` may be in
    /// brackets (IPv6), `port` may be `*`.
    pub permit_open: Vec<String>,
    /// `permitlisten="[host:]port"` (repeatable): the only remote-forward
    /// listen addresses allowed; empty means no restriction. A bare port is
    /// stored as `*:port`, as sshd does.
    pub permit_listen: Vec<String>,
    /// `principals="name[,name...]"`: for `cert-authority` lines, the
    /// certificate principals accepted.
    pub principals: Option<String>,
    /// `cert-authority`: the key is a CA that signs user certificates; such
    /// a line never authorizes the plain key itself.
    pub cert_authority: bool,
    /// `restrict` was given (its effect is already in the `no_*` flags).
    pub restrict: bool,
    /// `no-touch-required`: FIDO keys need not prove user presence.
    pub no_touch_required: bool,
    /// `verify-required`: FIDO signatures must attest user verification.
    pub verify_required: bool,
    /// `tunnel="n"`: the forced tun(4) device.
    pub tunnel: Option<TunnelDevice>,
}

/// One key line of an authorized_keys file (sshd(8), AUTHORIZED_KEYS FILE
/// FORMAT): its options, the key (with the line's comment) and the 1-based
/// line number.
#[derive(Debug, Clone)]
pub struct AuthorizedKey {
    /// The line's options; all defaults when it has none.
    pub options: KeyOptions,
    /// The public key; its comment is the rest of the line.
    pub key: AnyPublicKey,
    /// The line number in the file, counting from 1.
    pub line: usize,
}

/// Parses the text of an authorized_keys file (sshd(8), AUTHORIZED_KEYS FILE
/// FORMAT).
///
/// Comments, blank lines and lines without a readable key are skipped, as
/// are lines whose options sshd would reject ("bad key options": an unknown
/// option, a missing quote, a duplicate `command=`, an invalid
/// `expiry-time=`, ...). Every skipped line is logged with
/// `tracing::debug!`; nothing here panics on the file's contents.
pub fn parse(text: &str) -> Vec<AuthorizedKey> {
    let mut entries = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        match parse_line(raw) {
            Ok(Some((options, key))) => entries.push(AuthorizedKey { options, key, line }),
            Ok(None) => {}
            Err(reason) => tracing::debug!("authorized_keys line {line}: {reason}; line skipped"),
        }
    }
    entries
}

/// Parses the options at the start of an authorized_keys line (sshd(8),
/// AUTHORIZED_KEYS FILE FORMAT; OpenSSH's `sshauthopt_parse()`), stopping at
/// the first unquoted blank.
///
/// Returns OpenSSH's reason (e.g. "unknown key option", "missing end
/// quote", "multiple \"command\" clauses") when sshd would reject the line.
pub fn parse_options(opts: &str) -> Result<KeyOptions, String> {
    let s = opts.as_bytes();
    let mut o = KeyOptions::default();
    let mut i = 0;
    while i < s.len() && !is_blank(s[i]) {
        let rest = &s[i..];
        if let Some((_, n)) = opt_flag(rest, "restrict", false) {
            i += n;
            o.restrict = true;
            o.no_port_forwarding = true;
            o.no_agent_forwarding = true;
            o.no_x11_forwarding = true;
            o.no_pty = true;
            o.no_user_rc = true;
        } else if let Some((_, n)) = opt_flag(rest, "cert-authority", false) {
            i += n;
            o.cert_authority = true;
        } else if let Some((on, n)) = opt_flag(rest, "port-forwarding", true) {
            i += n;
            o.no_port_forwarding = !on;
        } else if let Some((on, n)) = opt_flag(rest, "agent-forwarding", true) {
            i += n;
            o.no_agent_forwarding = !on;
        } else if let Some((on, n)) = opt_flag(rest, "x11-forwarding", true) {
            i += n;
            o.no_x11_forwarding = !on;
        } else if let Some((on, n)) = opt_flag(rest, "touch-required", true) {
            i += n;
            o.no_touch_required = !on;
        } else if let Some((on, n)) = opt_flag(rest, "verify-required", true) {
            i += n;
            o.verify_required = on;
        } else if let Some((on, n)) = opt_flag(rest, "pty", true) {
            i += n;
            o.no_pty = !on;
        } else if let Some((on, n)) = opt_flag(rest, "user-rc", true) {
            i += n;
            o.no_user_rc = !on;
        } else if let Some(n) = opt_match(rest, "command") {
            i += n;
            if o.command.is_some() {
                return Err("multiple \"command\" clauses".into());
            }
            o.command = Some(dequote(s, &mut i)?);
        } else if let Some(n) = opt_match(rest, "principals") {
            i += n;
            if o.principals.is_some() {
                return Err("multiple \"principals\" clauses".into());
            }
            o.principals = Some(dequote(s, &mut i)?);
        } else if let Some(n) = opt_match(rest, "from") {
            i += n;
            if o.from.is_some() {
                return Err("multiple \"from\" clauses".into());
            }
            o.from = Some(dequote(s, &mut i)?);
        } else if let Some(n) = opt_match(rest, "expiry-time") {
            i += n;
            let value = dequote(s, &mut i)?;
            let secs = parse_absolute_time(&value).ok_or("invalid expires time")?;
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            if o.expiry_time.is_none_or(|t| time < t) {
                o.expiry_time = Some(time);
            }
        } else if let Some(n) = opt_match(rest, "environment") {
            i += n;
            if o.environment.len() > ENV_MAX {
                return Err("too many environment strings".into());
            }
            let value = dequote(s, &mut i)?;
            let (name, val) = value.split_once('=').ok_or("invalid environment string")?;
            if !valid_env_name(name) {
                return Err("invalid environment string".into());
            }
            // First match wins.
            if !o.environment.iter().any(|(n, _)| n == name) {
                o.environment.push((name.to_string(), val.to_string()));
            }
        } else if let Some(n) = opt_match(rest, "permitopen") {
            i += n;
            handle_permit(s, &mut i, false, &mut o.permit_open)?;
        } else if let Some(n) = opt_match(rest, "permitlisten") {
            i += n;
            handle_permit(s, &mut i, true, &mut o.permit_listen)?;
        } else if let Some(n) = opt_match(rest, "tunnel") {
            i += n;
            let value = dequote(s, &mut i)?;
            o.tunnel = Some(parse_tunnel(&value).ok_or("invalid tun device")?);
        }
        // Skip the comma and move to the next option, or stop.
        match s.get(i) {
            None => break,
            Some(&c) if is_blank(c) => break,
            Some(b',') => {}
            Some(_) => return Err(format!("unknown key option \"{}\"", option_name(&s[i..]))),
        }
        i += 1;
        if i >= s.len() {
            return Err("unexpected end-of-options".into());
        }
    }
    Ok(o)
}

/// Finds the entry authorizing the plain key `key` (sshd(8), AUTHORIZED_KEYS
/// FILE FORMAT; OpenSSH's `check_authkeys_file()`).
///
/// Keys are compared by key data only (comments don't matter);
/// `cert-authority` lines never match a plain key. A matching line must
/// then pass its options: not expired at `now` (`expiry-time=`), no
/// `principals=` without `cert-authority`, and `from=` matching
/// `client_ip` and `client_host` (see [`from_matches`]). As in sshd, a
/// refused line does not end the search: a later line with the same key may
/// still authorize it.
///
/// Returns `Ok(Some(entry))` for the first line that authorizes the key,
/// `Err(reason)` when matching lines exist but their options refuse it (the
/// reason of the first, e.g. "Authentication tried with correct key but not
/// from a permitted host (host=..., ip=..., required=...)." or "key
/// expired: ..."), and `Ok(None)` when no line has the key. Use
/// [`find_for_user`] to get sshd's exact wording with the user name.
pub fn find(
    entries: &[AuthorizedKey],
    key: &AnyPublicKey,
    client_ip: IpAddr,
    client_host: Option<&str>,
    now: SystemTime,
) -> Result<Option<AuthorizedKey>, String> {
    find_entry(entries, None, key, client_ip, client_host, now)
}

/// [`find`] for the user `user`: the same search (sshd(8), AUTHORIZED_KEYS
/// FILE FORMAT), with sshd's log wording for a refused `from=`: "Authentication
/// tried for USER with correct key but not from a permitted host (host=...,
/// ip=..., required=...)."
pub fn find_for_user(
    entries: &[AuthorizedKey],
    user: &str,
    key: &AnyPublicKey,
    client_ip: IpAddr,
    client_host: Option<&str>,
    now: SystemTime,
) -> Result<Option<AuthorizedKey>, String> {
    find_entry(entries, Some(user), key, client_ip, client_host, now)
}

/// Whether the client matches a `from="pattern-list"` option (sshd(8),
/// AUTHORIZED_KEYS FILE FORMAT; OpenSSH's `match_host_and_ip()` with
/// `addr_match_list()`).
///
/// Each comma-separated pattern may be negated with `!`. Against the address,
/// a pattern is a CIDR network (`a.b.c.d/nn`, `2001:db8::/32`, or a single
/// address) or else a `*`/`?` wildcard pattern on the address text; against
/// the host name (lower-cased), it is a wildcard pattern. A negated pattern
/// that matches rejects the client, whatever else matches; otherwise at
/// least one positive pattern must match. A malformed list (an empty entry,
/// a network with host bits set such as `10.0.0.1/8`) matches nothing.
///
/// `host` is the client's canonical host name; with `None` (sshd's
/// `UseDNS no`) the address text stands in for it, as in sshd. IPv4-mapped
/// IPv6 addresses are treated as the IPv4 address.
pub fn from_matches(pattern_list: &str, ip: IpAddr, host: Option<&str>) -> bool {
    let ip = ip.to_canonical();
    let ip_text = ip.to_string();
    match_host_and_ip(host.unwrap_or(&ip_text), ip, &ip_text, pattern_list) == 1
}

/// sshd's `StrictModes` check of an authorized_keys file (sshd(8),
/// AUTHORIZED_KEYS FILE FORMAT; OpenSSH's `safe_path()` in misc.c).
///
/// The file (symbolic links resolved) must be a regular file owned by `uid`
/// or root and writable by neither group nor others. Then each directory
/// above it is checked the same way, walking up to `/` but stopping after
/// the user's home directory `home` (so directories above the home are not
/// checked when the file is inside it). Returns OpenSSH's message, e.g.
/// "bad ownership or modes for file /home/a/.ssh/authorized_keys" or "bad
/// ownership or modes for directory /home/a/.ssh", naming the resolved
/// path.
pub fn check_strict_modes(path: &Path, uid: u32, home: &Path) -> Result<(), String> {
    let buf = fs::canonicalize(path).map_err(|e| format!("realpath {} failed: {}", path.display(), strerror(&e)))?;
    let homedir = fs::canonicalize(home).ok();
    let st = fs::metadata(&buf).map_err(|e| format!("cannot stat file {}: {}", buf.display(), strerror(&e)))?;
    if !st.is_file() {
        return Err(format!("{} is not a regular file", buf.display()));
    }
    if !owner_and_mode_ok(&st, uid) {
        return Err(format!("bad ownership or modes for file {}", buf.display()));
    }
    let mut dir: PathBuf = buf;
    while let Some(parent) = dir.parent().map(Path::to_path_buf) {
        dir = parent;
        let ok = fs::metadata(&dir).is_ok_and(|m| owner_and_mode_ok(&m, uid));
        if !ok {
            return Err(format!("bad ownership or modes for directory {}", dir.display()));
        }
        // Past the home directory we can stop.
        if homedir.as_deref() == Some(dir.as_path()) {
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Line parsing (auth_check_authkey_line, sshkey_read)

/// One line: `Ok(None)` for comments and blank lines, `Err` for skipped lines.
fn parse_line(raw: &str) -> Result<Option<(KeyOptions, AnyPublicKey)>, String> {
    let line = skip_space(raw.trim_end_matches(['\r', '\n']));
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    if let Some(key) = read_key(line) {
        return Ok(Some((KeyOptions::default(), key)));
    }
    // No key at the start: options first.
    let end = advance_past_options(line).ok_or("invalid key option string")?;
    let rest = line.get(end..).unwrap_or("");
    let key = read_key(skip_space(rest)).ok_or("no readable key")?;
    let options = parse_options(line).map_err(|e| format!("bad key options: {e}"))?;
    Ok(Some((options, key)))
}

/// `keytype base64 [comment]` at the start of `s`, or `None`; any key type
/// tobira knows, `ssh-ed448` included.
fn read_key(s: &str) -> Option<AnyPublicKey> {
    let (kind, rest) = split_token(s);
    let (blob, rest) = split_token(skip_space(rest));
    if kind.is_empty() || blob.is_empty() {
        return None;
    }
    let mut key = AnyPublicKey::from_openssh(&format!("{kind} {blob}")).ok()?;
    key.set_comment(skip_space(rest).trim_end());
    Some(key)
}

/// The byte offset of the first unquoted blank (OpenSSH's
/// `sshkey_advance_past_options()`); `None` for an unterminated quote.
fn advance_past_options(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() && (quoted || !is_blank(b[i])) {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'"') {
            i += 1; // skip both
        } else if b[i] == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    (!(i >= b.len() && quoted)).then_some(i)
}

/// Splits at the first blank: (token, rest starting at the blank).
fn split_token(s: &str) -> (&str, &str) {
    s.split_at(s.find([' ', '\t']).unwrap_or(s.len()))
}

fn skip_space(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

// ---------------------------------------------------------------------------
// Option parsing helpers (auth-options.c)

/// OpenSSH's `opt_flag()`: `name` (or `no-name` when negatable) at the start
/// of `s`, case-insensitively: (enabled, bytes consumed).
fn opt_flag(s: &[u8], name: &str, allow_negate: bool) -> Option<(bool, usize)> {
    let skip = if allow_negate && starts_with_ci(s, b"no-") {
        3
    } else {
        0
    };
    let rest = s.get(skip..)?;
    starts_with_ci(rest, name.as_bytes()).then_some((skip == 0, skip + name.len()))
}

/// OpenSSH's `opt_match()`: `name=` at the start of `s`: bytes consumed.
fn opt_match(s: &[u8], name: &str) -> Option<usize> {
    (starts_with_ci(s, name.as_bytes()) && s.get(name.len()) == Some(&b'=')).then_some(name.len() + 1)
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// OpenSSH's `opt_dequote()`: a `"`-quoted string at `s[*i..]` where `\"`
/// stands for `"`; advances `*i` past the closing quote.
fn dequote(s: &[u8], i: &mut usize) -> Result<String, String> {
    let mut j = *i;
    if s.get(j) != Some(&b'"') {
        return Err("missing start quote".into());
    }
    j += 1;
    let mut out = Vec::new();
    while let Some(&c) = s.get(j) {
        if c == b'"' {
            break;
        }
        if c == b'\\' && s.get(j + 1) == Some(&b'"') {
            j += 1;
            out.push(b'"');
        } else {
            out.push(c);
        }
        j += 1;
    }
    if j >= s.len() {
        return Err("missing end quote".into());
    }
    *i = j + 1;
    String::from_utf8(out).map_err(|_| "invalid UTF-8 in quoted option".to_string())
}

/// The option text at the start of `s`, for messages.
fn option_name(s: &[u8]) -> String {
    let end = s
        .iter()
        .position(|&c| c == b',' || c == b'=' || is_blank(c))
        .unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end.min(64)]).into_owned()
}

/// OpenSSH's `valid_env_name()`: non-empty, alphanumerics and `_`.
fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// OpenSSH's `handle_permit()` for `permitopen=` / `permitlisten=`.
fn handle_permit(s: &[u8], i: &mut usize, allow_bare_port: bool, list: &mut Vec<String>) -> Result<(), String> {
    if list.len() > PERMIT_MAX {
        return Err("too many permission directives".into());
    }
    let mut value = dequote(s, i)?;
    if allow_bare_port && !value.contains(':') {
        value = format!("*:{value}");
    }
    let (host, port) = hpdelim2(&value).ok_or("invalid permission hostname")?;
    if host.len() >= NI_MAXHOST {
        return Err("invalid permission hostname".into());
    }
    // Service names (getservbyname) are not looked up: numeric ports only.
    match port {
        Some(p) if p == "*" || p.parse::<u16>().is_ok_and(|n| n > 0) => {}
        _ => return Err("invalid permission port".into()),
    }
    list.push(value);
    Ok(())
}

/// OpenSSH's `hpdelim2()`: `host` or `[host]` followed by `:`/`/` and the
/// rest; `None` when something else follows a bracketed host.
fn hpdelim2(s: &str) -> Option<(&str, Option<&str>)> {
    let end = if s.starts_with('[') {
        s.find(']')? + 1
    } else {
        s.find([':', '/']).unwrap_or(s.len())
    };
    match s.as_bytes().get(end) {
        None => Some((s, None)),
        Some(b':' | b'/') => Some((s.get(..end)?, s.get(end + 1..))),
        Some(_) => None,
    }
}

/// OpenSSH's `a2tun()` without a remote part: `any` or 0..=0x7ffffffd.
fn parse_tunnel(s: &str) -> Option<TunnelDevice> {
    if s.eq_ignore_ascii_case("any") {
        return Some(TunnelDevice::Any);
    }
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>()
        .ok()
        .filter(|&n| n <= TUNID_MAX)
        .map(TunnelDevice::Unit)
}

/// OpenSSH's `parse_absolute_time()`: `YYYYMMDD[HHMM[SS]]` with an optional
/// `Z`/`UTC` suffix, as seconds since the epoch. Times without a suffix are
/// taken as UTC too (see [`KeyOptions::expiry_time`]). `None` for a bad
/// format or a time at or before the epoch.
fn parse_absolute_time(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let digits = if s.len() > 1 && lower.ends_with('z') {
        &s[..s.len() - 1]
    } else if s.len() > 3 && lower.ends_with("utc") {
        &s[..s.len() - 3]
    } else {
        s
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let field = |from: usize, len: usize| -> i64 {
        digits.as_bytes()[from..from + len]
            .iter()
            .fold(0, |acc, &c| acc * 10 + i64::from(c - b'0'))
    };
    let (year, month, day) = (field(0, 4), field(4, 2), field(6, 2));
    let (hour, minute) = if digits.len() >= 12 {
        (field(8, 2), field(10, 2))
    } else {
        (0, 0)
    };
    let second = if digits.len() == 14 { field(12, 2) } else { 0 };
    // strptime(3)'s ranges; timegm(3) normalises e.g. February 31st.
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 61 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    u64::try_from(secs).ok().filter(|&t| t > 0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time (OpenSSH's `format_absolute_time()`,
/// in UTC).
fn format_time(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------
// Authorization (check_authkeys_file, auth_authorise_keyopts)

fn find_entry(
    entries: &[AuthorizedKey],
    user: Option<&str>,
    key: &AnyPublicKey,
    client_ip: IpAddr,
    client_host: Option<&str>,
    now: SystemTime,
) -> Result<Option<AuthorizedKey>, String> {
    let mut refusal = None;
    for entry in entries {
        // Ignore keys that don't match or are marked as CAs.
        if entry.options.cert_authority || !entry.key.same_key(key) {
            continue;
        }
        tracing::debug!("authorized_keys line {}: matching key found", entry.line);
        match authorise(entry, user, client_ip, client_host, now) {
            Ok(()) => return Ok(Some(entry.clone())),
            Err(reason) => {
                tracing::debug!("authorized_keys line {}: refused by key options: {reason}", entry.line);
                refusal.get_or_insert(reason);
            }
        }
    }
    refusal.map_or(Ok(None), Err)
}

/// OpenSSH's `auth_authorise_keyopts()` for a plain key.
fn authorise(
    entry: &AuthorizedKey,
    user: Option<&str>,
    client_ip: IpAddr,
    client_host: Option<&str>,
    now: SystemTime,
) -> Result<(), String> {
    let opts = &entry.options;
    if let Some(expiry) = opts.expiry_time {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let now_secs = secs(now);
        if now_secs > 0 && secs(expiry) < now_secs {
            return Err(format!(
                "key expired: authorized_keys line {}: entry expired at {}",
                entry.line,
                format_time(expiry)
            ));
        }
    }
    if opts.principals.is_some() && !opts.cert_authority {
        return Err(format!("authorized_keys line {}: principals on non-CA key", entry.line));
    }
    if let Some(required) = &opts.from {
        if !from_matches(required, client_ip, client_host) {
            let ip = client_ip.to_canonical().to_string();
            let host = client_host.unwrap_or(&ip);
            let who = user.map(|u| format!(" for {}", truncate(u, 100))).unwrap_or_default();
            return Err(format!(
                "Authentication tried{who} with correct key but not from a permitted host \
                 (host={}, ip={}, required={}).",
                truncate(host, 200),
                truncate(&ip, 200),
                truncate(required, 200)
            ));
        }
    }
    Ok(())
}

/// At most `max` bytes of `s`, on a character boundary (printf's `%.Ns`).
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ---------------------------------------------------------------------------
// from= matching (match.c, addrmatch.c)

/// OpenSSH's `match_host_and_ip()`: 1 match, 0 no match, -1 bad patterns.
fn match_host_and_ip(host: &str, ip: IpAddr, ip_text: &str, patterns: &str) -> i32 {
    let mip = addr_match_list(ip, ip_text, patterns);
    if mip == -2 {
        return -1;
    }
    if mip == -1 {
        return 0;
    }
    let mhost = match_pattern_list(&host.to_ascii_lowercase(), patterns, true);
    if mhost == -1 || (mhost == 0 && mip == 0) {
        return 0;
    }
    1
}

/// OpenSSH's `addr_match_list()`: 1 match, 0 none, -1 negated match, -2 a
/// malformed list.
fn addr_match_list(ip: IpAddr, ip_text: &str, list: &str) -> i32 {
    let mut ret = 0;
    for entry in list.split(',') {
        let (neg, pattern) = match entry.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, entry),
        };
        if pattern.is_empty() {
            return -2;
        }
        let matched = match addr_pton_cidr(pattern) {
            Cidr::Inconsistent => return -2,
            Cidr::Net(net, masklen) => addr_netmatch(ip, net, masklen),
            Cidr::NotAnAddress => wildcard_match(ip_text.as_bytes(), pattern.as_bytes()),
        };
        if matched {
            if neg {
                return -1;
            }
            ret = 1;
        }
    }
    ret
}

/// The result of OpenSSH's `addr_pton_cidr()`.
enum Cidr {
    /// A network and its prefix length.
    Net(IpAddr, u32),
    /// Not an address (try a wildcard match instead).
    NotAnAddress,
    /// A bad prefix length or host bits set beyond it.
    Inconsistent,
}

fn addr_pton_cidr(p: &str) -> Cidr {
    if p.len() >= MAX_CIDR_TEXT {
        return Cidr::NotAnAddress;
    }
    let (addr, mask) = match p.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (p, None),
    };
    let masklen = match mask {
        Some(m) if !m.is_empty() && m.bytes().all(|c| c.is_ascii_digit()) => match m.parse::<u32>() {
            Ok(n) if n <= i32::MAX as u32 => Some(n),
            _ => return Cidr::NotAnAddress,
        },
        Some(_) => return Cidr::NotAnAddress,
        None => None,
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return Cidr::NotAnAddress;
    };
    let bits = if net.is_ipv4() { 32 } else { 128 };
    let masklen = masklen.unwrap_or(bits);
    if masklen > bits || addr_bits(net) & !prefix_mask(masklen, bits) != 0 {
        return Cidr::Inconsistent;
    }
    Cidr::Net(net, masklen)
}

/// OpenSSH's `addr_netmatch()`: same family and the same first `masklen` bits.
fn addr_netmatch(ip: IpAddr, net: IpAddr, masklen: u32) -> bool {
    if ip.is_ipv4() != net.is_ipv4() {
        return false;
    }
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let mask = prefix_mask(masklen, bits);
    addr_bits(ip) & mask == addr_bits(net) & mask
}

fn addr_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The netmask of a `masklen` prefix in an address of `bits` bits.
fn prefix_mask(masklen: u32, bits: u32) -> u128 {
    let all = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
    let host = bits.saturating_sub(masklen);
    if host >= 128 {
        0
    } else {
        all & !((1u128 << host) - 1)
    }
}

/// OpenSSH's `match_pattern_list()`: 1 positive match, 0 none, -1 negated.
fn match_pattern_list(s: &str, patterns: &str, dolower: bool) -> i32 {
    let mut got_positive = 0;
    for entry in patterns.split(',') {
        let (negated, pattern) = match entry.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, entry),
        };
        if pattern.len() >= MAX_SUBPATTERN - 1 {
            return 0;
        }
        let pattern = if dolower {
            pattern.to_ascii_lowercase()
        } else {
            pattern.to_string()
        };
        if wildcard_match(s.as_bytes(), pattern.as_bytes()) {
            if negated {
                return -1;
            }
            got_positive = 1;
        }
    }
    got_positive
}

/// OpenSSH's `match_pattern()` (`*` any run, `?` any one character),
/// shared with the configuration files: [`crate::config::match_pattern`].
fn wildcard_match(text: &[u8], pattern: &[u8]) -> bool {
    crate::config::match_pattern(&String::from_utf8_lossy(text), &String::from_utf8_lossy(pattern))
}

// ---------------------------------------------------------------------------
// StrictModes (safe_path)

/// Owned by `uid` or root, and not group- or world-writable.
fn owner_and_mode_ok(meta: &fs::Metadata, uid: u32) -> bool {
    (meta.uid() == 0 || meta.uid() == uid) && meta.mode() & 0o022 == 0
}

/// strerror(3)-like text of an I/O error, without Rust's "(os error N)".
fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::os::unix::fs::PermissionsExt as _;

    const ED_X: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAjVSVIdPfZD+TUx+Ryl8MyAAXs61uTWTIswmql3IVXY alice@x";
    const ED_Y: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPqx06o/Gl3y+55ue9o3GXG2Tn8MqHv8wnpZzfoya+aV bob@y";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDgNmiiGZ5w1tiBP1mR/\
                         WzDgs+FvVHZ2/OsEz41ppHFWliRodNBi8e5H7JlmQpY5AqNMRZRxCXivpF6L0TiMGGM= ec@z";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDfoztFTqenSe/lLFXh3FAI+8V6rTPonBcmgkwfTTO/J0yW4MZXW0mhZju\
                       76KAgHcSce5sLq3Gc6L8kdzv1HJKn7ejUah8rmJUxV8iDeU78GRQ+Y5HaG5pS9IaLAycaH7icF6cpftASdOrd5e3HPEVX\
                       rpvJs8awSlaxNuSKPwe6tQ== rsa@z";

    fn key(line: &str) -> AnyPublicKey {
        AnyPublicKey::from_openssh(line).expect("test key")
    }

    fn one(line: &str) -> AuthorizedKey {
        let entries = parse(line);
        assert_eq!(entries.len(), 1, "expected one entry from {line:?}");
        entries.into_iter().next().expect("one entry")
    }

    fn opts(options: &str) -> KeyOptions {
        one(&format!("{options} {ED_X}")).options
    }

    fn skipped(options: &str) -> bool {
        parse(&format!("{options} {ED_X}")).is_empty()
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<Ipv6Addr>().expect("v6"))
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn plain_lines_comments_and_line_numbers() {
        let text = format!("# comment\n\n   \n{ED_X}\n\t{ED_Y}\r\n  # indented comment\n{ECDSA}\n{RSA}");
        let entries = parse(&text);
        let lines: Vec<usize> = entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 7, 8]);
        assert!(entries.iter().all(|e| e.options == KeyOptions::default()));
        assert_eq!(entries[0].key.comment(), "alice@x");
        assert_eq!(entries[1].key.comment(), "bob@y");
        assert_eq!(entries[2].key.key_type(), "ecdsa-sha2-nistp256");
        assert_eq!(entries[3].key.key_type(), "ssh-rsa");
        // Tabs between fields, no comment.
        let parts: Vec<&str> = ED_X.split(' ').collect();
        let e = one(&format!("no-pty\t{}\t{}", parts[0], parts[1]));
        assert!(e.options.no_pty);
        assert_eq!(e.key.comment(), "");
    }

    #[test]
    fn flag_options() {
        let o = opts("no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc");
        assert!(o.no_pty && o.no_port_forwarding && o.no_agent_forwarding && o.no_x11_forwarding && o.no_user_rc);
        assert!(!o.restrict);
        let o = opts("cert-authority,no-touch-required,verify-required");
        assert!(o.cert_authority && o.no_touch_required && o.verify_required);
        let o = opts("pty,port-forwarding,agent-forwarding,X11-forwarding,user-rc,touch-required");
        assert_eq!(o, KeyOptions::default());
        // Names are case-insensitive.
        let o = opts("NO-PTY,No-X11-Forwarding,Cert-Authority");
        assert!(o.no_pty && o.no_x11_forwarding && o.cert_authority);
    }

    #[test]
    fn valued_options() {
        let o =
            opts(r#"command="echo \"hi, there\"; ls -l",environment="A=1",environment="B_2=x=y, z",environment="A=2""#);
        assert_eq!(o.command.as_deref(), Some(r#"echo "hi, there"; ls -l"#));
        assert_eq!(
            o.environment,
            vec![
                ("A".to_string(), "1".to_string()),
                ("B_2".to_string(), "x=y, z".to_string())
            ]
        );
        let o = opts(r#"from="10.0.0.0/8,*.example.com",principals="alice,bob",cert-authority"#);
        assert_eq!(o.from.as_deref(), Some("10.0.0.0/8,*.example.com"));
        assert_eq!(o.principals.as_deref(), Some("alice,bob"));
        let o = opts(r#"permitopen="localhost:80",permitopen="[::1]:*",permitlisten="8080",permitlisten="0.0.0.0:22""#);
        assert_eq!(o.permit_open, vec!["localhost:80", "[::1]:*"]);
        assert_eq!(o.permit_listen, vec!["*:8080", "0.0.0.0:22"]);
        assert_eq!(opts(r#"tunnel="5""#).tunnel, Some(TunnelDevice::Unit(5)));
        assert_eq!(opts(r#"tunnel="any""#).tunnel, Some(TunnelDevice::Any));
        assert_eq!(opts(r#"COMMAND="x""#).command.as_deref(), Some("x"));
        // A quoted value may hold blanks; the key follows the closing quote.
        let e = one(&format!(r#"command="a b	c",no-pty {ED_X}"#));
        assert_eq!(e.options.command.as_deref(), Some("a b\tc"));
        assert!(e.options.no_pty);
        assert_eq!(e.key.comment(), "alice@x");
    }

    #[test]
    fn expiry_time_formats() {
        assert_eq!(opts(r#"expiry-time="20300101""#).expiry_time, Some(at(1_893_456_000)));
        assert_eq!(
            opts(r#"expiry-time="203001011230Z""#).expiry_time,
            Some(at(1_893_501_000))
        );
        assert_eq!(
            opts(r#"expiry-time="20300101123045UTC""#).expiry_time,
            Some(at(1_893_501_045))
        );
        assert_eq!(opts(r#"expiry-time="20000229""#).expiry_time, Some(at(951_782_400)));
        // The earliest of several wins.
        let o = opts(r#"expiry-time="20300101",expiry-time="20250101",expiry-time="20400101""#);
        assert_eq!(o.expiry_time, Some(at(1_735_689_600)));
        for bad in [
            "2030010",
            "2030-01-01",
            "20301301",
            "20300100",
            "203001012460",
            "19700101Z",
            "x",
            "",
        ] {
            assert!(skipped(&format!(r#"expiry-time="{bad}""#)), "{bad}");
        }
        assert_eq!(format_time(at(1_893_501_045)), "2030-01-01T12:30:45Z");
    }

    #[test]
    fn restrict_and_reenable() {
        let o = opts("restrict");
        assert!(o.restrict && o.no_pty && o.no_port_forwarding && o.no_agent_forwarding);
        assert!(o.no_x11_forwarding && o.no_user_rc);
        let o = opts("restrict,pty,port-forwarding");
        assert!(o.restrict && !o.no_pty && !o.no_port_forwarding);
        assert!(o.no_agent_forwarding && o.no_x11_forwarding && o.no_user_rc);
        let o = opts("restrict,agent-forwarding,X11-forwarding,user-rc");
        assert!(o.no_pty && o.no_port_forwarding && !o.no_agent_forwarding && !o.no_x11_forwarding && !o.no_user_rc);
        // A later restrict overrides an earlier re-enable.
        assert!(opts("pty,restrict").no_pty);
    }

    #[test]
    fn unknown_option_skips_the_line() {
        let text = format!("no-pty,frobnicate {ED_X}\n{ED_Y}\nno-restrict {ED_X}\nrestricted {ED_X}\n");
        let entries = parse(&text);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].line, 2);
        assert!(parse_options("no-pty,frobnicate").is_err_and(|e| e.contains("frobnicate")));
        assert!(skipped("no-cert-authority"));
        assert!(skipped("command"));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        for bad in [
            r#"command="unterminated"#,
            r#"command=noquote"#,
            r#"command="a",command="b""#,
            r#"from="a",from="b""#,
            r#"principals="a",principals="b""#,
            r#"environment="NOEQUALS""#,
            r#"environment="BAD-NAME=1""#,
            r#"environment="=1""#,
            r#"permitopen="host""#,
            r#"permitopen="host:0""#,
            r#"permitopen="host:99999""#,
            r#"permitopen="[::1]x:22""#,
            r#"permitlisten="host:""#,
            r#"tunnel="-1""#,
            r#"tunnel="2147483646""#,
            r#"tunnel="x""#,
            "no-pty;no-x11-forwarding",
        ] {
            assert!(skipped(bad), "{bad}");
        }
        // Empty options between commas are tolerated, and so is a comma
        // before the blank, as in sshd.
        assert!(opts("no-pty,,no-user-rc").no_user_rc);
        assert!(opts("no-pty,").no_pty);
        assert!(opts("no-pty,,").no_pty);
        let parts: Vec<&str> = ED_X.split(' ').collect();
        for bad in [
            "ssh-ed25519".to_string(),
            "ssh-ed25519 !!!notbase64".to_string(),
            format!("ssh-rsa {}", parts[1]),
            format!("no-pty {}", parts[0]),
            format!("no-pty {}", parts[1]),
            "no-pty".to_string(),
            "garbage here and there".to_string(),
            "\"".to_string(),
            "\\".to_string(),
            "ключ ssh-ed25519 ÄÖÜ".to_string(),
            format!("command=\"é\\\" {ED_X}"),
        ] {
            assert!(parse(&bad).is_empty(), "{bad}");
        }
        // No panic on any prefix or suffix of a complicated line.
        let line = format!(
            r#"restrict,command="echo \"a, b\"",environment="X=é",from="10.0.0.0/8",permitopen="[::1]:22",expiry-time="20300101Z",tunnel="1" {ED_X}"#
        );
        assert_eq!(parse(&line).len(), 1);
        for (i, _) in line.char_indices() {
            let _ = parse(&line[..i]);
            let _ = parse(&line[i..]);
        }
    }

    #[test]
    fn find_matches_key_data_only() {
        let text = format!("{ED_Y}\nno-pty {}\n{RSA}\n", ED_X.replace("alice@x", "other comment"));
        let entries = parse(&text);
        let ip = v4(192, 0, 2, 1);
        let now = SystemTime::now();
        let found = find(&entries, &key(ED_X), ip, None, now).expect("ok").expect("found");
        assert_eq!(found.line, 2);
        assert!(found.options.no_pty);
        assert_eq!(
            find(&entries, &key(RSA), ip, None, now).expect("ok").map(|e| e.line),
            Some(3)
        );
        assert!(find(&entries, &key(ECDSA), ip, None, now).expect("ok").is_none());
        // cert-authority lines never match the plain key.
        let entries = parse(&format!("cert-authority {ED_X}\n"));
        assert!(find(&entries, &key(ED_X), ip, None, now).expect("ok").is_none());
        // principals= on a non-CA key is refused.
        let entries = parse(&format!("principals=\"alice\" {ED_X}\n"));
        assert!(find(&entries, &key(ED_X), ip, None, now).is_err_and(|e| e.contains("principals on non-CA key")));
    }

    #[test]
    fn ed448_lines_authorize() {
        // `puttygen -t ed448 -C tested448`, `puttygen -L`.
        const ED448: &str = "ssh-ed448 AAAACXNzaC1lZDQ0OAAAADngoFvvNL3FAVti882HXOP2zbyKJRkRGLrYLeGYKPwTf/GzGyYhaeLzMBwg0riqqczxT18Do51czIA= tested448";
        let text = format!("{ED_X}\nno-pty,from=\"192.0.2.0/24\" {ED448}\n");
        let entries = parse(&text);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].key.key_type(), "ssh-ed448");
        assert_eq!(entries[1].key.comment(), "tested448");
        let now = SystemTime::now();
        let found = find(&entries, &key(ED448), v4(192, 0, 2, 1), None, now)
            .expect("ok")
            .expect("found");
        assert_eq!(found.line, 2);
        assert!(found.options.no_pty);
        assert!(find(&entries, &key(ED448), v4(198, 51, 100, 1), None, now).is_err());
        // The blob presented in USERAUTH_REQUEST matches too.
        let from_blob = AnyPublicKey::from_blob(key(ED448).blob()).expect("blob");
        assert!(find(&entries, &from_blob, v4(192, 0, 2, 9), None, now)
            .expect("ok")
            .is_some());
        // Truncated keys and a mislabelled type are skipped.
        let b64 = ED448.split(' ').nth(1).expect("b64");
        for bad in [
            format!("ssh-ed448 {}", &b64[..b64.len() - 8]),
            format!("ssh-ed25519 {b64}"),
            format!("ssh-ed448 {}", ED_X.split(' ').nth(1).expect("b64")),
        ] {
            assert!(parse(&bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn from_ipv4() {
        let ip = v4(10, 1, 2, 3);
        assert!(from_matches("10.0.0.0/8", ip, None));
        assert!(from_matches("192.168.0.0/16,10.1.2.0/24", ip, None));
        assert!(from_matches("10.1.2.3", ip, None));
        assert!(!from_matches("10.1.2.4", ip, None));
        assert!(!from_matches("192.168.0.0/16", ip, None));
        assert!(from_matches("10.1.*", ip, None));
        assert!(from_matches("10.1.2.?", ip, None));
        assert!(!from_matches("10.2.*", ip, None));
        assert!(from_matches("0.0.0.0/0", ip, None));
        // Negation anywhere rejects.
        assert!(!from_matches("10.0.0.0/8,!10.1.0.0/16", ip, None));
        assert!(!from_matches("!10.1.2.3,*", ip, None));
        assert!(!from_matches("*,!10.1.*", ip, None));
        assert!(from_matches("!192.168.0.0/16,10.0.0.0/8", ip, None));
        assert!(!from_matches("!192.168.0.0/16", ip, None));
        // Malformed lists match nothing.
        assert!(!from_matches("10.1.2.3/8", ip, None));
        assert!(!from_matches("10.0.0.0/33", ip, None));
        assert!(!from_matches("10.0.0.0/8,", ip, None));
        assert!(!from_matches("", ip, None));
        // IPv4-mapped IPv6 counts as IPv4.
        assert!(from_matches("10.0.0.0/8", v6("::ffff:10.1.2.3"), None));
    }

    #[test]
    fn from_ipv6() {
        let ip = v6("2001:db8:0:1::5");
        assert!(from_matches("2001:db8::/32", ip, None));
        assert!(from_matches("2001:db8:0:1::/64", ip, None));
        assert!(!from_matches("2001:db8:0:2::/64", ip, None));
        assert!(from_matches("2001:db8:0:1::5", ip, None));
        assert!(from_matches("2001:db8:*", ip, None));
        assert!(!from_matches("2001:db9:*", ip, None));
        assert!(!from_matches("2001:db8::/32,!2001:db8:0:1::/64", ip, None));
        assert!(!from_matches("10.0.0.0/8", ip, None));
        assert!(!from_matches("0.0.0.0/0", ip, None));
        assert!(from_matches("::/0", ip, None));
        assert!(!from_matches("2001:db8::1/32", ip, None));
    }

    #[test]
    fn from_host_names() {
        let ip = v4(192, 0, 2, 7);
        assert!(from_matches("*.example.com", ip, Some("Host.EXAMPLE.com")));
        assert!(from_matches("*.EXAMPLE.COM", ip, Some("host.example.com")));
        assert!(!from_matches("*.example.com", ip, Some("host.example.org")));
        assert!(!from_matches(
            "*.example.com,!bad.example.com",
            ip,
            Some("bad.example.com")
        ));
        assert!(from_matches(
            "*.example.com,!bad.example.com",
            ip,
            Some("good.example.com")
        ));
        // A host-name match cannot override a negated address.
        assert!(!from_matches(
            "*.example.com,!192.0.2.0/24",
            ip,
            Some("host.example.com")
        ));
        assert!(from_matches("192.0.2.0/24", ip, Some("host.example.org")));
    }

    #[test]
    fn find_checks_from() {
        let text = format!("from=\"10.0.0.0/8,!10.9.*\" {ED_X}\n");
        let entries = parse(&text);
        let now = SystemTime::now();
        let k = key(ED_X);
        assert!(find(&entries, &k, v4(10, 1, 1, 1), None, now).expect("ok").is_some());
        let err = find_for_user(&entries, "alice", &k, v4(10, 9, 1, 1), None, now).expect_err("refused");
        assert_eq!(
            err,
            "Authentication tried for alice with correct key but not from a permitted host \
             (host=10.9.1.1, ip=10.9.1.1, required=10.0.0.0/8,!10.9.*)."
        );
        let err = find(&entries, &k, v4(192, 0, 2, 1), Some("h.example"), now).expect_err("refused");
        assert!(
            err.contains("not from a permitted host (host=h.example, ip=192.0.2.1"),
            "{err}"
        );
        // A later line for the same key may still authorize it.
        let text = format!("{text}from=\"192.0.2.0/24\",no-pty {ED_X}\n");
        let entries = parse(&text);
        let found = find(&entries, &k, v4(192, 0, 2, 1), None, now)
            .expect("ok")
            .expect("found");
        assert_eq!(found.line, 2);
        // IPv6 from= through find.
        let entries = parse(&format!("from=\"2001:db8::/32\" {ED_X}\n"));
        assert!(find(&entries, &k, v6("2001:db8::1"), None, now).expect("ok").is_some());
        assert!(find(&entries, &k, v6("2001:db9::1"), None, now).is_err());
    }

    #[test]
    fn expiry_checked_against_now() {
        let entries = parse(&format!(
            "expiry-time=\"20200101Z\" {ED_X}\nexpiry-time=\"20991231\" {ED_Y}\n"
        ));
        let now = at(1_750_000_000); // 2025
        let ip = v4(127, 0, 0, 1);
        let err = find(&entries, &key(ED_X), ip, None, now).expect_err("expired");
        assert!(
            err.starts_with("key expired") && err.contains("2020-01-01T00:00:00Z"),
            "{err}"
        );
        assert!(find(&entries, &key(ED_Y), ip, None, now).expect("ok").is_some());
        // Still valid at the expiry second itself, as in sshd.
        assert!(find(&entries, &key(ED_X), ip, None, at(1_577_836_800))
            .expect("ok")
            .is_some());
        assert!(find(&entries, &key(ED_X), ip, None, at(1_577_836_801)).is_err());
    }

    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn strict_modes() {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let root = std::env::temp_dir().join(format!("tobira-ak-{}-{nanos}", std::process::id()));
        let _guard = TempDir(root.clone());
        let home = root.join("home");
        let ssh = home.join(".ssh");
        fs::create_dir_all(&ssh).expect("mkdir");
        let file = ssh.join("authorized_keys");
        fs::write(&file, ED_X).expect("write");
        chmod(&root, 0o755);
        chmod(&home, 0o755);
        chmod(&ssh, 0o700);
        chmod(&file, 0o600);
        let uid = fs::metadata(&file).expect("stat").uid();
        let canon = |p: &Path| fs::canonicalize(p).expect("canonicalize").display().to_string();

        assert_eq!(check_strict_modes(&file, uid, &home), Ok(()));
        // Directories above the home are not checked.
        chmod(&root, 0o777);
        assert_eq!(check_strict_modes(&file, uid, &home), Ok(()));
        chmod(&root, 0o755);

        chmod(&file, 0o666);
        assert_eq!(
            check_strict_modes(&file, uid, &home),
            Err(format!("bad ownership or modes for file {}", canon(&file)))
        );
        chmod(&file, 0o644);
        assert_eq!(check_strict_modes(&file, uid, &home), Ok(()));

        chmod(&ssh, 0o777);
        assert_eq!(
            check_strict_modes(&file, uid, &home),
            Err(format!("bad ownership or modes for directory {}", canon(&ssh)))
        );
        chmod(&ssh, 0o755);
        chmod(&home, 0o775);
        assert_eq!(
            check_strict_modes(&file, uid, &home),
            Err(format!("bad ownership or modes for directory {}", canon(&home)))
        );
        chmod(&home, 0o755);
        assert_eq!(check_strict_modes(&file, uid, &home), Ok(()));

        // Without the home directory on the path, the walk goes up to "/".
        let tmp_mode = fs::metadata(std::env::temp_dir()).expect("stat").mode();
        let elsewhere = check_strict_modes(&file, uid, Path::new("/nonexistent-home"));
        if tmp_mode & 0o022 != 0 {
            assert!(elsewhere.is_err_and(|e| e.starts_with("bad ownership or modes for directory")));
        }

        // Not a regular file; missing file.
        assert_eq!(
            check_strict_modes(&ssh, uid, &home),
            Err(format!("{} is not a regular file", canon(&ssh)))
        );
        let missing = check_strict_modes(&ssh.join("nope"), uid, &home);
        assert!(missing.is_err_and(|e| e.starts_with("realpath ") && e.ends_with("No such file or directory")));

        // Ownership: another user's file is refused, root's is accepted.
        if uid == 0 {
            std::os::unix::fs::chown(&file, Some(4242), None).expect("chown");
            assert_eq!(
                check_strict_modes(&file, 4343, &home),
                Err(format!("bad ownership or modes for file {}", canon(&file)))
            );
            assert_eq!(check_strict_modes(&file, 4242, &home), Ok(()));
            std::os::unix::fs::chown(&file, Some(0), None).expect("chown");
            assert_eq!(check_strict_modes(&file, 4343, &home), Ok(()));
        }
    }
}
