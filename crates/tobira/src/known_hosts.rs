//! OpenSSH `known_hosts` files: the client's host-key trust decision.
//!
//! The format is the one described in sshd(8), "SSH_KNOWN_HOSTS FILE
//! FORMAT": one key per line as
//!
//! ```text
//! [@cert-authority|@revoked] hostpatterns keytype base64-key [comment]
//! ```
//!
//! where `hostpatterns` is a comma-separated list of names with `*` and `?`
//! wildcards and `!` negation, `[host]:port` for hosts on a port other than
//! 22, or a single hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt,
//! name))` as written by `HashKnownHosts yes` or ssh-keygen(1) `-H`. Blank
//! lines and lines starting with `#` are comments; malformed lines are
//! skipped (logged with `tracing::debug!`).
//!
//! Besides the lookup ([`KnownHosts::check`]) this module writes new entries
//! ([`append`]), renders ssh(1)'s messages ([`unknown_host_prompt`],
//! [`changed_key_warning`], ...) and implements the file operations of
//! ssh-keygen(1) `-F`, `-R` and `-H` ([`find_host`], [`remove_host`],
//! [`hash_file`]).

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::distributions::Alphanumeric;
use rand::{Rng, RngCore};
use sha1::Sha1;

use crate::pubkey::AnyPublicKey;

mod rotation;
pub use rotation::{replace_host_keys, Removed, RotationView};

/// Prefix of a hashed host name (`HASH_MAGIC` in OpenSSH's hostfile.h).
const HASH_MAGIC: &str = "|1|";
/// Field delimiter inside a hashed host name.
const HASH_DELIM: char = '|';
/// Salt length of hashed host names: one SHA-1 digest.
const SALT_LEN: usize = 20;
/// Marker of a certificate authority line (sshd(8)).
const CA_MARKER: &str = "@cert-authority";
/// Marker of a revoked key line (sshd(8)).
const REVOKE_MARKER: &str = "@revoked";
/// ssh(1) lists at most this many other names in its prompt.
const MAX_DISPLAY_OTHERNAMES: usize = 8;
/// Longest pattern OpenSSH's `match_pattern_list` accepts (1023 bytes).
const MAX_SUBPATTERN: usize = 1023;
/// The SSH port; names on it are written without brackets.
const DEFAULT_PORT: u16 = 22;
/// Frame of ssh(1)'s warning blocks.
const BANNER: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@";
/// ssh(1) shows this instead of an address when connected through a
/// ProxyCommand.
const NO_HOST_IP: &str = "<no hostip for proxy command>";
/// Key types ssh(1)'s `show_other_keys()` reports, in its order, then
/// `ED448`, which OpenSSH does not know.
const OTHER_KEY_TYPES: [&str; 5] = ["RSA", "DSA", "ECDSA", "ED25519", "ED448"];

/// The name under which a host is recorded in known_hosts: `host` on port 22
/// (or port 0, "unspecified"), `[host]:port` otherwise (OpenSSH's
/// `put_host_port()`).
pub fn host_name_for(host: &str, port: u16) -> String {
    if port == 0 || port == DEFAULT_PORT {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Outcome of looking a server's host key up in the known_hosts files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// The host is listed with exactly this key, at `path`:`line`.
    Known {
        /// File holding the matching line.
        path: PathBuf,
        /// 1-based line number of the matching line.
        line: usize,
    },
    /// The host is not listed with a key of this type.
    Unknown,
    /// The host is listed with a key of the same type that differs.
    Changed {
        /// File holding the offending line.
        path: PathBuf,
        /// 1-based line number of the offending line.
        line: usize,
    },
    /// The key is listed under @revoked.
    Revoked {
        /// File holding the `@revoked` line.
        path: PathBuf,
        /// 1-based line number of the `@revoked` line.
        line: usize,
    },
}

/// Marker at the start of a known_hosts line (sshd(8)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    /// A plain host key.
    None,
    /// `@cert-authority`: a CA trusted to sign host certificates.
    CertAuthority,
    /// `@revoked`: a key that must never be accepted.
    Revoked,
}

/// One parsed known_hosts line.
#[derive(Clone, Debug)]
struct Entry {
    path: PathBuf,
    line: usize,
    marker: Marker,
    /// The host field as written: patterns or one hashed name.
    hosts: String,
    key: AnyPublicKey,
}

impl Entry {
    /// Whether this line's host field matches `name` (`host` or
    /// `[host]:port`).
    fn matches(&self, name: &str) -> bool {
        match_hosts(&self.hosts, name) == Some(true)
    }

    /// `path:line: hosts` as ssh(1) lists other names holding a key.
    fn describe(&self) -> String {
        let hosts = if self.hosts.starts_with(HASH_MAGIC) {
            "[hashed name]"
        } else {
            self.hosts.as_str()
        };
        format!("{}:{}: {}", tilde_unexpand(&self.path), self.line, hosts)
    }
}

/// The keys of one or more known_hosts files, in file and line order.
#[derive(Clone, Debug, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Reads and parses `paths` in order (typically `UserKnownHostsFile`s
    /// then `GlobalKnownHostsFile`s). A missing file counts as empty; any
    /// other read error is returned.
    pub fn load(paths: &[PathBuf]) -> io::Result<KnownHosts> {
        let mut all = KnownHosts::default();
        for path in paths {
            match fs::read(path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    all.entries.extend(Self::parse(path, &text).entries);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    tracing::debug!("known_hosts {} not found", path.display());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(all)
    }

    /// Parses the text of one known_hosts file; `path` is only recorded for
    /// messages. Comments, blank lines and malformed lines are skipped.
    pub fn parse(path: &Path, text: &str) -> KnownHosts {
        let mut entries = Vec::new();
        for (line, raw) in numbered_lines(text) {
            let fields = match classify(raw) {
                Line::Skip => continue,
                Line::Invalid(why) => {
                    tracing::debug!("{}:{line}: skipping line: {why}", path.display());
                    continue;
                }
                Line::Entry(fields) => fields,
            };
            if fields.hosts.starts_with(HASH_DELIM) && decode_salt(fields.hosts).is_none() {
                tracing::debug!("{}:{line}: skipping line: bad host hash", path.display());
                continue;
            }
            match parse_key(fields.rest) {
                Ok(key) => entries.push(Entry {
                    path: path.to_path_buf(),
                    line,
                    marker: fields.marker,
                    hosts: fields.hosts.to_string(),
                    key,
                }),
                Err(why) => {
                    tracing::debug!("{}:{line}: skipping line: {why}", path.display());
                }
            }
        }
        KnownHosts { entries }
    }

    /// Looks up `key` for `host` (the name the user typed, or `HostName`)
    /// on `port`, as ssh(1)'s `check_host_key()`: a matching `@revoked`
    /// line wins, then a line with this exact key (`Known`), then a line
    /// with a different key of the same type (`Changed`, reporting the last
    /// such line as OpenSSH does). Keys of other types leave the host
    /// `Unknown`. Host names are compared in lower case. On a port other
    /// than 22, an exact match recorded for the bare host name is accepted
    /// too (ssh(1) "checking without port identifier").
    pub fn check(&self, host: &str, port: u16, key: &AnyPublicKey) -> HostKeyStatus {
        let host = host.to_ascii_lowercase();
        let name = host_name_for(&host, port);
        let status = self.check_name(&name, key);
        if status == HostKeyStatus::Unknown && name != host {
            if let known @ HostKeyStatus::Known { .. } = self.check_name(&host, key) {
                return known;
            }
        }
        status
    }

    /// The file listing `key` for `host` under its exact name (`[host]:port`
    /// off port 22), without [`KnownHosts::check`]'s fallback to the bare
    /// name; `None` when no such line exists.
    pub fn file_listing_exactly(&self, host: &str, port: u16, key: &AnyPublicKey) -> Option<&Path> {
        let name = host_name_for(&host.to_ascii_lowercase(), port);
        self.entries
            .iter()
            .find(|e| e.marker == Marker::None && same_key(&e.key, key) && e.matches(&name))
            .map(|e| e.path.as_path())
    }

    /// Other names already holding this same key (for OpenSSH's "This key
    /// is not known by any other names" line), formatted as ssh(1) lists
    /// them: `path:line: hostpatterns`, with `[hashed name]` for hashed
    /// entries and `~` for the home directory. Marker lines are ignored.
    pub fn other_names(&self, key: &AnyPublicKey) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.marker == Marker::None && same_key(&e.key, key))
            .map(Entry::describe)
            .collect()
    }

    /// The whole text ssh(1) shows for an unknown host key: a `WARNING:`
    /// paragraph for each key of another type already known for the host
    /// (`show_other_keys()`), then the question of [`unknown_host_prompt`]
    /// ("can't be established\nbut keys of different type are already known
    /// for this host." when there were such keys), with
    /// [`KnownHosts::other_names`].
    pub fn unknown_host_message(&self, host: &str, port: u16, ip: Option<&str>, key: &AnyPublicKey) -> String {
        let warnings = self.other_type_warnings(host, port, key);
        let names = self.other_names(key);
        let mut text = warnings.concat();
        text.push_str(&prompt_text(host, port, ip, key, &names, !warnings.is_empty()));
        text
    }

    /// ssh(1)'s `show_other_keys()`: for each other key type known for the
    /// host, its first line as a `WARNING:` paragraph ending in a newline.
    fn other_type_warnings(&self, host: &str, port: u16, key: &AnyPublicKey) -> Vec<String> {
        let name = host_name_for(&host.to_ascii_lowercase(), port);
        let own = key_type_name(key);
        let mut out = Vec::new();
        for wanted in OTHER_KEY_TYPES.iter().filter(|t| **t != own) {
            let found = self
                .entries
                .iter()
                .find(|e| e.marker == Marker::None && key_type_name(&e.key) == *wanted && e.matches(&name));
            if let Some(e) = found {
                out.push(format!(
                    "WARNING: {wanted} key found for host {name}\nin {}:{}\n{wanted} key fingerprint {}.\n",
                    e.path.display(),
                    e.line,
                    fingerprint(&e.key)
                ));
            }
        }
        out
    }

    /// `offered` host key algorithms reordered as ssh(1)'s
    /// `order_hostkeyalgs()` does when `HostKeyAlgorithms` is not set:
    /// first those whose key type is already known for `host` on `port`
    /// (and, with an `@cert-authority` line for it, every certificate
    /// algorithm), then the rest, each group in its given order. So a
    /// server is asked for the key we know, not a newer type we would have
    /// to take on trust.
    pub fn prefer_known(&self, host: &str, port: u16, offered: &[String]) -> Vec<String> {
        let name = host_name_for(&host.to_ascii_lowercase(), port);
        let entries: Vec<&Entry> = self.entries.iter().filter(|e| e.matches(&name)).collect();
        let known = |alg: &str| {
            let cert = alg.ends_with(CERT_SUFFIX);
            entries.iter().any(|e| match e.marker {
                Marker::CertAuthority => cert,
                Marker::None => plain_key_type(alg) == e.key.key_type(),
                Marker::Revoked => false,
            })
        };
        let (first, last): (Vec<String>, Vec<String>) = offered.iter().cloned().partition(|a| known(a));
        first.into_iter().chain(last).collect()
    }

    /// [`KnownHosts::check`] for one exact lookup name.
    fn check_name(&self, name: &str, key: &AnyPublicKey) -> HostKeyStatus {
        let family = key_type_name(key);
        let mut known = None;
        let mut changed = None;
        for entry in self.entries.iter().filter(|e| e.matches(name)) {
            let same = same_key(&entry.key, key);
            match entry.marker {
                Marker::Revoked if same => {
                    return HostKeyStatus::Revoked {
                        path: entry.path.clone(),
                        line: entry.line,
                    }
                }
                Marker::None if same => {
                    known = known.or(Some(entry));
                }
                Marker::None if key_type_name(&entry.key) == family => changed = Some(entry),
                _ => {}
            }
        }
        if let Some(e) = known {
            HostKeyStatus::Known {
                path: e.path.clone(),
                line: e.line,
            }
        } else if let Some(e) = changed {
            HostKeyStatus::Changed {
                path: e.path.clone(),
                line: e.line,
            }
        } else {
            HostKeyStatus::Unknown
        }
    }
}

/// The suffix of OpenSSH's certificate algorithm names (PROTOCOL.certkeys).
const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// The key type a host key algorithm signs with: `ssh-rsa` for the
/// `rsa-sha2-*` signatures (RFC 8332), the key of a certificate without
/// its suffix.
fn plain_key_type(alg: &str) -> &str {
    let alg = alg.strip_suffix(CERT_SUFFIX).unwrap_or(alg);
    match alg {
        "rsa-sha2-256" | "rsa-sha2-512" => "ssh-rsa",
        other => other,
    }
}

/// Appends `host` (lower-cased, `[host]:port` off port 22) with `key` to
/// the known_hosts file `path`, as ssh(1)'s `add_host_to_hostfile()`: the
/// key without its comment, a newline first if the file lacks a final one,
/// and the name hashed with a random 20-byte salt when `hash` is set
/// (`HashKnownHosts yes`). Creates the parent directory (mode 0700) and the
/// file (mode 0600) if missing.
pub fn append(path: &Path, host: &str, port: u16, key: &AnyPublicKey, hash: bool) -> io::Result<()> {
    let name = host_name_for(&host.to_ascii_lowercase(), port);
    let field = if hash { hash_host_name(&name)? } else { name };
    let line = format!("{field} {}\n", key_text(key)?);
    create_parent_dir(path)?;
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    private_file_mode(&mut options);
    let mut file = options.open(path)?;
    if lacks_final_newline(&mut file)? {
        file.write_all(b"\n")?;
    }
    file.write_all(line.as_bytes())?;
    file.flush()
}

/// Hashes a host name (`host` or `[host]:port`) with a fresh random salt
/// into the `|1|salt|hash` form of ssh-keygen(1) `-H` and
/// `HashKnownHosts yes`.
pub fn hash_host_name(name: &str) -> io::Result<String> {
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    hash_with_salt(name, &salt).ok_or_else(|| io::Error::other("HMAC-SHA1 initialisation failed"))
}

/// OpenSSH's question for an unknown host key (sshconnect.c,
/// `check_host_key()`), ending in `"(yes/no/[fingerprint])? "` without a
/// newline. The host is shown as `[host]:port` off port 22, and so is `ip`
/// unless already bracketed; `None` shows ssh(1)'s ProxyCommand text.
/// `other_names` are lines from [`KnownHosts::other_names`]; at most eight
/// are listed. [`KnownHosts::unknown_host_message`] also reports keys of
/// other types.
pub fn unknown_host_prompt(
    host: &str,
    port: u16,
    ip: Option<&str>,
    key: &AnyPublicKey,
    other_names: &[String],
) -> String {
    prompt_text(host, port, ip, key, other_names, false)
}

/// OpenSSH's refusal of a changed host key (sshconnect.c
/// `warn_changed_key()` and the `HOST_CHANGED` case of `check_host_key()`,
/// then "Host key verification failed."), one message per line, each
/// ending in a newline. `path`:`line` is the offending line from
/// [`HostKeyStatus::Changed`].
pub fn changed_key_warning(host: &str, port: u16, key: &AnyPublicKey, path: &Path, line: usize) -> String {
    let kind = key_type_name(key);
    let shown_path = path.display().to_string();
    let lines = [
        BANNER.to_string(),
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @".to_string(),
        BANNER.to_string(),
        "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!".to_string(),
        "Someone could be eavesdropping on you right now (man-in-the-middle attack)!".to_string(),
        "It is also possible that a host key has just been changed.".to_string(),
        format!("The fingerprint for the {kind} key sent by the remote host is"),
        format!("{}.", fingerprint(key)),
        "Please contact your system administrator.".to_string(),
        format!(
            "Add correct host key in {} to get rid of this message.",
            truncate(&shown_path, 100)
        ),
        format!("Offending {kind} key in {shown_path}:{line}"),
        format!(
            "Host key for {} has changed and you have requested strict checking.",
            display_host(host, port)
        ),
        "Host key verification failed.".to_string(),
    ];
    join_lines(&lines)
}

/// OpenSSH's refusal of a revoked host key (the `HOST_REVOKED` case of
/// sshconnect.c `check_host_key()`, then "Host key verification
/// failed."), each line ending in a newline.
pub fn revoked_key_warning(host: &str, port: u16, key: &AnyPublicKey) -> String {
    let kind = key_type_name(key);
    let shown = display_host(host, port);
    let lines = [
        BANNER.to_string(),
        "@       WARNING: REVOKED HOST KEY DETECTED!               @".to_string(),
        BANNER.to_string(),
        format!("The {kind} host key for {shown} is marked as revoked."),
        "This could mean that a stolen key is being used to".to_string(),
        "impersonate this host.".to_string(),
        format!("{kind} host key for {shown} was revoked and you have requested strict checking."),
        "Host key verification failed.".to_string(),
    ];
    join_lines(&lines)
}

/// OpenSSH's refusal of an unknown host key when it cannot ask
/// (`StrictHostKeyChecking yes`, `BatchMode`, no terminal), then "Host key
/// verification failed.", each line ending in a newline.
pub fn unknown_host_refusal(host: &str, port: u16, key: &AnyPublicKey) -> String {
    let lines = [
        format!(
            "No {} host key is known for {} and you have requested strict checking.",
            key_type_name(key),
            display_host(host, port)
        ),
        "Host key verification failed.".to_string(),
    ];
    join_lines(&lines)
}

/// ssh(1)'s notice after recording a new host key, with a final newline:
/// `Warning: Permanently added 'HOST' (TYPE) to the list of known hosts.`
pub fn permanently_added_message(host: &str, port: u16, key: &AnyPublicKey) -> String {
    format!(
        "Warning: Permanently added '{}' ({}) to the list of known hosts.\n",
        display_host(host, port),
        key_type_name(key)
    )
}

/// The lines of a known_hosts text whose host field matches `host`, as
/// ssh-keygen(1) `-F`: `host` is matched against plain patterns
/// case-insensitively and against hashed names as given (pass
/// `[host]:port` for other ports). Marker lines are included; lines
/// without a key type are not. Returns (1-based line number, line text).
pub fn find_host(text: &str, host: &str) -> Vec<(usize, String)> {
    numbered_lines(text)
        .filter(|(_, raw)| match classify(raw) {
            Line::Entry(fields) => match_hosts(fields.hosts, host) == Some(true),
            _ => false,
        })
        .map(|(n, raw)| (n, raw.to_string()))
        .collect()
}

/// Removes the lines matching `host` from the known_hosts file `path`, as
/// ssh-keygen(1) `-R`: whole lines go (with all their names),
/// `@cert-authority` and `@revoked` lines stay, and the previous file is
/// kept as `PATH.old`. The file is left alone when nothing matched, and
/// refused (`InvalidData`) when it holds invalid lines. Returns the number
/// of lines removed.
pub fn remove_host(path: &Path, host: &str) -> io::Result<usize> {
    let text = read_text(path)?;
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    for (n, raw) in numbered_lines(&text) {
        match classify(raw) {
            Line::Entry(fields) => match match_hosts(fields.hosts, host) {
                Some(true) if fields.marker == Marker::None => {
                    removed += 1;
                    continue;
                }
                Some(_) => {}
                None => return Err(invalid_file(path, n)),
            },
            Line::Invalid(_) => return Err(invalid_file(path, n)),
            Line::Skip => {}
        }
        out.push_str(raw);
        out.push('\n');
    }
    if removed > 0 {
        replace_with_backup(path, &out)?;
    }
    Ok(removed)
}

/// Hashes the plain host names of the known_hosts file `path`, as
/// ssh-keygen(1) `-H`: each comma-separated name (lower-cased) becomes its
/// own `|1|` line with the rest of the original line; hashed lines, lines
/// with wildcards or negation, and marker lines are kept as they are. The
/// previous file is kept as `PATH.old`; a file with invalid lines is
/// refused (`InvalidData`). Returns the number of names hashed.
pub fn hash_file(path: &Path) -> io::Result<usize> {
    let text = read_text(path)?;
    let mut out = String::with_capacity(text.len() * 2);
    let mut hashed = 0;
    for (n, raw) in numbered_lines(&text) {
        match classify(raw) {
            Line::Invalid(_) => return Err(invalid_file(path, n)),
            Line::Entry(fields) if is_hashable(&fields) => {
                for name in fields.hosts.split(',').filter(|s| !s.is_empty()) {
                    let field = hash_host_name(&name.to_ascii_lowercase())?;
                    let _ = writeln!(out, "{field} {}", fields.rest);
                    hashed += 1;
                }
                continue;
            }
            Line::Entry(fields) if has_wildcard(fields.hosts) && fields.marker == Marker::None => {
                tracing::debug!(
                    "{}:{n}: ignoring host name with wildcard: {}",
                    path.display(),
                    truncate(fields.hosts, 64)
                );
            }
            _ => {}
        }
        out.push_str(raw);
        out.push('\n');
    }
    replace_with_backup(path, &out)?;
    Ok(hashed)
}

/// A known_hosts line split into its fields.
struct Fields<'a> {
    marker: Marker,
    hosts: &'a str,
    /// Everything after the host field: key type, key, comment.
    rest: &'a str,
}

/// What a known_hosts line is, before its key is parsed.
enum Line<'a> {
    /// Blank or comment.
    Skip,
    /// Not a valid line (OpenSSH's `HKF_STATUS_INVALID`).
    Invalid(&'static str),
    /// Marker, hosts and the rest.
    Entry(Fields<'a>),
}

/// Splits a line like OpenSSH's `hostkeys_foreach()`: fields separated by
/// spaces or tabs, an optional single marker, the host field, then at least
/// a key type.
fn classify(raw: &str) -> Line<'_> {
    let line = raw.strip_suffix('\r').unwrap_or(raw);
    let line = line.trim_start_matches(is_blank);
    if line.is_empty() || line.starts_with('#') {
        return Line::Skip;
    }
    let Some((marker, line)) = take_marker(line) else {
        return Line::Invalid("invalid marker");
    };
    let (hosts, rest) = split_field(line);
    if rest.is_empty() || rest.starts_with('#') {
        return Line::Invalid("truncated before key type");
    }
    Line::Entry(Fields { marker, hosts, rest })
}

/// OpenSSH's `check_markers()`: at most one known marker, followed by
/// whitespace.
fn take_marker(line: &str) -> Option<(Marker, &str)> {
    if !line.starts_with('@') {
        return Some((Marker::None, line));
    }
    line.find(is_blank)?;
    let (word, rest) = split_field(line);
    let marker = match word {
        CA_MARKER => Marker::CertAuthority,
        REVOKE_MARKER => Marker::Revoked,
        _ => return None,
    };
    if rest.starts_with('@') {
        return None;
    }
    Some((marker, rest))
}

/// Field separator of known_hosts lines.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The first blank-separated field and the rest with leading blanks removed.
fn split_field(s: &str) -> (&str, &str) {
    match s.find(is_blank) {
        Some(i) => (&s[..i], s[i..].trim_start_matches(is_blank)),
        None => (s, ""),
    }
}

/// Lines of `text` without their `\n`, numbered from 1.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n')
        .map(|l| l.strip_suffix('\n').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// Parses `keytype base64 [comment]` (the comment is dropped); any key type
/// tobira knows, `ssh-ed448` included.
fn parse_key(rest: &str) -> Result<AnyPublicKey, String> {
    let (kind, after) = split_field(rest);
    let (blob, _comment) = split_field(after);
    if blob.is_empty() {
        return Err("missing key".to_string());
    }
    AnyPublicKey::from_openssh(&format!("{kind} {blob}")).map_err(|e| format!("bad key: {e}"))
}

/// Whether a host field matches `name`; `None` for a malformed hashed name.
/// OpenSSH's `match_maybe_hashed()`.
fn match_hosts(hosts: &str, name: &str) -> Option<bool> {
    if hosts.starts_with(HASH_DELIM) {
        let salt = decode_salt(hosts)?;
        Some(hash_with_salt(name, &salt)? == hosts)
    } else {
        Some(match_pattern_list(&name.to_ascii_lowercase(), hosts) == Some(true))
    }
}

/// OpenSSH's `match_pattern_list()` with lower-casing: `Some(true)` for a
/// positive match, `Some(false)` for a negated one (`!pattern`), `None`
/// when nothing matched.
fn match_pattern_list(name: &str, patterns: &str) -> Option<bool> {
    let mut positive = None;
    for sub in patterns.split(',') {
        let (negated, pattern) = match sub.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, sub),
        };
        if pattern.len() >= MAX_SUBPATTERN {
            return None;
        }
        let pattern = pattern.to_ascii_lowercase();
        if wildcard_match(name.as_bytes(), pattern.as_bytes()) {
            if negated {
                return Some(false);
            }
            positive = Some(true);
        }
    }
    positive
}

/// OpenSSH's `match_pattern()` (`*` any run, `?` any one character),
/// shared with the configuration files: [`crate::config::match_pattern`].
fn wildcard_match(text: &[u8], pattern: &[u8]) -> bool {
    crate::config::match_pattern(&String::from_utf8_lossy(text), &String::from_utf8_lossy(pattern))
}

/// The salt of a `|1|salt|hash` field; it must be 20 bytes (OpenSSH's
/// `extract_salt()`).
fn decode_salt(field: &str) -> Option<Vec<u8>> {
    let rest = field.strip_prefix(HASH_MAGIC)?;
    let (salt, hash) = rest.split_once(HASH_DELIM)?;
    if hash.is_empty() {
        return None;
    }
    let salt = BASE64.decode(salt).ok()?;
    (salt.len() == SALT_LEN).then_some(salt)
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, OpenSSH's `host_hash()`.
fn hash_with_salt(name: &str, salt: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha1>::new_from_slice(salt).ok()?;
    mac.update(name.as_bytes());
    let digest = mac.finalize().into_bytes();
    Some(format!(
        "{HASH_MAGIC}{}{HASH_DELIM}{}",
        BASE64.encode(salt),
        BASE64.encode(digest)
    ))
}

/// ssh-keygen(1) `-H` leaves hashed names, wildcards and marker lines alone.
fn is_hashable(fields: &Fields<'_>) -> bool {
    fields.marker == Marker::None && !fields.hosts.starts_with(HASH_DELIM) && !has_wildcard(fields.hosts)
}

/// Whether a host field holds `*`, `?` or `!`.
fn has_wildcard(hosts: &str) -> bool {
    hosts.contains(['*', '?', '!'])
}

/// Compares keys by their blobs, ignoring comments.
fn same_key(a: &AnyPublicKey, b: &AnyPublicKey) -> bool {
    a.same_key(b)
}

/// The key type as ssh(1) prints it (OpenSSH's `sshkey_type()`): `ED25519`,
/// `ED448`, `ECDSA`, `RSA`, `DSA`, `ED25519-SK`, `ECDSA-SK`. Keys of one type
/// are the same "family" for [`KnownHosts::check`].
fn key_type_name(key: &AnyPublicKey) -> String {
    key.type_label()
}

/// `SHA256:...`, ssh(1)'s default fingerprint.
fn fingerprint(key: &AnyPublicKey) -> String {
    key.fingerprint()
}

/// The host as ssh(1) names it in messages: lower case, `[host]:port` off
/// port 22, at most 200 bytes (`%.200s`).
fn display_host(host: &str, port: u16) -> String {
    truncate(&host_name_for(&host.to_ascii_lowercase(), port), 200).to_string()
}

/// The unknown-host question; `other_types` selects ssh(1)'s "but keys of
/// different type are already known" wording.
fn prompt_text(
    host: &str,
    port: u16,
    ip: Option<&str>,
    key: &AnyPublicKey,
    other_names: &[String],
    other_types: bool,
) -> String {
    let ip = match ip {
        Some(ip) if ip.starts_with('[') => ip.to_string(),
        Some(ip) => host_name_for(ip, port),
        None => NO_HOST_IP.to_string(),
    };
    let mut text = format!(
        "The authenticity of host '{} ({ip})' can't be established",
        display_host(host, port)
    );
    text.push_str(if other_types {
        "\nbut keys of different type are already known for this host."
    } else {
        "."
    });
    let _ = write!(
        text,
        "\n{} key fingerprint is {}.\n{}\n",
        key_type_name(key),
        fingerprint(key),
        other_names_text(other_names)
    );
    text.push_str("Are you sure you want to continue connecting (yes/no/[fingerprint])? ");
    text
}

/// ssh(1)'s `other_hostkeys_message()`.
fn other_names_text(names: &[String]) -> String {
    if names.is_empty() {
        return "This key is not known by any other names.".to_string();
    }
    let mut text = "This host key is known by the following other names/addresses:".to_string();
    for name in names.iter().take(MAX_DISPLAY_OTHERNAMES) {
        let _ = write!(text, "\n    {name}");
    }
    if names.len() > MAX_DISPLAY_OTHERNAMES {
        let _ = write!(
            text,
            "\n    ({} additional names omitted)",
            names.len() - MAX_DISPLAY_OTHERNAMES
        );
    }
    text
}

/// Joins message lines, each followed by a newline.
fn join_lines(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// At most `max` bytes of `s`, cut at a character boundary (C's `%.Ns`).
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// OpenSSH's `try_tilde_unexpand()`: `~/...` for paths under `$HOME`.
fn tilde_unexpand(path: &Path) -> String {
    let shown = path.display().to_string();
    let Some(home) = std::env::var_os("HOME") else {
        return shown;
    };
    let home = Path::new(&home);
    if !path.is_absolute() || home.parent().is_none() {
        return shown;
    }
    match path.strip_prefix(home) {
        Ok(rest) if rest.as_os_str().is_empty() => "~".to_string(),
        Ok(rest) => format!("~/{}", rest.display()),
        Err(_) => shown,
    }
}

/// The key as `type base64`, without comment (OpenSSH's `sshkey_write()`).
fn key_text(key: &AnyPublicKey) -> io::Result<String> {
    Ok(key.to_openssh_bare())
}

/// Whether a non-empty file does not end in a newline.
fn lacks_final_newline(file: &mut File) -> io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Reads a whole known_hosts file as UTF-8 for rewriting; other encodings
/// are refused rather than mangled.
fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(fs::read(path)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not valid UTF-8; not rewriting it", path.display()),
        )
    })
}

/// The error ssh-keygen(1) gives up with for a file with invalid lines.
fn invalid_file(path: &Path, line: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{}:{line}: invalid line; not replacing existing known_hosts file because of errors",
            path.display()
        ),
    )
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Replaces `path` by `contents` the way ssh-keygen(1) does: write a
/// temporary file beside it (same permissions, at most 0644), keep the old
/// file as `PATH.old`, then rename the new one into place.
fn replace_with_backup(path: &Path, contents: &str) -> io::Result<()> {
    let permissions = fs::metadata(path)?.permissions();
    let suffix: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(10)
        .map(char::from)
        .collect();
    let tmp = with_suffix(path, &format!(".{suffix}"));
    let result = write_new_file(&tmp, contents, permissions).and_then(|()| {
        let old = with_suffix(path, ".old");
        match fs::remove_file(&old) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        if fs::hard_link(path, &old).is_err() {
            fs::copy(path, &old)?;
        }
        fs::rename(&tmp, path)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` (which must not exist), writes `contents` and applies the
/// original file's permissions.
fn write_new_file(path: &Path, contents: &str, permissions: fs::Permissions) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    private_file_mode(&mut options);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    fs::set_permissions(path, sanitized_permissions(permissions))
}

/// Creates the parent directory of `path` (mode 0700) if it is missing.
fn create_parent_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            private_dir_mode(&mut builder);
            builder.create(dir)
        }
        _ => Ok(()),
    }
}

/// New known_hosts files are readable by their owner only.
#[cfg(unix)]
fn private_file_mode(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600);
}

/// New known_hosts files are readable by their owner only.
#[cfg(not(unix))]
fn private_file_mode(_options: &mut OpenOptions) {}

/// New directories for known_hosts are private to their owner.
#[cfg(unix)]
fn private_dir_mode(builder: &mut fs::DirBuilder) {
    use std::os::unix::fs::DirBuilderExt;
    builder.mode(0o700);
}

/// New directories for known_hosts are private to their owner.
#[cfg(not(unix))]
fn private_dir_mode(_builder: &mut fs::DirBuilder) {}

/// ssh-keygen(1) keeps the old mode but never more than 0644.
#[cfg(unix)]
fn sanitized_permissions(permissions: fs::Permissions) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(permissions.mode() & 0o644)
}

/// ssh-keygen(1) keeps the old mode but never more than 0644.
#[cfg(not(unix))]
fn sanitized_permissions(permissions: fs::Permissions) -> fs::Permissions {
    permissions
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated with `ssh-keygen -t ed25519 -f /tmp/kh/ka -N '' -C testa`
    // (and kb), `ssh-keygen -t ecdsa -b 256 ... -C testc`.
    const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHHkwN5cLoNSyLQKr1pySgeY3/MJyoknlqVZR2wxQTjI testa";
    const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJpwMIm8IH+brX7ywewTpGEs78Zgsa05TVrylW2N3H2T testb";
    const KEY_C: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOtmB1UjQsb0DDoZ2i0XkCFtFRGuN3ujNlV34P7QNrgxyDaiMtpjqYB5YOzTcNaWwm4DxtbxBrWwS1Q+pEEAQLE= testc";
    // `ssh-keygen -lf`: the fingerprints of KEY_A and KEY_C.
    const FP_A: &str = "SHA256:eHq3Ue8gJ0GAf2xN2YdfAGjGlTAKnoCUrzJsFWXQYpY";
    const FP_C: &str = "SHA256:vCXldkK2hhBRGW9UiOjXk67JF13KxglVB4ljkN3ADUo";
    // `ssh-keygen -H` of "example.com KEY_A" and "[example.com]:2222 KEY_B".
    const HASHED_EXAMPLE: &str = "|1|Lm54m4xK3gVfMlLxfDGplWxI9WQ=|KPYCKmx296agLlLSbCJyvQCB/aM=";
    const HASHED_EXAMPLE_2222: &str = "|1|uIfWTXP1dYtJSL/VTaELFd9mM8w=|UDSphYtKNvMesnyZJ6rGy/DscTM=";

    /// ssh(1)'s `order_hostkeyalgs()`: the types known for the host (ECDSA
    /// of the same curve, their certificates too) come first, in the given
    /// order; other hosts' lines, other ports and `@revoked` lines count
    /// for nothing; `@cert-authority` puts every certificate first.
    #[test]
    fn known_key_types_are_asked_for_first() {
        let offered: Vec<String> = [
            "ssh-ed25519-cert-v01@openssh.com",
            "ecdsa-sha2-nistp256-cert-v01@openssh.com",
            "ssh-ed25519",
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp384",
            "rsa-sha2-512",
            "rsa-sha2-256",
        ]
        .map(String::from)
        .to_vec();
        let kh = KnownHosts::parse(
            Path::new("kh"),
            &format!("other.example {KEY_A}\n[db.example]:2222 {KEY_C}\n@revoked db.example {KEY_A}\n"),
        );
        assert_eq!(kh.prefer_known("nothere", 22, &offered), offered);
        assert_eq!(
            kh.prefer_known("db.example", 22, &offered),
            offered,
            "other port, revoked"
        );
        assert_eq!(
            kh.prefer_known("DB.example", 2222, &offered),
            [
                "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                "ecdsa-sha2-nistp256",
                "ssh-ed25519-cert-v01@openssh.com",
                "ssh-ed25519",
                "ecdsa-sha2-nistp384",
                "rsa-sha2-512",
                "rsa-sha2-256",
            ]
        );
        let kh = KnownHosts::parse(Path::new("kh"), &format!("@cert-authority *.example {KEY_A}\n"));
        assert_eq!(
            kh.prefer_known("db.example", 22, &offered)[..2],
            [
                "ssh-ed25519-cert-v01@openssh.com",
                "ecdsa-sha2-nistp256-cert-v01@openssh.com"
            ]
        );
        assert_eq!(plain_key_type("rsa-sha2-512-cert-v01@openssh.com"), "ssh-rsa");
    }

    fn key(line: &str) -> AnyPublicKey {
        AnyPublicKey::from_openssh(line).expect("test key")
    }

    /// "type base64" of a test key, without its comment.
    fn bare(line: &str) -> String {
        line.split(' ').take(2).collect::<Vec<_>>().join(" ")
    }

    fn parse(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("kh"), text)
    }

    fn known(line: usize) -> HostKeyStatus {
        HostKeyStatus::Known {
            path: PathBuf::from("kh"),
            line,
        }
    }

    /// A fresh, unique directory under the system temp dir.
    fn temp_dir(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("tobira-known-hosts-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn host_names() {
        assert_eq!(host_name_for("example.com", 22), "example.com");
        assert_eq!(host_name_for("example.com", 0), "example.com");
        assert_eq!(host_name_for("example.com", 2222), "[example.com]:2222");
        assert_eq!(host_name_for("::1", 2222), "[::1]:2222");
    }

    #[test]
    fn plain_match() {
        let kh = parse(&format!("# c\n\nfoo,example.com {KEY_A}\n"));
        assert_eq!(kh.check("example.com", 22, &key(KEY_A)), known(3));
        assert_eq!(kh.check("Example.COM", 22, &key(KEY_A)), known(3));
        assert_eq!(kh.check("foo", 22, &key(KEY_A)), known(3));
        assert_eq!(kh.check("other.org", 22, &key(KEY_A)), HostKeyStatus::Unknown);
        assert_eq!(kh.check("example.co", 22, &key(KEY_A)), HostKeyStatus::Unknown);
    }

    #[test]
    fn bracketed_port() {
        let kh = parse(&format!("[example.com]:2222 {KEY_B}\nexample.com {KEY_A}\n"));
        assert_eq!(kh.check("example.com", 2222, &key(KEY_B)), known(1));
        assert_eq!(kh.check("example.com", 2223, &key(KEY_C)), HostKeyStatus::Unknown);
        // On port 22 the bracketed line does not apply: KEY_B differs from line 2.
        assert_eq!(
            kh.check("example.com", 22, &key(KEY_B)),
            HostKeyStatus::Changed {
                path: PathBuf::from("kh"),
                line: 2
            }
        );
        // ssh(1) "checking without port identifier": only exact matches count.
        assert_eq!(kh.check("example.com", 2223, &key(KEY_A)), known(2));
        assert_eq!(kh.check("example.com", 2223, &key(KEY_B)), HostKeyStatus::Unknown);
    }

    #[test]
    fn wildcards_and_negation() {
        let kh = parse(&format!(
            "*.example.com,!bad.example.com {KEY_A}\nhost?.lan,10.0.*.? {KEY_B}\n!ex*,*.org {KEY_C}\n"
        ));
        assert_eq!(kh.check("www.example.com", 22, &key(KEY_A)), known(1));
        assert_eq!(kh.check("a.b.example.com", 22, &key(KEY_A)), known(1));
        assert_eq!(kh.check("bad.example.com", 22, &key(KEY_A)), HostKeyStatus::Unknown);
        assert_eq!(kh.check("example.com", 22, &key(KEY_A)), HostKeyStatus::Unknown);
        assert_eq!(kh.check("host1.lan", 22, &key(KEY_B)), known(2));
        assert_eq!(kh.check("host10.lan", 22, &key(KEY_B)), HostKeyStatus::Unknown);
        assert_eq!(kh.check("10.0.3.7", 22, &key(KEY_B)), known(2));
        assert_eq!(kh.check("10.0.3.77", 22, &key(KEY_B)), HostKeyStatus::Unknown);
        assert_eq!(kh.check("example.org", 22, &key(KEY_C)), HostKeyStatus::Unknown);
        assert_eq!(kh.check("www.org", 22, &key(KEY_C)), known(3));
        assert!(wildcard_match(b"aXbXc", b"a*b*c"));
        assert!(wildcard_match(b"abc", b"***"));
        assert!(!wildcard_match(b"abcd", b"a*c"));
    }

    #[test]
    fn hashed_entries() {
        // Recompute ssh-keygen's hashes from their salts.
        for (field, name) in [
            (HASHED_EXAMPLE, "example.com"),
            (HASHED_EXAMPLE_2222, "[example.com]:2222"),
        ] {
            let salt = decode_salt(field).expect("salt");
            assert_eq!(hash_with_salt(name, &salt).as_deref(), Some(field));
        }
        let text = format!(
            "{HASHED_EXAMPLE} {}\n{HASHED_EXAMPLE_2222} {}\n",
            bare(KEY_A),
            bare(KEY_B)
        );
        let kh = parse(&text);
        assert_eq!(kh.check("example.com", 22, &key(KEY_A)), known(1));
        assert_eq!(kh.check("EXAMPLE.com", 22, &key(KEY_A)), known(1));
        assert_eq!(kh.check("example.com", 2222, &key(KEY_B)), known(2));
        assert_eq!(
            kh.check("example.com", 22, &key(KEY_B)),
            HostKeyStatus::Changed {
                path: PathBuf::from("kh"),
                line: 1
            }
        );
        assert_eq!(kh.check("example.org", 22, &key(KEY_A)), HostKeyStatus::Unknown);
        let found = find_host(&text, "[example.com]:2222");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 2);
        assert!(found[0].1.starts_with(HASHED_EXAMPLE_2222));
        // Like ssh-keygen -F, hashed names are compared as given.
        assert!(find_host(&text, "EXAMPLE.com").is_empty());
    }

    #[test]
    fn changed_key_and_other_types() {
        let text = format!("# comment\n\nother.org {KEY_B}\nexample.com {KEY_A}\n");
        let kh = parse(&text);
        assert_eq!(
            kh.check("example.com", 22, &key(KEY_B)),
            HostKeyStatus::Changed {
                path: PathBuf::from("kh"),
                line: 4
            }
        );
        // Only keys of another type: unknown for this type, as ssh(1) asks.
        assert_eq!(kh.check("example.com", 22, &key(KEY_C)), HostKeyStatus::Unknown);
        let message = kh.unknown_host_message("example.com", 22, Some("192.0.2.1"), &key(KEY_C));
        assert!(message.starts_with(&format!(
            "WARNING: ED25519 key found for host example.com\nin kh:4\nED25519 key fingerprint {FP_A}.\n\
             The authenticity of host 'example.com (192.0.2.1)' can't be established\n\
             but keys of different type are already known for this host.\n\
             ECDSA key fingerprint is {FP_C}.\n"
        )));
    }

    #[test]
    fn revoked_wins() {
        let kh = parse(&format!("example.com {KEY_B}\n@revoked * {KEY_B}\n"));
        assert_eq!(
            kh.check("example.com", 22, &key(KEY_B)),
            HostKeyStatus::Revoked {
                path: PathBuf::from("kh"),
                line: 2
            }
        );
        assert_eq!(
            kh.check("example.com", 22, &key(KEY_A)),
            HostKeyStatus::Changed {
                path: PathBuf::from("kh"),
                line: 1
            }
        );
        let text = revoked_key_warning("example.com", 22, &key(KEY_B));
        assert!(text.contains("@       WARNING: REVOKED HOST KEY DETECTED!               @\n"));
        assert!(text.ends_with(
            "ED25519 host key for example.com was revoked and you have requested strict checking.\n\
             Host key verification failed.\n"
        ));
    }

    #[test]
    fn cert_authority_does_not_match_plain_keys() {
        let kh = parse(&format!("@cert-authority example.com {KEY_A}\n"));
        assert_eq!(kh.entries.len(), 1);
        assert_eq!(kh.entries[0].marker, Marker::CertAuthority);
        assert_eq!(kh.check("example.com", 22, &key(KEY_A)), HostKeyStatus::Unknown);
        assert!(kh.other_names(&key(KEY_A)).is_empty());
    }

    #[test]
    fn malformed_lines_ignored() {
        let blob = bare(KEY_A).split(' ').nth(1).unwrap_or_default().to_string();
        let text = format!(
            "example.com\n\
             @bogus example.com {KEY_A}\n\
             @revoked @revoked example.com {KEY_A}\n\
             example.com ssh-ed25519 notbase64\n\
             example.com ssh-rsa {blob}\n\
             |1|bad|bad {KEY_A}\n\
             example.com ssh-ed25519\n\
             \u{0}\u{1}\u{fffd} \u{7f}\n\
             example.com # {KEY_A}\n\
             \texample.com\t{KEY_A}\r\n"
        );
        let kh = parse(&text);
        assert_eq!(kh.entries.len(), 1);
        assert_eq!(kh.check("example.com", 22, &key(KEY_A)), known(10));
    }

    #[test]
    fn other_names_and_prompt() {
        let text = format!(
            "foo,bar {KEY_A}\n{HASHED_EXAMPLE} {}\nbaz {KEY_B}\n@revoked qux {KEY_A}\n",
            bare(KEY_A)
        );
        let kh = parse(&text);
        let names = kh.other_names(&key(KEY_A));
        assert_eq!(names, vec!["kh:1: foo,bar", "kh:2: [hashed name]"]);
        assert_eq!(kh.check("new.example", 22, &key(KEY_A)), HostKeyStatus::Unknown);
        let prompt = unknown_host_prompt("new.example", 22, Some("192.0.2.1"), &key(KEY_A), &names);
        assert_eq!(
            prompt,
            format!(
                "The authenticity of host 'new.example (192.0.2.1)' can't be established.\n\
                 ED25519 key fingerprint is {FP_A}.\n\
                 This host key is known by the following other names/addresses:\n    \
                 kh:1: foo,bar\n    \
                 kh:2: [hashed name]\n\
                 Are you sure you want to continue connecting (yes/no/[fingerprint])? "
            )
        );
        assert_eq!(
            kh.unknown_host_message("new.example", 22, Some("192.0.2.1"), &key(KEY_A)),
            prompt
        );
    }

    #[test]
    fn prompt_texts() {
        let prompt = unknown_host_prompt("Example.com", 2222, Some("192.0.2.1"), &key(KEY_A), &[]);
        assert_eq!(
            prompt,
            format!(
                "The authenticity of host '[example.com]:2222 ([192.0.2.1]:2222)' can't be established.\n\
                 ED25519 key fingerprint is {FP_A}.\n\
                 This key is not known by any other names.\n\
                 Are you sure you want to continue connecting (yes/no/[fingerprint])? "
            )
        );
        let proxied = unknown_host_prompt("h", 22, None, &key(KEY_C), &[]);
        assert!(proxied.starts_with(
            "The authenticity of host 'h (<no hostip for proxy command>)' can't be established.\n\
             ECDSA key fingerprint is "
        ));
        let many: Vec<String> = (1..=10).map(|i| format!("kh:{i}: h{i}")).collect();
        let prompt = unknown_host_prompt("h", 22, Some("::1"), &key(KEY_A), &many);
        assert!(prompt.contains("\n    kh:8: h8\n    (2 additional names omitted)\nAre you sure"));
        assert!(!prompt.contains("kh:9: h9"));
        assert_eq!(
            permanently_added_message("example.com", 2222, &key(KEY_C)),
            "Warning: Permanently added '[example.com]:2222' (ECDSA) to the list of known hosts.\n"
        );
        assert_eq!(
            unknown_host_refusal("example.com", 22, &key(KEY_A)),
            "No ED25519 host key is known for example.com and you have requested strict checking.\n\
             Host key verification failed.\n"
        );
    }

    #[test]
    fn changed_warning_text() {
        let text = changed_key_warning("example.com", 22, &key(KEY_A), Path::new("/home/u/.ssh/known_hosts"), 3);
        let expected = format!(
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
             @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
             @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
             IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
             Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
             It is also possible that a host key has just been changed.\n\
             The fingerprint for the ED25519 key sent by the remote host is\n\
             {FP_A}.\n\
             Please contact your system administrator.\n\
             Add correct host key in /home/u/.ssh/known_hosts to get rid of this message.\n\
             Offending ED25519 key in /home/u/.ssh/known_hosts:3\n\
             Host key for example.com has changed and you have requested strict checking.\n\
             Host key verification failed.\n"
        );
        assert_eq!(text, expected);
        let bracketed = changed_key_warning("example.com", 2222, &key(KEY_A), Path::new("kh"), 1);
        assert!(bracketed.contains("Host key for [example.com]:2222 has changed"));
    }

    #[test]
    fn append_and_reload() {
        let dir = temp_dir("append");
        let path = dir.join("sub").join("known_hosts");
        append(&path, "Example.COM", 22, &key(KEY_A), false).expect("append plain");
        append(&path, "example.com", 2222, &key(KEY_B), true).expect("append hashed");
        let text = fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("example.com {}", bare(KEY_A)));
        assert!(lines[1].starts_with(HASH_MAGIC));
        assert!(lines[1].ends_with(&format!(" {}", bare(KEY_B))));
        // A file without a final newline gets one before the new line.
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"# no newline").expect("write");
        drop(f);
        append(&path, "third", 22, &key(KEY_C), false).expect("append third");

        let missing = dir.join("missing");
        let kh = KnownHosts::load(&[missing, path.clone()]).expect("load");
        let at = |line| HostKeyStatus::Known {
            path: path.clone(),
            line,
        };
        assert_eq!(kh.check("example.com", 22, &key(KEY_A)), at(1));
        assert_eq!(kh.check("example.com", 2222, &key(KEY_B)), at(2));
        assert_eq!(kh.check("third", 22, &key(KEY_C)), at(4));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
            assert_eq!(mode(&path), Some(0o600));
            assert_eq!(mode(&dir.join("sub")), Some(0o700));
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn remove_host_keeps_backup() {
        let dir = temp_dir("remove");
        let path = dir.join("known_hosts");
        let original = format!(
            "# comment\n\
             foo,example.com {KEY_A} c1\n\
             @revoked example.com {KEY_B}\n\
             @cert-authority example.com {KEY_A}\n\
             bar {KEY_A}\n\
             {HASHED_EXAMPLE} {}\n\
             example.com ssh-ed25519 notbase64\n\
             !ex*,*.com {KEY_A}",
            bare(KEY_A)
        );
        fs::write(&path, &original).expect("write");
        assert_eq!(remove_host(&path, "nothere.org").expect("remove"), 0);
        assert!(!with_suffix(&path, ".old").exists());

        assert_eq!(remove_host(&path, "example.com").expect("remove"), 3);
        let expected = format!(
            "# comment\n\
             @revoked example.com {KEY_B}\n\
             @cert-authority example.com {KEY_A}\n\
             bar {KEY_A}\n\
             !ex*,*.com {KEY_A}\n"
        );
        assert_eq!(fs::read_to_string(&path).expect("read"), expected);
        let old = fs::read_to_string(with_suffix(&path, ".old")).expect("old");
        assert_eq!(old, original);

        // ssh-keygen refuses to rewrite a file with invalid lines.
        let broken = format!("example.com {KEY_A}\nexample.com\n");
        fs::write(&path, &broken).expect("write");
        assert_eq!(
            remove_host(&path, "example.com").map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidData)
        );
        assert_eq!(fs::read_to_string(&path).expect("read"), broken);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn hash_file_hashes_each_name() {
        let dir = temp_dir("hash");
        let path = dir.join("known_hosts");
        let original = format!(
            "# comment\n\
             foo,Example.COM {KEY_A} c1\n\
             *.wild {KEY_A}\n\
             @revoked x {KEY_B}\n\
             {HASHED_EXAMPLE_2222} {}\n\
             [other]:2200 {KEY_C}\n",
            bare(KEY_B)
        );
        fs::write(&path, &original).expect("write");
        assert_eq!(hash_file(&path).expect("hash"), 3);
        let text = fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[0], "# comment");
        assert!(lines[1].starts_with(HASH_MAGIC) && lines[1].ends_with(&format!("{KEY_A} c1")));
        assert!(lines[2].starts_with(HASH_MAGIC) && lines[2].ends_with(&format!("{KEY_A} c1")));
        assert_eq!(lines[3], format!("*.wild {KEY_A}"));
        assert_eq!(lines[4], format!("@revoked x {KEY_B}"));
        assert!(lines[5].starts_with(HASHED_EXAMPLE_2222));
        // No name is left in clear. Host fields are compared whole: a hashed
        // field is random base64, which may hold "foo" by chance (it did,
        // once in CI).
        let names: Vec<String> = lines
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .flat_map(|f| f.split(','))
            .map(str::to_ascii_lowercase)
            .collect();
        for name in ["foo", "example.com", "[other]:2200"] {
            assert!(!names.iter().any(|n| n == name), "{name} in clear: {text}");
        }
        assert_eq!(fs::read_to_string(with_suffix(&path, ".old")).expect("old"), original);

        let kh = KnownHosts::load(std::slice::from_ref(&path)).expect("load");
        let at = |line| HostKeyStatus::Known {
            path: path.clone(),
            line,
        };
        assert_eq!(kh.check("foo", 22, &key(KEY_A)), at(2));
        assert_eq!(kh.check("example.com", 22, &key(KEY_A)), at(3));
        assert_eq!(kh.check("example.com", 2222, &key(KEY_B)), at(6));
        assert_eq!(kh.check("other", 2200, &key(KEY_C)), at(7));
        assert_eq!(find_host(&text, "example.com").len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn ed448_host_keys() {
        // `puttygen -t ed448` keys, `puttygen -l` fingerprint of the first.
        const ED448_A: &str = "ssh-ed448 AAAACXNzaC1lZDQ0OAAAADngoFvvNL3FAVti882HXOP2zbyKJRkRGLrYLeGYKPwTf/GzGyYhaeLzMBwg0riqqczxT18Do51czIA= tested448";
        const ED448_B: &str = "ssh-ed448 AAAACXNzaC1lZDQ0OAAAADmvyiqCCbl1cjYFvwbpoQ7jtdrNtHlfqofMuIPyXD+WslQTwR9ZGhcAAyy4zX2RFj99SS4ZxHwEFAA= other448";
        const FP_ED448_A: &str = "SHA256:k02Oun4Vx52/6IZ3OMJI3idPZrdFu8UfPi/VUj0aQrU";
        let dir = temp_dir("ed448");
        let path = dir.join("known_hosts");
        append(&path, "example.com", 2222, &key(ED448_A), false).expect("append");
        append(&path, "example.com", 2222, &key(KEY_A), false).expect("append");
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(
            text.lines().next(),
            Some(format!("[example.com]:2222 {}", bare(ED448_A)).as_str())
        );
        let kh = KnownHosts::load(std::slice::from_ref(&path)).expect("load");
        let at = |line| HostKeyStatus::Known {
            path: path.clone(),
            line,
        };
        assert_eq!(kh.check("example.com", 2222, &key(ED448_A)), at(1));
        assert_eq!(kh.check("example.com", 2222, &key(KEY_A)), at(2));
        assert_eq!(
            kh.check("example.com", 2222, &key(ED448_B)),
            HostKeyStatus::Changed {
                path: path.clone(),
                line: 1
            }
        );
        assert_eq!(kh.check("example.com", 22, &key(ED448_A)), HostKeyStatus::Unknown);
        let warning = changed_key_warning("example.com", 2222, &key(ED448_B), &path, 1);
        assert!(warning.contains("The fingerprint for the ED448 key sent by the remote host is"));
        assert!(warning.contains(&format!("Offending ED448 key in {}:1", path.display())));
        let prompt = kh.unknown_host_message("other", 22, Some("192.0.2.1"), &key(ED448_A));
        assert!(
            prompt.contains(&format!("ED448 key fingerprint is {FP_ED448_A}.")),
            "{prompt}"
        );
        assert!(permanently_added_message("h", 22, &key(ED448_A)).contains("'h' (ED448)"));
        // An Ed25519 key for a host known with an Ed448 key: ssh(1)'s warning
        // about the other key type comes first.
        let message = kh.unknown_host_message("example.com", 2222, Some("192.0.2.1"), &key(KEY_B));
        assert!(
            message.starts_with(&format!(
                "WARNING: ED448 key found for host [example.com]:2222\nin {}:1\nED448 key fingerprint {FP_ED448_A}.\n",
                path.display()
            )),
            "{message}"
        );
        // A truncated ssh-ed448 key is skipped, not trusted.
        let cut = &bare(ED448_A)[..60];
        let kh = parse(&format!("example.com {cut}\n"));
        assert_eq!(kh.check("example.com", 22, &key(ED448_A)), HostKeyStatus::Unknown);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn key_type_names() {
        assert_eq!(key_type_name(&key(KEY_A)), "ED25519");
        assert_eq!(key_type_name(&key(KEY_C)), "ECDSA");
        assert_eq!(truncate("héllo", 2), "h");
    }
}
