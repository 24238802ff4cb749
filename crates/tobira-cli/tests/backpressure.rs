//! Flow control bounds memory (RFC 4254 §5.2): a peer can make tobirad or
//! tobira hold no more than the channel windows they grant, however much
//! it sends to a program that does not read, or to a client whose output
//! is not read. Regression: tobirad and tobira granted window as data
//! arrived (`Config::auto_window_adjust` was left on), so 300 MiB pushed
//! into `sleep` sat in tobirad's memory (tobira's own output queue held
//! its downloads back regardless).

mod common;

use std::io::Write;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// Bytes offered: far more than any window and pipe together.
const OFFERED: usize = 256 * 1024 * 1024;
/// What a stalled channel may cost the process holding it: the window
/// (2 MiB, or up to 16 MiB grown), pipe and socket buffers, allocator
/// slack. Without flow control it is the whole `OFFERED`.
const BOUND_KIB: u64 = 48 * 1024;

/// The largest RSS growth of `pid` over `span`, sampled every 50 ms.
fn peak_growth(pid: u32, base_kib: u64, span: Duration) -> u64 {
    let end = Instant::now() + span;
    let mut peak = 0;
    while Instant::now() < end {
        peak = peak.max(rss_kib(pid).saturating_sub(base_kib));
        std::thread::sleep(Duration::from_millis(50));
    }
    peak
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `client` pushes 256 MiB at a program that never reads its input: the
/// client must be held back, and tobirad's memory stay bounded.
fn upload_into_sleep(client: &str) {
    let dir = TempDir::new("bp-up");
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    let tobirad = start_tobirad(&[]);
    let pid = tobirad.child.id();
    let base = rss_kib(pid);
    let mut c = client_command(client, &format!("-i{}", key.display()), tobirad.port);
    c.arg(format!("{}@127.0.0.1", user.name)).arg("sleep 30");
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    let writer = std::thread::spawn(move || {
        let chunk = vec![0x5au8; 1 << 20];
        while w.load(Ordering::Relaxed) < OFFERED {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
            w.fetch_add(chunk.len(), Ordering::Relaxed);
        }
    });
    let peak = peak_growth(pid, base, Duration::from_secs(6));
    let sent = written.load(Ordering::Relaxed);
    kill(child);
    let _ = writer.join();
    assert!(
        peak <= BOUND_KIB,
        "{client} -> tobirad: tobirad grew by {peak} KiB holding input nobody reads ({sent} bytes written)"
    );
    assert!(
        sent < OFFERED,
        "{client} -> tobirad: all {sent} bytes went through: no backpressure"
    );
}

#[test]
fn tobirad_holds_no_more_than_the_window_for_a_program_that_does_not_read() {
    upload_into_sleep("ssh");
    upload_into_sleep("tobira");
}

/// tobira downloads 256 MiB into a standard output nobody reads: it must
/// hold the server back, not the data.
#[test]
fn tobira_holds_no_more_than_the_window_when_its_output_is_not_read() {
    let dir = TempDir::new("bp-down");
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    let tobirad = start_tobirad(&[]);
    let mut c = client_command("tobira", &format!("-i{}", key.display()), tobirad.port);
    c.arg(format!("{}@127.0.0.1", user.name))
        .arg(format!("head -c {OFFERED} /dev/zero"));
    // stdout is a pipe that is never read.
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Growth from the moment it starts: the bound covers its runtime and
    // handshake as well as the window.
    let base = rss_kib(pid);
    let peak = peak_growth(pid, base, Duration::from_secs(5));
    kill(child);
    assert!(
        peak <= BOUND_KIB,
        "tobira grew by {peak} KiB holding output nobody reads"
    );
}
