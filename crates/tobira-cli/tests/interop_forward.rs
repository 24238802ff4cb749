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
    let mut c = client_command(client, ident, port);
    c.arg(format!("{user}@127.0.0.1"));
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

/// A TCP server that answers each connection with the SHA-256 (hex) of
/// everything it read until EOF.
fn hash_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = c;
                let mut data = Vec::new();
                let _ = c.read_to_end(&mut data);
                let _ = c.write_all(sha256_hex(&data).as_bytes());
            });
        }
    });
    port
}

fn sha256_hex(data: &[u8]) -> String {
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = c.wait_with_output().unwrap();
    let _ = w.join();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// 20 channels at once on one connection (20 concurrent -L connections),
/// each moving 8 MiB; every hash is equal. tobira→tobirad, tobira→sshd and
/// ssh→tobirad.
#[test]
fn twenty_channels_at_once() {
    let dir = TempDir::new("many");
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    let ident = format!("-i{}", key.display());
    let hashes = hash_server();
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    for (client, server) in [("tobira", &tobirad), ("tobira", &sshd), ("ssh", &tobirad)] {
        let l = free_port();
        let mut c = client_cmd(client, &ident, server.port, &user.name);
        c.args(["-N", "-L", &format!("{l}:127.0.0.1:{hashes}")]);
        let _bg = Bg(c.stdin(Stdio::null()).spawn().unwrap());
        wait_listen(l);
        let workers: Vec<_> = (0..20u64)
            .map(|i| {
                std::thread::spawn(move || {
                    let data = pseudo_random(8 * 1024 * 1024, i + 1);
                    let want = sha256_hex(&data);
                    let mut s = TcpStream::connect(("127.0.0.1", l)).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                    let mut w = s.try_clone().unwrap();
                    let writer = std::thread::spawn(move || {
                        w.write_all(&data).unwrap();
                        w.shutdown(std::net::Shutdown::Write).unwrap();
                    });
                    let mut got = String::new();
                    s.read_to_string(&mut got).unwrap();
                    writer.join().unwrap();
                    (got, want)
                })
            })
            .collect();
        for w in workers {
            let (got, want) = w.join().unwrap();
            assert_eq!(got, want, "{client} to server port {}", server.port);
        }
    }
}

/// -R with port 0 prints the allocated port; -D carries curl's SOCKS5
/// request; -J through two hops; agent forwarding lists the local agent's
/// key remotely; a Unix-socket (streamlocal) forward.
#[test]
fn remote_port_zero_curl_two_hops_agent_and_streamlocal() {
    let dir = TempDir::new("more");
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    let ident = format!("-i{}", key.display());
    let echo = echo_server();
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);

    // -R 0: the server picks the port; tobira prints it.
    let mut c = client_cmd("tobira", &ident, tobirad.port, &user.name);
    c.args(["-N", "-R", &format!("0:127.0.0.1:{echo}")]);
    let mut child = c.stdin(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 256];
    let start = Instant::now();
    // The whole line, which may come in several reads.
    let has_line = |t: &str| t.split("Allocated port").nth(1).is_some_and(|rest| rest.contains('\n'));
    while !has_line(&text) && start.elapsed() < Duration::from_secs(20) {
        let n = err.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _bg = Bg(child);
    let port: u16 = text
        .split("Allocated port ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no allocated port in {text:?}"));
    assert!(
        text.contains(&format!("for remote forward to 127.0.0.1:{echo}")),
        "{text}"
    );
    assert_eq!(round_trip(port, b"zero"), b"echo:zero");

    // -D with curl through SOCKS5 to a local HTTP server.
    let web = dir.path("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("hello.txt"), "hello through socks\n").unwrap();
    let http_port = free_port();
    let _http = Bg(Command::new("python3")
        .args([
            "-m",
            "http.server",
            &http_port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(&web)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    wait_listen(http_port);
    for server in [&tobirad, &sshd] {
        let d = free_port();
        let mut c = client_cmd("tobira", &ident, server.port, &user.name);
        c.args(["-N", "-D", &d.to_string()]);
        let _bg = Bg(c.stdin(Stdio::null()).spawn().unwrap());
        wait_listen(d);
        let out = run(
            Command::new("curl").args([
                "-s",
                "--max-time",
                "20",
                "--socks5-hostname",
                &format!("127.0.0.1:{d}"),
                &format!("http://127.0.0.1:{http_port}/hello.txt"),
            ]),
            Duration::from_secs(30),
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello through socks\n");
    }

    // -J through two hops: tobirad, then sshd, then tobirad.
    let cfg = dir.path("config");
    std::fs::write(&cfg, format!("Host *\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  BatchMode yes\n  IdentitiesOnly yes\n  IdentityFile {}\n  LogLevel QUIET\n", key.display())).unwrap();
    let last = start_tobirad(&[]);
    let hops = format!(
        "{0}@127.0.0.1:{1},{0}@127.0.0.1:{2}",
        user.name, tobirad.port, sshd.port
    );
    let out = run(
        Command::new(bin("tobira"))
            .arg("-F")
            .arg(&cfg)
            .args(["-J", &hops, "-p", &last.port.to_string()])
            .arg(format!("{}@127.0.0.1", user.name))
            .arg("echo two-hops:$SSH_CONNECTION")
            .env_remove("SSH_AUTH_SOCK"),
        Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("two-hops:127.0.0.1 ") && text.trim_end().ends_with(&last.port.to_string()),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Agent forwarding: the remote `ssh-add -l` lists the local agent's key.
    let sock = dir.path("agent.sock");
    let _agent = Bg(Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let start = Instant::now();
    while !sock.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success());
    let fp = String::from_utf8_lossy(&Command::new("ssh-keygen").arg("-lf").arg(&key).output().unwrap().stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    for (client, server) in [("ssh", &tobirad), ("tobira", &sshd), ("tobira", &tobirad)] {
        let mut c = client_cmd(client, &ident, server.port, &user.name);
        c.arg("-A").arg("ssh-add -l").env("SSH_AUTH_SOCK", &sock);
        let out = run(&mut c, Duration::from_secs(60));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&fp),
            "{client}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A streamlocal forward: -L to a Unix socket owned by the user.
    let unix_path = user.home.join("svc.sock");
    let listener = std::os::unix::net::UnixListener::bind(&unix_path).unwrap();
    Command::new("chown").arg(&user.name).arg(&unix_path).status().unwrap();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let mut c = c;
            let mut buf = [0u8; 64];
            let n = c.read(&mut buf).unwrap_or(0);
            let _ = c.write_all(b"unix:");
            let _ = c.write_all(&buf[..n]);
        }
    });
    for (client, server) in [("ssh", &tobirad), ("tobira", &tobirad), ("tobira", &sshd)] {
        let l = free_port();
        let mut c = client_cmd(client, &ident, server.port, &user.name);
        c.args(["-N", "-L", &format!("{l}:{}", unix_path.display())]);
        let _bg = Bg(c.stdin(Stdio::null()).spawn().unwrap());
        wait_listen(l);
        assert_eq!(round_trip(l, b"sock"), b"unix:sock", "{client}");
    }
}
