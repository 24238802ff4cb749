//! Remote login after authentication (issue 4) against the real OpenSSH:
//! commands with their output, input and exit status, terminals, the
//! environment, forced commands, scp and sftp through tobirad's subsystem,
//! and processes cleaned up when the connection drops.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A user with one authorized ed25519 key (and `options` on its line).
fn user_with_key(dir: &TempDir, options: &str) -> (TestUser, String) {
    let user = TestUser::create();
    let (key, line) = user_key(dir, "id", "ed25519", None, "");
    let line = if options.is_empty() {
        line
    } else {
        format!("{options} {line}")
    };
    user.authorize(&[line]);
    (user, format!("-i{}", key.display()))
}

/// Runs a client with a remote command, feeding `input`; returns (code, stdout, stderr).
fn exec(
    client: &str,
    port: u16,
    user: &str,
    ident: &str,
    extra: &[&str],
    command: &str,
    input: &[u8],
) -> (i32, Vec<u8>, String) {
    let mut c = client_command(client, ident, port);
    c.args(extra);
    c.arg(format!("{user}@127.0.0.1")).arg(command);
    let out = run_with_input(
        &mut c,
        input.to_vec(),
        Duration::from_secs(180),
        &format!("{client} {command}"),
    );
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sha256(data: &[u8]) -> String {
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

fn random_bytes(n: usize) -> Vec<u8> {
    pseudo_random(n, 0x9e37_79b9_7f4a_7c15)
}

/// Output and errors kept apart, exit codes 0, 1, 42, a command killed by
/// SIGTERM, and 256 MiB through `cat` both ways with equal SHA-256, for
/// ssh→tobirad, tobira→sshd, tobira→tobirad (and ssh→sshd as the baseline).
#[test]
fn commands_in_every_pairing() {
    let dir = TempDir::new("exec");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let input = random_bytes(256 * 1024 * 1024);
    let want = sha256(&input);
    for (client, server) in [
        ("ssh", &tobirad),
        ("tobira", &sshd),
        ("tobira", &tobirad),
        ("ssh", &sshd),
    ] {
        let label = format!(
            "{client} -> {}",
            if server.port == tobirad.port { "tobirad" } else { "sshd" }
        );
        let (code, out, err) = exec(
            client,
            server.port,
            &user.name,
            &ident,
            &[],
            "echo out; echo err >&2; exit 7",
            b"",
        );
        assert_eq!(code, 7, "{label}: {err}");
        assert_eq!(out, b"out\n", "{label}");
        assert_eq!(err.trim(), "err", "{label}: stderr apart from stdout");
        for status in [0, 1, 42] {
            let (code, _, err) = exec(
                client,
                server.port,
                &user.name,
                &ident,
                &[],
                &format!("exit {status}"),
                b"",
            );
            assert_eq!(code, status, "{label}: {err}");
        }
        let (code, _, _) = exec(client, server.port, &user.name, &ident, &[], "kill -TERM $$", b"");
        // tobira: 128 + SIGTERM; OpenSSH's ssh reports a remote signal as 255.
        assert_eq!(code, if client == "tobira" { 143 } else { 255 }, "{label}");
        let (code, out, err) = exec(client, server.port, &user.name, &ident, &[], "cat", &input);
        assert_eq!(code, 0, "{label}: {err}");
        assert_eq!(out.len(), input.len(), "{label}");
        assert_eq!(sha256(&out), want, "{label}: 256 MiB through cat");
    }
}

#[test]
fn environment_terminal_and_forced_commands() {
    let dir = TempDir::new("env");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&["-o", "AcceptEnv=LC_TOBIRA_*"]);
    // The session's environment is clean and complete.
    let (code, out, err) = exec(
        "ssh",
        tobirad.port,
        &user.name,
        &ident,
        &["-o", "SendEnv=LC_TOBIRA_TEST", "-o", "SendEnv=NOT_ACCEPTED"],
        "env",
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let env = String::from_utf8_lossy(&out).to_string();
    for needle in [
        format!("USER={}", user.name),
        format!("LOGNAME={}", user.name),
        format!("HOME={}", user.home.display()),
        "SSH_CLIENT=127.0.0.1 ".to_string(),
        "SSH_CONNECTION=127.0.0.1 ".to_string(),
        "PATH=".to_string(),
        "SHELL=/bin/sh".to_string(),
    ] {
        assert!(env.contains(&needle), "missing {needle} in\n{env}");
    }
    assert!(!env.contains("CARGO"), "the server's environment leaked:\n{env}");
    // tobira sends SendEnv/SetEnv; tobirad keeps what AcceptEnv allows.
    let mut c = client_command("tobira", &ident, tobirad.port);
    c.args(["-o", "SendEnv=LC_TOBIRA_*", "-o", "SetEnv=LC_TOBIRA_SET=two NOPE=x"])
        .arg(format!("{}@127.0.0.1", user.name))
        .arg("env")
        .env("LC_TOBIRA_TEST", "one");
    let out = run(&mut c, Duration::from_secs(60));
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        env.contains("LC_TOBIRA_TEST=one") && env.contains("LC_TOBIRA_SET=two"),
        "{env}"
    );
    assert!(!env.contains("NOPE="), "{env}");
    // A pseudo-terminal with -tt, both clients.
    for client in ["ssh", "tobira"] {
        let (code, out, err) = exec(
            client,
            tobirad.port,
            &user.name,
            &ident,
            &["-tt"],
            "tty; echo TERM=$TERM; echo SSH_TTY=$SSH_TTY; stty size",
            b"",
        );
        assert_eq!(code, 0, "{client}: {err}");
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("/dev/pts/") && text.contains("SSH_TTY=/dev/pts/"),
            "{client}: {text}"
        );
    }
    // ForceCommand, with the original command in SSH_ORIGINAL_COMMAND.
    let forced = start_tobirad(&["-o", "ForceCommand=echo forced:$SSH_ORIGINAL_COMMAND"]);
    let (_, out, _) = exec("ssh", forced.port, &user.name, &ident, &[], "ls /", b"");
    assert_eq!(String::from_utf8_lossy(&out).trim(), "forced:ls /");
}

#[test]
fn authorized_keys_command_and_no_pty() {
    let dir = TempDir::new("keyopts");
    let (user, ident) = user_with_key(&dir, "command=\"echo keycmd:$SSH_ORIGINAL_COMMAND; tty\",no-pty");
    let tobirad = start_tobirad(&[]);
    // The key's command runs instead of the client's.
    let (code, out, err) = exec("ssh", tobirad.port, &user.name, &ident, &[], "id", b"");
    assert_eq!(
        String::from_utf8_lossy(&out).trim(),
        "keycmd:id\nnot a tty",
        "exit {code}: {err}"
    );
    // no-pty refuses the terminal; ssh -tt then gives up, as with sshd.
    let (code, _, err) = exec("ssh", tobirad.port, &user.name, &ident, &["-v", "-tt"], "id", b"");
    assert_eq!(code, 255);
    assert!(err.contains("PTY allocation request failed on channel 0"), "{err}");
}

/// OpenSSH's scp and sftp work against tobirad (its sftp subsystem runs
/// OpenSSH's sftp-server).
#[test]
fn scp_and_sftp_through_tobirad() {
    let dir = TempDir::new("sftp");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let data = random_bytes(64 * 1024 * 1024 + 17);
    let src = dir.path("src.bin");
    std::fs::write(&src, &data).unwrap();
    let remote = user.home.join("copy.bin");
    let common = [
        "-F",
        "/dev/null",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
    ];
    let out = run(
        Command::new("scp")
            .args(["-q"])
            .args(common)
            .arg(&ident)
            .args(["-P", &tobirad.port.to_string()])
            .arg(&src)
            .arg(format!("{}@127.0.0.1:{}", user.name, remote.display())),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&remote).unwrap(), data);
    let back = dir.path("back.bin");
    let batch = dir.path("batch");
    std::fs::write(&batch, format!("get {} {}\nls\n", remote.display(), back.display())).unwrap();
    let out = run(
        Command::new("sftp")
            .args(common)
            .arg(&ident)
            .args(["-P", &tobirad.port.to_string(), "-b"])
            .arg(&batch)
            .arg(format!("{}@127.0.0.1", user.name)),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&back).unwrap(), data);
}

/// OpenSSH's scp (SFTP and, with `-O`, the old scp protocol) and sftp
/// run tobira as their ssh (`-S tobira`): they call it with `-x`, `-s`,
/// `-oForwardX11 no` (a space, not `=`), `-l` and `--`, which tobira takes
/// as ssh does; rsync (`-e tobira`) with `-l` and a command. Against
/// tobirad and sshd, files equal both ways.
#[test]
fn scp_sftp_and_rsync_use_tobira_as_their_ssh() {
    let (dir, user, ident, tobirad) = user_and_tobirad("scp-S");
    let sshd = start_sshd(&[
        "AuthorizedKeysFile=.ssh/authorized_keys",
        "Subsystem=sftp /usr/lib/openssh/sftp-server",
    ]);
    let data = random_bytes(8 * 1024 * 1024 + 5);
    let src = dir.path("src.bin");
    std::fs::write(&src, &data).unwrap();
    // What `scp -S` runs: tobira with the test's options (scp passes its
    // own before the destination).
    let wrapper = dir.path("tobira-for-scp");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} -F /dev/null -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o BatchMode=yes -o IdentitiesOnly=yes -q {ident} \"$@\"\n",
            bin("tobira").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (name, server) in [("tobirad", &tobirad), ("sshd", &sshd)] {
        let port = server.port.to_string();
        for legacy in [false, true] {
            let what = format!("{name}, scp{}", if legacy { " -O" } else { "" });
            let remote = user.home.join(format!("copy-{name}-{legacy}.bin"));
            let out = run(
                Command::new("scp")
                    .args(if legacy { &["-O"][..] } else { &[] })
                    .arg("-S")
                    .arg(&wrapper)
                    .args(["-P", &port])
                    .arg(&src)
                    .arg(format!("{}@127.0.0.1:{}", user.name, remote.display())),
                Duration::from_secs(60),
            );
            assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
            assert!(std::fs::read(&remote).unwrap() == data, "{what}: the copy differs");
            let back = dir.path(&format!("back-{name}-{legacy}.bin"));
            let out = run(
                Command::new("scp")
                    .args(if legacy { &["-O"][..] } else { &[] })
                    .arg("-S")
                    .arg(&wrapper)
                    .args(["-P", &port])
                    .arg(format!("{}@127.0.0.1:{}", user.name, remote.display()))
                    .arg(&back),
                Duration::from_secs(60),
            );
            assert!(
                out.status.success(),
                "{what} back: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(std::fs::read(&back).unwrap() == data, "{what}: the copy back differs");
        }
        let remote = user.home.join(format!("copy-{name}-false.bin"));
        let got = dir.path(&format!("sftp-{name}.bin"));
        let batch = dir.path(&format!("batch-{name}"));
        std::fs::write(&batch, format!("get {} {}\n", remote.display(), got.display())).unwrap();
        let out = run(
            Command::new("sftp")
                .arg("-S")
                .arg(&wrapper)
                .args(["-P", &port, "-b"])
                .arg(&batch)
                .arg(format!("{}@127.0.0.1", user.name)),
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "{name}, sftp: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::read(&got).unwrap() == data, "{name}, sftp: the copy differs");
        let remote_dir = user.home.join(format!("rsync-{name}"));
        let out = run(
            Command::new("rsync")
                .arg("-e")
                .arg(format!("{} -p {port}", wrapper.display()))
                .arg("-a")
                .arg(&src)
                .arg(format!("{}@127.0.0.1:{}/", user.name, remote_dir.display())),
            Duration::from_secs(60),
        );
        assert!(
            out.status.success(),
            "{name}, rsync: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            std::fs::read(remote_dir.join("src.bin")).unwrap() == data,
            "{name}, rsync: the copy differs"
        );
    }
}

/// git runs tobira as its ssh (`GIT_SSH_COMMAND`): it first probes it
/// with `-G` (an OpenSSH-like client, so that it may pass `-p` for the
/// port in the URL), then pushes and clones through it, against tobirad.
#[test]
fn git_pushes_and_clones_through_tobira() {
    let (dir, user, ident, tobirad) = user_and_tobirad("git");
    let remote = user.home.join("repo.git");
    let (code, _, err) = exec(
        "tobira",
        tobirad.port,
        &user.name,
        &ident,
        &[],
        &format!("git init -q --bare {}", remote.display()),
        b"",
    );
    assert_eq!(code, 0, "git init over tobira: {err}");
    let ssh = format!(
        "{} -F /dev/null -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o BatchMode=yes -o IdentitiesOnly=yes -q {ident}",
        bin("tobira").display()
    );
    let url = format!("ssh://{}@127.0.0.1:{}{}", user.name, tobirad.port, remote.display());
    let work = dir.path("work");
    let content = random_bytes(3 * 1024 * 1024);
    let git = |args: &[&str], cwd: &std::path::Path| {
        let out = run(
            Command::new("git")
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@example.org",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(cwd)
                .env("GIT_SSH_COMMAND", &ssh)
                .env_remove("GIT_SSH_VARIANT")
                .env_remove("GIT_SSH"),
            Duration::from_secs(120),
        );
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::create_dir_all(&work).unwrap();
    git(&["init", "-q"], &work);
    std::fs::write(work.join("data.bin"), &content).unwrap();
    git(&["add", "data.bin"], &work);
    git(&["commit", "-q", "-m", "first"], &work);
    git(&["push", "-q", &url, "main"], &work);
    git(&["clone", "-q", "-b", "main", &url, "clone"], &dir.0);
    assert!(
        std::fs::read(dir.path("clone/data.bin")).unwrap() == content,
        "the clone differs from what was pushed"
    );
}

/// `-f` goes to the background once logged in, as `ssh -f`: the client
/// returns 0 while the command still runs, or while its `-N -L` forward
/// keeps serving, until the connection ends, leaving standard output and
/// error to whoever reads them (`run` reads them to their end); without a
/// command it is refused; a failed login, and with `ExitOnForwardFailure`
/// a remote forward the server refuses, are still reported with 255.
#[test]
fn dash_f_goes_to_the_background_once_logged_in() {
    use std::io::Read;
    let (dir, user, ident, tobirad) = user_and_tobirad("dash-f");
    let dest = format!("{}@127.0.0.1", user.name);
    let done = user.home.join("bg-done");
    // With a session the background copy keeps standard output and error
    // (as ssh's channel does): a file each, not pipes read to their end.
    let status_of = |args: &[&str]| {
        let err_path = dir.path("dash-f.err");
        let mut child = client_command("tobira", &ident, tobirad.port)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let ended = wait_until(Duration::from_secs(30), || matches!(child.try_wait(), Ok(Some(_))));
        if !ended {
            let _ = child.kill();
        }
        assert!(ended, "tobira {args:?} did not return");
        let code = child.wait().unwrap().code();
        (code, std::fs::read_to_string(&err_path).unwrap_or_default())
    };
    let (code, err) = status_of(&["-f", &dest, "while [ ! -e go ]; do sleep 0.1; done; touch bg-done"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!done.exists());
    // The command goes on once told to, after the client has returned.
    std::fs::write(user.home.join("go"), b"").unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || done.exists()),
        "the command did not run to its end in the background"
    );
    let echo = echo_server();
    let local = free_port();
    let forward = format!("{local}:127.0.0.1:{echo}");
    // Through pipes: their end comes once the first process has exited,
    // the background copy holding neither.
    let mut child = client_command("tobira", &ident, tobirad.port)
        .args(["-f", "-N", "-L", &forward, &dest])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let _ = so.read_to_end(&mut a);
        let _ = se.read_to_end(&mut b);
        let _ = tx.send(String::from_utf8_lossy(&b).into_owned());
    });
    let err = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the background copy holds the caller's standard output or error");
    assert_eq!(child.wait().unwrap().code(), Some(0), "{err}");
    let mut c = std::net::TcpStream::connect(("127.0.0.1", local)).expect("the forward listens");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"ping").unwrap();
    let mut pong = [0u8; 4];
    c.read_exact(&mut pong).expect("an echo through the background forward");
    assert_eq!(&pong, b"ping");
    drop(c);
    let (code, err) = status_of(&["-f", &dest]);
    assert_eq!(code, Some(255));
    assert!(err.contains("Cannot fork into background without a command"), "{err}");
    let (code, err) = status_of(&["-f", "nosuchuser@127.0.0.1", "true"]);
    assert_eq!(code, Some(255), "a failed login in the background copy: {err}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let remote = format!("{}:127.0.0.1:9", taken.local_addr().unwrap().port());
    let (code, err) = status_of(&["-f", "-N", "-o", "ExitOnForwardFailure=yes", "-R", &remote, &dest]);
    assert_eq!(code, Some(255), "a refused -R before going to the background: {err}");
    assert!(err.contains("remote port forwarding failed"), "{err}");
    // The background client ends with its connection.
    drop(tobirad);
    assert!(
        wait_until(Duration::from_secs(20), || std::net::TcpStream::connect((
            "127.0.0.1",
            local
        ))
        .is_err()),
        "the background client outlived its connection"
    );
}

/// `-b` (`BindAddress`) picks the address the connection comes from; `-4`
/// and `-6` (`AddressFamily`) the host's addresses tried, the last of them
/// counting; `ConnectionAttempts` tries again, a second apart, until a
/// server that comes up late answers.
#[test]
fn bind_address_address_family_and_connection_attempts() {
    // The directory holds the key: kept to the end.
    let (_dir, user, ident, tobirad) = user_and_tobirad("connect");
    let (code, out, err) = exec(
        "tobira",
        tobirad.port,
        &user.name,
        &ident,
        &["-b", "127.0.0.2"],
        "echo $SSH_CLIENT",
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        String::from_utf8_lossy(&out).starts_with("127.0.0.2 "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let (code, _, err) = exec("tobira", tobirad.port, &user.name, &ident, &["-6"], "true", b"");
    assert_eq!(code, 255, "-6 to an IPv4 address");
    assert!(err.contains("no address of the family"), "{err}");
    let (code, out, err) = exec(
        "tobira",
        tobirad.port,
        &user.name,
        &ident,
        &["-6", "-4"],
        "echo four",
        b"",
    );
    assert_eq!((code, out.as_slice()), (0, &b"four\n"[..]), "the last of -6 -4: {err}");
    let (code, _, err) = exec("tobira", tobirad.port, &user.name, &ident, &["-4", "-6"], "true", b"");
    assert_eq!(code, 255, "the last of -4 -6: {err}");
    // A port where the server comes up 1.5 s late (a relay to tobirad).
    let late = free_port();
    let (code, _, err) = exec("tobira", late, &user.name, &ident, &[], "true", b"");
    assert_eq!(code, 255, "nothing listens yet: {err}");
    let target = tobirad.port;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let l = std::net::TcpListener::bind(("127.0.0.1", late)).expect("the relay's port, free a moment ago");
        let (client, _) = l.accept().unwrap();
        let server = std::net::TcpStream::connect(("127.0.0.1", target)).unwrap();
        let (mut from_client, mut to_server) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_client, &mut to_server);
            let _ = to_server.shutdown(std::net::Shutdown::Write);
        });
        let (mut from_server, mut to_client) = (server, client);
        let _ = std::io::copy(&mut from_server, &mut to_client);
    });
    let (code, out, err) = exec(
        "tobira",
        late,
        &user.name,
        &ident,
        &["-o", "ConnectionAttempts=8"],
        "echo late",
        b"",
    );
    assert_eq!((code, out.as_slice()), (0, &b"late\n"[..]), "{err}");
}

/// `-n` sends the command no input, whatever standard input holds, and
/// leaves standard input unread; `-s` without a subsystem name is refused;
/// `ClearAllForwardings=yes` (which scp passes) drops a `-L`.
#[test]
fn dash_n_dash_s_and_clear_all_forwardings() {
    // The directory holds the key: kept to the end.
    let (_dir, user, ident, tobirad) = user_and_tobirad("dash-n");
    let (code, out, err) = exec(
        "tobira",
        tobirad.port,
        &user.name,
        &ident,
        &["-n"],
        "wc -c",
        b"input that must not be sent",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out).trim(), "0");
    let (code, out, _) = exec("tobira", tobirad.port, &user.name, &ident, &[], "wc -c", b"12345");
    assert_eq!((code, String::from_utf8_lossy(&out).trim()), (0, "5"), "without -n");
    let mut c = client_command("tobira", &ident, tobirad.port);
    c.args(["-s", &format!("{}@127.0.0.1", user.name)]);
    let out = run(&mut c, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("You must specify a subsystem to invoke."));
    // A -L whose port is taken fails with ExitOnForwardFailure, unless
    // ClearAllForwardings drops it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let forward = format!("{}:127.0.0.1:9", taken.local_addr().unwrap().port());
    for clear in [false, true] {
        let clear_opt = format!("ClearAllForwardings={}", if clear { "yes" } else { "no" });
        let (code, out, err) = exec(
            "tobira",
            tobirad.port,
            &user.name,
            &ident,
            &["-L", &forward, "-o", "ExitOnForwardFailure=yes", "-o", &clear_opt],
            "echo ran",
            b"",
        );
        if clear {
            assert_eq!((code, out.as_slice()), (0, &b"ran\n"[..]), "{clear_opt}: {err}");
        } else {
            assert_eq!(code, 255, "{clear_opt}: the -L was set up: {err}");
        }
    }
}

/// `tobira -G` prints what `ssh -G` prints for the same command line, in
/// the settings both have (the flags, `-o`, the forwards, `-J`, `-e`).
#[test]
fn dash_g_prints_the_configuration_as_ssh_does() {
    let args = [
        "-G",
        "-F",
        "/dev/null",
        "-p",
        "2222",
        "-l",
        "alice",
        "-c",
        "aes256-ctr",
        "-e",
        "^A",
        "-L",
        "8080:localhost:80",
        "-D",
        "1080",
        "-J",
        "jump.example",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "Compression=yes",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "HostName=real.example",
        "nick",
    ];
    let lines = |program: std::path::PathBuf| -> Vec<String> {
        let out = run(Command::new(program).args(args), Duration::from_secs(30));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
    };
    let ours = lines(bin("tobira"));
    let theirs = lines(std::path::PathBuf::from("ssh"));
    for kw in [
        "user",
        "hostname",
        "port",
        "ciphers",
        "escapechar",
        "localforward",
        "dynamicforward",
        "proxyjump",
        "batchmode",
        "stricthostkeychecking",
        "compression",
        "serveraliveinterval",
    ] {
        let pick = |all: &[String]| -> Vec<String> {
            all.iter()
                .filter(|l| l.split(' ').next() == Some(kw))
                .cloned()
                .collect()
        };
        assert_eq!(pick(&ours), pick(&theirs), "{kw}");
        assert!(!pick(&ours).is_empty(), "{kw} shown");
    }
}

/// A dropped connection ends the session's processes, background ones too.
#[test]
fn processes_cleaned_up_when_connection_drops() {
    let dir = TempDir::new("cleanup");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    // Durations unique to this run (a reused uid may own earlier runs' sleeps).
    let a = 1000 + std::process::id() % 50_000;
    let b = a + 100_000;
    let (sa, sb) = (a.to_string(), b.to_string());
    let mut c = client_command("ssh", &ident, tobirad.port)
        .arg(format!("{}@127.0.0.1", user.name))
        .arg(format!("sleep {a} & sleep {b}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Live (not zombie: this sandbox's init may not reap) sleeps of the user.
    let count = |_pat: &str| -> usize {
        let out = Command::new("ps")
            .args(["-u", &user.name, "-o", "stat=,args="])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| {
                let mut f = l.split_whitespace();
                let stat = f.next().unwrap_or("Z");
                !stat.starts_with('Z') && f.next() == Some("sleep") && f.next().is_some_and(|x| x == sa || x == sb)
            })
            .count()
    };
    let start = Instant::now();
    while count("sleep 31[12]") < 2 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(count("sleep 31[12]"), 2, "both sleeps run as the user");
    let _ = c.kill();
    let _ = c.wait();
    let start = Instant::now();
    while count("sleep 31[12]") > 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        count("sleep 31[12]"),
        0,
        "processes left behind\n{}",
        tobirad.log_text()
    );
}

/// ClientAliveInterval: a client that stops answering is cut off; and
/// tobira's ServerAliveInterval gives up on a server that stops answering.
#[test]
fn keepalives_both_sides() {
    let dir = TempDir::new("alive");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&["-o", "ClientAliveInterval=1", "-o", "ClientAliveCountMax=2"]);
    let mut c = client_command("ssh", &ident, tobirad.port)
        .args(["-N"])
        .arg(format!("{}@127.0.0.1", user.name))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    tobirad.wait_log("Accepted publickey");
    let pid = c.id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let log = tobirad.wait_log("Timeout, client not responding");
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    let _ = c.kill();
    let _ = c.wait();
    assert!(
        log.contains(&format!(
            "Timeout, client not responding from user {} 127.0.0.1 port",
            user.name
        )),
        "{log}"
    );

    let server = start_tobirad(&[]);
    let mut c = client_command("tobira", &ident, server.port)
        .args(["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2", "-N"])
        .arg(format!("{}@127.0.0.1", user.name))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_log("Accepted publickey");
    let spid = server.child.id().to_string();
    Command::new("kill").args(["-STOP", &spid]).status().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = c.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "tobira did not give up");
        std::thread::sleep(Duration::from_millis(100));
    };
    Command::new("kill").args(["-CONT", &spid]).status().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(c.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(255));
    assert!(err.contains("Timeout, server 127.0.0.1 not responding."), "{err}");
}

/// An interactive session on a real pseudo-terminal (python3's pty): `tty`
/// shows a /dev/pts path, `stty size` follows a resize, `~.` ends the
/// session and the local terminal settings are restored.
#[test]
fn interactive_pty_session() {
    let dir = TempDir::new("pty");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    for (client, server) in [("tobira", &tobirad), ("tobira", &sshd), ("ssh", &tobirad)] {
        let prog = if client == "ssh" {
            "/usr/bin/ssh".to_string()
        } else {
            bin("tobira").display().to_string()
        };
        let script = format!(
            r#"
import os, pty, sys, time, termios, fcntl, struct
pid, fd = pty.fork()
if pid == 0:
    os.execv({prog:?}, [{prog:?}, "-q", "-F", "/dev/null", "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", {ident:?}, "-p", "{port}", "{user}@127.0.0.1"])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
before = termios.tcgetattr(fd)
out = b""
import select
def read_until(marker, limit=20):
    global out
    end = time.time() + limit
    while time.time() < end and marker not in out:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return
        out += chunk
time.sleep(1.0)
os.write(fd, b"tty; stty size; echo MARK$((1))\n")
read_until(b"MARK1", 20)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 41, 123, 0, 0))
os.kill(pid, 28)
time.sleep(0.5)
os.write(fd, b"stty size; echo MARK$((2))\n")
read_until(b"MARK2", 20)
time.sleep(0.3)
os.write(fd, b"\n~.")
status = None
end = time.time() + 20
while time.time() < end:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        status = st
        break
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            out += os.read(fd, 4096)
        except OSError:
            pass
after = termios.tcgetattr(fd)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.stdout.write("\nEXITED=%s RESTORED=%s\n" % (status is not None, before == after))
"#,
            prog = prog,
            ident = ident,
            port = server.port,
            user = user.name
        );
        let out = run(Command::new("python3").arg("-c").arg(script), Duration::from_secs(90));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("/dev/pts/"), "{client}: {text}");
        assert!(text.contains("30 100"), "{client}: initial size: {text}");
        assert!(text.contains("41 123"), "{client}: size after resize: {text}");
        assert!(text.contains("EXITED=True"), "{client}: ~. ends the session: {text}");
        assert!(text.contains("RESTORED=True"), "{client}: terminal restored: {text}");
    }
}

/// SIGTERM to the client during a pty session: the terminal is restored
/// and the client exits 255 (ssh's "Killed by signal 15.").
#[test]
fn terminal_restored_on_sigterm() {
    let dir = TempDir::new("sigterm");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let prog = bin("tobira").display().to_string();
    let script = format!(
        r#"
import os, pty, sys, time, termios, select, signal
pid, fd = pty.fork()
if pid == 0:
    os.execv({prog:?}, [{prog:?}, "-q", "-F", "/dev/null", "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", {ident:?}, "-p", "{port}", "{user}@127.0.0.1"])
before = termios.tcgetattr(fd)
out = b""
end = time.time() + 20
while time.time() < end and b"$ " not in out:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
raw = termios.tcgetattr(fd)
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
after = termios.tcgetattr(fd)
print("RAW=%s RESTORED=%s CODE=%s" % (raw != before, before == after, os.WEXITSTATUS(status)))
"#,
        prog = prog,
        ident = ident,
        port = tobirad.port,
        user = user.name
    );
    let out = run(Command::new("python3").arg("-c").arg(script), Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RAW=True RESTORED=True CODE=255"), "{text}");
}

/// MaxSessions: with OpenSSH's connection multiplexing (ControlMaster), the
/// second session on one connection is refused when MaxSessions=1.
#[test]
fn max_sessions_per_connection() {
    let dir = TempDir::new("maxsess");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&["-o", "MaxSessions=1"]);
    let ctl = dir.path("ctl");
    let base = |c: &mut Command| {
        c.args([
            "-F",
            "/dev/null",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            &ident,
            "-p",
            &tobirad.port.to_string(),
        ]);
        c.arg("-S").arg(&ctl);
    };
    let mut master = Command::new("ssh");
    base(&mut master);
    master
        .args(["-M", "-N"])
        .arg(format!("{}@127.0.0.1", user.name))
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    let master = master.spawn().unwrap();
    let _m = KillOnDrop(master);
    let start = Instant::now();
    while !ctl.exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "no control socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut first = Command::new("ssh");
    base(&mut first);
    first
        .arg(format!("{}@127.0.0.1", user.name))
        .arg("sleep 3")
        .stdin(Stdio::null());
    let first = first.spawn().unwrap();
    let _f = KillOnDrop(first);
    std::thread::sleep(Duration::from_millis(1000));
    let mut second = Command::new("ssh");
    base(&mut second);
    second.arg(format!("{}@127.0.0.1", user.name)).arg("echo second");
    let out = run(&mut second, Duration::from_secs(30));
    // The master refuses the second session; ssh then falls back to a
    // connection of its own (so the command itself still runs).
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Session open refused by peer"), "{err}");
}

struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Session programs are started by tobirad's spawner process (a child of
/// tobirad named `tobirad-spawner`), not by forking the server; exit
/// statuses come back through it. If the spawner dies, tobirad forks the
/// programs itself and sessions go on working.
#[test]
fn session_programs_come_from_the_spawner() {
    let dir = TempDir::new("spawner");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let server_pid = tobirad.child.id();
    let run = |command: &str| exec("tobira", tobirad.port, &user.name, &ident, &[], command, b"");

    let (code, out, err) = run("echo $PPID; cat /proc/$PPID/comm; exit 5");
    assert_eq!(code, 5, "{err}");
    let out = String::from_utf8_lossy(&out).into_owned();
    let mut lines = out.lines();
    let spawner: u32 = lines.next().and_then(|l| l.trim().parse().ok()).expect("a pid");
    assert_eq!(lines.next(), Some("tobirad-spawner"), "{out}\n{}", tobirad.log_text());
    let stat = std::fs::read_to_string(format!("/proc/{spawner}/stat")).unwrap();
    let ppid: u32 = stat
        .rsplit(") ")
        .next()
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("ppid in /proc/PID/stat");
    assert_eq!(ppid, server_pid, "the spawner is tobirad's child");
    // Programs start with no signal blocked or ignored (the spawner blocks
    // SIGCHLD and others for itself), and in a session of their own.
    // (`exec`: the shell itself would block signals while it waits.)
    let (code, out, err) = run("exec grep -E '^Sig(Blk|Ign)' /proc/self/status");
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
    // Of the standard signals none is ignored (glibc's reserved real-time
    // signals may be, as the test runner left them).
    let ign = out
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:\t"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .expect("SigIgn");
    assert_eq!(ign & 0x7fff_ffff, 0, "{out}");
    let (code, out, err) = run("ps -o sid= -p $$; echo $$");
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8_lossy(&out).into_owned();
    let nums: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(nums.first(), nums.get(1), "the program leads its own session: {out}");

    // Without it, tobirad forks the programs itself.
    let _ = Command::new("kill").args(["-KILL", &spawner.to_string()]).status();
    let start = Instant::now();
    while std::path::Path::new(&format!("/proc/{spawner}/comm")).exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for status in [0, 9] {
        let (code, out, err) = run(&format!("echo $PPID; exit {status}"));
        assert_eq!(code, status, "{err}");
        assert_eq!(String::from_utf8_lossy(&out).trim(), server_pid.to_string());
    }
}

/// The spawner's pid: tobirad's child named `tobirad-spawner`.
fn spawner_of(server_pid: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{server_pid}/task/{server_pid}/children")).unwrap();
    children
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim_end() == "tobirad-spawner"))
        .expect("tobirad has a spawner child")
}

/// Starts `tobira` running `command` and reads the first line of its
/// output; the client runs on.
fn first_line_of(ident: &str, port: u16, user: &str, command: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut c = client_command("tobira", ident, port);
    c.arg(format!("{user}@127.0.0.1"))
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut client = c.spawn().unwrap();
    let mut first = String::new();
    std::io::BufReader::new(client.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    (client, first)
}

/// Threads of `pid` named `name`.
fn threads_named(pid: u32, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name))
                .count()
        })
        .unwrap_or(0)
}

/// A program whose start hangs (as in a `chdir` into a hung network home
/// directory) holds up no other session's: the spawner's watchdog starts
/// another loop thread when its loop thread has been inside a start for a
/// second. The hang is made with the debug builds' test hook
/// `TOBIRA_TEST_HOLD_START_MS`, which holds that one start in the
/// spawner; the held program still starts afterwards.
#[test]
#[cfg(debug_assertions)]
fn a_hung_program_start_holds_up_no_other_session() {
    let dir = TempDir::new("hung-start");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&["-o", "AcceptEnv=TOBIRA_TEST_HOLD_START_MS"]);
    let spawner = spawner_of(tobirad.child.id());
    let marker = user.home.join("held-program-ran");
    let _ = std::fs::remove_file(&marker);

    let mut held = client_command("tobira", &ident, tobirad.port);
    held.args(["-o", "SetEnv=TOBIRA_TEST_HOLD_START_MS=8000"])
        .arg(format!("{}@127.0.0.1", user.name))
        .arg("touch ~/held-program-ran; echo held")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // (If the test fails early, the client ends with tobirad.)
    let held = held.spawn().unwrap();
    // Its start is being held, and the watchdog has taken over, once the
    // spawner has a loop thread besides its main one.
    assert!(
        wait_until(Duration::from_secs(30), || threads_named(spawner, "loop") > 0),
        "{}",
        tobirad.log_text()
    );

    // Meanwhile other sessions run to their end.
    for round in 0..3 {
        let (code, out, err) = exec(
            "tobira",
            tobirad.port,
            &user.name,
            &ident,
            &[],
            "echo other; exit 4",
            b"",
        );
        assert_eq!(
            (code, String::from_utf8_lossy(&out).trim()),
            (4, "other"),
            "round {round}: {err}"
        );
    }
    assert!(
        !marker.exists(),
        "the held program had already run: the others waited for it"
    );

    // The held one starts when its hold ends.
    let out = run_to_end(held, Duration::from_secs(60), "held client");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "held");
    assert!(marker.exists());
    // And the spawner is still the one starting programs.
    let (code, out, err) = exec(
        "tobira",
        tobirad.port,
        &user.name,
        &ident,
        &[],
        "cat /proc/$PPID/comm",
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out).trim(), "tobirad-spawner");
}

/// A program that has ended stays a zombie of the spawner until tobirad
/// is done with it, so that its process group id cannot be reused while
/// tobirad may still signal the group; then it is reaped. (tobirad is
/// stopped for a moment, so that it cannot take the exit in yet.)
#[test]
fn an_ended_program_is_kept_until_tobirad_is_done_with_it() {
    let dir = TempDir::new("zombie-hold");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let server = tobirad.child.id().to_string();
    let spawner = spawner_of(tobirad.child.id());
    let (client, first) = first_line_of(&ident, tobirad.port, &user.name, "echo $$; exec sleep 3");
    let pid: u32 = first.trim().parse().expect("the program's pid");
    let stat = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
    // (state, parent) from /proc/PID/stat.
    let state = |pid: u32| {
        stat(pid).and_then(|s| {
            let mut f = s.rsplit(") ").next()?.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse::<u32>().ok()?))
        })
    };
    assert_eq!(state(pid).map(|s| s.1), Some(spawner), "started by the spawner");
    let _ = Command::new("kill").args(["-STOP", &server]).status();
    if !wait_until(Duration::from_secs(10), || {
        state(pid).map(|s| s.0).as_deref() == Some("Z")
    }) {
        let _ = Command::new("kill").args(["-CONT", &server]).status();
        panic!("the ended program {pid} was not kept: {:?}", state(pid));
    }
    // Still there a moment later, the spawner's zombie.
    std::thread::sleep(Duration::from_millis(300));
    let held = state(pid);
    let _ = Command::new("kill").args(["-CONT", &server]).status();
    assert_eq!(held, Some(("Z".to_string(), spawner)));
    let out = run_to_end(client, Duration::from_secs(60), "client");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        wait_until(Duration::from_secs(10), || stat(pid).is_none()),
        "the program {pid} was not reaped after tobirad let it go"
    );
}

/// `ssh host 'nohup job >log 2>&1 &'`: what a program leaves running in
/// the background when it exits lives on, as under sshd, with and without
/// a pty (tobirad used to kill the program's whole process group at its
/// exit).
#[test]
fn background_jobs_outlive_their_command() {
    let dir = TempDir::new("nohup");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    for (server, port) in [("sshd", sshd.port), ("tobirad", tobirad.port)] {
        for tty in [false, true] {
            let file = user.home.join(format!("nohup-{server}-{tty}"));
            // With a pty the job must ignore SIGHUP before the shell exits
            // (the kernel hangs up the terminal's group then): the shell
            // waits a moment.
            let command = format!(
                "(trap '' HUP; sleep 2; echo alive > {}) </dev/null >/dev/null 2>&1 & sleep 1",
                file.display()
            );
            let flags: &[&str] = if tty { &["-tt"] } else { &[] };
            let (code, _, err) = exec("tobira", port, &user.name, &ident, flags, &command, b"");
            assert_eq!(code, 0, "{server} tty {tty}: {err}");
            let alive = || std::fs::read_to_string(&file).is_ok_and(|s| s.trim() == "alive");
            assert!(
                wait_until(Duration::from_secs(15), alive),
                "{server} tty {tty}: the background job did not live on"
            );
        }
    }
}

/// A background job that keeps its command's output open does not keep
/// tobirad's ends of those pipes once the client has gone (sshd's
/// per-connection process exits and closes them).
#[test]
fn a_background_job_holds_nothing_of_tobirad_after_the_client_has_gone() {
    let dir = TempDir::new("bg-hold");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let server = tobirad.child.id();
    let (code, _, err) = exec("tobira", tobirad.port, &user.name, &ident, &[], "true", b"");
    assert_eq!(code, 0, "{err}");
    std::thread::sleep(Duration::from_millis(300));
    let before = open_fds(server);
    let (mut client, first) = first_line_of(&ident, tobirad.port, &user.name, "sleep 60 & echo $!");
    let job = first.trim().to_string();
    assert!(job.parse::<u32>().is_ok(), "{first:?}");
    // The shell has ended; the job holds the output, so the session stays.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        client.try_wait().unwrap().is_none(),
        "the session waits for the output's end"
    );
    let _ = client.kill();
    let _ = client.wait();
    if !wait_until(Duration::from_secs(10), || open_fds(server) <= before) {
        let _ = Command::new("kill").arg(&job).status();
        panic!("tobirad holds {} descriptors, {before} before", open_fds(server));
    }
    assert!(
        std::path::Path::new(&format!("/proc/{job}")).exists(),
        "the job lives on"
    );
    let _ = Command::new("kill").arg(&job).status();
}

/// A descriptor tobirad's parent left open without close-on-exec does not
/// reach session programs (sshd closes such descriptors at start-up).
#[test]
fn inherited_descriptors_do_not_reach_session_programs() {
    let dir = TempDir::new("inherited");
    let (user, ident) = user_with_key(&dir, "");
    // The shell opens 7 and 9 without FD_CLOEXEC, then becomes tobirad.
    let wrapper = ["sh", "-c", "exec 7</dev/null 9>/dev/null; exec \"$0\" \"$@\""];
    let tobirad = start_tobirad_via(&wrapper, &[]);
    let server_pid = tobirad.child.id();
    let held = std::fs::read_link(format!("/proc/{server_pid}/fd/7"));
    assert!(held.is_ok(), "tobirad holds descriptor 7 as the shell left it");
    // Through the spawner, then forked by tobirad itself.
    for round in 0..2 {
        let (code, out, err) = exec(
            "tobira",
            tobirad.port,
            &user.name,
            &ident,
            &[],
            "echo $PPID; ls /proc/$$/fd",
            b"",
        );
        assert_eq!(code, 0, "{err}");
        let out = String::from_utf8_lossy(&out).into_owned();
        let mut lines = out.lines();
        let parent = lines.next().unwrap_or_default().trim().to_string();
        let fds: Vec<&str> = lines.map(str::trim).collect();
        assert!(fds.contains(&"0") && fds.contains(&"2"), "round {round}: {out}");
        assert!(
            !fds.contains(&"7") && !fds.contains(&"9"),
            "round {round}: a program inherited 7 or 9: {out}"
        );
        if round == 0 {
            let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).unwrap_or_default();
            assert_eq!(
                comm.trim(),
                "tobirad-spawner",
                "the first program comes from the spawner ({parent})"
            );
            let _ = Command::new("kill").args(["-KILL", &parent]).status();
            let start = Instant::now();
            while std::path::Path::new(&format!("/proc/{parent}/comm")).exists()
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        } else {
            assert_eq!(
                parent,
                server_pid.to_string(),
                "the second program is forked by tobirad"
            );
        }
    }
}

/// Standard input left non-blocking by whoever started the client (a
/// shell, a program that shares the pipe) is still read to its end: a read
/// that would block waits for input instead of ending it.
#[test]
fn non_blocking_stdin_is_read_to_the_end() {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsRawFd;
    let dir = TempDir::new("nonblocking-stdin");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    fcntl(read_end.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
    let mut c = client_command("tobira", &ident, tobirad.port);
    c.arg(format!("{}@127.0.0.1", user.name)).arg("cat");
    let child = c
        .stdin(Stdio::from(read_end))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = random_bytes(300_000);
    let sent = input.clone();
    // Nothing at first (the client's first read finds the pipe empty),
    // then the data in pieces with pauses.
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::File::from(write_end);
        for piece in sent.chunks(100_000) {
            std::thread::sleep(Duration::from_millis(300));
            w.write_all(piece).unwrap();
        }
    });
    let out = run_to_end(child, Duration::from_secs(60), "tobira cat");
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        sha256(&out.stdout),
        sha256(&input),
        "{} of {} bytes came back",
        out.stdout.len(),
        input.len()
    );
}

/// A regular file as standard input (`tobira host 'cat' < file`, read on
/// the session's thread as ssh(1) reads it) arrives whole and in order,
/// from the file's current offset (a shell that read a header first), to
/// sshd and to tobirad, across key re-exchanges (`RekeyLimit`).
#[test]
fn file_as_stdin_arrives_from_its_offset() {
    use std::io::{Seek, SeekFrom};
    let dir = TempDir::new("file-stdin");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let input = random_bytes(6 * 1024 * 1024 + 12_345);
    let path = dir.path("input");
    std::fs::write(&path, &input).unwrap();
    for server in [&tobirad, &sshd] {
        let mut file = std::fs::File::open(&path).unwrap();
        file.seek(SeekFrom::Start(1000)).unwrap();
        let mut c = client_command("tobira", &ident, server.port);
        c.args(["-o", "RekeyLimit=1M"])
            .arg(format!("{}@127.0.0.1", user.name))
            .arg("cat");
        let child = c
            .stdin(Stdio::from(file))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = run_to_end(child, Duration::from_secs(60), "tobira cat < file");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            sha256(&out.stdout),
            sha256(&input[1000..]),
            "port {}: {} of {} bytes came back",
            server.port,
            out.stdout.len(),
            input.len() - 1000
        );
    }
}

/// Each kind of standard input is read the way meant for it (the debug
/// log names the way, `-vv`), and every byte arrives: a pipe and a regular
/// file on the session's thread, `/dev/null` and a socket by the reader
/// thread, nothing with `-n`.
#[test]
fn each_kind_of_stdin_is_read_its_own_way() {
    let dir = TempDir::new("stdin-kinds");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let input = random_bytes(1024 * 1024 + 77);
    let path = dir.path("input");
    std::fs::write(&path, &input).unwrap();
    let mut failures = Vec::new();
    for kind in ["file", "pipe", "devnull", "socket", "-n"] {
        let mut c = client_command_logging("tobira", &ident, tobirad.port);
        c.arg("-vv");
        if kind == "-n" {
            c.arg("-n");
        }
        c.arg(format!("{}@127.0.0.1", user.name)).arg("cat");
        let mut feeder = None;
        let (stdin, want_log, want_out): (Stdio, &str, &[u8]) = match kind {
            "file" | "-n" => (
                Stdio::from(std::fs::File::open(&path).unwrap()),
                if kind == "-n" {
                    "standard input: not read (-n)"
                } else {
                    "standard input: a regular file, read on the session's thread"
                },
                if kind == "-n" { &[] } else { &input },
            ),
            "pipe" => (
                Stdio::piped(),
                "standard input: a pipe, read on the session's thread",
                &input,
            ),
            "devnull" => (
                Stdio::from(std::fs::File::open("/dev/null").unwrap()),
                "standard input: read by a thread of its own",
                &[],
            ),
            _ => {
                let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
                let data = input.clone();
                feeder = Some(std::thread::spawn(move || {
                    let mut w = ours;
                    w.write_all(&data).unwrap();
                }));
                (
                    Stdio::from(std::os::fd::OwnedFd::from(theirs)),
                    "standard input: read by a thread of its own",
                    &input,
                )
            }
        };
        let mut child = c
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if kind == "pipe" {
            let mut w = child.stdin.take().unwrap();
            let data = input.clone();
            feeder = Some(std::thread::spawn(move || w.write_all(&data).unwrap()));
        }
        let out = run_to_end(child, Duration::from_secs(60), "tobira cat");
        if let Some(f) = feeder {
            f.join().unwrap();
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let logged: Vec<&str> = err.lines().filter(|l| l.contains("standard input")).collect();
        if out.status.code() != Some(0) || sha256(&out.stdout) != sha256(want_out) || logged != [want_log] {
            failures.push(format!(
                "{kind}: exit {:?}, {} of {} bytes, logged {logged:?}, want [{want_log:?}]",
                out.status.code(),
                out.stdout.len(),
                want_out.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// True when `fd`'s open file description has `O_NONBLOCK`.
fn is_nonblocking(fd: &impl std::os::fd::AsRawFd) -> bool {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).unwrap()).contains(OFlag::O_NONBLOCK)
}

/// Pipes as standard input and output are read and written non-blocking
/// while the session runs (as ssh(1) does), and blocking again once the
/// client has exited: the pipes' status flags are shared with whoever
/// else holds them (a shell's next command).
#[test]
fn standard_pipes_are_left_blocking_after_the_client() {
    use std::io::Read;
    let dir = TempDir::new("pipes-blocking");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let (in_r, in_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    // Our copies of the client's ends: the same open file descriptions.
    let (in_r_copy, out_w_copy) = (in_r.try_clone().unwrap(), out_w.try_clone().unwrap());
    let mut c = client_command("tobira", &ident, tobirad.port);
    c.arg(format!("{}@127.0.0.1", user.name)).arg("cat");
    let mut child = c
        .stdin(Stdio::from(in_r))
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The Command holds its copies of the child's ends until dropped.
    drop(c);
    let mut r = std::fs::File::from(out_r);
    let input = random_bytes(200_000);
    let sent = input.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // Written from a thread (the echo comes back while it writes); the
    // pipe is closed once the test has looked at the flags.
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::File::from(in_w);
        w.write_all(&sent).unwrap();
        let _ = done_rx.recv();
    });
    let mut back = vec![0u8; input.len()];
    r.read_exact(&mut back).unwrap();
    assert_eq!(back, input, "the echo");
    // The command runs and its output came back: both are in use.
    assert!(
        is_nonblocking(&in_r_copy),
        "stdin pipe read non-blocking during the session"
    );
    assert!(
        is_nonblocking(&out_w_copy),
        "stdout pipe written non-blocking during the session"
    );
    drop(done_tx);
    writer.join().unwrap();
    let mut rest = Vec::new();
    let reader = std::thread::spawn(move || r.read_to_end(&mut rest).map(|_| rest));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        !is_nonblocking(&in_r_copy),
        "stdin pipe blocking again after the client"
    );
    assert!(
        !is_nonblocking(&out_w_copy),
        "stdout pipe blocking again after the client"
    );
    drop(out_w_copy);
    assert!(reader.join().unwrap().unwrap().is_empty(), "nothing more after the end");
}

/// Standard output and error on the same pipe (`2>&1`) that its reader
/// empties late: the pipe stays blocking (the client's own messages and
/// the command's errors are written there with blocking writes), and every
/// byte of both streams arrives.
#[test]
fn a_pipe_shared_by_stdout_and_stderr_stays_blocking_and_loses_nothing() {
    use std::io::Read;
    let dir = TempDir::new("pipes-shared");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let out_w_copy = out_w.try_clone().unwrap();
    let mut c = client_command("tobira", &ident, tobirad.port);
    c.arg(format!("{}@127.0.0.1", user.name))
        .arg("printf S; head -c 4000000 /dev/zero; echo marker >&2; head -c 4000000 /dev/zero");
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w.try_clone().unwrap()))
        .stderr(Stdio::from(out_w))
        .spawn()
        .unwrap();
    drop(c);
    let mut r = std::fs::File::from(out_r);
    let mut first = [0u8; 1];
    r.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"S", "the session runs");
    // Not read for a while: the pipe fills while the command still writes.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !is_nonblocking(&out_w_copy),
        "a pipe shared with stderr is not made non-blocking"
    );
    drop(out_w_copy);
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(all.len(), 8_000_000 + "marker\n".len(), "every byte of both streams");
    assert_eq!(all.iter().filter(|&&b| b != 0).count(), "marker\n".len());
}

/// A scratch directory (tagged `tag`), a user with a key (and the `-i`
/// argument for it), and a tobirad with its defaults.
fn user_and_tobirad(tag: &str) -> (TempDir, TestUser, String, Server) {
    let dir = TempDir::new(tag);
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    (dir, user, ident, tobirad)
}

/// A reader for the client's standard output: a pipe (written from the
/// session's thread) or a socket (written by the writer thread).
fn stdout_reader(socket: bool) -> (Stdio, Box<dyn std::io::Read + Send>) {
    if socket {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        (Stdio::from(std::os::fd::OwnedFd::from(theirs)), Box::new(ours))
    } else {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        (Stdio::from(w), Box::new(std::fs::File::from(r)))
    }
}

/// Starts `tobira … 'printf S; head -c BYTES /dev/zero; touch finished'`
/// with standard output to [`stdout_reader`], and reads the `S`: the
/// command runs. With `stderr`, the command writes both to its standard
/// error instead (then `done` to its standard output), and the reader is
/// the client's standard error. The last item keeps the server, user
/// (whose home gets `finished` once the command has written everything)
/// and keys for as long as it is held.
fn stalled_download(
    stderr: bool,
    socket: bool,
    bytes: usize,
    opts: &[&str],
) -> (
    std::process::Child,
    Box<dyn std::io::Read + Send>,
    (Server, TestUser, TempDir),
) {
    let dir = TempDir::new("stdout-stalled");
    let (user, ident) = user_with_key(&dir, "");
    let tobirad = start_tobirad(&[]);
    let (reader_end, mut r) = stdout_reader(socket);
    let mut c = client_command("tobira", &ident, tobirad.port);
    c.args(opts).arg(format!("{}@127.0.0.1", user.name));
    if stderr {
        c.arg(format!(
            "printf S >&2; head -c {bytes} /dev/zero >&2; touch finished; printf done"
        ))
        .stdout(Stdio::piped())
        .stderr(reader_end);
    } else {
        c.arg(format!("printf S; head -c {bytes} /dev/zero; touch finished"))
            .stdout(reader_end)
            .stderr(Stdio::piped());
    }
    let child = c.stdin(Stdio::null()).spawn().unwrap();
    drop(c);
    let mut first = [0u8; 1];
    r.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"S", "the session runs");
    (child, r, (tobirad, user, dir))
}

/// A TCP echo server on loopback for as long as the test runs; its port.
fn echo_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = c.try_clone().unwrap();
                let mut w = c;
                let _ = std::io::copy(&mut r, &mut w);
            });
        }
    });
    port
}

/// Standard output nobody reads for a while (a pipe, a socket) holds back
/// the server through the channel's window, not the session: a `-L`
/// forward keeps working meanwhile, keepalives go on being answered (so a
/// short `ServerAliveCountMax` does not end it), and every byte arrives
/// once the reader comes back.
#[test]
fn a_stalled_stdout_reader_holds_back_the_server_not_the_session() {
    for socket in [false, true] {
        stalled_reader_holds_back_the_server_not_the_session(false, socket);
    }
}

/// The same for standard error (RFC 4254 §5.2's extended data): it too
/// waits in the window, not in the session.
#[test]
fn a_stalled_stderr_reader_holds_back_the_server_not_the_session() {
    stalled_reader_holds_back_the_server_not_the_session(true, false);
}

/// See [`a_stalled_stdout_reader_holds_back_the_server_not_the_session`]:
/// for standard error with `stderr`, through a socket with `socket`.
fn stalled_reader_holds_back_the_server_not_the_session(stderr: bool, socket: bool) {
    use std::io::Read;
    let echo = echo_server();
    let local = free_port();
    let forward = format!("{local}:127.0.0.1:{echo}");
    let opts = [
        "-o",
        "ServerAliveInterval=1",
        "-o",
        "ServerAliveCountMax=2",
        "-L",
        &forward,
    ];
    let what = format!("stderr {stderr}, socket {socket}");
    let (child, mut r, keep) = stalled_download(stderr, socket, 20_000_000, &opts);
    // The server has filled the window and stopped; the session still
    // serves the forward.
    std::thread::sleep(Duration::from_secs(1));
    let mut c = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"ping").unwrap();
    let mut pong = [0u8; 4];
    c.read_exact(&mut pong)
        .unwrap_or_else(|e| panic!("{what}: no echo through -L while the output is stalled: {e}"));
    assert_eq!(&pong, b"ping");
    drop(c);
    // Four keepalive intervals without reading in all: twice the
    // count allowed unanswered.
    std::thread::sleep(Duration::from_secs(3));
    // Held back: what the command wrote is far more than the window and
    // the buffers on the way.
    let finished = keep.1.home.join("finished");
    assert!(
        !finished.exists(),
        "{what}: the command wrote everything while nobody read it"
    );
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    assert_eq!(all.len(), 20_000_000, "{what}: every byte after the stall");
    if stderr {
        assert_eq!(out.stdout, b"done", "{what}: standard output after it");
    }
    assert!(finished.exists(), "{what}");
}

/// After the command's end, SIGTERM still ends the client at once while
/// what it holds for its standard output (or standard error) waits for a
/// reader that does not come (the output fits in the window, so the
/// channel closes first).
#[test]
fn sigterm_ends_the_client_after_the_command_while_its_output_is_not_read() {
    for stderr in [false, true] {
        let (mut child, _r, _keep) = stalled_download(stderr, false, 1_000_000, &[]);
        // The channel has closed by now; the client waits to write.
        std::thread::sleep(Duration::from_millis(1500));
        let what = format!("after the command, stderr {stderr}");
        assert!(matches!(child.try_wait(), Ok(None)), "{what}: still writing its output");
        assert_eq!(terminate(&mut child, &what), Some(255));
    }
}

/// Sends SIGTERM to `child` and returns its exit code; fails the test
/// (naming `what`) when it is still running 5 s later.
fn terminate(child: &mut std::process::Child, what: &str) -> Option<i32> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let ended = wait_until(Duration::from_secs(5), || matches!(child.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "{what}: still running 5 s after SIGTERM");
    child.wait().unwrap().code()
}

/// SIGTERM ends the client at once, as it ends ssh(1), even while its
/// standard output (a pipe, a socket) or its standard error is not being
/// read: it waits neither for room nor for the reader, and its "Killed
/// by signal" message, which cannot reach a full standard error, does
/// not hold it up either.
#[test]
fn sigterm_ends_the_client_while_its_output_is_not_read() {
    for (stderr, socket) in [(false, false), (false, true), (true, false)] {
        let (mut child, _r, _keep) = stalled_download(stderr, socket, 50_000_000, &[]);
        std::thread::sleep(Duration::from_millis(500));
        let what = format!("stderr {stderr}, socket {socket}");
        assert_eq!(terminate(&mut child, &what), Some(255), "{what}");
    }
}

/// Standard error closed by its reader loses what is sent for it, not the
/// session: standard output gets everything and the command's exit
/// status comes back, as with ssh(1).
#[test]
fn a_closed_stderr_ends_nothing_but_itself() {
    // The directory holds the key: kept to the end.
    let (_dir, user, ident, tobirad) = user_and_tobirad("stderr-closed");
    let (reader_end, r) = stdout_reader(false);
    drop(r);
    let mut child = client_command("tobira", &ident, tobirad.port)
        .arg(format!("{}@127.0.0.1", user.name))
        .arg("head -c 5000000 /dev/zero >&2; head -c 7000000 /dev/zero; exit 4")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(reader_end)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut all);
        all.len()
    });
    // A window lost with standard error would stall the rest.
    let ended = wait_until(Duration::from_secs(60), || matches!(child.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "the session stalled after standard error closed");
    assert_eq!(child.wait().unwrap().code(), Some(4));
    assert_eq!(reader.join().unwrap(), 7_000_000, "every byte of standard output");
}
