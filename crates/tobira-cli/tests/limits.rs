//! The pre-authentication surface of tobirad under load (issue 7):
//! `MaxStartups` random early drop, `PerSourcePenalties` (OpenSSH 9.8's
//! behaviour, with its exempt list), and many silent
//! (and slow) connections held open while a real login still gets through;
//! descriptors and memory back to baseline once they close.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// `ssh user@127.0.0.1 echo ok`: (exit code, stdout, stderr).
fn login(port: u16, user: &str, ident: &str) -> (i32, String, String) {
    let mut c = client_command("ssh", ident, port);
    c.arg(format!("{user}@127.0.0.1")).arg("echo ok");
    let out = run(&mut c, Duration::from_secs(30));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether the server sends its identification on a fresh connection (a
/// refused connection is closed at once).
fn greeted(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            // A signal to the test process interrupts a read with a timeout.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return matches!(r, Ok(n) if n > 0 && buf.starts_with(b"SSH-2.0-")),
        }
    }
}

#[test]
fn per_source_penalties_refuse_after_failed_logins() {
    let dir = TempDir::new("psp");
    let (user, ident) = user_with_key(&dir);
    let (other, _) = user_key(&dir, "other", "ed25519", None, "");
    let wrong = format!("-i{}", other.display());
    let server = start_tobirad(&["-o", "PerSourcePenalties=authfail:10s"]);
    // Two failed logins accumulate 20 s of penalty (minimum 15 s).
    for _ in 0..2 {
        let (code, _, _) = login(server.port, &user.name, &wrong);
        assert_eq!(code, 255);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(!greeted(server.port), "a penalised source was served");
    let (code, _, err) = login(server.port, &user.name, &ident);
    assert_eq!(code, 255, "{err}");
    let log = server.wait_log("penalty");
    assert!(log.contains("drop connection from 127.0.0.1: penalty"), "{log}");

    // The same with the source exempt: never refused.
    let server = start_tobirad(&[
        "-o",
        "PerSourcePenalties=authfail:10s",
        "-o",
        "PerSourcePenaltyExemptList=127.0.0.0/8",
    ]);
    for _ in 0..3 {
        let (code, _, _) = login(server.port, &user.name, &wrong);
        assert_eq!(code, 255);
    }
    let (code, out, err) = login(server.port, &user.name, &ident);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
}

#[test]
fn max_startups_drops_then_recovers() {
    let dir = TempDir::new("ms");
    let (user, ident) = user_with_key(&dir);
    let server = start_tobirad(&["-o", "MaxStartups=3:100:3"]);
    // The readiness probe of start_tobirad counts until it is closed.
    server.wait_log("Connection closed by");
    // Three unauthenticated connections that never speak.
    let silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !greeted(server.port),
        "a fourth unauthenticated connection was served:\n{}",
        server.log_text()
    );
    assert!(server.log_text().contains("past MaxStartups"));
    drop(silent);
    std::thread::sleep(Duration::from_millis(300));
    let (code, out, err) = login(server.port, &user.name, &ident);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
}

/// 500 silent connections held open (within `MaxStartups`), and a real
/// login still succeeds promptly; every descriptor is returned after.
#[test]
fn silent_connections_do_not_block_a_login() {
    use std::io::Write;
    let dir = TempDir::new("silent");
    let (user, ident) = user_with_key(&dir);
    let server = start_tobirad(&["-o", "MaxStartups=1000:30:2000"]);
    let pid = server.child.id();
    // A first login, so lazily created state is in place for the baseline.
    let (code, _, err) = login(server.port, &user.name, &ident);
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(300));
    let baseline = open_fds(pid);
    let rss_baseline = rss_kib(pid);
    // 250 silent connections and 250 slow ones, which send the start of
    // an identification line and then stall.
    let held: Vec<TcpStream> = (0..500)
        .map(|i| {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            if i % 2 == 1 {
                let _ = s.write_all(b"SSH-2.0-slo");
            }
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert!(open_fds(pid) >= baseline + 500, "connections not accepted");
    let started = Instant::now();
    let (code, out, err) = login(server.port, &user.name, &ident);
    let took = started.elapsed();
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
    assert!(
        took < Duration::from_secs(2),
        "login took {took:?} next to 500 silent and slow connections"
    );
    let rss_held = rss_kib(pid);
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(30);
    while (open_fds(pid) > baseline || rss_kib(pid) > rss_baseline + 2 * 1024) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(open_fds(pid), baseline, "descriptors not returned");
    let rss_after = rss_kib(pid);
    eprintln!("tobirad RSS: {rss_baseline} KiB, {rss_held} KiB with 500 held, {rss_after} KiB after");
    assert!(
        rss_after <= rss_baseline + 4 * 1024,
        "memory not returned: {rss_baseline} KiB before, {rss_held} KiB with 500 connections, {rss_after} KiB after"
    );
}
