//! `tobira`: the tobira SSH client (OpenSSH `ssh` command line).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tobira::client::{connect, ClientError, ClientSettings};
use tobira::client_auth::{AuthSettings, Authenticator};
use tobira::config::client::{Forward, IdentityAgent};
use tobira::config::LogLevel;
use tobira::host_key_update::{HostKeyUpdate, UpdateSettings};
use tobira::trust::{decide, StrictMode, TrustSettings, Trusted};

/// tobira SSH client.
#[derive(Parser, Debug)]
// A flag given twice is taken, as ssh takes it (`-n -n`, `-4 -4`).
#[command(
    name = "tobira",
    disable_version_flag = true,
    disable_help_flag = false,
    args_override_self = true
)]
struct Args {
    /// Use IPv4 addresses only.
    #[arg(short = '4')]
    ipv4: bool,
    /// Use IPv6 addresses only.
    #[arg(short = '6')]
    ipv6: bool,
    /// Request compression.
    #[arg(short = 'C')]
    compress: bool,
    /// Forward the authentication agent.
    #[arg(short = 'A')]
    forward_agent: bool,
    /// Do not forward the authentication agent.
    #[arg(short = 'a')]
    no_forward_agent: bool,
    /// Do not execute a remote command.
    #[arg(short = 'N')]
    no_command: bool,
    /// Go to the background once logged in (implies `-n`), as `ssh -f`.
    #[arg(short = 'f')]
    fork: bool,
    /// Internal: the background copy started by `-f`.
    #[arg(long = "background-child", hide = true)]
    background_child: bool,
    /// Read standard input from /dev/null (send nothing to the command).
    #[arg(short = 'n')]
    null_stdin: bool,
    /// Request the command as a subsystem (`tobira -s host sftp`), as
    /// scp(1) and sftp(1) run their transport (RFC 4254 §6.5).
    #[arg(short = 's')]
    subsystem: bool,
    /// Print the configuration for the destination, as `ssh -G`, and exit
    /// without connecting.
    #[arg(short = 'G')]
    print_config: bool,
    /// Disable X11 forwarding: accepted for scripts (scp passes it);
    /// tobira never forwards X11.
    #[arg(short = 'x')]
    no_x11: bool,
    /// Disable GSSAPI credential forwarding: accepted for scripts; tobira
    /// has no GSSAPI.
    #[arg(short = 'k')]
    no_gssapi_delegation: bool,
    /// Local address to connect from (`BindAddress`).
    #[arg(short = 'b')]
    bind_address: Option<String>,
    /// Escape character (`EscapeChar`: a character, `^X`, or `none`).
    #[arg(short = 'e')]
    escape: Option<String>,
    /// Quiet mode.
    #[arg(short = 'q')]
    quiet: bool,
    /// Disable pseudo-terminal allocation.
    #[arg(short = 'T')]
    no_tty: bool,
    /// Force pseudo-terminal allocation.
    #[arg(short = 't', action = clap::ArgAction::Count)]
    tty: u8,
    /// Print the version and exit.
    #[arg(short = 'V')]
    version: bool,
    /// Verbose mode (repeatable).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    /// Cipher specification (comma-separated). Given twice, the last one
    /// counts, as in OpenSSH.
    #[arg(short = 'c')]
    cipher_spec: Option<String>,
    /// MAC specification (comma-separated); the last one counts.
    #[arg(short = 'm')]
    mac_spec: Option<String>,
    /// Dynamic forwarding.
    #[arg(short = 'D')]
    dynamic: Vec<String>,
    /// Append debug logs to this file; the last one counts.
    #[arg(short = 'E')]
    log_file: Option<PathBuf>,
    /// Configuration file; the last one counts.
    #[arg(short = 'F')]
    config_file: Option<PathBuf>,
    /// Identity file.
    #[arg(short = 'i')]
    identity: Vec<PathBuf>,
    /// Jump host.
    #[arg(short = 'J')]
    jump: Option<String>,
    /// Local forwarding.
    #[arg(short = 'L')]
    local: Vec<String>,
    /// Remote forwarding.
    #[arg(short = 'R')]
    remote: Vec<String>,
    /// Login name. Given twice, the first one counts, as in OpenSSH.
    #[arg(short = 'l', action = clap::ArgAction::Append)]
    login: Vec<String>,
    /// Option in Keyword=value form (repeatable).
    #[arg(short = 'o')]
    options: Vec<String>,
    /// Port; the first one counts, as in OpenSSH.
    #[arg(short = 'p', action = clap::ArgAction::Append)]
    port: Vec<u16>,
    /// Stdio forwarding.
    #[arg(short = 'W')]
    stdio: Option<String>,
    /// Query supported algorithms: kex, cipher, mac, key, key-sig, compression…
    #[arg(short = 'Q')]
    query: Option<String>,
    /// Print every packet, decoded, to standard error.
    #[arg(long)]
    trace: bool,
    /// [user@]host or ssh://[user@]host[:port]
    destination: Option<String>,
    /// Remote command.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Prints `msg` (which may quote the server: a disconnect reason, its
/// method names) made safe for the terminal, and returns 255.
fn fail(msg: &str) -> ExitCode {
    eprintln!("{}", tobira_cli::safe_text::printable(msg));
    ExitCode::from(255)
}

fn query(kind: &str) -> Option<Vec<&'static str>> {
    use tobira_proto::algorithms::*;
    Some(match kind.to_ascii_lowercase().as_str() {
        "kex" | "kexalgorithms" => KEX_SUPPORTED.to_vec(),
        "cipher" | "ciphers" => CIPHER_SUPPORTED.to_vec(),
        "cipher-auth" => CIPHER_SUPPORTED
            .iter()
            .copied()
            .filter(|c| c.contains("gcm") || c.contains("poly1305"))
            .collect(),
        "mac" | "macs" => MAC_SUPPORTED.to_vec(),
        "key" | "key-plain" => vec![
            "ssh-ed25519",
            "ssh-ed448",
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp521",
            "ssh-dss",
            "ssh-rsa",
        ],
        "protocol-version" => vec!["2"],
        "key-sig" | "sig" | "pubkeyacceptedalgorithms" => PUBKEY_SUPPORTED.to_vec(),
        "hostkeyalgorithms" => HOSTKEY_SUPPORTED.to_vec(),
        "compression" => COMPRESSION_SUPPORTED.to_vec(),
        _ => return None,
    })
}

/// Splits `[user@]host` or `ssh://[user@]host[:port]`.
fn parse_destination(d: &str) -> Result<(Option<String>, String, Option<u16>), String> {
    if let Some(rest) = d.strip_prefix("ssh://") {
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        let hostport = hostport.trim_end_matches('/');
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, tail) = h.split_once(']').ok_or("bad destination")?;
            (
                h.to_string(),
                tail.strip_prefix(':')
                    .map(str::parse)
                    .transpose()
                    .map_err(|_| "bad port")?,
            )
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.parse().map_err(|_| "bad port")?)),
                None => (hostport.to_string(), None),
            }
        };
        return Ok((user, host, port));
    }
    Ok(match d.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h.to_string(), None),
        None => (None, d.to_string(), None),
    })
}

/// `-e`'s argument as ssh(1) reads it: `^X` (a control character), one
/// character, or `none`; `None` for anything else. `Some(None)` is `none`.
fn escape_flag(arg: &str) -> Option<Option<u8>> {
    match arg.as_bytes() {
        [b'^', c] if (64..128).contains(c) => Some(Some(c & 31)),
        [c] => Some(Some(*c)),
        _ if arg == "none" => Some(None),
        _ => None,
    }
}

/// The `-o` options, after the settings of `-c`, `-m`, `-C`, `-b`, `-4` and `-6`: these
/// come first, so that they win over `-o` and the configuration files
/// (where the first value wins), as in ssh.
fn config_options(args: &Args) -> Vec<String> {
    let mut options = Vec::new();
    if let Some(c) = &args.cipher_spec {
        options.push(format!("Ciphers={c}"));
    }
    if let Some(m) = &args.mac_spec {
        options.push(format!("MACs={m}"));
    }
    if args.compress {
        options.push("Compression=yes".into());
    }
    if let Some(b) = &args.bind_address {
        options.push(format!("BindAddress={b}"));
    }
    // Of -4 and -6 the last one counts (`parse_args`), as in ssh.
    match (args.ipv4, args.ipv6) {
        (true, false) => options.push("AddressFamily=inet".into()),
        (false, true) => options.push("AddressFamily=inet6".into()),
        _ => {}
    }
    options.extend(args.options.iter().cloned());
    options
}

/// Parses the command line; of `-q` and `-v`, and of `-4` and `-6`, the
/// one given last wins, as in OpenSSH (`-q` sets the log level to quiet, a
/// first `-v` sets it to debug1 whatever came before).
fn parse_args() -> Result<Args, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Args::command().try_get_matches()?;
    let mut args = Args::from_arg_matches(&matches)?;
    // Flags have defaults too; only those given on the command line count.
    let last = |id: &str| {
        (matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
            .then(|| matches.indices_of(id).and_then(|i| i.max()))
            .flatten()
    };
    if let (Some(q), Some(v)) = (last("quiet"), last("verbose")) {
        if q > v {
            args.verbose = 0;
        } else {
            args.quiet = false;
        }
    }
    // Of -4 and -6 too.
    if let (Some(four), Some(six)) = (last("ipv4"), last("ipv6")) {
        args.ipv4 = four > six;
        args.ipv6 = six > four;
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(255);
        }
    };
    if args.version {
        eprintln!(
            "{}",
            tobira_proto::transport::ident::local_ident().trim_start_matches("SSH-2.0-")
        );
        return ExitCode::SUCCESS;
    }
    if let Some(q) = &args.query {
        return match query(q) {
            Some(list) => {
                for a in list {
                    println!("{a}");
                }
                ExitCode::SUCCESS
            }
            None => fail(&format!("Unsupported query \"{q}\"")),
        };
    }
    let usage = "usage: tobira [-46AaCfGkNnqsTtVvx] [-b bind_address] [-c cipher_spec] [-D [bind:]port]\n              [-E log_file] [-e escape_char] [-F configfile] [-i identity_file]\n              [-J destination] [-L address] [-l login_name] [-m mac_spec] [-o option]\n              [-p port] [-R address] [-W host:port] [--trace]\n              destination [command [argument ...]]";
    // Checked before connecting, as ssh does, not after a password.
    if args.subsystem && args.command.is_empty() && !args.no_command && args.stdio.is_none() {
        return fail(&format!("You must specify a subsystem to invoke.\n{usage}"));
    }
    if args.fork && args.command.is_empty() && !args.no_command && args.stdio.is_none() {
        return fail("Cannot fork into background without a command to execute.");
    }
    let escape_char = match args.escape.as_deref().map(escape_flag) {
        None => None,
        Some(Some(e)) => Some(e),
        Some(None) => {
            return fail(&format!(
                "Bad escape character '{}'.",
                args.escape.as_deref().unwrap_or_default()
            ));
        }
    };
    if args.fork && !args.background_child && !args.print_config {
        return ExitCode::from(tobira_cli::background::start_and_wait());
    }
    let Some(dest) = args.destination.clone() else {
        return fail(usage);
    };
    use tobira::config::client::{parse_forward, ForwardKind};
    let mut cli_forwards = (Vec::new(), Vec::new(), Vec::new());
    for (specs, kind) in [
        (&args.local, ForwardKind::Local),
        (&args.remote, ForwardKind::Remote),
        (&args.dynamic, ForwardKind::Dynamic),
    ] {
        for spec in specs {
            match parse_forward(spec, kind) {
                Ok(f) => match kind {
                    ForwardKind::Local => cli_forwards.0.push(f),
                    ForwardKind::Remote => cli_forwards.1.push(f),
                    ForwardKind::Dynamic => cli_forwards.2.push(f),
                },
                Err(e) => return fail(&e),
            }
        }
    }
    let (dest_user, host, dest_port) = match parse_destination(&dest) {
        Ok(x) => x,
        Err(e) => return fail(&format!("tobira: {e}: {dest}")),
    };
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let local_user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".into());
    let options = config_options(&args);
    let user_override = args.login.first().cloned().or(dest_user);
    let cfg = match tobira::config::client::resolve_client_config(
        &host,
        user_override.as_deref(),
        args.port.first().copied().or(dest_port),
        &options,
        args.config_file.as_deref(),
        &home,
        &local_user,
    ) {
        Ok(c) => c,
        Err(e) => return fail(&format!("{e}")),
    };
    // The command line's forwards, then the files'; none at all with
    // `ClearAllForwardings yes` (as scp and sftp pass it), as in ssh.
    let forwards = |cli: &[Forward], file: &[Forward]| -> Vec<Forward> {
        if cfg.clear_all_forwardings {
            Vec::new()
        } else {
            cli.iter().chain(file).cloned().collect()
        }
    };
    let (local_forwards, remote_forwards, dynamic_forwards) = (
        forwards(&cli_forwards.0, &cfg.local_forward),
        forwards(&cli_forwards.1, &cfg.remote_forward),
        forwards(&cli_forwards.2, &cfg.dynamic_forward),
    );
    if args.print_config {
        // With what the flags set apart from `-o`, as ssh -G shows it.
        let mut shown = cfg.clone();
        shown.local_forward = local_forwards;
        shown.remote_forward = remote_forwards;
        shown.dynamic_forward = dynamic_forwards;
        if let Some(j) = &args.jump {
            shown.proxy_jump = Some(j.clone());
        }
        if let Some(e) = escape_char {
            shown.escape_char = e;
        }
        shown.log_level = effective_log_level(args.quiet, args.verbose, shown.log_level);
        print!("{}", shown.to_ssh_g());
        return ExitCode::SUCCESS;
    }
    let level = if args.quiet { 0 } else { 1 + args.verbose };
    let _ = tobira_cli::logging::init(level.saturating_sub(1), args.log_file.as_deref(), "tobira");
    let mode: StrictMode = cfg.strict_host_key_checking;
    let trust = TrustSettings {
        user_files: cfg.user_known_hosts_file.clone(),
        global_files: cfg.global_known_hosts_file.clone(),
        mode,
        hash: cfg.hash_known_hosts,
        batch: cfg.batch_mode,
    };
    // Unless HostKeyAlgorithms is set, the types of the keys already known
    // for the host are asked for first, as ssh(1) does: a host known by its
    // RSA key is not met with a new Ed25519 key to take on trust.
    let host_key = if cfg.host_key_algorithms_set {
        cfg.host_key_algorithms.clone()
    } else {
        let files: Vec<PathBuf> = trust.user_files.iter().chain(&trust.global_files).cloned().collect();
        match tobira::known_hosts::KnownHosts::load(&files) {
            Ok(known) => known.prefer_known(&cfg.host_name, cfg.port, &cfg.host_key_algorithms),
            Err(_) => cfg.host_key_algorithms.clone(),
        }
    };
    let proto = tobira_proto::Config {
        kex: cfg.kex_algorithms.clone(),
        host_key,
        cipher: cfg.ciphers.clone(),
        mac: cfg.macs.clone(),
        compression: if cfg.compression {
            owned(tobira_proto::algorithms::COMPRESSION_YES)
        } else {
            owned(tobira_proto::algorithms::COMPRESSION_DEFAULT)
        },
        rekey_bytes: cfg.rekey_limit.bytes_or_default(),
        trace: args.trace,
        // Windows reopen as the data is written on (channel_consumed),
        // not as it arrives: what the peer sends is bounded by what we
        // pass on.
        auto_window_adjust: false,
        ..tobira_proto::Config::default()
    };
    let settings = ClientSettings {
        host: cfg.host_name.clone(),
        port: cfg.port,
        user: cfg.user.clone(),
        proto: Arc::new(proto),
        connect_timeout: cfg
            .connect_timeout
            .filter(|d| !d.is_zero())
            .or(Some(Duration::from_secs(60))),
        rekey_interval: cfg.rekey_limit.interval,
        address_family: cfg.address_family,
        bind_address: cfg.bind_address.clone(),
        connection_attempts: cfg.connection_attempts,
    };
    let verbose = args.verbose;
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("tobira: {e}")),
    };
    let host_for_trust = cfg.host_name.clone();
    let port = cfg.port;
    let quiet = args.quiet;
    let log_level = cfg.log_level;
    // How the host key came to be trusted, for UpdateHostKeys.
    let trusted = std::sync::Mutex::new(None::<Trusted>);
    let mut verify = |_alg: &str, blob: &[u8]| -> Result<(), String> {
        let key = tobira::pubkey::AnyPublicKey::from_blob(blob).map_err(|e| format!("bad host key: {e}"))?;
        if verbose > 0 {
            eprintln!("debug1: Server host key: {} {}", key.key_type(), key.fingerprint());
        }
        decide(
            &trust,
            &host_for_trust,
            port,
            &key,
            &mut tobira_cli::tty::ask,
            &mut |level, m| {
                if !quiet && log_level >= level {
                    eprint!("{m}");
                }
            },
        )
        .map(|t| {
            if let Ok(mut slot) = trusted.lock() {
                *slot = Some(t);
            }
        })
    };
    let agent = match &cfg.identity_agent {
        IdentityAgent::None => None,
        IdentityAgent::Default => std::env::var_os("SSH_AUTH_SOCK")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        IdentityAgent::Env(name) => std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from),
        IdentityAgent::Socket(p) => Some(p.clone()),
    };
    let mut identity_files: Vec<PathBuf> = args.identity.clone();
    for f in &cfg.identity_file {
        if !identity_files.contains(f) && (!cfg.identity_file_is_default || f.exists()) {
            identity_files.push(f.clone());
        }
    }
    let preferred = if cfg.preferred_authentications.is_empty() {
        vec![
            "publickey".to_string(),
            "keyboard-interactive".to_string(),
            "password".to_string(),
        ]
    } else {
        cfg.preferred_authentications.clone()
    };
    let mut auth = Authenticator::new(AuthSettings {
        user: cfg.user.clone(),
        host: cfg.host_name.clone(),
        preferred,
        pubkey: cfg.pubkey_authentication,
        password: cfg.password_authentication,
        kbd_interactive: cfg.kbd_interactive_authentication,
        identity_files,
        identities_only: cfg.identities_only,
        agent,
        batch: cfg.batch_mode,
        password_prompts: cfg.number_of_password_prompts,
        pubkey_algorithms: cfg.pubkey_accepted_algorithms.clone(),
    });
    let mut prompter = tobira_cli::tty::TtyPrompter {
        batch: cfg.batch_mode,
        quiet: args.quiet,
    };
    let trace_on = args.trace;
    let mut trace = |t: &str| eprintln!("{t}");
    // ProxyJump (-J) runs `tobira -W host:port jump`; ProxyCommand runs the
    // command through the shell; either way its stdin/stdout carry SSH.
    let jump = args
        .jump
        .clone()
        .or_else(|| cfg.proxy_jump.clone())
        .filter(|j| j != "none");
    let proxy: Option<(String, Vec<String>)> = match (&jump, &cfg.proxy_command) {
        (Some(j), _) => {
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "tobira".into());
            let (rest, last) = match j.rsplit_once(',') {
                Some((r, l)) => (Some(r.to_string()), l.to_string()),
                None => (None, j.clone()),
            };
            let mut a = Vec::new();
            if let Some(f) = &args.config_file {
                a.push("-F".to_string());
                a.push(f.display().to_string());
            }
            if args.quiet {
                a.push("-q".into());
            }
            if let Some(r) = rest {
                a.push("-J".into());
                a.push(r);
            }
            a.push("-W".into());
            a.push(format!("[{}]:{}", cfg.host_name, cfg.port));
            // [user@]host[:port], as ssh's -J takes it.
            let has_port = last
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            a.push(if has_port && !last.starts_with("ssh://") {
                format!("ssh://{last}")
            } else {
                last
            });
            Some((exe, a))
        }
        (None, Some(cmd)) if cmd != "none" => {
            let expanded = cmd
                .replace("%%", "\u{0}")
                .replace("%h", &cfg.host_name)
                .replace("%p", &cfg.port.to_string())
                .replace("%r", &cfg.user)
                .replace("%n", &host)
                .replace('\u{0}', "%");
            Some(("/bin/sh".into(), vec!["-c".into(), expanded]))
        }
        _ => None,
    };
    let result = rt.block_on(async {
        match &proxy {
            None => connect(&settings, &mut verify, &mut auth, &mut prompter, &mut trace).await,
            Some((prog, pargs)) => {
                let child = tokio::process::Command::new(prog)
                    .args(pargs)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn();
                let mut child = match child {
                    Ok(c) => c,
                    Err(e) => return Err(ClientError::Session(format!("proxy command {prog}: {e}"))),
                };
                let (Some(out), Some(inp)) = (child.stdout.take(), child.stdin.take()) else {
                    return Err(ClientError::Session("proxy command has no pipes".into()));
                };
                // The child lives as long as the connection: leaked into the task.
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
                let stream: tobira::client::BoxStream = Box::new(tokio::io::join(out, inp));
                tobira::client::handshake(&settings, stream, &mut verify, &mut auth, &mut prompter, &mut trace).await
            }
        }
    });
    if verbose > 0 {
        for line in &auth.debug {
            eprintln!("{line}");
        }
    }
    match result {
        Ok((driver, out)) => {
            if verbose > 0 {
                eprintln!("debug1: Remote protocol version {}", out.server_ident);
                if let Some(n) = &out.negotiated {
                    eprintln!("debug1: kex: algorithm: {}", n.kex);
                    eprintln!("debug1: kex: host key algorithm: {}", n.host_key);
                    eprintln!(
                        "debug1: kex: server->client cipher: {} MAC: {} compression: {}",
                        n.cipher_s2c, n.mac_s2c, n.comp_s2c
                    );
                    eprintln!(
                        "debug1: kex: client->server cipher: {} MAC: {} compression: {}",
                        n.cipher_c2s, n.mac_c2s, n.comp_c2s
                    );
                }
                if out.strict {
                    eprintln!("debug1: kex: strict KEX mode enabled");
                }
                if let Some(algs) = &out.server_sig_algs {
                    eprintln!("debug1: kex_input_ext_info: server-sig-algs=<{}>", algs.join(","));
                }
            }
            if verbose > 0 || trace_on {
                let shown = tobira::known_hosts::host_name_for(&cfg.host_name, cfg.port);
                let shown = if shown.starts_with('[') {
                    shown
                } else {
                    format!("[{shown}]:{}", cfg.port)
                };
                eprintln!(
                    "Authenticated to {} ({}) using \"{}\".",
                    cfg.host_name, shown, out.auth_method
                );
            }
            let command = if args.command.is_empty() {
                None
            } else {
                Some(args.command.join(" "))
            };
            let stdio = match &args.stdio {
                Some(w) => {
                    let parsed = w.rsplit_once(':').and_then(|(h, p)| {
                        p.parse::<u16>()
                            .ok()
                            .map(|p| (h.trim_matches(['[', ']']).to_string(), p))
                    });
                    match parsed {
                        Some(x) => Some(x),
                        None => return fail(&format!("tobira: Bad stdio forwarding specification '{w}'")),
                    }
                }
                None => None,
            };
            // Standard input is a terminal we read (not with -n or -f).
            let stdin_tty =
                !args.null_stdin && !args.background_child && std::io::IsTerminal::is_terminal(&std::io::stdin());
            use tobira::config::client::RequestTty;
            let want_tty = if args.no_tty {
                false
            } else if args.tty >= 2 {
                true
            } else if args.tty == 1 {
                if !stdin_tty && !args.quiet {
                    eprintln!("Pseudo-terminal will not be allocated because stdin is not a terminal.");
                }
                stdin_tty
            } else {
                match cfg.request_tty {
                    RequestTty::Force => true,
                    RequestTty::Yes => stdin_tty,
                    RequestTty::No => false,
                    RequestTty::Auto => command.is_none() && stdin_tty,
                }
            };
            let mut env: Vec<(String, String)> = std::env::vars()
                .filter(|(k, _)| {
                    cfg.send_env
                        .iter()
                        .flat_map(|p| p.split_whitespace())
                        .any(|p| tobira::config::match_pattern(k, p))
                })
                .collect();
            env.extend(cfg.set_env.iter().cloned());
            use tobira::config::client::ForwardAgent;
            let agent_to_forward = if args.no_forward_agent {
                None
            } else {
                match (&cfg.forward_agent, args.forward_agent) {
                    (ForwardAgent::Socket(s), _) => {
                        let s = s
                            .strip_prefix('$')
                            .map(|v| std::env::var(v).unwrap_or_default())
                            .unwrap_or_else(|| s.clone());
                        Some(PathBuf::from(s))
                    }
                    (ForwardAgent::Yes, _) | (_, true) => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
                    _ => None,
                }
            };
            let trusted = trusted.lock().ok().and_then(|t| *t);
            let host_key_update = host_key_update(&cfg, trusted, args.quiet);
            let opts = tobira_cli::session::SessionOptions {
                command,
                subsystem: args.subsystem,
                null_stdin: args.null_stdin || args.background_child,
                background: args.background_child,
                want_tty,
                no_session: args.no_command,
                env,
                escape_char: escape_char.unwrap_or(cfg.escape_char),
                alive_interval: cfg.server_alive_interval,
                alive_count_max: cfg.server_alive_count_max,
                host: cfg.host_name.clone(),
                quiet: args.quiet,
                local_forwards,
                remote_forwards,
                dynamic_forwards,
                exit_on_forward_failure: cfg.exit_on_forward_failure,
                stdio_forward: stdio,
                forward_agent: agent_to_forward,
                verbose: verbose > 0,
                log_level: effective_log_level(args.quiet, verbose, cfg.log_level),
                host_key_update,
            };
            let code = rt.block_on(tobira_cli::session::run(driver, opts));
            // A blocked stdin read must not keep the process alive.
            rt.shutdown_background();
            ExitCode::from(code)
        }
        Err(ClientError::HostKeyRejected(msg)) => fail(msg.trim_end()),
        Err(e @ ClientError::PermissionDenied { .. }) => fail(&e.to_string()),
        Err(e) => fail(&format!("tobira: {e}")),
    }
}

/// The level messages are shown at: `LogLevel`, raised by each `-v` to
/// DEBUG1..3 and silenced by `-q`, as ssh(1) does.
fn effective_log_level(quiet: bool, verbose: u8, configured: LogLevel) -> LogLevel {
    match (quiet, verbose) {
        (true, _) => LogLevel::Quiet,
        (false, 0) => configured,
        (false, 1) => LogLevel::Debug1,
        (false, 2) => LogLevel::Debug2,
        _ => LogLevel::Debug3,
    }
}

/// The connection's `UpdateHostKeys` updater: only when the host key was
/// listed in the user's own files or confirmed by the user, as ssh(1)'s
/// `check_host_key` decides, and never `ask` in batch mode.
fn host_key_update(
    cfg: &tobira::config::client::ClientConfig,
    trusted: Option<Trusted>,
    quiet: bool,
) -> Option<HostKeyUpdate> {
    use tobira::config::client::UpdateHostKeys;
    if cfg.update_host_keys == UpdateHostKeys::No || (cfg.update_host_keys == UpdateHostKeys::Ask && cfg.batch_mode) {
        return None;
    }
    match trusted {
        Some(t) if t.may_update_known_hosts() => HostKeyUpdate::new(UpdateSettings {
            mode: cfg.update_host_keys,
            user_files: cfg.user_known_hosts_file.clone(),
            hash: cfg.hash_known_hosts,
            host: cfg.host_name.clone(),
            port: cfg.port,
            host_key_algorithms: cfg.host_key_algorithms.clone(),
        }),
        Some(Trusted::Unverified) => {
            if !quiet && cfg.log_level >= LogLevel::Error {
                eprintln!("UpdateHostkeys is disabled because the host key is not trusted.");
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Args::command().debug_assert();
    }

    /// Options given twice are taken as ssh(1) takes them: the first `-p`
    /// and `-l`, the last `-c`, `-m`, `-E` and `-F`; `-i`, `-L` and `-o`
    /// add up. (OpenSSH 9.2's `ssh -G` agrees.)
    #[test]
    fn options_given_twice_are_taken_as_ssh_takes_them() {
        use clap::Parser;
        let a = super::Args::try_parse_from([
            "tobira",
            "-p",
            "2201",
            "-l",
            "alice",
            "-c",
            "aes128-ctr",
            "-m",
            "hmac-sha2-256",
            "-E",
            "/tmp/a",
            "-F",
            "/tmp/fa",
            "-i",
            "k1",
            "-p",
            "2202",
            "-l",
            "bob",
            "-c",
            "aes256-ctr",
            "-m",
            "hmac-sha2-512",
            "-E",
            "/tmp/b",
            "-F",
            "/tmp/fb",
            "-i",
            "k2",
            "host",
            "true",
        ])
        .unwrap();
        assert_eq!(a.port.first(), Some(&2201));
        assert_eq!(a.login.first().map(String::as_str), Some("alice"));
        assert_eq!(a.cipher_spec.as_deref(), Some("aes256-ctr"));
        assert_eq!(a.mac_spec.as_deref(), Some("hmac-sha2-512"));
        assert_eq!(a.log_file.as_deref(), Some(std::path::Path::new("/tmp/b")));
        assert_eq!(a.config_file.as_deref(), Some(std::path::Path::new("/tmp/fb")));
        assert_eq!(a.identity.len(), 2);
        assert_eq!(a.destination.as_deref(), Some("host"));
        assert_eq!(a.command, ["true"]);
    }

    /// `-c`, `-m` and `-C` win over the same settings given with `-o`
    /// (before or after them), as in ssh, and so does `-e`, read as ssh
    /// reads it; scp's and sftp's flags
    /// (`-x`, `-s`, `-oForwardX11 no`, `--`) are taken.
    #[test]
    fn flags_win_over_dash_o_and_scp_flags_are_taken() {
        use clap::Parser;
        let a = super::Args::try_parse_from([
            "tobira",
            "-oCiphers=aes128-ctr",
            "-c",
            "aes256-gcm@openssh.com",
            "-e",
            "^A",
            "-o",
            "EscapeChar=none",
            "-C",
            "-m",
            "hmac-sha2-512",
            "-x",
            "-k",
            "-n",
            "-oForwardX11 no",
            "-l",
            "u",
            "-s",
            "--",
            "host",
            "sftp",
        ])
        .unwrap();
        let o = super::config_options(&a);
        let first = |kw: &str| o.iter().find(|x| x.starts_with(kw)).cloned();
        assert_eq!(first("Ciphers="), Some("Ciphers=aes256-gcm@openssh.com".into()));
        assert_eq!(first("MACs="), Some("MACs=hmac-sha2-512".into()));
        assert_eq!(first("Compression="), Some("Compression=yes".into()));
        // -e is applied over the resolved configuration instead.
        assert_eq!(first("EscapeChar="), Some("EscapeChar=none".into()));
        assert_eq!(a.escape.as_deref().map(super::escape_flag), Some(Some(Some(1))));
        for (arg, want) in [
            ("~", Some(Some(b'~'))),
            ("#", Some(Some(b'#'))),
            ("\"", Some(Some(b'"'))),
            (" ", Some(Some(b' '))),
            ("none", Some(None)),
            ("^?", None),
            ("ab", None),
            ("^", Some(Some(b'^'))),
            ("^\u{1}", None),
        ] {
            assert_eq!(super::escape_flag(arg), want, "-e {arg:?}");
        }
        assert!(o.contains(&"ForwardX11 no".to_string()));
        assert!(a.subsystem && a.null_stdin && a.no_x11);
        assert_eq!(a.destination.as_deref(), Some("host"));
        assert_eq!(a.command, ["sftp"]);
    }
}
