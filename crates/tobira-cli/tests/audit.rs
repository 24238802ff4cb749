//! tobirad's defaults against a public SSH audit tool (issue 5): ssh-audit
//! (installed by `.ci/run`) finds no failure, and its only warnings are the
//! missing post-quantum protection of the two curve25519 names that the
//! defaults keep for clients without a hybrid.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn default_server_is_graded_clean_by_ssh_audit() {
    // tobirad exactly as a newcomer starts it: no host keys given, so it
    // generates its own (Ed25519 and RSA 4096) in its state directory.
    let dir = TempDir::new("audit");
    let port = free_port();
    let log = dir.path("tobirad.log");
    let mut child = Command::new(bin("tobirad"))
        .args(["-D", "-e", "-p", &port.to_string(), "-o", "ListenAddress=127.0.0.1"])
        .env("TOBIRA_STATE_DIR", dir.path("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child, &log);
    let out = run(
        Command::new("ssh-audit").args(["-n", "--skip-rate-test", "-p", &port.to_string(), "127.0.0.1"]),
        Duration::from_secs(120),
    );
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("(gen) banner: SSH-2.0-tobira_"),
        "ssh-audit (pip install ssh-audit) did not run: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fails: Vec<&str> = text.lines().filter(|l| l.contains("[fail]")).collect();
    assert!(fails.is_empty(), "ssh-audit failures:\n{}\n\n{text}", fails.join("\n"));
    let warns: Vec<&str> = text.lines().filter(|l| l.contains("[warn]")).collect();
    for w in &warns {
        assert!(
            (w.starts_with("(kex) curve25519-sha256 ") || w.starts_with("(kex) curve25519-sha256@libssh.org "))
                && w.contains("post-quantum"),
            "unexpected ssh-audit warning: {w}\n\n{text}"
        );
    }
    assert!(text.contains("(kex) mlkem768x25519-sha256"), "{text}");
    assert!(text.contains("rsa-sha2-512 (4096-bit)"), "{text}");
}
