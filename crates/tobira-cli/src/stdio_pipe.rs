//! What the client's standard input and output share when they are pipes
//! read and written non-blocking ([`crate::input`], [`crate::output`]):
//! telling a pipe from anything else, and putting its blocking mode back.
//!
//! `O_NONBLOCK` belongs to the open pipe, not to our descriptor: every
//! process that holds the same end sees it. So, as ssh(1) does with its
//! standard descriptors, the mode a pipe had is put back when we are done
//! with it, and a pipe that is also our standard error (`2>&1`) is never
//! made non-blocking (`eprintln!` and the command's errors are written
//! there with blocking writes, which would fail with EAGAIN).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// `fd` is a pipe (or a named FIFO).
pub(crate) fn is_fifo(fd: BorrowedFd<'_>) -> bool {
    use nix::sys::stat::{fstat, SFlag};
    fstat(fd.as_raw_fd())
        .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO)
        .unwrap_or(false)
}

/// `a` and `b` are the same file (device and inode): for a pipe, either of
/// its ends under another descriptor.
fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    use nix::sys::stat::fstat;
    match (fstat(a.as_raw_fd()), fstat(b.as_raw_fd())) {
        (Ok(x), Ok(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}

/// Descriptor `fd` (0 or 1) of this process may be made non-blocking: it
/// is a pipe, and not the same pipe as either of the other two standard
/// descriptors (their blocking users would see EAGAIN).
pub(crate) fn may_go_non_blocking(fd: BorrowedFd<'_>) -> bool {
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let std = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    is_fifo(fd)
        && std
            .iter()
            .filter(|o| o.as_raw_fd() != fd.as_raw_fd())
            .all(|o| !same_file(fd, *o))
}

/// Puts back a pipe's blocking mode when dropped, unless it was already
/// non-blocking when this was made (then whoever set it wants it so).
/// Holds a duplicate of the descriptor, so it works whenever it is
/// dropped.
pub(crate) struct RestoreBlocking {
    fd: OwnedFd,
    was_non_blocking: bool,
}

impl RestoreBlocking {
    /// Notes `fd`'s mode now, before anything changes it.
    pub(crate) fn note(fd: BorrowedFd<'_>) -> std::io::Result<Self> {
        let fd = fd.try_clone_to_owned()?;
        let was_non_blocking = non_blocking(fd.as_fd())?;
        Ok(RestoreBlocking { fd, was_non_blocking })
    }
}

impl Drop for RestoreBlocking {
    fn drop(&mut self) {
        if self.was_non_blocking {
            return;
        }
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        if let Ok(flags) = fcntl(self.fd.as_raw_fd(), FcntlArg::F_GETFL) {
            let blocking = OFlag::from_bits_truncate(flags) - OFlag::O_NONBLOCK;
            let _ = fcntl(self.fd.as_raw_fd(), FcntlArg::F_SETFL(blocking));
        }
    }
}

/// `fd`'s open file has `O_NONBLOCK`.
fn non_blocking(fd: BorrowedFd<'_>) -> std::io::Result<bool> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?;
    Ok(OFlag::from_bits_truncate(flags).contains(OFlag::O_NONBLOCK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_mode_is_put_back_only_when_it_was_blocking() {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        assert!(is_fifo(r.as_fd()) && is_fifo(w.as_fd()));
        assert!(same_file(r.as_fd(), w.as_fd()), "both ends are one pipe");
        // Blocking before: blocking again after.
        let guard = RestoreBlocking::note(r.as_fd()).unwrap();
        fcntl(r.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        drop(guard);
        assert!(!non_blocking(r.as_fd()).unwrap());
        // Non-blocking before: left so.
        fcntl(w.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        drop(RestoreBlocking::note(w.as_fd()).unwrap());
        assert!(non_blocking(w.as_fd()).unwrap());
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(!is_fifo(file.as_fd()));
        assert!(!same_file(r.as_fd(), file.as_fd()));
    }
}
