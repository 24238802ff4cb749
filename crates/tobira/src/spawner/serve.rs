//! The spawner process's side (see [`super`]): requests from the server,
//! programs started by a loop thread, exits watched through pidfds, and a
//! watchdog that keeps a hung start from holding up the others.
//!
//! Why a watchdog: std's `Command::spawn` returns only once the child has
//! exec'ed, and the child's set-up before that (a `chdir` into a hung
//! network home directory) can take any time. Started one after the
//! other, one such program held up every other session's. A thread per
//! start avoids that, but costs about 1 ms of the spawner's CPU per
//! program (`perf`: thread stacks mapped and unmapped, and copy-on-write
//! faults with TLB shoot-downs across the threads' cores), 20 % of
//! tobirad's handshake rate. So the main thread loops and starts
//! programs itself, and a watchdog thread (asleep but for a look every
//! 250 ms) starts another loop thread when every loop thread has been
//! inside a start for over a second; such an extra loop thread ends when
//! it comes back from a start while another is free. In the usual case
//! the process has two threads, one of them asleep.
//!
//! Why pidfds and not `wait(-1)`: std waits for a child whose exec failed
//! (to return the error), and a `wait` for any child on another thread
//! could take that status first. Each program the spawner started has its
//! pidfd in an epoll set; it becomes readable when the program ends.
//! Where `pidfd_open` is unavailable (Linux before 5.3), a thread of its
//! own waits for each program instead.
//!
//! What is left: a start that comes while every loop thread is inside a
//! start waits up to about 1.25 s for the watchdog. And a child forked
//! while another start is in flight on another loop thread holds copies
//! of that start's descriptors (close-on-exec) until its own exec; if its
//! set-up hangs, that other session sees the end of its output late.
//!
//! A program that has ended is left a zombie, its status read with
//! `WNOWAIT`, until the server releases it: its process id, which is also
//! its process group id, cannot be reused while the server may still
//! signal that group (the hang-up and kill when its session closes).

use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};

use rustix::event::epoll;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendFlags};
use rustix::process::{Pid, WaitIdOptions, WaitIdStatus, WaitOptions};
use tobira_proto::wire::{Reader, Writer};

use super::{decode_request, Plan, EXITED, MAX_MESSAGE, RELEASE, REPLY, REQUEST};

/// The epoll key of the socket to the server (programs use their pid).
const SOCKET_KEY: u64 = u64::MAX;
/// Stack of a loop thread and of a waiting thread (std's spawn and the
/// child's set-up need little).
const THREAD_STACK: usize = 256 * 1024;
/// How often the watchdog looks, and how long every loop thread must have
/// been inside a start before it makes another.
const WATCH_PERIOD: std::time::Duration = std::time::Duration::from_millis(250);
const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// One program the spawner started, until it has ended and been released.
struct Program {
    /// Readable once the program has ended; registered with the epoll set.
    /// `None` where a thread waits for it instead.
    pidfd: Option<OwnedFd>,
    /// It has ended (and was reported); it stays a zombie until released.
    ended: bool,
    /// The server has let it go: reap it as soon as it has ended.
    released: bool,
}

/// What the spawner's threads share.
struct Spawner {
    sock: OwnedFd,
    epoll: OwnedFd,
    /// Programs by pid. Every message to the server is sent with this lock
    /// held, so a program's exit report never overtakes its start reply.
    programs: Mutex<HashMap<u32, Program>>,
    loops: Mutex<Loops>,
}

/// The loop threads, for the watchdog.
struct Loops {
    /// Loop threads not inside a start.
    free: usize,
    /// Since when none has been free.
    none_free_since: Option<std::time::Instant>,
}

impl Spawner {
    fn programs(&self) -> MutexGuard<'_, HashMap<u32, Program>> {
        self.programs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn loops(&self) -> MutexGuard<'_, Loops> {
        self.loops.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one message to the server; the spawner ends if it has gone.
    fn send(&self, msg: &[u8]) {
        if rustix::net::send(&self.sock, msg, SendFlags::NOSIGNAL).is_err() {
            std::process::exit(0);
        }
    }
}

/// The spawner: sets the process up, starts the watchdog thread and
/// becomes the first loop thread. Never returns; the process ends when the
/// server's end of the socket closes (or on an error a loop cannot go on
/// from).
pub(super) fn serve(sock: OwnedFd) -> ! {
    use nix::sys::signal::{SigSet, Signal};

    // SIGCHLD may be ignored (SIG_IGN is inherited through exec from
    // whoever started the server); then children would be reaped by the
    // kernel and their statuses lost.
    // SAFETY: SIG_DFL installs no handler function, so no code can run
    // asynchronously.
    #[allow(unsafe_code)]
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGCHLD, nix::sys::signal::SigHandler::SigDfl) };
    // Out of the server's session and process group, and deaf to the
    // signals meant for the server (a terminal's ^C, `pkill -HUP
    // tobirad`): it ends when the server's end of the socket closes. Its
    // threads inherit the mask; the programs it starts get an empty one
    // (`ChildSetup::run`).
    let _ = rustix::process::setsid();
    let mut deaf = SigSet::empty();
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPIPE,
    ] {
        deaf.add(sig);
    }
    let _ = deaf.thread_block();
    let Ok(ep) = epoll::create(epoll::CreateFlags::CLOEXEC) else {
        std::process::exit(1)
    };
    if epoll::add(&ep, &sock, epoll::EventData::new_u64(SOCKET_KEY), epoll::EventFlags::IN).is_err() {
        std::process::exit(1);
    }
    let spawner = Arc::new(Spawner {
        sock,
        epoll: ep,
        programs: Mutex::new(HashMap::new()),
        loops: Mutex::new(Loops {
            free: 1,
            none_free_since: None,
        }),
    });
    if on_thread(&spawner, "watchdog", watch).is_err() {
        tracing::debug!("spawner: no watchdog thread; a hung start holds up the others");
    }
    serve_loop(&spawner, true);
    std::process::exit(1)
}

/// The watchdog: another loop thread when every one has been inside a
/// start for [`STUCK_AFTER`].
fn watch(spawner: &Arc<Spawner>) {
    loop {
        std::thread::sleep(WATCH_PERIOD);
        let mut loops = spawner.loops();
        let stuck = loops.free == 0 && loops.none_free_since.is_some_and(|t| t.elapsed() >= STUCK_AFTER);
        if stuck {
            loops.free += 1;
            loops.none_free_since = None;
            drop(loops);
            if on_thread(spawner, "loop", |sp| serve_loop(sp, false)).is_err() {
                let mut loops = spawner.loops();
                loops.free -= 1;
                loops.none_free_since = Some(std::time::Instant::now());
            }
        }
    }
}

/// A loop thread: requests and releases from the server, and the programs
/// that end. The main thread's never returns; another returns when a loop
/// thread is free after its start.
fn serve_loop(spawner: &Arc<Spawner>, main: bool) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut events: Vec<epoll::Event> = Vec::with_capacity(64);
    loop {
        events.clear();
        match epoll::wait(&spawner.epoll, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => std::process::exit(1),
        }
        for ev in &events {
            let key = ev.data.u64();
            if key == SOCKET_KEY {
                match receive(spawner, &mut buf, main) {
                    Received::Gone => std::process::exit(0),
                    Received::Leave => return,
                    Received::Other => {}
                }
            } else if let Ok(pid) = u32::try_from(key) {
                let status = Pid::from_raw(pid as i32).and_then(|p| peek_exit(rustix::process::WaitId::Pid(p)));
                match status {
                    Some(status) => ended(spawner, pid, status),
                    // Readable, yet no status for us: a tracer (another
                    // process of the user's, ptrace) takes the exit first.
                    // Watching on would spin; a thread waits instead.
                    None => wait_elsewhere(spawner, pid, true),
                }
            }
        }
    }
}

/// What [`receive`] did.
enum Received {
    /// The server has gone.
    Gone,
    /// A start was handled by an extra loop thread while another loop
    /// thread is free: this one ends (it no longer counts as free).
    Leave,
    /// Anything else.
    Other,
}

/// Handles one message from the server.
fn receive(spawner: &Arc<Spawner>, buf: &mut [u8], main: bool) -> Received {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let n = match rustix::net::recvmsg(
        &spawner.sock,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
    ) {
        Ok(m) if m.bytes == 0 => return Received::Gone,
        Ok(m) => m.bytes,
        Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => return Received::Other,
        Err(_) => return Received::Gone,
    };
    let mut fds: Vec<OwnedFd> = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(r) = m {
            fds.extend(r);
        }
    }
    let msg = buf.get(..n).unwrap_or_default();
    let mut head = Reader::new(msg);
    match head.u32() {
        Ok(REQUEST) => {
            let Ok(id) = head.u64() else {
                return Received::Other;
            };
            let plan = decode_request(msg).map(|(_, plan)| plan);
            {
                let mut loops = spawner.loops();
                loops.free = loops.free.saturating_sub(1);
                if loops.free == 0 {
                    loops.none_free_since = Some(std::time::Instant::now());
                }
            }
            start(spawner, id, plan, fds);
            // Leave or count in again, in one look at the loops.
            let mut loops = spawner.loops();
            if !main && loops.free >= 1 {
                return Received::Leave;
            }
            loops.free += 1;
            loops.none_free_since = None;
        }
        Ok(RELEASE) => {
            if let Ok(pid) = head.u32() {
                release(spawner, pid);
            }
        }
        _ => {}
    }
    Received::Other
}

/// Starts one program and replies.
fn start(spawner: &Arc<Spawner>, id: u64, plan: Option<Plan>, fds: Vec<OwnedFd>) {
    #[cfg(debug_assertions)]
    if let Some(p) = &plan {
        test_hold(p);
    }
    let started = match plan {
        Some(plan) => run(plan, fds),
        None => Err(io::Error::other("malformed spawn request")),
    };
    let mut reply = Vec::new();
    reply.put_u32(REPLY);
    reply.put_u64(id);
    let pid = match started {
        Ok(pid) => pid,
        Err(e) => {
            reply.put_bool(false);
            reply.put_u32(e.raw_os_error().and_then(|n| u32::try_from(n).ok()).unwrap_or(0));
            reply.put_string(e.to_string().as_bytes());
            let _programs = spawner.programs();
            spawner.send(&reply);
            return;
        }
    };
    reply.put_bool(true);
    reply.put_u32(pid);
    // Nobody else reaps it, so the pid is the program's (live or zombie).
    let pidfd = Pid::from_raw(pid as i32)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    let mut programs = spawner.programs();
    let watched = pidfd.as_ref().is_some_and(|fd| {
        epoll::add(
            &spawner.epoll,
            fd,
            epoll::EventData::new_u64(u64::from(pid)),
            epoll::EventFlags::IN,
        )
        .is_ok()
    });
    programs.insert(
        pid,
        Program {
            pidfd: if watched { pidfd } else { None },
            ended: false,
            released: false,
        },
    );
    spawner.send(&reply);
    drop(programs);
    if !watched {
        wait_elsewhere(spawner, pid, false);
    }
}

/// Waits (on a thread of its own) for a program that has no pidfd
/// watched, without reaping it.
fn wait_in_place(spawner: &Spawner, pid: u32) {
    let Some(p) = Pid::from_raw(pid as i32) else { return };
    loop {
        match rustix::process::waitid(
            rustix::process::WaitId::Pid(p),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(Some(status)) => return ended(spawner, pid, raw_status(&status)),
            Err(rustix::io::Errno::INTR) | Ok(None) => continue,
            Err(_) => return,
        }
    }
}

/// Moves the watch over `pid` to a thread of its own: from the epoll set
/// (`from_epoll`; nothing to do if another loop thread moved it already)
/// or for a program that never had a pidfd watched.
fn wait_elsewhere(spawner: &Arc<Spawner>, pid: u32, from_epoll: bool) {
    {
        let mut programs = spawner.programs();
        let Some(program) = programs.get_mut(&pid) else { return };
        match program.pidfd.take() {
            Some(fd) => {
                let _ = epoll::delete(&spawner.epoll, &fd);
            }
            None if from_epoll => return,
            None => {}
        }
    }
    if on_thread(spawner, "wait", move |sp| wait_in_place(sp, pid)).is_err() {
        // No thread: blocking here would stop everything, so the program
        // is ended (it is reported, then reaped on release).
        super::kill_group(pid);
    }
}

/// Runs `f` on a new thread of the spawner named `name`.
fn on_thread(spawner: &Arc<Spawner>, name: &str, f: impl FnOnce(&Arc<Spawner>) + Send + 'static) -> io::Result<()> {
    let sp = Arc::clone(spawner);
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(THREAD_STACK)
        .spawn(move || f(&sp))
        .map(|_| ())
}

/// The exit status of a program that has ended, without reaping it.
fn peek_exit(id: rustix::process::WaitId<'_>) -> Option<u32> {
    match rustix::process::waitid(
        id,
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
    ) {
        Ok(Some(status)) => Some(raw_status(&status)),
        _ => None,
    }
}

/// The `waitpid` status word of an ended program (what the server decodes).
fn raw_status(status: &WaitIdStatus) -> u32 {
    if let Some(code) = status.exit_status() {
        ((code as u32) & 0xff) << 8
    } else if let Some(sig) = status.terminating_signal() {
        (sig as u32 & 0x7f) | if status.dumped() { 0x80 } else { 0 }
    } else {
        0
    }
}

/// A program has ended: report it, and reap it if it was released.
fn ended(spawner: &Spawner, pid: u32, status: u32) {
    let mut programs = spawner.programs();
    let Some(program) = programs.get_mut(&pid) else { return };
    if program.ended {
        return;
    }
    program.ended = true;
    if let Some(fd) = program.pidfd.take() {
        let _ = epoll::delete(&spawner.epoll, &fd);
    }
    if program.released {
        programs.remove(&pid);
        reap(pid);
    }
    let mut m = Vec::new();
    m.put_u32(EXITED);
    m.put_u32(pid);
    m.put_u32(status);
    spawner.send(&m);
}

/// The server has let a program go: reap it now if it has ended, else as
/// soon as it ends.
fn release(spawner: &Spawner, pid: u32) {
    let mut programs = spawner.programs();
    let Some(program) = programs.get_mut(&pid) else { return };
    if program.ended {
        programs.remove(&pid);
        reap(pid);
    } else {
        program.released = true;
    }
}

/// Collects an ended program (a zombie, so this does not block).
fn reap(pid: u32) {
    if let Some(p) = Pid::from_raw(pid as i32) {
        let _ = rustix::process::waitpid(Some(p), WaitOptions::NOHANG);
    }
}

/// Starts the program (in the spawner).
fn run(plan: Plan, fds: Vec<OwnedFd>) -> io::Result<u32> {
    let stdio: [OwnedFd; 3] = fds
        .try_into()
        .map_err(|_| io::Error::other("spawn request without its three descriptors"))?;
    let child = plan.command(stdio).spawn()?;
    // Watched through its pidfd and reaped on release; never waited for
    // through `child`.
    Ok(child.id())
}

/// Tests only (debug builds): a program whose environment has
/// `TOBIRA_TEST_HOLD_START_MS=N` is started N ms late (at most 60 s), as
/// if its set-up hung before exec, so that tests can check that it holds
/// up nobody else's. Release builds have no such thing.
#[cfg(debug_assertions)]
fn test_hold(plan: &Plan) {
    use std::os::unix::ffi::OsStrExt;
    let ms = plan
        .env
        .iter()
        .find(|(k, _)| k.as_bytes() == b"TOBIRA_TEST_HOLD_START_MS")
        .and_then(|(_, v)| std::str::from_utf8(v.as_bytes()).ok()?.parse::<u64>().ok());
    if let Some(ms) = ms {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(60_000)));
    }
}
