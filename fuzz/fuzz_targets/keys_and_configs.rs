//! The file parsers of the `tobira` crate: private key files (OpenSSH,
//! encrypted with a fixed passphrase, PEM, PKCS#8, Ed448), public key
//! lines, known_hosts, authorized_keys (with options), sshd_config and
//! ssh_config, and the config helpers.
//!
//! Input: `[selector] text`. Parsers that only read files get the text in
//! a per-process temporary file.
//!
//! Harness filters (documented in fuzz/README.md):
//! - encrypted OpenSSH keys are only decrypted when their bcrypt rounds are
//!   at most 64 (the rounds come from the file; a user's own key file
//!   asking for 2^32 rounds is slow by design, not a bug);
//! - config inputs containing `include` (any case) are skipped: `Include`
//!   reads arbitrary files (`/dev/stdin`, `/proc/...`).
#![no_main]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use tobira::authorized_keys;
use tobira::config::client::{parse_forward, ForwardKind};
use tobira::config::{self, lexer, parse_server_config, resolve_client_config, LogLevel};
use tobira::keyfile;
use tobira::known_hosts::{self, KnownHosts};
use tobira::pubkey::AnyPublicKey;

const PASSPHRASE: &str = "tobira test";

const PUB_KEYS: &[&str] = &[
    include_str!("../../crates/tobira-proto/tests/keys/host_ed25519.pub"),
    include_str!("../../crates/tobira-proto/tests/keys/host_ecdsa.pub"),
    include_str!("../../crates/tobira-proto/tests/keys/host_rsa.pub"),
    include_str!("../../crates/tobira-proto/tests/keys/host_ed448.pub"),
];

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = tobira_fuzz::scratch_dir("files");
        std::fs::create_dir_all(d.join(".ssh")).expect("temp dir");
        d
    })
}

fn temp_file(text: &str) -> PathBuf {
    let p = dir().join("input");
    std::fs::write(&p, text).expect("write temp file");
    p
}

fn keys() -> &'static Vec<AnyPublicKey> {
    static K: OnceLock<Vec<AnyPublicKey>> = OnceLock::new();
    K.get_or_init(|| PUB_KEYS.iter().map(|t| AnyPublicKey::from_openssh(t).expect("fixture")).collect())
}

/// The bcrypt rounds an OpenSSH-format key asks for, when it has any.
fn bcrypt_rounds(text: &str) -> Option<u32> {
    use base64::Engine as _;
    let start = text.find("-----BEGIN OPENSSH PRIVATE KEY-----")?;
    let body: String = text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let raw = base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).ok()?;
    let mut r = tobira_proto::wire::Reader::new(raw.get(15..)?);
    let _cipher = r.string().ok()?;
    let _kdf = r.string().ok()?;
    let mut opts = tobira_proto::wire::Reader::new(r.string().ok()?);
    let _salt = opts.string().ok()?;
    opts.u32().ok()
}

fn ips() -> [IpAddr; 3] {
    [
        "192.0.2.7".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
        "::ffff:10.1.2.3".parse().unwrap(),
    ]
}

fn private_key(text: &str) {
    // Decrypt only with a bounded KDF cost; otherwise the passphrase-less
    // paths (PassphraseRequired) still run.
    let pass = match bcrypt_rounds(text) {
        Some(r) if r > 64 => None,
        _ => Some(PASSPHRASE),
    };
    if let Ok(k) = keyfile::any_private_from_str(text, pass) {
        let _ = k.key_type();
        let _ = k.public_blob();
        let _ = k.comment();
        if let Ok(s) = k.signing_key() {
            let alg = s.algorithms()[0];
            let sig = s.sign(alg, b"data").expect("a parsed key signs");
            tobira_proto::hostkey::verify(alg, s.public_blob(), b"data", &sig).expect("its signature verifies");
        }
    }
    let _ = keyfile::private_from_str(text, None);
    let path = temp_file(text);
    let _ = keyfile::is_encrypted(&path);
    let _ = keyfile::load_public_blob_from_private(&path);
    let _ = tobira::pubkey::load_public_from_private(&path);
}

fn public_key(text: &str) {
    for line in text.lines().take(8) {
        if let Ok(k) = AnyPublicKey::from_openssh(line) {
            let again = AnyPublicKey::from_blob(k.blob()).expect("a parsed key's blob parses");
            assert!(again.same_key(&k));
            let _ = k.fingerprint();
            let _ = k.type_label();
            let _ = k.to_openssh();
            let _ = k.to_ssh_key();
        }
    }
    let _ = AnyPublicKey::from_blob(text.as_bytes());
    let path = temp_file(text);
    let _ = tobira::pubkey::load_public(&path);
}

fn known_hosts_text(text: &str) {
    let kh = KnownHosts::parse(Path::new("/fuzz/known_hosts"), text);
    let first = text.split_whitespace().next().unwrap_or("host");
    let host = first.split(',').next().unwrap_or("host").trim_start_matches('[');
    let host = host.split(']').next().unwrap_or(host);
    for key in keys() {
        for (h, port) in [(host, 22), (host, 2222), ("example.com", 22)] {
            let _ = kh.check(h, port, key);
        }
        let _ = kh.other_names(key);
        let _ = kh.unknown_host_message(host, 22, Some("192.0.2.1"), key);
    }
    let _ = known_hosts::find_host(text, host);
    let _ = known_hosts::host_name_for(host, 2222);
}

fn authorized_keys_text(text: &str) {
    let entries = authorized_keys::parse(text);
    let first = text.lines().next().unwrap_or("");
    let _ = authorized_keys::parse_options(first);
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for key in keys().iter().take(2).chain(entries.iter().map(|e| &e.key).take(4)) {
        for ip in ips() {
            let _ = authorized_keys::find(&entries, key, ip, Some("client.example.com"), now);
            let _ = authorized_keys::find_for_user(&entries, "u", key, ip, None, SystemTime::now());
        }
    }
    for e in entries.iter().take(4) {
        if let Some(from) = &e.options.from {
            for ip in ips() {
                let _ = authorized_keys::from_matches(from, ip, None);
            }
        }
    }
    for ip in ips() {
        let _ = authorized_keys::from_matches(first, ip, Some("host.example.com"));
    }
}

fn sshd_config(text: &str) {
    let d = dir();
    for is_root in [false, true] {
        if let Ok(cfg) = parse_server_config(&d.join("sshd_config"), text, is_root) {
            for ip in ips() {
                let c = cfg.for_connection("u", ip, &["wheel".to_string()]);
                let _ = c.authorized_keys_paths("u", Path::new("/home/u"), 1000);
            }
            let _ = cfg.listen_sockets();
            let _ = cfg.compression_algorithms();
        }
    }
}

fn ssh_config(text: &str) {
    let path = temp_file(text);
    let d = dir();
    for host in ["example.com", "10.0.0.1", "h"] {
        if let Ok(cfg) = resolve_client_config(host, None, None, &[], Some(&path), d, "local") {
            let _ = cfg.expand("%h %p %r %u %n %d %C %L %l %%");
        }
    }
    // The same lines as `-o` options.
    let opts: Vec<String> = text.lines().take(16).map(str::to_string).collect();
    let _ = resolve_client_config("example.com", Some("u"), Some(2222), &opts, Some(Path::new("none")), d, "local");
}

fn helpers(text: &str) {
    let line = text.lines().next().unwrap_or("");
    let _ = config::parse_time(line);
    let _ = config::parse_size(line);
    let _ = LogLevel::parse(line);
    let _ = lexer::split_args(line);
    let _ = lexer::tokenize(Path::new("/fuzz/config"), text);
    let _ = config::expand_tokens(line, &[('h', "host"), ('u', "user"), ('%', "%")]);
    let _ = config::expand_tilde(line, Path::new("/home/u"));
    let (a, b) = line.split_once(' ').unwrap_or((line, "*"));
    let _ = config::match_pattern(a, b);
    let _ = config::match_pattern_list(a, b, true);
    for ip in ips() {
        let _ = config::addr_match_list(Some(ip), line);
    }
    let _ = config::addr_match_list(None, line);
    for kind in [ForwardKind::Local, ForwardKind::Remote, ForwardKind::Dynamic] {
        let _ = parse_forward(line, kind);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let is_config = matches!(sel % 8, 4 | 5 | 6);
    if is_config && text.to_ascii_lowercase().contains("include") {
        return;
    }
    match sel % 8 {
        0 | 7 => private_key(&text),
        1 => public_key(&text),
        2 => known_hosts_text(&text),
        3 => authorized_keys_text(&text),
        4 => sshd_config(&text),
        5 => ssh_config(&text),
        _ => helpers(&text),
    }
});
