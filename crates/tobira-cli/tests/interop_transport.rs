//! The seed's exchange against the real OpenSSH, both ways: every key
//! exchange, host key, cipher and MAC of the first issue reaches
//! SERVICE_ACCEPT and the server's method list; the seed's exact suite;
//! strict KEX; keyscan; the trust decision; a server that keeps serving
//! after hostile input.

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use common::*;

/// What the installed OpenSSH speaks (`ssh -Q kind`).
fn openssh_supports(kind: &str) -> Vec<String> {
    let out = Command::new("ssh")
        .args(["-Q", kind])
        .output()
        .expect("ssh (openssh-client) must be installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// One case per algorithm (the others default), as `-o Keyword=value`: every
/// algorithm tobira implements that the installed OpenSSH also speaks.
fn matrix() -> Vec<(String, String)> {
    let (kex, sig, cipher, mac) = (
        openssh_supports("kex"),
        openssh_supports("key-sig"),
        openssh_supports("cipher"),
        openssh_supports("mac"),
    );
    let mut v = Vec::new();
    for k in tobira_proto::algorithms::KEX_SUPPORTED
        .iter()
        .filter(|k| kex.iter().any(|x| x == *k))
    {
        v.push(("KexAlgorithms".to_string(), k.to_string()));
    }
    for h in tobira_proto::algorithms::HOSTKEY_SUPPORTED
        .iter()
        .filter(|k| sig.iter().any(|x| x == *k))
    {
        v.push(("HostKeyAlgorithms".to_string(), h.to_string()));
    }
    for c in tobira_proto::algorithms::CIPHER_SUPPORTED
        .iter()
        .filter(|k| cipher.iter().any(|x| x == *k))
    {
        v.push(("Ciphers".to_string(), c.to_string()));
    }
    for m in tobira_proto::algorithms::MAC_SUPPORTED
        .iter()
        .filter(|k| mac.iter().any(|x| x == *k))
    {
        // A MAC is only used with a non-AEAD cipher.
        v.push(("MACs".to_string(), m.to_string()));
    }
    v
}

fn expected_line(kw: &str, name: &str) -> String {
    match kw {
        "KexAlgorithms" => format!("kex: algorithm: {name}"),
        "HostKeyAlgorithms" => format!("kex: host key algorithm: {name}"),
        "Ciphers" => format!("kex: client->server cipher: {name}"),
        _ => format!("MAC: {name}"),
    }
}

/// tobirad with every supported algorithm enabled (legacy ones are off by
/// default and enabled here explicitly).
fn all_algorithms_options() -> Vec<String> {
    use tobira_proto::algorithms::*;
    vec![
        "-o".into(),
        format!("KexAlgorithms={}", KEX_SUPPORTED.join(",")),
        "-o".into(),
        format!("MACs={}", MAC_SUPPORTED.join(",")),
        "-o".into(),
        format!("Ciphers={}", CIPHER_SUPPORTED.join(",")),
        "-o".into(),
        format!("HostKeyAlgorithms={}", HOSTKEY_SUPPORTED.join(",")),
    ]
}

/// OpenSSH 9.2's legacy algorithms, off by default in its sshd too.
const SSHD_LEGACY: [&str; 4] = [
    "KexAlgorithms=+diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1",
    "MACs=+hmac-sha1-96,hmac-sha1-96-etm@openssh.com,hmac-sha1,hmac-sha1-etm@openssh.com,hmac-md5,hmac-md5-96,hmac-md5-etm@openssh.com,hmac-md5-96-etm@openssh.com,umac-64@openssh.com,umac-64-etm@openssh.com",
    "Ciphers=+aes128-cbc,aes192-cbc,aes256-cbc,3des-cbc",
    "HostKeyAlgorithms=+ssh-rsa,ssh-dss",
];

#[test]
fn openssh_client_to_tobirad_every_algorithm() {
    let opts = all_algorithms_options();
    let o: Vec<&str> = opts.iter().map(String::as_str).collect();
    let server = start_tobirad(&o);
    let mut failures = Vec::new();
    for (kw, name) in matrix() {
        let mut opts = vec![format!("{kw}={name}")];
        if kw == "MACs" {
            opts.push("Ciphers=aes128-ctr".into());
        }
        let o: Vec<&str> = opts.iter().map(String::as_str).collect();
        let (code, err) = openssh_probe(server.port, &o);
        let want = expected_line(&kw, &name);
        let ok = code == 255
            && err.contains(&want)
            && err.contains("SSH2_MSG_SERVICE_ACCEPT received")
            && err.contains("Authentications that can continue: publickey,password,keyboard-interactive")
            && err.contains("Permission denied (publickey,password,keyboard-interactive)");
        if !ok {
            failures.push(format!(
                "{kw}={name}: exit {code}\n{}",
                err.lines()
                    .filter(|l| l.contains("kex") || l.contains("rror") || l.contains("denied"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    let log = server.log_text();
    assert!(
        failures.is_empty(),
        "{}\n--- server log ---\n{log}",
        failures.join("\n\n")
    );
    assert!(
        log.contains("userauth-request for user alice service ssh-connection method none"),
        "{log}"
    );
}

#[test]
fn tobira_to_openssh_sshd_every_algorithm() {
    let server = start_sshd(&SSHD_LEGACY);
    let dir = TempDir::new("kh");
    let kh = dir.path("known_hosts");
    let mut failures = Vec::new();
    for (kw, name) in matrix() {
        let mut opts = vec![format!("{kw}={name}"), "StrictHostKeyChecking=no".to_string()];
        if kw == "MACs" {
            opts.push("Ciphers=aes256-ctr".into());
        }
        let o: Vec<&str> = opts.iter().map(String::as_str).collect();
        let (code, _, err) = tobira_probe(server.port, &kh, &o);
        let neg = match kw.as_str() {
            "KexAlgorithms" => format!("== negotiated: kex {name} "),
            "HostKeyAlgorithms" => format!("host key {name}"),
            "Ciphers" => format!("== client->server: cipher {name} "),
            _ => format!("MAC {name} compression"),
        };
        let ok = code == 255
            && err.contains(&neg)
            && err.contains("<< SSH_MSG_SERVICE_ACCEPT (6)")
            && err.contains("authentications that can continue: publickey,password")
            && err.contains("alice@127.0.0.1: Permission denied (publickey,password");
        if !ok {
            failures.push(format!(
                "{kw}={name}: exit {code}\n{}",
                err.lines()
                    .filter(|l| l.starts_with("==") || l.contains("tobira:"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    let log = server.log_text();
    assert!(
        failures.is_empty(),
        "{}\n--- sshd log (tail) ---\n{}",
        failures.join("\n\n"),
        log.lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    for (kw, name) in matrix() {
        if kw == "KexAlgorithms" {
            assert!(
                log.contains(&format!("kex: algorithm: {name}")),
                "sshd did not log {name}"
            );
        }
    }
}

/// The seed's exact suite: diffie-hellman-group-exchange-sha256, an RSA
/// 2048 host key, aes256-ctr, hmac-sha2-256, no compression.
const SEED: [&str; 4] = [
    "KexAlgorithms=diffie-hellman-group-exchange-sha256",
    "HostKeyAlgorithms=rsa-sha2-256",
    "Ciphers=aes256-ctr",
    "MACs=hmac-sha2-256",
];

#[test]
fn seed_suite_tobira_client_against_sshd() {
    let server = start_sshd(&SEED);
    let dir = TempDir::new("seed");
    let mut opts = SEED.to_vec();
    opts.push("StrictHostKeyChecking=accept-new");
    let (code, _, err) = tobira_probe(server.port, &dir.path("kh"), &opts);
    assert_eq!(code, 255, "{err}");
    for needle in [
        "<< identification: SSH-2.0-OpenSSH_",
        ">> SSH_MSG_KEXINIT (20)",
        "<< SSH_MSG_KEXINIT (20)",
        "    kex_algorithms string: diffie-hellman-group-exchange-sha256,ext-info-c,kex-strict-c-v00@openssh.com",
        ">> SSH_MSG_KEX_DH_GEX_REQUEST (34)",
        "<< SSH_MSG_KEX_DH_GEX_GROUP (31)",
        ">> SSH_MSG_KEX_DH_GEX_INIT (32)",
        "<< SSH_MSG_KEX_DH_GEX_REPLY (33)",
        "host key type: ssh-rsa",
        "n: 2048 bits",
        "signature: rsa-sha2-256, 256 bytes",
        "== negotiated: kex diffie-hellman-group-exchange-sha256 host key rsa-sha2-256 (strict KEX)",
        "== client->server: cipher aes256-ctr MAC hmac-sha2-256 compression none",
        "== server->client: cipher aes256-ctr MAC hmac-sha2-256 compression none",
        ">> SSH_MSG_NEWKEYS (21)",
        "<< SSH_MSG_NEWKEYS (21)",
        ">> SSH_MSG_SERVICE_REQUEST (5)",
        "    service name: ssh-userauth",
        "<< SSH_MSG_SERVICE_ACCEPT (6)",
        "Warning: Permanently added '[127.0.0.1]:",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in trace:\n{err}");
    }
    let log = server.wait_log("kex: algorithm");
    assert!(
        log.contains("kex: algorithm: diffie-hellman-group-exchange-sha256"),
        "{log}"
    );
    assert!(log.contains("SSH2_MSG_KEX_DH_GEX_REQUEST received"), "{log}");
    // Strict KEX in force, on the server's side too.
    assert!(log.contains("will use strict KEX ordering"), "{log}");
}

#[test]
fn seed_suite_openssh_client_against_tobirad() {
    // tobirad's defaults are encrypt-then-MAC only and post-quantum first;
    // the seed's hmac-sha2-256 and group exchange are enabled with `+`, as
    // an administrator would.
    let server = start_tobirad(&[
        "--trace",
        "-o",
        "MACs=+hmac-sha2-256",
        "-o",
        "KexAlgorithms=+diffie-hellman-group-exchange-sha256",
    ]);
    let (code, err) = openssh_probe(server.port, &SEED);
    assert_eq!(code, 255, "{err}");
    for needle in [
        "kex: algorithm: diffie-hellman-group-exchange-sha256",
        "kex: host key algorithm: rsa-sha2-256",
        "kex: server->client cipher: aes256-ctr MAC: hmac-sha2-256 compression: none",
        "SSH2_MSG_KEX_DH_GEX_REQUEST(2048<8192<8192) sent",
        "SSH2_MSG_KEX_DH_GEX_GROUP received",
        "will use strict KEX ordering",
        "SSH2_MSG_SERVICE_ACCEPT received",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in ssh -vvv:\n{err}");
    }
    let log = server.wait_log("method none");
    for needle in [
        "<< SSH_MSG_KEX_DH_GEX_REQUEST (34)",
        ">> SSH_MSG_KEX_DH_GEX_GROUP (31)",
        "<< SSH_MSG_KEX_DH_GEX_INIT (32)",
        ">> SSH_MSG_KEX_DH_GEX_REPLY (33)",
        "== negotiated: kex diffie-hellman-group-exchange-sha256 host key rsa-sha2-256 (strict KEX)",
        "kex: strict KEX mode enabled",
        ">> SSH_MSG_USERAUTH_FAILURE (51)",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in tobirad log:\n{log}");
    }
}

#[test]
fn keyscan_prints_known_hosts_lines_and_kexinit() {
    let server = start_sshd(&[]);
    let out = run(
        Command::new(bin("tobira-keyscan")).args(["-p", &server.port.to_string(), "127.0.0.1"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ours = String::from_utf8_lossy(&out.stdout).to_string();
    let theirs = run(
        Command::new("ssh-keyscan").args(["-p", &server.port.to_string(), "-t", "ed25519,ecdsa,rsa", "127.0.0.1"]),
        Duration::from_secs(60),
    );
    let theirs = String::from_utf8_lossy(&theirs.stdout).to_string();
    let mut a: Vec<&str> = ours.lines().collect();
    let mut b: Vec<&str> = theirs.lines().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "tobira-keyscan and ssh-keyscan disagree");
    assert_eq!(a.len(), 3);

    let out = run(
        Command::new(bin("tobira-keyscan")).args(["--kexinit", "-p", &server.port.to_string(), "127.0.0.1"]),
        Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "identification: SSH-2.0-OpenSSH_9",
        "kex_algorithms (",
        "server_host_key_algorithms (",
        "encryption_algorithms_client_to_server (",
        "languages_server_to_client (0 names",
        "kex-strict-s-v00@openssh.com",
        "tobira would negotiate:",
        "    kex: sntrup761x25519-sha512",
        "strict KEX (kex-strict-s-v00@openssh.com): offered",
        "<- note: NIST curve",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn host_key_trust_decisions() {
    let server = start_tobirad(&[]);
    let dir = TempDir::new("trust");
    let kh = dir.path("known_hosts");
    // Unknown key with StrictHostKeyChecking=yes: refused, nothing written.
    let (code, _, err) = tobira_probe(
        server.port,
        &kh,
        &["StrictHostKeyChecking=yes", "HostKeyAlgorithms=ssh-ed25519"],
    );
    assert_eq!(code, 255);
    assert!(
        err.contains("No ED25519 host key is known for [127.0.0.1]:") && err.contains("Host key verification failed."),
        "{err}"
    );
    assert!(!kh.exists());
    // BatchMode with the default (ask): refused without a prompt.
    let (code, _, err) = tobira_probe(server.port, &kh, &["BatchMode=yes", "HostKeyAlgorithms=ssh-ed25519"]);
    assert_eq!(code, 255);
    assert!(err.contains("Host key verification failed."), "{err}");
    // accept-new: recorded as [host]:port, then known.
    let (code, _, err) = tobira_probe(
        server.port,
        &kh,
        &["StrictHostKeyChecking=accept-new", "HostKeyAlgorithms=ssh-ed25519"],
    );
    assert_eq!(code, 255);
    assert!(err.contains("Warning: Permanently added"), "{err}");
    // With LogLevel=ERROR, as with ssh, the key is recorded without the
    // INFO-level message.
    let kh_quiet = dir.path("known_hosts_quiet");
    let (_, _, err) = tobira_probe(
        server.port,
        &kh_quiet,
        &[
            "StrictHostKeyChecking=accept-new",
            "HostKeyAlgorithms=ssh-ed25519",
            "LogLevel=ERROR",
        ],
    );
    assert!(!err.contains("Permanently added"), "{err}");
    assert!(std::fs::read_to_string(&kh_quiet).unwrap().contains("ssh-ed25519"));
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(
        text.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", server.port)),
        "{text}"
    );
    // OpenSSH's ssh agrees with the line we wrote.
    let (code, err) = {
        let mut c = Command::new("ssh");
        c.args([
            "-vvv",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "HostKeyAlgorithms=ssh-ed25519",
            "-o",
        ])
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-p",
            &server.port.to_string(),
            "alice@127.0.0.1",
            "true",
        ]);
        let out = run(&mut c, Duration::from_secs(30));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 255);
    assert!(
        err.contains("Host '[127.0.0.1]:") && err.contains("is known and matches the ED25519 host key"),
        "{err}"
    );
    let (_, _, err) = tobira_probe(
        server.port,
        &kh,
        &["StrictHostKeyChecking=yes", "HostKeyAlgorithms=ssh-ed25519"],
    );
    assert!(err.contains("alice@127.0.0.1: Permission denied ("), "{err}");
    // A changed key: OpenSSH's warning with the offending line, refused.
    let other = TempDir::new("other");
    ssh_keygen(&other.path("k"), "ed25519", None);
    let pubkey = std::fs::read_to_string(other.path("k.pub")).unwrap();
    let mut parts = pubkey.split_whitespace();
    let line = format!(
        "# comment\n[127.0.0.1]:{} {} {}\n",
        server.port,
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    std::fs::write(&kh, line).unwrap();
    let (code, _, err) = tobira_probe(
        server.port,
        &kh,
        &["StrictHostKeyChecking=accept-new", "HostKeyAlgorithms=ssh-ed25519"],
    );
    assert_eq!(code, 255);
    assert!(
        err.contains("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"),
        "{err}"
    );
    assert!(
        err.contains(&format!("Offending ED25519 key in {}:2", kh.display())),
        "{err}"
    );
    assert!(err.contains("Host key verification failed."), "{err}");
    // Hashed entries match too.
    let out = run(
        Command::new("ssh-keygen").args(["-H", "-f"]).arg(&kh),
        Duration::from_secs(10),
    );
    assert!(out.status.success());
    let (_, _, err) = tobira_probe(
        server.port,
        &kh,
        &["StrictHostKeyChecking=yes", "HostKeyAlgorithms=ssh-ed25519"],
    );
    assert!(err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "{err}");
}

/// A host known by its RSA key only is asked for that key first (ssh's
/// `order_hostkeyalgs`), so `StrictHostKeyChecking=yes` lets tobira in,
/// as it lets ssh in, though tobirad would offer Ed25519 first; with
/// `HostKeyAlgorithms` set, the list is taken as it is.
#[test]
fn a_host_known_by_one_key_type_is_asked_for_that_type() {
    let server = start_tobirad(&[]);
    let dir = TempDir::new("trust-order");
    let kh = dir.path("known_hosts");
    let rsa = std::fs::read_to_string(server.dir.path("host_rsa.pub")).unwrap();
    let mut parts = rsa.split_whitespace();
    let (kind, blob) = (parts.next().unwrap(), parts.next().unwrap());
    std::fs::write(&kh, format!("[127.0.0.1]:{} {kind} {blob}\n", server.port)).unwrap();
    let (code, _, err) = tobira_probe(server.port, &kh, &["StrictHostKeyChecking=yes", "BatchMode=yes"]);
    assert_eq!(code, 255);
    assert!(err.contains("alice@127.0.0.1: Permission denied ("), "{err}");
    assert!(err.contains(" host key rsa-sha2-512 "), "RSA negotiated: {err}");
    let (code, _, err) = tobira_probe(
        server.port,
        &kh,
        &[
            "StrictHostKeyChecking=yes",
            "BatchMode=yes",
            "HostKeyAlgorithms=ssh-ed25519,rsa-sha2-512",
        ],
    );
    assert_eq!(code, 255);
    assert!(err.contains("Host key verification failed."), "{err}");
}

/// The interactive question on a terminal: answered `yes`, the key is
/// recorded. Runs tobira under a pseudo-terminal made by python3's pty.
#[test]
fn interactive_host_key_prompt() {
    let server = start_tobirad(&[]);
    let dir = TempDir::new("ask");
    let kh = dir.path("known_hosts");
    let script = format!(
        r#"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv({bin:?}, [{bin:?}, "-F", "/dev/null", "-o", "UserKnownHostsFile={kh}", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "HostKeyAlgorithms=ssh-ed25519", "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no", "-p", "{port}", "alice@127.0.0.1"])
out = b""
deadline = time.time() + 30
sent = False
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not sent and b"(yes/no/[fingerprint])?" in out:
        os.write(fd, b"yes\n")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.WEXITSTATUS(status))
"#,
        bin = bin("tobira").display().to_string(),
        kh = kh.display(),
        port = server.port
    );
    let out = run(Command::new("python3").arg("-c").arg(script), Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("The authenticity of host '[127.0.0.1]:{}", server.port)),
        "{text}"
    );
    assert!(text.contains("ED25519 key fingerprint is SHA256:"), "{text}");
    assert!(
        text.contains("Are you sure you want to continue connecting (yes/no/[fingerprint])?"),
        "{text}"
    );
    assert!(text.contains("Permanently added"), "{text}");
    assert_eq!(out.status.code(), Some(255), "{text}");
    assert!(std::fs::read_to_string(&kh).unwrap().contains("ssh-ed25519"));
}

/// Hostile input over a real socket: garbage, an oversized length, a silent
/// client; the server answers with DISCONNECT where it can and keeps
/// serving a real client.
#[test]
fn tobirad_survives_hostile_connections() {
    let server = start_tobirad(&["-o", "LoginGraceTime=3"]);
    let addr = ("127.0.0.1", server.port);
    // Not SSH at all.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.read_to_end(&mut buf);
    assert!(String::from_utf8_lossy(&buf).starts_with("SSH-2.0-tobira_"));
    // A valid identification then a 1 MB packet length: DISCONNECT (reason 2).
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"SSH-2.0-evil\r\n\x00\x10\x00\x00\x00\x00\x00\x00")
        .unwrap();
    let mut buf = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.read_to_end(&mut buf);
    // The DISCONNECT is the last (unencrypted) packet: reason 2, our message.
    let text = String::from_utf8_lossy(&buf);
    assert!(text.contains("Bad packet length 1048576."), "{text}");
    // A silent client is cut at LoginGraceTime.
    let silent = std::net::TcpStream::connect(addr).unwrap();
    // Meanwhile a real client still gets served.
    let (code, err) = openssh_probe(server.port, &[]);
    assert_eq!(code, 255);
    assert!(err.contains("SSH2_MSG_SERVICE_ACCEPT received"), "{err}");
    let mut buf = Vec::new();
    let mut silent = silent;
    silent.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = silent.read_to_end(&mut buf);
    let log = server.wait_log("Timeout before authentication");
    assert!(
        log.contains("Timeout before authentication for 127.0.0.1 port"),
        "{log}"
    );
    assert!(log.contains("error: Bad packet length 1048576."), "{log}");
}

#[test]
fn tobira_to_tobirad() {
    let server = start_tobirad(&[]);
    let dir = TempDir::new("t2t");
    let (code, _, err) = tobira_probe(server.port, &dir.path("kh"), &["StrictHostKeyChecking=accept-new"]);
    assert_eq!(code, 255);
    assert!(err.contains("(strict KEX)"), "{err}");
    assert!(
        err.contains("alice@127.0.0.1: Permission denied (publickey,password,keyboard-interactive)."),
        "{err}"
    );
}

#[test]
fn connection_refused_is_one_line_exit_255() {
    let port = free_port();
    let dir = TempDir::new("refused");
    let (code, _, err) = tobira_probe(port, &dir.path("kh"), &[]);
    assert_eq!(code, 255);
    assert_eq!(
        err.trim(),
        format!("tobira: connect to host 127.0.0.1 port {port}: Connection refused (os error 111)")
    );
}

/// With no host key configured, keys are generated on first start into the
/// state directory and reused after (checked through OpenSSH's ssh-keyscan).
#[test]
fn host_keys_generated_once_and_reused() {
    let dir = TempDir::new("state");
    let state = dir.path("state");
    let scan = |port: u16| {
        let out = run(
            Command::new("ssh-keyscan").args(["-p", &port.to_string(), "-t", "ed25519,rsa", "127.0.0.1"]),
            Duration::from_secs(30),
        );
        // Keep "type base64", without the [host]:port prefix.
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(_, k)| k.to_string()))
            .collect();
        lines.sort();
        lines
    };
    let mut first = Vec::new();
    for round in 0..2 {
        let port = free_port();
        let log = dir.path(&format!("log{round}"));
        let mut child = Command::new(bin("tobirad"))
            .args(["-D", "-e", "-p", &port.to_string(), "-o", "ListenAddress=127.0.0.1"])
            .env("TOBIRA_STATE_DIR", &state)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port, &mut child, &log);
        let keys = scan(port);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.iter().any(|k| k.starts_with("ssh-ed25519 ")));
        assert!(keys.iter().any(|k| k.starts_with("ssh-rsa ")));
        let text = std::fs::read_to_string(&log).unwrap();
        if round == 0 {
            assert!(text.contains("generated host key"), "{text}");
            first = keys;
        } else {
            assert!(!text.contains("generated host key"), "{text}");
            assert_eq!(keys, first, "keys changed across restarts");
        }
    }
    let out = run(
        Command::new("ssh-keygen")
            .arg("-l")
            .arg("-f")
            .arg(state.join("ssh_host_rsa_key.pub")),
        Duration::from_secs(10),
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("4096 SHA256:"));
}

/// `tobirad -t` checks configuration and keys: unknown keywords and
/// algorithm names are problems (exit 1), a good configuration exits 0.
#[test]
fn tobirad_config_test_mode() {
    let dir = TempDir::new("tmode");
    let keys = host_keys(&dir);
    let t = |extra: &[&str]| {
        let out = run(
            Command::new(bin("tobirad"))
                .arg("-t")
                .arg("-h")
                .arg(&keys[1])
                .args(extra),
            Duration::from_secs(30),
        );
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(t(&[]).0, Some(0));
    let (code, err) = t(&["-o", "Ciphers=aes256-ctr,rot13-cbc"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("rot13-cbc"), "{err}");
    let (code, err) = t(&["-o", "NoSuchKeyword=yes"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("Bad configuration option: NoSuchKeyword")
            || err.contains("Bad configuration option: nosuchkeyword"),
        "{err}"
    );
    let cfg = dir.path("cfg");
    std::fs::write(&cfg, "Port 2222\nUsePAM yes\n").unwrap();
    let (code, err) = t(&["-f", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("UsePAM"),
        "an OpenSSH keyword tobira lacks is a warning: {err}"
    );
    let (code, err) = t(&["-h", "/nonexistent/key"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent/key"), "{err}");
}

/// A server that accepts and then says nothing: the client gives up at
/// ConnectTimeout with a one-line reason and exit 255.
#[test]
fn silent_server_times_out() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hold = std::thread::spawn(move || {
        let c = l.accept();
        std::thread::sleep(Duration::from_secs(5));
        drop(c);
    });
    let dir = TempDir::new("silent");
    let (code, _, err) = tobira_probe(port, &dir.path("kh"), &["ConnectTimeout=1"]);
    assert_eq!(code, 255);
    assert!(
        err.contains(&format!(
            "Connection timed out during banner exchange with 127.0.0.1 port {port}"
        )),
        "{err}"
    );
    hold.join().unwrap();
}

/// Legacy algorithms are off by default and enabled with OpenSSH's `+`.
#[test]
fn legacy_algorithms_need_plus() {
    let default = start_tobirad(&[]);
    let (code, err) = openssh_probe(default.port, &["KexAlgorithms=diffie-hellman-group14-sha1"]);
    assert_eq!(code, 255);
    assert!(err.contains("no matching key exchange method found"), "{err}");
    let (_, err) = openssh_probe(default.port, &["MACs=hmac-sha1", "Ciphers=aes128-ctr"]);
    assert!(err.contains("no matching MAC found"), "{err}");
    let plus = start_tobirad(&[
        "-o",
        "KexAlgorithms=+diffie-hellman-group14-sha1",
        "-o",
        "MACs=+hmac-sha1",
    ]);
    let (_, err) = openssh_probe(
        plus.port,
        &[
            "KexAlgorithms=diffie-hellman-group14-sha1",
            "MACs=hmac-sha1",
            "Ciphers=aes128-ctr",
        ],
    );
    assert!(err.contains("kex: algorithm: diffie-hellman-group14-sha1"), "{err}");
    assert!(err.contains("MAC: hmac-sha1 compression"), "{err}");
    assert!(err.contains("SSH2_MSG_SERVICE_ACCEPT received"), "{err}");
    // The client refuses them by default too, and takes them with `+`.
    let dir = TempDir::new("legacy");
    let sshd = start_sshd(&["KexAlgorithms=diffie-hellman-group14-sha1"]);
    let (code, _, err) = tobira_probe(sshd.port, &dir.path("kh"), &["StrictHostKeyChecking=no"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("no matching key exchange method found. Their offer: diffie-hellman-group14-sha1"),
        "{err}"
    );
    let (_, _, err) = tobira_probe(
        sshd.port,
        &dir.path("kh"),
        &["StrictHostKeyChecking=no", "KexAlgorithms=+diffie-hellman-group14-sha1"],
    );
    assert!(err.contains("== negotiated: kex diffie-hellman-group14-sha1 "), "{err}");
    assert!(err.contains("<< SSH_MSG_SERVICE_ACCEPT (6)"), "{err}");
}
