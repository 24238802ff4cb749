//! Faults and hostile peers against the real tobirad (issue 7).
//!
//! - floods (the CVE-2025-26466 class): SSH_MSG_IGNORE by the hundred
//!   megabytes before authentication and during a key re-exchange, and
//!   hundreds of thousands of unknown messages sent without reading the
//!   UNIMPLEMENTED replies — tobirad's resident memory must stay flat;
//! - peers that vanish mid-transfer, mid-kex and mid-auth: the end is
//!   logged, the user's processes and tobirad's descriptors are released,
//!   the server keeps serving;
//! - SIGTERM with a live session, SIGHUP during a transfer;
//! - a forwarded connection whose target runs out of disk;
//! - CVE regressions through the binary: connection-protocol messages before
//!   authentication (CVE-2025-32433), a client's USERAUTH_SUCCESS
//!   (CVE-2018-10933), an allocation-sized packet length (CVE-2024-43410).
//!
//! The hostile clients are written with `tobira_proto::Connection` over a
//! blocking `TcpStream` (or with raw bytes where no key exchange is needed).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use sha2::{Digest, Sha256};
use tobira_proto::wire::Writer;
use tobira_proto::{Config, Connection, Event};

use common::*;

const MIB: usize = 1 << 20;
/// Allowed growth of tobirad's resident set under a flood.
const MAX_GROWTH_KIB: u64 = 16 * 1024;

// ----- measuring tobirad -----

/// tobirad's VmRSS: a baseline, then samples; the peak must stay near the
/// baseline.
struct Rss {
    pid: u32,
    baseline: u64,
    peak: u64,
    samples: Vec<String>,
}

impl Rss {
    fn new(pid: u32) -> Self {
        let b = proc_status_kib(pid, "VmRSS");
        assert!(b > 0, "cannot read VmRSS of {pid}");
        Rss {
            pid,
            baseline: b,
            peak: b,
            samples: vec![format!("baseline {b} KiB")],
        }
    }

    fn sample(&mut self, label: &str) -> u64 {
        let v = proc_status_kib(self.pid, "VmRSS");
        self.peak = self.peak.max(v);
        self.samples.push(format!("{label}: {v} KiB"));
        v
    }

    fn assert_flat(&self, what: &str, log: &str) {
        let growth = self.peak.saturating_sub(self.baseline);
        eprintln!(
            "{what}: tobirad VmRSS baseline {} KiB, peak {} KiB (+{growth} KiB)",
            self.baseline, self.peak
        );
        assert!(
            growth < MAX_GROWTH_KIB,
            "{what}: tobirad's VmRSS grew by {growth} KiB\n{}\n--- tobirad log tail ---\n{}",
            self.samples.join("\n"),
            tail(log, 40)
        );
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The user's live processes (`ps -u user`, zombies left out: they are
/// dead, waiting for init to reap them), one per line; empty: none.
fn user_processes(user: &str) -> String {
    let out = Command::new("ps")
        .args(["-u", user, "-o", "pid=,stat=,args="])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().nth(1).is_some_and(|st| !st.starts_with('Z')))
        .collect::<Vec<_>>()
        .join("\n")
}

/// tobirad's descriptors and what they point at.
fn fd_list(pid: u32) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let target = std::fs::read_link(e.path()).unwrap_or_default();
                    let name = e.file_name().to_string_lossy().into_owned();
                    // Pipes: which end (fdinfo flags, octal: 1 = write-only).
                    let flags = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{name}"))
                        .ok()
                        .and_then(|t| {
                            t.lines()
                                .find_map(|l| l.strip_prefix("flags:").map(|f| f.trim().to_string()))
                        })
                        .filter(|_| target.to_string_lossy().starts_with("pipe:"));
                    match flags {
                        Some(f) => format!("{name}->{} flags {f}", target.display()),
                        None => format!("{name}->{}", target.display()),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|s| s.split("->").next().and_then(|n| n.parse::<u32>().ok()));
    v
}

/// The kernel's send and receive queues (bytes) of tobirad's end of the TCP
/// connection `server_port` <-> `client_port` on 127.0.0.1.
fn server_side_queues(server_port: u16, client_port: u16) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |a: &str| a.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || port(f[1]) != Some(server_port) || port(f[2]) != Some(client_port) {
            return None;
        }
        let (tx, rx) = f[4].split_once(':')?;
        Some((u64::from_str_radix(tx, 16).ok()?, u64::from_str_radix(rx, 16).ok()?))
    })
}

/// Waits for a log line about the end of the connection from
/// `127.0.0.1 port <port>` (sshd's wording: closed, disconnected).
fn end_logged(server: &Server, port: u16) -> Option<String> {
    let needle = format!("127.0.0.1 port {port}");
    let start = Instant::now();
    loop {
        let log = server.log_text();
        let found = log.lines().find(|l| {
            l.contains(&needle)
                && (l.contains("Connection closed by")
                    || l.contains("Disconnected from")
                    || l.contains("Received disconnect from")
                    || l.contains("Connection reset by"))
        });
        if let Some(l) = found {
            return Some(l.to_string());
        }
        if start.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills `pid` with SIGKILL after `limit` unless disarmed (bounds blocking
/// reads of a child's output).
struct Watchdog(Arc<AtomicBool>);

impl Watchdog {
    fn new(pid: u32, limit: Duration) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        std::thread::spawn(move || {
            let start = Instant::now();
            while !d.load(Ordering::SeqCst) {
                if start.elapsed() > limit {
                    signal(pid, nix::sys::signal::Signal::SIGKILL);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// A child killed and reaped on drop.
struct Bg(Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ----- accounts and logins -----

/// `ssh user@127.0.0.1 echo ok` must succeed.
fn assert_login(server: &Server, user: &str, ident: &str) {
    let mut c = client_command("ssh", ident, server.port);
    c.arg(format!("{user}@127.0.0.1")).arg("echo ok");
    let out = run(&mut c, Duration::from_secs(30));
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stdout).trim()),
        (Some(0), "ok"),
        "login failed: {}\n--- tobirad log tail ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail(&server.log_text(), 40)
    );
}

// ----- a hostile client on tobira_proto -----

/// How a connection of [`Peer`] ended (the texts are read through `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
enum End {
    /// SSH_MSG_DISCONNECT from tobirad: reason code and description.
    Disconnect(u32, String),
    Eof,
    Timeout,
    Other(String),
}

fn end_of(e: tobira_proto::Error) -> End {
    match e {
        tobira_proto::Error::PeerDisconnected { code, message } => End::Disconnect(code, message),
        e => End::Other(e.to_string()),
    }
}

fn client_config(trace: bool) -> Arc<Config> {
    // The proto defaults (mlkem768x25519-sha256, ssh-ed25519, AES-GCM or
    // chacha20-poly1305 by the CPU, ETM MACs) are all in tobirad's
    // defaults.
    Arc::new(Config {
        trace,
        ..Config::default()
    })
}

/// A client-role `Connection` over a blocking socket.
struct Peer {
    s: TcpStream,
    c: Connection,
    buf: Vec<u8>,
}

impl Peer {
    fn on(s: TcpStream) -> Peer {
        let _ = s.set_nodelay(true);
        let rng = Box::new(rand::rngs::StdRng::from_entropy());
        Peer {
            s,
            c: Connection::client(client_config(false), rng),
            buf: vec![0u8; 64 * 1024],
        }
    }

    fn connect(port: u16) -> Peer {
        Peer::on(TcpStream::connect(("127.0.0.1", port)).unwrap())
    }

    /// Connected, first key exchange done (host key accepted), the
    /// `ssh-userauth` service accepted: still unauthenticated.
    fn handshake(port: u16) -> Peer {
        let mut p = Peer::connect(port);
        p.wait_for(Duration::from_secs(30), |e| matches!(e, Event::ServiceAccepted(_)))
            .unwrap_or_else(|e| panic!("handshake with tobirad failed: {e:?}"));
        p
    }

    fn local_port(&self) -> u16 {
        self.s.local_addr().unwrap().port()
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let n = self.c.pending_output().len();
        if n > 0 {
            self.s.write_all(self.c.pending_output())?;
            self.c.consume_output(n);
        }
        Ok(())
    }

    /// One read (waiting at most `limit`) fed to the connection; 0 when
    /// nothing came.
    fn read_once(&mut self, limit: Duration) -> Result<usize, End> {
        self.s
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))))
            .unwrap();
        match self.s.read(&mut self.buf) {
            Ok(0) => Err(End::Eof),
            Ok(n) => self.c.feed(&self.buf[..n]).map(|_| n).map_err(end_of),
            // A signal to this test process (SIGCHLD of a server started by
            // another test) interrupts a read with a timeout: nothing came.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(End::Other(e.to_string())),
        }
    }

    /// The next event; host keys are accepted.
    fn next_event(&mut self, limit: Duration) -> Result<Event, End> {
        let deadline = Instant::now() + limit;
        loop {
            self.flush().map_err(|e| End::Other(e.to_string()))?;
            if let Some(ev) = self.c.poll_event() {
                if let Event::HostKey { .. } = ev {
                    self.c.accept_host_key().map_err(end_of)?;
                }
                return Ok(ev);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(End::Timeout);
            }
            self.read_once(deadline - now)?;
        }
    }

    fn wait_for(&mut self, limit: Duration, mut pred: impl FnMut(&Event) -> bool) -> Result<Event, End> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = self.next_event(left)?;
            if pred(&ev) {
                return Ok(ev);
            }
        }
    }

    /// Every event until the connection ends, and how it ended.
    fn until_end(&mut self, limit: Duration) -> (Vec<Event>, End) {
        let mut events = Vec::new();
        let deadline = Instant::now() + limit;
        let end = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left) {
                Ok(ev) => events.push(ev),
                Err(e) => break e,
            }
        };
        events.extend(std::iter::from_fn(|| self.c.poll_event()));
        (events, end)
    }
}

/// SSH_MSG_IGNORE with `len` bytes of data.
fn ignore_payload(len: usize) -> Vec<u8> {
    let mut v = vec![2u8];
    v.put_string(&vec![0x5a; len]);
    v
}

/// Sends `total` bytes of 32 KiB IGNOREs, sampling tobirad's RSS every
/// 16 MiB; `at_mib` is called at each sample with the MiB sent so far.
fn ignore_flood(p: &mut Peer, total: usize, rss: &mut Rss, mut at_mib: impl FnMut(&mut Peer, usize)) {
    let payload = ignore_payload(32 * 1024);
    let mut sent = 0;
    while sent < total {
        p.c.send_payload(payload.clone()).unwrap();
        p.flush()
            .unwrap_or_else(|e| panic!("tobirad stopped taking the flood after {} MiB: {e}", sent / MIB));
        sent += payload.len();
        if sent % (16 * MIB) < payload.len() {
            rss.sample(&format!("{} MiB of IGNORE sent", sent / MIB));
            at_mib(p, sent / MIB);
        }
    }
}

// ----- 1. floods -----

/// 200 MiB of SSH_MSG_IGNORE (32 KiB each) after the first key exchange,
/// before authentication: tobirad discards them as they come; a
/// USERAUTH_REQUEST sent after the flood is answered (in order).
#[test]
fn ignore_flood_before_auth_keeps_memory_flat() {
    let server = start_tobirad(&[]);
    let pid = server.child.id();
    let mut p = Peer::handshake(server.port);
    std::thread::sleep(Duration::from_millis(300));
    let mut rss = Rss::new(pid);
    let started = Instant::now();
    ignore_flood(&mut p, 200 * MIB, &mut rss, |_, _| {});
    p.c.userauth_none("faults").unwrap();
    let r = p.wait_for(Duration::from_secs(60), |e| matches!(e, Event::AuthFailure { .. }));
    assert!(
        r.is_ok(),
        "no answer after the flood: {r:?}\n{}",
        tail(&server.log_text(), 40)
    );
    eprintln!("200 MiB of IGNORE in {:?}", started.elapsed());
    rss.sample("answered after the flood");
    std::thread::sleep(Duration::from_millis(500));
    rss.sample("0.5 s later");
    rss.assert_flat("IGNORE flood before authentication", &server.log_text());
}

/// 300,000 messages of an unknown type (192) while the client does not read:
/// tobirad answers each with UNIMPLEMENTED, its replies back up in the
/// kernel (the client's receive buffer is 64 KiB), and it must stop reading
/// rather than queue replies in memory. Then the client reads: every
/// message got its UNIMPLEMENTED, in order, and the connection still works.
#[test]
fn unimplemented_flood_without_reading_keeps_memory_flat() {
    const N: usize = 300_000;
    let server = start_tobirad(&[]);
    let pid = server.child.id();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(64 * 1024).unwrap();
    sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], server.port)).into())
        .unwrap();
    let mut p = Peer::on(sock.into());
    p.wait_for(Duration::from_secs(30), |e| matches!(e, Event::ServiceAccepted(_)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut rss = Rss::new(pid);

    // The whole flood, then a USERAUTH_REQUEST, sealed up front and written
    // by another thread: this one does not read until told to.
    for _ in 0..N {
        p.c.send_payload(vec![192]).unwrap();
    }
    p.c.userauth_none("faults").unwrap();
    let bytes = p.c.pending_output().to_vec();
    p.c.consume_output(bytes.len());
    let flood_len = bytes.len();
    let mut w = p.s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
        w.write_all(&bytes).map_err(|e| e.to_string())
    });

    // tobirad blocks writing its replies and stops reading us: our bytes
    // wait in its socket's receive queue, its replies in its send queue.
    let client_port = p.local_port();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stalled = None;
    let mut last_rx = 0;
    while Instant::now() < deadline {
        rss.sample("flooding, not reading");
        let q = server_side_queues(server.port, client_port);
        if let Some((tx, rx)) = q {
            // Megabytes of replies unsent, and our bytes waiting unread in
            // tobirad's receive queue over two samples in a row. (Whether
            // our writer is still blocked depends on how far the kernel
            // grew the buffers on our side: with a large send buffer the
            // whole flood fits and the writer finishes, while tobirad
            // still does not read.)
            if tx >= MIB as u64 && rx > 0 && rx == last_rx {
                stalled = Some((tx, rx));
                break;
            }
            last_rx = rx;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let (tx, rx) = stalled.unwrap_or_else(|| {
        panic!(
            "tobirad never stopped reading a client that does not read (queues {:?}, writer finished: {})",
            server_side_queues(server.port, client_port),
            writer.is_finished()
        )
    });
    eprintln!("tobirad stalled: {tx} bytes of replies and {rx} bytes of flood queued in the kernel");
    std::thread::sleep(Duration::from_secs(1));
    rss.sample("stalled, 1 s later");
    let still = server_side_queues(server.port, client_port);
    assert!(
        matches!(still, Some((_, r)) if r >= rx),
        "tobirad read on while its replies were stuck: {still:?}"
    );

    // Now read everything: one UNIMPLEMENTED per message, then the answer
    // to the USERAUTH_REQUEST.
    p.c.set_config(client_config(true));
    let mut unimplemented = 0usize;
    let started = Instant::now();
    loop {
        match p.next_event(Duration::from_secs(60)) {
            Ok(Event::Trace(t)) if t.starts_with("<< SSH_MSG_UNIMPLEMENTED") => unimplemented += 1,
            Ok(Event::AuthFailure { .. }) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "connection ended after {unimplemented} UNIMPLEMENTED replies: {e:?}\n{}",
                tail(&server.log_text(), 40)
            ),
        }
    }
    eprintln!(
        "{N} unknown messages ({} KiB) answered; read back in {:?}",
        flood_len / 1024,
        started.elapsed()
    );
    assert_eq!(writer.join().unwrap(), Ok(()));
    assert_eq!(unimplemented, N, "one UNIMPLEMENTED per unknown message");
    rss.sample("after reading");
    rss.assert_flat("unknown-message flood without reading", &server.log_text());
}

/// The same IGNORE flood while a key re-exchange is under way. A client
/// built on `Connection` cannot send IGNOREs during its own exchange (the
/// core holds non-kex messages between KEXINIT and NEWKEYS, bounded at
/// 4 MiB), so the exchange is tobirad's: with `RekeyLimit 32M` it sends its
/// KEXINIT during the flood, and we keep flooding without answering it;
/// then we read, finish the exchange, and the connection still works.
#[test]
fn ignore_flood_during_rekey_keeps_memory_flat() {
    let server = start_tobirad(&["-o", "RekeyLimit=32M"]);
    let pid = server.child.id();
    let mut p = Peer::handshake(server.port);
    std::thread::sleep(Duration::from_millis(300));
    let mut rss = Rss::new(pid);
    let mut kexinit_seen_at = None;
    ignore_flood(&mut p, 200 * MIB, &mut rss, |p, mib| {
        if kexinit_seen_at.is_none() {
            // tobirad sends nothing unasked before authentication but its
            // KEXINIT: anything readable means the re-exchange began.
            p.s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 16];
            if matches!(p.s.peek(&mut b), Ok(n) if n > 0) {
                kexinit_seen_at = Some(mib);
            }
            p.s.set_nonblocking(false).unwrap();
        }
    });
    let at = kexinit_seen_at.expect("tobirad did not start a re-exchange during 200 MiB with RekeyLimit 32M");
    assert!(at <= 64, "re-exchange started late: {at} MiB");
    eprintln!(
        "tobirad's KEXINIT was pending from {at} MiB; {} MiB flooded during its exchange",
        200 - at
    );
    let first = p.next_event(Duration::from_secs(30));
    assert!(
        matches!(first, Ok(Event::PeerKexInit(_))),
        "expected tobirad's KEXINIT first, got {first:?}"
    );
    let done = p.wait_for(Duration::from_secs(30), |e| matches!(e, Event::KexDone { .. }));
    assert!(
        matches!(done, Ok(Event::KexDone { first: false })),
        "re-exchange did not finish: {done:?}\n{}",
        tail(&server.log_text(), 40)
    );
    assert_eq!(p.c.completed_kex_count(), 2);
    p.c.userauth_none("faults").unwrap();
    let r = p.wait_for(Duration::from_secs(30), |e| matches!(e, Event::AuthFailure { .. }));
    assert!(r.is_ok(), "no answer after the re-exchange: {r:?}");
    rss.sample("after the re-exchange");
    rss.assert_flat("IGNORE flood during tobirad's re-exchange", &server.log_text());
}

// ----- 2. peers that vanish -----

/// Reads from `r` until `n` bytes came (or EOF), in a thread; gives up after
/// `limit`. Returns the byte count and the reader.
fn read_at_least<R: Read + Send + 'static>(mut r: R, n: usize, limit: Duration) -> Option<(usize, R)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < n {
            match r.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
        let _ = tx.send((got, r));
    });
    rx.recv_timeout(limit).ok()
}

/// The source port of the newest `Accepted publickey for USER` log line,
/// once there are more than `before` of them.
fn accepted_port(server: &Server, user: &str, before: usize) -> Option<u16> {
    let needle = format!("Accepted publickey for {user} from 127.0.0.1 port ");
    let mut port = None;
    wait_until(Duration::from_secs(10), || {
        let log = server.log_text();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(&needle)).collect();
        if lines.len() > before {
            port = lines.last().and_then(|l| {
                let rest = &l[l.find(&needle)? + needle.len()..];
                rest.split_whitespace().next()?.parse().ok()
            });
            true
        } else {
            false
        }
    });
    port
}

/// tobirad's descriptors, phase by phase: each phase must give back what
/// it took (within 5 s); a leak is recorded against its phase and becomes
/// part of the next phase's baseline, so it is reported once.
struct FdLedger {
    pid: u32,
    baseline: Vec<String>,
}

impl FdLedger {
    fn new(pid: u32) -> Self {
        FdLedger {
            pid,
            baseline: fd_list(pid),
        }
    }

    fn settle(&mut self, phase: &str, failures: &mut Vec<String>) {
        let n = self.baseline.len();
        if wait_until(Duration::from_secs(5), || open_fds(self.pid) <= n) {
            return;
        }
        let now = fd_list(self.pid);
        let extra: Vec<&String> = now.iter().filter(|f| !self.baseline.contains(f)).collect();
        failures.push(format!(
            "{phase}: tobirad holds {} descriptors 5 s after, {n} before; new: {extra:?}",
            now.len()
        ));
        self.baseline = now;
    }
}

/// A peer disappears mid-transfer (`ssh` stopped, then killed with SIGKILL,
/// during a 200 MB `cat`), mid-kex (identification and KEXINIT, then close) and mid-auth
/// (after SERVICE_ACCEPT and a USERAUTH_REQUEST): each end is logged, the
/// user's processes are gone within seconds, tobirad's descriptors return to
/// their baseline and a real login still works. All findings are collected
/// and reported together.
///
/// Known failure: the mid-transfer descriptor check (a leaked pipe, see
/// below); every other check passes.
#[test]
fn vanishing_peers_leave_nothing_behind() {
    let dir = TempDir::new("vanish");
    let (user, ident) = user_with_key(&dir);
    let server = start_tobirad(&[]);
    let pid = server.child.id();
    assert_login(&server, &user.name, &ident);
    std::thread::sleep(Duration::from_millis(500));
    let mut fds = FdLedger::new(pid);
    let mut failures: Vec<String> = Vec::new();

    // Mid-transfer.
    let needle = format!("Accepted publickey for {} ", user.name);
    let before = server.log_text().matches(&needle).count();
    let mut c = client_command("ssh", &ident, server.port);
    c.arg(format!("{}@127.0.0.1", user.name))
        .arg("head -c 200000000 /dev/zero | cat");
    let mut ssh = Bg(c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let out = ssh.0.stdout.take().unwrap();
    let got = read_at_least(out, 16 * MIB, Duration::from_secs(30));
    let (n, out) = got.expect("the transfer did not start");
    assert!(n >= 16 * MIB, "transfer ended early after {n} bytes");
    let procs = user_processes(&user.name);
    assert!(procs.contains("cat"), "the transfer's processes: {procs}");
    let ssh_port = accepted_port(&server, &user.name, before).expect("login of the transfer not logged");
    // The client stops reading first (SIGSTOP), so tobirad's output for the
    // channel backs up (past the session's 1 MiB high-water mark), then it
    // vanishes (SIGKILL): the usual way a dead peer looks.
    signal(ssh.0.id(), nix::sys::signal::Signal::SIGSTOP);
    std::thread::sleep(Duration::from_secs(1));
    let _ = ssh.0.kill();
    let _ = ssh.0.wait();
    drop(out);
    if !wait_until(Duration::from_secs(5), || user_processes(&user.name).is_empty()) {
        failures.push(format!(
            "mid-transfer: processes of {} left 5 s after the client was killed:\n{}",
            user.name,
            user_processes(&user.name)
        ));
    }
    match end_logged(&server, ssh_port) {
        Some(l) => eprintln!("mid-transfer end logged: {l}"),
        None => failures.push(format!(
            "mid-transfer: no log line ends the connection from 127.0.0.1 port {ssh_port}"
        )),
    }
    // Regression: the read end of the session's stdout pipe used to stay
    // open in tobirad for good when the connection died with more than
    // OUTPUT_HIGH_WATER queued (`pump_output` waited on a wake-up that
    // `Sessions::shutdown` never sent); `Session::end` now releases it.
    fds.settle("mid-transfer", &mut failures);

    // Mid-kex: our identification and KEXINIT, tobirad's answer, then gone.
    {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let c = Connection::client(client_config(false), Box::new(rand::rngs::StdRng::from_entropy()));
        s.write_all(c.pending_output()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"SSH-2.0-"), "no identification from tobirad");
        let port = s.local_addr().unwrap().port();
        drop(s);
        match end_logged(&server, port) {
            Some(l) => eprintln!("mid-kex end logged: {l}"),
            None => failures.push(format!("mid-kex: no log line ends the connection from port {port}")),
        }
        fds.settle("mid-kex", &mut failures);
    }

    // Mid-auth: after SERVICE_ACCEPT and a first USERAUTH_REQUEST.
    {
        let mut p = Peer::handshake(server.port);
        p.c.userauth_none(&user.name).unwrap();
        p.wait_for(Duration::from_secs(10), |e| matches!(e, Event::AuthFailure { .. }))
            .unwrap();
        let port = p.local_port();
        drop(p);
        match end_logged(&server, port) {
            Some(l) => eprintln!("mid-auth end logged: {l}"),
            None => failures.push(format!("mid-auth: no log line ends the connection from port {port}")),
        }
        fds.settle("mid-auth", &mut failures);
    }

    // Still serving; nothing left over.
    assert_login(&server, &user.name, &ident);
    fds.settle("a new login", &mut failures);
    let procs = user_processes(&user.name);
    if !procs.is_empty() {
        failures.push(format!("processes left at the end: {procs}"));
    }
    let log = server.log_text();
    if log.contains("panicked") {
        failures.push("tobirad panicked".into());
    }
    assert!(
        failures.is_empty(),
        "{}\n--- tobirad log tail ---\n{}",
        failures.join("\n"),
        tail(&log, 60)
    );
}

/// The in-connection twin of the mid-transfer case: a client (password
/// login on `Connection`) runs `head -c 100000000 /dev/zero` on a session
/// channel, stops reading so the output backs up, then closes the channel
/// and goes on using the connection. The program is ended, and tobirad must
/// release the session's pipes at once, not at the end of the connection.
///
/// Known failure (the same bug as in `vanishing_peers_leave_nothing_behind`):
/// the read end of the stdout pipe stays open after CHANNEL_CLOSE, and
/// after the disconnect too; an authenticated client can repeat this to
/// exhaust tobirad's descriptors.
#[test]
fn channel_closed_with_output_backed_up_releases_its_pipes() {
    use tobira_proto::msg::connection::{ChannelKind, ChannelRequest};
    let dir = TempDir::new("chclose");
    let (user, _) = user_with_key(&dir);
    let server = start_tobirad(&[]);
    let pid = server.child.id();
    let mut p = Peer::handshake(server.port);
    p.c.userauth_password(&user.name, &user.password, None).unwrap();
    let r = p.wait_for(Duration::from_secs(20), |e| {
        matches!(e, Event::AuthSuccess | Event::AuthFailure { .. })
    });
    assert!(matches!(r, Ok(Event::AuthSuccess)), "password login: {r:?}");
    std::thread::sleep(Duration::from_millis(300));
    let mut fds = FdLedger::new(pid);
    let mut failures = Vec::new();

    let id = p.c.channel_open(ChannelKind::Session).unwrap();
    p.wait_for(Duration::from_secs(10), |e| {
        matches!(e, Event::ChannelOpenConfirmed { .. })
    })
    .unwrap();
    let exec = ChannelRequest::Exec {
        command: "head -c 100000000 /dev/zero".into(),
    };
    p.c.channel_request(id, &exec, false).unwrap();
    p.flush().unwrap();
    // Not reading: 2 MiB of window, then tobirad's queue passes 1 MiB.
    assert!(
        wait_until(Duration::from_secs(10), || user_processes(&user.name).contains("head")),
        "the program did not start"
    );
    std::thread::sleep(Duration::from_secs(1));
    p.c.channel_close(id).unwrap();
    let r = p.wait_for(Duration::from_secs(20), |e| matches!(e, Event::ChannelClosed { .. }));
    assert!(r.is_ok(), "channel not closed: {r:?}");
    if !wait_until(Duration::from_secs(5), || user_processes(&user.name).is_empty()) {
        failures.push(format!(
            "processes left after CHANNEL_CLOSE: {}",
            user_processes(&user.name)
        ));
    }
    // Regression: the same leak through CHANNEL_CLOSE on a live connection.
    fds.settle("CHANNEL_CLOSE with output backed up, connection alive", &mut failures);

    // The connection still serves a new session.
    let id = p.c.channel_open(ChannelKind::Session).unwrap();
    p.wait_for(Duration::from_secs(10), |e| {
        matches!(e, Event::ChannelOpenConfirmed { .. })
    })
    .unwrap();
    let exec = ChannelRequest::Exec {
        command: "echo still-serving".into(),
    };
    p.c.channel_request(id, &exec, false).unwrap();
    let mut out = Vec::new();
    let r = p.wait_for(Duration::from_secs(10), |e| {
        if let Event::ChannelData { data, .. } = e {
            out.extend_from_slice(data);
        }
        matches!(e, Event::ChannelClosed { .. })
    });
    assert!(r.is_ok(), "second session: {r:?}");
    assert_eq!(String::from_utf8_lossy(&out).trim(), "still-serving");
    drop(p);
    fds.settle("after the disconnect", &mut failures);
    assert!(
        failures.is_empty(),
        "{}\n--- tobirad log tail ---\n{}",
        failures.join("\n"),
        tail(&server.log_text(), 30)
    );
}

// ----- 3. SIGTERM -----

/// SIGTERM to tobirad while a session runs `sleep`: tobirad exits, the
/// session's processes are ended, the client sees the connection go (exit
/// status 255), all within a few seconds.
#[test]
fn sigterm_ends_sessions() {
    let dir = TempDir::new("term");
    let (user, ident) = user_with_key(&dir);
    let mut server = start_tobirad(&[]);
    let mut c = client_command("ssh", &ident, server.port);
    c.arg(format!("{}@127.0.0.1", user.name))
        .arg("sleep 300; echo not-killed");
    let mut ssh = Bg(c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    assert!(
        wait_until(Duration::from_secs(20), || user_processes(&user.name).contains("sleep")),
        "the session did not start: {}",
        tail(&server.log_text(), 30)
    );
    let started = Instant::now();
    signal(server.child.id(), nix::sys::signal::Signal::SIGTERM);

    let mut server_status = None;
    wait_until(Duration::from_secs(10), || {
        server_status = server.child.try_wait().ok().flatten();
        server_status.is_some()
    });
    let server_took = started.elapsed();
    let mut ssh_status = None;
    wait_until(Duration::from_secs(10), || {
        ssh_status = ssh.0.try_wait().ok().flatten();
        ssh_status.is_some()
    });
    let ssh_took = started.elapsed();
    let gone = wait_until(Duration::from_secs(5), || user_processes(&user.name).is_empty());
    let procs_took = started.elapsed();
    let log = server.log_text();
    let mut err = String::new();
    if let Some(mut e) = ssh.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let mut out = String::new();
    if let Some(mut o) = ssh.0.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    eprintln!("SIGTERM: tobirad {server_status:?} after {server_took:?}; ssh {ssh_status:?} after {ssh_took:?}; processes gone: {gone} after {procs_took:?}");
    assert!(
        server_status.is_some(),
        "tobirad still running 10 s after SIGTERM\n{}",
        tail(&log, 30)
    );
    assert!(log.contains("Received signal 15; terminating."), "{}", tail(&log, 30));
    assert!(
        gone,
        "session processes left after SIGTERM: {}",
        user_processes(&user.name)
    );
    assert!(ssh_status.is_some(), "ssh still running 10 s after tobirad's SIGTERM");
    assert_eq!(ssh_status.unwrap().code(), Some(255), "ssh: {err}");
    assert!(!out.contains("not-killed"), "the session's command ran on: {out}");
    assert!(
        server_took < Duration::from_secs(5) && ssh_took < Duration::from_secs(5),
        "too slow: tobirad {server_took:?}, ssh {ssh_took:?}"
    );
}

// ----- 4. SIGHUP -----

/// `len` bytes of a fixed pseudo-random pattern into `path`; their SHA-256.
fn write_pattern(path: &Path, len: usize) -> Vec<u8> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut h = Sha256::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; MIB];
    let mut left = len;
    while left > 0 {
        for b in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n]).unwrap();
        h.update(&chunk[..n]);
        left -= n;
    }
    f.flush().unwrap();
    h.finalize().to_vec()
}

/// `ssh` without `-q` (which would hide the banner): (exit code, stdout,
/// stderr).
fn login_showing_banner(port: u16, user: &str, ident: &str) -> (i32, String, String) {
    let mut c = Command::new("ssh");
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
    ])
    .arg(format!("{user}@127.0.0.1"))
    .arg("echo ok")
    .env_remove("SSH_AUTH_SOCK");
    let out = run(&mut c, Duration::from_secs(30));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SIGHUP while 100 MB flow through ssh → tobirad, after the config file
/// given with `-f` gained a `Banner`: the transfer completes intact (same
/// SHA-256), and a new login shows the banner (the reload applies to new
/// connections).
#[test]
fn sighup_reload_during_transfer() {
    const LEN: usize = 100_000_000;
    let dir = TempDir::new("hup");
    let (user, ident) = user_with_key(&dir);
    let data = dir.path("data.bin");
    let want = write_pattern(&data, LEN);
    let banner_text = "FAULTS-BANNER: reloaded configuration in force";
    let banner = dir.path("banner");
    std::fs::write(&banner, format!("{banner_text}\n")).unwrap();
    let cfg = dir.path("tobirad_config");
    std::fs::write(&cfg, "# faults.rs\nPubkeyAuthentication yes\n").unwrap();
    let cfg_arg = cfg.display().to_string();
    let server = start_tobirad(&["-f", &cfg_arg]);
    let pid = server.child.id();

    let (code, out, err) = login_showing_banner(server.port, &user.name, &ident);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
    assert!(!err.contains(banner_text), "banner before the reload: {err}");

    let mut c = client_command("ssh", &ident, server.port);
    c.arg(format!("{}@127.0.0.1", user.name))
        .arg(format!("cat {}", data.display()));
    let mut ssh = Bg(c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    let watchdog = Watchdog::new(ssh.0.id(), Duration::from_secs(60));
    let mut stdout = ssh.0.stdout.take().unwrap();
    let mut h = Sha256::new();
    let mut got = 0usize;
    let mut reloaded_at = None;
    let mut buf = vec![0u8; 64 * 1024];
    let started = Instant::now();
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        h.update(&buf[..n]);
        got += n;
        if reloaded_at.is_none() && got >= 20 * MIB {
            std::fs::write(
                &cfg,
                format!("# faults.rs\nPubkeyAuthentication yes\nBanner {}\n", banner.display()),
            )
            .unwrap();
            signal(pid, nix::sys::signal::Signal::SIGHUP);
            reloaded_at = Some(got);
        }
    }
    let status = ssh.0.wait().unwrap();
    drop(watchdog);
    let mut err = String::new();
    if let Some(mut e) = ssh.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    eprintln!(
        "100 MB through tobirad in {:?}, SIGHUP at {reloaded_at:?} bytes",
        started.elapsed()
    );
    let log = server.wait_log("Received SIGHUP");
    assert!(
        log.contains("Received SIGHUP; rereading configuration."),
        "{}",
        tail(&log, 30)
    );
    assert!(!log.contains("reload failed"), "{}", tail(&log, 30));
    assert_eq!(
        (status.code(), got),
        (Some(0), LEN),
        "transfer across the reload: {err}\n{}",
        tail(&log, 30)
    );
    assert!(h.finalize().to_vec() == want, "SHA-256 differs after the reload");

    // The reload (keys, moduli) may still be running on a loaded machine.
    server.wait_log("Configuration reloaded");
    let (code, out, err) = login_showing_banner(server.port, &user.name, &ident);
    assert_eq!((code, out.trim()), (0, "ok"), "{err}");
    assert!(
        err.contains(banner_text),
        "the reloaded Banner is not shown to a new connection: {err}"
    );
}

// ----- 5. a full disk behind a forwarding -----

/// A 1 MiB tmpfs mounted for the test (or None where mounting is refused).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A TCP server that writes what it reads into `file`; on a write error it
/// answers `ENOSPC` and closes. Reports each connection's outcome.
fn disk_writer(file: PathBuf) -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let mut c = c;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
                .unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let mut written = 0usize;
            let outcome = loop {
                let n = match c.read(&mut buf) {
                    Ok(0) | Err(_) => break format!("eof after {written} bytes"),
                    Ok(n) => n,
                };
                if let Err(e) = f.write_all(&buf[..n]) {
                    let _ = c.write_all(b"ENOSPC\n");
                    break format!("write error after {written} bytes: {e} ({:?})", e.raw_os_error());
                }
                written += n;
            };
            drop(c);
            let _ = tx.send(outcome);
        }
    });
    (port, rx)
}

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

/// `ssh -L` to a server that writes into a full 1 MiB tmpfs (or /dev/full
/// where mounting is not permitted): the forwarded connection is closed
/// once the target gives up, the SSH connection itself keeps working
/// (another -L on it still round-trips), tobirad keeps serving, does not
/// panic, and its descriptors return to their baseline.
#[test]
fn full_disk_behind_a_forwarding_fails_cleanly() {
    let dir = TempDir::new("full");
    let (user, ident) = user_with_key(&dir);
    let mnt = dir.path("mnt");
    let tmpfs = Tmpfs::mount(&mnt);
    let target_file = match &tmpfs {
        Some(t) => t.0.join("sink"),
        None => {
            eprintln!("mount -t tmpfs refused: writing to /dev/full instead");
            PathBuf::from("/dev/full")
        }
    };
    let (sink, outcomes) = disk_writer(target_file);
    let echo = echo_server();
    let server = start_tobirad(&[]);
    let pid = server.child.id();
    assert_login(&server, &user.name, &ident);
    std::thread::sleep(Duration::from_millis(500));
    let baseline = open_fds(pid);

    let (l_sink, l_echo) = (free_port(), free_port());
    let mut c = client_command("ssh", &ident, server.port);
    c.args([
        "-N",
        "-L",
        &format!("{l_sink}:127.0.0.1:{sink}"),
        "-L",
        &format!("{l_echo}:127.0.0.1:{echo}"),
    ])
    .arg(format!("{}@127.0.0.1", user.name));
    let mut ssh = Bg(c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    assert!(
        wait_until(Duration::from_secs(20), || TcpStream::connect(("127.0.0.1", l_echo))
            .is_ok()),
        "ssh -L did not listen"
    );

    // 4 MiB into the forwarding; the target's disk holds 1 MiB.
    let mut local = TcpStream::connect(("127.0.0.1", l_sink)).unwrap();
    let mut w = local.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        let chunk = vec![0x42u8; 64 * 1024];
        let mut sent = 0usize;
        for _ in 0..64 {
            if w.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    local.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut back = Vec::new();
    let ended = loop {
        let mut b = [0u8; 256];
        match local.read(&mut b) {
            Ok(0) => break Ok("EOF"),
            Ok(n) => back.extend_from_slice(&b[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                break Err(format!("still open after {:?}", started.elapsed()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break Ok("reset"),
        }
    };
    let sent = writer.join().unwrap();
    let outcome = outcomes.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    eprintln!(
        "forwarded write: target {outcome:?}; local end {ended:?} after {:?}, {sent} bytes sent, got back {:?}",
        started.elapsed(),
        String::from_utf8_lossy(&back)
    );
    assert!(
        outcome.starts_with("write error"),
        "the target's disk did not fill: {outcome}"
    );
    assert!(ended.is_ok(), "the forwarded connection was not closed: {ended:?}");

    // The SSH connection survives its channel; tobirad keeps serving.
    let mut e = TcpStream::connect(("127.0.0.1", l_echo)).unwrap();
    e.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    e.write_all(b"still").unwrap();
    let mut reply = Vec::new();
    let _ = e.read_to_end(&mut reply);
    assert_eq!(reply, b"echo:still", "the other forwarding on the same connection");
    assert!(ssh.0.try_wait().unwrap().is_none(), "ssh -N exited");
    assert_login(&server, &user.name, &ident);
    drop(ssh);
    let log = server.log_text();
    assert!(!log.contains("panicked"), "{}", tail(&log, 40));
    assert!(
        wait_until(Duration::from_secs(10), || open_fds(pid) <= baseline),
        "descriptors: {} open, baseline {baseline}",
        open_fds(pid)
    );
    drop(tmpfs);
}

// ----- 6. CVE regressions through the binary -----

/// A path outside any test directory that the test user could write: the
/// marker of a command that must never run.
fn marker(tag: &str) -> PathBuf {
    let p = PathBuf::from(format!("/tmp/tobira-faults-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn channel_open_session() -> Vec<u8> {
    let mut v = vec![90u8];
    v.put_string(b"session");
    v.put_u32(0);
    v.put_u32(2 * MIB as u32);
    v.put_u32(32 * 1024);
    v
}

fn exec_request(command: &str) -> Vec<u8> {
    let mut v = vec![98u8];
    v.put_u32(0);
    v.put_string(b"exec");
    v.put_bool(true);
    v.put_string(command.as_bytes());
    v
}

fn assert_protocol_disconnect(what: &str, events: &[Event], end: &End, log: &str) {
    assert!(
        matches!(end, End::Disconnect(2, _)),
        "{what}: expected DISCONNECT (PROTOCOL_ERROR), got {end:?}\n{}",
        tail(log, 30)
    );
    let opened = events.iter().any(|e| {
        matches!(
            e,
            Event::ChannelOpenConfirmed { .. } | Event::ChannelData { .. } | Event::AuthSuccess
        )
    });
    assert!(!opened, "{what}: tobirad answered as if authenticated: {events:?}");
}

/// CVE-2025-32433 (Erlang/OTP ssh): connection-protocol messages before
/// authentication — CHANNEL_OPEN + exec, and a GLOBAL_REQUEST — end the
/// connection with DISCONNECT; no channel opens, nothing runs.
#[test]
fn connection_messages_before_auth_disconnect() {
    let dir = TempDir::new("cve32433");
    let (user, _) = user_with_key(&dir);
    let server = start_tobirad(&[]);
    let mark = marker("32433");
    let cmd = format!("touch {}", mark.display());

    // A known user named first (an "authenticating user"), then the channel.
    let mut p = Peer::handshake(server.port);
    p.c.userauth_none(&user.name).unwrap();
    p.wait_for(Duration::from_secs(10), |e| matches!(e, Event::AuthFailure { .. }))
        .unwrap();
    p.c.send_payload(channel_open_session()).unwrap();
    p.c.send_payload(exec_request(&cmd)).unwrap();
    let (events, end) = p.until_end(Duration::from_secs(10));
    assert_protocol_disconnect("CHANNEL_OPEN before auth", &events, &end, &server.log_text());

    // Straight after SERVICE_ACCEPT, and a global request (tcpip-forward).
    let mut p = Peer::handshake(server.port);
    let mut g = vec![80u8];
    g.put_string(b"tcpip-forward");
    g.put_bool(true);
    g.put_string(b"127.0.0.1");
    g.put_u32(0);
    p.c.send_payload(g).unwrap();
    let (events, end) = p.until_end(Duration::from_secs(10));
    assert_protocol_disconnect("GLOBAL_REQUEST before auth", &events, &end, &server.log_text());

    std::thread::sleep(Duration::from_millis(500));
    assert!(!mark.exists(), "the exec request ran before authentication");
    assert_eq!(user_processes(&user.name), "", "a process was spawned for the user");
    let log = server.log_text();
    assert!(log.contains("before authentication"), "{}", tail(&log, 30));
    assert!(!log.contains("panicked"), "{}", tail(&log, 30));
    // tobirad keeps serving.
    let _ = Peer::handshake(server.port);
}

/// CVE-2018-10933 (libssh): a client's USERAUTH_SUCCESS is a protocol error;
/// the CHANNEL_OPEN + exec sent right behind it are never served.
#[test]
fn client_userauth_success_disconnects() {
    let dir = TempDir::new("cve10933");
    let (user, _) = user_with_key(&dir);
    let server = start_tobirad(&[]);
    let mark = marker("10933");
    let cmd = format!("touch {}", mark.display());
    let mut p = Peer::handshake(server.port);
    p.c.userauth_none(&user.name).unwrap();
    p.wait_for(Duration::from_secs(10), |e| matches!(e, Event::AuthFailure { .. }))
        .unwrap();
    p.c.send_payload(vec![52]).unwrap();
    p.c.send_payload(channel_open_session()).unwrap();
    p.c.send_payload(exec_request(&cmd)).unwrap();
    let (events, end) = p.until_end(Duration::from_secs(10));
    assert_protocol_disconnect("client USERAUTH_SUCCESS", &events, &end, &server.log_text());
    std::thread::sleep(Duration::from_millis(500));
    assert!(!mark.exists(), "the exec request ran after a client's USERAUTH_SUCCESS");
    assert_eq!(user_processes(&user.name), "", "a process was spawned for the user");
    assert!(!server.log_text().contains("Accepted"), "{}", server.log_text());
    let _ = Peer::handshake(server.port);
}

/// Reads until EOF (at most `limit`): (bytes, whether EOF came).
fn read_to_eof(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return (out, false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return (out, true),
        }
    }
}

/// The message numbers of the unencrypted packets after the identification
/// line, and the reason code of a DISCONNECT among them.
fn plaintext_messages(bytes: &[u8]) -> (Vec<u8>, Option<u32>) {
    let start = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(bytes.len(), |i| i + 2);
    let mut rest = &bytes[start..];
    let (mut msgs, mut reason) = (Vec::new(), None);
    while rest.len() >= 6 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < 2 || rest.len() < 4 + len {
            break;
        }
        let payload = &rest[5..4 + len - rest[4] as usize];
        if let Some(&m) = payload.first() {
            msgs.push(m);
            if m == 1 && payload.len() >= 5 {
                reason = Some(u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]));
            }
        }
        rest = &rest[4 + len..];
    }
    (msgs, reason)
}

/// russh CVE-2024-43410 class: a packet length of 0xFFFFFFF0 (and other
/// allocation-sized lengths) right after the identification ends the
/// connection with DISCONNECT, without tobirad's memory growing.
#[test]
fn huge_packet_length_disconnects_without_allocating() {
    let server = start_tobirad(&[]);
    let pid = server.child.id();
    // A first connection so lazily built state is in the baseline.
    drop(Peer::handshake(server.port));
    std::thread::sleep(Duration::from_millis(300));
    let mut rss = Rss::new(pid);
    let vm_before = proc_status_kib(pid, "VmSize");
    for (i, len) in [0xFFFF_FFF0u32, 0x7FFF_FFFF, 0x1000_0000, 35_001]
        .iter()
        .cycle()
        .take(20)
        .enumerate()
    {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let mut msg = b"SSH-2.0-faults_0.1\r\n".to_vec();
        msg.extend_from_slice(&len.to_be_bytes());
        msg.extend_from_slice(&[0u8; 64]);
        s.write_all(&msg).unwrap();
        let (bytes, eof) = read_to_eof(&mut s, Duration::from_secs(10));
        let (msgs, reason) = plaintext_messages(&bytes);
        assert!(
            eof && msgs.last() == Some(&1),
            "#{i} length {len:#x}: expected DISCONNECT then close, got messages {msgs:?} (eof {eof})\n{}",
            tail(&server.log_text(), 20)
        );
        assert_eq!(reason, Some(2), "#{i}: reason code");
        rss.sample(&format!("after length {len:#x}"));
    }
    let vm_after = proc_status_kib(pid, "VmSize");
    eprintln!("VmSize {vm_before} -> {vm_after} KiB");
    rss.assert_flat("allocation-sized packet lengths", &server.log_text());
    assert!(
        vm_after < vm_before + 1024 * 1024,
        "VmSize grew from {vm_before} to {vm_after} KiB (a reservation for the claimed length?)"
    );
    let _ = Peer::handshake(server.port);
    assert!(!server.log_text().contains("panicked"));
}
