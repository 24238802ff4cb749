//! The programs of server sessions (RFC 4254 §6.5 "shell", "exec" and
//! "subsystem"), started as sshd(8) starts them: as the logged-in user
//! (setgid, initgroups, setuid), through the user's login shell, with a
//! clean environment, in the user's home directory, in a session of their
//! own, on a pseudo-terminal when one was requested (RFC 4254 §6.2) or on
//! pipes otherwise.
//!
//! This module is safe code; the system calls made between fork and exec and
//! the pty live in [`crate::pty`].

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Pid};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

use crate::pty::{self, ChildSetup, Credentials, Pty, PtyMaster};

/// `PATH` for users other than root: sshd(8)'s default `_PATH_STDPATH` as
/// Debian builds it.
const USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/games";
/// `PATH` for uid 0, as sshd(8) sets it for root (`SUPERUSER_PATH`).
const ROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The shell used when the passwd entry has none (`_PATH_BSHELL`, as sshd).
const DEFAULT_SHELL: &str = "/bin/sh";

/// The account a session's program runs as (the passwd entry of the
/// authenticated user, sshd(8)'s `struct passwd`).
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// Login name (`USER`, `LOGNAME`, `initgroups`).
    pub name: String,
    /// User id to switch to.
    pub uid: u32,
    /// Primary group id to switch to.
    pub gid: u32,
    /// Home directory: `HOME` and the working directory.
    pub home: PathBuf,
    /// Login shell; empty means `/bin/sh`, as for sshd(8).
    pub shell: PathBuf,
}

/// A "pty-req" (RFC 4254 §6.2): the terminal the client asked for.
#[derive(Debug, Clone, Default)]
pub struct PtyRequest {
    /// `TERM` value (e.g. `xterm-256color`); empty means none, as in sshd(8).
    pub term: String,
    /// Width in characters.
    pub cols: u32,
    /// Height in rows.
    pub rows: u32,
    /// Width in pixels (0 when unknown).
    pub width_px: u32,
    /// Height in pixels (0 when unknown).
    pub height_px: u32,
    /// Encoded terminal modes (RFC 4254 §8), decoded into (opcode,
    /// argument) pairs; opcodes the platform lacks are ignored.
    pub modes: Vec<(u8, u32)>,
}

/// What a session runs (RFC 4254 §6.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// "shell": the user's login shell, as a login shell (`argv[0]` is `-`
    /// and the shell's base name, no arguments), as sshd(8) does.
    Shell,
    /// "exec": the command, run as `shell -c command` (sshd(8)).
    Exec(String),
    /// "subsystem": the command line of the `Subsystem` keyword of
    /// sshd_config(5), also run through the user's shell as sshd(8) does.
    Subsystem(String),
}

/// Everything needed to start a session's program (sshd(8)'s `do_exec` and
/// `do_child`).
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    /// The account to run as.
    pub user: SessionUser,
    /// Shell, command or subsystem.
    pub program: Program,
    /// A pseudo-terminal, when the client asked for one (RFC 4254 §6.2) and
    /// it was allowed; pipes otherwise.
    pub pty: Option<PtyRequest>,
    /// Extra environment variables, set after the standard ones (and so
    /// overriding them), already filtered by `AcceptEnv`/`SetEnv` and the
    /// authorized_keys `environment=` option (RFC 4254 §6.4). Names that are
    /// empty or hold `=` or NUL, and values holding NUL, are left out.
    pub env: Vec<(String, String)>,
    /// `SSH_CLIENT`: "client-ip client-port server-port".
    pub ssh_client: String,
    /// `SSH_CONNECTION`: "client-ip client-port server-ip server-port".
    pub ssh_connection: String,
    /// `SSH_ORIGINAL_COMMAND`: the client's command, when `ForceCommand` or
    /// an authorized_keys `command=` replaced it.
    pub original_command: Option<String>,
    /// Switch to the user (setgid, initgroups, setuid), as sshd(8) does when
    /// running as root; when false the program runs as the server's own user.
    pub switch_user: bool,
}

/// A running session program (the child sshd(8) forks for a session): the
/// leader of its own session and process group, which [`Session::signal`]
/// and [`Session::kill_group`] address. Dropping it kills the group, unless
/// the program ended by itself (see its `Drop`).
#[derive(Debug)]
pub struct Session {
    child: Proc,
    pid: u32,
    /// A duplicate of the pty master, for window-size changes.
    resize_fd: Option<OwnedFd>,
    /// [`Session::wait`] has seen the program end.
    ended: bool,
}

/// How the program was started, and so how its end is learnt.
#[derive(Debug)]
enum Proc {
    /// Forked by this process: tokio waits for it.
    Forked(Child),
    /// Started by the spawner ([`crate::spawner`]), which reports its wait
    /// status (and keeps it a zombie until this is dropped, after
    /// [`Session`]'s drop has sent its group any last signal).
    Spawned(crate::spawner::Spawned),
}

/// The program's side of the channel data (RFC 4254 §6.9): separate pipes
/// for stdin, stdout and stderr (extended data), or one pseudo-terminal.
#[derive(Debug)]
pub enum SessionIo {
    /// No pty: channel data to stdin, stdout to channel data, stderr to
    /// extended data (SSH_EXTENDED_DATA_STDERR).
    Pipes {
        /// The program's standard input.
        stdin: pipe::Sender,
        /// The program's standard output.
        stdout: pipe::Receiver,
        /// The program's standard error.
        stderr: pipe::Receiver,
    },
    /// With a pty: the terminal carries input and output (stderr included).
    Pty {
        /// The master side of the program's terminal.
        master: PtyMaster,
    },
}

/// How a session program ended, as reported to the client: "exit-status" or
/// "exit-signal" (RFC 4254 §6.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// It exited with this status.
    Status(u32),
    /// It was killed by a signal.
    Signal {
        /// The signal's name without "SIG" (RFC 4254 §6.10: ABRT, ALRM, FPE,
        /// HUP, ILL, INT, KILL, PIPE, QUIT, SEGV, TERM, USR1, USR2); any
        /// other signal is "SIG@openssh.com", as OpenSSH's sshd reports it.
        name: String,
        /// Whether it left a core dump.
        core_dumped: bool,
    },
}

/// The signals RFC 4254 §6.10 names, without "SIG".
const SIGNALS: [(&str, Signal); 13] = [
    ("ABRT", Signal::SIGABRT),
    ("ALRM", Signal::SIGALRM),
    ("FPE", Signal::SIGFPE),
    ("HUP", Signal::SIGHUP),
    ("ILL", Signal::SIGILL),
    ("INT", Signal::SIGINT),
    ("KILL", Signal::SIGKILL),
    ("PIPE", Signal::SIGPIPE),
    ("QUIT", Signal::SIGQUIT),
    ("SEGV", Signal::SIGSEGV),
    ("TERM", Signal::SIGTERM),
    ("USR1", Signal::SIGUSR1),
    ("USR2", Signal::SIGUSR2),
];

/// The RFC 4254 §6.10 name of signal number `signo` (OpenSSH's `sig2name`).
fn signal_name(signo: i32) -> &'static str {
    SIGNALS
        .iter()
        .find(|(_, s)| *s as i32 == signo)
        .map_or("SIG@openssh.com", |(name, _)| name)
}

/// The signal an RFC 4254 §6.9 "signal" request names (OpenSSH's
/// `name2sig`).
fn signal_by_name(name: &str) -> Option<Signal> {
    SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The exit report for a wait status (RFC 4254 §6.10).
fn exit_reason(status: ExitStatus) -> io::Result<ExitReason> {
    if let Some(code) = status.code() {
        // WEXITSTATUS is 0..=255.
        return Ok(ExitReason::Status(u32::try_from(code).unwrap_or(255)));
    }
    if let Some(signo) = status.signal() {
        return Ok(ExitReason::Signal {
            name: signal_name(signo).to_string(),
            core_dumped: status.core_dumped(),
        });
    }
    Err(io::Error::other(format!("unexpected wait status {status}")))
}

/// The shell to run: the login shell, or `/bin/sh` when it is empty.
fn shell_of(user: &SessionUser) -> PathBuf {
    if user.shell.as_os_str().is_empty() {
        PathBuf::from(DEFAULT_SHELL)
    } else {
        user.shell.clone()
    }
}

/// Whether an environment entry can be passed to execve: a name that is not
/// empty and holds no `=` or NUL, a value without NUL.
fn valid_env(name: &str, value: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0']) && !value.contains('\0')
}

/// The session's environment, as sshd(8)'s `do_setup_env` builds it (no
/// variable of the server's own environment leaks in), in order; a later
/// entry with the same name wins.
fn environment(req: &SpawnRequest, shell: &Path, tty: Option<&Path>) -> Vec<(OsString, OsString)> {
    let user = &req.user;
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    let mut set = |k: &str, v: &OsStr| env.push((k.into(), v.to_os_string()));
    set("USER", OsStr::new(&user.name));
    set("LOGNAME", OsStr::new(&user.name));
    set("HOME", user.home.as_os_str());
    set("PATH", OsStr::new(if user.uid == 0 { ROOT_PATH } else { USER_PATH }));
    set("MAIL", OsStr::new(&format!("/var/mail/{}", user.name)));
    set("SHELL", shell.as_os_str());
    if let Some(p) = &req.pty {
        if !p.term.is_empty() && valid_env("TERM", &p.term) {
            set("TERM", OsStr::new(&p.term));
        }
    }
    set("SSH_CLIENT", OsStr::new(&req.ssh_client));
    set("SSH_CONNECTION", OsStr::new(&req.ssh_connection));
    if let Some(tty) = tty {
        set("SSH_TTY", tty.as_os_str());
    }
    if let Some(cmd) = &req.original_command {
        if valid_env("SSH_ORIGINAL_COMMAND", cmd) {
            set("SSH_ORIGINAL_COMMAND", OsStr::new(cmd));
        }
    }
    for (k, v) in &req.env {
        if valid_env(k, v) {
            set(k, OsStr::new(v));
        }
    }
    env
}

/// The credentials to switch to, resolved now so the child does no lookup:
/// the group list `initgroups(3)` would set comes from `getgrouplist(3)`.
fn credentials(user: &SessionUser) -> io::Result<Credentials> {
    let name = CString::new(user.name.as_str())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name holds a NUL byte"))?;
    let groups = nix::unistd::getgrouplist(&name, Gid::from_raw(user.gid))
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("initgroups {}: {e}", user.name)))?;
    Ok(Credentials {
        uid: user.uid,
        gid: user.gid,
        groups,
        old_uid: nix::unistd::getuid().as_raw(),
        old_gid: nix::unistd::getgid().as_raw(),
    })
}

/// Starts a session's program as sshd(8) does (RFC 4254 §6.5): through the
/// user's shell (a login shell for [`Program::Shell`], `shell -c command`
/// otherwise), with a clean environment (`USER`, `LOGNAME`, `HOME`, `PATH`,
/// `MAIL`, `SHELL`, `TERM` and `SSH_TTY` with a pty, `SSH_CLIENT`,
/// `SSH_CONNECTION`, `SSH_ORIGINAL_COMMAND` when given, then the extra
/// variables), in the user's home directory (or `/` after sshd's "Could not
/// chdir to home directory" message on its stderr), in a new session, as the
/// user when `switch_user` is set (setgid, initgroups, setuid, then a check
/// that the old ids cannot be regained).
///
/// With a pty request the program gets the pty's slave as its controlling
/// terminal and stdin/stdout/stderr, with the requested window size and
/// modes (RFC 4254 §6.2, §8), owned by the user (group `tty`, mode 0620);
/// otherwise three pipes. Must be called inside a tokio runtime.
pub async fn spawn(req: SpawnRequest) -> io::Result<(Session, SessionIo)> {
    let user = &req.user;
    let shell = shell_of(user);
    let base = shell
        .file_name()
        .map_or_else(|| OsString::from("sh"), OsStr::to_os_string);
    let (argv0, args): (OsString, Vec<OsString>) = match &req.program {
        Program::Shell => {
            let mut argv0 = OsString::from("-");
            argv0.push(&base);
            (argv0, Vec::new())
        }
        Program::Exec(command) | Program::Subsystem(command) => (base, vec!["-c".into(), command.into()]),
    };

    let pty = match &req.pty {
        Some(p) => Some(Pty::open(p.cols, p.rows, p.width_px, p.height_px, &p.modes)?),
        None => None,
    };
    let env = environment(&req, &shell, pty.as_ref().map(|p| p.path.as_path()));

    let creds = if req.switch_user {
        Some(credentials(user)?)
    } else {
        None
    };
    if let (Some(p), true) = (&pty, req.switch_user) {
        p.set_owner(user.uid, user.gid)?;
    }
    let home_bytes = user.home.as_os_str().as_bytes();
    let home = CString::new(home_bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "home directory holds a NUL byte"))?;
    let mut chdir_message = b"Could not chdir to home directory ".to_vec();
    chdir_message.extend_from_slice(home_bytes);
    chdir_message.extend_from_slice(b": ");
    let plan = crate::spawner::Plan {
        program: shell.into_os_string(),
        argv0,
        args,
        env,
        setup: ChildSetup {
            controlling_tty: pty.is_some(),
            creds,
            home,
            chdir_message,
        },
    };

    // The program's ends of its stdio (the pty's slave three times, or
    // three pipes), and ours.
    let (child_fds, ours) = match &pty {
        Some(p) => ([p.slave.try_clone()?, p.slave.try_clone()?, p.slave.try_clone()?], None),
        None => {
            let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
            let (in_r, in_w) = nix::unistd::pipe2(cloexec)?;
            let (out_r, out_w) = nix::unistd::pipe2(cloexec)?;
            let (err_r, err_w) = nix::unistd::pipe2(cloexec)?;
            enlarge_pipe(&in_w);
            ([in_r, out_w, err_w], Some((in_w, out_r, err_r)))
        }
    };

    let (proc_, pid) = match crate::spawner::spawn(&plan, [&child_fds[0], &child_fds[1], &child_fds[2]]).await {
        Some(r) => {
            let s = r?;
            let pid = s.pid;
            (Proc::Spawned(s), pid)
        }
        None => fork_program(plan, child_fds)?,
    };
    let mut session = Session {
        child: proc_,
        pid,
        resize_fd: None,
        ended: false,
    };
    // From here on an error drops `session`, which kills the program.
    let io = match (pty, ours) {
        (Some(Pty { master, slave, .. }), _) => {
            drop(slave);
            session.resize_fd = Some(master.try_clone()?);
            SessionIo::Pty {
                master: PtyMaster::new(master)?,
            }
        }
        (None, Some((stdin, stdout, stderr))) => SessionIo::Pipes {
            stdin: pipe::Sender::from_owned_fd(stdin)?,
            stdout: pipe::Receiver::from_owned_fd(stdout)?,
            stderr: pipe::Receiver::from_owned_fd(stderr)?,
        },
        (None, None) => return Err(io::Error::other("child stdio missing")),
    };
    Ok((session, io))
}

/// Forks the program from this process (when the spawner is not running).
/// The program's descriptors are closed here once it has them.
fn fork_program(plan: crate::spawner::Plan, fds: [OwnedFd; 3]) -> io::Result<(Proc, u32)> {
    let mut cmd = Command::from(plan.command(fds));
    let child = cmd.spawn()?;
    // The Command holds the parent's copies of the program's descriptors:
    // close them, so that reading ends when the program's side closes.
    drop(cmd);
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("session program exited before its pid was known"))?;
    Ok((Proc::Forked(child), pid))
}

/// The pipe size asked for a session's stdin: uploads (`tar | ssh`,
/// `rsync`) then reach the program in fewer, larger system calls than with
/// the 64 KiB default. A refusal (`pipe-max-size`) is harmless.
///
/// Its stdout keeps the default 64 KiB: programs write it in small pieces
/// (`head` and stdio 4 KiB at a time), and measured in `bench/`, a larger
/// pipe made downloads slower (about 1,300 against 1,700 MiB/s for
/// aes128-gcm on a 2-core machine), with `head` spending twice the system
/// time writing into it (`perf`: spinning on the pipe's lock).
const PIPE_SIZE: i32 = 512 * 1024;

fn enlarge_pipe(p: &impl std::os::fd::AsRawFd) {
    let _ = nix::fcntl::fcntl(p.as_raw_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
}

impl Session {
    /// Waits for the program to end and reports how, for the channel's
    /// "exit-status" or "exit-signal" request (RFC 4254 §6.10). Can be
    /// called again after it returned (same answer).
    pub async fn wait(&mut self) -> io::Result<ExitReason> {
        let status = match &mut self.child {
            Proc::Forked(child) => child.wait().await?,
            Proc::Spawned(s) => {
                let raw = s
                    .status
                    .wait_for(Option::is_some)
                    .await
                    .map_err(|_| io::Error::other("the spawner ended before the program"))?;
                ExitStatus::from_raw(raw.unwrap_or(255 << 8))
            }
        };
        self.ended = true;
        exit_reason(status)
    }

    /// Delivers an RFC 4254 §6.9 "signal" request (`HUP`, `INT`, `KILL`,
    /// `TERM`, `USR1`, ... without "SIG") to the program's process group.
    /// An unknown name is an `InvalidInput` error.
    pub fn signal(&self, name: &str) -> io::Result<()> {
        let sig = signal_by_name(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("unknown signal name {name:?}")))?;
        nix::sys::signal::killpg(self.pgid()?, sig)?;
        Ok(())
    }

    /// Sends a BREAK on the pty (RFC 4335, as sshd's `tcsendbreak`). An
    /// `Unsupported` error for a session without a pty.
    pub fn send_break(&self) -> io::Result<()> {
        use std::os::fd::AsFd;
        let fd = self
            .resize_fd
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "session has no pty"))?;
        rustix::termios::tcsendbreak(fd.as_fd()).map_err(io::Error::from)
    }

    /// Changes the pty's window size on an RFC 4254 §6.7 "window-change"
    /// request (`TIOCSWINSZ` on the master; the program gets SIGWINCH). An
    /// `Unsupported` error for a session without a pty.
    pub fn resize(&self, cols: u32, rows: u32, width_px: u32, height_px: u32) -> io::Result<()> {
        use std::os::fd::AsFd;
        let fd = self
            .resize_fd
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "session has no pty"))?;
        pty::set_window_size(fd.as_fd(), cols, rows, width_px, height_px)
    }

    /// Ends the program and everything it started in its process group:
    /// SIGHUP (the hang-up sshd(8)'s closing of the pty gives), then SIGKILL.
    /// Called when the channel closes or the connection drops, and on drop.
    /// A group already gone is not an error.
    pub fn kill_group(&self) {
        if let Ok(pgid) = self.pgid() {
            let _ = nix::sys::signal::killpg(pgid, Signal::SIGHUP);
            let _ = nix::sys::signal::killpg(pgid, Signal::SIGKILL);
        }
    }

    /// The program's process id, which is also its session and process
    /// group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn pgid(&self) -> io::Result<Pid> {
        i32::try_from(self.pid)
            .map(Pid::from_raw)
            .map_err(|_| io::Error::other("pid out of range"))
    }
}

/// Kills the process group ([`Session::kill_group`]) unless the program
/// has ended by itself: what it left running in the background (`nohup
/// job >log 2>&1 &`) lives on, as under sshd, which signals nothing when
/// a program exits. (With a pty, the kernel's hang-up at the session
/// leader's exit still reaches the terminal's foreground group.) tokio
/// reaps the program in the background if it was not waited for.
impl Drop for Session {
    fn drop(&mut self) {
        if !self.ended {
            self.kill_group();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> SpawnRequest {
        SpawnRequest {
            user: SessionUser {
                name: "alice".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/alice".into(),
                shell: PathBuf::new(),
            },
            program: Program::Shell,
            pty: Some(PtyRequest {
                term: "xterm".into(),
                ..PtyRequest::default()
            }),
            env: vec![
                ("LANG".into(), "C.UTF-8".into()),
                ("BAD=NAME".into(), "x".into()),
                ("NUL".into(), "a\0b".into()),
                (String::new(), "x".into()),
            ],
            ssh_client: "192.0.2.1 5555 22".into(),
            ssh_connection: "192.0.2.1 5555 192.0.2.2 22".into(),
            original_command: Some("ls".into()),
            switch_user: false,
        }
    }

    #[test]
    fn environment_is_sshds() {
        let req = request();
        let shell = shell_of(&req.user);
        assert_eq!(shell, Path::new("/bin/sh"));
        let env = environment(&req, &shell, Some(Path::new("/dev/pts/3")));
        let get = |k: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("USER").as_deref(), Some("alice"));
        assert_eq!(get("LOGNAME").as_deref(), Some("alice"));
        assert_eq!(get("HOME").as_deref(), Some("/home/alice"));
        assert_eq!(get("PATH").as_deref(), Some(USER_PATH));
        assert_eq!(get("MAIL").as_deref(), Some("/var/mail/alice"));
        assert_eq!(get("SHELL").as_deref(), Some("/bin/sh"));
        assert_eq!(get("TERM").as_deref(), Some("xterm"));
        assert_eq!(get("SSH_TTY").as_deref(), Some("/dev/pts/3"));
        assert_eq!(get("SSH_ORIGINAL_COMMAND").as_deref(), Some("ls"));
        assert_eq!(get("LANG").as_deref(), Some("C.UTF-8"));
        assert_eq!(env.len(), 12);
    }

    #[test]
    fn root_path() {
        let mut req = request();
        req.user.uid = 0;
        req.pty = None;
        let env = environment(&req, Path::new("/bin/bash"), None);
        assert!(env.iter().any(|(k, v)| k == "PATH" && v == ROOT_PATH));
        assert!(!env.iter().any(|(k, _)| k == "TERM" || k == "SSH_TTY"));
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(Signal::SIGTERM as i32), "TERM");
        assert_eq!(signal_name(Signal::SIGKILL as i32), "KILL");
        assert_eq!(signal_name(Signal::SIGBUS as i32), "SIG@openssh.com");
        assert_eq!(signal_by_name("USR1"), Some(Signal::SIGUSR1));
        assert_eq!(signal_by_name("SIGTERM"), None);
        assert_eq!(signal_by_name(""), None);
    }

    #[test]
    fn exit_reasons() {
        assert_eq!(
            exit_reason(ExitStatus::from_raw(3 << 8)).ok(),
            Some(ExitReason::Status(3))
        );
        assert_eq!(
            exit_reason(ExitStatus::from_raw(15)).ok(),
            Some(ExitReason::Signal {
                name: "TERM".into(),
                core_dumped: false
            })
        );
        assert_eq!(
            exit_reason(ExitStatus::from_raw(11 | 0x80)).ok(),
            Some(ExitReason::Signal {
                name: "SEGV".into(),
                core_dumped: true
            })
        );
    }
}
