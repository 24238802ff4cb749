//! Port forwarding (RFC 4254 §7) against the real OpenSSH, all four
//! pairings: -L, -R, -D (SOCKS5), -W, ProxyJump; and the server's refusals.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A TCP echo server answering `echo:<what it read>` and closing.
fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf = [0u8; 256];
                let n = c.read(&mut buf).unwrap_or(0);
                let _ = c.write_all(b"echo:");
                let _ = c.write_all(&buf[..n]);
            });
        }
    });
    port
}

fn client_cmd(client: &str, ident: &str, port: u16, user: &str) -> Command {
    let mut c = if client == "ssh" {
        Command::new("ssh")
    } else {
        Command::new(bin("tobira"))
    };
    c.args([
        "-q",
        "-F",
        "/dev/null",
        "-o",
        "UserKnownHostsFile=/dev/null",
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
    c.arg(format!("{user}@127.0.0.1"));
    c.env_remove("SSH_AUTH_SOCK");
    c
}

struct Bg(Child);
impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listen(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn round_trip(port: u16, msg: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(msg).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

fn socks5(port: u16, target: u16, msg: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(&[5, 1, 0]).unwrap();
    let mut hello = [0u8; 2];
    c.read_exact(&mut hello).unwrap();
    assert_eq!(hello, [5, 0]);
    let mut req = vec![5, 1, 0, 3, 9];
    req.extend_from_slice(b"127.0.0.1");
    req.extend_from_slice(&target.to_be_bytes());
    c.write_all(&req).unwrap();
    let mut rep = [0u8; 10];
    c.read_exact(&mut rep).unwrap();
    assert_eq!(rep[1], 0, "SOCKS request granted");
    c.write_all(msg).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

#[test]
fn local_remote_dynamic_and_stdio_in_every_pairing() {
    let dir = TempDir::new("fwd");
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    let ident = format!("-i{}", key.display());
    let echo = echo_server();
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    for (client, server) in [
        ("ssh", &tobirad),
        ("tobira", &sshd),
        ("tobira", &tobirad),
        ("ssh", &sshd),
    ] {
        let label = format!(
            "{client} -> {}",
            if server.port == tobirad.port { "tobirad" } else { "sshd" }
        );
        let (l, r, dynp) = (free_port(), free_port(), free_port());
        let mut c = client_cmd(client, &ident, server.port, &user.name);
        c.args([
            "-N",
            "-L",
            &format!("{l}:127.0.0.1:{echo}"),
            "-R",
            &format!("{r}:127.0.0.1:{echo}"),
            "-D",
            &dynp.to_string(),
        ]);
        let _bg = Bg(c.stdin(Stdio::null()).spawn().unwrap());
        wait_listen(l);
        wait_listen(r);
        wait_listen(dynp);
        assert_eq!(round_trip(l, b"local"), b"echo:local", "{label} -L");
        assert_eq!(round_trip(r, b"remote"), b"echo:remote", "{label} -R");
        assert_eq!(socks5(dynp, echo, b"socks"), b"echo:socks", "{label} -D");
        // -W: stdin/stdout to the target.
        let mut c = client_cmd(client, &ident, server.port, &user.name);
        c.args(["-W", &format!("127.0.0.1:{echo}")]);
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(b"stdio").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.stdout, b"echo:stdio", "{label} -W");
    }
}

#[test]
fn proxy_jump_through_tobirad_and_sshd() {
    let dir = TempDir::new("jump");
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    let cfg = dir.path("config");
    std::fs::write(&cfg, format!("Host *\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  BatchMode yes\n  IdentitiesOnly yes\n  IdentityFile {}\n  LogLevel QUIET\n", key.display())).unwrap();
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    for (client, jump, target) in [
        ("tobira", &tobirad, &sshd),
        ("ssh", &tobirad, &sshd),
        ("tobira", &sshd, &tobirad),
    ] {
        let mut c = if client == "ssh" {
            Command::new("ssh")
        } else {
            Command::new(bin("tobira"))
        };
        c.arg("-F").arg(&cfg).args([
            "-J",
            &format!("{}@127.0.0.1:{}", user.name, jump.port),
            "-p",
            &target.port.to_string(),
        ]);
        c.arg(format!("{}@127.0.0.1", user.name))
            .arg("echo jumped:$SSH_CONNECTION");
        let out = run(c.env_remove("SSH_AUTH_SOCK"), Duration::from_secs(60));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.starts_with("jumped:127.0.0.1 "),
            "{client}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.trim_end().ends_with(&format!(" {}", target.port)), "{text}");
    }
}

#[test]
fn forwarding_refused_by_policy() {
    let dir = TempDir::new("nofwd");
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    let ident = format!("-i{}", key.display());
    let echo = echo_server();
    let tobirad = start_tobirad(&["-o", "AllowTcpForwarding=no"]);
    // -L: the channel is refused; the local connection closes without data.
    let l = free_port();
    let mut c = client_cmd("ssh", &ident, tobirad.port, &user.name);
    c.args(["-N", "-L", &format!("{l}:127.0.0.1:{echo}")]);
    let _bg = Bg(c.stdin(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    wait_listen(l);
    assert_eq!(round_trip(l, b"x"), b"");
    // -R with ExitOnForwardFailure: the client gives up.
    let mut c = client_cmd("tobira", &ident, tobirad.port, &user.name);
    c.args([
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-R",
        &format!("{}:127.0.0.1:{echo}", free_port()),
    ]);
    let out = run(&mut c, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("remote port forwarding failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = tobirad.wait_log("refused local port forward");
    assert!(log.contains("refused local port forward"), "{log}");
}
