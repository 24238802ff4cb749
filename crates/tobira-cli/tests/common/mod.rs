//! Test harness: real OpenSSH `sshd`/`ssh` and our binaries over loopback.
//! Every server gets its own config, host keys and port; the system's sshd
//! service is never touched.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("tobira-it-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `f` every 50 ms until it holds (true) or `limit` has passed
/// (false).
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port for a server the test starts, free when this returns.
///
/// Ports come from a per-process counter in 20000–32767, below Linux's
/// default ephemeral range (32768 and up), so two tests of one test
/// process never get the same number, and no client connection's source
/// port can take it in the meantime; a port something else holds is
/// skipped. (Test binaries run one at a time under `cargo test`; separate
/// processes start at offsets of their own but could meet.) (Binding port
/// 0 and letting go, as this once did, could hand two parallel tests the
/// same port: one then spoke to the other's server.)
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20000;
    const SPAN: u32 = 12768;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Test binaries run one after another; each starts at its own offset.
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN);
}

pub fn wait_for_port(port: u16, child: &mut Child, log: &Path) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "server exited with {st}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "server did not listen on {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Generates a key with OpenSSH's ssh-keygen.
pub fn ssh_keygen(path: &Path, kind: &str, bits: Option<u32>) {
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-N", "", "-t", kind, "-f"]).arg(path);
    if let Some(b) = bits {
        c.args(["-b", &b.to_string()]);
    }
    let st = c.status().expect("ssh-keygen (openssh-client) must be installed");
    assert!(st.success());
}

/// A running server process with its log file.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    pub dir: TempDir,
}

impl Server {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Waits until `needle` appears in the log (servers log asynchronously).
    pub fn wait_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let t = self.log_text();
            if t.contains(needle) || start.elapsed() > Duration::from_secs(10) {
                return t;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Host keys for a test server: RSA 2048 (the seed's), Ed25519, ECDSA
/// P-256/384/521 and DSA.
pub fn host_keys(dir: &TempDir) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for (kind, bits, name) in [
        ("rsa", Some(2048), "host_rsa"),
        ("ed25519", None, "host_ed25519"),
        ("ecdsa", Some(256), "host_ecdsa"),
        ("ecdsa", Some(384), "host_ecdsa384"),
        ("ecdsa", Some(521), "host_ecdsa521"),
        // Offered only where ssh-dss is enabled with `+`.
        ("dsa", None, "host_dsa"),
    ] {
        let p = dir.path(name);
        ssh_keygen(&p, kind, bits);
        v.push(p);
    }
    v
}

/// Starts OpenSSH's sshd in the foreground with its own config.
pub fn start_sshd(extra: &[&str]) -> Server {
    let dir = TempDir::new("sshd");
    let port = free_port();
    let keys = host_keys(&dir);
    let _ = std::fs::create_dir_all("/run/sshd");
    let mut cfg = format!("Port {port}\nListenAddress 127.0.0.1\nPidFile none\nUsePAM no\nStrictModes no\nLogLevel DEBUG3\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nAuthorizedKeysFile none\n");
    for k in &keys {
        cfg.push_str(&format!("HostKey {}\n", k.display()));
    }
    let cfg_path = dir.path("sshd_config");
    std::fs::write(&cfg_path, cfg).unwrap();
    let log = dir.path("sshd.log");
    let mut cmd = Command::new("/usr/sbin/sshd");
    cmd.args(["-D", "-e", "-f"]).arg(&cfg_path);
    for o in extra {
        cmd.args(["-o", o]);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("/usr/sbin/sshd (openssh-server) must be installed");
    let mut s = Server { child, port, log, dir };
    wait_for_port(port, &mut s.child, &s.log.clone());
    s
}

pub fn bin(name: &str) -> PathBuf {
    match name {
        "tobirad" => PathBuf::from(env!("CARGO_BIN_EXE_tobirad")),
        "tobira" => PathBuf::from(env!("CARGO_BIN_EXE_tobira")),
        "tobira-keyscan" => PathBuf::from(env!("CARGO_BIN_EXE_tobira-keyscan")),
        "tobira-keygen" => PathBuf::from(env!("CARGO_BIN_EXE_tobira-keygen")),
        _ => panic!("unknown binary {name}"),
    }
}

/// Starts tobirad with the test host keys and extra arguments.
pub fn start_tobirad(extra: &[&str]) -> Server {
    start_tobirad_via(&[], extra)
}

/// [`start_tobirad`] through `wrapper` (a program and its arguments, which
/// must end by running the program path and arguments appended to them,
/// e.g. `sh -c '…; exec "$0" "$@"'`), so that tobirad starts in the state
/// the wrapper leaves.
pub fn start_tobirad_via(wrapper: &[&str], extra: &[&str]) -> Server {
    let dir = TempDir::new("tobirad");
    let port = free_port();
    let keys = host_keys(&dir);
    let log = dir.path("tobirad.log");
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(bin("tobirad"));
            c
        }
        None => Command::new(bin("tobirad")),
    };
    cmd.args([
        "-D",
        "-e",
        "-d",
        "-p",
        &port.to_string(),
        "-o",
        "ListenAddress=127.0.0.1",
    ]);
    for k in &keys {
        cmd.arg("-h").arg(k);
    }
    // The tests log in (and fail on purpose) many times from 127.0.0.1;
    // PerSourcePenalties is tested on its own.
    if !extra.iter().any(|o| o.contains("PerSourcePenalties")) {
        cmd.args(["-o", "PerSourcePenalties=no"]);
    }
    cmd.args(extra);
    let child = cmd
        .env("XDG_STATE_HOME", dir.path("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut s = Server { child, port, log, dir };
    wait_for_port(port, &mut s.child, &s.log.clone());
    s
}

/// Runs a command with a time limit, capturing its output.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    run_to_end(child, limit, &format!("{cmd:?}"))
}

/// Waits for `child`, reading its standard output and error meanwhile (a
/// full pipe would stall it), and collects them; after `limit` it is killed
/// and the test fails, naming `what` and showing what it wrote to stderr.
pub fn run_to_end(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut se, &mut v);
        v
    });
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = err_t.join().unwrap_or_default();
            panic!("{what}: timed out\nstderr: {}", String::from_utf8_lossy(&err));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// OpenSSH's `ssh -vvv` against a server, authentication bound to fail.
pub fn openssh_probe(port: u16, opts: &[&str]) -> (i32, String) {
    let mut c = Command::new("ssh");
    c.args([
        "-vvv",
        "-F",
        "/dev/null",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "BatchMode=yes",
        "-o",
        "PubkeyAuthentication=no",
        "-p",
        &port.to_string(),
    ]);
    for o in opts {
        c.args(["-o", o]);
    }
    c.args(["alice@127.0.0.1", "true"]);
    let out = run(&mut c, Duration::from_secs(60));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tobira --trace` against a server, with a throw-away known_hosts.
pub fn tobira_probe(port: u16, known_hosts: &Path, opts: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(bin("tobira"));
    c.args(["--trace", "-F", "/dev/null", "-o"])
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()));
    c.args([
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-p",
        &port.to_string(),
    ]);
    for o in opts {
        c.args(["-o", o]);
    }
    c.arg("alice@127.0.0.1");
    let out = run(&mut c, Duration::from_secs(60));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A throw-away system account with a known password, removed on drop.
/// The interop tests run as root (CI does).
pub struct TestUser {
    pub name: String,
    pub home: PathBuf,
    pub password: String,
}

fn retry(cmd: &mut Command) -> bool {
    for _ in 0..50 {
        if cmd.status().map(|s| s.success()).unwrap_or(false) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

impl TestUser {
    pub fn create() -> Self {
        assert!(
            nix_is_root(),
            "the login interop tests create system accounts and must run as root (CI does)"
        );
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("tbt{}x{n}", std::process::id() % 100_000);
        let home = PathBuf::from(format!("/tmp/tobira-home-{name}"));
        let _ = std::fs::remove_dir_all(&home);
        assert!(
            retry(
                Command::new("useradd")
                    .args(["-m", "-d"])
                    .arg(&home)
                    .args(["-s", "/bin/sh", &name])
            ),
            "useradd failed"
        );
        let password = format!("Pw-{name}-9x");
        let mut c = Command::new("chpasswd").stdin(Stdio::piped()).spawn().unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(format!("{name}:{password}\n").as_bytes())
            .unwrap();
        assert!(c.wait().unwrap().success());
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let u = TestUser { name, home, password };
        u.chown();
        u
    }

    fn chown(&self) {
        let _ = Command::new("chown")
            .arg("-R")
            .arg(format!("{0}:{0}", self.name))
            .arg(&self.home)
            .status();
        let _ = Command::new("chmod").arg("700").arg(self.home.join(".ssh")).status();
    }

    /// Writes authorized_keys with these lines.
    pub fn authorize(&self, lines: &[String]) {
        let p = self.home.join(".ssh/authorized_keys");
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        self.chown();
        let _ = Command::new("chmod").arg("600").arg(&p).status();
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // Nothing of this user may outlive the test (a later user may get the uid).
        let _ = Command::new("pkill").args(["-KILL", "-u", &self.name]).status();
        retry(
            Command::new("userdel")
                .args(["-r", "-f", &self.name])
                .stderr(Stdio::null()),
        );
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

pub fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A key made by ssh-keygen (optionally with a passphrase); returns the
/// private key path and the public line.
pub fn user_key(dir: &TempDir, name: &str, kind: &str, bits: Option<u32>, passphrase: &str) -> (PathBuf, String) {
    let p = dir.path(name);
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-N", passphrase, "-t", kind, "-C", name, "-f"]).arg(&p);
    if let Some(b) = bits {
        c.args(["-b", &b.to_string()]);
    }
    assert!(c.status().unwrap().success());
    let public = std::fs::read_to_string(p.with_extension("pub")).unwrap_or_else(|_| {
        let mut q = p.clone().into_os_string();
        q.push(".pub");
        std::fs::read_to_string(PathBuf::from(q)).unwrap()
    });
    (p, public.trim().to_string())
}

/// A throw-away user with one authorized ed25519 key; returns the user
/// and `-iKEY` for the client's command line.
pub fn user_with_key(dir: &TempDir) -> (TestUser, String) {
    let user = TestUser::create();
    let (key, line) = user_key(dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    (user, format!("-i{}", key.display()))
}

/// An SSH_ASKPASS program that prints `answer`.
pub fn askpass(dir: &TempDir, answer: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let p = dir.path(&format!(
        "askpass-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::write(&p, format!("#!/bin/sh\nprintf '%s\\n' '{answer}'\n")).unwrap();
    let _ = Command::new("chmod").arg("755").arg(&p).status();
    p
}

/// Runs a login client (`ssh` or tobira) with common options; returns
/// (exit code, stderr).
pub fn login(client: &str, port: u16, user: &str, opts: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut c = if client == "ssh" {
        Command::new("ssh")
    } else {
        Command::new(bin("tobira"))
    };
    c.args([
        "-v",
        "-F",
        "/dev/null",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "IdentitiesOnly=yes",
        "-p",
        &port.to_string(),
    ]);
    for o in opts {
        if o.starts_with('-') {
            c.arg(o);
        } else {
            c.args(["-o", o]);
        }
    }
    c.arg(format!("{user}@127.0.0.1"));
    if client == "ssh" {
        c.arg("true");
    }
    c.env_remove("SSH_AUTH_SOCK").env("DISPLAY", ":0");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = run(&mut c, Duration::from_secs(60));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ssh` or tobira, non-interactive, with a throw-away known_hosts and only
/// the identity `ident` (`-iPATH`); the caller adds options, the destination
/// and a command.
pub fn client_command(client: &str, ident: &str, port: u16) -> Command {
    let mut c = client_command_logging(client, ident, port);
    c.arg("-q");
    c
}

/// [`client_command`] without its `-q` (a later `-v` wins over it, in
/// tobira as in OpenSSH, but then `-q`'s effects are gone too),
/// for a caller that adds `-v`s to read the client's log.
pub fn client_command_logging(client: &str, ident: &str, port: u16) -> Command {
    let mut c = if client == "ssh" {
        Command::new("ssh")
    } else {
        Command::new(bin("tobira"))
    };
    c.args([
        "-F",
        "/dev/null",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        ident,
        "-p",
        &port.to_string(),
    ]);
    c.env_remove("SSH_AUTH_SOCK");
    c
}

/// A `kB` field of /proc/<pid>/status (VmRSS, VmSize, ...); 0 when unreadable.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .unwrap_or(0)
}

/// A process's resident memory in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS")
}

/// How many descriptors a process has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// `n` pseudo-random bytes (xorshift64 from `seed`): test data that does
/// not compress and is the same on every run.
pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs `cmd` with `input` written to its stdin from a thread of its own
/// while stdout and stderr are read, within `limit`.
pub fn run_with_input(cmd: &mut Command, input: Vec<u8>, limit: Duration, what: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = run_to_end(child, limit, what);
    let _ = writer.join();
    out
}
