//! Pseudo-terminals for server sessions (RFC 4254 §6.2 "pty-req", §6.7
//! "window-change", §8 encoded terminal modes) and the child-side setup that
//! sshd(8) does between fork and exec (new session, controlling terminal,
//! setgid/initgroups/setuid, chdir to the home directory).
//!
//! This is the only module of the crate besides [`crate::crypt`] with
//! `unsafe` code, in three places: `install_child_setup`, which registers
//! the pre-exec hook with `Command::pre_exec` (unsafe because the hook runs
//! in the forked child, where only async-signal-safe calls are allowed); the
//! resetting of signal dispositions inside that hook (`sigaction` is unsafe
//! in nix because a handler could be any function); and the registration of
//! the master with tokio's reactor (`AsyncFd::register`, unsafe because the
//! descriptor must stay open while registered). Everything else goes
//! through rustix's and nix's safe wrappers; [`crate::process`] builds on
//! this module and is safe code.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use nix::unistd::{Gid, Uid};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pty::OpenptFlags;
use rustix::termios::{ControlModes, InputModes, LocalModes, OptionalActions, OutputModes, SpecialCodeIndex, Termios};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The window size of RFC 4254 §6.2/§6.7 as the kernel's `struct winsize`.
/// Values beyond 65535 (the kernel's field size) are clamped.
fn winsize(cols: u32, rows: u32, width_px: u32, height_px: u32) -> rustix::termios::Winsize {
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    rustix::termios::Winsize {
        ws_row: clamp(rows),
        ws_col: clamp(cols),
        ws_xpixel: clamp(width_px),
        ws_ypixel: clamp(height_px),
    }
}

/// A freshly opened pseudo-terminal pair: the master side the server keeps,
/// the slave side the session's program gets as its controlling terminal.
pub(crate) struct Pty {
    /// Master side (`/dev/ptmx`), blocking, close-on-exec.
    pub(crate) master: OwnedFd,
    /// Slave side, opened without becoming our controlling terminal,
    /// close-on-exec (the child gets it through dup2 onto 0/1/2).
    pub(crate) slave: OwnedFd,
    /// Path of the slave (`/dev/pts/N`), for `SSH_TTY`.
    pub(crate) path: PathBuf,
}

impl Pty {
    /// Opens a pseudo-terminal as sshd(8) does for a "pty-req" (RFC 4254
    /// §6.2): `posix_openpt`, `grantpt`, `unlockpt`, `ptsname`, open the
    /// slave, set the window size, apply the encoded terminal modes (§8).
    /// Modes the platform does not have are ignored, as are failures to apply
    /// them (sshd only logs those).
    pub(crate) fn open(cols: u32, rows: u32, width_px: u32, height_px: u32, modes: &[(u8, u32)]) -> io::Result<Pty> {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let name = rustix::pty::ptsname(&master, Vec::new())?;
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        rustix::termios::tcsetwinsize(&slave, winsize(cols, rows, width_px, height_px))?;
        if !modes.is_empty() {
            match rustix::termios::tcgetattr(&slave) {
                Ok(mut tio) => {
                    apply_modes(&mut tio, modes);
                    if let Err(e) = rustix::termios::tcsetattr(&slave, OptionalActions::Now, &tio) {
                        tracing::debug!("pty: tcsetattr: {e}");
                    }
                }
                Err(e) => tracing::debug!("pty: tcgetattr: {e}"),
            }
        }
        let path = PathBuf::from(OsString::from_vec(name.into_bytes()));
        Ok(Pty { master, slave, path })
    }

    /// Gives the slave to the session's user as sshd(8)'s `pty_setowner`
    /// does: owner the user, group `tty` with mode 0620 when that group
    /// exists (so `write(1)` works), else the user's group with mode 0600.
    pub(crate) fn set_owner(&self, uid: u32, gid: u32) -> io::Result<()> {
        let (group, mode) = match nix::unistd::Group::from_name("tty") {
            Ok(Some(g)) => (g.gid.as_raw(), 0o620),
            _ => (gid, 0o600),
        };
        rustix::fs::fchown(
            &self.slave,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(group)),
        )?;
        rustix::fs::fchmod(&self.slave, Mode::from_raw_mode(mode))?;
        Ok(())
    }
}

/// Applies RFC 4254 §8 encoded terminal modes (opcode, argument) to `tio`,
/// with OpenSSH's meaning (ttymodes.c): control characters take the
/// character code, 255 meaning "disabled"; flags are set for a non-zero
/// argument and cleared for zero; `TTY_OP_ISPEED`/`TTY_OP_OSPEED` carry the
/// baud rate. Opcodes this platform has no equivalent for are ignored, as
/// RFC 4254 §8 asks, and so is every opcode from 160 on (undefined).
fn apply_modes(tio: &mut Termios, modes: &[(u8, u32)]) {
    for &(op, arg) in modes {
        if let Some(idx) = special_char(op) {
            // 255 is how OpenSSH encodes _POSIX_VDISABLE (0 on Linux).
            tio.special_codes[idx] = match arg {
                255 => 0,
                v => match u8::try_from(v) {
                    Ok(c) => c,
                    Err(_) => continue,
                },
            };
            continue;
        }
        let on = arg != 0;
        macro_rules! flag {
            ($field:ident, $flag:expr) => {
                tio.$field.set($flag, on)
            };
        }
        match op {
            30 => flag!(input_modes, InputModes::IGNPAR),
            31 => flag!(input_modes, InputModes::PARMRK),
            32 => flag!(input_modes, InputModes::INPCK),
            33 => flag!(input_modes, InputModes::ISTRIP),
            34 => flag!(input_modes, InputModes::INLCR),
            35 => flag!(input_modes, InputModes::IGNCR),
            36 => flag!(input_modes, InputModes::ICRNL),
            37 => flag!(input_modes, InputModes::IUCLC),
            38 => flag!(input_modes, InputModes::IXON),
            39 => flag!(input_modes, InputModes::IXANY),
            40 => flag!(input_modes, InputModes::IXOFF),
            41 => flag!(input_modes, InputModes::IMAXBEL),
            42 => flag!(input_modes, InputModes::IUTF8), // RFC 8160
            50 => flag!(local_modes, LocalModes::ISIG),
            51 => flag!(local_modes, LocalModes::ICANON),
            52 => flag!(local_modes, LocalModes::XCASE),
            53 => flag!(local_modes, LocalModes::ECHO),
            54 => flag!(local_modes, LocalModes::ECHOE),
            55 => flag!(local_modes, LocalModes::ECHOK),
            56 => flag!(local_modes, LocalModes::ECHONL),
            57 => flag!(local_modes, LocalModes::NOFLSH),
            58 => flag!(local_modes, LocalModes::TOSTOP),
            59 => flag!(local_modes, LocalModes::IEXTEN),
            60 => flag!(local_modes, LocalModes::ECHOCTL),
            61 => flag!(local_modes, LocalModes::ECHOKE),
            62 => flag!(local_modes, LocalModes::PENDIN),
            70 => flag!(output_modes, OutputModes::OPOST),
            71 => flag!(output_modes, OutputModes::OLCUC),
            72 => flag!(output_modes, OutputModes::ONLCR),
            73 => flag!(output_modes, OutputModes::OCRNL),
            74 => flag!(output_modes, OutputModes::ONOCR),
            75 => flag!(output_modes, OutputModes::ONLRET),
            // CS7 and CS8 are values of the CSIZE field, not independent
            // bits: a set one selects that character size, a cleared one
            // leaves the size to the other opcode.
            90 | 91 if on => {
                let size = if op == 90 { ControlModes::CS7 } else { ControlModes::CS8 };
                tio.control_modes.remove(ControlModes::CSIZE);
                tio.control_modes.insert(size);
            }
            92 => flag!(control_modes, ControlModes::PARENB),
            93 => flag!(control_modes, ControlModes::PARODD),
            128 => {
                let _ = tio.set_input_speed(arg);
            }
            129 => {
                let _ = tio.set_output_speed(arg);
            }
            _ => {}
        }
    }
}

/// The control character an RFC 4254 §8 opcode 1–18 names, when Linux has
/// it (VDSUSP 11, VFLUSH 15 and VSTATUS 17 it does not).
fn special_char(op: u8) -> Option<SpecialCodeIndex> {
    Some(match op {
        1 => SpecialCodeIndex::VINTR,
        2 => SpecialCodeIndex::VQUIT,
        3 => SpecialCodeIndex::VERASE,
        4 => SpecialCodeIndex::VKILL,
        5 => SpecialCodeIndex::VEOF,
        6 => SpecialCodeIndex::VEOL,
        7 => SpecialCodeIndex::VEOL2,
        8 => SpecialCodeIndex::VSTART,
        9 => SpecialCodeIndex::VSTOP,
        10 => SpecialCodeIndex::VSUSP,
        12 => SpecialCodeIndex::VREPRINT,
        13 => SpecialCodeIndex::VWERASE,
        14 => SpecialCodeIndex::VLNEXT,
        16 => SpecialCodeIndex::VSWTC,
        18 => SpecialCodeIndex::VDISCARD,
        _ => return None,
    })
}

/// Sets the window size on a pty master (`TIOCSWINSZ`); the kernel then
/// sends SIGWINCH to the terminal's foreground process group.
pub(crate) fn set_window_size(
    fd: BorrowedFd<'_>,
    cols: u32,
    rows: u32,
    width_px: u32,
    height_px: u32,
) -> io::Result<()> {
    rustix::termios::tcsetwinsize(fd, winsize(cols, rows, width_px, height_px))?;
    Ok(())
}

/// The server's side of a session's pseudo-terminal (RFC 4254 §6.2): what
/// the program writes to its terminal is read here, what is written here is
/// the program's terminal input, as sshd(8) relays between the channel and
/// the pty master.
///
/// Reading and writing are independent, so the session driver can do both
/// at once: through `&PtyMaster` (both [`AsyncRead`] and [`AsyncWrite`] are
/// implemented for shared references, like tokio's `TcpStream`), or with
/// owned halves from [`PtyMaster::into_split`]. Reads end (return 0 bytes)
/// once every process has closed the slave side (Linux reports `EIO` then).
/// Must be created and used inside a tokio runtime.
#[derive(Debug)]
pub struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
}

impl PtyMaster {
    /// Wraps a pty master: makes it non-blocking and registers it with the
    /// tokio reactor.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<PtyMaster> {
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
        // SAFETY: `fd` is an owned, open descriptor; the AsyncFd takes
        // ownership and nothing closes or replaces it while registered (only
        // shared references to it are handed out).
        let fd = unsafe { AsyncFd::register(fd)? };
        Ok(PtyMaster { fd })
    }

    /// Sets the terminal's window size, as on an RFC 4254 §6.7
    /// "window-change" request: the program gets SIGWINCH.
    pub fn set_window_size(&self, cols: u32, rows: u32, width_px: u32, height_px: u32) -> io::Result<()> {
        set_window_size(self.fd.get_ref().as_fd(), cols, rows, width_px, height_px)
    }

    /// Splits into a read half and a write half that can be moved to
    /// different tasks (the session driver's output and input pumps).
    pub fn into_split(self) -> (PtyReadHalf, PtyWriteHalf) {
        let shared = Arc::new(self);
        (PtyReadHalf(shared.clone()), PtyWriteHalf(shared))
    }

    fn poll_read_inner(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut *unfilled).map_err(io::Error::from)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // The slave side is closed by everyone: end of output.
                Ok(Err(e)) if e.raw_os_error() == Some(Errno::IO.raw_os_error()) => return Poll::Ready(Ok(())),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_write_inner(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| rustix::io::write(fd.get_ref(), buf).map_err(io::Error::from)) {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsFd for PtyMaster {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

impl AsRawFd for PtyMaster {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }
}

impl AsyncRead for PtyMaster {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.poll_read_inner(cx, buf)
    }
}

impl AsyncRead for &PtyMaster {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.poll_read_inner(cx, buf)
    }
}

/// Writes go straight to the terminal's input queue; `flush` has nothing
/// to do and `shutdown` nothing to close (a terminal has no half-close: the
/// end of input is the VEOF character in canonical mode).
impl AsyncWrite for PtyMaster {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_inner(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// As for [`PtyMaster`].
impl AsyncWrite for &PtyMaster {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_inner(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The reading half of a [`PtyMaster`] (the program's terminal output),
/// from [`PtyMaster::into_split`].
#[derive(Debug)]
pub struct PtyReadHalf(Arc<PtyMaster>);

/// The writing half of a [`PtyMaster`] (the program's terminal input),
/// from [`PtyMaster::into_split`]; it can also resize the window (RFC 4254
/// §6.7) through [`PtyWriteHalf::master`].
#[derive(Debug)]
pub struct PtyWriteHalf(Arc<PtyMaster>);

impl PtyReadHalf {
    /// The whole master, e.g. for [`PtyMaster::set_window_size`].
    pub fn master(&self) -> &PtyMaster {
        &self.0
    }
}

impl PtyWriteHalf {
    /// The whole master, e.g. for [`PtyMaster::set_window_size`].
    pub fn master(&self) -> &PtyMaster {
        &self.0
    }
}

impl AsyncRead for PtyReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.0.poll_read_inner(cx, buf)
    }
}

/// As for [`PtyMaster`]: `flush` and `shutdown` do nothing.
impl AsyncWrite for PtyWriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.0.poll_write_inner(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The user a session's program runs as, resolved before the fork so that
/// the child does no lookups (sshd(8)'s `do_setusercontext` and
/// `permanently_set_uid`).
pub(crate) struct Credentials {
    /// Target user id.
    pub(crate) uid: u32,
    /// Target primary group id.
    pub(crate) gid: u32,
    /// The full group list `initgroups(3)` would set (from
    /// `getgrouplist(3)`, primary group included).
    pub(crate) groups: Vec<Gid>,
    /// The server's real uid and gid before the switch, to check they
    /// cannot be regained.
    pub(crate) old_uid: u32,
    /// See `old_uid`.
    pub(crate) old_gid: u32,
}

/// Everything the child does between fork and exec, prepared in the parent
/// so the child only makes system calls: no allocation, no locks, no NSS
/// lookups (only async-signal-safe functions may run after a fork in a
/// multi-threaded process).
pub(crate) struct ChildSetup {
    /// Make fd 0 (the pty slave, already dup2'ed there by std) the
    /// controlling terminal of the new session.
    pub(crate) controlling_tty: bool,
    /// Switch to this user (setgid, setgroups, setuid), when running as root.
    pub(crate) creds: Option<Credentials>,
    /// The directory to start in: the user's home.
    pub(crate) home: CString,
    /// sshd's message when the home directory is unusable, up to the reason:
    /// "Could not chdir to home directory HOME: ".
    pub(crate) chdir_message: Vec<u8>,
}

/// Signals whose disposition is reset to the default in the child: only an
/// ignored signal (SIG_IGN) survives exec, and the server may ignore some of
/// these; handlers are reset by exec anyway. std resets SIGPIPE; the
/// signal mask, which std leaves as the forking thread had it (the spawner
/// blocks SIGCHLD), is emptied in [`ChildSetup::run`].
const RESET_SIGNALS: [nix::sys::signal::Signal; 11] = {
    use nix::sys::signal::Signal::*;
    [
        SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU,
    ]
};

impl ChildSetup {
    /// Runs in the forked child, after std has dup2'ed the stdio fds onto
    /// 0/1/2 and before exec. Async-signal-safe: only system calls through
    /// nix/rustix on data prepared before the fork, and `io::Error`s made
    /// from raw errno values (no allocation). An error aborts the spawn: std
    /// reports it to the parent as the error of `spawn`.
    fn run(&self) -> io::Result<()> {
        use nix::sys::signal::{signal, SigHandler};
        for sig in RESET_SIGNALS {
            // SAFETY: SIG_DFL installs no handler function, so no Rust code
            // can be called asynchronously; sigaction is async-signal-safe.
            let _ = unsafe { signal(sig, SigHandler::SigDfl) };
        }
        // The program starts with no signal blocked, as sshd's children do
        // (pthread_sigmask is async-signal-safe).
        nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&nix::sys::signal::SigSet::empty()),
            None,
        )?;
        // No descriptor but 0, 1 and 2 reaches the program (sshd closes the
        // rest in its child): whatever the server or a library it uses left
        // open without close-on-exec is marked so now. Marked rather than
        // closed, because std's pipe that reports a failed exec must stay
        // open until the exec. Kernels before 5.11 refuse the flag; then
        // only the marking tobirad did at start-up applies.
        #[cfg(target_os = "linux")]
        {
            use nix::libc;
            // SAFETY: a raw system call with integer arguments only, no
            // pointers; close_range(2) is async-signal-safe.
            let _ = unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    3 as libc::c_uint,
                    libc::c_uint::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                )
            };
        }
        // A new session and process group (sshd: setsid in the child), so
        // the program has no controlling terminal but its pty, and the
        // server can signal the whole group.
        rustix::process::setsid()?;
        if self.controlling_tty {
            rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
        }
        if let Some(c) = &self.creds {
            // sshd's order: group first, then the group list (initgroups),
            // then the uid, after which none of this is allowed any more.
            nix::unistd::setgid(Gid::from_raw(c.gid))?;
            nix::unistd::setgroups(&c.groups)?;
            nix::unistd::setuid(Uid::from_raw(c.uid))?;
            // permanently_set_uid's checks: the old ids cannot be regained,
            // and the real and effective ids are the user's.
            let perm = || io::Error::from_raw_os_error(Errno::PERM.raw_os_error());
            if c.uid != c.old_uid
                && (nix::unistd::setuid(Uid::from_raw(c.old_uid)).is_ok()
                    || nix::unistd::seteuid(Uid::from_raw(c.old_uid)).is_ok())
            {
                return Err(perm());
            }
            if c.gid != c.old_gid
                && c.uid != 0
                && (nix::unistd::setgid(Gid::from_raw(c.old_gid)).is_ok()
                    || nix::unistd::setegid(Gid::from_raw(c.old_gid)).is_ok())
            {
                return Err(perm());
            }
            if nix::unistd::getuid().as_raw() != c.uid
                || nix::unistd::geteuid().as_raw() != c.uid
                || nix::unistd::getgid().as_raw() != c.gid
                || nix::unistd::getegid().as_raw() != c.gid
            {
                return Err(perm());
            }
        }
        // As the user (so that root-squashed network homes work), as sshd.
        if let Err(e) = rustix::process::chdir(self.home.as_c_str()) {
            let stderr = rustix::stdio::stderr();
            let _ = rustix::io::write(stderr, &self.chdir_message);
            let _ = rustix::io::write(stderr, errno_text(e).as_bytes());
            let _ = rustix::io::write(stderr, b"\n");
            rustix::process::chdir(c"/")?;
        }
        Ok(())
    }
}

/// strerror(3)'s text for the errors chdir(2) reports, without allocating
/// (strerror itself is not async-signal-safe).
fn errno_text(e: Errno) -> &'static str {
    match e {
        Errno::NOENT => "No such file or directory",
        Errno::ACCESS => "Permission denied",
        Errno::NOTDIR => "Not a directory",
        Errno::LOOP => "Too many levels of symbolic links",
        Errno::NAMETOOLONG => "File name too long",
        Errno::IO => "Input/output error",
        Errno::NOMEM => "Cannot allocate memory",
        _ => "Unknown error",
    }
}

/// Registers `setup` to run in the child between fork and exec (see
/// [`ChildSetup::run`]). With a pre-exec hook std forks instead of using
/// posix_spawn; the hook runs after std's stdio redirection.
pub(crate) fn install_child_setup(cmd: &mut std::process::Command, setup: ChildSetup) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook only calls async-signal-safe functions (raw system
    // calls through rustix and nix on data prepared before the fork, see
    // `ChildSetup::run`); it allocates nothing, takes no lock, and touches
    // no state shared with other threads of the parent.
    unsafe {
        cmd.pre_exec(move || setup.run());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_termios() {
        let pty = Pty::open(80, 24, 0, 0, &[]).expect("open pty");
        let mut tio = rustix::termios::tcgetattr(&pty.slave).expect("tcgetattr");
        apply_modes(
            &mut tio,
            &[
                (1, 3),
                (3, 255),
                (4, 1000),
                (53, 0),
                (42, 1),
                (91, 1),
                (90, 0),
                (72, 0),
                (11, 25),
                (200, 1),
                (128, 38400),
            ],
        );
        assert_eq!(tio.special_codes[SpecialCodeIndex::VINTR], 3);
        assert_eq!(tio.special_codes[SpecialCodeIndex::VERASE], 0);
        assert!(!tio.local_modes.contains(LocalModes::ECHO));
        assert!(tio.input_modes.contains(InputModes::IUTF8));
        assert!(tio.control_modes.contains(ControlModes::CS8));
        assert!(!tio.output_modes.contains(OutputModes::ONLCR));
        assert_eq!(tio.input_speed(), 38400);
        rustix::termios::tcsetattr(&pty.slave, OptionalActions::Now, &tio).expect("tcsetattr");
        let back = rustix::termios::tcgetattr(&pty.slave).expect("tcgetattr");
        assert!(!back.local_modes.contains(LocalModes::ECHO));
    }

    #[test]
    fn window_size_is_clamped() {
        let ws = winsize(100_000, 40, 1, 2);
        assert_eq!((ws.ws_col, ws.ws_row, ws.ws_xpixel, ws.ws_ypixel), (u16::MAX, 40, 1, 2));
    }

    #[test]
    fn open_sets_size() {
        let pty = Pty::open(132, 50, 0, 0, &[(53, 0)]).expect("open pty");
        let ws = rustix::termios::tcgetwinsize(&pty.slave).expect("tcgetwinsize");
        assert_eq!((ws.ws_col, ws.ws_row), (132, 50));
        assert!(pty.path.starts_with("/dev/pts"));
    }
}
