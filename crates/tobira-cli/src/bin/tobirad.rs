//! `tobirad`: the tobira SSH server (OpenSSH `sshd` command line).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tobira::config::server::{load_server_config, ServerConfig};
use tobira::server::{serve, ServerSettings};
use tracing::{error, info, warn};

/// jemalloc instead of glibc's malloc: with a thousand busy sessions
/// glibc's per-thread arenas kept almost all of the memory the sessions
/// had used (8 of 8.6 GB) after they closed; jemalloc returns it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// tobira SSH server.
#[derive(Parser, Debug)]
#[command(name = "tobirad", disable_version_flag = true, disable_help_flag = true)]
struct Args {
    /// Print help.
    #[arg(long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Stay in the foreground (the default).
    #[arg(short = 'D')]
    foreground: bool,
    /// Debug mode: verbose logging in the foreground (repeatable).
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    debug: u8,
    /// Log to standard error.
    #[arg(short = 'e')]
    stderr: bool,
    /// Test mode: check the configuration and keys, then exit.
    #[arg(short = 't')]
    test: bool,
    /// Configuration file (sshd_config syntax).
    #[arg(short = 'f')]
    config_file: Option<PathBuf>,
    /// Host key file (repeatable).
    #[arg(short = 'h')]
    host_keys: Vec<PathBuf>,
    /// Port to listen on.
    #[arg(short = 'p')]
    port: Vec<u16>,
    /// Configuration option in Keyword=value form (repeatable).
    #[arg(short = 'o')]
    options: Vec<String>,
    /// Append logs to this file.
    #[arg(short = 'E')]
    log_file: Option<PathBuf>,
    /// Print every packet, decoded, to standard error.
    #[arg(long)]
    trace: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // No session program may inherit what tobirad's parent left open.
    tobira::inherited_fds::close_inherited_on_exec();
    // Before any thread: session programs are started by a small process
    // of its own (see tobira::spawner), which forks far more cheaply than
    // the server could.
    if !args.test {
        if let Err(e) = tobira::spawner::start("tobirad-spawner") {
            eprintln!("tobirad: warning: {e}; session programs are forked by the server itself");
        }
    }
    let is_root = nix::unistd::geteuid().is_root();
    let mut overrides = args.options.clone();
    for p in &args.port {
        overrides.push(format!("Port={p}"));
    }
    for h in &args.host_keys {
        overrides.push(format!("HostKey={}", h.display()));
    }
    let cfg = match load_server_config(args.config_file.as_deref(), &overrides, is_root) {
        Ok(c) => with_default_subsystems(c),
        Err(e) => {
            eprintln!("tobirad: {e}");
            return ExitCode::from(if args.test { 1 } else { 255 });
        }
    };
    for w in &cfg.warnings {
        eprintln!("tobirad: warning: {w}");
    }
    let level = if args.debug > 0 {
        1 + args.debug
    } else {
        log_level(&cfg)
    };
    if let Err(e) = tobira_cli::logging::init(level, args.log_file.as_deref(), "tobirad") {
        eprintln!("tobirad: cannot open log file: {e}");
        return ExitCode::from(255);
    }
    let settings = match build_settings(&cfg, is_root, args.trace) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tobirad: {e}");
            return ExitCode::from(if args.test { 1 } else { 255 });
        }
    };
    if args.test {
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tobirad: {e}");
            return ExitCode::from(255);
        }
    };
    match rt.block_on(run(cfg, settings, args.config_file, overrides, is_root, args.trace)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("tobirad: {e}");
            ExitCode::from(255)
        }
    }
}

/// OpenSSH's `sftp-server` serves `sftp` (and `scp`, which uses SFTP) when
/// it is installed and the configuration names no sftp subsystem.
fn with_default_subsystems(mut cfg: ServerConfig) -> ServerConfig {
    const SFTP_SERVERS: [&str; 3] = [
        "/usr/lib/openssh/sftp-server",
        "/usr/libexec/openssh/sftp-server",
        "/usr/libexec/sftp-server",
    ];
    if !cfg.subsystem.contains_key("sftp") {
        if let Some(p) = SFTP_SERVERS.iter().find(|p| std::path::Path::new(p).exists()) {
            cfg.subsystem.insert("sftp".into(), p.to_string());
        }
    }
    cfg
}

fn log_level(cfg: &ServerConfig) -> u8 {
    use tobira::config::LogLevel::*;
    match cfg.log_level {
        Quiet | Fatal | Error => 0,
        Info | Verbose => 1,
        _ => 2,
    }
}

fn build_settings(cfg: &ServerConfig, is_root: bool, trace: bool) -> Result<ServerSettings, String> {
    let dir = tobira::hostkeys::state_dir(is_root);
    let (keys, notes) = tobira::hostkeys::load_or_generate(&cfg.host_key, &dir).map_err(|e| e.to_string())?;
    for n in notes {
        info!("{n}");
    }
    let moduli_path = cfg.moduli_file.clone().or_else(|| {
        let p = PathBuf::from("/etc/ssh/moduli");
        p.exists().then_some(p)
    });
    let moduli = match &moduli_path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let m = tobira_proto::kex::gex::parse_moduli(&text);
            if m.is_empty() {
                warn!("no usable moduli in {}, using the RFC 3526 groups", p.display());
                tobira_proto::kex::gex::fallback_groups()
            } else {
                m
            }
        }
        None => tobira_proto::kex::gex::fallback_groups(),
    };
    let proto = tobira_proto::Config {
        kex: cfg.kex_algorithms.clone(),
        host_key: cfg.host_key_algorithms.clone(),
        cipher: cfg.ciphers.clone(),
        mac: cfg.macs.clone(),
        compression: cfg.compression_algorithms(),
        host_keys: keys,
        moduli: Arc::new(moduli),
        server_sig_algs: cfg.pubkey_accepted_algorithms.clone(),
        rekey_bytes: cfg.rekey_limit.bytes_or_default(),
        trace,
        // Windows reopen as the data is written on (channel_consumed),
        // not as it arrives: what the peer sends is bounded by what we
        // pass on.
        auto_window_adjust: false,
        // Key exchange steps that take milliseconds (DH, RSA and DSA
        // signatures) run off the I/O threads.
        offload_slow_kex: true,
        ..tobira_proto::Config::default()
    };
    let offered = proto
        .host_key
        .iter()
        .any(|a| proto.host_keys.iter().any(|k| k.algorithms().contains(&a.as_str())));
    if !offered {
        return Err("no host key matches HostKeyAlgorithms".into());
    }
    let mut delay_secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut delay_secret);
    Ok(ServerSettings {
        config: Arc::new(cfg.clone()),
        is_root,
        delay_secret,
        proto: Arc::new(proto),
        login_grace_time: (!cfg.login_grace_time.is_zero()).then_some(cfg.login_grace_time),
        trace,
    })
}

fn bind(host: &str, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let ip: IpAddr = host
        .parse()
        .or_else(|_| {
            std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
                .ok()
                .and_then(|mut a| a.next())
                .map(|a| a.ip())
                .ok_or(())
        })
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad listen address {host}")))?;
    let addr = SocketAddr::new(ip, port);
    let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    tokio::net::TcpListener::from_std(sock.into())
}

async fn run(
    cfg: ServerConfig,
    settings: ServerSettings,
    config_file: Option<PathBuf>,
    overrides: Vec<String>,
    is_root: bool,
    trace: bool,
) -> Result<(), String> {
    let mut listeners = Vec::new();
    for (host, port) in cfg.listen_sockets() {
        match bind(&host, port) {
            Ok(l) => {
                info!("Server listening on {host} port {port}.");
                listeners.push(l);
            }
            // `::` may be unavailable (no IPv6): keep the others, as sshd does.
            Err(e) if host == "::" => warn!("Bind to port {port} on {host} failed: {e}."),
            Err(e) => return Err(format!("Bind to port {port} on {host} failed: {e}.")),
        }
    }
    if listeners.is_empty() {
        return Err("Cannot bind any address.".into());
    }
    if let Some(pid) = &cfg.pid_file {
        if let Err(e) = std::fs::write(pid, format!("{}\n", std::process::id())) {
            warn!("Couldn't create pid file \"{}\": {e}", pid.display());
        }
    }
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(settings));
    let server = tokio::spawn(serve(listeners, rx));
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = term.recv() => { info!("Received signal 15; terminating."); break; }
            _ = tokio::signal::ctrl_c() => { info!("Received signal 2; terminating."); break; }
            _ = hup.recv() => {
                info!("Received SIGHUP; rereading configuration.");
                let reloaded = load_server_config(config_file.as_deref(), &overrides, is_root)
                    .map(with_default_subsystems)
                    .map_err(|e| e.to_string())
                    .and_then(|c| build_settings(&c, is_root, trace));
                match reloaded {
                    Ok(s) => {
                        let _ = tx.send(Arc::new(s));
                        info!("Configuration reloaded; new connections use it.");
                    }
                    Err(e) => error!("configuration reload failed, keeping the old one: {e}"),
                }
            }
        }
        if server.is_finished() {
            break;
        }
    }
    if let Some(pid) = &cfg.pid_file {
        let _ = std::fs::remove_file(pid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Args::command().debug_assert();
    }
}
