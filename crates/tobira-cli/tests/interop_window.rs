//! Channel windows over a long path (issue 6: windows that follow the
//! bandwidth-delay product) against the real OpenSSH: through a proxy that
//! delays every byte by 100 ms each way, a 2 MiB window holds a transfer to
//! 10 MiB/s, far below what even a debug build moves on loopback, so the
//! receiver's window must grow. The receiving tobira side
//! sends its round-trip probes to `sshd` and to `ssh`, which answer them
//! with CHANNEL_FAILURE; the data must arrive whole, and the window grow.
//! Nothing here is timed: what is checked is that the window grew (the
//! debug log says so) and that every byte arrived; the only assumption is
//! that the receiver takes more than 5 MiB/s.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// One-way delay of the proxy.
const DELAY: Duration = Duration::from_millis(100);
/// Bytes moved each way: enough round trips for the window to grow.
const SIZE: usize = 48 * 1024 * 1024;

/// Starts a proxy on a free port that forwards every connection to
/// `target`, each byte `DELAY` late in each direction. Returns its port.
fn delay_proxy(target: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            for (from, to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                forward(from, to);
            }
        }
    });
    port
}

/// Copies `from` to `to` with the delay: a reader thread stamps each chunk,
/// a writer thread writes it when it is due; end of input is passed on.
fn forward(mut from: TcpStream, mut to: TcpStream) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || loop {
        let mut buf = vec![0u8; 256 * 1024];
        let n = from.read(&mut buf).unwrap_or(0);
        buf.truncate(n);
        let end = n == 0;
        if tx.send((Instant::now() + DELAY, buf)).is_err() || end {
            return;
        }
    });
    std::thread::spawn(move || {
        while let Ok((due, buf)) = rx.recv() {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if buf.is_empty() || to.write_all(&buf).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `client` against `port` with `command`, `input` on its stdin;
/// returns (exit code, stdout, stderr).
fn transfer(
    client: &str,
    ident: &str,
    port: u16,
    user: &str,
    verbose: bool,
    command: &str,
    input: Vec<u8>,
) -> (i32, Vec<u8>, String) {
    let mut c = if verbose {
        let mut c = client_command_logging(client, ident, port);
        c.arg("-vv");
        c
    } else {
        client_command(client, ident, port)
    };
    c.arg(format!("{user}@127.0.0.1")).arg(command);
    let out = run_with_input(&mut c, input, Duration::from_secs(240), &format!("{client} {command}"));
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// tobira downloading from sshd (tobira's window grows; uploads to sshd
/// stay within sshd's fixed window, nothing to check there), `ssh`
/// uploading to tobirad (tobirad's grows), and tobira→tobirad both ways.
#[test]
fn receive_windows_grow_over_a_long_path() {
    let dir = TempDir::new("window");
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    let ident = format!("-i{}", key.display());
    let data = pseudo_random(SIZE, 0x2545_f491_4f6c_dd1d);
    let want = sha256_hex(&data);
    // A file the user can read, for downloads.
    let file = user.home.join("blob");
    std::fs::write(&file, &data).unwrap();
    let _ = Command::new("chmod").arg("644").arg(&file).status();
    let cat = format!("cat {}", file.display());

    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let tobirad = start_tobirad(&[]);
    let via_sshd = delay_proxy(sshd.port);
    let via_tobirad = delay_proxy(tobirad.port);

    // tobira's window grows while sshd sends.
    let (code, out, err) = transfer("tobira", &ident, via_sshd, &user.name, true, &cat, Vec::new());
    assert_eq!(code, 0, "tobira <- sshd: {err}");
    assert!(
        out.len() == SIZE && sha256_hex(&out) == want,
        "tobira <- sshd: {} bytes, data differs",
        out.len()
    );
    assert!(
        err.contains("receive window grows"),
        "tobira <- sshd: the window did not grow:\n{err}"
    );
    let sshd_log = std::fs::read_to_string(&sshd.log).unwrap_or_default();
    assert!(!sshd_log.contains("protocol error"), "sshd:\n{sshd_log}");

    // tobirad's window grows while ssh sends.
    let (code, out, err) = transfer("ssh", &ident, via_tobirad, &user.name, false, "sha256sum", data.clone());
    assert_eq!(code, 0, "ssh -> tobirad: {err}");
    assert!(
        String::from_utf8_lossy(&out).starts_with(&want),
        "ssh -> tobirad: data differs"
    );
    let grows = || {
        std::fs::read_to_string(&tobirad.log)
            .unwrap_or_default()
            .matches("receive window grows")
            .count()
    };
    let after_ssh = grows();
    assert!(after_ssh > 0, "ssh -> tobirad: the window did not grow");

    // Both tobira: up and down.
    let (code, out, err) = transfer("tobira", &ident, via_tobirad, &user.name, true, &cat, Vec::new());
    assert_eq!(code, 0, "tobira <- tobirad: {err}");
    assert!(
        out.len() == SIZE && sha256_hex(&out) == want,
        "tobira <- tobirad: data differs"
    );
    assert!(err.contains("receive window grows"), "tobira <- tobirad:\n{err}");
    let (code, out, err) = transfer("tobira", &ident, via_tobirad, &user.name, false, "sha256sum", data);
    assert_eq!(code, 0, "tobira -> tobirad: {err}");
    assert!(
        String::from_utf8_lossy(&out).starts_with(&want),
        "tobira -> tobirad: data differs"
    );
    assert!(grows() > after_ssh, "tobira -> tobirad: the window did not grow");
}
