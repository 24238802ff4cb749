//! Host key rotation against real peers (OpenSSH PROTOCOL §2.5,
//! ssh_config `UpdateHostKeys`): OpenSSH's `ssh` learns tobirad's other
//! host keys from its `hostkeys-00@openssh.com` and the proofs it asks
//! for; `tobira` learns sshd's and tobirad's, drops keys a server no
//! longer has, and leaves known_hosts alone where ssh(1) would.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// `client -v … user@127.0.0.1 true` with `known_hosts` as the only user
/// file, which must log in; returns its standard error.
fn logged_in(client: &str, port: u16, user: &TestUser, ident: &str, known_hosts: &Path, opts: &[&str]) -> String {
    let mut c = if client == "ssh" {
        Command::new("ssh")
    } else {
        Command::new(bin("tobira"))
    };
    c.args(["-v", "-F", "/dev/null", "-o"])
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            ident,
            "-p",
            &port.to_string(),
        ]);
    for o in opts {
        c.args(["-o", o]);
    }
    c.arg(format!("{}@127.0.0.1", user.name)).arg("true");
    c.env_remove("SSH_AUTH_SOCK");
    let out = run(&mut c, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{client} {opts:?}: {err}");
    err
}

/// Logs in once more: with every key known, nothing is learned and the
/// file stays as it is.
fn nothing_more_to_learn(client: &str, port: u16, user: &TestUser, ident: &str, known_hosts: &Path, opts: &[&str]) {
    let before = std::fs::read_to_string(known_hosts).unwrap();
    let err = logged_in(client, port, user, ident, known_hosts, opts);
    assert!(!err.contains("Learned new hostkey"), "{err}");
    assert_eq!(std::fs::read_to_string(known_hosts).unwrap(), before);
}

/// `type base64` of a server's public host key file.
fn public(server: &Server, name: &str) -> String {
    let text = std::fs::read_to_string(server.dir.path(&format!("{name}.pub"))).unwrap();
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// The keys listed for `[127.0.0.1]:port` in plain lines.
fn listed(known_hosts: &Path, port: u16) -> Vec<String> {
    let host = format!("[127.0.0.1]:{port} ");
    std::fs::read_to_string(known_hosts)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix(&host))
        .map(str::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The keys a client with default HostKeyAlgorithms learns from a server
/// made by `start_tobirad`/`start_sshd`: all but DSA.
const LEARNABLE: [&str; 5] = [
    "host_ed25519",
    "host_rsa",
    "host_ecdsa",
    "host_ecdsa384",
    "host_ecdsa521",
];

/// Every learnable type, Ed25519 first: the key the file knows is the
/// one negotiated.
const ALL_TYPES: &str = "HostKeyAlgorithms=ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521";

#[test]
fn ssh_learns_every_host_key_tobirad_proves() {
    let dir = TempDir::new("rotation-ssh");
    let (user, ident) = user_with_key(&dir);
    let tobirad = start_tobirad(&[]);
    let kh = dir.path("known_hosts");
    let first = format!("[127.0.0.1]:{} {}\n", tobirad.port, public(&tobirad, "host_ed25519"));
    std::fs::write(&kh, &first).unwrap();
    let opts = ["StrictHostKeyChecking=yes", "UpdateHostKeys=yes", ALL_TYPES];
    let err = logged_in("ssh", tobirad.port, &user, &ident, &kh, &opts);
    // OpenSSH checked every proof (an RSA one by rsa-sha2-512) before
    // writing; a bad signature would have stopped it.
    assert!(err.contains("Learned new hostkey: RSA SHA256:"), "{err}");
    assert!(err.contains("Learned new hostkey: ECDSA SHA256:"), "{err}");
    let want: Vec<String> = LEARNABLE.iter().map(|k| public(&tobirad, k)).collect();
    assert_eq!(
        sorted(listed(&kh, tobirad.port)),
        sorted(want),
        "{}",
        std::fs::read_to_string(&kh).unwrap()
    );
    nothing_more_to_learn("ssh", tobirad.port, &user, &ident, &kh, &opts);
}

#[test]
fn tobira_learns_sshds_keys_and_drops_a_retired_one() {
    let dir = TempDir::new("rotation-sshd");
    let (user, ident) = user_with_key(&dir);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let retired_path = dir.path("retired");
    ssh_keygen(&retired_path, "ecdsa", Some(256));
    let retired = std::fs::read_to_string(dir.path("retired.pub")).unwrap();
    let retired: String = retired.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let kh = dir.path("known_hosts");
    let original = format!(
        "# kept\n[127.0.0.1]:{port} {ed}\nother.example {ed}\n[127.0.0.1]:{port} {retired}\n",
        port = sshd.port,
        ed = public(&sshd, "host_ed25519"),
    );
    std::fs::write(&kh, &original).unwrap();
    // HostKeyAlgorithms set: the known ed25519 key is negotiated, not the
    // ECDSA type the file also lists.
    let opts = ["StrictHostKeyChecking=yes", "UpdateHostKeys=yes", ALL_TYPES];
    let err = logged_in("tobira", sshd.port, &user, &ident, &kh, &opts);
    // An offered key known under another name (other.example) blocks the
    // update, as in ssh(1).
    assert!(err.contains("not updating known_hosts"), "{err}");
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), original);
    let original = original.replace(&format!("other.example {}\n", public(&sshd, "host_ed25519")), "");
    std::fs::write(&kh, &original).unwrap();
    let err = logged_in("tobira", sshd.port, &user, &ident, &kh, &opts);
    assert!(err.contains("Learned new hostkey: RSA SHA256:"), "{err}");
    assert!(err.contains("Deprecating obsolete hostkey: ECDSA SHA256:"), "{err}");
    let want: Vec<String> = LEARNABLE.iter().map(|k| public(&sshd, k)).collect();
    assert_eq!(sorted(listed(&kh, sshd.port)), sorted(want));
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(text.starts_with("# kept\n"), "{text}");
    assert!(!text.contains(&retired), "{text}");
    let backup = std::fs::read_to_string(format!("{}.old", kh.display())).unwrap();
    assert_eq!(backup, original);
    nothing_more_to_learn("tobira", sshd.port, &user, &ident, &kh, &opts);
}

#[test]
fn tobira_updates_only_what_the_user_vouched_for() {
    let dir = TempDir::new("rotation-tobirad");
    let (user, ident) = user_with_key(&dir);
    let tobirad = start_tobirad(&[]);
    let port = tobirad.port;
    let ed = public(&tobirad, "host_ed25519");
    let kh = dir.path("known_hosts");
    let login = |opts: &[&str]| logged_in("tobira", port, &user, &ident, &kh, opts);
    // A key added without asking is not trusted enough to learn others.
    login(&["StrictHostKeyChecking=accept-new", "UpdateHostKeys=yes", ALL_TYPES]);
    assert_eq!(listed(&kh, port), vec![ed.clone()]);
    // Left alone: UpdateHostKeys=no, ask in batch mode, and the default
    // with a UserKnownHostsFile of one's own (ssh_config(5)).
    for opt in ["UpdateHostKeys=no", "UpdateHostKeys=ask", "StrictHostKeyChecking=yes"] {
        login(&["StrictHostKeyChecking=yes", ALL_TYPES, opt]);
        assert_eq!(listed(&kh, port), vec![ed.clone()], "{opt}");
    }
    // A key known to the user: the rest is learned, hashed when asked.
    login(&[
        "StrictHostKeyChecking=yes",
        "UpdateHostKeys=yes",
        "HashKnownHosts=yes",
        ALL_TYPES,
    ]);
    let text = std::fs::read_to_string(&kh).unwrap();
    let hashed: Vec<&str> = text.lines().filter(|l| l.starts_with("|1|")).collect();
    assert_eq!(hashed.len(), LEARNABLE.len() - 1, "{text}");
    for k in &LEARNABLE[1..] {
        assert!(hashed.iter().any(|l| l.ends_with(&public(&tobirad, k))), "{k}: {text}");
    }
    // ssh-keygen finds the hashed entries under the host's name.
    let out = run(
        Command::new("ssh-keygen")
            .args(["-F", &format!("[127.0.0.1]:{port}"), "-f"])
            .arg(&kh),
        Duration::from_secs(20),
    );
    let found = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        found.lines().filter(|l| !l.starts_with('#')).count(),
        LEARNABLE.len(),
        "{found}"
    );
}
