//! Login against the real OpenSSH, both ways (issue 3): public keys of every
//! type, an encrypted key, agent keys, passwords through SSH_ASKPASS,
//! keyboard-interactive, and failing logins with OpenSSH's messages, exit
//! codes and log lines. Accounts are created and removed by the tests.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const KEY_TYPES: [(&str, &str, Option<u32>); 5] = [
    ("ed25519", "ed25519", None),
    ("ecdsa256", "ecdsa", Some(256)),
    ("ecdsa384", "ecdsa", Some(384)),
    ("ecdsa521", "ecdsa", Some(521)),
    ("rsa", "rsa", Some(3072)),
];

fn authenticated(port: u16, method: &str) -> String {
    format!("Authenticated to 127.0.0.1 ([127.0.0.1]:{port}) using \"{method}\".")
}

/// Every key type, both ways: ssh → tobirad and tobira → sshd; RSA with
/// both rsa-sha2 algorithms.
#[test]
fn publickey_every_key_type_both_ways() {
    let user = TestUser::create();
    let dir = TempDir::new("keys");
    let keys: Vec<(String, std::path::PathBuf, String)> = KEY_TYPES
        .iter()
        .map(|(n, k, b)| {
            let (p, line) = user_key(&dir, n, k, *b, "");
            (n.to_string(), p, line)
        })
        .collect();
    user.authorize(&keys.iter().map(|k| k.2.clone()).collect::<Vec<_>>());
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let mut failures = Vec::new();
    for (name, path, _) in &keys {
        let algs: Vec<&str> = if name == "rsa" {
            vec!["rsa-sha2-512", "rsa-sha2-256"]
        } else {
            vec![""]
        };
        for alg in algs {
            let ident = format!("-i{}", path.display());
            let mut opts = vec![ident.as_str(), "BatchMode=yes"];
            let pk = format!("PubkeyAcceptedAlgorithms={alg}");
            if !alg.is_empty() {
                opts.push(&pk);
            }
            for (client, server) in [("ssh", &tobirad), ("tobira", &sshd)] {
                let (code, err) = login(client, server.port, &user.name, &opts, &[]);
                if code != 0 || !err.contains(&authenticated(server.port, "publickey")) {
                    failures.push(format!("{client} {name} {alg}: exit {code}\n{err}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
    let log = tobirad.wait_log("Accepted publickey");
    for label in ["ED25519 SHA256:", "ECDSA SHA256:", "RSA SHA256:"] {
        assert!(
            log.contains(&format!("Accepted publickey for {} from 127.0.0.1 port", user.name)) && log.contains(label),
            "{label}\n{log}"
        );
    }
    assert!(log.contains("ssh2: ECDSA SHA256:"));
    let slog = sshd.wait_log("Accepted publickey");
    assert_eq!(
        slog.matches(&format!("Accepted publickey for {}", user.name)).count(),
        6,
        "{slog}"
    );
    assert!(
        slog.contains("RSA-SHA2-256") || slog.contains("rsa-sha2-256"),
        "sshd saw rsa-sha2-256: {slog}"
    );
}

/// An encrypted key unlocked with its passphrase (from SSH_ASKPASS), and
/// agent keys (ssh-agent + ssh-add), both ways.
#[test]
fn encrypted_key_and_agent_both_ways() {
    let user = TestUser::create();
    let dir = TempDir::new("enc");
    let (enc, enc_line) = user_key(&dir, "enc_ed25519", "ed25519", None, "correct horse");
    let (agent_key, agent_line) = user_key(&dir, "agent_rsa", "rsa", Some(3072), "");
    user.authorize(&[enc_line, agent_line]);
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let ask = askpass(&dir, "correct horse");
    let ask = ask.to_str().unwrap();
    let env = [("SSH_ASKPASS", ask), ("SSH_ASKPASS_REQUIRE", "force")];
    let ident = format!("-i{}", enc.display());
    for (client, server) in [("ssh", &tobirad), ("tobira", &sshd)] {
        let (code, err) = login(
            client,
            server.port,
            &user.name,
            &[ident.as_str(), "PreferredAuthentications=publickey"],
            &env,
        );
        assert_eq!(code, 0, "{client}: {err}");
        assert!(
            err.contains(&authenticated(server.port, "publickey")),
            "{client}: {err}"
        );
    }
    // Wrong passphrase: the key cannot be used.
    let bad = askpass(&dir, "wrong");
    let bad = bad.to_str().unwrap();
    for (client, server) in [("ssh", &tobirad), ("tobira", &sshd)] {
        let (code, err) = login(
            client,
            server.port,
            &user.name,
            &[ident.as_str(), "PreferredAuthentications=publickey"],
            &[("SSH_ASKPASS", bad), ("SSH_ASKPASS_REQUIRE", "force")],
        );
        assert_eq!(code, 255);
        assert!(
            err.contains(&format!("{}@127.0.0.1: Permission denied (publickey", user.name)),
            "{client}: {err}"
        );
    }
    // The agent.
    let sock = dir.path("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh-agent must be installed");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let added = Command::new("ssh-add")
        .arg(&agent_key)
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(added.success());
    let sock_s = sock.to_str().unwrap();
    // IdentitiesOnly with the public half names the agent's key, as with ssh.
    let agent_pub = format!("-i{}.pub", agent_key.display());
    for (client, server) in [("ssh", &tobirad), ("tobira", &sshd)] {
        let (code, err) = login(
            client,
            server.port,
            &user.name,
            &[
                agent_pub.as_str(),
                "BatchMode=yes",
                "PreferredAuthentications=publickey",
            ],
            &[("SSH_AUTH_SOCK", sock_s)],
        );
        assert_eq!(code, 0, "{client}: {err}");
        assert!(
            err.contains(&authenticated(server.port, "publickey")),
            "{client} with agent: {err}"
        );
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let slog = sshd.wait_log("Accepted publickey");
    assert!(slog.contains("RSA SHA256:"), "{slog}");
}

/// Passwords through SSH_ASKPASS both ways; wrong passwords and unknown
/// users fail with OpenSSH's message, exit 255 and sshd's log lines.
#[test]
fn password_via_askpass_both_ways_and_failures() {
    let user = TestUser::create();
    let dir = TempDir::new("pw");
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&[]);
    let good = askpass(&dir, &user.password);
    let good = good.to_str().unwrap();
    let bad = askpass(&dir, "not-the-password");
    let bad = bad.to_str().unwrap();
    for (client, server) in [("ssh", &tobirad), ("tobira", &sshd), ("tobira", &tobirad)] {
        let (code, err) = login(
            client,
            server.port,
            &user.name,
            &["PreferredAuthentications=password"],
            &[("SSH_ASKPASS", good), ("SSH_ASKPASS_REQUIRE", "force")],
        );
        assert_eq!(code, 0);
        assert!(
            err.contains(&authenticated(server.port, "password")),
            "{client}: {err}\n--- server log ---\n{}",
            server.log_text()
        );
        let (code, err) = login(
            client,
            server.port,
            &user.name,
            &["PreferredAuthentications=password", "NumberOfPasswordPrompts=2"],
            &[("SSH_ASKPASS", bad), ("SSH_ASKPASS_REQUIRE", "force")],
        );
        assert_eq!(code, 255);
        assert!(err.contains("Permission denied, please try again."), "{client}: {err}");
        assert!(
            err.trim_end().ends_with(&format!(
                "{}@127.0.0.1: Permission denied (publickey,password).",
                user.name
            )) || err.trim_end().ends_with(&format!(
                "{}@127.0.0.1: Permission denied (publickey,password,keyboard-interactive).",
                user.name
            )),
            "{client}: {err}"
        );
    }
    let (code, err) = login(
        "ssh",
        tobirad.port,
        "no-such-user-x",
        &["PreferredAuthentications=password", "NumberOfPasswordPrompts=1"],
        &[("SSH_ASKPASS", bad), ("SSH_ASKPASS_REQUIRE", "force")],
    );
    assert_eq!(code, 255);
    assert!(
        err.contains("no-such-user-x@127.0.0.1: Permission denied (publickey,password,keyboard-interactive)."),
        "{err}"
    );
    let log = tobirad.wait_log("invalid user no-such-user-x");
    for needle in [
        format!("Accepted password for {} from 127.0.0.1 port", user.name),
        format!("Failed password for {} from 127.0.0.1 port", user.name),
        "Invalid user no-such-user-x from 127.0.0.1 port".to_string(),
        "Failed password for invalid user no-such-user-x from 127.0.0.1 port".to_string(),
    ] {
        assert!(log.contains(&needle), "missing {needle:?} in\n{log}");
    }
    // An expired password (chage -d 0): a clear refusal, with a message.
    assert!(Command::new("chage")
        .args(["-d", "0", &user.name])
        .status()
        .unwrap()
        .success());
    let (code, err) = login(
        "ssh",
        tobirad.port,
        &user.name,
        &["PreferredAuthentications=password", "NumberOfPasswordPrompts=1"],
        &[("SSH_ASKPASS", good), ("SSH_ASKPASS_REQUIRE", "force")],
    );
    assert_eq!(code, 255);
    assert!(err.contains("Your password has expired."), "{err}");
    assert!(!err.contains("Authenticated to"), "{err}");
    // BatchMode never prompts.
    let (code, err) = login(
        "tobira",
        tobirad.port,
        &user.name,
        &["BatchMode=yes", "PreferredAuthentications=password"],
        &[("SSH_ASKPASS", good), ("SSH_ASKPASS_REQUIRE", "force")],
    );
    assert_eq!(code, 255);
    assert!(err.contains("Permission denied"), "{err}");
}

/// Keyboard-interactive (RFC 4256): ssh → tobirad and tobira → tobirad.
#[test]
fn keyboard_interactive() {
    let user = TestUser::create();
    let dir = TempDir::new("kbd");
    let tobirad = start_tobirad(&[]);
    let good = askpass(&dir, &user.password);
    let good = good.to_str().unwrap();
    for client in ["ssh", "tobira"] {
        let (code, err) = login(
            client,
            tobirad.port,
            &user.name,
            &["PreferredAuthentications=keyboard-interactive"],
            &[("SSH_ASKPASS", good), ("SSH_ASKPASS_REQUIRE", "force")],
        );
        assert_eq!(code, 0);
        assert!(
            err.contains(&authenticated(tobirad.port, "keyboard-interactive")),
            "{client}: {err}"
        );
    }
    let bad = askpass(&dir, "nope");
    let (code, err) = login(
        "ssh",
        tobirad.port,
        &user.name,
        &[
            "PreferredAuthentications=keyboard-interactive",
            "NumberOfPasswordPrompts=1",
        ],
        &[("SSH_ASKPASS", bad.to_str().unwrap()), ("SSH_ASKPASS_REQUIRE", "force")],
    );
    assert_eq!(code, 255);
    assert!(err.contains("Permission denied"), "{err}");
    let log = tobirad.wait_log("Failed keyboard-interactive");
    assert!(
        log.contains(&format!("Accepted keyboard-interactive for {}", user.name)),
        "{log}"
    );
    assert!(
        log.contains(&format!("Failed keyboard-interactive for {}", user.name)),
        "{log}"
    );
}

/// authorized_keys restrictions and server policy: a key not listed, a
/// `from=` that excludes us, an expired key, DenyUsers, MaxAuthTries,
/// AuthenticationMethods with partial success, and the Banner.
#[test]
fn server_policy_refusals_and_partial_success() {
    let user = TestUser::create();
    let dir = TempDir::new("policy");
    let (listed, listed_line) = user_key(&dir, "listed", "ed25519", None, "");
    let (unlisted, _) = user_key(&dir, "unlisted", "ed25519", None, "");
    let (fromk, from_line) = user_key(&dir, "fromk", "ed25519", None, "");
    let (expk, exp_line) = user_key(&dir, "expk", "ed25519", None, "");
    user.authorize(&[
        listed_line,
        format!("from=\"10.9.8.0/24\" {from_line}"),
        format!("expiry-time=\"20200101\" {exp_line}"),
    ]);
    let banner = dir.path("banner");
    // With an escape sequence (it would retitle the terminal) that tobira
    // must not pass through.
    std::fs::write(&banner, "Authorized use only.\x1b]0;owned\x07\n").unwrap();
    let tobirad = start_tobirad(&["-o", &format!("Banner={}", banner.display()), "-o", "MaxAuthTries=3"]);
    for (key, what) in [(&unlisted, "unlisted"), (&fromk, "from="), (&expk, "expired")] {
        let ident = format!("-i{}", key.display());
        let (code, err) = login("ssh", tobirad.port, &user.name, &[ident.as_str(), "BatchMode=yes"], &[]);
        assert_eq!(code, 255, "{what}");
        assert!(
            err.contains("Permission denied (publickey,password,keyboard-interactive)."),
            "{what}: {err}"
        );
        assert!(!err.contains("Authenticated to"), "{what}: {err}");
    }
    let log = tobirad.wait_log("not from a permitted host");
    assert!(log.contains("not from a permitted host"), "{log}");
    // The banner reaches both clients.
    let ident = format!("-i{}", listed.display());
    let (_, err) = login("ssh", tobirad.port, &user.name, &[ident.as_str(), "BatchMode=yes"], &[]);
    assert!(err.contains("Authorized use only."), "{err}");
    let (_, err) = login(
        "tobira",
        tobirad.port,
        &user.name,
        &[ident.as_str(), "BatchMode=yes"],
        &[],
    );
    assert!(err.contains("Authorized use only.\\033]0;owned\\007\n"), "{err}");
    assert!(
        !err.contains('\x1b') && !err.contains('\x07'),
        "raw escape sequence: {err:?}"
    );
    // MaxAuthTries: the third failure disconnects.
    let bad = askpass(&dir, "bad");
    let (code, err) = login(
        "ssh",
        tobirad.port,
        &user.name,
        &["PreferredAuthentications=password", "NumberOfPasswordPrompts=5"],
        &[("SSH_ASKPASS", bad.to_str().unwrap()), ("SSH_ASKPASS_REQUIRE", "force")],
    );
    assert_eq!(code, 255);
    assert!(err.contains("Too many authentication failures"), "{err}");
    let log = tobirad.wait_log("Too many authentication failures");
    assert!(
        log.contains(&format!(
            "Disconnecting authenticating user {} 127.0.0.1 port",
            user.name
        )),
        "{log}"
    );
    // AuthenticationMethods publickey,password: partial success, then password.
    let both = start_tobirad(&["-o", "AuthenticationMethods=publickey,password"]);
    let good = askpass(&dir, &user.password);
    let (code, err) = login(
        "ssh",
        both.port,
        &user.name,
        &[ident.as_str()],
        &[
            ("SSH_ASKPASS", good.to_str().unwrap()),
            ("SSH_ASKPASS_REQUIRE", "force"),
        ],
    );
    assert_eq!(code, 0);
    assert!(
        err.contains("Authenticated using \"publickey\" with partial success."),
        "{err}"
    );
    assert!(err.contains(&authenticated(both.port, "password")), "{err}");
    let (code, err) = login(
        "tobira",
        both.port,
        &user.name,
        &[ident.as_str()],
        &[
            ("SSH_ASKPASS", good.to_str().unwrap()),
            ("SSH_ASKPASS_REQUIRE", "force"),
        ],
    );
    assert_eq!(code, 0);
    assert!(err.contains(&authenticated(both.port, "password")), "{err}");
    // DenyUsers: even the right key fails.
    let deny = start_tobirad(&["-o", &format!("DenyUsers={}", user.name)]);
    let (code, err) = login("ssh", deny.port, &user.name, &[ident.as_str(), "BatchMode=yes"], &[]);
    assert_eq!(code, 255);
    assert!(!err.contains("Authenticated to"), "{err}");
    let log = deny.wait_log("DenyUsers");
    assert!(
        log.contains(&format!(
            "User {} from 127.0.0.1 not allowed because listed in DenyUsers",
            user.name
        )),
        "{log}"
    );
}

/// An invalid user gets the same answers as a valid user with a wrong
/// password: same method lists, same messages.
#[test]
fn invalid_user_is_indistinguishable() {
    let user = TestUser::create();
    let dir = TempDir::new("enum");
    let tobirad = start_tobirad(&["--trace"]);
    let bad = askpass(&dir, "wrong");
    let env = [("SSH_ASKPASS", bad.to_str().unwrap()), ("SSH_ASKPASS_REQUIRE", "force")];
    let (_, valid) = login(
        "tobira",
        tobirad.port,
        &user.name,
        &[
            "PreferredAuthentications=password",
            "NumberOfPasswordPrompts=1",
            "--trace",
        ],
        &env,
    );
    let (_, invalid) = login(
        "tobira",
        tobirad.port,
        "nobody-here-x",
        &[
            "PreferredAuthentications=password",
            "NumberOfPasswordPrompts=1",
            "--trace",
        ],
        &env,
    );
    let answers = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                l.contains("authentications that can continue")
                    || l.contains("partial success")
                    || l.starts_with("<< SSH_MSG_USERAUTH")
            })
            .map(|l| l.split("packet_length").next().unwrap_or("").to_string())
            .collect()
    };
    assert!(!answers(&valid).is_empty());
    assert_eq!(answers(&valid), answers(&invalid));
}

/// fail2ban's stock sshd filter (pointed at our daemon name) matches the
/// failure lines tobirad writes to its `-E` log file.
#[test]
fn fail2ban_sshd_filter_matches_tobirad_log() {
    let user = TestUser::create();
    let dir = TempDir::new("f2b");
    let logfile = dir.path("auth.log");
    let tobirad = start_tobirad(&["-E", logfile.to_str().unwrap(), "-o", "MaxAuthTries=2"]);
    let bad = askpass(&dir, "wrong-password");
    let env = [("SSH_ASKPASS", bad.to_str().unwrap()), ("SSH_ASKPASS_REQUIRE", "force")];
    login(
        "ssh",
        tobirad.port,
        &user.name,
        &["PreferredAuthentications=password", "NumberOfPasswordPrompts=1"],
        &env,
    );
    login(
        "ssh",
        tobirad.port,
        "intruder-x",
        &["PreferredAuthentications=password", "NumberOfPasswordPrompts=1"],
        &env,
    );
    login(
        "ssh",
        tobirad.port,
        &user.name,
        &["PreferredAuthentications=password", "NumberOfPasswordPrompts=3"],
        &env,
    );
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&logfile).unwrap_or_default();
        if text.contains("maximum authentication attempts exceeded") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        text.lines().all(|l| l.contains(" tobirad[")),
        "syslog-style lines: {text}"
    );
    let out = run(
        Command::new("fail2ban-regex")
            .arg(&logfile)
            .arg("sshd[_daemon=tobirad]"),
        Duration::from_secs(60),
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fail2ban-regex (package fail2ban) must be installed: {report}"
    );
    // Failed password x4 (valid user x3, invalid x1), Invalid user x1,
    // maximum attempts x1 at least.
    let matched: u32 = report
        .lines()
        .find(|l| l.starts_with("Lines:"))
        .and_then(|l| l.split(", ").find(|p| p.ends_with(" matched")))
        .and_then(|p| p.trim_end_matches(" matched").trim().parse().ok())
        .unwrap_or(0);
    assert!(matched >= 5, "fail2ban matched {matched} lines:\n{report}\n{text}");
    for rx in [
        "Failed (?:<F-NOFAIL>publickey",
        "[iI](?:llegal|nvalid) user",
        "maximum authentication attempts exceeded",
    ] {
        assert!(
            report.lines().any(|l| l.contains(rx) && !l.contains("[0]")),
            "no hit for {rx}:\n{report}"
        );
    }
}

/// ssh_config/sshd_config `Match`: a `Match User` block turns password
/// authentication off for one user only.
#[test]
fn match_user_block_applies() {
    let user = TestUser::create();
    let dir = TempDir::new("match");
    let cfg = dir.path("tobirad_config");
    std::fs::write(
        &cfg,
        format!(
            "PasswordAuthentication yes\nMatch User {}\n    PasswordAuthentication no\n",
            user.name
        ),
    )
    .unwrap();
    let tobirad = start_tobirad(&["-f", cfg.to_str().unwrap()]);
    let good = askpass(&dir, &user.password);
    let (code, err) = login(
        "ssh",
        tobirad.port,
        &user.name,
        &["PreferredAuthentications=password"],
        &[
            ("SSH_ASKPASS", good.to_str().unwrap()),
            ("SSH_ASKPASS_REQUIRE", "force"),
        ],
    );
    assert_eq!(code, 255);
    assert!(!err.contains("Authenticated to"), "{err}");
    assert!(
        err.contains("Permission denied (publickey,keyboard-interactive)."),
        "{err}"
    );
}

/// tobira → sshd with keyboard-interactive through sshd's PAM.
#[test]
fn keyboard_interactive_against_sshd_pam() {
    let user = TestUser::create();
    let dir = TempDir::new("kbdpam");
    let sshd = start_sshd(&[
        "UsePAM=yes",
        "KbdInteractiveAuthentication=yes",
        "PasswordAuthentication=no",
    ]);
    let good = askpass(&dir, &user.password);
    let (code, err) = login(
        "tobira",
        sshd.port,
        &user.name,
        &["PreferredAuthentications=keyboard-interactive"],
        &[
            ("SSH_ASKPASS", good.to_str().unwrap()),
            ("SSH_ASKPASS_REQUIRE", "force"),
        ],
    );
    assert_eq!(code, 0);
    assert!(
        err.contains(&authenticated(sshd.port, "keyboard-interactive")),
        "{err}\n{}",
        sshd.log_text()
    );
    let bad = askpass(&dir, "definitely-wrong");
    let (code, err) = login(
        "tobira",
        sshd.port,
        &user.name,
        &[
            "PreferredAuthentications=keyboard-interactive",
            "NumberOfPasswordPrompts=1",
        ],
        &[("SSH_ASKPASS", bad.to_str().unwrap()), ("SSH_ASKPASS_REQUIRE", "force")],
    );
    assert_eq!(code, 255);
    assert!(
        err.contains(&format!("{}@127.0.0.1: Permission denied (", user.name)),
        "{err}"
    );
}
