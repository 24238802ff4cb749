//! `tobirad_config`: the server configuration, in the syntax and with the
//! semantics of `sshd_config(5)`.
//!
//! - For most keywords the first obtained value is used
//!   (`sshd_config(5)`, DESCRIPTION); `-o` options are read before the
//!   file, so they take precedence.
//! - `HostKey`, `Port`, `ListenAddress`, `AcceptEnv`, `AllowUsers`,
//!   `DenyUsers`, `AllowGroups`, `DenyGroups` and `Subsystem` accumulate
//!   over lines (the first one replaces the built-in default).
//! - `Include` reads further files (relative names are relative to the
//!   directory of the main configuration file, `/etc/tobira` for the
//!   default one); `Match` blocks are kept and applied per connection by
//!   [`ServerConfig::for_connection`].
//! - An unknown keyword is an error; a keyword OpenSSH's `sshd` knows but
//!   tobira does not implement is recorded in [`ServerConfig::warnings`].

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tobira_proto::algorithms::{
    resolve_list, CIPHER_SUPPORTED, COMPRESSION_SUPPORTED, HOSTKEY_SUPPORTED, KEX_SUPPORTED, MAC_SUPPORTED,
    PUBKEY_DEFAULT, PUBKEY_SUPPORTED, SERVER_CIPHER_DEFAULT, SERVER_HOSTKEY_DEFAULT, SERVER_KEX_DEFAULT,
    SERVER_MAC_DEFAULT,
};

use super::lexer::{self, ConfigLine};
use super::{
    addr_match_list, expand_tilde, expand_tokens, glob_paths, match_pattern_list, parse_rekey_bytes,
    parse_rekey_interval, parse_time, parse_yes_no, read_config_file, ConfigError, ListMatch, Location, LogLevel,
    RekeyLimit, MAX_INCLUDE_DEPTH,
};

/// The default configuration file of `tobirad` (`sshd(8)`'s
/// `/etc/ssh/sshd_config`).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/tobira/tobirad_config";

/// The configuration directory: relative `Include` names are resolved
/// against the main file's directory, this one for the default file
/// (`sshd_config(5)`, `Include`).
pub const CONFIG_DIR: &str = "/etc/tobira";

/// `Compression` (`sshd_config(5)`): whether compression is allowed
/// after authentication. `yes` is a synonym of `delayed` in OpenSSH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `yes`.
    Yes,
    /// `delayed` (OpenSSH's default): `zlib@openssh.com` only.
    Delayed,
    /// `no`.
    No,
}

/// `PermitRootLogin` (`sshd_config(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermitRootLogin {
    /// `yes`.
    Yes,
    /// `prohibit-password` or its alias `without-password` (the default):
    /// no password or keyboard-interactive authentication for root.
    ProhibitPassword,
    /// `forced-commands-only`: public keys with a `command=` option only.
    ForcedCommandsOnly,
    /// `no`.
    No,
}

/// `AllowTcpForwarding` (`sshd_config(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowTcpForwarding {
    /// `yes` or `all` (the default).
    Yes,
    /// `no`.
    No,
    /// `local`: only local (`direct-tcpip`) forwarding.
    Local,
    /// `remote`: only remote (`tcpip-forward`) forwarding.
    Remote,
}

/// `GatewayPorts` (`sshd_config(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayPorts {
    /// `no` (the default): remote forwardings bind the loopback address.
    No,
    /// `yes`: remote forwardings bind the wildcard address.
    Yes,
    /// `clientspecified`: the client chooses.
    ClientSpecified,
}

/// `MaxStartups start:rate:full` (`sshd_config(5)`): unauthenticated
/// connections beyond `start` are dropped with probability `rate`%,
/// rising linearly to 100% at `full`. Default `10:30:100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxStartups {
    /// Connections before random early drop begins.
    pub start: u32,
    /// Drop probability (percent) at `start`.
    pub rate: u32,
    /// Connections at which every new one is refused.
    pub full: u32,
}

/// One `ListenAddress` (`sshd_config(5)`): `host`, `host:port`,
/// `[v6]:port` or a bare IPv6 address, with an optional `rdomain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddress {
    /// Host name or address (without brackets).
    pub host: String,
    /// The port given with the address; `None` means every `Port`.
    pub port: Option<u16>,
    /// The routing domain (`rdomain NAME`), if given.
    pub rdomain: Option<String>,
}

/// One criterion of a `Match` line (`sshd_config(5)`, `Match`); all the
/// criteria of a line must match. Values are OpenSSH pattern lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchCriterion {
    /// `All`: always matches.
    All,
    /// `User` pattern list.
    User(String),
    /// `Group` pattern list, matched against the user's groups.
    Group(String),
    /// `Host` pattern list (the client's host name, or its address when
    /// `UseDNS` is off).
    Host(String),
    /// `Address` list of addresses, CIDR networks and patterns.
    Address(String),
    /// `LocalAddress` list, matched against the address the connection
    /// was received on.
    LocalAddress(String),
    /// `LocalPort`: the port the connection was received on.
    LocalPort(u16),
    /// `RDomain` pattern list.
    RDomain(String),
}

/// A `Match` block (`sshd_config(5)`): its criteria and the keyword lines
/// it contains, kept verbatim to be applied per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchBlock {
    /// The criteria; all must match. A block inside an included file that
    /// was itself included from a `Match` block carries both blocks'
    /// criteria.
    pub criteria: Vec<MatchCriterion>,
    /// The keyword lines of the block, in order.
    pub lines: Vec<ConfigLine>,
    /// Where the `Match` line is.
    pub location: Location,
}

/// What `sshd(8)` knows of a connection when it evaluates `Match` blocks
/// (the `-C` connection specification of `sshd(8)`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionInfo<'a> {
    /// The user name the client asked for.
    pub user: &'a str,
    /// The groups of that user (for `Match Group`).
    pub groups: &'a [String],
    /// The client's address.
    pub addr: IpAddr,
    /// The client's host name; `None` uses the address, as `sshd` does
    /// with `UseDNS no`.
    pub host: Option<&'a str>,
    /// The local address the connection arrived on, if known.
    pub local_addr: Option<IpAddr>,
    /// The local port the connection arrived on, if known.
    pub local_port: Option<u16>,
    /// The routing domain, if any.
    pub rdomain: Option<&'a str>,
}

impl<'a> ConnectionInfo<'a> {
    /// What tobirad knows once the user is named: the user, the user's
    /// groups and the client's address; no host name (`UseDNS no`), local
    /// address, local port or routing domain.
    pub fn of_user(user: &'a str, addr: IpAddr, groups: &'a [String]) -> Self {
        ConnectionInfo {
            user,
            groups,
            addr,
            host: None,
            local_addr: None,
            local_port: None,
            rdomain: None,
        }
    }
}

impl MatchBlock {
    /// Whether the block applies to the connection: every criterion matches.
    pub fn applies(&self, ci: &ConnectionInfo<'_>) -> bool {
        self.criteria.iter().all(|c| c.matches(ci))
    }
}

/// The server configuration: every keyword of `sshd_config(5)` that tobira
/// implements, with its value after the defaults, `-o` options and the
/// configuration file (outside `Match` blocks) were applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// `Port`: ports to listen on. Default 22 as root, 2222 otherwise
    /// (tobira's difference from `sshd`, so it can run beside it).
    pub port: Vec<u16>,
    /// `ListenAddress`: default `0.0.0.0` and `::` on every `Port`.
    pub listen_address: Vec<ListenAddress>,
    /// `HostKey`: private host key files. Default none (tobirad then
    /// generates and keeps its own keys).
    pub host_key: Vec<PathBuf>,
    /// `KexAlgorithms`, resolved (`+`, `-`, `^`, wildcards).
    pub kex_algorithms: Vec<String>,
    /// `Ciphers`, resolved.
    pub ciphers: Vec<String>,
    /// `MACs`, resolved.
    pub macs: Vec<String>,
    /// `HostKeyAlgorithms`, resolved.
    pub host_key_algorithms: Vec<String>,
    /// `PubkeyAcceptedAlgorithms` (alias `PubkeyAcceptedKeyTypes`),
    /// resolved.
    pub pubkey_accepted_algorithms: Vec<String>,
    /// `CASignatureAlgorithms`, resolved.
    pub ca_signature_algorithms: Vec<String>,
    /// `Compression`: default `delayed`.
    pub compression: Compression,
    /// `RekeyLimit`: default `default none`.
    pub rekey_limit: RekeyLimit,
    /// `LoginGraceTime`: default 120 seconds; zero means no limit.
    pub login_grace_time: Duration,
    /// `MaxAuthTries`: default 6.
    pub max_auth_tries: u32,
    /// `MaxStartups`: default `10:30:100`.
    pub max_startups: MaxStartups,
    /// `MaxSessions`: default 10.
    pub max_sessions: u32,
    /// `ClientAliveInterval`: default 0 (no keepalives).
    pub client_alive_interval: Duration,
    /// `ClientAliveCountMax`: default 3.
    pub client_alive_count_max: u32,
    /// `PasswordAuthentication`: default yes.
    pub password_authentication: bool,
    /// `PubkeyAuthentication`: default yes.
    pub pubkey_authentication: bool,
    /// `KbdInteractiveAuthentication` (alias
    /// `ChallengeResponseAuthentication`): default yes.
    pub kbd_interactive_authentication: bool,
    /// `PermitRootLogin`: default `prohibit-password`.
    pub permit_root_login: PermitRootLogin,
    /// `PermitEmptyPasswords`: default no.
    pub permit_empty_passwords: bool,
    /// `AuthorizedKeysFile`: default `.ssh/authorized_keys
    /// .ssh/authorized_keys2`; `%%`, `%h`, `%u`, `%U` tokens unexpanded
    /// (see [`ServerConfig::authorized_keys_paths`]).
    pub authorized_keys_file: Vec<String>,
    /// `AuthenticationMethods`: lists of methods (each a sequence that must
    /// all succeed); empty means `any` (the default).
    pub authentication_methods: Vec<Vec<String>>,
    /// `AllowUsers` patterns (`USER` or `USER@HOST`).
    pub allow_users: Vec<String>,
    /// `DenyUsers` patterns.
    pub deny_users: Vec<String>,
    /// `AllowGroups` patterns.
    pub allow_groups: Vec<String>,
    /// `DenyGroups` patterns.
    pub deny_groups: Vec<String>,
    /// `Banner`: file sent before authentication; default none.
    pub banner: Option<PathBuf>,
    /// `PermitTTY`: default yes.
    pub permit_tty: bool,
    /// `AllowAgentForwarding` (default yes).
    pub allow_agent_forwarding: bool,
    /// `AllowStreamLocalForwarding` (default yes; same values as
    /// `AllowTcpForwarding`).
    pub allow_stream_local_forwarding: AllowTcpForwarding,
    /// `AllowTcpForwarding`: default yes.
    pub allow_tcp_forwarding: AllowTcpForwarding,
    /// `GatewayPorts`: default no.
    pub gateway_ports: GatewayPorts,
    /// `PermitOpen`: `["any"]` (the default), `["none"]`, or `host:port`
    /// entries (`*` as host or port is a wildcard).
    pub permit_open: Vec<String>,
    /// `PermitListen`: `["any"]` (the default), `["none"]`, or
    /// `host:port` entries (a bare port is stored as `*:port`).
    pub permit_listen: Vec<String>,
    /// `X11Forwarding`: default no.
    pub x11_forwarding: bool,
    /// `AcceptEnv` patterns of variable names accepted from the client.
    pub accept_env: Vec<String>,
    /// `SetEnv`: variables set for sessions, `(NAME, VALUE)`.
    pub set_env: Vec<(String, String)>,
    /// `Subsystem`: name to command line (arguments joined by spaces).
    pub subsystem: BTreeMap<String, String>,
    /// `ForceCommand`: default none.
    pub force_command: Option<String>,
    /// `ModuliFile`: default `/etc/ssh/moduli` when it exists.
    pub moduli_file: Option<PathBuf>,
    /// `PidFile`: default `/run/tobirad.pid` as root, none otherwise
    /// (`none` disables it).
    pub pid_file: Option<PathBuf>,
    /// `LogLevel`: default INFO.
    pub log_level: LogLevel,
    /// `StrictModes`: default yes.
    pub strict_modes: bool,
    /// `PrintMotd`: default yes.
    pub print_motd: bool,
    /// `UseDNS`: default no.
    pub use_dns: bool,
    /// `PerSourcePenalties`, as written (empty: not set, OpenSSH's
    /// defaults apply).
    pub per_source_penalties: Vec<String>,
    /// `PerSourcePenaltyExemptList`: address/CIDR patterns never penalised.
    pub per_source_penalty_exempt_list: Option<String>,
    /// `Match` blocks, in file order, applied by
    /// [`ServerConfig::for_connection`]. `Match All` blocks are applied at
    /// load time as well, as `sshd` does.
    pub match_blocks: Vec<MatchBlock>,
    /// Keywords OpenSSH knows that tobira ignores, as
    /// `FILE line N: Unsupported option KEYWORD` (or `Deprecated option`),
    /// in `sshd`'s wording.
    pub warnings: Vec<String>,
    /// Keywords set by `-o`, which `Match` blocks do not override.
    cmdline_set: HashSet<Kw>,
}

impl ServerConfig {
    /// OpenSSH's defaults (`sshd_config(5)`) with tobira's differences:
    /// port 2222 unless `is_root`, no default `HostKey`, `PidFile`
    /// `/run/tobirad.pid` as root only, algorithm lists from
    /// `tobira_proto::algorithms`.
    pub fn defaults(is_root: bool) -> ServerConfig {
        let strs = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let moduli = Path::new("/etc/ssh/moduli");
        ServerConfig {
            port: vec![if is_root { 22 } else { 2222 }],
            listen_address: vec![
                ListenAddress {
                    host: "0.0.0.0".into(),
                    port: None,
                    rdomain: None,
                },
                ListenAddress {
                    host: "::".into(),
                    port: None,
                    rdomain: None,
                },
            ],
            host_key: Vec::new(),
            kex_algorithms: strs(SERVER_KEX_DEFAULT),
            ciphers: strs(SERVER_CIPHER_DEFAULT),
            macs: strs(SERVER_MAC_DEFAULT),
            host_key_algorithms: strs(SERVER_HOSTKEY_DEFAULT),
            pubkey_accepted_algorithms: strs(PUBKEY_DEFAULT),
            ca_signature_algorithms: strs(PUBKEY_DEFAULT),
            compression: Compression::Delayed,
            rekey_limit: RekeyLimit::default(),
            login_grace_time: Duration::from_secs(120),
            max_auth_tries: 6,
            max_startups: MaxStartups {
                start: 10,
                rate: 30,
                full: 100,
            },
            max_sessions: 10,
            client_alive_interval: Duration::ZERO,
            client_alive_count_max: 3,
            password_authentication: true,
            pubkey_authentication: true,
            kbd_interactive_authentication: true,
            permit_root_login: PermitRootLogin::ProhibitPassword,
            permit_empty_passwords: false,
            authorized_keys_file: strs(&[".ssh/authorized_keys", ".ssh/authorized_keys2"]),
            authentication_methods: Vec::new(),
            allow_users: Vec::new(),
            deny_users: Vec::new(),
            allow_groups: Vec::new(),
            deny_groups: Vec::new(),
            banner: None,
            permit_tty: true,
            allow_agent_forwarding: true,
            allow_stream_local_forwarding: AllowTcpForwarding::Yes,
            allow_tcp_forwarding: AllowTcpForwarding::Yes,
            gateway_ports: GatewayPorts::No,
            permit_open: strs(&["any"]),
            permit_listen: strs(&["any"]),
            x11_forwarding: false,
            accept_env: Vec::new(),
            set_env: Vec::new(),
            subsystem: BTreeMap::new(),
            force_command: None,
            moduli_file: moduli.exists().then(|| moduli.to_path_buf()),
            pid_file: is_root.then(|| PathBuf::from("/run/tobirad.pid")),
            log_level: LogLevel::Info,
            strict_modes: true,
            print_motd: true,
            use_dns: false,
            per_source_penalties: Vec::new(),
            per_source_penalty_exempt_list: None,
            match_blocks: Vec::new(),
            warnings: Vec::new(),
            cmdline_set: HashSet::new(),
        }
    }

    /// The configuration for one connection: this one with the keyword
    /// lines of every matching `Match` block applied (`sshd_config(5)`,
    /// `Match`): among blocks the first obtained value wins, and it
    /// replaces the global value, except for keywords given with `-o`.
    /// `Match Host` sees the address (as with `UseDNS no`); `LocalAddress`,
    /// `LocalPort` and `RDomain` criteria do not match (use
    /// [`ServerConfig::for_connection_info`] to supply them).
    pub fn for_connection(&self, user: &str, addr: IpAddr, groups: &[String]) -> ServerConfig {
        self.for_connection_info(&ConnectionInfo::of_user(user, addr, groups))
    }

    /// [`ServerConfig::for_connection`], sharing `config` itself when no
    /// `Match` block applies (the usual case: nothing to copy per
    /// connection).
    pub fn shared_for_connection(config: &Arc<Self>, user: &str, addr: IpAddr, groups: &[String]) -> Arc<Self> {
        let ci = ConnectionInfo::of_user(user, addr, groups);
        if config.match_blocks.iter().any(|b| b.applies(&ci)) {
            Arc::new(config.for_connection_info(&ci))
        } else {
            Arc::clone(config)
        }
    }

    /// [`ServerConfig::for_connection`] with every criterion `sshd_config(5)`
    /// `Match` can test.
    pub fn for_connection_info(&self, ci: &ConnectionInfo<'_>) -> ServerConfig {
        let mut out = self.clone();
        let mut pass = Pass {
            set: self.cmdline_set.clone(),
            ..Pass::default()
        };
        for block in &self.match_blocks {
            if !block.applies(ci) {
                continue;
            }
            for line in &block.lines {
                let Some(def) = lookup(&line.keyword_lower()) else {
                    continue;
                };
                let Kind::Known(kw) = def.kind else { continue };
                if !def.in_match || matches!(kw, Kw::Match | Kw::Include) {
                    continue;
                }
                if let Err(e) = apply(&mut out, &mut pass, kw, line) {
                    // Lines were checked at load; this cannot fail, but
                    // never panic on file contents.
                    tracing::debug!("{e}");
                }
            }
        }
        out
    }

    /// The (host, port) pairs to listen on: each `ListenAddress` with its
    /// own port, or with every `Port` (`sshd_config(5)`, `ListenAddress`).
    pub fn listen_sockets(&self) -> Vec<(String, u16)> {
        let mut out = Vec::new();
        for la in &self.listen_address {
            match la.port {
                Some(p) => out.push((la.host.clone(), p)),
                None => out.extend(self.port.iter().map(|p| (la.host.clone(), *p))),
            }
        }
        out
    }

    /// The authorized_keys files of a user (`AuthorizedKeysFile` in
    /// `sshd_config(5)`): tokens `%%`, `%h` (home), `%u` (user), `%U`
    /// (uid) expanded, `~` and relative names taken from the home
    /// directory, `none` skipped.
    pub fn authorized_keys_paths(&self, user: &str, home: &Path, uid: u32) -> Vec<PathBuf> {
        let home_s = home.to_string_lossy();
        let uid_s = uid.to_string();
        let tokens = [('h', home_s.as_ref()), ('u', user), ('U', uid_s.as_str())];
        let mut out = Vec::new();
        for f in &self.authorized_keys_file {
            if f.eq_ignore_ascii_case("none") {
                continue;
            }
            let Ok(e) = expand_tokens(f, &tokens) else {
                continue;
            };
            let e = expand_tilde(&e, home);
            let p = PathBuf::from(e);
            out.push(if p.is_absolute() { p } else { home.join(p) });
        }
        out
    }

    /// The compression methods to offer (`Compression` in
    /// `sshd_config(5)`), limited to what this build implements.
    pub fn compression_algorithms(&self) -> Vec<String> {
        let wanted: &[&str] = match self.compression {
            // Pre-authentication compression (plain `zlib`) only when asked
            // for with `yes`; OpenSSH's sshd dropped it in 7.4.
            Compression::Yes => &["none", "zlib@openssh.com", "zlib"],
            Compression::Delayed => &["none", "zlib@openssh.com"],
            Compression::No => &["none"],
        };
        wanted
            .iter()
            .filter(|w| COMPRESSION_SUPPORTED.contains(w))
            .map(|s| s.to_string())
            .collect()
    }
}

impl MatchCriterion {
    /// Whether the criterion holds for a connection (OpenSSH's
    /// `match_cfg_line`).
    pub fn matches(&self, ci: &ConnectionInfo<'_>) -> bool {
        match self {
            MatchCriterion::All => true,
            MatchCriterion::User(list) => match_pattern_list(ci.user, list, false) == ListMatch::Match,
            MatchCriterion::Group(list) => {
                let mut found = false;
                for g in ci.groups {
                    match match_pattern_list(g, list, false) {
                        ListMatch::Negated => return false,
                        ListMatch::Match => found = true,
                        ListMatch::NoMatch => {}
                    }
                }
                found
            }
            MatchCriterion::Host(list) => {
                let addr = super::canonical_ip(ci.addr).to_string();
                let host = ci.host.unwrap_or(&addr);
                match_pattern_list(host, list, true) == ListMatch::Match
            }
            MatchCriterion::Address(list) => addr_match_list(Some(ci.addr), list) == Ok(ListMatch::Match),
            MatchCriterion::LocalAddress(list) => {
                ci.local_addr.is_some() && addr_match_list(ci.local_addr, list) == Ok(ListMatch::Match)
            }
            MatchCriterion::LocalPort(p) => ci.local_port == Some(*p),
            MatchCriterion::RDomain(list) => ci
                .rdomain
                .is_some_and(|r| match_pattern_list(r, list, false) == ListMatch::Match),
        }
    }
}

/// Parses an `sshd_config(5)` file given as text (`path` names it in
/// messages and anchors relative `Include`s).
pub fn parse_server_config(path: &Path, text: &str, is_root: bool) -> Result<ServerConfig, ConfigError> {
    build(Some((path, text)), &[], is_root)
}

/// Loads the server configuration as `tobirad` does: `-o` options
/// (`Keyword=value`, taking precedence over the file), then the file
/// `path`, or [`DEFAULT_CONFIG_PATH`] when it exists, else the built-in
/// defaults (`sshd(8)`, `-f` and `-o`).
pub fn load_server_config(
    path: Option<&Path>,
    overrides: &[String],
    is_root: bool,
) -> Result<ServerConfig, ConfigError> {
    let path: Option<PathBuf> = match path {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let d = Path::new(DEFAULT_CONFIG_PATH);
            d.exists().then(|| d.to_path_buf())
        }
    };
    match path {
        Some(p) => {
            let text = read_config_file(&p)?;
            build(Some((&p, &text)), overrides, is_root)
        }
        None => build(None, overrides, is_root),
    }
}

fn build(file: Option<(&Path, &str)>, overrides: &[String], is_root: bool) -> Result<ServerConfig, ConfigError> {
    let include_dir = file
        .and_then(|(p, _)| p.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(CONFIG_DIR));
    let mut p = Parser {
        cfg: ServerConfig::defaults(is_root),
        scratch: ServerConfig::defaults(is_root),
        pass: Pass::default(),
        include_dir,
        home: std::env::var_os("HOME").map(PathBuf::from),
    };
    for o in overrides {
        if let Some(line) = lexer::parse_line(o, Location::command_line())? {
            let mut ctx = Ctx::Global;
            p.line(&line, &mut ctx, 0, true, &[])?;
        }
    }
    p.cfg.cmdline_set = p.pass.set.clone();
    if let Some((path, text)) = file {
        let mut ctx = Ctx::Global;
        p.file(path, text, &mut ctx, 0, &[])?;
    }
    Ok(p.cfg)
}

/// Keywords tobira implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kw {
    Port,
    ListenAddress,
    HostKey,
    KexAlgorithms,
    Ciphers,
    Macs,
    HostKeyAlgorithms,
    PubkeyAcceptedAlgorithms,
    CaSignatureAlgorithms,
    Compression,
    RekeyLimit,
    /// The time part of `RekeyLimit`, whose first value is kept apart.
    RekeyInterval,
    LoginGraceTime,
    MaxAuthTries,
    MaxStartups,
    MaxSessions,
    ClientAliveInterval,
    ClientAliveCountMax,
    PasswordAuthentication,
    PubkeyAuthentication,
    KbdInteractiveAuthentication,
    PermitRootLogin,
    PermitEmptyPasswords,
    AuthorizedKeysFile,
    AuthenticationMethods,
    AllowUsers,
    DenyUsers,
    AllowGroups,
    DenyGroups,
    Banner,
    PermitTty,
    AllowAgentForwarding,
    AllowStreamLocalForwarding,
    AllowTcpForwarding,
    GatewayPorts,
    PermitOpen,
    PermitListen,
    X11Forwarding,
    AcceptEnv,
    SetEnv,
    Subsystem,
    ForceCommand,
    ModuliFile,
    PidFile,
    LogLevel,
    StrictModes,
    PrintMotd,
    UseDns,
    PerSourcePenalties,
    PerSourcePenaltyExemptList,
    Include,
    Match,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Known(Kw),
    /// OpenSSH implements it, tobira does not (yet).
    Unsupported,
    /// OpenSSH itself ignores it.
    Deprecated,
}

struct KwDef {
    kind: Kind,
    /// Allowed inside a `Match` block (`SSHCFG_MATCH`).
    in_match: bool,
}

const G: bool = false;
const M: bool = true;

/// Every keyword of OpenSSH's `sshd` (`servconf.c` and `sshd_config(5)`,
/// including Debian's additions), lower-cased, with what tobira does with
/// it and whether `Match` allows it.
static KEYWORDS: &[(&str, Kind, bool)] = &[
    // Implemented.
    ("port", Kind::Known(Kw::Port), G),
    ("listenaddress", Kind::Known(Kw::ListenAddress), G),
    ("hostkey", Kind::Known(Kw::HostKey), G),
    ("hostdsakey", Kind::Known(Kw::HostKey), G),
    ("kexalgorithms", Kind::Known(Kw::KexAlgorithms), G),
    ("ciphers", Kind::Known(Kw::Ciphers), G),
    ("macs", Kind::Known(Kw::Macs), G),
    ("hostkeyalgorithms", Kind::Known(Kw::HostKeyAlgorithms), G),
    ("pubkeyacceptedalgorithms", Kind::Known(Kw::PubkeyAcceptedAlgorithms), M),
    ("pubkeyacceptedkeytypes", Kind::Known(Kw::PubkeyAcceptedAlgorithms), M),
    ("casignaturealgorithms", Kind::Known(Kw::CaSignatureAlgorithms), M),
    ("compression", Kind::Known(Kw::Compression), G),
    ("rekeylimit", Kind::Known(Kw::RekeyLimit), M),
    ("logingracetime", Kind::Known(Kw::LoginGraceTime), G),
    ("maxauthtries", Kind::Known(Kw::MaxAuthTries), M),
    ("maxstartups", Kind::Known(Kw::MaxStartups), G),
    ("maxsessions", Kind::Known(Kw::MaxSessions), M),
    ("clientaliveinterval", Kind::Known(Kw::ClientAliveInterval), M),
    ("clientalivecountmax", Kind::Known(Kw::ClientAliveCountMax), M),
    ("passwordauthentication", Kind::Known(Kw::PasswordAuthentication), M),
    ("pubkeyauthentication", Kind::Known(Kw::PubkeyAuthentication), M),
    ("dsaauthentication", Kind::Known(Kw::PubkeyAuthentication), G),
    (
        "kbdinteractiveauthentication",
        Kind::Known(Kw::KbdInteractiveAuthentication),
        M,
    ),
    (
        "challengeresponseauthentication",
        Kind::Known(Kw::KbdInteractiveAuthentication),
        M,
    ),
    ("skeyauthentication", Kind::Known(Kw::KbdInteractiveAuthentication), M),
    ("permitrootlogin", Kind::Known(Kw::PermitRootLogin), M),
    ("permitemptypasswords", Kind::Known(Kw::PermitEmptyPasswords), M),
    ("authorizedkeysfile", Kind::Known(Kw::AuthorizedKeysFile), M),
    ("authenticationmethods", Kind::Known(Kw::AuthenticationMethods), M),
    ("allowusers", Kind::Known(Kw::AllowUsers), M),
    ("denyusers", Kind::Known(Kw::DenyUsers), M),
    ("allowgroups", Kind::Known(Kw::AllowGroups), M),
    ("denygroups", Kind::Known(Kw::DenyGroups), M),
    ("banner", Kind::Known(Kw::Banner), M),
    ("permittty", Kind::Known(Kw::PermitTty), M),
    ("allowtcpforwarding", Kind::Known(Kw::AllowTcpForwarding), M),
    ("gatewayports", Kind::Known(Kw::GatewayPorts), M),
    ("permitopen", Kind::Known(Kw::PermitOpen), M),
    ("permitlisten", Kind::Known(Kw::PermitListen), M),
    ("x11forwarding", Kind::Known(Kw::X11Forwarding), M),
    ("acceptenv", Kind::Known(Kw::AcceptEnv), M),
    ("setenv", Kind::Known(Kw::SetEnv), M),
    ("subsystem", Kind::Known(Kw::Subsystem), M),
    ("forcecommand", Kind::Known(Kw::ForceCommand), M),
    ("modulifile", Kind::Known(Kw::ModuliFile), G),
    ("pidfile", Kind::Known(Kw::PidFile), G),
    ("loglevel", Kind::Known(Kw::LogLevel), M),
    ("strictmodes", Kind::Known(Kw::StrictModes), G),
    ("printmotd", Kind::Known(Kw::PrintMotd), G),
    ("usedns", Kind::Known(Kw::UseDns), G),
    ("persourcepenalties", Kind::Known(Kw::PerSourcePenalties), G),
    ("include", Kind::Known(Kw::Include), M),
    ("match", Kind::Known(Kw::Match), M),
    // Known to OpenSSH, not implemented by tobira.
    ("usepam", Kind::Unsupported, G),
    ("pamservicename", Kind::Unsupported, M),
    ("hostkeyagent", Kind::Unsupported, G),
    ("hostcertificate", Kind::Unsupported, G),
    ("syslogfacility", Kind::Unsupported, G),
    ("logverbose", Kind::Unsupported, M),
    ("hostbasedauthentication", Kind::Unsupported, M),
    ("hostbasedusesnamefrompacketonly", Kind::Unsupported, M),
    ("hostbasedacceptedalgorithms", Kind::Unsupported, M),
    ("hostbasedacceptedkeytypes", Kind::Unsupported, M),
    ("pubkeyauthoptions", Kind::Unsupported, M),
    ("kerberosauthentication", Kind::Unsupported, M),
    ("kerberosorlocalpasswd", Kind::Unsupported, G),
    ("kerberosticketcleanup", Kind::Unsupported, G),
    ("kerberosgetafstoken", Kind::Unsupported, G),
    ("kerberostgtpassing", Kind::Unsupported, G),
    ("afstokenpassing", Kind::Unsupported, G),
    ("gssapiauthentication", Kind::Unsupported, M),
    ("gssapicleanupcredentials", Kind::Unsupported, G),
    ("gssapistrictacceptorcheck", Kind::Unsupported, G),
    ("gssapikeyexchange", Kind::Unsupported, G),
    ("gssapistorecredentialsonrekey", Kind::Unsupported, G),
    ("gssapikexalgorithms", Kind::Unsupported, G),
    ("gssapiindicators", Kind::Unsupported, M),
    ("addressfamily", Kind::Unsupported, G),
    ("printlastlog", Kind::Unsupported, G),
    ("ignorerhosts", Kind::Unsupported, M),
    ("ignoreuserknownhosts", Kind::Unsupported, G),
    ("x11displayoffset", Kind::Unsupported, M),
    ("x11uselocalhost", Kind::Unsupported, M),
    ("xauthlocation", Kind::Unsupported, G),
    ("permituserenvironment", Kind::Unsupported, G),
    ("tcpkeepalive", Kind::Unsupported, G),
    ("keepalive", Kind::Unsupported, G),
    ("allowagentforwarding", Kind::Known(Kw::AllowAgentForwarding), M),
    (
        "allowstreamlocalforwarding",
        Kind::Known(Kw::AllowStreamLocalForwarding),
        M,
    ),
    ("streamlocalbindmask", Kind::Unsupported, M),
    ("streamlocalbindunlink", Kind::Unsupported, M),
    ("disableforwarding", Kind::Unsupported, M),
    ("persourcemaxstartups", Kind::Unsupported, G),
    ("persourcenetblocksize", Kind::Unsupported, G),
    (
        "persourcepenaltyexemptlist",
        Kind::Known(Kw::PerSourcePenaltyExemptList),
        G,
    ),
    ("permittunnel", Kind::Unsupported, M),
    ("permituserrc", Kind::Unsupported, M),
    ("chrootdirectory", Kind::Unsupported, M),
    ("revokedkeys", Kind::Unsupported, M),
    ("trustedusercakeys", Kind::Unsupported, M),
    ("authorizedprincipalsfile", Kind::Unsupported, M),
    ("authorizedprincipalscommand", Kind::Unsupported, M),
    ("authorizedprincipalscommanduser", Kind::Unsupported, M),
    ("authorizedkeyscommand", Kind::Unsupported, M),
    ("authorizedkeyscommanduser", Kind::Unsupported, M),
    ("ipqos", Kind::Unsupported, M),
    ("versionaddendum", Kind::Unsupported, G),
    ("debianbanner", Kind::Unsupported, G),
    ("fingerprinthash", Kind::Unsupported, G),
    ("exposeauthinfo", Kind::Unsupported, M),
    ("rdomain", Kind::Unsupported, M),
    ("securitykeyprovider", Kind::Unsupported, G),
    ("requiredrsasize", Kind::Unsupported, M),
    ("channeltimeout", Kind::Unsupported, M),
    ("unusedconnectiontimeout", Kind::Unsupported, M),
    ("sshdsessionpath", Kind::Unsupported, G),
    ("sshdauthpath", Kind::Unsupported, G),
    ("refuseconnection", Kind::Unsupported, M),
    // Ignored by OpenSSH itself.
    ("protocol", Kind::Deprecated, G),
    ("pamauthenticationviakbdint", Kind::Deprecated, G),
    ("serverkeybits", Kind::Deprecated, G),
    ("keyregenerationinterval", Kind::Deprecated, G),
    ("rhostsauthentication", Kind::Deprecated, G),
    ("rhostsrsaauthentication", Kind::Deprecated, M),
    ("rsaauthentication", Kind::Deprecated, M),
    ("checkmail", Kind::Deprecated, G),
    ("uselogin", Kind::Deprecated, G),
    ("verifyreversemapping", Kind::Deprecated, G),
    ("reversemappingcheck", Kind::Deprecated, G),
    ("authorizedkeysfile2", Kind::Deprecated, M),
    ("useprivilegeseparation", Kind::Deprecated, G),
];

fn lookup(lower: &str) -> Option<KwDef> {
    KEYWORDS
        .iter()
        .find(|(n, _, _)| *n == lower)
        .map(|&(_, kind, in_match)| KwDef { kind, in_match })
}

/// State of one application pass: which keywords already got their value.
#[derive(Debug, Default)]
struct Pass {
    set: HashSet<Kw>,
    subsystems: HashSet<String>,
}

impl Pass {
    /// Marks `kw` as set; true the first time (first obtained value wins).
    fn first(&mut self, kw: Kw) -> bool {
        self.set.insert(kw)
    }
}

/// Where the parser is: outside `Match`, in a `Match All` block (applied at
/// load too), or in a conditional block (index into `match_blocks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Global,
    MatchAll(usize),
    Match(usize),
}

struct Parser {
    cfg: ServerConfig,
    /// Where lines inside conditional `Match` blocks are tried, to report
    /// their errors at load time as `sshd` does.
    scratch: ServerConfig,
    pass: Pass,
    include_dir: PathBuf,
    home: Option<PathBuf>,
}

impl Parser {
    fn file(
        &mut self,
        path: &Path,
        text: &str,
        ctx: &mut Ctx,
        depth: usize,
        base: &[MatchCriterion],
    ) -> Result<(), ConfigError> {
        for line in lexer::tokenize(path, text)? {
            self.line(&line, ctx, depth, false, base)?;
        }
        Ok(())
    }

    /// Processes one line. `base`: criteria of the `Match` block an
    /// enclosing file was included from (they restrict every `Match` of
    /// this file).
    fn line(
        &mut self,
        line: &ConfigLine,
        ctx: &mut Ctx,
        depth: usize,
        cmdline: bool,
        base: &[MatchCriterion],
    ) -> Result<(), ConfigError> {
        let at = &line.location;
        let Some(def) = lookup(&line.keyword_lower()) else {
            return Err(ConfigError::BadOption {
                at: at.clone(),
                keyword: line.keyword.clone(),
            });
        };
        if matches!(ctx, Ctx::Match(_)) && !def.in_match {
            return Err(ConfigError::invalid(
                at,
                format!("Directive '{}' is not allowed within a Match block", line.keyword),
            ));
        }
        match def.kind {
            Kind::Unsupported => {
                self.cfg
                    .warnings
                    .push(format!("{at}: Unsupported option {}", line.keyword));
                Ok(())
            }
            Kind::Deprecated => {
                self.cfg
                    .warnings
                    .push(format!("{at}: Deprecated option {}", line.keyword));
                Ok(())
            }
            Kind::Known(Kw::Match) => {
                if cmdline {
                    return Err(ConfigError::invalid(
                        at,
                        "Match directive not supported as a command-line option",
                    ));
                }
                let own = parse_match(&line.args, at)?;
                let mut criteria: Vec<MatchCriterion> = base.to_vec();
                criteria.extend(own.into_iter().filter(|c| *c != MatchCriterion::All));
                let all = criteria.is_empty();
                if all {
                    criteria.push(MatchCriterion::All);
                }
                self.cfg.match_blocks.push(MatchBlock {
                    criteria,
                    lines: Vec::new(),
                    location: at.clone(),
                });
                let idx = self.cfg.match_blocks.len() - 1;
                *ctx = if all { Ctx::MatchAll(idx) } else { Ctx::Match(idx) };
                Ok(())
            }
            Kind::Known(Kw::Include) => {
                if cmdline {
                    return Err(ConfigError::invalid(
                        at,
                        "Include directive not supported as a command-line option",
                    ));
                }
                self.include(line, ctx, depth)
            }
            Kind::Known(kw) => match *ctx {
                Ctx::Global => apply(&mut self.cfg, &mut self.pass, kw, line),
                Ctx::MatchAll(i) => {
                    apply(&mut self.cfg, &mut self.pass, kw, line)?;
                    if def.in_match {
                        if let Some(b) = self.cfg.match_blocks.get_mut(i) {
                            b.lines.push(line.clone());
                        }
                    }
                    Ok(())
                }
                Ctx::Match(i) => {
                    apply(&mut self.scratch, &mut Pass::default(), kw, line)?;
                    if let Some(b) = self.cfg.match_blocks.get_mut(i) {
                        b.lines.push(line.clone());
                    }
                    Ok(())
                }
            },
        }
    }

    fn include(&mut self, line: &ConfigLine, ctx: &mut Ctx, depth: usize) -> Result<(), ConfigError> {
        let at = &line.location;
        if line.args.is_empty() {
            return Err(ConfigError::invalid(at, format!("{} missing argument.", line.keyword)));
        }
        for arg in &line.args {
            if arg.is_empty() {
                return Err(ConfigError::invalid(
                    at,
                    format!("keyword {} empty argument", line.keyword),
                ));
            }
            let expanded = match &self.home {
                Some(h) => expand_tilde(arg, h),
                None => arg.clone(),
            };
            let pattern = if Path::new(&expanded).is_absolute() {
                PathBuf::from(expanded)
            } else {
                self.include_dir.join(expanded)
            };
            for f in glob_paths(&pattern) {
                if depth + 1 > MAX_INCLUDE_DEPTH {
                    return Err(ConfigError::invalid(at, "Too many recursive configuration includes"));
                }
                let text = read_config_file(&f)?;
                let base: Vec<MatchCriterion> = match *ctx {
                    Ctx::Match(i) => self
                        .cfg
                        .match_blocks
                        .get(i)
                        .map(|b| b.criteria.clone())
                        .unwrap_or_default(),
                    Ctx::Global | Ctx::MatchAll(_) => Vec::new(),
                };
                let mut sub = *ctx;
                self.file(&f, &text, &mut sub, depth + 1, &base)?;
                // Matches in the included file end with it; the
                // including block continues (in a new block, so that the
                // order of lines is kept).
                if sub != *ctx {
                    if let Ctx::Match(i) | Ctx::MatchAll(i) = *ctx {
                        if let Some(b) = self.cfg.match_blocks.get(i) {
                            let cont = MatchBlock {
                                criteria: b.criteria.clone(),
                                lines: Vec::new(),
                                location: b.location.clone(),
                            };
                            self.cfg.match_blocks.push(cont);
                            let n = self.cfg.match_blocks.len() - 1;
                            *ctx = if matches!(*ctx, Ctx::Match(_)) {
                                Ctx::Match(n)
                            } else {
                                Ctx::MatchAll(n)
                            };
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Parses the criteria of a `Match` line (`sshd_config(5)`, `Match`).
fn parse_match(args: &[String], at: &Location) -> Result<Vec<MatchCriterion>, ConfigError> {
    let bad = |detail: String| ConfigError::invalid(at, format!("Bad Match condition: {detail}"));
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let attr = args[i].to_ascii_lowercase();
        i += 1;
        if attr == "all" {
            if !out.is_empty() || i < args.len() {
                return Err(bad("'all' cannot be combined with other Match attributes".into()));
            }
            out.push(MatchCriterion::All);
            break;
        }
        let Some(val) = args.get(i).filter(|v| !v.is_empty()) else {
            return Err(bad(format!("Missing Match criteria for {}", args[i - 1])));
        };
        i += 1;
        let c = match attr.as_str() {
            "user" => MatchCriterion::User(val.clone()),
            "group" => MatchCriterion::Group(val.clone()),
            "host" => MatchCriterion::Host(val.clone()),
            "address" | "localaddress" => {
                if let Err(e) = addr_match_list(None, val) {
                    return Err(bad(format!("Invalid Match {attr} argument '{e}'")));
                }
                if attr == "address" {
                    MatchCriterion::Address(val.clone())
                } else {
                    MatchCriterion::LocalAddress(val.clone())
                }
            }
            "localport" => match val.parse::<u16>() {
                Ok(p) if p > 0 => MatchCriterion::LocalPort(p),
                _ => return Err(bad(format!("Invalid LocalPort '{val}' on Match line"))),
            },
            "rdomain" => MatchCriterion::RDomain(val.clone()),
            _ => return Err(bad(format!("Unsupported Match attribute {}", args[i - 2]))),
        };
        out.push(c);
    }
    if out.is_empty() {
        return Err(bad("One or more attributes required for Match".into()));
    }
    Ok(out)
}

/// The first argument, or an error with `msg` when there is none.
fn need<'a>(args: &'a [String], at: &Location, msg: &str) -> Result<&'a str, ConfigError> {
    match args.first() {
        Some(a) if !a.is_empty() => Ok(a.as_str()),
        _ => Err(ConfigError::invalid(at, msg)),
    }
}

fn flag(args: &[String], at: &Location) -> Result<bool, ConfigError> {
    let a = need(args, at, "missing argument.")?;
    parse_yes_no(a, false).ok_or_else(|| ConfigError::invalid(at, format!("unsupported option \"{a}\".")))
}

fn multistate<T: Copy>(args: &[String], at: &Location, table: &[(&str, T)]) -> Result<T, ConfigError> {
    let a = need(args, at, "missing argument.")?;
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(a))
        .map(|(_, v)| *v)
        .ok_or_else(|| ConfigError::invalid(at, format!("unsupported option \"{a}\".")))
}

fn int(args: &[String], at: &Location, key: &str) -> Result<u32, ConfigError> {
    let a = args.first().map(String::as_str).unwrap_or("");
    let reason = if a.is_empty() {
        "missing"
    } else if !a.bytes().all(|b| b.is_ascii_digit()) {
        "invalid"
    } else {
        match a.parse::<u32>() {
            Ok(v) if i32::try_from(v).is_ok() => return Ok(v),
            _ => "too large",
        }
    };
    Err(ConfigError::invalid(at, format!("{key} integer value {reason}.")))
}

fn time(args: &[String], at: &Location) -> Result<Duration, ConfigError> {
    let a = need(args, at, "missing time value.")?;
    parse_time(a).ok_or_else(|| ConfigError::invalid(at, "invalid time value."))
}

fn algos(
    args: &[String],
    at: &Location,
    key: &str,
    canonical: &str,
    defaults: &[&str],
    supported: &[&str],
) -> Result<Vec<String>, ConfigError> {
    let a = need(args, at, &format!("{key} missing argument."))?;
    resolve_list(a, defaults, supported).map_err(|reason| ConfigError::BadAlgorithm {
        at: at.clone(),
        keyword: canonical.to_string(),
        spec: a.to_string(),
        reason,
    })
}

fn filename(args: &[String], at: &Location) -> Result<Option<PathBuf>, ConfigError> {
    let a = need(args, at, "missing file name.")?;
    if a.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    Ok(Some(PathBuf::from(home_expand(a))))
}

fn home_expand(a: &str) -> String {
    match std::env::var_os("HOME") {
        Some(h) => expand_tilde(a, Path::new(&h)),
        None => a.to_string(),
    }
}

fn first_wins<T>(pass: &mut Pass, kw: Kw, slot: &mut T, v: T) {
    if pass.first(kw) {
        *slot = v;
    }
}

fn accumulate<T>(pass: &mut Pass, kw: Kw, list: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    if pass.first(kw) {
        list.clear();
    }
    list.extend(items);
}

/// `host`, `host:port`, `[v6]:port`, `[v6]` or a bare IPv6 address.
fn parse_listen(arg: &str) -> Result<(String, Option<u16>), String> {
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err("bad port number".to_string()),
    };
    if let Some(r) = arg.strip_prefix('[') {
        let (host, after) = r.split_once(']').ok_or("bad address:port usage")?;
        return match after {
            "" => Ok((host.to_string(), None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((host.to_string(), port(p)?)),
                None => Err("bad address:port usage".into()),
            },
        };
    }
    if arg.matches(':').count() >= 2 {
        return Ok((arg.to_string(), None));
    }
    match arg.split_once(':') {
        Some((h, p)) if !h.is_empty() => Ok((h.to_string(), port(p)?)),
        Some(_) => Err("bad address:port usage".into()),
        None => Ok((arg.to_string(), None)),
    }
}

/// A `PermitOpen`/`PermitListen` port: a number or `*`.
fn permit_port_ok(p: &str) -> bool {
    p == "*" || matches!(p.parse::<u16>(), Ok(n) if n > 0)
}

/// Checks a `PermitOpen`/`PermitListen` entry `host:port` (`[v6]:port`).
fn permit_entry_ok(e: &str) -> Result<(), &'static str> {
    let (host, port) = if let Some(r) = e.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or("missing host")?;
        (h, after.strip_prefix(':'))
    } else {
        match e.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (e, None),
        }
    };
    if host.is_empty() {
        return Err("missing host");
    }
    match port {
        Some(p) if permit_port_ok(p) => Ok(()),
        _ => Err("bad port number"),
    }
}

const AUTH_METHODS: &[&str] = &[
    "publickey",
    "password",
    "keyboard-interactive",
    "hostbased",
    "gssapi-with-mic",
    "none",
];

/// Applies one keyword line to `cfg` (first obtained value wins per
/// `pass`), checking its syntax whether or not the value is kept.
fn apply(cfg: &mut ServerConfig, pass: &mut Pass, kw: Kw, line: &ConfigLine) -> Result<(), ConfigError> {
    let at = &line.location;
    let key = line.keyword.as_str();
    let args = &line.args[..];
    let consumed: usize = match kw {
        Kw::Port => {
            let a = need(args, at, "missing port number.")?;
            let p = match a.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(ConfigError::invalid(at, "Badly formatted port number.")),
            };
            accumulate(pass, kw, &mut cfg.port, [p]);
            1
        }
        Kw::ListenAddress => {
            let a = need(args, at, "missing address")?;
            let (host, port) = parse_listen(a).map_err(|m| ConfigError::invalid(at, m))?;
            let mut n = 1;
            let mut rdomain = None;
            if let Some(r) = args.get(1) {
                match args.get(2) {
                    Some(name) if r == "rdomain" && !name.is_empty() => {
                        rdomain = Some(name.clone());
                        n = 3;
                    }
                    _ => return Err(ConfigError::invalid(at, "bad ListenAddress syntax")),
                }
            }
            accumulate(
                pass,
                kw,
                &mut cfg.listen_address,
                [ListenAddress { host, port, rdomain }],
            );
            n
        }
        Kw::HostKey => {
            let a = need(args, at, "missing file name.")?;
            let item = (!a.eq_ignore_ascii_case("none")).then(|| PathBuf::from(home_expand(a)));
            accumulate(pass, kw, &mut cfg.host_key, item);
            1
        }
        Kw::KexAlgorithms => {
            let v = algos(args, at, key, "KexAlgorithms", SERVER_KEX_DEFAULT, KEX_SUPPORTED)?;
            first_wins(pass, kw, &mut cfg.kex_algorithms, v);
            1
        }
        Kw::Ciphers => {
            let v = algos(args, at, key, "Ciphers", SERVER_CIPHER_DEFAULT, CIPHER_SUPPORTED)?;
            first_wins(pass, kw, &mut cfg.ciphers, v);
            1
        }
        Kw::Macs => {
            let v = algos(args, at, key, "MACs", SERVER_MAC_DEFAULT, MAC_SUPPORTED)?;
            first_wins(pass, kw, &mut cfg.macs, v);
            1
        }
        Kw::HostKeyAlgorithms => {
            let v = algos(
                args,
                at,
                key,
                "HostKeyAlgorithms",
                SERVER_HOSTKEY_DEFAULT,
                HOSTKEY_SUPPORTED,
            )?;
            first_wins(pass, kw, &mut cfg.host_key_algorithms, v);
            1
        }
        Kw::PubkeyAcceptedAlgorithms => {
            let v = algos(
                args,
                at,
                key,
                "PubkeyAcceptedAlgorithms",
                PUBKEY_DEFAULT,
                PUBKEY_SUPPORTED,
            )?;
            first_wins(pass, kw, &mut cfg.pubkey_accepted_algorithms, v);
            1
        }
        Kw::CaSignatureAlgorithms => {
            let v = algos(args, at, key, "CASignatureAlgorithms", PUBKEY_DEFAULT, PUBKEY_SUPPORTED)?;
            first_wins(pass, kw, &mut cfg.ca_signature_algorithms, v);
            1
        }
        Kw::Compression => {
            let v = multistate(
                args,
                at,
                &[
                    ("yes", Compression::Yes),
                    ("delayed", Compression::Delayed),
                    ("no", Compression::No),
                ],
            )?;
            first_wins(pass, kw, &mut cfg.compression, v);
            1
        }
        Kw::RekeyLimit | Kw::RekeyInterval => {
            let a = need(args, at, &format!("{key} missing argument."))?;
            let bytes = parse_rekey_bytes(a, key, at)?;
            first_wins(pass, Kw::RekeyLimit, &mut cfg.rekey_limit.bytes, bytes);
            match args.get(1).map(String::as_str) {
                None => 1,
                Some("default") => 2,
                Some(t) => {
                    let v = parse_rekey_interval(t, at)?;
                    first_wins(pass, Kw::RekeyInterval, &mut cfg.rekey_limit.interval, v);
                    2
                }
            }
        }
        Kw::LoginGraceTime => {
            let v = time(args, at)?;
            first_wins(pass, kw, &mut cfg.login_grace_time, v);
            1
        }
        Kw::MaxAuthTries => {
            let v = int(args, at, key)?;
            first_wins(pass, kw, &mut cfg.max_auth_tries, v);
            1
        }
        Kw::MaxSessions => {
            let v = int(args, at, key)?;
            first_wins(pass, kw, &mut cfg.max_sessions, v);
            1
        }
        Kw::ClientAliveCountMax => {
            let v = int(args, at, key)?;
            first_wins(pass, kw, &mut cfg.client_alive_count_max, v);
            1
        }
        Kw::MaxStartups => {
            let a = need(args, at, &format!("{key} missing argument."))?;
            let invalid = || ConfigError::invalid(at, format!("Invalid {key} spec."));
            let nums: Vec<u32> = a
                .split(':')
                .map(|p| p.parse::<u32>().map_err(|_| invalid()))
                .collect::<Result<_, _>>()?;
            let v = match nums[..] {
                [n] => MaxStartups {
                    start: n,
                    rate: cfg.max_startups.rate,
                    full: n,
                },
                [s, r, f] if s <= f && (1..=100).contains(&r) => MaxStartups {
                    start: s,
                    rate: r,
                    full: f,
                },
                _ => return Err(invalid()),
            };
            first_wins(pass, kw, &mut cfg.max_startups, v);
            1
        }
        Kw::ClientAliveInterval => {
            let v = time(args, at)?;
            first_wins(pass, kw, &mut cfg.client_alive_interval, v);
            1
        }
        Kw::PasswordAuthentication => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.password_authentication, v);
            1
        }
        Kw::PubkeyAuthentication => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.pubkey_authentication, v);
            1
        }
        Kw::KbdInteractiveAuthentication => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.kbd_interactive_authentication, v);
            1
        }
        Kw::PermitEmptyPasswords => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.permit_empty_passwords, v);
            1
        }
        Kw::PermitTty => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.permit_tty, v);
            1
        }
        Kw::AllowAgentForwarding => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.allow_agent_forwarding, v);
            1
        }
        Kw::AllowStreamLocalForwarding => {
            let v = multistate(
                args,
                at,
                &[
                    ("yes", AllowTcpForwarding::Yes),
                    ("all", AllowTcpForwarding::Yes),
                    ("no", AllowTcpForwarding::No),
                    ("local", AllowTcpForwarding::Local),
                    ("remote", AllowTcpForwarding::Remote),
                ],
            )?;
            first_wins(pass, kw, &mut cfg.allow_stream_local_forwarding, v);
            1
        }
        Kw::X11Forwarding => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.x11_forwarding, v);
            1
        }
        Kw::StrictModes => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.strict_modes, v);
            1
        }
        Kw::PrintMotd => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.print_motd, v);
            1
        }
        Kw::UseDns => {
            let v = flag(args, at)?;
            first_wins(pass, kw, &mut cfg.use_dns, v);
            1
        }
        Kw::PermitRootLogin => {
            let v = multistate(
                args,
                at,
                &[
                    ("without-password", PermitRootLogin::ProhibitPassword),
                    ("prohibit-password", PermitRootLogin::ProhibitPassword),
                    ("forced-commands-only", PermitRootLogin::ForcedCommandsOnly),
                    ("yes", PermitRootLogin::Yes),
                    ("no", PermitRootLogin::No),
                ],
            )?;
            first_wins(pass, kw, &mut cfg.permit_root_login, v);
            1
        }
        Kw::AllowTcpForwarding => {
            let v = multistate(
                args,
                at,
                &[
                    ("yes", AllowTcpForwarding::Yes),
                    ("all", AllowTcpForwarding::Yes),
                    ("no", AllowTcpForwarding::No),
                    ("local", AllowTcpForwarding::Local),
                    ("remote", AllowTcpForwarding::Remote),
                ],
            )?;
            first_wins(pass, kw, &mut cfg.allow_tcp_forwarding, v);
            1
        }
        Kw::GatewayPorts => {
            let v = multistate(
                args,
                at,
                &[
                    ("clientspecified", GatewayPorts::ClientSpecified),
                    ("yes", GatewayPorts::Yes),
                    ("no", GatewayPorts::No),
                ],
            )?;
            first_wins(pass, kw, &mut cfg.gateway_ports, v);
            1
        }
        Kw::AuthorizedKeysFile => {
            need(args, at, &format!("{key} missing argument."))?;
            for a in args {
                if a.is_empty() {
                    return Err(ConfigError::invalid(at, format!("keyword {key} empty argument")));
                }
                expand_tokens(a, &[('h', ""), ('u', ""), ('U', "")])
                    .map_err(|e| ConfigError::invalid(at, format!("{key} \"{a}\": {e}")))?;
            }
            first_wins(pass, kw, &mut cfg.authorized_keys_file, args.to_vec());
            args.len()
        }
        Kw::AuthenticationMethods => {
            need(args, at, &format!("{key} missing argument."))?;
            let mut lists = Vec::new();
            if args.len() == 1 && args[0] == "any" {
                // Any single method: the default.
            } else {
                for a in args {
                    if a == "any" {
                        return Err(ConfigError::invalid(at, format!("\"any\" must appear alone in {key}")));
                    }
                    let methods: Vec<String> = a.split(',').map(str::to_string).collect();
                    for m in &methods {
                        let name = m.split_once(':').map_or(m.as_str(), |(n, _)| n);
                        if !AUTH_METHODS.contains(&name) || (m.contains(':') && name != "keyboard-interactive") {
                            return Err(ConfigError::invalid(at, format!("invalid {key} method list.")));
                        }
                    }
                    lists.push(methods);
                }
            }
            first_wins(pass, kw, &mut cfg.authentication_methods, lists);
            args.len()
        }
        Kw::AllowUsers | Kw::DenyUsers | Kw::AllowGroups | Kw::DenyGroups => {
            if let Some(a) = args.iter().find(|a| a.is_empty()) {
                return Err(ConfigError::invalid(at, format!("invalid {key} pattern: \"{a}\"")));
            }
            let list = match kw {
                Kw::AllowUsers => &mut cfg.allow_users,
                Kw::DenyUsers => &mut cfg.deny_users,
                Kw::AllowGroups => &mut cfg.allow_groups,
                _ => &mut cfg.deny_groups,
            };
            accumulate(pass, kw, list, args.iter().cloned());
            args.len()
        }
        Kw::Banner => {
            let v = filename(args, at)?;
            first_wins(pass, kw, &mut cfg.banner, v);
            1
        }
        Kw::ModuliFile => {
            let v = filename(args, at)?;
            first_wins(pass, kw, &mut cfg.moduli_file, v);
            1
        }
        Kw::PidFile => {
            let v = filename(args, at)?;
            first_wins(pass, kw, &mut cfg.pid_file, v);
            1
        }
        Kw::PermitOpen | Kw::PermitListen => {
            let a = need(args, at, &format!("{key} missing argument."))?;
            let v: Vec<String> = if a == "any" || a == "none" {
                vec![a.to_string()]
            } else {
                let mut v = Vec::new();
                for e in args {
                    let e = if kw == Kw::PermitListen && !e.contains(':') {
                        format!("*:{e}")
                    } else {
                        e.clone()
                    };
                    permit_entry_ok(&e).map_err(|m| ConfigError::invalid(at, format!("{key} {m}")))?;
                    v.push(e);
                }
                v
            };
            let n = if a == "any" || a == "none" { 1 } else { args.len() };
            let slot = if kw == Kw::PermitOpen {
                &mut cfg.permit_open
            } else {
                &mut cfg.permit_listen
            };
            first_wins(pass, kw, slot, v);
            n
        }
        Kw::AcceptEnv => {
            if args.iter().any(|a| a.is_empty() || a.contains('=')) {
                return Err(ConfigError::invalid(at, "Invalid environment name."));
            }
            accumulate(pass, kw, &mut cfg.accept_env, args.iter().cloned());
            args.len()
        }
        Kw::SetEnv => {
            need(args, at, &format!("{key} missing argument."))?;
            let mut v: Vec<(String, String)> = Vec::new();
            for a in args {
                let Some((n, val)) = a.split_once('=').filter(|(n, _)| !n.is_empty()) else {
                    return Err(ConfigError::invalid(at, "Invalid environment."));
                };
                if !v.iter().any(|(k, _)| k == n) {
                    v.push((n.to_string(), val.to_string()));
                }
            }
            first_wins(pass, kw, &mut cfg.set_env, v);
            args.len()
        }
        Kw::Subsystem => {
            let name = need(args, at, &format!("{key} missing argument."))?;
            let cmd = match args.get(1) {
                Some(c) if !c.is_empty() => args[1..].join(" "),
                _ => return Err(ConfigError::invalid(at, "Missing subsystem command.")),
            };
            // A Match block's subsystems are merged over the global ones;
            // within one pass the first definition of a name wins.
            if pass.subsystems.insert(name.to_string()) {
                cfg.subsystem.insert(name.to_string(), cmd);
            }
            args.len()
        }
        Kw::ForceCommand => {
            let v = (!line.rest.eq_ignore_ascii_case("none")).then(|| line.rest.clone());
            first_wins(pass, kw, &mut cfg.force_command, v);
            args.len()
        }
        Kw::LogLevel => {
            let a = args.first().map(String::as_str).unwrap_or("");
            let v =
                LogLevel::parse(a).ok_or_else(|| ConfigError::invalid(at, format!("unsupported log level '{a}'")))?;
            first_wins(pass, kw, &mut cfg.log_level, v);
            1
        }
        Kw::PerSourcePenalties => {
            need(args, at, &format!("{key} missing argument."))?;
            crate::admission::Penalties::parse(args).map_err(|e| ConfigError::invalid(at, e))?;
            first_wins(pass, kw, &mut cfg.per_source_penalties, args.to_vec());
            args.len()
        }
        Kw::PerSourcePenaltyExemptList => {
            let a = need(args, at, &format!("{key} missing argument."))?;
            crate::config::addr_match_list(None, a).map_err(|e| ConfigError::invalid(at, e))?;
            first_wins(pass, kw, &mut cfg.per_source_penalty_exempt_list, Some(a.to_string()));
            1
        }
        Kw::Include | Kw::Match => args.len(),
    };
    if consumed < args.len() {
        return Err(ConfigError::invalid(
            at,
            format!("keyword {key} extra arguments at end of line"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ServerConfig {
        match parse_server_config(Path::new("/etc/tobira/tobirad_config"), text, false) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn err(text: &str) -> String {
        match parse_server_config(Path::new("/etc/tobira/tobirad_config"), text, false) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tobira-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn defaults() {
        let c = ServerConfig::defaults(false);
        assert_eq!(c.port, [2222]);
        assert_eq!(ServerConfig::defaults(true).port, [22]);
        assert_eq!(c.login_grace_time, Duration::from_secs(120));
        assert_eq!(c.max_auth_tries, 6);
        assert_eq!(c.max_sessions, 10);
        assert_eq!(c.permit_root_login, PermitRootLogin::ProhibitPassword);
        assert_eq!(
            c.authorized_keys_file,
            [".ssh/authorized_keys", ".ssh/authorized_keys2"]
        );
        assert!(!c.x11_forwarding && !c.use_dns && c.pubkey_authentication);
        assert_eq!(c.compression, Compression::Delayed);
        assert_eq!(c.compression_algorithms(), ["none", "zlib@openssh.com"]);
        assert_eq!(
            c.listen_sockets(),
            [("0.0.0.0".to_string(), 2222), ("::".to_string(), 2222)]
        );
        assert_eq!(c.kex_algorithms, SERVER_KEX_DEFAULT);
        assert_eq!(c.ciphers, SERVER_CIPHER_DEFAULT);
    }

    #[test]
    fn first_value_wins() {
        let c = parse("PasswordAuthentication no\npasswordauthentication yes\nMaxAuthTries 3\nMaxAuthTries 9\nLogLevel VERBOSE\nLogLevel DEBUG3\n");
        assert!(!c.password_authentication);
        assert_eq!(c.max_auth_tries, 3);
        assert_eq!(c.log_level, LogLevel::Verbose);
        // The alias shares the keyword's slot.
        let c = parse("ChallengeResponseAuthentication no\nKbdInteractiveAuthentication yes\n");
        assert!(!c.kbd_interactive_authentication);
        // Lists where the first line wins as a whole.
        let c = parse("AuthorizedKeysFile .ssh/a .ssh/b\nAuthorizedKeysFile .ssh/c\n");
        assert_eq!(c.authorized_keys_file, [".ssh/a", ".ssh/b"]);
    }

    #[test]
    fn accumulating_lists() {
        let c = parse(
            "Port 22\nPort 2200\nHostKey /k1\nHostKey /k2\nAcceptEnv LANG\nAcceptEnv LC_* TZ\n\
             AllowUsers alice\nAllowUsers bob@10.0.0.0/8\nListenAddress 127.0.0.1\nListenAddress [::1]:2022\n\
             Subsystem sftp /usr/lib/openssh/sftp-server -l INFO\nSubsystem other /bin/other\nSubsystem sftp /ignored\n",
        );
        assert_eq!(c.port, [22, 2200]);
        assert_eq!(c.host_key, [PathBuf::from("/k1"), PathBuf::from("/k2")]);
        assert_eq!(c.accept_env, ["LANG", "LC_*", "TZ"]);
        assert_eq!(c.allow_users, ["alice", "bob@10.0.0.0/8"]);
        assert_eq!(
            c.listen_sockets(),
            [
                ("127.0.0.1".to_string(), 22),
                ("127.0.0.1".to_string(), 2200),
                ("::1".to_string(), 2022)
            ]
        );
        assert_eq!(c.subsystem["sftp"], "/usr/lib/openssh/sftp-server -l INFO");
        assert_eq!(c.subsystem["other"], "/bin/other");
    }

    #[test]
    fn algorithm_lists() {
        let c = parse("Ciphers aes256-ctr,aes128-ctr\nKexAlgorithms -diffie-hellman-*\nMACs ^hmac-sha2-512\n");
        assert_eq!(c.ciphers, ["aes256-ctr", "aes128-ctr"]);
        assert!(c.kex_algorithms.iter().all(|k| !k.starts_with("diffie-hellman")));
        assert!(!c.kex_algorithms.is_empty());
        assert_eq!(c.macs[0], "hmac-sha2-512");
        let c = parse("Ciphers +aes*-gcm@openssh.com\n");
        assert!(c.ciphers.starts_with(&["chacha20-poly1305@openssh.com".to_string()]));
        let e = err("# x\nCiphers +arcfour256\n");
        assert!(e.contains("/etc/tobira/tobirad_config line 2"), "{e}");
        assert!(e.contains("Ciphers") && e.contains("arcfour256"), "{e}");
        let e = err("HostKeyAlgorithms ssh-xmss@openssh.com\n");
        assert!(
            e.contains("line 1") && e.contains("HostKeyAlgorithms") && e.contains("ssh-xmss@openssh.com"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keyword_is_an_error() {
        let e = err("Port 22\n\nFrobnicate yes\n");
        assert_eq!(
            e,
            "/etc/tobira/tobirad_config: line 3: Bad configuration option: Frobnicate"
        );
        let e = err("PasswordAuthentication maybe\n");
        assert_eq!(e, "/etc/tobira/tobirad_config line 1: unsupported option \"maybe\".");
        let e = err("Port 22 23\n");
        assert!(e.contains("extra arguments"), "{e}");
        let e = err("Port 0\n");
        assert!(e.contains("Badly formatted port number"), "{e}");
    }

    #[test]
    fn unsupported_keyword_is_a_warning() {
        let c = parse("UsePAM yes\nX11DisplayOffset 10\nProtocol 2\n");
        assert_eq!(
            c.warnings,
            [
                "/etc/tobira/tobirad_config line 1: Unsupported option UsePAM",
                "/etc/tobira/tobirad_config line 2: Unsupported option X11DisplayOffset",
                "/etc/tobira/tobirad_config line 3: Deprecated option Protocol",
            ]
        );
    }

    #[test]
    fn quoted_values_and_equals() {
        let c = parse(
            "Banner \"/etc/my banner\"\nMaxSessions=4\nPermitRootLogin = no\nForceCommand /bin/echo \"hi there\"\n",
        );
        assert_eq!(c.banner, Some(PathBuf::from("/etc/my banner")));
        assert_eq!(c.max_sessions, 4);
        assert_eq!(c.permit_root_login, PermitRootLogin::No);
        assert_eq!(c.force_command.as_deref(), Some("/bin/echo \"hi there\""));
    }

    #[test]
    fn time_and_size_values() {
        let c = parse("LoginGraceTime 1h30m\nClientAliveInterval 15\nRekeyLimit 1G 1h\n");
        assert_eq!(c.login_grace_time, Duration::from_secs(5400));
        assert_eq!(c.client_alive_interval, Duration::from_secs(15));
        assert_eq!(
            c.rekey_limit,
            RekeyLimit {
                bytes: Some(1 << 30),
                interval: Some(Duration::from_secs(3600))
            }
        );
        let c = parse("RekeyLimit default none\n");
        assert_eq!(c.rekey_limit.bytes, None);
        assert_eq!(c.rekey_limit.interval, None);
        let c = parse("RekeyLimit 1M\n");
        assert_eq!(c.rekey_limit.interval, RekeyLimit::default().interval);
        let c = parse("RekeyLimit 512K\n");
        assert_eq!(c.rekey_limit.bytes, Some(512 * 1024));
        assert!(err("RekeyLimit 8\n").contains("too small"));
        assert!(err("LoginGraceTime 2x\n").contains("invalid time value"));
        let c = parse("MaxStartups 20:50:60\n");
        assert_eq!(
            c.max_startups,
            MaxStartups {
                start: 20,
                rate: 50,
                full: 60
            }
        );
        let c = parse("MaxStartups 5\n");
        assert_eq!(
            c.max_startups,
            MaxStartups {
                start: 5,
                rate: 30,
                full: 5
            }
        );
        assert!(err("MaxStartups 20:150:60\n").contains("Invalid MaxStartups spec"));
    }

    #[test]
    fn various_keywords() {
        let c = parse(
            "AuthenticationMethods publickey,password publickey,keyboard-interactive:pam\n\
             SetEnv A=1 \"B=x y\"\nPermitOpen host:80 [::1]:*\nPermitListen 8080\nGatewayPorts clientspecified\n\
             AllowTcpForwarding local\nCompression no\nPidFile none\nPerSourcePenalties authfail:300s max:3600s\n",
        );
        assert_eq!(
            c.authentication_methods,
            [
                vec!["publickey".to_string(), "password".to_string()],
                vec!["publickey".to_string(), "keyboard-interactive:pam".to_string()]
            ]
        );
        assert_eq!(
            c.set_env,
            [("A".to_string(), "1".to_string()), ("B".to_string(), "x y".to_string())]
        );
        assert_eq!(c.permit_open, ["host:80", "[::1]:*"]);
        assert_eq!(c.permit_listen, ["*:8080"]);
        assert_eq!(c.gateway_ports, GatewayPorts::ClientSpecified);
        assert_eq!(c.allow_tcp_forwarding, AllowTcpForwarding::Local);
        assert_eq!(c.compression, Compression::No);
        assert_eq!(c.pid_file, None);
        assert_eq!(c.per_source_penalties, ["authfail:300s", "max:3600s"]);
        assert!(err("AuthenticationMethods publickey,telepathy\n").contains("method list"));
        assert!(err("AcceptEnv A=B\n").contains("Invalid environment name"));
        assert!(err("SetEnv NOVALUE\n").contains("Invalid environment"));
        assert!(err("PermitOpen host\n").contains("bad port"));
        let paths = parse("AuthorizedKeysFile %h/.ssh/keys_%u /etc/keys/%u none .ssh/rel\n").authorized_keys_paths(
            "bob",
            Path::new("/home/bob"),
            1000,
        );
        assert_eq!(
            paths,
            [
                PathBuf::from("/home/bob/.ssh/keys_bob"),
                PathBuf::from("/etc/keys/bob"),
                PathBuf::from("/home/bob/.ssh/rel")
            ]
        );
        assert!(err("AuthorizedKeysFile /keys/%q\n").contains("%q"));
    }

    #[test]
    fn overrides_take_precedence() {
        let d = tmpdir("overrides");
        let f = d.join("cfg");
        std::fs::write(
            &f,
            "PasswordAuthentication yes\nPort 22\nMatch User bob\n  PasswordAuthentication yes\n",
        )
        .unwrap();
        let c = load_server_config(
            Some(&f),
            &["PasswordAuthentication=no".to_string(), "MaxAuthTries 2".to_string()],
            false,
        )
        .unwrap();
        assert!(!c.password_authentication);
        assert_eq!(c.max_auth_tries, 2);
        let bob = c.for_connection("bob", "10.0.0.1".parse().unwrap(), &[]);
        assert!(!bob.password_authentication);
        let e = load_server_config(Some(&f), &["Bogus=1".to_string()], false).unwrap_err();
        assert_eq!(e.to_string(), "command-line: line 0: Bad configuration option: Bogus");
        let e = load_server_config(Some(&f), &["Ciphers=nope".to_string()], false).unwrap_err();
        assert!(
            e.to_string().starts_with("command-line line 0: Bad SSH2 Ciphers"),
            "{e}"
        );
        if !Path::new(DEFAULT_CONFIG_PATH).exists() {
            let c = load_server_config(None, &["Port=2022".to_string()], false).unwrap();
            assert_eq!(c.port, [2022]);
            assert!(load_server_config(None, &["Match User x".to_string()], false).is_err());
            assert!(load_server_config(None, &["Include /x".to_string()], false).is_err());
        }
        let e = load_server_config(Some(&d.join("missing")), &[], false).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_connection_shares_the_config_unless_a_match_block_applies() {
        let c = Arc::new(parse(
            "PasswordAuthentication yes\nMatch User alice\n  PasswordAuthentication no\n\
             Match Address 10.0.0.0/8\n  MaxAuthTries 2\n",
        ));
        let wan: IpAddr = "203.0.113.7".parse().unwrap();
        let eve = ServerConfig::shared_for_connection(&c, "eve", wan, &[]);
        assert!(Arc::ptr_eq(&eve, &c));
        assert!(eve.password_authentication);
        for (user, addr) in [("alice", wan), ("eve", "10.1.2.3".parse().unwrap())] {
            let own = ServerConfig::shared_for_connection(&c, user, addr, &[]);
            assert!(!Arc::ptr_eq(&own, &c));
            assert_eq!(*own, c.for_connection(user, addr, &[]));
        }
    }

    #[test]
    fn match_user_and_address() {
        let c = parse(
            "PasswordAuthentication yes\nX11Forwarding no\nAcceptEnv LANG\n\
             Match User alice,bob\n  PasswordAuthentication no\n  X11Forwarding yes\n\
             Match Address 192.168.0.0/16,!192.168.9.9\n  PasswordAuthentication yes\n  MaxAuthTries 2\n  AcceptEnv GIT_*\n\
             Match Group wheel\n  PermitTTY no\n\
             Match LocalPort 2022\n  Banner /etc/issue.net\n",
        );
        assert!(c.password_authentication);
        assert_eq!(c.match_blocks.len(), 4);
        assert_eq!(c.match_blocks[0].criteria, [MatchCriterion::User("alice,bob".into())]);
        assert_eq!(c.match_blocks[0].lines.len(), 2);

        let lan: IpAddr = "192.168.1.5".parse().unwrap();
        let wan: IpAddr = "203.0.113.7".parse().unwrap();
        let excluded: IpAddr = "192.168.9.9".parse().unwrap();

        let a = c.for_connection("alice", wan, &[]);
        assert!(!a.password_authentication && a.x11_forwarding);
        assert_eq!(a.max_auth_tries, 6);
        // First matching block wins over a later one.
        let a = c.for_connection("alice", lan, &[]);
        assert!(!a.password_authentication);
        assert_eq!(a.max_auth_tries, 2);
        assert_eq!(a.accept_env, ["GIT_*"]);
        let e = c.for_connection("eve", lan, &["users".into(), "wheel".into()]);
        assert!(e.password_authentication && !e.permit_tty);
        let e = c.for_connection("eve", excluded, &[]);
        assert_eq!(e.max_auth_tries, 6);
        assert_eq!(e.accept_env, ["LANG"]);
        // v4-mapped v6 peers match v4 networks.
        let e = c.for_connection("eve", "::ffff:192.168.1.5".parse().unwrap(), &[]);
        assert_eq!(e.max_auth_tries, 2);
        let info = ConnectionInfo {
            user: "eve",
            groups: &[],
            addr: wan,
            host: None,
            local_addr: None,
            local_port: Some(2022),
            rdomain: None,
        };
        assert_eq!(
            c.for_connection_info(&info).banner,
            Some(PathBuf::from("/etc/issue.net"))
        );
        assert_eq!(c.for_connection("eve", wan, &[]).banner, None);
    }

    #[test]
    fn match_all_and_restrictions() {
        let c = parse("PasswordAuthentication no\nMatch User bob\n  MaxSessions 1\nMatch all\nPort 2022\nPasswordAuthentication yes\n");
        // Match all applies at load (after the global value, which wins) ...
        assert_eq!(c.port, [2022]);
        assert!(!c.password_authentication);
        // ... and per connection, where it overrides like any Match block.
        let x = c.for_connection("carol", "10.1.1.1".parse().unwrap(), &[]);
        assert!(x.password_authentication);
        assert_eq!(x.max_sessions, 10);
        assert_eq!(
            c.for_connection("bob", "10.1.1.1".parse().unwrap(), &[]).max_sessions,
            1
        );

        let e = err("Match User bob\n  Port 22\n");
        assert_eq!(
            e,
            "/etc/tobira/tobirad_config line 2: Directive 'Port' is not allowed within a Match block"
        );
        assert!(err("Match User bob\n  MaxSessions lots\n").contains("line 2"));
        assert!(err("Match Color blue\n").contains("Unsupported Match attribute Color"));
        assert!(err("Match User\n").contains("Missing Match criteria"));
        assert!(err("Match all User bob\n").contains("cannot be combined"));
        assert!(err("Match Address 10.0.0.1/8\n").contains("Bad Match condition"));
        assert!(err("Match User bob\n  Frob x\n").contains("Bad configuration option: Frob"));
        let c = parse("Match User bob\n  ChrootDirectory /srv\n");
        assert_eq!(
            c.warnings,
            ["/etc/tobira/tobirad_config line 2: Unsupported option ChrootDirectory"]
        );
        assert!(err("Match User bob\n  UsePAM yes\n").contains("not allowed within a Match block"));
    }

    #[test]
    fn include_files() {
        let d = tmpdir("include");
        std::fs::create_dir_all(d.join("conf.d")).unwrap();
        std::fs::write(d.join("conf.d/10-a.conf"), "PasswordAuthentication no\nPort 2200\n").unwrap();
        std::fs::write(
            d.join("conf.d/20-b.conf"),
            "PasswordAuthentication yes\nMaxAuthTries 4\n",
        )
        .unwrap();
        std::fs::write(d.join("conf.d/ignored.txt"), "Bogus option\n").unwrap();
        std::fs::write(
            d.join("bob.conf"),
            "MaxSessions 2\nMatch Address 10.0.0.0/8\n  MaxSessions 3\n",
        )
        .unwrap();
        let main = d.join("tobirad_config");
        let text = "Include conf.d/*.conf\nInclude nothing-here/*.conf\nPort 22\nMatch User bob\n  Include bob.conf\n  PermitTTY no\n";
        std::fs::write(&main, text).unwrap();
        let c = load_server_config(Some(&main), &[], false).unwrap();
        assert!(!c.password_authentication);
        assert_eq!(c.max_auth_tries, 4);
        assert_eq!(c.port, [2200, 22]);
        let out: IpAddr = "192.0.2.1".parse().unwrap();
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        let b = c.for_connection("bob", out, &[]);
        assert_eq!(b.max_sessions, 2);
        assert!(!b.permit_tty);
        // The included Match only applies within the including one.
        assert_eq!(c.for_connection("bob", inside, &[]).max_sessions, 2);
        assert_eq!(c.for_connection("alice", inside, &[]).max_sessions, 10);
        assert!(c.for_connection("alice", out, &[]).permit_tty);

        // Absolute include and error locations inside included files.
        std::fs::write(d.join("bad.conf"), "\nNoSuchThing 1\n").unwrap();
        let e = parse_server_config(&main, &format!("Include {}\n", d.join("bad.conf").display()), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}: line 2: Bad configuration option: NoSuchThing",
                d.join("bad.conf").display()
            )
        );

        // Recursion is bounded.
        std::fs::write(d.join("loop.conf"), "Include loop.conf\n").unwrap();
        let e = parse_server_config(&main, "Include loop.conf\n", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Too many recursive configuration includes"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn debian_stock_sshd_config_parses() {
        let p = Path::new("/etc/ssh/sshd_config");
        if !p.exists() {
            return;
        }
        let c = match load_server_config(Some(p), &[], true) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        if std::fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l.trim() == "UsePAM yes")) {
            assert!(
                c.warnings.iter().any(|w| w.ends_with("Unsupported option UsePAM")),
                "{:?}",
                c.warnings
            );
        }
    }
}
