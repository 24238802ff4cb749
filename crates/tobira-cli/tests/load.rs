//! Hostile load (issue 7): 1,000 concurrent sessions through one tobirad,
//! each sending 10 MiB to `cat` and reading the same 10 MiB back, with
//! key re-exchanges forced every MiB on both sides; every byte is checked
//! by SHA-256, and the server's descriptors and memory come back once all
//! sessions are gone.
//!
//! The clients are the tobira library's own (`tobira::client::connect`),
//! a thousand tasks in this process: a thousand client processes would
//! measure the machine rather than the server.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};
use tobira::client::{BoxStream, ClientSettings};
use tobira::client_auth::{AuthSettings, Authenticator, NoPrompter};
use tobira::driver::Driver;
use tobira_proto::msg::connection::{ChannelKind, ChannelRequest};
use tobira_proto::Event;
use tokio::sync::Barrier;

/// Concurrent sessions.
const SESSIONS: usize = 1000;
/// Bytes each session sends (and gets back).
const PER_SESSION: usize = 10 << 20;
/// `RekeyLimit` on both sides: about ten re-exchanges per connection (a
/// re-exchange started for one direction resets both directions' counts).
const REKEY_BYTES: u64 = 1 << 20;
/// Re-exchanges every session must have gone through (10 MiB each way
/// over a 1 MiB limit gives 9 or more).
const MIN_REKEYS: u32 = 8;
/// The shared pseudo-random pool the sessions send windows of.
const POOL: usize = 16 << 20;
/// How far above its starting RSS tobirad may stay once every session
/// has closed (allocator caches, the host keys' precomputations).
const RSS_MARGIN_KIB: u64 = 64 * 1024;
/// Input queued into the channel before we wait for the window.
const HIGH_WATER: usize = 256 * 1024;

/// What one session saw.
struct Outcome {
    sent: usize,
    received: usize,
    sent_hash: Vec<u8>,
    received_hash: Vec<u8>,
    exit: Option<u32>,
    kex_count: u32,
}

/// Processes of `user` still running.
fn processes_of(user: &str) -> usize {
    Command::new("pgrep")
        .args(["-c", "-u", user])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// Lets this process (and the tobirad it starts) hold more descriptors than
/// the usual soft limit of 1024.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

async fn one_session(
    i: usize,
    settings: Arc<ClientSettings>,
    auth: AuthSettings,
    pool: Arc<Vec<u8>>,
    ready: Arc<Barrier>,
) -> Result<Outcome, String> {
    // A session that fails to start still passes the barrier, so that the
    // others are not held forever.
    let started = start_cat(i, &settings, auth).await;
    ready.wait().await;
    let (mut d, id) = started?;
    let start = (i * 6151) % (POOL - PER_SESSION);
    let data = &pool[start..start + PER_SESSION];
    let (mut sent, mut received) = (0usize, 0usize);
    let (mut sent_hash, mut received_hash) = (Sha256::new(), Sha256::new());
    let mut eof_sent = false;
    let mut exit = None;
    loop {
        while sent < PER_SESSION && d.conn.channel_queued(id) < HIGH_WATER {
            let n = (PER_SESSION - sent).min(32 * 1024);
            let chunk = &data[sent..sent + n];
            d.conn
                .channel_write(id, None, chunk)
                .map_err(|e| format!("session {i}: write: {e}"))?;
            sent_hash.update(chunk);
            sent += n;
        }
        if sent == PER_SESSION && !eof_sent {
            d.conn.channel_eof(id).map_err(|e| format!("session {i}: eof: {e}"))?;
            eof_sent = true;
        }
        let ev = d
            .step()
            .await
            .map_err(|e| format!("session {i}: after {sent} sent, {received} received: {e}"))?;
        match ev {
            Some(Event::ChannelData { id: c, data }) if c == id => {
                received_hash.update(&data);
                received += data.len();
                let _ = d.conn.channel_consumed(id, data.len());
            }
            Some(Event::ChannelExtendedData { id: c, data, .. }) if c == id => {
                return Err(format!(
                    "session {i}: stderr from cat: {}",
                    String::from_utf8_lossy(&data)
                ));
            }
            Some(Event::ChannelRequest {
                request: ChannelRequest::ExitStatus { status },
                ..
            }) => exit = Some(status),
            Some(Event::ChannelClosed { id: c }) if c == id => break,
            _ => {}
        }
    }
    let kex_count = d.conn.completed_kex_count();
    d.conn.disconnect(tobira_proto::DisconnectReason::ByApplication, "done");
    let _ = d.flush().await;
    Ok(Outcome {
        sent,
        received,
        sent_hash: sent_hash.finalize().to_vec(),
        received_hash: received_hash.finalize().to_vec(),
        exit,
        kex_count,
    })
}

/// Connects, authenticates, opens a session channel and starts `cat` in it.
async fn start_cat(
    i: usize,
    settings: &ClientSettings,
    auth: AuthSettings,
) -> Result<(Driver<BoxStream>, u32), String> {
    let mut verify = |_: &str, _: &[u8]| Ok(());
    let mut authn = Authenticator::new(auth);
    let (mut d, _) = tobira::client::connect(settings, &mut verify, &mut authn, &mut NoPrompter, &mut |_| {})
        .await
        .map_err(|e| format!("session {i}: connect: {e}"))?;
    let id = d
        .conn
        .channel_open(ChannelKind::Session)
        .map_err(|e| format!("session {i}: open: {e}"))?;
    // Open the channel and start `cat` before anyone sends data, so that
    // all sessions are up at once.
    let mut started = false;
    while !started {
        match d.next_event().await.map_err(|e| format!("session {i}: {e}"))? {
            Event::ChannelOpenConfirmed { id: c } if c == id => {
                d.conn
                    .channel_request(id, &ChannelRequest::Exec { command: "cat".into() }, true)
                    .map_err(|e| format!("session {i}: exec: {e}"))?;
            }
            Event::ChannelRequestReply { success: true, .. } => started = true,
            Event::ChannelRequestReply { success: false, .. } => return Err(format!("session {i}: exec refused")),
            Event::ChannelOpenFailed { message, .. } => return Err(format!("session {i}: open failed: {message}")),
            _ => {}
        }
    }
    Ok((d, id))
}

#[test]
fn thousand_sessions_ten_mib_each_way_with_rekeys() {
    raise_fd_limit();
    let dir = TempDir::new("load");
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    let server = start_tobirad(&["-o", "MaxStartups=2000", "-o", "RekeyLimit=1M", "-o", "LogLevel=INFO"]);
    let pid = server.child.id();
    // Let the listener settle before the baseline.
    std::thread::sleep(Duration::from_millis(300));
    let (fds_before, rss_before) = (open_fds(pid), rss_kib(pid));

    let mut pool = vec![0u8; POOL];
    {
        use rand::{RngCore, SeedableRng};
        rand::rngs::StdRng::seed_from_u64(0x0070_b17a).fill_bytes(&mut pool);
    }
    let proto = tobira_proto::Config {
        rekey_bytes: REKEY_BYTES,
        // Windows reopen as the data is written on (channel_consumed),
        // not as it arrives: what the peer sends is bounded by what we
        // pass on.
        auto_window_adjust: false,
        ..tobira_proto::Config::default()
    };
    let settings = Arc::new(ClientSettings {
        host: "127.0.0.1".into(),
        port: server.port,
        user: user.name.clone(),
        proto: Arc::new(proto),
        connect_timeout: Some(Duration::from_secs(120)),
        rekey_interval: None,
        address_family: tobira::config::client::AddressFamily::Any,
        bind_address: None,
        connection_attempts: 1,
    });
    let auth = AuthSettings::publickey_only(&user.name, "127.0.0.1", key);

    let ctx = Round {
        settings,
        auth,
        pool: Arc::new(pool),
        pid,
    };
    // Two rounds on the same server: what the first leaves behind may be
    // the allocator's cache, but a second round must not add to it.
    let mut after = Vec::new();
    for round in 1..=2 {
        let r = ctx.run();
        let failures = r.failures();
        assert!(
            failures.is_empty(),
            "round {round}: {} of {SESSIONS} sessions failed, first: {:?}\n{}",
            failures.len(),
            &failures[..failures.len().min(5)],
            server.log_text().lines().rev().take(30).collect::<Vec<_>>().join("\n")
        );
        assert!(r.all_up, "round {round}: not all {SESSIONS} sessions came up together");
        assert!(
            r.peak_fds >= SESSIONS,
            "round {round}: the sessions were not concurrent: peak {} descriptors",
            r.peak_fds
        );

        // Everything is released once the sessions are gone: descriptors
        // back to the baseline and no process of the user left.
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut fds_after, mut procs) = (open_fds(pid), processes_of(&user.name));
        while (fds_after > fds_before || procs > 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            fds_after = open_fds(pid);
            procs = processes_of(&user.name);
        }
        // The allocator hands freed memory back to the system lazily (in
        // the background, after some seconds).
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut rss_after = rss_kib(pid);
        while rss_after > rss_before + RSS_MARGIN_KIB && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
            rss_after = rss_kib(pid);
        }
        eprintln!(
            "round {round}: {SESSIONS} sessions x {} MiB each way in {:.1} s ({:.0} MiB/s each way); \
             {} re-exchanges; tobirad: fds {fds_before} -> peak {} -> {fds_after}, \
             RSS {rss_before} KiB -> peak {} KiB -> {rss_after} KiB",
            PER_SESSION >> 20,
            r.took.as_secs_f64(),
            (SESSIONS * PER_SESSION) as f64 / (1 << 20) as f64 / r.took.as_secs_f64(),
            r.rekeys,
            r.peak_fds,
            r.peak_rss,
        );
        assert!(
            fds_after <= fds_before,
            "round {round}: descriptors leaked: {fds_before} before, {fds_after} after"
        );
        assert_eq!(
            procs, 0,
            "round {round}: processes of the test user survived their sessions"
        );
        assert!(
            rss_after <= rss_before + RSS_MARGIN_KIB,
            "round {round}: tobirad's memory did not come back: {rss_before} KiB before, {rss_after} KiB after"
        );
        after.push(rss_after);
    }
    let grown = after[1].saturating_sub(after[0]);
    assert!(
        grown <= 32 * 1024,
        "tobirad grew by {grown} KiB in the second round (after the first: {} KiB, after the second: {} KiB)",
        after[0],
        after[1]
    );
}

/// What every round shares.
struct Round {
    settings: Arc<ClientSettings>,
    auth: AuthSettings,
    pool: Arc<Vec<u8>>,
    pid: u32,
}

/// One round's results.
struct Report {
    results: Vec<Result<Outcome, String>>,
    all_up: bool,
    peak_rss: u64,
    peak_fds: usize,
    rekeys: u64,
    took: Duration,
}

impl Round {
    /// Runs `SESSIONS` sessions at once, sampling tobirad's memory and
    /// descriptors as they go.
    fn run(&self) -> Report {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let began = Instant::now();
        let ready = Arc::new(Barrier::new(SESSIONS + 1));
        let pid = self.pid;
        let (results, peak_rss, peak_fds, all_up) = rt.block_on(async {
            let mut tasks = Vec::with_capacity(SESSIONS);
            for i in 0..SESSIONS {
                let (s, a, p, r) = (
                    self.settings.clone(),
                    self.auth.clone(),
                    self.pool.clone(),
                    ready.clone(),
                );
                tasks.push(tokio::spawn(one_session(i, s, a, p, r)));
            }
            // Every session authenticated and running `cat` before data
            // flows (a session that fails to start passes the barrier too).
            let up = tokio::time::timeout(Duration::from_secs(600), ready.wait())
                .await
                .is_ok();
            let (mut peak_rss, mut peak_fds) = (0u64, 0usize);
            let mut results = Vec::with_capacity(SESSIONS);
            let sample = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    peak_rss = peak_rss.max(rss_kib(pid));
                    peak_fds = peak_fds.max(open_fds(pid));
                }
            };
            let join_all = async {
                for t in tasks {
                    results.push(t.await.unwrap_or_else(|e| Err(format!("task: {e}"))));
                }
            };
            tokio::select! {
                _ = join_all => {}
                _ = sample => {}
                _ = tokio::time::sleep(Duration::from_secs(1500)) => panic!("the load test ran out of time"),
            }
            (results, peak_rss, peak_fds, up)
        });
        let rekeys = results
            .iter()
            .flatten()
            .map(|o| u64::from(o.kex_count.saturating_sub(1)))
            .sum();
        Report {
            results,
            all_up,
            peak_rss,
            peak_fds,
            rekeys,
            took: began.elapsed(),
        }
    }
}

impl Report {
    /// Every session that did not send and get back its 10 MiB intact,
    /// exit 0 and re-exchange keys at least `MIN_REKEYS` times.
    fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for (i, r) in self.results.iter().enumerate() {
            match r {
                Ok(o) => {
                    if o.sent != PER_SESSION
                        || o.received != PER_SESSION
                        || o.sent_hash != o.received_hash
                        || o.exit != Some(0)
                    {
                        failures.push(format!(
                            "session {i}: sent {} received {} hashes equal {} exit {:?}",
                            o.sent,
                            o.received,
                            o.sent_hash == o.received_hash,
                            o.exit
                        ));
                    } else if o.kex_count < MIN_REKEYS + 1 {
                        failures.push(format!("session {i}: only {} key exchanges", o.kex_count));
                    }
                }
                Err(e) => failures.push(e.clone()),
            }
        }
        failures
    }
}
