//! The client's standard input, read by a thread of its own.
//!
//! `tokio::io::stdin` hands every read to the blocking pool, one thread
//! hop per chunk; uploads through tobira ran at about half the speed of
//! `ssh` in `bench/` because of it. Here a thread reads descriptor 0 with
//! plain blocking reads into large buffers and hands the chunks to the
//! session through a bounded queue, which is also the backpressure: the
//! session takes a chunk only while the channel has room.

use std::os::fd::AsFd;

use tokio::sync::mpsc;

/// Room offered per read, at least: a pipe enlarged to 1 MiB gives up to
/// this much per system call. A buffer that comes back from the connection
/// may be larger (up to 512 KiB), and a read fills all of it.
const READ_SIZE: usize = 256 * 1024;
/// The pipe size asked for when standard input is a pipe (Linux'
/// `pipe-max-size` default for unprivileged users).
const PIPE_SIZE: i32 = 1024 * 1024;
/// Chunks in flight between the thread and the session (the channel to
/// create for [`spawn_stdin_reader`]), and spare buffers on their way back.
pub const QUEUE: usize = 4;

/// Starts the reader thread. It sends `Some(bytes)` per read and `None`
/// at end of file or on an error, then stops; it also stops when the
/// receiver is dropped (after its current read returns). It reads into
/// the buffers that come back through `spare` (sent data the connection
/// is done with, see `Connection::spare_buffer`) when there are any, so
/// that bulk input reuses memory that is already mapped.
pub fn spawn_stdin_reader(
    tx: mpsc::Sender<Option<Vec<u8>>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    enlarge_pipe(&fd);
    std::thread::Builder::new().name("stdin".into()).spawn(move || {
        loop {
            let mut buf = spare.try_recv().unwrap_or_default();
            buf.clear();
            buf.reserve_exact(READ_SIZE);
            // The read fills the buffer's spare capacity directly: nothing
            // is zeroed first (that memset was 3.6 % of an upload's CPU).
            match read_retrying(&fd, &mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
                Ok(n) => {
                    if n < READ_SIZE / 4 {
                        // Keystrokes: no 256 KiB buffer per byte typed
                        // (room left for the padding of its packet, see
                        // `Sealer::seal_parts`).
                        buf.shrink_to(n + tobira_proto::transport::packet::PADDING_ROOM);
                    }
                    if tx.blocking_send(Some(buf)).is_err() {
                        return;
                    }
                }
            }
        }
    })?;
    Ok(())
}

/// Reads once from `fd` into the spare capacity of `buf` (whose length
/// grows by the count returned), again when a signal interrupts it, and
/// after waiting for input when the descriptor is non-blocking (a shell
/// or a parent program may have left it so).
fn read_retrying(fd: &std::os::fd::OwnedFd, buf: &mut Vec<u8>) -> rustix::io::Result<usize> {
    use rustix::event::{poll, PollFd, PollFlags};
    loop {
        match rustix::io::read(fd, rustix::buffer::spare_capacity(buf)) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => match poll(&mut [PollFd::new(fd, PollFlags::IN)], None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e),
            },
            r => return r,
        }
    }
}

/// Asks for a larger pipe buffer when `fd` is a pipe, so that the writer
/// on the other end (`tar`, `head`, a backup tool) can hand over more per
/// system call. Anything else, or a refusal, leaves it as it is.
fn enlarge_pipe(fd: &std::os::fd::OwnedFd) {
    use nix::sys::stat::{fstat, SFlag};
    use std::os::fd::AsRawFd;
    let is_fifo = fstat(fd.as_raw_fd())
        .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO)
        .unwrap_or(false);
    if is_fifo {
        let _ = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    }
}
