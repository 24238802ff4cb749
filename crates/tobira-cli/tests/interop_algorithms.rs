//! Every algorithm against the real OpenSSH (issue 5), logging in and
//! running a command, in each direction: `ssh`→`tobirad` and
//! `tobira`→`sshd`. The cases are every key exchange, host key, cipher and
//! MAC tobira implements that the installed OpenSSH also speaks
//! (`ssh -Q`), compression, every user-key signature algorithm, and the
//! legacy ones enabled with `+` exactly as a user would.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// What the installed OpenSSH speaks (`ssh -Q kind`).
fn openssh_supports(kind: &str) -> Vec<String> {
    let out = Command::new("ssh")
        .args(["-Q", kind])
        .output()
        .expect("ssh (openssh-client) must be installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn both(ours: &[&str], theirs: &[String]) -> Vec<String> {
    ours.iter()
        .filter(|n| theirs.iter().any(|t| t == *n))
        .map(|s| s.to_string())
        .collect()
}

/// One case per algorithm, as `Keyword=value` options for the client.
fn cases() -> Vec<Vec<String>> {
    use tobira_proto::algorithms::*;
    let mut v: Vec<Vec<String>> = Vec::new();
    for k in both(KEX_SUPPORTED, &openssh_supports("kex")) {
        v.push(vec![format!("KexAlgorithms={k}")]);
    }
    for h in both(HOSTKEY_SUPPORTED, &openssh_supports("key-sig")) {
        v.push(vec![format!("HostKeyAlgorithms={h}")]);
    }
    for c in both(CIPHER_SUPPORTED, &openssh_supports("cipher")) {
        v.push(vec![format!("Ciphers={c}")]);
    }
    for m in both(MAC_SUPPORTED, &openssh_supports("mac")) {
        // A MAC is only used with a non-AEAD cipher.
        v.push(vec![format!("MACs={m}"), "Ciphers=aes128-ctr".into()]);
    }
    v.push(vec!["Compression=yes".into()]);
    v
}

/// What `-v` prints when the case is in force (both clients print
/// OpenSSH's lines).
fn expected(case: &[String]) -> String {
    let (kw, name) = case[0].split_once('=').unwrap();
    match kw {
        "KexAlgorithms" => format!("kex: algorithm: {name}"),
        "HostKeyAlgorithms" => format!("kex: host key algorithm: {name}"),
        "Ciphers" => format!("client->server cipher: {name} "),
        "MACs" => format!("MAC: {name} compression"),
        _ => "compression: zlib@openssh.com".into(),
    }
}

/// Legacy algorithms the installed sshd has off by default, turned on
/// with `+` as a user would.
fn sshd_legacy() -> Vec<String> {
    let mac = both(
        &[
            "hmac-sha1",
            "hmac-sha1-96",
            "hmac-sha1-etm@openssh.com",
            "hmac-sha1-96-etm@openssh.com",
            "hmac-md5",
            "hmac-md5-96",
            "hmac-md5-etm@openssh.com",
            "hmac-md5-96-etm@openssh.com",
            "umac-64@openssh.com",
            "umac-64-etm@openssh.com",
        ],
        &openssh_supports("mac"),
    );
    let kex = both(
        &[
            "diffie-hellman-group1-sha1",
            "diffie-hellman-group14-sha1",
            "diffie-hellman-group-exchange-sha1",
        ],
        &openssh_supports("kex"),
    );
    let cipher = both(
        &["aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc"],
        &openssh_supports("cipher"),
    );
    let sig = both(&["ssh-rsa", "ssh-dss"], &openssh_supports("key-sig"));
    vec![
        format!("KexAlgorithms=+{}", kex.join(",")),
        format!("MACs=+{}", mac.join(",")),
        format!("Ciphers=+{}", cipher.join(",")),
        format!("HostKeyAlgorithms=+{}", sig.join(",")),
        format!("PubkeyAcceptedAlgorithms=+{}", sig.join(",")),
        "Compression=yes".into(),
        "AuthorizedKeysFile=.ssh/authorized_keys".into(),
    ]
}

/// tobirad with every algorithm enabled (the legacy ones with `+`); its
/// host keys include DSA (`common::host_keys`).
fn tobirad_all() -> Server {
    use tobira_proto::algorithms::*;
    let opts = [
        "-o".to_string(),
        format!("KexAlgorithms={}", KEX_SUPPORTED.join(",")),
        "-o".into(),
        format!("MACs={}", MAC_SUPPORTED.join(",")),
        "-o".into(),
        format!("Ciphers={}", CIPHER_SUPPORTED.join(",")),
        "-o".into(),
        format!("HostKeyAlgorithms={}", HOSTKEY_SUPPORTED.join(",")),
        "-o".into(),
        format!("PubkeyAcceptedAlgorithms={}", PUBKEY_SUPPORTED.join(",")),
        "-o".into(),
        "Compression=yes".into(),
    ];
    let o: Vec<&str> = opts.iter().map(String::as_str).collect();
    start_tobirad(&o)
}

fn sshd_all() -> Server {
    let opts = sshd_legacy();
    let o: Vec<&str> = opts.iter().map(String::as_str).collect();
    start_sshd(&o)
}

/// `client -v <opts> user@127.0.0.1 'echo $((6*7))'`: (code, stdout, stderr).
fn run_case(client: &str, port: u16, user: &str, ident: &str, opts: &[String]) -> (i32, String, String) {
    let mut c = client_command(client, ident, port);
    c.arg("-v");
    for o in opts {
        c.arg(format!("-o{o}"));
    }
    c.arg(format!("{user}@127.0.0.1")).arg("echo $((6*7))");
    let out = run(&mut c, Duration::from_secs(60));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_all(client: &str, server: &Server, user: &str, ident: &str, extra: &[String]) {
    let mut failures = Vec::new();
    let all = cases();
    for case in &all {
        let mut opts = case.clone();
        opts.extend_from_slice(extra);
        let (code, out, err) = run_case(client, server.port, user, ident, &opts);
        let want = expected(case);
        if code != 0 || out.trim() != "42" || !err.contains(&want) {
            failures.push(format!(
                "{client} {}: exit {code}, stdout {:?}, want {want:?}\n{}",
                case.join(" "),
                out.trim(),
                err.lines()
                    .filter(|l| l.contains("kex") || l.contains("rror") || l.contains("denied") || l.contains("tobira"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}\n--- server log (tail) ---\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n"),
        server.log_text().lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn ssh_to_tobirad_every_algorithm_logs_in() {
    let dir = TempDir::new("alg-s");
    let (user, ident) = user_with_key(&dir);
    let server = tobirad_all();
    // OpenSSH's client needs `+` for its own legacy algorithms too.
    let extra: Vec<String> = sshd_legacy()
        .into_iter()
        .filter(|o| o.starts_with("HostKeyAlgorithms") || o.starts_with("PubkeyAccepted"))
        .collect();
    check_all("ssh", &server, &user.name, &ident, &extra);
}

#[test]
fn tobira_to_sshd_every_algorithm_logs_in() {
    let dir = TempDir::new("alg-c");
    let (user, ident) = user_with_key(&dir);
    let server = sshd_all();
    check_all("tobira", &server, &user.name, &ident, &[]);
}

/// Every user-key signature algorithm both ways: the key of that type is
/// the only one authorized, and the client is limited to that algorithm.
#[test]
fn every_user_key_algorithm_both_ways() {
    let dir = TempDir::new("alg-u");
    let user = TestUser::create();
    let tobirad = tobirad_all();
    let sshd = sshd_all();
    let sigs = both(tobira_proto::algorithms::PUBKEY_SUPPORTED, &openssh_supports("key-sig"));
    let mut failures = Vec::new();
    for alg in &sigs {
        let (kind, bits) = match alg.as_str() {
            "ssh-ed25519" => ("ed25519", None),
            "ecdsa-sha2-nistp256" => ("ecdsa", Some(256)),
            "ecdsa-sha2-nistp384" => ("ecdsa", Some(384)),
            "ecdsa-sha2-nistp521" => ("ecdsa", Some(521)),
            "ssh-dss" => ("dsa", None),
            _ => ("rsa", Some(2048)),
        };
        let (key, line) = user_key(&dir, &format!("id_{alg}"), kind, bits, "");
        user.authorize(&[line]);
        let ident = format!("-i{}", key.display());
        for (client, server) in [("ssh", &tobirad), ("tobira", &sshd), ("tobira", &tobirad)] {
            let opts = vec![format!("PubkeyAcceptedAlgorithms={alg}")];
            let (code, out, err) = run_case(client, server.port, &user.name, &ident, &opts);
            if code != 0 || out.trim() != "42" {
                failures.push(format!(
                    "{client} with a {alg} key: exit {code}\n{}",
                    err.lines().rev().take(8).collect::<Vec<_>>().join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `tobira -Q kind` lists what this build implements, one per line, as
/// `ssh -Q` does; every name both implementations share is listed by both.
#[test]
fn query_lists_supported_algorithms() {
    use tobira_proto::algorithms::*;
    let q = |kind: &str| {
        let out = Command::new(bin("tobira")).args(["-Q", kind]).output().unwrap();
        assert!(out.status.success(), "tobira -Q {kind}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for (kind, ours) in [
        ("kex", KEX_SUPPORTED),
        ("cipher", CIPHER_SUPPORTED),
        ("mac", MAC_SUPPORTED),
        ("key-sig", PUBKEY_SUPPORTED),
        ("compression", COMPRESSION_SUPPORTED),
    ] {
        let listed = q(kind);
        assert_eq!(listed, ours, "tobira -Q {kind}");
        for shared in both(ours, &openssh_supports(kind)) {
            assert!(listed.contains(&shared), "{kind}: {shared}");
        }
    }
    let keys = q("key");
    for k in ["ssh-ed25519", "ssh-ed448", "ecdsa-sha2-nistp256", "ssh-rsa", "ssh-dss"] {
        assert!(keys.iter().any(|x| x == k), "-Q key lacks {k}");
    }
    let out = Command::new(bin("tobira")).args(["-Q", "nonsense"]).output().unwrap();
    assert_eq!(out.status.code(), Some(255));
}

/// With no cipher configured, tobira offers AES-GCM first where the CPU
/// has AES-NI and PCLMULQDQ, or on AArch64 AES and PMULL, and OpenSSH's
/// order, ChaCha20-Poly1305 first, elsewhere: the library's
/// `cipher_default()`, whose agreement with `/proc/cpuinfo` its unit test
/// `default_cipher_order_follows_the_cpu` checks. The client's order
/// decides (RFC 4253 §7.1), against sshd and tobirad alike (each prefers
/// ChaCha20-Poly1305 in its own list). `Ciphers` still overrides it.
#[test]
fn tobira_default_cipher_follows_the_cpu() {
    let dir = TempDir::new("alg-default");
    let (user, ident) = user_with_key(&dir);
    let want = tobira_proto::algorithms::cipher_default()[0];
    assert!(
        ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"].contains(&want),
        "{want}"
    );
    eprintln!(
        "AES in hardware: {}, want {want}",
        tobira_proto::crypto::cipher::aes_in_hardware()
    );
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let tobirad = start_tobirad(&[]);
    let mut failures = Vec::new();
    for (name, server) in [("sshd", &sshd), ("tobirad", &tobirad)] {
        for (opts, expect) in [
            (vec![], want),
            (
                vec!["Ciphers=^chacha20-poly1305@openssh.com".to_string()],
                "chacha20-poly1305@openssh.com",
            ),
        ] {
            let (code, out, err) = run_case("tobira", server.port, &user.name, &ident, &opts);
            let line = format!("kex: client->server cipher: {expect} ");
            if code != 0 || out.trim() != "42" || !err.contains(&line) {
                failures.push(format!(
                    "tobira to {name} {opts:?}: exit {code}, want {line:?}\n{}",
                    err.lines().rev().take(12).collect::<Vec<_>>().join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
