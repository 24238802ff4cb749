//! `ssh_config(5)`: the client configuration of `tobira`.
//!
//! Options are obtained, as `ssh(1)` obtains them, from the command line
//! (`-l`, `-p`, then `-o` options), then the file given with `-F`, or else
//! `~/.ssh/config` followed by `/etc/ssh/ssh_config`. For each keyword the
//! first obtained value is used; `IdentityFile`, `SendEnv` and the
//! forwardings accumulate. `Host` sections apply when one of their patterns
//! matches the host given on the command line (and no negated pattern
//! does); `Match` sections test `host` (after `HostName`), `originalhost`,
//! `user`, `localuser`, `final`, `canonical` and `all`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tobira_proto::algorithms::{
    cipher_default, resolve_list, CIPHER_SUPPORTED, HOSTKEY_DEFAULT, HOSTKEY_SUPPORTED, KEX_DEFAULT, KEX_SUPPORTED,
    MAC_DEFAULT, MAC_SUPPORTED, PUBKEY_DEFAULT, PUBKEY_SUPPORTED,
};

use super::lexer::{self, ConfigLine};
use super::{
    expand_tilde, expand_tokens, glob_paths, match_pattern, match_pattern_list, parse_rekey_bytes,
    parse_rekey_interval, parse_time, parse_yes_no, read_config_file, ConfigError, ListMatch, Location, LogLevel,
    RekeyLimit, MAX_INCLUDE_DEPTH,
};

/// The system-wide client configuration file (`ssh_config(5)`, FILES).
pub const SYSTEM_CONFIG_PATH: &str = "/etc/ssh/ssh_config";

/// `StrictHostKeyChecking` (`ssh_config(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// `yes`: never add keys; refuse unknown and changed keys.
    Yes,
    /// `accept-new`: add unknown keys, refuse changed ones.
    AcceptNew,
    /// `no` or `off`: add unknown keys and connect despite changed ones
    /// (with restrictions).
    No,
    /// `ask` (the default): ask the user about unknown keys.
    Ask,
}

/// `UpdateHostKeys` (`ssh_config(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateHostKeys {
    /// `yes`: learn the server's additional host keys.
    Yes,
    /// `no`.
    No,
    /// `ask`: ask the user first.
    Ask,
}

/// `RequestTTY` (`ssh_config(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestTty {
    /// `auto` (the default): a pty when there is no command and stdin is a
    /// terminal.
    Auto,
    /// `no`.
    No,
    /// `yes`: when stdin is a terminal.
    Yes,
    /// `force`: always.
    Force,
}

/// `AddressFamily` (`ssh_config(5)`), also `-4` and `-6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressFamily {
    /// `any` (the default).
    #[default]
    Any,
    /// `inet`: IPv4 only.
    Inet,
    /// `inet6`: IPv6 only.
    Inet6,
}

impl AddressFamily {
    /// Whether `addr` is of this family.
    pub fn allows(self, addr: &std::net::SocketAddr) -> bool {
        match self {
            AddressFamily::Any => true,
            AddressFamily::Inet => addr.is_ipv4(),
            AddressFamily::Inet6 => addr.is_ipv6(),
        }
    }
}

/// `IdentityAgent` (`ssh_config(5)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityAgent {
    /// Not set, or `SSH_AUTH_SOCK`: the socket named by that variable.
    Default,
    /// `none`: no agent.
    None,
    /// `$NAME`: the socket named by environment variable `NAME`.
    Env(String),
    /// A socket path (tokens and `~` expanded).
    Socket(PathBuf),
}

/// `ForwardAgent` (`ssh_config(5)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardAgent {
    /// `no` (the default).
    No,
    /// `yes`: forward the agent at `IdentityAgent`/`SSH_AUTH_SOCK`.
    Yes,
    /// A socket path, or `$NAME` of a variable naming one.
    Socket(String),
}

/// One end of a forwarding (`LocalForward`, `RemoteForward`,
/// `DynamicForward` in `ssh_config(5)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardEndpoint {
    /// A TCP address; `host` is `None` when only a port was given (the
    /// default bind address, or `localhost` per `GatewayPorts`).
    Tcp {
        /// Host or address (without brackets), if given.
        host: Option<String>,
        /// The port (0 for a remote listener: allocated by the server).
        port: u16,
    },
    /// A Unix-domain socket path.
    Unix(PathBuf),
}

/// A forwarding specification. `connect` is `None` for dynamic (SOCKS)
/// forwardings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// Where to listen.
    pub listen: ForwardEndpoint,
    /// Where to connect; `None` for SOCKS.
    pub connect: Option<ForwardEndpoint>,
}

/// The kind of forwarding a specification is parsed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardKind {
    /// `-L` / `LocalForward`.
    Local,
    /// `-R` / `RemoteForward` (one or two fields: dynamic).
    Remote,
    /// `-D` / `DynamicForward`.
    Dynamic,
}

/// The resolved client configuration for one destination: every keyword
/// of `ssh_config(5)` that tobira implements, after the command line and
/// the configuration files, with defaults filled and `%` tokens expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// The host as given on the command line (`%n`).
    pub host: String,
    /// `HostName` (with `%h` expanded), or the host in lower case (`%h`).
    pub host_name: String,
    /// `User` (or `-l`, `user@`): default the local user (`%r`).
    pub user: String,
    /// `Port` (or `-p`): default 22.
    pub port: u16,
    /// `IdentityFile`, expanded (`~`, `%d %u %h %r %p %n %l %L %i %C %k %j %%`).
    /// Default `~/.ssh/id_rsa`, `id_ecdsa`, `id_ecdsa_sk`, `id_ed25519`,
    /// `id_ed25519_sk`.
    pub identity_file: Vec<PathBuf>,
    /// Whether [`ClientConfig::identity_file`] is the default list (whose
    /// files need not exist).
    pub identity_file_is_default: bool,
    /// `IdentitiesOnly`: default no.
    pub identities_only: bool,
    /// `IdentityAgent`.
    pub identity_agent: IdentityAgent,
    /// `KexAlgorithms`, resolved (`+`, `-`, `^`, wildcards).
    pub kex_algorithms: Vec<String>,
    /// `Ciphers`, resolved.
    pub ciphers: Vec<String>,
    /// `MACs`, resolved.
    pub macs: Vec<String>,
    /// `HostKeyAlgorithms`, resolved.
    pub host_key_algorithms: Vec<String>,
    /// Whether `HostKeyAlgorithms` was set (`ssh(1)` otherwise prefers the
    /// algorithms of keys already in known_hosts).
    pub host_key_algorithms_set: bool,
    /// `PubkeyAcceptedAlgorithms`, resolved.
    pub pubkey_accepted_algorithms: Vec<String>,
    /// `Compression`: default no.
    pub compression: bool,
    /// `RekeyLimit`: default `default none`.
    pub rekey_limit: RekeyLimit,
    /// `UserKnownHostsFile`, expanded: default `~/.ssh/known_hosts
    /// ~/.ssh/known_hosts2`; `none` gives an empty list.
    pub user_known_hosts_file: Vec<PathBuf>,
    /// `GlobalKnownHostsFile`: default `/etc/ssh/ssh_known_hosts
    /// /etc/ssh/ssh_known_hosts2`.
    pub global_known_hosts_file: Vec<PathBuf>,
    /// `StrictHostKeyChecking`: default `ask`.
    pub strict_host_key_checking: StrictHostKeyChecking,
    /// `HashKnownHosts`: default no.
    pub hash_known_hosts: bool,
    /// `UpdateHostKeys`: default yes when `UserKnownHostsFile` is the
    /// default, else no (OpenSSH 8.5 and later).
    pub update_host_keys: UpdateHostKeys,
    /// `BatchMode`: default no.
    pub batch_mode: bool,
    /// `PreferredAuthentications`: default
    /// `gssapi-with-mic,hostbased,publickey,keyboard-interactive,password`.
    pub preferred_authentications: Vec<String>,
    /// `PasswordAuthentication`: default yes.
    pub password_authentication: bool,
    /// `PubkeyAuthentication` (`yes`, `unbound`, `host-bound` are true):
    /// default yes.
    pub pubkey_authentication: bool,
    /// `KbdInteractiveAuthentication`: default yes.
    pub kbd_interactive_authentication: bool,
    /// `NumberOfPasswordPrompts`: default 3.
    pub number_of_password_prompts: u32,
    /// `ConnectTimeout`: default none (the system's TCP timeout).
    pub connect_timeout: Option<Duration>,
    /// `AddressFamily` (`-4`, `-6`): default `any`.
    pub address_family: AddressFamily,
    /// `BindAddress` (`-b`): the local address outgoing connections come
    /// from; default none (the system's choice).
    pub bind_address: Option<String>,
    /// `ConnectionAttempts`: default 1.
    pub connection_attempts: u32,
    /// `ServerAliveInterval`: default 0 (off).
    pub server_alive_interval: Duration,
    /// `ServerAliveCountMax`: default 3.
    pub server_alive_count_max: u32,
    /// `RequestTTY`: default `auto`.
    pub request_tty: RequestTty,
    /// `SendEnv` patterns.
    pub send_env: Vec<String>,
    /// `SetEnv` variables, `(NAME, VALUE)`.
    pub set_env: Vec<(String, String)>,
    /// `ForwardAgent`: default no.
    pub forward_agent: ForwardAgent,
    /// `LocalForward` (and `-L` given as `-o`).
    pub local_forward: Vec<Forward>,
    /// `RemoteForward`.
    pub remote_forward: Vec<Forward>,
    /// `DynamicForward`.
    pub dynamic_forward: Vec<Forward>,
    /// `ExitOnForwardFailure`: default no.
    pub exit_on_forward_failure: bool,
    /// `ProxyJump` as written (`none` gives `None`).
    pub proxy_jump: Option<String>,
    /// `ProxyCommand` with `%h %p %r %n ...` expanded (`none` gives `None`).
    pub proxy_command: Option<String>,
    /// `LogLevel`: default INFO.
    pub log_level: LogLevel,
    /// `EscapeChar`: default `~`; `None` for `none`.
    pub escape_char: Option<u8>,
    /// `CheckHostIP`: default no.
    pub check_host_ip: bool,
    /// `ClearAllForwardings`: default no; yes drops every local, remote
    /// and dynamic forward, those of the files and of the command line
    /// alike (scp and sftp set it when they run the client).
    pub clear_all_forwardings: bool,
    /// Keywords OpenSSH knows that tobira ignores, and `Match` criteria it
    /// cannot evaluate, as `FILE line N: Unsupported option "keyword"`.
    pub warnings: Vec<String>,
    /// The `%` token values of this destination.
    tokens: Vec<(char, String)>,
}

impl ClientConfig {
    /// Expands `~` and the `%` tokens of `ssh_config(5)` (TOKENS) for this
    /// destination: `%%`, `%C`, `%d`, `%h`, `%i`, `%j`, `%k`, `%L`, `%l`,
    /// `%n`, `%p`, `%r`, `%u`.
    pub fn expand(&self, s: &str) -> Result<String, String> {
        let t: Vec<(char, &str)> = self.tokens.iter().map(|(c, v)| (*c, v.as_str())).collect();
        let home = self
            .tokens
            .iter()
            .find(|(c, _)| *c == 'd')
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        Ok(expand_tilde(&expand_tokens(s, &t)?, Path::new(home)))
    }
}

/// Resolves the client configuration for `host` as `ssh(1)` does:
/// `user_override` (`-l` or `user@host`) and `port_override` (`-p`) first,
/// then `options` (`-o Keyword=value`, in order), then `config_file`
/// (`-F`; `none` reads no file) or else `HOME/.ssh/config` and
/// `/etc/ssh/ssh_config` when they exist. A second pass is made when a
/// `Match final` section was seen (`ssh_config(5)`, `Match`).
pub fn resolve_client_config(
    host: &str,
    user_override: Option<&str>,
    port_override: Option<u16>,
    options: &[String],
    config_file: Option<&Path>,
    home: &Path,
    local_user: &str,
) -> Result<ClientConfig, ConfigError> {
    let mut r = Resolver::new(host, home, local_user);
    if let Some(u) = user_override {
        r.set.insert(Kw::User);
        r.cfg.user = u.to_string();
    }
    if let Some(p) = port_override {
        r.set.insert(Kw::Port);
        r.cfg.port = p;
    }
    for o in options {
        if let Some(line) = lexer::parse_line(o, Location::command_line())? {
            let mut active = true;
            r.line(&line, &mut active, &Flags::command_line(), 0)?;
        }
    }
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    match config_file {
        Some(p) if p.as_os_str() == "none" => {}
        Some(p) => files.push((p.to_path_buf(), true)),
        None => {
            let user = home.join(".ssh").join("config");
            if user.exists() {
                files.push((user, true));
            }
            let sys = PathBuf::from(SYSTEM_CONFIG_PATH);
            if sys.exists() {
                files.push((sys, false));
            }
        }
    }
    let mut texts = Vec::new();
    for (p, user_conf) in &files {
        texts.push((p.clone(), read_config_file(p)?, *user_conf));
    }
    for (p, text, user_conf) in &texts {
        let mut active = true;
        r.file(p, text, &mut active, &Flags::file(*user_conf), 0)?;
    }
    if r.want_final {
        r.final_pass = true;
        r.record_warnings = false;
        for (p, text, user_conf) in &texts {
            let mut active = true;
            r.file(p, text, &mut active, &Flags::file(*user_conf), 0)?;
        }
    }
    r.finish()
}

/// Parses a forwarding specification as `ssh(1)` parses `-L`, `-R` and
/// `-D` arguments: `[bind_address:]port:host:hostport`,
/// `[bind_address:]port:remote_socket`, `local_socket:host:hostport`,
/// `local_socket:remote_socket`, and for dynamic (and one- or two-field
/// remote) forwardings `[bind_address:]port`. Fields may be enclosed in
/// `[...]` (IPv6 addresses); a field containing `/` is a socket path.
pub fn parse_forward(spec: &str, kind: ForwardKind) -> Result<Forward, String> {
    let bad = || format!("Bad forwarding specification '{spec}'");
    let fields = split_forward_fields(spec.trim_start()).ok_or_else(bad)?;
    let port = |s: &str| -> Result<u16, String> { s.parse::<u16>().map_err(|_| bad()) };
    let ep = |f: &(String, bool), host: Option<&(String, bool)>| -> Result<ForwardEndpoint, String> {
        if f.1 {
            Ok(ForwardEndpoint::Unix(PathBuf::from(&f.0)))
        } else {
            Ok(ForwardEndpoint::Tcp {
                host: host.map(|h| h.0.clone()),
                port: port(&f.0)?,
            })
        }
    };
    let (listen, connect) = match fields.as_slice() {
        [a] => (ep(a, None)?, None),
        [a, b] if a.1 && b.1 => (ep(a, None)?, Some(ep(b, None)?)),
        [a, b] if b.1 => (ep(a, None)?, Some(ep(b, None)?)),
        [a, b] => (ep(b, Some(a))?, None),
        [a, b, c] if a.1 => (ep(a, None)?, Some(ep(c, Some(b))?)),
        [a, b, c] if c.1 => (ep(b, Some(a))?, Some(ep(c, None)?)),
        [a, b, c] => (ep(a, None)?, Some(ep(c, Some(b))?)),
        [a, b, c, d] => (ep(b, Some(a))?, Some(ep(d, Some(c))?)),
        _ => return Err(bad()),
    };
    match kind {
        ForwardKind::Dynamic if connect.is_some() || fields.len() > 2 => return Err(bad()),
        ForwardKind::Local if connect.is_none() => return Err(bad()),
        _ => {}
    }
    if let Some(ForwardEndpoint::Tcp { port: 0, .. }) = connect {
        return Err(bad());
    }
    if kind != ForwardKind::Remote {
        if let ForwardEndpoint::Tcp { port: 0, .. } = listen {
            return Err(bad());
        }
    }
    Ok(Forward { listen, connect })
}

/// OpenSSH's `parse_fwd_field` over a whole specification: fields separated
/// by `:`, `[...]` taken literally, `\` escaping; each with whether it is a
/// path (contains `/`).
fn split_forward_fields(spec: &str) -> Option<Vec<(String, bool)>> {
    let chars: Vec<char> = spec.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if out.len() == 4 {
            return None;
        }
        let mut field = String::new();
        let mut is_path = false;
        if chars[i] == '[' {
            i += 1;
            while i < chars.len() && chars[i] != ']' {
                if chars[i] == '/' {
                    is_path = true;
                }
                field.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return None;
            }
            i += 1; // ']'
            match chars.get(i) {
                None => {}
                Some(':') => i += 1,
                Some(_) => return None,
            }
        } else {
            while i < chars.len() {
                match chars[i] {
                    '\\' => {
                        i += 1;
                        field.push(*chars.get(i)?);
                    }
                    ':' => {
                        i += 1;
                        break;
                    }
                    c => {
                        if c == '/' {
                            is_path = true;
                        }
                        field.push(c);
                    }
                }
                i += 1;
            }
        }
        out.push((field, is_path));
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Keywords tobira implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kw {
    Host,
    Match,
    Include,
    HostName,
    User,
    Port,
    IdentityFile,
    IdentitiesOnly,
    IdentityAgent,
    KexAlgorithms,
    Ciphers,
    Macs,
    HostKeyAlgorithms,
    PubkeyAcceptedAlgorithms,
    Compression,
    RekeyLimit,
    RekeyInterval,
    UserKnownHostsFile,
    GlobalKnownHostsFile,
    StrictHostKeyChecking,
    HashKnownHosts,
    UpdateHostKeys,
    BatchMode,
    PreferredAuthentications,
    PasswordAuthentication,
    PubkeyAuthentication,
    KbdInteractiveAuthentication,
    NumberOfPasswordPrompts,
    ConnectTimeout,
    ConnectionAttempts,
    AddressFamily,
    BindAddress,
    ServerAliveInterval,
    ServerAliveCountMax,
    RequestTty,
    SendEnv,
    SetEnv,
    ForwardAgent,
    LocalForward,
    RemoteForward,
    DynamicForward,
    ExitOnForwardFailure,
    ProxyJump,
    ProxyCommand,
    LogLevel,
    EscapeChar,
    CheckHostIp,
    ClearAllForwardings,
    IgnoreUnknown,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Known(Kw),
    Unsupported,
    Deprecated,
}

/// Every keyword of OpenSSH's `ssh` (`readconf.c`, `ssh_config(5)`,
/// including Debian's GSSAPI additions), lower-cased.
static KEYWORDS: &[(&str, Kind)] = &[
    ("host", Kind::Known(Kw::Host)),
    ("match", Kind::Known(Kw::Match)),
    ("include", Kind::Known(Kw::Include)),
    ("hostname", Kind::Known(Kw::HostName)),
    ("user", Kind::Known(Kw::User)),
    ("port", Kind::Known(Kw::Port)),
    ("identityfile", Kind::Known(Kw::IdentityFile)),
    ("identityfile2", Kind::Known(Kw::IdentityFile)),
    ("identitiesonly", Kind::Known(Kw::IdentitiesOnly)),
    ("identityagent", Kind::Known(Kw::IdentityAgent)),
    ("kexalgorithms", Kind::Known(Kw::KexAlgorithms)),
    ("ciphers", Kind::Known(Kw::Ciphers)),
    ("macs", Kind::Known(Kw::Macs)),
    ("hostkeyalgorithms", Kind::Known(Kw::HostKeyAlgorithms)),
    ("pubkeyacceptedalgorithms", Kind::Known(Kw::PubkeyAcceptedAlgorithms)),
    ("pubkeyacceptedkeytypes", Kind::Known(Kw::PubkeyAcceptedAlgorithms)),
    ("compression", Kind::Known(Kw::Compression)),
    ("rekeylimit", Kind::Known(Kw::RekeyLimit)),
    ("userknownhostsfile", Kind::Known(Kw::UserKnownHostsFile)),
    ("globalknownhostsfile", Kind::Known(Kw::GlobalKnownHostsFile)),
    ("stricthostkeychecking", Kind::Known(Kw::StrictHostKeyChecking)),
    ("hashknownhosts", Kind::Known(Kw::HashKnownHosts)),
    ("updatehostkeys", Kind::Known(Kw::UpdateHostKeys)),
    ("batchmode", Kind::Known(Kw::BatchMode)),
    ("preferredauthentications", Kind::Known(Kw::PreferredAuthentications)),
    ("passwordauthentication", Kind::Known(Kw::PasswordAuthentication)),
    ("pubkeyauthentication", Kind::Known(Kw::PubkeyAuthentication)),
    ("dsaauthentication", Kind::Known(Kw::PubkeyAuthentication)),
    (
        "kbdinteractiveauthentication",
        Kind::Known(Kw::KbdInteractiveAuthentication),
    ),
    (
        "challengeresponseauthentication",
        Kind::Known(Kw::KbdInteractiveAuthentication),
    ),
    ("skeyauthentication", Kind::Known(Kw::KbdInteractiveAuthentication)),
    ("tisauthentication", Kind::Known(Kw::KbdInteractiveAuthentication)),
    ("numberofpasswordprompts", Kind::Known(Kw::NumberOfPasswordPrompts)),
    ("connecttimeout", Kind::Known(Kw::ConnectTimeout)),
    ("connectionattempts", Kind::Known(Kw::ConnectionAttempts)),
    ("serveraliveinterval", Kind::Known(Kw::ServerAliveInterval)),
    ("serveralivecountmax", Kind::Known(Kw::ServerAliveCountMax)),
    ("requesttty", Kind::Known(Kw::RequestTty)),
    ("sendenv", Kind::Known(Kw::SendEnv)),
    ("setenv", Kind::Known(Kw::SetEnv)),
    ("forwardagent", Kind::Known(Kw::ForwardAgent)),
    ("localforward", Kind::Known(Kw::LocalForward)),
    ("remoteforward", Kind::Known(Kw::RemoteForward)),
    ("dynamicforward", Kind::Known(Kw::DynamicForward)),
    ("exitonforwardfailure", Kind::Known(Kw::ExitOnForwardFailure)),
    ("proxyjump", Kind::Known(Kw::ProxyJump)),
    ("proxycommand", Kind::Known(Kw::ProxyCommand)),
    ("loglevel", Kind::Known(Kw::LogLevel)),
    ("escapechar", Kind::Known(Kw::EscapeChar)),
    ("checkhostip", Kind::Known(Kw::CheckHostIp)),
    ("ignoreunknown", Kind::Known(Kw::IgnoreUnknown)),
    // Known to OpenSSH, not implemented by tobira.
    ("addkeystoagent", Kind::Unsupported),
    ("addressfamily", Kind::Known(Kw::AddressFamily)),
    ("bindaddress", Kind::Known(Kw::BindAddress)),
    ("bindinterface", Kind::Unsupported),
    ("canonicaldomains", Kind::Unsupported),
    ("canonicalizefallbacklocal", Kind::Unsupported),
    ("canonicalizehostname", Kind::Unsupported),
    ("canonicalizemaxdots", Kind::Unsupported),
    ("canonicalizepermittedcnames", Kind::Unsupported),
    ("casignaturealgorithms", Kind::Unsupported),
    ("certificatefile", Kind::Unsupported),
    ("channeltimeout", Kind::Unsupported),
    ("clearallforwardings", Kind::Known(Kw::ClearAllForwardings)),
    ("controlmaster", Kind::Unsupported),
    ("controlpath", Kind::Unsupported),
    ("controlpersist", Kind::Unsupported),
    ("enableescapecommandline", Kind::Unsupported),
    ("enablesshkeysign", Kind::Unsupported),
    ("fingerprinthash", Kind::Unsupported),
    ("forkafterauthentication", Kind::Unsupported),
    ("forwardx11", Kind::Unsupported),
    ("forwardx11timeout", Kind::Unsupported),
    ("forwardx11trusted", Kind::Unsupported),
    ("gatewayports", Kind::Unsupported),
    ("gssapiauthentication", Kind::Unsupported),
    ("gssapidelegatecredentials", Kind::Unsupported),
    ("gssapikeyexchange", Kind::Unsupported),
    ("gssapiclientidentity", Kind::Unsupported),
    ("gssapiserveridentity", Kind::Unsupported),
    ("gssapirenewalforcesrekey", Kind::Unsupported),
    ("gssapitrustdns", Kind::Unsupported),
    ("gssapikexalgorithms", Kind::Unsupported),
    ("hostbasedacceptedalgorithms", Kind::Unsupported),
    ("hostbasedkeytypes", Kind::Unsupported),
    ("hostbasedacceptedkeytypes", Kind::Unsupported),
    ("hostbasedauthentication", Kind::Unsupported),
    ("hostkeyalias", Kind::Unsupported),
    ("ipqos", Kind::Unsupported),
    ("kbdinteractivedevices", Kind::Unsupported),
    ("knownhostscommand", Kind::Unsupported),
    ("localcommand", Kind::Unsupported),
    ("logverbose", Kind::Unsupported),
    ("nohostauthenticationforlocalhost", Kind::Unsupported),
    ("obscurekeystroketiming", Kind::Unsupported),
    ("permitlocalcommand", Kind::Unsupported),
    ("permitremoteopen", Kind::Unsupported),
    ("pkcs11provider", Kind::Unsupported),
    ("smartcarddevice", Kind::Unsupported),
    ("proxyusefdpass", Kind::Unsupported),
    ("remotecommand", Kind::Unsupported),
    ("requiredrsasize", Kind::Unsupported),
    ("revokedhostkeys", Kind::Unsupported),
    ("securitykeyprovider", Kind::Unsupported),
    ("sessiontype", Kind::Unsupported),
    ("stdinnull", Kind::Unsupported),
    ("streamlocalbindmask", Kind::Unsupported),
    ("streamlocalbindunlink", Kind::Unsupported),
    ("syslogfacility", Kind::Unsupported),
    ("tag", Kind::Unsupported),
    ("tcpkeepalive", Kind::Unsupported),
    ("keepalive", Kind::Unsupported),
    ("tunnel", Kind::Unsupported),
    ("tunneldevice", Kind::Unsupported),
    ("verifyhostkeydns", Kind::Unsupported),
    ("visualhostkey", Kind::Unsupported),
    ("xauthlocation", Kind::Unsupported),
    ("warnweakcrypto", Kind::Unsupported),
    ("versionaddendum", Kind::Unsupported),
    ("refuseconnection", Kind::Unsupported),
    ("kerberosauthentication", Kind::Unsupported),
    ("kerberostgtpassing", Kind::Unsupported),
    ("afstokenpassing", Kind::Unsupported),
    ("rsaauthentication", Kind::Unsupported),
    ("rhostsrsaauthentication", Kind::Unsupported),
    ("compressionlevel", Kind::Unsupported),
    // Ignored by OpenSSH itself.
    ("protocol", Kind::Deprecated),
    ("cipher", Kind::Deprecated),
    ("fallbacktorsh", Kind::Deprecated),
    ("globalknownhostsfile2", Kind::Deprecated),
    ("rhostsauthentication", Kind::Deprecated),
    ("userknownhostsfile2", Kind::Deprecated),
    ("useroaming", Kind::Deprecated),
    ("usersh", Kind::Deprecated),
    ("useprivilegedport", Kind::Deprecated),
];

fn lookup(lower: &str) -> Option<Kind> {
    KEYWORDS.iter().find(|(n, _)| *n == lower).map(|&(_, k)| k)
}

/// How a line is being read.
struct Flags {
    /// A `-o` option.
    cmdline: bool,
    /// From the user's file (or `-F`): relative `Include`s are in `~/.ssh`.
    user_conf: bool,
    /// Included from an inactive section: `Host`/`Match` never match.
    never_match: bool,
}

impl Flags {
    fn command_line() -> Flags {
        Flags {
            cmdline: true,
            user_conf: true,
            never_match: false,
        }
    }

    fn file(user_conf: bool) -> Flags {
        Flags {
            cmdline: false,
            user_conf,
            never_match: false,
        }
    }
}

/// A value kept as written until the destination is known.
#[derive(Debug, Clone)]
struct Raw {
    value: String,
    at: Location,
}

struct Resolver {
    cfg: ClientConfig,
    set: HashSet<Kw>,
    /// The host as given, lower-cased (matched by `Host`).
    host_arg: String,
    local_user: String,
    home: PathBuf,
    ignore_unknown: Option<String>,
    host_name: Option<Raw>,
    identity_files: Vec<Raw>,
    user_known_hosts: Option<(Vec<String>, Location)>,
    global_known_hosts: Option<(Vec<String>, Location)>,
    identity_agent: Option<Raw>,
    proxy_command: Option<Raw>,
    forward_agent_socket: Option<String>,
    final_pass: bool,
    want_final: bool,
    record_warnings: bool,
}

const DEFAULT_IDENTITIES: &[&str] = &[
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
];

impl Resolver {
    fn new(host: &str, home: &Path, local_user: &str) -> Resolver {
        let strs = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Resolver {
            cfg: ClientConfig {
                host: host.to_string(),
                host_name: host.to_ascii_lowercase(),
                user: String::new(),
                port: 22,
                identity_file: Vec::new(),
                identity_file_is_default: false,
                identities_only: false,
                identity_agent: IdentityAgent::Default,
                kex_algorithms: strs(KEX_DEFAULT),
                ciphers: strs(cipher_default()),
                macs: strs(MAC_DEFAULT),
                host_key_algorithms: strs(HOSTKEY_DEFAULT),
                host_key_algorithms_set: false,
                pubkey_accepted_algorithms: strs(PUBKEY_DEFAULT),
                compression: false,
                rekey_limit: RekeyLimit::default(),
                user_known_hosts_file: Vec::new(),
                global_known_hosts_file: Vec::new(),
                strict_host_key_checking: StrictHostKeyChecking::Ask,
                hash_known_hosts: false,
                update_host_keys: UpdateHostKeys::No,
                batch_mode: false,
                preferred_authentications: strs(&[
                    "gssapi-with-mic",
                    "hostbased",
                    "publickey",
                    "keyboard-interactive",
                    "password",
                ]),
                password_authentication: true,
                pubkey_authentication: true,
                kbd_interactive_authentication: true,
                number_of_password_prompts: 3,
                connect_timeout: None,
                connection_attempts: 1,
                address_family: AddressFamily::Any,
                bind_address: None,
                server_alive_interval: Duration::ZERO,
                server_alive_count_max: 3,
                request_tty: RequestTty::Auto,
                send_env: Vec::new(),
                set_env: Vec::new(),
                forward_agent: ForwardAgent::No,
                local_forward: Vec::new(),
                remote_forward: Vec::new(),
                dynamic_forward: Vec::new(),
                exit_on_forward_failure: false,
                proxy_jump: None,
                proxy_command: None,
                log_level: LogLevel::Info,
                escape_char: Some(b'~'),
                check_host_ip: false,
                clear_all_forwardings: false,
                warnings: Vec::new(),
                tokens: Vec::new(),
            },
            set: HashSet::new(),
            host_arg: host.to_ascii_lowercase(),
            local_user: local_user.to_string(),
            home: home.to_path_buf(),
            ignore_unknown: None,
            host_name: None,
            identity_files: Vec::new(),
            user_known_hosts: None,
            global_known_hosts: None,
            identity_agent: None,
            proxy_command: None,
            forward_agent_socket: None,
            final_pass: false,
            want_final: false,
            record_warnings: true,
        }
    }

    /// Marks `kw` set if the section is active; true the first time.
    fn first(&mut self, kw: Kw, active: bool) -> bool {
        active && self.set.insert(kw)
    }

    fn warn(&mut self, msg: String) {
        if self.record_warnings {
            self.cfg.warnings.push(msg);
        }
    }

    /// The host `Match host` tests: `HostName` (with `%h`) once set.
    fn current_host(&self) -> String {
        match &self.host_name {
            Some(r) => expand_tokens(&r.value, &[('h', &self.host_arg)]).unwrap_or_else(|_| r.value.clone()),
            None => self.host_arg.clone(),
        }
    }

    fn remote_user(&self) -> &str {
        if self.set.contains(&Kw::User) {
            &self.cfg.user
        } else {
            &self.local_user
        }
    }

    fn file(
        &mut self,
        path: &Path,
        text: &str,
        active: &mut bool,
        flags: &Flags,
        depth: usize,
    ) -> Result<(), ConfigError> {
        for line in lexer::tokenize(path, text)? {
            self.line(&line, active, flags, depth)?;
        }
        Ok(())
    }

    fn line(&mut self, line: &ConfigLine, active: &mut bool, flags: &Flags, depth: usize) -> Result<(), ConfigError> {
        let at = &line.location;
        let key = line.keyword_lower();
        let kind = match lookup(&key) {
            Some(k) => k,
            None => {
                if let Some(list) = &self.ignore_unknown {
                    if match_pattern_list(&key, list, true) == ListMatch::Match {
                        return Ok(());
                    }
                }
                return Err(ConfigError::BadOption {
                    at: at.clone(),
                    keyword: key,
                });
            }
        };
        match kind {
            Kind::Unsupported => {
                self.warn(format!("{at}: Unsupported option \"{key}\""));
                Ok(())
            }
            Kind::Deprecated => {
                self.warn(format!("{at}: Deprecated option \"{key}\""));
                Ok(())
            }
            Kind::Known(Kw::Host) => {
                if flags.cmdline {
                    return Err(ConfigError::invalid(
                        at,
                        "Host directive not supported as a command-line option",
                    ));
                }
                *active = false;
                for a in &line.args {
                    if a.is_empty() {
                        return Err(ConfigError::invalid(at, format!("keyword {key} empty argument")));
                    }
                }
                if flags.never_match {
                    return Ok(());
                }
                for a in &line.args {
                    let (neg, pat) = match a.strip_prefix('!') {
                        Some(p) => (true, p),
                        None => (false, a.as_str()),
                    };
                    if match_pattern(&self.host_arg, &pat.to_ascii_lowercase()) {
                        if neg {
                            *active = false;
                            break;
                        }
                        *active = true;
                    }
                }
                Ok(())
            }
            Kind::Known(Kw::Match) => {
                if flags.cmdline {
                    return Err(ConfigError::invalid(
                        at,
                        "Match directive not supported as a command-line option",
                    ));
                }
                let m = self.match_line(&line.args, at)?;
                *active = m && !flags.never_match;
                Ok(())
            }
            Kind::Known(Kw::Include) => {
                if flags.cmdline {
                    return Err(ConfigError::invalid(
                        at,
                        "Include directive not supported as a command-line option",
                    ));
                }
                self.include(line, active, flags, depth)
            }
            Kind::Known(kw) => self.apply(kw, line, *active),
        }
    }

    /// Evaluates a `Match` line (`ssh_config(5)`, `Match`).
    fn match_line(&mut self, args: &[String], at: &Location) -> Result<bool, ConfigError> {
        let bad = |d: String| ConfigError::invalid(at, format!("Bad Match condition: {d}"));
        let mut result = true;
        let mut attributes = 0;
        let mut only_final_canonical = true;
        let mut i = 0;
        while i < args.len() {
            let oattr = &args[i];
            i += 1;
            let (negate, attr) = match oattr.strip_prefix('!') {
                Some(a) => (true, a.to_ascii_lowercase()),
                None => (false, oattr.to_ascii_lowercase()),
            };
            if attr == "all" {
                if !only_final_canonical || i < args.len() {
                    return Err(bad(format!("'{oattr}' cannot be combined with other Match attributes")));
                }
                attributes += 1;
                if negate {
                    result = false;
                }
                break;
            }
            attributes += 1;
            if attr == "canonical" || attr == "final" {
                if attr == "final" {
                    self.want_final = true;
                }
                if self.final_pass == negate {
                    result = false;
                }
                continue;
            }
            only_final_canonical = false;
            let Some(arg) = args.get(i).filter(|a| !a.is_empty()) else {
                return Err(bad(format!("Missing Match criteria for {oattr}")));
            };
            i += 1;
            let r = match attr.as_str() {
                "host" => match_pattern_list(&self.current_host(), arg, true) == ListMatch::Match,
                "originalhost" => match_pattern_list(&self.host_arg, arg, true) == ListMatch::Match,
                "user" => match_pattern_list(self.remote_user(), arg, false) == ListMatch::Match,
                "localuser" => match_pattern_list(&self.local_user, arg, false) == ListMatch::Match,
                "exec" | "localnetwork" | "tagged" | "command" | "version" | "sessiontype" => {
                    self.warn(format!("{at}: Match {attr} not supported yet; section skipped"));
                    result = false;
                    continue;
                }
                _ => return Err(bad(format!("Unsupported Match attribute {oattr}"))),
            };
            if r == negate {
                result = false;
            }
        }
        if attributes == 0 {
            return Err(bad("One or more attributes required for Match".into()));
        }
        Ok(result)
    }

    fn include(
        &mut self,
        line: &ConfigLine,
        active: &mut bool,
        flags: &Flags,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let at = &line.location;
        if line.args.is_empty() {
            return Err(ConfigError::invalid(at, "include missing argument."));
        }
        for arg in &line.args {
            if arg.is_empty() {
                return Err(ConfigError::invalid(at, "keyword include empty argument"));
            }
            if arg.starts_with('~') && !flags.user_conf {
                return Err(ConfigError::invalid(at, format!("bad include path {arg}.")));
            }
            let path = if arg.starts_with('~') {
                PathBuf::from(expand_tilde(arg, &self.home))
            } else if Path::new(arg).is_absolute() {
                PathBuf::from(arg)
            } else if flags.user_conf {
                self.home.join(".ssh").join(arg)
            } else {
                Path::new("/etc/ssh").join(arg)
            };
            let oactive = *active;
            for f in glob_paths(&path) {
                if depth + 1 > MAX_INCLUDE_DEPTH {
                    return Err(ConfigError::invalid(at, "Too many recursive configuration includes"));
                }
                let text = read_config_file(&f)?;
                let sub = Flags {
                    cmdline: false,
                    user_conf: flags.user_conf,
                    never_match: flags.never_match || !oactive,
                };
                self.file(&f, &text, active, &sub, depth + 1)?;
                // Sections in the included file end with it.
                *active = oactive;
            }
        }
        Ok(())
    }

    fn apply(&mut self, kw: Kw, line: &ConfigLine, active: bool) -> Result<(), ConfigError> {
        let at = &line.location;
        let key = line.keyword_lower();
        let key = key.as_str();
        let args = &line.args[..];
        let consumed: usize = match kw {
            Kw::Host | Kw::Match | Kw::Include => args.len(),
            Kw::HostName => {
                let a = need(args, at)?;
                if self.first(kw, active) {
                    self.host_name = Some(Raw {
                        value: a.to_string(),
                        at: at.clone(),
                    });
                }
                1
            }
            Kw::User => {
                let a = need(args, at)?;
                if self.first(kw, active) {
                    self.cfg.user = a.to_string();
                }
                1
            }
            Kw::Port => {
                let a = need(args, at)?;
                let p = match a.parse::<u16>() {
                    Ok(p) if p > 0 => p,
                    _ => {
                        return Err(ConfigError::invalid(
                            at,
                            format!("Badly formatted port number \"{a}\"."),
                        ))
                    }
                };
                if self.first(kw, active) {
                    self.cfg.port = p;
                }
                1
            }
            Kw::IdentityFile => {
                let a = need(args, at)?;
                if active {
                    self.set.insert(kw);
                    if !self.identity_files.iter().any(|r| r.value == a) {
                        self.identity_files.push(Raw {
                            value: a.to_string(),
                            at: at.clone(),
                        });
                    }
                }
                1
            }
            Kw::IdentitiesOnly => self.flag(kw, args, at, active, |c, v| c.identities_only = v)?,
            Kw::IdentityAgent => {
                let a = need(args, at)?;
                if self.first(kw, active) {
                    self.identity_agent = Some(Raw {
                        value: a.to_string(),
                        at: at.clone(),
                    });
                }
                1
            }
            Kw::KexAlgorithms | Kw::Ciphers | Kw::Macs | Kw::HostKeyAlgorithms | Kw::PubkeyAcceptedAlgorithms => {
                let a = need(args, at)?;
                let (name, def, sup): (&str, &[&str], &[&str]) = match kw {
                    Kw::KexAlgorithms => ("KexAlgorithms", KEX_DEFAULT, KEX_SUPPORTED),
                    Kw::Ciphers => ("Ciphers", cipher_default(), CIPHER_SUPPORTED),
                    Kw::Macs => ("MACs", MAC_DEFAULT, MAC_SUPPORTED),
                    Kw::HostKeyAlgorithms => ("HostKeyAlgorithms", HOSTKEY_DEFAULT, HOSTKEY_SUPPORTED),
                    _ => ("PubkeyAcceptedAlgorithms", PUBKEY_DEFAULT, PUBKEY_SUPPORTED),
                };
                let v = resolve_list(a, def, sup).map_err(|reason| ConfigError::BadAlgorithm {
                    at: at.clone(),
                    keyword: name.to_string(),
                    spec: a.to_string(),
                    reason,
                })?;
                if self.first(kw, active) {
                    let c = &mut self.cfg;
                    match kw {
                        Kw::KexAlgorithms => c.kex_algorithms = v,
                        Kw::Ciphers => c.ciphers = v,
                        Kw::Macs => c.macs = v,
                        Kw::HostKeyAlgorithms => {
                            c.host_key_algorithms = v;
                            c.host_key_algorithms_set = true;
                        }
                        _ => c.pubkey_accepted_algorithms = v,
                    }
                }
                1
            }
            Kw::Compression => {
                let v = multistate(args, at, &[("yes", true), ("no", false)])?;
                if self.first(kw, active) {
                    self.cfg.compression = v;
                }
                1
            }
            Kw::RekeyLimit | Kw::RekeyInterval => {
                let a = need(args, at)?;
                let bytes = parse_rekey_bytes(a, key, at)?;
                if self.first(Kw::RekeyLimit, active) {
                    self.cfg.rekey_limit.bytes = bytes;
                }
                match args.get(1).map(String::as_str) {
                    None => 1,
                    Some("default") => 2,
                    Some(t) => {
                        let v = parse_rekey_interval(t, at)?;
                        if self.first(Kw::RekeyInterval, active) {
                            self.cfg.rekey_limit.interval = v;
                        }
                        2
                    }
                }
            }
            Kw::UserKnownHostsFile | Kw::GlobalKnownHostsFile => {
                need(args, at)?;
                if self.first(kw, active) {
                    let v = Some((args.to_vec(), at.clone()));
                    if kw == Kw::UserKnownHostsFile {
                        self.user_known_hosts = v;
                    } else {
                        self.global_known_hosts = v;
                    }
                }
                args.len()
            }
            Kw::StrictHostKeyChecking => {
                let v = multistate(
                    args,
                    at,
                    &[
                        ("true", StrictHostKeyChecking::Yes),
                        ("yes", StrictHostKeyChecking::Yes),
                        ("false", StrictHostKeyChecking::No),
                        ("no", StrictHostKeyChecking::No),
                        ("off", StrictHostKeyChecking::No),
                        ("ask", StrictHostKeyChecking::Ask),
                        ("accept-new", StrictHostKeyChecking::AcceptNew),
                    ],
                )?;
                if self.first(kw, active) {
                    self.cfg.strict_host_key_checking = v;
                }
                1
            }
            Kw::HashKnownHosts => self.flag(kw, args, at, active, |c, v| c.hash_known_hosts = v)?,
            Kw::UpdateHostKeys => {
                let v = multistate(
                    args,
                    at,
                    &[
                        ("true", UpdateHostKeys::Yes),
                        ("yes", UpdateHostKeys::Yes),
                        ("false", UpdateHostKeys::No),
                        ("no", UpdateHostKeys::No),
                        ("ask", UpdateHostKeys::Ask),
                    ],
                )?;
                if self.first(kw, active) {
                    self.cfg.update_host_keys = v;
                }
                1
            }
            Kw::BatchMode => self.flag(kw, args, at, active, |c, v| c.batch_mode = v)?,
            Kw::PreferredAuthentications => {
                let a = need(args, at)?;
                if self.first(kw, active) {
                    self.cfg.preferred_authentications =
                        a.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
                }
                1
            }
            Kw::PasswordAuthentication => self.flag(kw, args, at, active, |c, v| c.password_authentication = v)?,
            Kw::KbdInteractiveAuthentication => {
                self.flag(kw, args, at, active, |c, v| c.kbd_interactive_authentication = v)?
            }
            Kw::PubkeyAuthentication => {
                let v = multistate(
                    args,
                    at,
                    &[
                        ("true", true),
                        ("false", false),
                        ("yes", true),
                        ("no", false),
                        ("unbound", true),
                        ("host-bound", true),
                    ],
                )?;
                if self.first(kw, active) {
                    self.cfg.pubkey_authentication = v;
                }
                1
            }
            Kw::NumberOfPasswordPrompts | Kw::ConnectionAttempts | Kw::ServerAliveCountMax => {
                let a = args.first().map(String::as_str).unwrap_or("");
                let v = int(a).map_err(|r| ConfigError::invalid(at, format!("{key} integer value {r}.")))?;
                if self.first(kw, active) {
                    match kw {
                        Kw::NumberOfPasswordPrompts => self.cfg.number_of_password_prompts = v,
                        Kw::ConnectionAttempts => self.cfg.connection_attempts = v,
                        _ => self.cfg.server_alive_count_max = v,
                    }
                }
                1
            }
            Kw::ConnectTimeout | Kw::ServerAliveInterval => {
                let a = match args.first() {
                    Some(a) if !a.is_empty() => a.as_str(),
                    _ => return Err(ConfigError::invalid(at, "missing time value.")),
                };
                let d = if a == "none" {
                    Duration::ZERO
                } else {
                    parse_time(a).ok_or_else(|| ConfigError::invalid(at, "invalid time value."))?
                };
                if self.first(kw, active) {
                    if kw == Kw::ConnectTimeout {
                        self.cfg.connect_timeout = (!d.is_zero()).then_some(d);
                    } else {
                        self.cfg.server_alive_interval = d;
                    }
                }
                1
            }
            Kw::RequestTty => {
                let v = multistate(
                    args,
                    at,
                    &[
                        ("true", RequestTty::Yes),
                        ("yes", RequestTty::Yes),
                        ("false", RequestTty::No),
                        ("no", RequestTty::No),
                        ("force", RequestTty::Force),
                        ("auto", RequestTty::Auto),
                    ],
                )?;
                if self.first(kw, active) {
                    self.cfg.request_tty = v;
                }
                1
            }
            Kw::SendEnv => {
                for a in args {
                    if a.is_empty() || a.contains('=') {
                        return Err(ConfigError::invalid(at, "Invalid environment name."));
                    }
                    if !active {
                        continue;
                    }
                    if let Some(pat) = a.strip_prefix('-') {
                        self.cfg.send_env.retain(|e| !match_pattern(e, pat));
                    } else if !self.cfg.send_env.contains(a) {
                        self.cfg.send_env.push(a.clone());
                    }
                }
                args.len()
            }
            Kw::SetEnv => {
                let mut v: Vec<(String, String)> = Vec::new();
                for a in args {
                    let Some((n, val)) = a.split_once('=').filter(|(n, _)| !n.is_empty()) else {
                        return Err(ConfigError::invalid(at, "Invalid environment."));
                    };
                    if !v.iter().any(|(k, _)| k == n) {
                        v.push((n.to_string(), val.to_string()));
                    }
                }
                if self.first(kw, active) {
                    self.cfg.set_env = v;
                }
                args.len()
            }
            Kw::ForwardAgent => {
                let a = need(args, at)?;
                let v = match parse_yes_no(a, true) {
                    Some(true) => ForwardAgent::Yes,
                    Some(false) => ForwardAgent::No,
                    None => ForwardAgent::Socket(a.to_string()),
                };
                if self.first(kw, active) {
                    if let ForwardAgent::Socket(s) = &v {
                        self.forward_agent_socket = Some(s.clone());
                    }
                    self.cfg.forward_agent = v;
                }
                1
            }
            Kw::LocalForward | Kw::RemoteForward | Kw::DynamicForward => {
                let a = need(args, at)?;
                let (kind, n) = match kw {
                    Kw::LocalForward => (ForwardKind::Local, 2),
                    Kw::RemoteForward => (ForwardKind::Remote, 2),
                    _ => (ForwardKind::Dynamic, 1),
                };
                let spec = match args.get(1) {
                    Some(b) if n == 2 => format!("{a}:{b}"),
                    _ => a.to_string(),
                };
                let fwd = parse_forward(&spec, kind).map_err(|m| ConfigError::invalid(at, m))?;
                if active {
                    self.set.insert(kw);
                    let list = match kw {
                        Kw::LocalForward => &mut self.cfg.local_forward,
                        Kw::RemoteForward => &mut self.cfg.remote_forward,
                        _ => &mut self.cfg.dynamic_forward,
                    };
                    if !list.contains(&fwd) {
                        list.push(fwd);
                    }
                }
                n.min(args.len())
            }
            Kw::ExitOnForwardFailure => self.flag(kw, args, at, active, |c, v| c.exit_on_forward_failure = v)?,
            Kw::AddressFamily => {
                let a = need(args, at)?;
                let v = match a.to_ascii_lowercase().as_str() {
                    "any" => AddressFamily::Any,
                    "inet" => AddressFamily::Inet,
                    "inet6" => AddressFamily::Inet6,
                    _ => return Err(ConfigError::invalid(at, format!("unsupported address family \"{a}\""))),
                };
                if self.first(kw, active) {
                    self.cfg.address_family = v;
                }
                1
            }
            Kw::BindAddress => {
                let a = need(args, at)?;
                if self.first(kw, active) {
                    self.cfg.bind_address = (a != "none").then(|| a.to_string());
                }
                1
            }
            Kw::ProxyJump => {
                let a = need(args, at)?;
                if a != "none" && a.split(',').any(|h| h.is_empty() || h.starts_with('-')) {
                    return Err(ConfigError::invalid(at, format!("Invalid ProxyJump \"{a}\"")));
                }
                if !self.set.contains(&Kw::ProxyCommand) && self.first(kw, active) {
                    self.cfg.proxy_jump = (a != "none").then(|| a.to_string());
                }
                1
            }
            Kw::ProxyCommand => {
                if !self.set.contains(&Kw::ProxyJump) && self.first(kw, active) {
                    self.proxy_command = Some(Raw {
                        value: line.rest.clone(),
                        at: at.clone(),
                    });
                }
                args.len()
            }
            Kw::LogLevel => {
                let a = args.first().map(String::as_str).unwrap_or("");
                let v = LogLevel::parse(a)
                    .ok_or_else(|| ConfigError::invalid(at, format!("unsupported log level '{a}'")))?;
                if self.first(kw, active) {
                    self.cfg.log_level = v;
                }
                1
            }
            Kw::EscapeChar => {
                let a = need(args, at)?;
                let b = a.as_bytes();
                let v = if a == "none" {
                    None
                } else if b.len() == 1 {
                    Some(b[0])
                } else if b.len() == 2 && b[0] == b'^' && (64..128).contains(&b[1]) {
                    Some(b[1] & 31)
                } else {
                    return Err(ConfigError::invalid(at, "Bad escape character."));
                };
                if self.first(kw, active) {
                    self.cfg.escape_char = v;
                }
                1
            }
            Kw::CheckHostIp => self.flag(kw, args, at, active, |c, v| c.check_host_ip = v)?,
            Kw::ClearAllForwardings => self.flag(kw, args, at, active, |c, v| c.clear_all_forwardings = v)?,
            Kw::IgnoreUnknown => {
                let a = need(args, at)?;
                if self.first(kw, active) {
                    self.ignore_unknown = Some(a.to_string());
                }
                1
            }
        };
        if consumed < args.len() {
            return Err(ConfigError::invalid(
                at,
                format!("keyword {key} extra arguments at end of line"),
            ));
        }
        Ok(())
    }

    fn flag(
        &mut self,
        kw: Kw,
        args: &[String],
        at: &Location,
        active: bool,
        set: impl FnOnce(&mut ClientConfig, bool),
    ) -> Result<usize, ConfigError> {
        let a = need(args, at)?;
        let v =
            parse_yes_no(a, true).ok_or_else(|| ConfigError::invalid(at, format!("unsupported option \"{a}\".")))?;
        if self.first(kw, active) {
            set(&mut self.cfg, v);
        }
        Ok(1)
    }

    /// Fills the derived defaults and expands tokens.
    fn finish(mut self) -> Result<ClientConfig, ConfigError> {
        if !self.set.contains(&Kw::User) {
            self.cfg.user = self.local_user.clone();
        }
        if let Some(r) = &self.host_name {
            self.cfg.host_name = expand_tokens(&r.value, &[('h', &self.host_arg)])
                .map_err(|e| ConfigError::invalid(&r.at, format!("HostName \"{}\": {e}", r.value)))?;
        }
        let home_s = self.home.to_string_lossy().into_owned();
        let local_host = local_hostname();
        let short_host = local_host.split('.').next().unwrap_or("").to_string();
        let port_s = self.cfg.port.to_string();
        let jump = self.cfg.proxy_jump.clone().unwrap_or_default();
        let conn_hash = connection_hash(&local_host, &self.cfg.host_name, &port_s, &self.cfg.user, &jump);
        self.cfg.tokens = vec![
            ('C', conn_hash),
            ('d', home_s.clone()),
            ('h', self.cfg.host_name.clone()),
            ('i', local_uid()),
            ('j', jump),
            ('k', self.host_arg.clone()),
            ('L', short_host),
            ('l', local_host),
            ('n', self.cfg.host.clone()),
            ('p', port_s),
            ('r', self.cfg.user.clone()),
            ('u', self.local_user.clone()),
        ];
        let cfg = &self.cfg;
        let expand = |value: &str, at: Option<&Location>, what: &str| -> Result<String, ConfigError> {
            cfg.expand(value).map_err(|e| match at {
                Some(at) => ConfigError::invalid(at, format!("{what} \"{value}\": {e}")),
                None => ConfigError::invalid(&Location::command_line(), format!("{what} \"{value}\": {e}")),
            })
        };

        let mut identity = Vec::new();
        let is_default = self.identity_files.is_empty();
        if is_default {
            for d in DEFAULT_IDENTITIES {
                identity.push(PathBuf::from(expand(d, None, "identityfile")?));
            }
        } else {
            for r in &self.identity_files {
                identity.push(PathBuf::from(expand(&r.value, Some(&r.at), "identityfile")?));
            }
        }

        let files = |spec: &Option<(Vec<String>, Location)>, default: &[&str], what: &str| {
            let mut out = Vec::new();
            match spec {
                Some((list, at)) => {
                    if !(list.len() == 1 && list[0].eq_ignore_ascii_case("none")) {
                        for f in list {
                            out.push(PathBuf::from(expand(f, Some(at), what)?));
                        }
                    }
                }
                None => {
                    for f in default {
                        out.push(PathBuf::from(expand(f, None, what)?));
                    }
                }
            }
            Ok::<_, ConfigError>(out)
        };
        let ukh = files(
            &self.user_known_hosts,
            &["~/.ssh/known_hosts", "~/.ssh/known_hosts2"],
            "userknownhostsfile",
        )?;
        let gkh = files(
            &self.global_known_hosts,
            &["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"],
            "globalknownhostsfile",
        )?;
        let update_default = match &self.user_known_hosts {
            None => true,
            Some((l, _)) => l.len() == 1 && (l[0] == "~/.ssh/known_hosts" || l[0] == "%d/.ssh/known_hosts"),
        };

        let agent = match &self.identity_agent {
            None => IdentityAgent::Default,
            Some(r) if r.value == "SSH_AUTH_SOCK" => IdentityAgent::Default,
            Some(r) if r.value.eq_ignore_ascii_case("none") => IdentityAgent::None,
            Some(r) => match r.value.strip_prefix('$') {
                Some(var) => IdentityAgent::Env(var.trim_matches(['{', '}']).to_string()),
                None => IdentityAgent::Socket(PathBuf::from(expand(&r.value, Some(&r.at), "identityagent")?)),
            },
        };
        let proxy = match &self.proxy_command {
            Some(r) if !r.value.eq_ignore_ascii_case("none") => {
                let t: Vec<(char, &str)> = cfg.tokens.iter().map(|(c, v)| (*c, v.as_str())).collect();
                Some(
                    expand_tokens(&r.value, &t)
                        .map_err(|e| ConfigError::invalid(&r.at, format!("proxycommand \"{}\": {e}", r.value)))?,
                )
            }
            _ => None,
        };
        let fwd_sock = match &self.forward_agent_socket {
            Some(s) if !s.starts_with('$') => Some(expand(s, None, "forwardagent")?),
            _ => None,
        };

        let mut out = self.cfg.clone();
        out.identity_file = identity;
        out.identity_file_is_default = is_default;
        out.user_known_hosts_file = ukh;
        out.global_known_hosts_file = gkh;
        if !self.set.contains(&Kw::UpdateHostKeys) {
            out.update_host_keys = if update_default {
                UpdateHostKeys::Yes
            } else {
                UpdateHostKeys::No
            };
        }
        out.identity_agent = agent;
        out.proxy_command = proxy;
        if let Some(s) = fwd_sock {
            out.forward_agent = ForwardAgent::Socket(s);
        }
        Ok(out)
    }
}

fn need<'a>(args: &'a [String], at: &Location) -> Result<&'a str, ConfigError> {
    match args.first() {
        Some(a) if !a.is_empty() => Ok(a.as_str()),
        _ => Err(ConfigError::invalid(at, "missing argument.")),
    }
}

fn multistate<T: Copy>(args: &[String], at: &Location, table: &[(&str, T)]) -> Result<T, ConfigError> {
    let a = need(args, at)?;
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(a))
        .map(|(_, v)| *v)
        .ok_or_else(|| ConfigError::invalid(at, format!("unsupported option \"{a}\".")))
}

fn int(a: &str) -> Result<u32, &'static str> {
    if a.is_empty() {
        return Err("missing");
    }
    if !a.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid");
    }
    match a.parse::<u32>() {
        Ok(v) if i32::try_from(v).is_ok() => Ok(v),
        _ => Err("too large"),
    }
}

/// The local host name (`%l`), from the kernel; `localhost` if unknown.
fn local_hostname() -> String {
    for p in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = std::fs::read_to_string(p) {
            let s = s.trim();
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    "localhost".to_string()
}

/// The local user id (`%i`): the owner of `/proc/self`, i.e. our uid.
fn local_uid() -> String {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid().to_string())
        .unwrap_or_default()
}

/// `%C`: SHA-1 of `%l%h%p%r%j`, in hex (`ssh_config(5)`, TOKENS).
fn connection_hash(l: &str, h: &str, p: &str, r: &str, j: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut d = Sha1::new();
    for s in [l, h, p, r, j] {
        d.update(s.as_bytes());
    }
    d.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp(name: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!("tobira-client-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join(".ssh")).unwrap();
        Tmp(d)
    }

    fn resolve(home: &Path, host: &str, text: &str, options: &[&str]) -> Result<ClientConfig, ConfigError> {
        let f = home.join("cfg");
        std::fs::write(&f, text).unwrap();
        let opts: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        resolve_client_config(host, None, None, &opts, Some(&f), home, "alice")
    }

    #[test]
    fn defaults() {
        let t = tmp("defaults");
        let c = resolve(&t.0, "Example.ORG", "", &[]).unwrap();
        assert_eq!(c.host, "Example.ORG");
        assert_eq!(c.host_name, "example.org");
        assert_eq!(c.user, "alice");
        assert_eq!(c.port, 22);
        assert!(c.identity_file_is_default);
        assert_eq!(c.identity_file[0], t.0.join(".ssh/id_rsa"));
        assert_eq!(
            c.user_known_hosts_file,
            [t.0.join(".ssh/known_hosts"), t.0.join(".ssh/known_hosts2")]
        );
        assert_eq!(
            c.global_known_hosts_file,
            [
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2")
            ]
        );
        assert_eq!(c.strict_host_key_checking, StrictHostKeyChecking::Ask);
        assert_eq!(c.update_host_keys, UpdateHostKeys::Yes);
        assert_eq!(c.escape_char, Some(b'~'));
        assert_eq!(c.kex_algorithms, KEX_DEFAULT);
        assert_eq!(c.ciphers, cipher_default());
        assert_eq!(c.identity_agent, IdentityAgent::Default);
        assert!(!c.check_host_ip && !c.batch_mode && !c.compression && !c.clear_all_forwardings);
        assert_eq!(
            (c.address_family, c.bind_address.as_deref()),
            (AddressFamily::Any, None)
        );
        assert!(resolve(&t.0, "h", "AddressFamily inet5\n", &[]).is_err());
    }

    #[test]
    fn host_sections_and_first_value_wins() {
        let t = tmp("host");
        let text = "\
Host web? !web9
    HostName %h.example.org
    User deploy
    Port 2201
Host *.lan
    User lanuser
Host *
    User fallback
    Port 22
    IdentityFile ~/.ssh/id_%h_%r
    IdentityFile %d/.ssh/common
    StrictHostKeyChecking accept-new
";
        let c = resolve(&t.0, "web1", text, &[]).unwrap();
        assert_eq!(c.host_name, "web1.example.org");
        assert_eq!(c.user, "deploy");
        assert_eq!(c.port, 2201);
        assert!(!c.identity_file_is_default);
        assert_eq!(
            c.identity_file,
            [t.0.join(".ssh/id_web1.example.org_deploy"), t.0.join(".ssh/common")]
        );
        assert_eq!(c.strict_host_key_checking, StrictHostKeyChecking::AcceptNew);
        // A negated pattern excludes the section.
        let c = resolve(&t.0, "web9", text, &[]).unwrap();
        assert_eq!(c.user, "fallback");
        assert_eq!(c.host_name, "web9");
        let c = resolve(&t.0, "nas.lan", text, &[]).unwrap();
        assert_eq!(c.user, "lanuser");
        // -o, -l and -p come first.
        let f = t.0.join("cfg");
        let c = resolve_client_config(
            "web1",
            Some("root"),
            Some(2022),
            &["User=ignored".into(), "Port 1".into()],
            Some(&f),
            &t.0,
            "alice",
        )
        .unwrap();
        assert_eq!(c.user, "root");
        assert_eq!(c.port, 2022);
        let c = resolve(&t.0, "web1", text, &["Port=3000", "IdentityFile=/k"]).unwrap();
        assert_eq!(c.port, 3000);
        assert_eq!(c.identity_file[0], PathBuf::from("/k"));
        assert_eq!(c.identity_file.len(), 3);
    }

    #[test]
    fn match_sections() {
        let t = tmp("match");
        let text = "\
Host alias
    HostName real.example.com
Match host real.example.com user bob
    Port 2200
Match originalhost alias !user bob
    Port 2300
Match localuser alice host *.example.com
    Compression yes
Match exec \"true\"
    BatchMode yes
Match final host real.example.com
    ConnectTimeout 7
Match all
    ServerAliveInterval 30
";
        let c = resolve(&t.0, "alias", text, &[]).unwrap();
        assert_eq!(c.host_name, "real.example.com");
        assert_eq!(c.port, 2300);
        assert!(c.compression);
        assert!(!c.batch_mode);
        assert!(
            c.warnings.iter().any(|w| w.contains("Match exec not supported yet")),
            "{:?}",
            c.warnings
        );
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(c.server_alive_interval, Duration::from_secs(30));
        let c = resolve_client_config("alias", Some("bob"), None, &[], Some(&t.0.join("cfg")), &t.0, "alice").unwrap();
        assert_eq!(c.port, 2200);
        assert!(resolve(&t.0, "x", "Match colour blue\n", &[])
            .unwrap_err()
            .to_string()
            .contains("Unsupported Match attribute colour"));
        assert!(resolve(&t.0, "x", "Match host\n", &[]).is_err());
        assert!(resolve(&t.0, "x", "Match all host x\n", &[]).is_err());
        assert!(resolve(&t.0, "x", "", &["Host=x"]).is_err());
    }

    #[test]
    fn unknown_and_unsupported_keywords() {
        let t = tmp("unknown");
        let e = resolve(&t.0, "h", "Host *\n  Port 22\n  FrobNicate yes\n", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: line 3: Bad configuration option: frobnicate",
                t.0.join("cfg").display()
            )
        );
        // Unknown keywords in inactive sections are still errors, as in ssh.
        assert!(resolve(&t.0, "h", "Host other\n  Bogus 1\n", &[]).is_err());
        let c = resolve(
            &t.0,
            "h",
            "IgnoreUnknown UseKeychain,Foo*\nUseKeychain yes\nFooBar 1\n",
            &[],
        )
        .unwrap();
        assert!(c.warnings.is_empty());
        let c = resolve(
            &t.0,
            "h",
            "GSSAPIAuthentication yes\nHost other\n  ForwardX11 yes\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            c.warnings,
            [
                format!(
                    "{} line 1: Unsupported option \"gssapiauthentication\"",
                    t.0.join("cfg").display()
                ),
                format!(
                    "{} line 3: Unsupported option \"forwardx11\"",
                    t.0.join("cfg").display()
                ),
            ]
        );
        let e = resolve(&t.0, "h", "", &["NoSuch=1"]).unwrap_err();
        assert_eq!(e.to_string(), "command-line: line 0: Bad configuration option: nosuch");
        let e = resolve(&t.0, "h", "Ciphers blowfish-cbc\n", &[]).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("line 1") && s.contains("Ciphers") && s.contains("blowfish-cbc"),
            "{s}"
        );
        assert!(resolve(&t.0, "h", "Port 22 23\n", &[])
            .unwrap_err()
            .to_string()
            .contains("extra arguments"));
        assert!(resolve(&t.0, "h", "BatchMode perhaps\n", &[]).is_err());
    }

    #[test]
    fn algorithm_lists_and_values() {
        let t = tmp("algos");
        let text = "\
Ciphers -chacha20-poly1305@openssh.com
MACs ^hmac-sha2-512-etm@openssh.com
KexAlgorithms +ecdh-sha2-nistp256
HostKeyAlgorithms ssh-ed25519
Ciphers aes128-ctr
RekeyLimit 1G 1h
ServerAliveInterval 1m
ConnectTimeout 10
EscapeChar ^A
SendEnv LANG LC_*
SendEnv -LC_*
SetEnv A=1 \"B=two words\"
UserKnownHostsFile ~/.ssh/kh_%h /tmp/\"x y\"
ProxyCommand ssh -W %h:%p gateway # a comment stays
LocalForward 8080 localhost:80
LocalForward [::1]:8081 db:5432
RemoteForward 9000
DynamicForward 127.0.0.1:1080
IdentityAgent none
CheckHostIP yes
ClearAllForwardings yes
AddressFamily inet6
BindAddress 127.0.0.2
RequestTTY force
PubkeyAuthentication host-bound
";
        let c = resolve(&t.0, "h", text, &[]).unwrap();
        assert!(!c.ciphers.contains(&"chacha20-poly1305@openssh.com".to_string()));
        assert_eq!(c.macs[0], "hmac-sha2-512-etm@openssh.com");
        assert_eq!(c.host_key_algorithms, ["ssh-ed25519"]);
        assert!(c.host_key_algorithms_set);
        assert_eq!(c.rekey_limit.bytes, Some(1 << 30));
        assert_eq!(c.rekey_limit.interval, Some(Duration::from_secs(3600)));
        assert_eq!(c.server_alive_interval, Duration::from_secs(60));
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(10)));
        assert_eq!(c.escape_char, Some(1));
        assert_eq!(c.send_env, ["LANG"]);
        assert_eq!(
            c.set_env,
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "two words".to_string())
            ]
        );
        assert_eq!(
            c.user_known_hosts_file,
            [t.0.join(".ssh/kh_h"), PathBuf::from("/tmp/x y")]
        );
        assert_eq!(c.update_host_keys, UpdateHostKeys::No);
        assert_eq!(
            c.proxy_command.as_deref(),
            Some("ssh -W h:22 gateway # a comment stays")
        );
        assert_eq!(
            c.local_forward,
            [
                Forward {
                    listen: ForwardEndpoint::Tcp { host: None, port: 8080 },
                    connect: Some(ForwardEndpoint::Tcp {
                        host: Some("localhost".into()),
                        port: 80
                    }),
                },
                Forward {
                    listen: ForwardEndpoint::Tcp {
                        host: Some("::1".into()),
                        port: 8081
                    },
                    connect: Some(ForwardEndpoint::Tcp {
                        host: Some("db".into()),
                        port: 5432
                    }),
                }
            ]
        );
        assert_eq!(
            c.remote_forward,
            [Forward {
                listen: ForwardEndpoint::Tcp { host: None, port: 9000 },
                connect: None
            }]
        );
        assert_eq!(
            c.dynamic_forward[0].listen,
            ForwardEndpoint::Tcp {
                host: Some("127.0.0.1".into()),
                port: 1080
            }
        );
        assert_eq!(c.identity_agent, IdentityAgent::None);
        assert!(c.check_host_ip && c.clear_all_forwardings);
        assert_eq!(c.address_family, AddressFamily::Inet6);
        assert_eq!(c.bind_address.as_deref(), Some("127.0.0.2"));
        assert_eq!(c.request_tty, RequestTty::Force);
        assert!(c.pubkey_authentication);
        // ProxyJump set first wins over a later ProxyCommand.
        let c = resolve(&t.0, "h", "ProxyJump bastion:2222\nProxyCommand nc %h %p\n", &[]).unwrap();
        assert_eq!(c.proxy_jump.as_deref(), Some("bastion:2222"));
        assert_eq!(c.proxy_command, None);
        assert!(resolve(&t.0, "h", "EscapeChar ab\n", &[]).is_err());
        assert!(resolve(&t.0, "h", "LocalForward 8080\n", &[]).is_err());
    }

    #[test]
    fn forward_specs() {
        let f = parse_forward("8080:localhost:80", ForwardKind::Local).unwrap();
        assert_eq!(f.listen, ForwardEndpoint::Tcp { host: None, port: 8080 });
        let f = parse_forward("/tmp/sock:host:22", ForwardKind::Local).unwrap();
        assert_eq!(f.listen, ForwardEndpoint::Unix("/tmp/sock".into()));
        let f = parse_forward("0:localhost:22", ForwardKind::Remote).unwrap();
        assert_eq!(f.listen, ForwardEndpoint::Tcp { host: None, port: 0 });
        assert!(parse_forward("0:localhost:22", ForwardKind::Local).is_err());
        assert!(parse_forward("1080", ForwardKind::Dynamic).is_ok());
        assert!(parse_forward("a:b:c:d:e", ForwardKind::Local).is_err());
        assert!(parse_forward("[::1:80:h:1", ForwardKind::Local).is_err());
        assert!(parse_forward("8080:h:0", ForwardKind::Local).is_err());
    }

    #[test]
    fn include_and_default_files() {
        let t = tmp("include");
        std::fs::create_dir_all(t.0.join(".ssh/config.d")).unwrap();
        std::fs::write(t.0.join(".ssh/config.d/a.conf"), "Host inc\n  User from-include\n").unwrap();
        std::fs::write(
            t.0.join(".ssh/config"),
            "Include config.d/*.conf\nHost inc\n  User later\n  Port 2000\n",
        )
        .unwrap();
        let c = resolve_client_config("inc", None, None, &[], None, &t.0, "alice").unwrap();
        assert_eq!(c.user, "from-include");
        assert_eq!(c.port, 2000);
        // An Include inside an inactive section contributes nothing.
        std::fs::write(
            t.0.join(".ssh/config"),
            "Host other\n  Include config.d/*.conf\nHost *\n  User outer\n",
        )
        .unwrap();
        let c = resolve_client_config("inc", None, None, &[], None, &t.0, "alice").unwrap();
        assert_eq!(c.user, "outer");
        // -F none reads nothing.
        let c = resolve_client_config("inc", None, None, &[], Some(Path::new("none")), &t.0, "alice").unwrap();
        assert_eq!(c.user, "alice");
        // Recursion is bounded.
        std::fs::write(t.0.join(".ssh/config"), "Include config\n").unwrap();
        let e = resolve_client_config("x", None, None, &[], None, &t.0, "alice").unwrap_err();
        assert!(e.to_string().contains("Too many recursive"), "{e}");
        // A missing -F file is an error naming it.
        let e = resolve_client_config("x", None, None, &[], Some(&t.0.join("nope")), &t.0, "alice").unwrap_err();
        assert!(e.to_string().contains("nope"));
    }

    #[test]
    fn token_expansion() {
        let t = tmp("tokens");
        let c = resolve(
            &t.0,
            "srv",
            "HostName 10.0.0.%%\nUser %bob\n",
            &["IdentityFile=%d/%u/%r@%h:%p/%n/%%"],
        );
        // `User` is not token-expanded; HostName only knows %h and %%.
        let c = c.unwrap();
        assert_eq!(c.host_name, "10.0.0.%");
        assert_eq!(
            c.identity_file,
            [PathBuf::from(format!("{}/alice/%bob@10.0.0.%:22/srv/%", t.0.display()))]
        );
        let e = resolve(&t.0, "srv", "IdentityFile ~/.ssh/%Z\n", &[]).unwrap_err();
        assert!(e.to_string().contains("line 1") && e.to_string().contains("%Z"), "{e}");
        let c = resolve(&t.0, "srv", "", &[]).unwrap();
        assert_eq!(c.expand("%C").unwrap().len(), 40);
        assert_eq!(c.expand("~/x").unwrap(), format!("{}/x", t.0.display()));
    }

    #[test]
    fn system_ssh_config_parses() {
        let p = Path::new(SYSTEM_CONFIG_PATH);
        if !p.exists() {
            return;
        }
        let t = tmp("system");
        let c = resolve_client_config("example.org", None, None, &[], None, &t.0, "alice");
        assert!(c.is_ok(), "{:?}", c.err().map(|e| e.to_string()));
    }
}
