//! `tobira-keygen` against OpenSSH's `ssh-keygen`: each reads the key
//! files the other writes, and both show the same fingerprints.
//!
//! The cross-checks need `ssh-keygen` on the PATH (or /usr/bin); without
//! it they print a note and pass.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const KEYGEN: &str = env!("CARGO_BIN_EXE_tobira-keygen");

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tobira-keygen-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn ssh_keygen() -> Option<&'static str> {
    ["/usr/bin/ssh-keygen", "ssh-keygen"].into_iter().find(|p| {
        Command::new(p)
            .arg("-?")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

/// Runs a command without a terminal, with HOME in `home`.
fn run(program: &str, args: &[&str], home: &Path) -> Output {
    Command::new(program)
        .args(args)
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

fn ok(program: &str, args: &[&str], home: &Path) -> String {
    let out = run(program, args, home);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn tobira(args: &[&str], home: &Path) -> String {
    ok(KEYGEN, args, home)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Key types as `-t`/`-b` arguments, and a file-name tag.
const TYPES: &[(&str, Option<&str>, &str)] = &[
    ("ed25519", None, "ed25519"),
    ("ecdsa", None, "ecdsa256"),
    ("ecdsa", Some("384"), "ecdsa384"),
    ("ecdsa", Some("521"), "ecdsa521"),
    ("rsa", Some("2048"), "rsa2048"),
];

fn gen_args<'a>(kind: &'a str, bits: Option<&'a str>, pass: &'a str, file: &'a str) -> Vec<&'a str> {
    let mut a = vec!["-q", "-t", kind, "-N", pass, "-C", "test@tobira", "-f", file];
    if let Some(b) = bits {
        a.extend(["-b", b]);
    }
    a
}

#[test]
fn ssh_keygen_reads_tobira_keys() {
    let ssh = ssh_keygen().expect("OpenSSH's ssh-keygen must be installed (.ci/run installs openssh-client)");
    let dir = TempDir::new("ours");
    for &(kind, bits, tag) in TYPES {
        for pass in ["", "secret pass"] {
            let file = dir.path(&format!("{tag}-{}", pass.len()));
            let f = s(&file);
            tobira(&gen_args(kind, bits, pass, f), &dir.0);
            let public = fs::read_to_string(format!("{f}.pub")).expect("read .pub");
            assert!(public.ends_with(" test@tobira\n"), "{public}");
            let mode = {
                use std::os::unix::fs::PermissionsExt;
                fs::metadata(&file).expect("stat").permissions().mode() & 0o777
            };
            assert_eq!(mode, 0o600);

            let mut args = vec!["-y", "-f", f];
            if !pass.is_empty() {
                args.extend(["-P", pass]);
            }
            let theirs = ok(ssh, &args, &dir.0);
            assert_eq!(theirs, public, "{kind} {bits:?} pass={pass:?}");

            // Same fingerprint lines (and randomart) from both tools.
            for hash in ["sha256", "md5"] {
                let pub_file = format!("{f}.pub");
                let args = ["-l", "-v", "-E", hash, "-f", &pub_file];
                assert_eq!(tobira(&args, &dir.0), ok(ssh, &args, &dir.0));
                let args = ["-l", "-E", hash, "-f", f];
                assert_eq!(tobira(&args, &dir.0), ok(ssh, &args, &dir.0));
            }
        }
    }
}

#[test]
fn tobira_reads_ssh_keygen_keys() {
    let ssh = ssh_keygen().expect("OpenSSH's ssh-keygen must be installed (.ci/run installs openssh-client)");
    let dir = TempDir::new("theirs");
    for &(kind, bits, tag) in TYPES {
        for pass in ["", "their pass"] {
            let file = dir.path(&format!("{tag}-{}", pass.len()));
            let f = s(&file);
            ok(ssh, &gen_args(kind, bits, pass, f), &dir.0);
            let public = fs::read_to_string(format!("{f}.pub")).expect("read .pub");

            let mut args = vec!["-y", "-f", f];
            if !pass.is_empty() {
                args.extend(["-P", pass]);
            }
            assert_eq!(tobira(&args, &dir.0), public, "{kind} {bits:?}");

            for hash in ["sha256", "md5"] {
                let pub_file = format!("{f}.pub");
                for target in [f, pub_file.as_str()] {
                    let args = ["-l", "-E", hash, "-f", target];
                    assert_eq!(tobira(&args, &dir.0), ok(ssh, &args, &dir.0));
                }
            }

            if !pass.is_empty() {
                // Wrong and missing passphrases: one-line errors, exit 1.
                let out = run(KEYGEN, &["-y", "-P", "wrong", "-f", f], &dir.0);
                assert_eq!(out.status.code(), Some(1));
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.starts_with("tobira-keygen: "), "{err}");
                assert!(err.contains("incorrect passphrase"), "{err}");
                assert_eq!(err.lines().count(), 1, "{err}");
                let out = run(KEYGEN, &["-y", "-f", f], &dir.0);
                assert_eq!(out.status.code(), Some(1));
            }
        }
    }
}

#[test]
fn pem_keys_from_ssh_keygen() {
    let ssh = ssh_keygen().expect("OpenSSH's ssh-keygen must be installed (.ci/run installs openssh-client)");
    let dir = TempDir::new("pem");
    for (kind, format) in [("rsa", "PEM"), ("rsa", "PKCS8"), ("ecdsa", "PEM"), ("ecdsa", "PKCS8")] {
        let file = dir.path(&format!("{kind}-{format}"));
        let f = s(&file);
        ok(ssh, &["-q", "-t", kind, "-m", format, "-N", "", "-f", f], &dir.0);
        let expected = ok(ssh, &["-y", "-f", f], &dir.0);
        assert_eq!(tobira(&["-y", "-f", f], &dir.0), expected, "{kind} {format}");
    }
}

#[test]
fn change_passphrase() {
    let ssh = ssh_keygen().expect("OpenSSH's ssh-keygen must be installed (.ci/run installs openssh-client)");
    let dir = TempDir::new("chpass");
    let file = dir.path("id");
    let f = s(&file);
    ok(ssh, &["-q", "-t", "ed25519", "-N", "old", "-C", "c@d", "-f", f], &dir.0);
    let public = fs::read_to_string(format!("{f}.pub")).expect("read .pub");
    let out = tobira(&["-p", "-P", "old", "-N", "new", "-f", f], &dir.0);
    assert!(
        out.ends_with("Your identification has been saved with the new passphrase.\n"),
        "{out}"
    );
    assert_eq!(ok(ssh, &["-y", "-P", "new", "-f", f], &dir.0), public);
    // Removing the passphrase.
    tobira(&["-p", "-P", "new", "-N", "", "-f", f], &dir.0);
    assert_eq!(ok(ssh, &["-y", "-f", f], &dir.0), public);
    assert_eq!(tobira(&["-y", "-f", f], &dir.0), public);
}

#[test]
fn generation_output_and_refusals() {
    let dir = TempDir::new("gen");
    let file = dir.path("key");
    let f = s(&file);
    let out = tobira(&["-t", "ed25519", "-N", "", "-C", "x@y", "-f", f], &dir.0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Generating public/private ed25519 key pair.");
    assert_eq!(lines[1], format!("Your identification has been saved in {f}"));
    assert_eq!(lines[2], format!("Your public key has been saved in {f}.pub"));
    assert_eq!(lines[3], "The key fingerprint is:");
    assert!(lines[4].starts_with("SHA256:") && lines[4].ends_with(" x@y"));
    assert_eq!(lines[5], "The key's randomart image is:");
    assert_eq!(lines[6], "+--[ED25519 256]--+");
    assert_eq!(lines[16], "+----[SHA256]-----+");
    assert_eq!(lines.len(), 17);

    // An existing file is not overwritten without a terminal.
    let before = fs::read(&file).expect("read key");
    let out = run(KEYGEN, &["-q", "-t", "ed25519", "-N", "", "-f", f], &dir.0);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{f} already exists.\n"));
    assert_eq!(fs::read(&file).expect("read key"), before);

    // Default file and directory: ~/.ssh/id_ecdsa.
    tobira(&["-q", "-t", "ecdsa", "-N", ""], &dir.0);
    assert!(dir.path(".ssh/id_ecdsa").exists());
    assert!(dir.path(".ssh/id_ecdsa.pub").exists());

    // Errors: one line, exit 1; usage errors exit 2.
    for args in [
        &["-t", "ed448", "-f", "/nonexistent/x"][..],
        &["-t", "rsa", "-b", "512", "-f", "/nonexistent/x"][..],
        &["-l", "-f", "/nonexistent/x"][..],
        &["-y", "-f", "/nonexistent/x"][..],
    ] {
        let out = run(KEYGEN, args, &dir.0);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("tobira-keygen: "), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let out = run(KEYGEN, &["-t", "ed448"], &dir.0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not supported yet"));
    for args in [&["-Z"][..], &["-l", "-y"][..], &["-b", "many"][..]] {
        let out = run(KEYGEN, args, &dir.0);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
    }
}

#[test]
fn fingerprints_of_known_hosts_and_authorized_keys() {
    let ssh = ssh_keygen().expect("OpenSSH's ssh-keygen must be installed (.ci/run installs openssh-client)");
    let dir = TempDir::new("lists");
    let a = dir.path("a");
    let b = dir.path("b");
    tobira(&["-q", "-t", "ed25519", "-N", "", "-f", s(&a)], &dir.0);
    tobira(&["-q", "-t", "rsa", "-N", "", "-f", s(&b)], &dir.0);
    let pa = fs::read_to_string(dir.path("a.pub")).expect("read");
    let pb = fs::read_to_string(dir.path("b.pub")).expect("read");
    let bare_a: String = pa.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let text =
        format!("# comment\n\n  {bare_a}\nhost1,host2 {bare_a}\n[host3]:2222 {pb}command=\"echo a b\",no-pty {pa}{pb}");
    // (A key without comment comes first: ssh-keygen 9.2 shows the
    // previous line's comment for it.)
    let list = dir.path("list");
    fs::write(&list, text).expect("write");
    for hash in ["sha256", "md5"] {
        let args = ["-l", "-E", hash, "-f", s(&list)];
        assert_eq!(tobira(&args, &dir.0), ok(ssh, &args, &dir.0));
    }
}

#[test]
fn known_hosts_find_remove_hash() {
    let ssh = ssh_keygen().expect("OpenSSH's ssh-keygen must be installed (.ci/run installs openssh-client)");
    let dir = TempDir::new("kh");
    let a = dir.path("a");
    tobira(&["-q", "-t", "ed25519", "-N", "", "-f", s(&a)], &dir.0);
    let pa = fs::read_to_string(dir.path("a.pub")).expect("read");
    let key: String = pa.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let text = format!("one,two {key}\nthree {key}\n[four]:2222 {key}\n");
    let (ours, theirs) = (dir.path("ours"), dir.path("theirs"));
    fs::write(&ours, &text).expect("write");
    fs::write(&theirs, &text).expect("write");

    for host in ["two", "three", "[four]:2222"] {
        assert_eq!(
            tobira(&["-F", host, "-f", s(&ours)], &dir.0),
            ok(ssh, &["-F", host, "-f", s(&theirs)], &dir.0)
        );
    }
    assert_eq!(
        run(KEYGEN, &["-F", "five", "-f", s(&ours)], &dir.0).status.code(),
        Some(1)
    );

    let out = tobira(&["-R", "three", "-f", s(&ours)], &dir.0);
    ok(ssh, &["-R", "three", "-f", s(&theirs)], &dir.0);
    assert!(out.contains("# Host three found: line 2"), "{out}");
    assert_eq!(
        fs::read_to_string(&ours).expect("read"),
        fs::read_to_string(&theirs).expect("read")
    );

    // After -H, ssh-keygen still finds the hosts, by their hashes.
    tobira(&["-H", "-f", s(&ours)], &dir.0);
    let hashed = fs::read_to_string(&ours).expect("read");
    assert!(!hashed.contains("one"), "{hashed}");
    for host in ["one", "two", "[four]:2222"] {
        let found = ok(ssh, &["-F", host, "-f", s(&ours)], &dir.0);
        assert!(found.contains("|1|"), "{host}: {found}");
    }
}
