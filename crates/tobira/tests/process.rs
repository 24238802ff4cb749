//! Session programs as sshd(8) runs them (`tobira::process`): pipes and
//! ptys, exit reports, the clean environment, the switch to another user,
//! process-group signals. Meant to run as root (as CI does); the tests that
//! need root skip themselves otherwise.

use std::path::PathBuf;
use std::process::Command as StdCommand;
use std::time::Duration;

use tobira::process::{spawn, ExitReason, Program, PtyRequest, Session, SessionIo, SessionUser, SpawnRequest};
use tobira::pty::PtyMaster;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// The user running the tests, with `/bin/sh` as shell for predictable
/// output.
fn me() -> SessionUser {
    let uid = nix::unistd::getuid();
    let u = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .expect("current user in passwd");
    SessionUser {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        home: u.dir,
        shell: PathBuf::from("/bin/sh"),
    }
}

fn request(program: Program, pty: Option<PtyRequest>) -> SpawnRequest {
    SpawnRequest {
        user: me(),
        program,
        pty,
        env: Vec::new(),
        ssh_client: "192.0.2.7 40000 22".into(),
        ssh_connection: "192.0.2.7 40000 192.0.2.1 22".into(),
        original_command: None,
        switch_user: false,
    }
}

fn exec(cmd: &str) -> SpawnRequest {
    request(Program::Exec(cmd.into()), None)
}

fn pty_request(cols: u32, rows: u32) -> PtyRequest {
    PtyRequest {
        term: "xterm".into(),
        cols,
        rows,
        width_px: 0,
        height_px: 0,
        modes: vec![(53, 1)],
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs a pipes-mode session with `input` on stdin; returns stdout, stderr
/// and the exit report.
async fn run_pipes(req: SpawnRequest, input: &[u8]) -> (String, String, ExitReason) {
    let (mut session, io) = spawn(req).await.expect("spawn");
    let SessionIo::Pipes {
        mut stdin,
        mut stdout,
        mut stderr,
    } = io
    else {
        panic!("expected pipes");
    };
    let work = async {
        stdin.write_all(input).await.expect("write stdin");
        drop(stdin);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (r1, r2) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        r1.expect("read stdout");
        r2.expect("read stderr");
        let reason = session.wait().await.expect("wait");
        (
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
            reason,
        )
    };
    timeout(LIMIT, work).await.expect("session timed out")
}

fn pty_master(io: SessionIo) -> PtyMaster {
    match io {
        SessionIo::Pty { master } => master,
        SessionIo::Pipes { .. } => panic!("expected a pty"),
    }
}

/// Reads the pty until `needle` has appeared in the output, returning all
/// of it so far.
async fn read_until(master: &mut PtyMaster, out: &mut String, needle: &str) {
    let mut buf = [0u8; 4096];
    while !out.contains(needle) {
        let n = timeout(LIMIT, master.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {needle:?}; got {out:?}"))
            .expect("read pty");
        assert!(n > 0, "pty closed before {needle:?}; got {out:?}");
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// Reads the pty to its end (every slave closed) and waits for the program.
async fn finish(session: &mut Session, master: &mut PtyMaster, out: &mut String) -> ExitReason {
    let mut rest = Vec::new();
    timeout(LIMIT, master.read_to_end(&mut rest))
        .await
        .expect("pty did not close")
        .expect("read pty");
    out.push_str(&String::from_utf8_lossy(&rest));
    timeout(LIMIT, session.wait())
        .await
        .expect("wait timed out")
        .expect("wait")
}

#[tokio::test]
async fn exec_with_pipes() {
    let (out, err, reason) = run_pipes(exec("echo hi; echo err >&2; exit 3"), b"").await;
    assert_eq!(out, "hi\n");
    assert_eq!(err, "err\n");
    assert_eq!(reason, ExitReason::Status(3));
}

#[tokio::test]
async fn subsystem_runs_through_the_shell() {
    let req = request(Program::Subsystem("echo sub $0".into()), None);
    let (out, _, reason) = run_pipes(req, b"").await;
    assert_eq!(out, "sub sh\n");
    assert_eq!(reason, ExitReason::Status(0));
}

#[tokio::test]
async fn stdin_is_passed_through() {
    let (out, _, reason) = run_pipes(exec("cat"), b"hello\nworld\n").await;
    assert_eq!(out, "hello\nworld\n");
    assert_eq!(reason, ExitReason::Status(0));
}

#[tokio::test]
async fn killed_child_reports_the_signal() {
    let (mut session, io) = spawn(exec("sleep 100")).await.expect("spawn");
    // Give the shell time to start; the signal goes to the whole group.
    tokio::time::sleep(Duration::from_millis(100)).await;
    session.signal("TERM").expect("signal");
    let reason = timeout(LIMIT, session.wait())
        .await
        .expect("wait timed out")
        .expect("wait");
    assert_eq!(
        reason,
        ExitReason::Signal {
            name: "TERM".into(),
            core_dumped: false
        }
    );
    assert!(session.signal("NOPE").is_err());
    assert!(session.resize(80, 24, 0, 0).is_err(), "resize without a pty");
    drop(io);
}

#[tokio::test]
async fn environment_is_clean() {
    std::env::set_var("TOBIRA_LEAK", "1");
    let mut req = exec("env");
    req.env = vec![("LC_TOBIRA".into(), "yes".into())];
    req.original_command = Some("ls -l".into());
    let (out, _, reason) = run_pipes(req, b"").await;
    assert_eq!(reason, ExitReason::Status(0));
    let me = me();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&format!("HOME={}", me.home.display()).as_str()), "{out}");
    assert!(lines.contains(&format!("USER={}", me.name).as_str()), "{out}");
    assert!(lines.contains(&format!("LOGNAME={}", me.name).as_str()), "{out}");
    assert!(lines.contains(&"SHELL=/bin/sh"), "{out}");
    assert!(lines.contains(&"SSH_CLIENT=192.0.2.7 40000 22"), "{out}");
    assert!(lines.contains(&"SSH_CONNECTION=192.0.2.7 40000 192.0.2.1 22"), "{out}");
    assert!(lines.contains(&"SSH_ORIGINAL_COMMAND=ls -l"), "{out}");
    assert!(lines.contains(&"LC_TOBIRA=yes"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("PATH=")), "{out}");
    assert!(!out.contains("TOBIRA_LEAK"), "{out}");
    assert!(!out.contains("TERM="), "no TERM without a pty: {out}");
    assert!(!out.contains("CARGO"), "{out}");
}

#[tokio::test]
async fn missing_home_falls_back_to_root_dir() {
    let mut req = exec("pwd");
    req.user.home = PathBuf::from("/nonexistent/tobira-home");
    let (out, err, reason) = run_pipes(req, b"").await;
    assert_eq!(out, "/\n");
    assert_eq!(
        err,
        "Could not chdir to home directory /nonexistent/tobira-home: No such file or directory\n"
    );
    assert_eq!(reason, ExitReason::Status(0));
}

#[tokio::test]
async fn pty_is_the_controlling_terminal() {
    let req = request(
        Program::Exec("tty; test -t 0 && echo isatty; echo \"tty=$SSH_TTY term=$TERM\"".into()),
        Some(pty_request(80, 24)),
    );
    let (mut session, io) = spawn(req).await.expect("spawn");
    let mut master = pty_master(io);
    let mut out = String::new();
    let reason = finish(&mut session, &mut master, &mut out).await;
    assert_eq!(reason, ExitReason::Status(0));
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    let tty = lines.first().copied().unwrap_or_default();
    assert!(tty.starts_with("/dev/pts/"), "{out:?}");
    assert!(lines.contains(&"isatty"), "{out:?}");
    assert!(lines.contains(&format!("tty={tty} term=xterm").as_str()), "{out:?}");
}

#[tokio::test]
async fn pty_size_and_resize() {
    let req = request(
        Program::Exec("stty size; read x; stty size".into()),
        Some(pty_request(80, 24)),
    );
    let (mut session, io) = spawn(req).await.expect("spawn");
    let mut master = pty_master(io);
    let mut out = String::new();
    read_until(&mut master, &mut out, "24 80").await;
    session.resize(100, 40, 800, 600).expect("resize");
    master.write_all(b"go\n").await.expect("write");
    let reason = finish(&mut session, &mut master, &mut out).await;
    assert_eq!(reason, ExitReason::Status(0));
    assert!(out.contains("40 100"), "{out:?}");
}

#[tokio::test]
async fn pty_halves_work_concurrently() {
    let req = request(
        Program::Exec("read x; echo \"got $x\"".into()),
        Some(pty_request(80, 24)),
    );
    let (mut session, io) = spawn(req).await.expect("spawn");
    let (mut reader, mut writer) = pty_master(io).into_split();
    let read = tokio::spawn(async move {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).await.map(|_| all)
    });
    writer.write_all(b"ping\n").await.expect("write");
    let out = timeout(LIMIT, read)
        .await
        .expect("read timed out")
        .expect("join")
        .expect("read");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("got ping"), "{out:?}");
    let reason = timeout(LIMIT, session.wait())
        .await
        .expect("wait timed out")
        .expect("wait");
    assert_eq!(reason, ExitReason::Status(0));
}

#[tokio::test]
async fn shell_with_pty_is_a_login_shell() {
    let req = request(Program::Shell, Some(pty_request(80, 24)));
    let (mut session, io) = spawn(req).await.expect("spawn");
    let mut master = pty_master(io);
    master.write_all(b"echo \"zero=$0\"; exit 0\n").await.expect("write");
    let mut out = String::new();
    let reason = finish(&mut session, &mut master, &mut out).await;
    assert_eq!(reason, ExitReason::Status(0));
    assert!(out.contains("zero=-sh"), "{out:?}");
}

/// A throw-away account, removed on drop.
struct TempUser(String);

impl TempUser {
    fn create() -> Option<TempUser> {
        let name = format!("tobira-proc-{}", std::process::id());
        let ok = StdCommand::new("useradd")
            .args(["-M", "-s", "/bin/sh", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(TempUser(name))
    }

    fn session_user(&self) -> SessionUser {
        let u = nix::unistd::User::from_name(&self.0)
            .ok()
            .flatten()
            .expect("new user in passwd");
        SessionUser {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            home: u.dir,
            shell: u.shell,
        }
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = StdCommand::new("userdel").arg(&self.0).status();
    }
}

#[tokio::test]
async fn switch_user_runs_as_the_user() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let Some(temp) = TempUser::create() else {
        panic!("useradd failed");
    };
    let user = temp.session_user();

    // Pipes: ids, and sshd's message for the missing home (useradd -M).
    let mut req = exec("id -u; id -g; id -G; pwd");
    req.user = user.clone();
    req.switch_user = true;
    let (out, err, reason) = run_pipes(req, b"").await;
    assert_eq!(reason, ExitReason::Status(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some(user.uid.to_string().as_str()), "{out}");
    assert_eq!(lines.get(1).copied(), Some(user.gid.to_string().as_str()), "{out}");
    let groups: Vec<&str> = lines.get(2).copied().unwrap_or_default().split(' ').collect();
    assert!(groups.contains(&user.gid.to_string().as_str()), "{out}");
    assert!(!groups.contains(&"0"), "root's group kept: {out}");
    assert_eq!(lines.get(3).copied(), Some("/"), "{out}");
    assert!(err.starts_with("Could not chdir to home directory"), "{err}");

    // Pty: the slave belongs to the user (group tty, 0620, as sshd).
    let mut req = request(
        Program::Exec("stat -c '%u %a' \"$SSH_TTY\"; id -u".into()),
        Some(pty_request(80, 24)),
    );
    req.user = user.clone();
    req.switch_user = true;
    let (mut session, io) = spawn(req).await.expect("spawn");
    let mut master = pty_master(io);
    let mut out = String::new();
    let reason = finish(&mut session, &mut master, &mut out).await;
    assert_eq!(reason, ExitReason::Status(0), "{out:?}");
    assert!(out.contains(&format!("{} 620", user.uid)), "{out:?}");
    drop(temp);
}

/// The state letter of /proc/PID/stat, or None when the process is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    after.chars().next()
}

#[tokio::test]
async fn kill_group_kills_grandchildren() {
    let (mut session, io) = spawn(exec("sleep 100 & echo $!; wait")).await.expect("spawn");
    let SessionIo::Pipes { stdout, .. } = io else {
        panic!("expected pipes");
    };
    let mut line = String::new();
    timeout(LIMIT, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("read timed out")
        .expect("read");
    let grandchild: u32 = line.trim().parse().expect("grandchild pid");
    assert_eq!(proc_state(grandchild).map(|s| s != 'Z'), Some(true), "sleep running");
    session.kill_group();
    let reason = timeout(LIMIT, session.wait())
        .await
        .expect("wait timed out")
        .expect("wait");
    assert!(matches!(reason, ExitReason::Signal { .. }), "{reason:?}");
    // Gone, or a zombie waiting for whichever process adopted it.
    let mut gone = false;
    for _ in 0..100 {
        if matches!(proc_state(grandchild), None | Some('Z')) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "grandchild {grandchild} survived kill_group");
}

/// A descriptor the server process holds without close-on-exec (as a C
/// library might open one) does not reach the program: only 0, 1 and 2 do.
#[tokio::test]
async fn only_stdio_descriptors_reach_the_program() {
    use std::os::fd::AsRawFd;
    // nix's pipe() sets no close-on-exec.
    let (r, w) = nix::unistd::pipe().expect("pipe");
    let (out, _, reason) = run_pipes(exec("ls /proc/$$/fd"), b"").await;
    assert_eq!(reason, ExitReason::Status(0));
    let fds: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(fds.contains(&"0") && fds.contains(&"1") && fds.contains(&"2"), "{out}");
    for fd in [r.as_raw_fd(), w.as_raw_fd()] {
        assert!(
            !fds.contains(&fd.to_string().as_str()),
            "descriptor {fd} reached the program: {out}"
        );
    }
}
