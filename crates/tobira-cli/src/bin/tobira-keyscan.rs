//! `tobira-keyscan`: gather SSH host keys (OpenSSH `ssh-keyscan`), and
//! `--kexinit`: show a server's identification and KEXINIT as the seed
//! note's first two steps do, with what tobira would negotiate.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rand::SeedableRng;
use tobira::driver::Driver;
use tobira_proto::msg::transport::{KexInit, KEXINIT_LIST_NAMES};
use tobira_proto::{Config, Connection, DisconnectReason, Event};

/// Gather SSH public keys from servers.
#[derive(Parser, Debug)]
#[command(name = "tobira-keyscan")]
struct Args {
    /// Port to connect to.
    #[arg(short = 'p', default_value_t = 22)]
    port: u16,
    /// Key types to fetch: ed25519, ed448, ecdsa, rsa (comma-separated).
    #[arg(short = 't', default_value = "ed25519,ecdsa,rsa")]
    types: String,
    /// Timeout in seconds.
    #[arg(short = 'T', default_value_t = 5)]
    timeout: u64,
    /// Hash host names in the output.
    #[arg(short = 'H')]
    hash: bool,
    /// Show the server's identification string and KEXINIT.
    #[arg(long)]
    kexinit: bool,
    /// Hosts to scan.
    #[arg(required = true)]
    hosts: Vec<String>,
}

fn host_key_algs(t: &str) -> Option<&'static [&'static str]> {
    Some(match t {
        "ed25519" => &["ssh-ed25519"],
        "ed448" => &["ssh-ed448"],
        "ecdsa" => &["ecdsa-sha2-nistp256"],
        "rsa" => &["rsa-sha2-512", "rsa-sha2-256"],
        _ => return None,
    })
}

/// Why an algorithm is flagged, after ssh-audit's and OpenSSH's advice.
fn weakness(name: &str) -> Option<&'static str> {
    let n = name;
    if n.ends_with("-sha1") || n == "ssh-rsa" || n.starts_with("hmac-sha1") || n.contains("sha1-") {
        return Some("weak: uses SHA-1");
    }
    if n.contains("group1-") || n == "rsa1024-sha1" {
        return Some("weak: 1024-bit modulus");
    }
    if n == "ssh-dss" {
        return Some("weak: DSA, removed from OpenSSH");
    }
    if n.contains("md5") {
        return Some("weak: uses MD5");
    }
    if n.contains("3des") || n.contains("arcfour") || n.contains("blowfish") || n.contains("cast128") {
        return Some("weak: broken or 64-bit block cipher");
    }
    if n.ends_with("-cbc") || n.starts_with("rijndael") {
        return Some("deprecated: CBC mode");
    }
    if n.starts_with("umac-64") || n.ends_with("-96") {
        return Some("weak: 64/96-bit tag");
    }
    if n.starts_with("ecdh-sha2-nistp") || n.starts_with("ecdsa-sha2-nistp") {
        return Some("note: NIST curve");
    }
    if !(n.ends_with("-etm@openssh.com") || n.contains("gcm") || n.contains("poly1305")) && n.starts_with("hmac-") {
        return Some("note: encrypt-and-MAC (prefer -etm)");
    }
    None
}

fn print_kexinit(host: &str, port: u16, ident: &str, ki: &KexInit) {
    println!("# {host}:{port} {ident}");
    println!("identification: {ident}");
    println!(
        "cookie: {}",
        ki.cookie.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    for (label, list) in KEXINIT_LIST_NAMES.iter().zip(ki.lists()) {
        let bytes: usize = list.iter().map(|s| s.len()).sum::<usize>() + list.len().saturating_sub(1);
        println!("{label} ({} names, {bytes} bytes):", list.len());
        for name in list {
            match weakness(name) {
                Some(w) => println!("    {name}    <- {w}"),
                None => println!("    {name}"),
            }
        }
    }
    println!("first_kex_packet_follows: {}", ki.first_kex_packet_follows);
}

fn print_choice(ki: &KexInit) {
    let c = Config::default();
    let ours = KexInit {
        kex: c.kex.clone(),
        host_key: c.host_key.clone(),
        cipher_c2s: c.cipher.clone(),
        cipher_s2c: c.cipher.clone(),
        mac_c2s: c.mac.clone(),
        mac_s2c: c.mac.clone(),
        comp_c2s: c.compression.clone(),
        comp_s2c: c.compression.clone(),
        ..Default::default()
    };
    let aead = |n: &str| tobira_proto::crypto::cipher::lookup(n).is_some_and(|s| s.is_aead());
    match tobira_proto::transport::negotiate::negotiate(&ours, ki, aead) {
        Ok(n) => {
            println!("tobira would negotiate:");
            println!("    kex: {}", n.kex);
            println!("    host key: {}", n.host_key);
            println!(
                "    client->server: cipher {} MAC {} compression {}",
                n.cipher_c2s, n.mac_c2s, n.comp_c2s
            );
            println!(
                "    server->client: cipher {} MAC {} compression {}",
                n.cipher_s2c, n.mac_s2c, n.comp_s2c
            );
        }
        Err(e) => println!("tobira would fail to negotiate: {e}"),
    }
    let strict = ki.kex.iter().any(|k| k == tobira_proto::algorithms::KEX_STRICT_S);
    println!(
        "strict KEX (kex-strict-s-v00@openssh.com): {}",
        if strict {
            "offered"
        } else {
            "not offered (Terrapin-vulnerable with ChaCha20-Poly1305 or EtM)"
        }
    );
}

enum Found {
    Key(String, Vec<u8>),
    KexInit(String, Box<KexInit>),
}

async fn scan_one(host: &str, port: u16, algs: &[&str], want_kexinit: bool) -> Result<Found, String> {
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    let cfg = Config {
        host_key: algs.iter().map(|s| s.to_string()).collect(),
        ..Config::default()
    };
    let conn = Connection::client(Arc::new(cfg), Box::new(rand::rngs::StdRng::from_entropy()));
    let mut d = Driver::new(stream, conn);
    let mut ident = String::new();
    loop {
        match d.next_event().await.map_err(|e| format!("{host}: {e}"))? {
            Event::PeerIdent(i) => ident = i,
            Event::PeerKexInit(ki) if want_kexinit => {
                d.conn.disconnect(DisconnectReason::ByApplication, "keyscan");
                let _ = d.flush().await;
                return Ok(Found::KexInit(ident, ki));
            }
            Event::HostKey { key, .. } => {
                d.conn.reject_host_key("keyscan");
                let _ = d.flush().await;
                return Ok(Found::Key(ident, key));
            }
            _ => {}
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tobira-keyscan: {e}");
            return ExitCode::from(1);
        }
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut failed = false;
    for host in &args.hosts {
        if args.kexinit {
            match rt.block_on(async {
                tokio::time::timeout(
                    timeout,
                    scan_one(host, args.port, tobira_proto::algorithms::HOSTKEY_SUPPORTED, true),
                )
                .await
            }) {
                Ok(Ok(Found::KexInit(ident, ki))) => {
                    print_kexinit(host, args.port, &ident, &ki);
                    print_choice(&ki);
                }
                Ok(Ok(Found::Key(..))) => {}
                Ok(Err(e)) => {
                    eprintln!("{e}");
                    failed = true;
                }
                Err(_) => {
                    eprintln!("{host}: Connection timed out");
                    failed = true;
                }
            }
            continue;
        }
        for t in args.types.split(',').map(str::trim) {
            let Some(algs) = host_key_algs(t) else {
                eprintln!("tobira-keyscan: unknown key type {t}");
                return ExitCode::from(2);
            };
            let r = rt.block_on(async { tokio::time::timeout(timeout, scan_one(host, args.port, algs, false)).await });
            match r {
                Ok(Ok(Found::Key(ident, blob))) => {
                    let Ok(key) = tobira::pubkey::AnyPublicKey::from_blob(&blob) else {
                        continue;
                    };
                    let name = tobira::known_hosts::host_name_for(host, args.port);
                    let shown = if args.hash {
                        tobira::known_hosts::hash_host_name(&name).unwrap_or(name)
                    } else {
                        name
                    };
                    eprintln!("# {host}:{} {ident}", args.port);
                    println!("{shown} {}", key.to_openssh_bare());
                }
                Ok(Ok(Found::KexInit(..))) => {}
                // A server without that key type: nothing printed, as ssh-keyscan.
                Ok(Err(e)) if e.contains("no matching host key type") => {}
                Ok(Err(e)) => {
                    eprintln!("{e}");
                    failed = true;
                }
                Err(_) => {
                    eprintln!("{host}: Connection timed out");
                    failed = true;
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Args::command().debug_assert();
    }
}
