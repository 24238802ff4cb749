//! `-f`: going to the background once logged in, as `ssh -f` does.
//!
//! ssh forks after authentication; tobira by then runs threads, and
//! `fork(2)` of a threaded process is unsafe. So the client starts a copy
//! of itself at once, with [`CHILD_FLAG`] and its standard input the
//! write end of a pipe, and waits. The copy connects and authenticates
//! (asking for a password on the terminal if need be: it is still in
//! the terminal's foreground process group), sets up its forwards (and,
//! with `ExitOnForwardFailure`, waits for the server to accept its remote
//! ones), then [`detach`]es: a session of its own (`setsid`), away from
//! the terminal's signals; `/dev/null` as standard input (`-f` implies
//! `-n`, as in ssh), standard output and, unless `-v`, standard error
//! (the session keeps its own copies, as ssh's channel does); then one
//! byte on that pipe. The first process exits 0 on that byte, or with the
//! copy's status if the copy ends before it. So `out=$(tobira -f -N …)`
//! returns at once, as with ssh.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Command, Stdio};

/// The hidden flag that marks the copy.
pub const CHILD_FLAG: &str = "--background-child";

/// Starts the copy with our arguments and waits until it has detached
/// (exit status 0) or ended (its status; 255 when it was killed or could
/// not start).
pub fn start_and_wait() -> u8 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let (mut ready, notify) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let spawned = {
        let mut c = Command::new(exe);
        c.arg(CHILD_FLAG)
            .args(std::env::args_os().skip(1))
            .stdin(Stdio::from(notify));
        c.spawn()
        // `c`, and with it our copy of the write end, is dropped here:
        // the copy holds the only one, so its end is our end of file.
    };
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let mut byte = [0u8; 1];
    loop {
        match ready.read(&mut byte) {
            Ok(1) => return 0,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => break,
        }
    }
    match child.wait() {
        Ok(status) => status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(255),
        Err(_) => 255,
    }
}

fn fail(e: &std::io::Error) -> u8 {
    eprintln!("tobira: cannot go to the background: {e}");
    255
}

/// In the copy, once logged in: leaves the terminal's session, puts
/// `/dev/null` on standard input, output and (unless `keep_stderr`)
/// error, then lets the first process exit.
pub fn detach(keep_stderr: bool) {
    let notify = std::io::stdin().as_fd().try_clone_to_owned();
    let _ = nix::unistd::setsid();
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        let fds: &[i32] = if keep_stderr { &[0, 1] } else { &[0, 1, 2] };
        for &fd in fds {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
    if let Ok(fd) = notify {
        let _ = std::fs::File::from(fd).write_all(b"\n");
    }
}
