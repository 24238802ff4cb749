//! Rekeying against the real OpenSSH (issue 5): 1 GiB through one channel
//! (`cat` echoing it back, so 1 GiB each way) with `RekeyLimit 16M` on the
//! client, then on the server, in both pairings; time-based re-exchanges
//! on either side; SHA-256 of what went in equals what came back.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};

const GIB: usize = 1 << 30;

/// Pseudo-random bytes, the same for the same seed.
struct Stream(u64);

impl Stream {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let b = self.0.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
}

/// Runs `client -v <extra> user@127.0.0.1 cat` with `size` bytes on its
/// standard input; returns (exit code, SHA-256 of the input, SHA-256 and
/// length of the output, stderr).
fn through_cat(
    client: &str,
    port: u16,
    user: &str,
    ident: &str,
    extra: &[&str],
    size: usize,
    pace: Option<Duration>,
) -> (i32, String, String, usize, String) {
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
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        ident,
        "-p",
        &port.to_string(),
    ]);
    for o in extra {
        c.args(["-o", o]);
    }
    c.arg(format!("{user}@127.0.0.1")).arg("cat");
    c.env_remove("SSH_AUTH_SOCK");
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut gen = Stream(0x2545_f491_4f6c_dd1d);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len());
            gen.fill(&mut buf[..n]);
            h.update(&buf[..n]);
            if stdin.write_all(&buf[..n]).is_err() {
                break;
            }
            left -= n;
            if let Some(p) = pace {
                std::thread::sleep(p);
            }
        }
        hex(&h.finalize())
    });
    let mut so = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0usize;
        loop {
            match so.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    h.update(&buf[..n]);
                    total += n;
                }
            }
        }
        (hex(&h.finalize()), total)
    });
    let mut se = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    });
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            panic!("{client}: 1 GiB through cat timed out");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let sent = writer.join().unwrap();
    let (got, len) = reader.join().unwrap();
    (status.code().unwrap_or(-1), sent, got, len, errs.join().unwrap())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Re-exchanges a client reported with `-v` (both ssh and tobira print
/// OpenSSH's line for each NEWKEYS after the first).
fn client_rekeys(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("SSH2_MSG_NEWKEYS received"))
        .count()
}

/// Key exchanges a server logged (sshd at LogLevel DEBUG3 and tobirad -d
/// both log the negotiated method once per exchange).
fn server_kexes(log: &str) -> usize {
    log.lines().filter(|l| l.contains("kex: algorithm: ")).count()
}

fn check(label: &str, r: &(i32, String, String, usize, String), size: usize) {
    let (code, sent, got, len, err) = r;
    let tail: Vec<&str> = err.lines().rev().take(15).collect();
    assert_eq!(*code, 0, "{label}: exit {code}\n{}", tail.join("\n"));
    assert_eq!(*len, size, "{label}: bytes back");
    assert_eq!(sent, got, "{label}: SHA-256 of what came back");
}

/// `RekeyLimit 16M` on the client: tobira→sshd and ssh→tobirad.
#[test]
fn client_byte_limit_with_openssh() {
    let dir = TempDir::new("rekey-c");
    let (user, ident) = user_with_key(&dir);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let r = through_cat("tobira", sshd.port, &user.name, &ident, &["RekeyLimit=16M"], GIB, None);
    check("tobira(RekeyLimit 16M) -> sshd", &r, GIB);
    // 2 GiB crossed the connection: about 64 limits reached per direction.
    let n = client_rekeys(&r.4);
    assert!(n >= 32, "tobira reported {n} re-exchanges");
    assert!(server_kexes(&sshd.log_text()) >= 33);

    let tobirad = start_tobirad(&[]);
    let r = through_cat("ssh", tobirad.port, &user.name, &ident, &["RekeyLimit=16M"], GIB, None);
    check("ssh(RekeyLimit 16M) -> tobirad", &r, GIB);
    let n = client_rekeys(&r.4);
    assert!(n >= 32, "ssh reported {n} re-exchanges");
    assert!(server_kexes(&tobirad.log_text()) >= 33);
}

/// Re-exchanges whose slow step tobirad runs off its I/O threads (group
/// exchange with an RSA host key): 256 MiB through `cat` while ssh and
/// tobirad each start a re-exchange every 16 MiB, so the client's data
/// keeps arriving while the reply is computed elsewhere. Every byte comes
/// back in order, and tobirad's log shows each exchange's step ran off the
/// I/O threads.
#[test]
fn offloaded_reexchanges_while_data_flows() {
    let dir = TempDir::new("rekey-o");
    let (user, ident) = user_with_key(&dir);
    let gex = "KexAlgorithms=diffie-hellman-group-exchange-sha256";
    let tobirad = start_tobirad(&["-o", "RekeyLimit=16M", "-o", gex]);
    let size = 256 << 20;
    let opts = [
        "RekeyLimit=16M",
        gex,
        "HostKeyAlgorithms=rsa-sha2-256",
        "Ciphers=aes128-gcm@openssh.com",
    ];
    let r = through_cat("ssh", tobirad.port, &user.name, &ident, &opts, size, None);
    check(
        "ssh(RekeyLimit 16M) -> tobirad(RekeyLimit 16M), group exchange",
        &r,
        size,
    );
    let n = client_rekeys(&r.4);
    assert!(n >= 8, "ssh reported {n} re-exchanges");
    let log = tobirad.log_text();
    let kexes = server_kexes(&log);
    assert!(kexes >= 9, "tobirad logged {kexes} key exchanges");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("kex: algorithm: diffie-hellman-group-exchange-sha256"))
            .count(),
        kexes
    );
    let offloaded = log
        .lines()
        .filter(|l| l.contains("key exchange: step computed off the I/O threads"))
        .count();
    assert_eq!(
        offloaded, kexes,
        "exchanges whose step was computed off the I/O threads"
    );
}

/// `RekeyLimit 16M` on the server: ssh→tobirad and tobira→sshd.
#[test]
fn server_byte_limit_with_openssh() {
    let dir = TempDir::new("rekey-s");
    let (user, ident) = user_with_key(&dir);
    let tobirad = start_tobirad(&["-o", "RekeyLimit=16M"]);
    let r = through_cat("ssh", tobirad.port, &user.name, &ident, &[], GIB, None);
    check("ssh -> tobirad(RekeyLimit 16M)", &r, GIB);
    let n = client_rekeys(&r.4);
    assert!(n >= 32, "ssh reported {n} re-exchanges started by tobirad");

    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys", "RekeyLimit=16M"]);
    let r = through_cat("tobira", sshd.port, &user.name, &ident, &[], GIB, None);
    check("tobira -> sshd(RekeyLimit 16M)", &r, GIB);
    let n = client_rekeys(&r.4);
    assert!(n >= 32, "tobira reported {n} re-exchanges started by sshd");
}

/// Time-based re-exchanges: tobira with `RekeyLimit 1G 1s` against sshd,
/// and tobirad with `RekeyLimit default 1s` under ssh, while data flows
/// (64 MiB paced over about 6 s) and on an idle session.
#[test]
fn time_limit_with_openssh() {
    let dir = TempDir::new("rekey-t");
    let (user, ident) = user_with_key(&dir);
    let size = 64 << 20;
    let pace = Some(Duration::from_millis(25));
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let r = through_cat(
        "tobira",
        sshd.port,
        &user.name,
        &ident,
        &["RekeyLimit=1G 1s"],
        size,
        pace,
    );
    check("tobira(RekeyLimit 1G 1s) -> sshd", &r, size);
    let n = client_rekeys(&r.4);
    assert!(n >= 3, "{n} time-based re-exchanges started by tobira");

    let tobirad = start_tobirad(&["-o", "RekeyLimit=default 1s"]);
    let r = through_cat("ssh", tobirad.port, &user.name, &ident, &[], size, pace);
    check("ssh -> tobirad(RekeyLimit default 1s)", &r, size);
    let n = client_rekeys(&r.4);
    assert!(n >= 3, "{n} time-based re-exchanges started by tobirad");

    // Idle sessions rekey too.
    for (client, port, opts) in [
        ("ssh", tobirad.port, vec![]),
        ("tobira", sshd.port, vec!["-oRekeyLimit=1G 1s"]),
    ] {
        let mut c = client_command(client, &ident, port);
        c.arg("-v")
            .args(opts)
            .arg(format!("{}@127.0.0.1", user.name))
            .arg("sleep 3.5");
        let out = run(&mut c, Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{client}: {err}");
        let n = client_rekeys(&err);
        assert!(n >= 2, "{client}: {n} re-exchanges in an idle session of 3.5 s");
    }
}
