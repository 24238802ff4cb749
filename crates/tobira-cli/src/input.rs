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

/// Bytes asked for per read: a little under the 64 KiB a pipe holds by
/// default. Measured in `bench/` on 2 cores (`head -c 2G /dev/zero |
/// tobira … 'cat >/dev/null'`, aes128-gcm): about 1,600 MiB/s this way,
/// against 1,100–1,300 with the pipe enlarged to 1 MiB and 256 KiB reads,
/// and less with reads that empty the pipe to the byte. A larger pipe
/// lets the writer (4 KiB at a time for `head` and stdio) and this
/// thread contend for the pipe's lock over long copies; so the pipe is
/// left as it is.
const READ_SIZE: usize = 64 * 1024 - tobira_proto::transport::packet::PADDING_ROOM;
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
    std::thread::Builder::new().name("stdin".into()).spawn(move || {
        loop {
            // A read fills the buffer's spare capacity, so a larger spare
            // buffer would make a larger read: those are left to be freed.
            let mut buf = spare
                .try_recv()
                .ok()
                .filter(|b| b.capacity() <= READ_SIZE)
                .unwrap_or_default();
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
                        // Keystrokes: no 64 KiB buffer per byte typed
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
