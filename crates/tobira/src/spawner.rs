//! The spawner: a small process, forked from the server before it starts
//! any thread, that starts session programs on its behalf (see
//! [`crate::process::spawn`]).
//!
//! Why: forking the server itself for every session copies the page tables
//! of a large multi-threaded process, and every page its threads then write
//! takes a copy-on-write fault (with TLB shoot-downs on the other cores)
//! until the child has exec'ed. `perf` showed that as the largest part of
//! tobirad's cost per connection in `bench/`'s handshake rate. The spawner's
//! address space is tiny and only its own few threads run in it, so its
//! forks are cheap; it does exactly what the server's own fork did (std's
//! `Command` with [`crate::pty::ChildSetup`] between fork and exec), and
//! reports each program's pid and, later, its wait status.
//!
//! Protocol, over a `SOCK_SEQPACKET` socket pair (one message per request,
//! encoded with SSH wire types):
//! - server → spawner: `u32 1, u64 id, string program, string argv0,
//!   u32 n, n × string arg, u32 m, m × (string name, string value),
//!   bool controlling_tty, bool creds [u32 uid, u32 gid, u32 k, k × u32
//!   group, u32 old_uid, u32 old_gid], string home, string chdir_message`,
//!   with the program's stdin, stdout and stderr as `SCM_RIGHTS`;
//! - spawner → server: `u32 2, u64 id, bool ok, (u32 pid | u32 errno,
//!   string message)`; and `u32 3, u32 pid, u32 wait_status` when a
//!   program has ended (never before the reply that gave its pid);
//! - server → spawner: `u32 4, u32 pid` when the server is done with a
//!   program (its [`Spawned`] dropped, after the session's last signal
//!   to its group): the spawner keeps an ended program a zombie until
//!   then, so that its process (and group) id is not reused while the
//!   server may still signal it.
//!
//! A watchdog in the spawner starts another loop thread when a program's
//! set-up hangs before exec, so that one holds up no other; see [`serve`].
//!
//! The spawner ends when the server's end of the socket closes. When it is
//! not running (a library user that did not start it, or it died), session
//! programs are forked by the server itself as before.
//!
//! `unsafe` code: one `fork` in [`start`], made while the server has a
//! single thread (checked), after which the child runs ordinary Rust code;
//! and the reset of SIGCHLD to its default disposition in the spawner.

mod serve;

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use nix::unistd::Gid;
use rustix::net::{
    AddressFamily, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use tobira_proto::wire::{Reader, Writer};
use tokio::sync::watch;

use crate::pty::{ChildSetup, Credentials};

/// Largest request or reply (a request with a longer command line or
/// environment is forked by the server itself).
const MAX_MESSAGE: usize = 60 * 1024;
/// How long a spawn may take before the server gives up on the spawner.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

const REQUEST: u32 = 1;
const REPLY: u32 = 2;
const EXITED: u32 = 3;
const RELEASE: u32 = 4;

/// A program to start: what [`crate::process::spawn`] would give std's
/// `Command`.
pub(crate) struct Plan {
    /// Path of the program (the user's shell).
    pub(crate) program: OsString,
    /// `argv[0]`.
    pub(crate) argv0: OsString,
    /// Further arguments.
    pub(crate) args: Vec<OsString>,
    /// The whole environment.
    pub(crate) env: Vec<(OsString, OsString)>,
    /// What the child does between fork and exec.
    pub(crate) setup: ChildSetup,
}

/// A started program: its pid and, once it has ended, its wait status.
/// Dropping it releases the program (the spawner reaps it once ended):
/// drop it only after the last signal to its group.
#[derive(Debug)]
pub(crate) struct Spawned {
    /// Process id (also its session and process group id).
    pub(crate) pid: u32,
    /// `None` until the program has ended; then its raw wait status. The
    /// sender is dropped if the spawner dies first.
    pub(crate) status: watch::Receiver<Option<i32>>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        release(self.pid);
    }
}

type ReplyTx = tokio::sync::oneshot::Sender<io::Result<Spawned>>;

/// The server's side of the spawner.
struct Client {
    sock: OwnedFd,
    next_id: AtomicU64,
    alive: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Requests awaiting their reply.
    waiting: HashMap<u64, ReplyTx>,
    /// Running programs awaiting their exit.
    running: HashMap<u32, watch::Sender<Option<i32>>>,
}

static CLIENT: OnceLock<Client> = OnceLock::new();

/// Starts the spawner process. Call it first thing in `main`, while the
/// process has a single thread (else it is an error and nothing is
/// started); session programs then go through it. `name` becomes the
/// spawner's process name (`comm`).
pub fn start(name: &str) -> io::Result<()> {
    if CLIENT.get().is_some() {
        return Ok(());
    }
    // A jemalloc background thread names itself just after it starts:
    // give it a moment.
    let mut threads = other_threads();
    for _ in 0..40 {
        if threads == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        threads = other_threads();
    }
    if threads != 0 {
        return Err(io::Error::other(format!(
            "the spawner must be started before any thread ({threads} other threads running)"
        )));
    }
    let (ours, theirs) =
        rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?;
    // SAFETY: the process has a single thread (checked above), so the child
    // is a complete copy in which any code may run, as after a fork in a
    // single-threaded C program.
    #[allow(unsafe_code)]
    let forked = unsafe { nix::unistd::fork() };
    match forked.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            if let Ok(n) = CString::new(name) {
                let _ = rustix::thread::set_name(&n);
            }
            serve::serve(theirs)
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(theirs);
            let reader = ours.try_clone()?;
            let client = Client {
                sock: ours,
                next_id: AtomicU64::new(1),
                alive: AtomicBool::new(true),
                state: Mutex::new(State::default()),
            };
            if CLIENT.set(client).is_err() {
                return Ok(());
            }
            let pid = rustix::process::Pid::from_raw(child.as_raw());
            std::thread::Builder::new()
                .name("spawner-replies".into())
                .spawn(move || {
                    read_replies(reader);
                    // It has gone (or is going): no zombie is left.
                    if let Some(pid) = pid {
                        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
                    }
                })?;
            Ok(())
        }
    }
}

/// Threads of this process besides the calling one, not counting
/// jemalloc's background threads: jemalloc's fork handlers take its locks
/// around the fork and turn background threads off in the child. An
/// unreadable `/proc` counts as a thread.
fn other_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return usize::MAX;
    };
    let me = rustix::thread::gettid().as_raw_nonzero().get().to_string();
    tasks
        .flatten()
        .filter(|t| t.file_name().to_str() != Some(me.as_str()))
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).map_or(true, |c| c.trim_end() != "jemalloc_bg_thd"))
        .count()
}

/// Starts `plan` through the spawner with `stdio` (stdin, stdout, stderr).
/// `None` when the spawner is not running or the request could not be
/// sent: the caller forks itself. Once the descriptors have gone to the
/// spawner there is no falling back (the program may yet start with
/// them): a start that does not come in time is an error (the program is
/// killed if it starts later). The spawner stays in use: its watchdog
/// keeps other starts going past a hung one, so one overdue start says
/// nothing of the next; a spawner that has died is seen by its socket
/// closing. Returns once the program has been exec'ed (as std's
/// `Command::spawn` does), without blocking the runtime.
pub(crate) async fn spawn(plan: &Plan, stdio: [&OwnedFd; 3]) -> Option<io::Result<Spawned>> {
    let client = CLIENT.get()?;
    if !client.alive.load(Ordering::Acquire) {
        return None;
    }
    let id = client.next_id.fetch_add(1, Ordering::Relaxed);
    let msg = encode_request(id, plan);
    if msg.len() > MAX_MESSAGE {
        return None;
    }
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    lock(&client.state).waiting.insert(id, tx);
    let fds = [stdio[0].as_fd(), stdio[1].as_fd(), stdio[2].as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let sent = if control.push(SendAncillaryMessage::ScmRights(&fds)) {
        rustix::net::sendmsg(
            &client.sock,
            &[IoSlice::new(&msg)],
            &mut control,
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        )
        .map_err(io::Error::from)
    } else {
        Err(io::Error::other("no room for the descriptors"))
    };
    if let Err(e) = sent {
        tracing::debug!("spawner: request not sent ({e}); forking the program here");
        lock(&client.state).waiting.remove(&id);
        return None;
    }
    match tokio::time::timeout(REPLY_TIMEOUT, &mut rx).await {
        Ok(Ok(r)) => Some(r),
        Ok(Err(_)) => Some(Err(io::Error::other("the spawner ended before starting the program"))),
        Err(_) => {
            tracing::warn!(
                "a session program did not start within {} s (its set-up hangs)",
                REPLY_TIMEOUT.as_secs()
            );
            let late = {
                let mut st = lock(&client.state);
                st.waiting.remove(&id);
                rx.try_recv()
            };
            // A reply that came in just now: that program must not run on
            // (dropping it releases it, after the kill).
            if let Ok(Ok(late)) = late {
                lock(&client.state).running.remove(&late.pid);
                kill_group(late.pid);
                drop(late);
            }
            Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the spawner did not answer",
            )))
        }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn put_os(m: &mut Vec<u8>, s: &OsStr) {
    m.put_string(s.as_bytes());
}

fn encode_request(id: u64, plan: &Plan) -> Vec<u8> {
    let mut m = Vec::new();
    m.put_u32(REQUEST);
    m.put_u64(id);
    put_os(&mut m, &plan.program);
    put_os(&mut m, &plan.argv0);
    m.put_u32(u32::try_from(plan.args.len()).unwrap_or(u32::MAX));
    for a in &plan.args {
        put_os(&mut m, a);
    }
    m.put_u32(u32::try_from(plan.env.len()).unwrap_or(u32::MAX));
    for (k, v) in &plan.env {
        put_os(&mut m, k);
        put_os(&mut m, v);
    }
    let s = &plan.setup;
    m.put_bool(s.controlling_tty);
    m.put_bool(s.creds.is_some());
    if let Some(c) = &s.creds {
        m.put_u32(c.uid);
        m.put_u32(c.gid);
        m.put_u32(u32::try_from(c.groups.len()).unwrap_or(u32::MAX));
        for g in &c.groups {
            m.put_u32(g.as_raw());
        }
        m.put_u32(c.old_uid);
        m.put_u32(c.old_gid);
    }
    m.put_string(s.home.as_bytes());
    m.put_string(&s.chdir_message);
    m
}

fn decode_request(msg: &[u8]) -> Option<(u64, Plan)> {
    let mut r = Reader::new(msg);
    if r.u32().ok()? != REQUEST {
        return None;
    }
    let id = r.u64().ok()?;
    let os = |r: &mut Reader<'_>| r.string().ok().map(|b| OsString::from_vec(b.to_vec()));
    let program = os(&mut r)?;
    let argv0 = os(&mut r)?;
    let n = r.u32().ok()?;
    let mut args = Vec::new();
    for _ in 0..n {
        args.push(os(&mut r)?);
    }
    let n = r.u32().ok()?;
    let mut env = Vec::new();
    for _ in 0..n {
        let k = os(&mut r)?;
        env.push((k, os(&mut r)?));
    }
    let controlling_tty = r.bool().ok()?;
    let creds = if r.bool().ok()? {
        let uid = r.u32().ok()?;
        let gid = r.u32().ok()?;
        let n = r.u32().ok()?;
        let mut groups = Vec::new();
        for _ in 0..n {
            groups.push(Gid::from_raw(r.u32().ok()?));
        }
        Some(Credentials {
            uid,
            gid,
            groups,
            old_uid: r.u32().ok()?,
            old_gid: r.u32().ok()?,
        })
    } else {
        None
    };
    let home = CString::new(r.string().ok()?).ok()?;
    let chdir_message = r.string().ok()?.to_vec();
    Some((
        id,
        Plan {
            program,
            argv0,
            args,
            env,
            setup: ChildSetup {
                controlling_tty,
                creds,
                home,
                chdir_message,
            },
        },
    ))
}

/// The server's thread that reads the spawner's replies and exit reports.
fn read_replies(sock: OwnedFd) {
    let Some(client) = CLIENT.get() else { return };
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = match rustix::net::recv(&sock, &mut buf[..], RecvFlags::empty()) {
            Ok((0, _)) | Err(_) => break,
            Ok((n, _)) => n,
        };
        let mut r = Reader::new(buf.get(..n).unwrap_or_default());
        match r.u32() {
            Ok(REPLY) => {
                let Ok(id) = r.u64() else { continue };
                let result = match r.bool() {
                    Ok(true) => r.u32().map_err(|_| io::Error::other("bad spawner reply")),
                    _ => {
                        let errno = r.u32().unwrap_or(0);
                        let text = r.utf8().unwrap_or("spawn failed").to_string();
                        Err(match i32::try_from(errno) {
                            Ok(e) if e != 0 => io::Error::new(io::Error::from_raw_os_error(e).kind(), text),
                            _ => io::Error::other(text),
                        })
                    }
                };
                let mut st = lock(&client.state);
                let tx = st.waiting.remove(&id);
                match (tx, result) {
                    (Some(tx), Ok(pid)) => {
                        let (stx, srx) = watch::channel(None);
                        st.running.insert(pid, stx);
                        if let Err(Ok(gone)) = tx.send(Ok(Spawned { pid, status: srx })) {
                            // Its requester gave up: the program must not
                            // run on (and is released after the kill).
                            st.running.remove(&pid);
                            drop(st);
                            kill_group(pid);
                            off_reader(move || drop(gone));
                        }
                    }
                    (Some(tx), Err(e)) => {
                        let _ = tx.send(Err(e));
                    }
                    (None, Ok(pid)) => {
                        drop(st);
                        kill_group(pid);
                        off_reader(move || release(pid));
                    }
                    (None, Err(_)) => {}
                }
            }
            Ok(EXITED) => {
                let (Ok(pid), Ok(status)) = (r.u32(), r.u32()) else {
                    continue;
                };
                if let Some(tx) = lock(&client.state).running.remove(&pid) {
                    let _ = tx.send(Some(status as i32));
                }
            }
            _ => {}
        }
    }
    // The spawner is gone: requests fail over to forking, waiters learn it.
    client.alive.store(false, Ordering::Release);
    let mut st = lock(&client.state);
    st.waiting.clear();
    st.running.clear();
}

/// Runs `f` (a release) on a thread of its own: the reader thread must
/// never wait on the spawner's socket, since the spawner may itself be
/// waiting for the reader to take a message. (A rare path: programs that
/// started after their requester gave up.)
fn off_reader(f: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new().name("spawner-release".into()).spawn(f);
}

/// Tells the spawner that the server is done with `pid` (see the
/// protocol above). A blocking send: the spawner's main loop drains its
/// socket without ever waiting on the server, so a full socket empties at
/// once, and a lost release would leave a zombie. Nothing to do when the
/// spawner is gone (its programs went to init).
fn release(pid: u32) {
    let Some(client) = CLIENT.get() else { return };
    if !client.alive.load(Ordering::Acquire) {
        return;
    }
    let mut m = Vec::with_capacity(8);
    m.put_u32(RELEASE);
    m.put_u32(pid);
    loop {
        match rustix::net::send(&client.sock, &m, SendFlags::NOSIGNAL) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => tracing::debug!("spawner: release of {pid} not sent ({e})"),
            Ok(_) => {}
        }
        break;
    }
}

fn kill_group(pid: u32) {
    if let Ok(p) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
    }
}

impl Plan {
    /// The command that starts the program on `stdio` (stdin, stdout,
    /// stderr), with the child's set-up between fork and exec.
    pub(crate) fn command(self, stdio: [OwnedFd; 3]) -> std::process::Command {
        let [stdin, stdout, stderr] = stdio;
        let mut cmd = std::process::Command::new(&self.program);
        cmd.arg0(&self.argv0)
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        crate::pty::install_child_setup(&mut cmd, self.setup);
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let plan = Plan {
            program: "/bin/sh".into(),
            argv0: "-sh".into(),
            args: vec!["-c".into(), "echo hi".into()],
            env: vec![("HOME".into(), "/home/a".into())],
            setup: ChildSetup {
                controlling_tty: true,
                creds: Some(Credentials {
                    uid: 1000,
                    gid: 100,
                    groups: vec![Gid::from_raw(100), Gid::from_raw(27)],
                    old_uid: 0,
                    old_gid: 0,
                }),
                home: CString::new("/home/a").unwrap(),
                chdir_message: b"Could not chdir to home directory /home/a: ".to_vec(),
            },
        };
        let m = encode_request(7, &plan);
        let (id, back) = decode_request(&m).expect("decodes");
        assert_eq!(id, 7);
        assert_eq!((back.program, back.argv0), (plan.program, plan.argv0));
        assert_eq!(back.args, plan.args);
        assert_eq!(back.env, plan.env);
        assert!(back.setup.controlling_tty);
        let c = back.setup.creds.expect("creds");
        assert_eq!((c.uid, c.gid, c.groups.len()), (1000, 100, 2));
        assert_eq!(back.setup.home.as_bytes(), b"/home/a");
        // Every truncation is refused, not misread.
        for cut in 0..m.len() {
            assert!(decode_request(&m[..cut]).is_none(), "cut at {cut}");
        }
    }
}
