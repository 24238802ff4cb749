//! Real peers for what OpenSSH does not speak: PuTTY 0.78's `plink` →
//! tobirad with `curve448-sha512`, an `ssh-ed448` host key, RSA key
//! exchange (RFC 4432), plain `zlib` compression, an Ed448 user key and
//! `sntrup761x25519-sha512@openssh.com`; and tobira → tobirad for the
//! post-quantum hybrids PuTTY 0.78 lacks (ML-KEM), curve448, RSA key
//! exchange, an Ed448 host key recorded in known_hosts, and an Ed448 user
//! key. Each test logs in and runs a command. Accounts are created and
//! removed by the tests (run as root, as CI does); `putty-tools` must be
//! installed (CI installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// The command every login runs, and what it prints.
const COMMAND: &str = "echo $((6*7))";
const ANSWER: &str = "42";

/// PuTTY's key generator and converter, with a passphrase file that holds
/// the empty passphrase (puttygen asks on the terminal otherwise).
fn puttygen(dir: &TempDir) -> Command {
    let empty = dir.path("empty-passphrase");
    if !empty.exists() {
        std::fs::write(&empty, "").unwrap();
    }
    let mut c = Command::new("puttygen");
    c.arg("-q").arg("--new-passphrase").arg(empty);
    c
}

fn check_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An `ssh-ed448` key pair made by puttygen in OpenSSH's format; returns
/// the private key path and the public line (`ssh-ed448 AAAA... name`).
fn ed448_key(dir: &TempDir, name: &str) -> (PathBuf, String) {
    let path = dir.path(name);
    let out = run(
        puttygen(dir)
            .args(["-t", "ed448", "-C", name, "-O", "private-openssh", "-o"])
            .arg(&path),
        Duration::from_secs(60),
    );
    check_ok("puttygen -t ed448 (putty-tools must be installed)", &out);
    (path.clone(), public_line(&path))
}

/// The OpenSSH public line of a private key file, by `puttygen -L`.
fn public_line(key: &Path) -> String {
    let out = run(Command::new("puttygen").arg(key).arg("-L"), Duration::from_secs(60));
    check_ok("puttygen -L", &out);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The `SHA256:...` fingerprint of a key file as PuTTY computes it
/// (`puttygen -l -E sha256` prints `ssh-ed448 448 SHA256:... comment`).
fn putty_fingerprint(key: &Path) -> String {
    let out = run(
        Command::new("puttygen").arg(key).args(["-l", "-E", "sha256"]),
        Duration::from_secs(60),
    );
    check_ok("puttygen -l", &out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
        .to_string()
}

/// Converts an OpenSSH-format private key into PuTTY's `.ppk`.
fn to_ppk(dir: &TempDir, key: &Path) -> PathBuf {
    let mut ppk = key.to_path_buf().into_os_string();
    ppk.push(".ppk");
    let ppk = PathBuf::from(ppk);
    let out = run(
        puttygen(dir).arg(key).args(["-O", "private", "-o"]).arg(&ppk),
        Duration::from_secs(60),
    );
    check_ok("puttygen -O private", &out);
    ppk
}

/// How plink logs in.
enum PlinkAuth<'a> {
    /// `-pw`: PuTTY answers the password (or keyboard-interactive) prompt.
    Password(&'a str),
    /// `-i key.ppk`.
    Key(&'a Path),
}

/// `plink -v -batch -ssh` to tobirad on `port` as `user`, the host key
/// pinned to `hostkey` (a `SHA256:` fingerprint), running [`COMMAND`].
/// `HOME` is a scratch directory so that nothing of the real user's PuTTY
/// configuration is read or written.
fn plink(server: &Server, user: &TestUser, hostkey: &str, auth: PlinkAuth<'_>, extra: &[&str]) -> Output {
    let home = server.dir.path("plink-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut c = Command::new("plink");
    c.args([
        "-v",
        "-batch",
        "-ssh",
        "-noagent",
        "-P",
        &server.port.to_string(),
        "-hostkey",
        hostkey,
    ]);
    match auth {
        PlinkAuth::Password(pw) => c.args(["-pw", pw]),
        PlinkAuth::Key(ppk) => c.arg("-i").arg(ppk),
    };
    c.args(extra);
    c.arg(format!("{}@127.0.0.1", user.name)).arg(COMMAND);
    c.env("HOME", &home).env_remove("SSH_AUTH_SOCK");
    run(&mut c, Duration::from_secs(120))
}

/// Asserts that plink logged in and the command printed [`ANSWER`].
fn assert_plink_ran(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.trim() == ANSWER,
        "{what}: plink {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    assert!(stderr.contains("Access granted"), "{what}: {stderr}");
    stderr
}

/// tobirad's `kex: algorithm: ALG` line for the connection, and its line
/// for the host key algorithm.
fn assert_server_kex(server: &Server, kex: &str, host_key: Option<&str>) -> String {
    let needle = format!("kex: algorithm: {kex};");
    let log = server.wait_log(&needle);
    assert!(log.contains(&needle), "tobirad did not use {kex}:\n{log}");
    if let Some(hk) = host_key {
        assert!(
            log.contains(&format!("{needle} host key algorithm: {hk}")),
            "tobirad did not sign with {hk}:\n{log}"
        );
    }
    log
}

/// The fingerprint of tobirad's test Ed25519 host key, which plink picks
/// when no Ed448 key is offered (its preference: ssh-ed448, ssh-ed25519...).
fn ed25519_host_fingerprint(server: &Server) -> String {
    putty_fingerprint(&server.dir.path("host_ed25519"))
}

/// plink with only `curve448-sha512` offered by tobirad, password login.
#[test]
fn plink_curve448_kex() {
    let user = TestUser::create();
    let server = start_tobirad(&["-o", "KexAlgorithms=curve448-sha512"]);
    let out = plink(
        &server,
        &user,
        &ed25519_host_fingerprint(&server),
        PlinkAuth::Password(&user.password),
        &[],
    );
    let err = assert_plink_ran("curve448-sha512", &out);
    assert!(err.contains("Curve448"), "{err}");
    assert_server_kex(&server, "curve448-sha512", Some("ssh-ed25519"));
}

/// plink against tobirad whose only host key algorithm is `ssh-ed448`, a
/// key made by puttygen and pinned by PuTTY's own fingerprint.
#[test]
fn plink_ed448_host_key() {
    let user = TestUser::create();
    let keys = TempDir::new("putty-ed448-host");
    let (host_key, _) = ed448_key(&keys, "hostkey");
    let hk = host_key.display().to_string();
    let server = start_tobirad(&["-h", &hk, "-o", "HostKeyAlgorithms=ssh-ed448"]);
    let fp = putty_fingerprint(&host_key);
    let out = plink(&server, &user, &fp, PlinkAuth::Password(&user.password), &[]);
    let err = assert_plink_ran("ssh-ed448 host key", &out);
    assert!(err.contains(&format!("ssh-ed448 448 {fp}")), "{err}");
    let log = server.wait_log("host key algorithm: ssh-ed448");
    assert!(log.contains("host key algorithm: ssh-ed448"), "{log}");
    // A different pinned key is refused by plink: the signature was checked
    // against the key tobirad really sent.
    let (other, _) = ed448_key(&keys, "other");
    let out = plink(
        &server,
        &user,
        &putty_fingerprint(&other),
        PlinkAuth::Password(&user.password),
        &[],
    );
    assert!(!out.status.success(), "plink accepted the wrong host key");
}

/// RSA key exchange with SHA-256 (RFC 4432), publickey login with a .ppk
/// converted from an OpenSSH key.
#[test]
fn plink_rsa2048_sha256_kex() {
    let user = TestUser::create();
    let keys = TempDir::new("putty-rsa2048");
    let (key, line) = user_key(&keys, "id_ed25519", "ed25519", None, "");
    user.authorize(&[line]);
    let ppk = to_ppk(&keys, &key);
    let server = start_tobirad(&["-o", "KexAlgorithms=rsa2048-sha256"]);
    let out = plink(
        &server,
        &user,
        &ed25519_host_fingerprint(&server),
        PlinkAuth::Key(&ppk),
        &[],
    );
    let err = assert_plink_ran("rsa2048-sha256", &out);
    assert!(err.contains("RSA key exchange with hash SHA-256"), "{err}");
    let log = assert_server_kex(&server, "rsa2048-sha256", None);
    assert!(log.contains(&format!("Accepted publickey for {}", user.name)), "{log}");
}

/// The legacy RSA key exchange with SHA-1, enabled explicitly in tobirad.
#[test]
fn plink_rsa1024_sha1_kex() {
    let user = TestUser::create();
    let keys = TempDir::new("putty-rsa1024");
    let (key, line) = user_key(&keys, "id_rsa", "rsa", Some(3072), "");
    user.authorize(&[line]);
    let ppk = to_ppk(&keys, &key);
    let server = start_tobirad(&["-o", "KexAlgorithms=rsa1024-sha1"]);
    let out = plink(
        &server,
        &user,
        &ed25519_host_fingerprint(&server),
        PlinkAuth::Key(&ppk),
        &[],
    );
    let err = assert_plink_ran("rsa1024-sha1", &out);
    assert!(err.contains("RSA key exchange with hash SHA-1"), "{err}");
    let log = assert_server_kex(&server, "rsa1024-sha1", None);
    assert!(log.contains(&format!("Accepted publickey for {}", user.name)), "{log}");
}

/// Plain `zlib` (compression from the first NEWKEYS, RFC 4253 §6.2): plink
/// `-C` asks for it first, tobirad allows it with `Compression=yes`.
#[test]
fn plink_zlib_compression() {
    let user = TestUser::create();
    let server = start_tobirad(&["-o", "Compression=yes"]);
    let out = plink(
        &server,
        &user,
        &ed25519_host_fingerprint(&server),
        PlinkAuth::Password(&user.password),
        &["-C"],
    );
    let err = assert_plink_ran("zlib", &out);
    assert!(err.contains("Initialised zlib (RFC1950) compression"), "{err}");
    assert!(err.contains("Initialised zlib (RFC1950) decompression"), "{err}");
    let log = server.wait_log("compression: zlib");
    for dir in ["client->server", "server->client"] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("kex: {dir} cipher:")))
            .unwrap_or_else(|| panic!("no {dir} line:\n{log}"));
        assert!(line.ends_with("compression: zlib"), "{line}");
    }
}

/// An `ssh-ed448` user key (made by puttygen, listed in authorized_keys as
/// `ssh-ed448 AAAA...`) authorizes plink; the server's Ed448 host key too.
#[test]
fn plink_ed448_user_key() {
    let user = TestUser::create();
    let keys = TempDir::new("putty-ed448-user");
    let (key, line) = ed448_key(&keys, "id_ed448");
    assert!(line.starts_with("ssh-ed448 AAAA"), "{line}");
    user.authorize(std::slice::from_ref(&line));
    let ppk = to_ppk(&keys, &key);
    let (host_key, _) = ed448_key(&keys, "hostkey");
    let hk = host_key.display().to_string();
    let server = start_tobirad(&["-h", &hk]);
    let out = plink(&server, &user, &putty_fingerprint(&host_key), PlinkAuth::Key(&ppk), &[]);
    let err = assert_plink_ran("ssh-ed448 user key", &out);
    assert!(err.contains("Sent public key signature"), "{err}");
    let fp = putty_fingerprint(&key);
    let accepted = format!("Accepted publickey for {} from 127.0.0.1 port", user.name);
    let log = server.wait_log(&accepted);
    assert!(
        log.contains(&accepted) && log.contains(&format!("ssh2: ED448 {fp}")),
        "{log}"
    );
}

/// `sntrup761x25519-sha512@openssh.com`, the post-quantum hybrid PuTTY 0.78
/// offers first (it has neither the unsuffixed name nor ML-KEM).
#[test]
fn plink_sntrup761x25519_kex() {
    let user = TestUser::create();
    let server = start_tobirad(&["-o", "KexAlgorithms=sntrup761x25519-sha512@openssh.com"]);
    let out = plink(
        &server,
        &user,
        &ed25519_host_fingerprint(&server),
        PlinkAuth::Password(&user.password),
        &[],
    );
    let err = assert_plink_ran("sntrup761x25519-sha512@openssh.com", &out);
    assert!(err.contains("NTRU Prime / Curve25519 hybrid key exchange"), "{err}");
    assert_server_kex(&server, "sntrup761x25519-sha512@openssh.com", None);
}

/// tobira → tobirad with `-o KexAlgorithms=KEX` on both sides, an Ed25519
/// user key, running [`COMMAND`].
fn tobira_kex(kex: &str) {
    let user = TestUser::create();
    let keys = TempDir::new("tobira-kex");
    let (key, line) = user_key(&keys, "id_ed25519", "ed25519", None, "");
    user.authorize(&[line]);
    let opt = format!("KexAlgorithms={kex}");
    let server = start_tobirad(&["-o", &opt]);
    let out = run(
        client_command("tobira", &format!("-i{}", key.display()), server.port)
            .args(["-v", "-o", &opt])
            .arg(format!("{}@127.0.0.1", user.name))
            .arg(COMMAND),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == ANSWER,
        "{kex}: tobira {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    assert!(stderr.contains(&format!("debug1: kex: algorithm: {kex}\n")), "{stderr}");
    assert_server_kex(&server, kex, None);
}

/// tobira → tobirad with `curve448-sha512` (in tobirad's defaults, asked for
/// by the client).
#[test]
fn tobira_curve448_kex() {
    tobira_kex("curve448-sha512");
}

/// ML-KEM-768 with X25519 (draft-ietf-sshm-mlkem-hybrid-kex).
#[test]
fn tobira_mlkem768x25519_kex() {
    tobira_kex("mlkem768x25519-sha256");
}

/// ML-KEM-768 with P-256.
#[test]
fn tobira_mlkem768nistp256_kex() {
    tobira_kex("mlkem768nistp256-sha256");
}

/// ML-KEM-1024 with P-384.
#[test]
fn tobira_mlkem1024nistp384_kex() {
    tobira_kex("mlkem1024nistp384-sha384");
}

/// RSA key exchange with SHA-256 (RFC 4432).
#[test]
fn tobira_rsa2048_sha256_kex() {
    tobira_kex("rsa2048-sha256");
}

/// The legacy RSA key exchange with SHA-1 (RFC 4432), enabled on both sides.
#[test]
fn tobira_rsa1024_sha1_kex() {
    tobira_kex("rsa1024-sha1");
}

/// An `ssh-ed448` host key: recorded by `accept-new` as
/// `[127.0.0.1]:PORT ssh-ed448 AAAA...`, found again by a second login with
/// `StrictHostKeyChecking=yes`, printed alike by `tobira-keyscan -t ed448`,
/// and refused when the server's key changes.
#[test]
fn tobira_ed448_host_key_known_hosts() {
    let user = TestUser::create();
    let keys = TempDir::new("tobira-ed448-host");
    let (key, line) = user_key(&keys, "id_ed25519", "ed25519", None, "");
    user.authorize(&[line]);
    let (host_key, host_line) = ed448_key(&keys, "hostkey");
    let hk = host_key.display().to_string();
    let server = start_tobirad(&["-h", &hk, "-o", "HostKeyAlgorithms=ssh-ed448"]);
    let kh = keys.path("known_hosts");
    let login = |port: u16, strict: &str| {
        let mut c = Command::new(bin("tobira"));
        c.args(["-v", "-F", "/dev/null", "-o"])
            .arg(format!("UserKnownHostsFile={}", kh.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                &format!("StrictHostKeyChecking={strict}"),
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-i",
            ])
            .arg(&key)
            .args(["-p", &port.to_string()])
            .arg(format!("{}@127.0.0.1", user.name))
            .arg(COMMAND)
            .env_remove("SSH_AUTH_SOCK");
        let out = run(&mut c, Duration::from_secs(120));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let fp = putty_fingerprint(&host_key);
    let (code, out, err) = login(server.port, "accept-new");
    assert_eq!((code, out.as_str()), (0, ANSWER), "{err}");
    assert!(
        err.contains(&format!("debug1: Server host key: ssh-ed448 {fp}")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "Warning: Permanently added '[127.0.0.1]:{}' (ED448) to the list of known hosts.",
            server.port
        )),
        "{err}"
    );
    let recorded = std::fs::read_to_string(&kh).unwrap();
    let bare: Vec<&str> = host_line.split(' ').take(2).collect();
    assert_eq!(recorded, format!("[127.0.0.1]:{} {}\n", server.port, bare.join(" ")));

    // tobira-keyscan prints the same line.
    let scan = run(
        Command::new(bin("tobira-keyscan"))
            .args(["-t", "ed448", "-p", &server.port.to_string()])
            .arg("127.0.0.1"),
        Duration::from_secs(60),
    );
    assert_eq!(String::from_utf8_lossy(&scan.stdout), recorded, "{scan:?}");

    let (code, out, err) = login(server.port, "yes");
    assert_eq!((code, out.as_str()), (0, ANSWER), "{err}");
    assert!(!err.contains("Permanently added"), "{err}");
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), recorded);

    // Another Ed448 key on the same port: the known key is "changed".
    drop(server);
    let (other, _) = ed448_key(&keys, "other");
    let other_hk = other.display().to_string();
    let server2 = start_tobirad(&["-h", &other_hk, "-o", "HostKeyAlgorithms=ssh-ed448"]);
    std::fs::write(&kh, format!("[127.0.0.1]:{} {}\n", server2.port, bare.join(" "))).unwrap();
    let (code, _, err) = login(server2.port, "accept-new");
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "{err}");
    assert!(
        err.contains("The fingerprint for the ED448 key sent by the remote host is"),
        "{err}"
    );
    assert!(err.contains(&putty_fingerprint(&other)), "{err}");
    assert!(err.contains("Host key verification failed."), "{err}");
}

/// An `ssh-ed448` user key (puttygen, OpenSSH format) given to tobira with
/// `-i` is offered, signs with `ssh-ed448` and is authorized by its
/// `ssh-ed448 AAAA...` authorized_keys line.
#[test]
fn tobira_ed448_user_key() {
    let user = TestUser::create();
    let keys = TempDir::new("tobira-ed448-user");
    let (key, line) = ed448_key(&keys, "id_ed448");
    user.authorize(std::slice::from_ref(&line));
    let server = start_tobirad(&[]);
    let out = run(
        client_command("tobira", &format!("-i{}", key.display()), server.port)
            .arg("-v")
            .arg(format!("{}@127.0.0.1", user.name))
            .arg(COMMAND),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == ANSWER,
        "tobira {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let fp = putty_fingerprint(&key);
    assert!(
        stderr.contains(&format!(
            "debug1: Offering public key: {} ssh-ed448 {fp}",
            key.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("using \"publickey\""), "{stderr}");
    let accepted = format!("Accepted publickey for {} from 127.0.0.1 port", user.name);
    let log = server.wait_log(&accepted);
    assert!(log.contains(&format!("ssh2: ED448 {fp}")), "{log}");
}
