//! Descriptors the server inherited from whoever started it.
//!
//! Everything tobirad opens itself is close-on-exec (Rust's standard
//! library and tokio open that way), but a descriptor its parent left open
//! without `FD_CLOEXEC` (a shell's `exec 7<file`, a supervisor's log pipe)
//! would otherwise reach every session program, which could read or write
//! it as the logged-in user. sshd closes such descriptors at start-up
//! (`closefrom(STDERR_FILENO + 1)`); tobirad marks them close-on-exec, so
//! that they stay usable by the server itself but no program inherits them.
//!
//! This covers what the server was started with. What a C library opens
//! later without close-on-exec (an NSS module, say) is marked in each
//! program's child before exec (`close_range` in `pty::ChildSetup::run`).

use std::os::fd::RawFd;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

/// Marks every open descriptor above standard error close-on-exec and
/// returns how many it marked. Call it first thing in `main`, before any
/// program is started. Descriptors are listed from `/proc/self/fd`; without
/// `/proc` every number below the soft `RLIMIT_NOFILE` is tried (at most
/// 1,048,576).
pub fn close_inherited_on_exec() -> usize {
    let listed: Option<Vec<RawFd>> = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect());
    let fds = listed.unwrap_or_else(|| {
        let soft =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
        let limit = RawFd::try_from(soft.min(1 << 20)).unwrap_or(1024);
        (0..limit).collect()
    });
    fds.into_iter()
        .filter(|&fd| fd > 2)
        .filter(|&fd| {
            // The directory's own descriptor is gone by now: EBADF, skipped.
            match fcntl(fd, FcntlArg::F_GETFD) {
                Ok(flags) => {
                    let flags = FdFlag::from_bits_truncate(flags);
                    !flags.contains(FdFlag::FD_CLOEXEC)
                        && fcntl(fd, FcntlArg::F_SETFD(flags | FdFlag::FD_CLOEXEC)).is_ok()
                }
                Err(_) => false,
            }
        })
        .count()
}
