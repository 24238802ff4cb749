//! The client's standard input.
//!
//! A pipe (`tar c . | tobira host 'tar x'`, a program driving tobira) is
//! read where the session runs, non-blocking, as ssh(1) does: a chunk
//! that arrives goes out without waking another thread first
//! ([`PipeInput`]). A regular file (`tobira host 'cat > x' < file`) is
//! read there too, as ssh(1) reads it ([`FileInput`]). Anything else (a
//! terminal, `/dev/null`, a socket) is read by a thread of its own with
//! plain blocking reads (`spawn_stdin_reader`): `tokio::io::stdin` would
//! hand every read to the blocking pool, one thread hop per chunk
//! (uploads through tobira ran at about half the speed of `ssh` in
//! `bench/` with it). Either way the session takes a chunk only while the
//! channel has room, which is the backpressure.

use std::os::fd::{AsFd, AsRawFd};

use tobira_proto::transport::packet::PADDING_ROOM;
use tokio::sync::mpsc;

use crate::stdio_pipe::RestoreBlocking;

/// Room offered per read by the reader thread, at least: a pipe enlarged
/// to 1 MiB gives up to this much per system call. A buffer that comes
/// back from the connection may be larger (up to 512 KiB), and a read
/// fills all of it. Each chunk crosses from the thread to the session, so
/// fewer, larger chunks cost less there.
const READ_SIZE: usize = 256 * 1024;
/// Room offered per read on the session's thread ([`PipeInput`],
/// [`FileInput`]), at least, and less than twice that: one data packet at
/// the largest size OpenSSH and tobirad accept, as `ssh` reads it. Each
/// chunk is sealed and written before the next read, so the bytes stay in
/// the CPU's caches from the pipe to the socket and the receiver gets the
/// first packet while the next is read. Measured in `bench/`'s uploads
/// (`head -c 2G /dev/zero | tobira … 'cat >/dev/null'`, aes128-gcm, 2
/// cores, alternating runs): to sshd 807 MiB/s against 522 reading 256 KiB
/// from a 1 MiB pipe (`ssh`: 637), to tobirad 1,295 against 1,150. From a
/// 2 GiB file (`< file`), read so instead of by the thread: to sshd 985
/// against 780 (`ssh`: 968), to tobirad 1,493 against 1,285.
const INLINE_READ: usize = 32 * 1024;
/// The pipe size asked for when the reader thread reads a pipe (Linux'
/// `pipe-max-size` default for unprivileged users). A pipe read on the
/// session's thread keeps its size, as under `ssh`: enlarged to 1 MiB,
/// uploads from a writer of small pieces (`head -c`, 4 KiB; `tar`, 10 KiB)
/// ran at 600 and 588 MiB/s to sshd, against 807 and 696 at the default
/// 64 KiB; from `cat` (128 KiB writes) alike either way.
const PIPE_SIZE: i32 = 1024 * 1024;
/// Chunks in flight between the thread and the session (the channel to
/// create for [`spawn_stdin_reader`]), and spare buffers on their way back.
const QUEUE: usize = 4;

/// Starts the reader thread. It sends `Some(bytes)` per read and `None`
/// at end of file or on an error, then stops; it also stops when the
/// receiver is dropped (after its current read returns). It reads into
/// the buffers that come back through `spare` (sent data the connection
/// is done with, see `Connection::spare_buffer`) when there are any, so
/// that bulk input reuses memory that is already mapped.
fn spawn_stdin_reader(
    tx: mpsc::Sender<Option<Vec<u8>>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    enlarge_pipe(&fd);
    std::thread::Builder::new().name("stdin".into()).spawn(move || loop {
        let mut buf = read_buffer(spare.try_recv().ok(), READ_SIZE);
        match read_retrying(&fd, &mut buf) {
            Ok(0) | Err(_) => {
                let _ = tx.blocking_send(None);
                return;
            }
            Ok(_) => {
                trim_small_read(&mut buf);
                if tx.blocking_send(Some(buf)).is_err() {
                    return;
                }
            }
        }
    })?;
    Ok(())
}

/// An empty buffer with room for a read of at least `size`: `spare`
/// (memory already mapped) when there is one. The read fills its spare
/// capacity directly: nothing is zeroed first (that memset was 3.6 % of an
/// upload's CPU).
fn read_buffer(spare: Option<Vec<u8>>, size: usize) -> Vec<u8> {
    let mut buf = spare.unwrap_or_default();
    buf.clear();
    buf.reserve_exact(size);
    buf
}

/// After a small read (keystrokes): no 256 KiB buffer per byte typed, room
/// left for the padding of its packet (see `Sealer::seal_parts`).
fn trim_small_read(buf: &mut Vec<u8>) {
    if buf.len() < READ_SIZE / 4 {
        buf.shrink_to(buf.len() + PADDING_ROOM);
    }
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
    if crate::stdio_pipe::is_fifo(fd.as_fd()) {
        let _ = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    }
}

/// Standard input, read either way (see the module's documentation).
pub enum Stdin {
    /// A pipe, read on the session's thread.
    Pipe(PipeInput),
    /// A regular file, read on the session's thread.
    File(FileInput),
    /// Anything else, read by a thread of its own (`spawn_stdin_reader`).
    Thread {
        /// Chunks from the thread; `None` at the end.
        rx: mpsc::Receiver<Option<Vec<u8>>>,
        /// Sent buffers on their way back to the thread.
        spare: std::sync::mpsc::SyncSender<Vec<u8>>,
        /// The end was seen: nothing more comes.
        done: bool,
    },
    /// `-n`: nothing is read; the end comes at once.
    Null {
        /// The end was reported.
        done: bool,
    },
}

impl Stdin {
    /// Starts reading descriptor 0: [`PipeInput`] when it is a pipe,
    /// [`FileInput`] when it is a regular file, the thread otherwise; with
    /// `null` (`-n`), nothing (descriptor 0 is left alone, as ssh -n leaves
    /// it to whoever else reads it).
    pub fn start(null: bool) -> std::io::Result<Self> {
        let s = if null {
            Stdin::Null { done: false }
        } else if let Some(p) = PipeInput::open()? {
            Stdin::Pipe(p)
        } else if let Some(f) = FileInput::open()? {
            Stdin::File(f)
        } else {
            Self::thread()?
        };
        tracing::debug!("standard input: {}", s.describe());
        Ok(s)
    }

    /// How standard input is read, for the debug log (`-vv`).
    fn describe(&self) -> &'static str {
        match self {
            Stdin::Pipe(_) => "a pipe, read on the session's thread",
            Stdin::File(_) => "a regular file, read on the session's thread",
            Stdin::Thread { .. } => "read by a thread of its own",
            Stdin::Null { .. } => "not read (-n)",
        }
    }

    /// Descriptor 0 read by the thread (`spawn_stdin_reader`).
    fn thread() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (spare, spare_rx) = std::sync::mpsc::sync_channel(QUEUE);
        spawn_stdin_reader(tx, spare_rx)?;
        Ok(Stdin::Thread { rx, spare, done: false })
    }

    /// The next chunk read; `None` once, at end of file or on a read
    /// error, and after that it never completes. Cancel-safe: no input is
    /// lost when the future is dropped before it completes.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            return match self {
                Stdin::Pipe(p) => p.next().await,
                Stdin::File(f) => match f.next().await {
                    FileRead::Data(chunk) => Some(chunk),
                    FileRead::End => None,
                    // The thread goes on from the file's offset, waiting
                    // for input as it waits on a pipe.
                    FileRead::WouldBlock => {
                        match Self::thread() {
                            Ok(t) => {
                                *self = t;
                                tracing::debug!("standard input would block: now {}", self.describe());
                            }
                            Err(e) => {
                                tracing::debug!("standard input would block, and no thread to read it: {e}");
                                *self = Stdin::Null { done: false };
                            }
                        }
                        continue;
                    }
                },
                Stdin::Thread { rx, done, .. } => {
                    if !*done {
                        if let Some(Some(chunk)) = rx.recv().await {
                            return Some(chunk);
                        }
                        *done = true;
                        return None;
                    }
                    std::future::pending().await
                }
                Stdin::Null { done } => {
                    if !*done {
                        *done = true;
                        return None;
                    }
                    std::future::pending().await
                }
            };
        }
    }

    /// Offers a buffer the connection is done with for a later read; it
    /// comes back when there is no room for it.
    pub fn give_back(&mut self, buf: Vec<u8>) -> Result<(), Vec<u8>> {
        match self {
            Stdin::Pipe(p) => p.give_back(buf),
            Stdin::File(f) => f.spare.give_back(buf),
            Stdin::Thread { spare, .. } => spare.try_send(buf).map_err(|e| match e {
                std::sync::mpsc::TrySendError::Full(b) | std::sync::mpsc::TrySendError::Disconnected(b) => b,
            }),
            Stdin::Null { .. } => Err(buf),
        }
    }
}

/// Standard input when it is a pipe, made non-blocking and read on the
/// session's own thread when the reactor reports input (ssh(1) makes a
/// standard input that is not a terminal non-blocking too). Its blocking
/// mode is put back when this is dropped (see `stdio_pipe.rs`).
pub struct PipeInput {
    rx: tokio::net::unix::pipe::Receiver,
    /// Buffers to read into.
    spare: Spares,
    /// End of file or an error was seen.
    done: bool,
    /// Dropped after `rx`.
    _restore: RestoreBlocking,
}

impl PipeInput {
    /// Takes over descriptor 0 when it is a pipe open for reading that
    /// may go non-blocking (`stdio_pipe::may_go_non_blocking`);
    /// `Ok(None)` otherwise.
    pub fn open() -> std::io::Result<Option<Self>> {
        let stdin = std::io::stdin();
        if !crate::stdio_pipe::may_go_non_blocking(stdin.as_fd()) {
            return Ok(None);
        }
        Self::from_pipe(stdin.as_fd())
    }

    /// Reads `fd`, a pipe open for reading, from now on; `Ok(None)` when
    /// it cannot be registered with the reactor. The pipe keeps its size
    /// (see [`PIPE_SIZE`]).
    fn from_pipe(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<Option<Self>> {
        let restore = RestoreBlocking::note(fd)?;
        let fd = fd.try_clone_to_owned()?;
        // Checks that it is a pipe open for reading, sets O_NONBLOCK and
        // registers it; on failure `restore` puts the mode back, and the
        // thread reads it instead.
        let Ok(rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
            return Ok(None);
        };
        Ok(Some(PipeInput {
            rx,
            spare: Spares::default(),
            done: false,
            _restore: restore,
        }))
    }

    /// See [`Stdin::next`]. Each read offers at least [`INLINE_READ`] bytes
    /// of room and less than twice that, in a spare buffer when there is
    /// one.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        if self.done {
            return std::future::pending().await;
        }
        loop {
            if self.rx.readable().await.is_err() {
                self.done = true;
                return None;
            }
            let mut buf = self.spare.take();
            // At most INLINE_READ bytes, leaving the padding room free.
            match self.rx.try_read_buf(&mut bytes::BufMut::limit(&mut buf, INLINE_READ)) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => return Some(buf),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    // Back where it came from: the list has room for it.
                    let _ = self.spare.give_back(buf);
                }
                Err(_) => {
                    self.done = true;
                    return None;
                }
            }
        }
    }

    /// See [`Stdin::give_back`] and [`Spares`].
    pub fn give_back(&mut self, buf: Vec<u8>) -> Result<(), Vec<u8>> {
        self.spare.give_back(buf)
    }
}

/// Spare buffers for reads on the session's thread: sent data the
/// connection is done with, at most [`QUEUE`] of them, each with room for
/// less than two reads of [`INLINE_READ`].
#[derive(Default)]
struct Spares(Vec<Vec<u8>>);

impl Spares {
    /// An empty buffer with room for a read of [`INLINE_READ`] bytes and
    /// the padding of its packet after them: AES-GCM then seals the data
    /// from where it was read (see `Sealer::seal_parts`), without a copy.
    fn take(&mut self) -> Vec<u8> {
        read_buffer(self.0.pop(), INLINE_READ + PADDING_ROOM)
    }

    /// Keeps `buf` for a later read, or hands it back.
    fn give_back(&mut self, buf: Vec<u8>) -> Result<(), Vec<u8>> {
        if self.0.len() >= QUEUE || buf.capacity() >= 2 * INLINE_READ {
            return Err(buf);
        }
        self.0.push(buf);
        Ok(())
    }
}

/// Standard input when it is a regular file (`tobira host 'cat > x' <
/// file`), read on the session's thread, [`INLINE_READ`] bytes at a time, as
/// ssh(1) reads it: a file on a disk is always ready, so a read returns at
/// once (or after the disk), and each chunk is sealed and sent before the
/// next. Files that report no size (`/proc`, tracefs: they may wait for
/// data) are left to the thread, and so is a file that answers "would
/// block" (`O_NONBLOCK` on such a file).
pub struct FileInput {
    file: std::fs::File,
    spare: Spares,
    done: bool,
}

impl FileInput {
    /// Takes over descriptor 0 when it is a regular file; `Ok(None)`
    /// otherwise.
    fn open() -> std::io::Result<Option<Self>> {
        Self::from_fd(std::io::stdin().as_fd())
    }

    /// Reads `fd` from now on when it is a regular file with a size;
    /// `Ok(None)` otherwise.
    fn from_fd(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<Option<Self>> {
        let fd = fd.try_clone_to_owned()?;
        let regular = rustix::fs::fstat(&fd)
            .map(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile && st.st_size > 0
            })
            .unwrap_or(false);
        Ok(regular.then(|| FileInput {
            file: std::fs::File::from(fd),
            spare: Spares::default(),
            done: false,
        }))
    }

    /// The next chunk (see [`Stdin::next`]). Bytes read before an error
    /// are delivered; the error then comes again on the next read, and
    /// ends the input as end of file does, unless it is "would block".
    async fn next(&mut self) -> FileRead {
        if self.done {
            return std::future::pending().await;
        }
        let mut buf = self.spare.take();
        // At most INLINE_READ bytes, into the spare capacity (not zeroed);
        // short reads and EINTR are retried within it.
        let r = std::io::Read::read_to_end(&mut std::io::Read::take(&self.file, INLINE_READ as u64), &mut buf);
        if !buf.is_empty() {
            return FileRead::Data(buf);
        }
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => FileRead::WouldBlock,
            _ => {
                self.done = true;
                FileRead::End
            }
        }
    }
}

/// What a read of [`FileInput`] gave.
enum FileRead {
    Data(Vec<u8>),
    /// End of file, or an error.
    End,
    /// Nothing yet: the file wants waiting for.
    WouldBlock,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A pipe read on the session's thread keeps its size, and is taken a
    /// packet's worth at a time ([`INLINE_READ`] at most, with room for
    /// the padding after it, whatever spare buffer comes back), every byte
    /// in order.
    #[tokio::test]
    async fn pipe_is_read_a_packet_at_a_time_and_keeps_its_size() {
        use nix::fcntl::{fcntl, FcntlArg};
        let (r, w) = nix::unistd::pipe().unwrap();
        let size = fcntl(r.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).unwrap();
        let mut input = PipeInput::from_pipe(r.as_fd()).unwrap().unwrap();
        assert_eq!(fcntl(r.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).unwrap(), size);
        drop(r);
        let want: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let sent = want.clone();
        let writer = std::thread::spawn(move || std::fs::File::from(w).write_all(&sent));
        let (mut got, mut largest) = (Vec::new(), 0);
        while let Some(chunk) = input.next().await {
            largest = largest.max(chunk.len());
            assert!(chunk.capacity() >= chunk.len() + PADDING_ROOM);
            got.extend_from_slice(&chunk);
            // A large spare is refused; one of the right size is read into.
            assert!(input.give_back(Vec::with_capacity(4 * INLINE_READ)).is_err());
            input.give_back(chunk).unwrap();
        }
        writer.join().unwrap().unwrap();
        assert!(got == want, "bytes lost or reordered");
        assert!(largest > 0 && largest <= INLINE_READ, "a read of {largest} bytes");
    }

    /// A regular file is read on the session's thread, a packet's worth
    /// at a time, every byte in order, then the end; a pipe is not taken
    /// for a file.
    #[tokio::test]
    async fn file_is_read_a_packet_at_a_time_to_its_end() {
        let want: Vec<u8> = (0..1_000_003u32).map(|i| (i % 253) as u8).collect();
        let path = std::env::temp_dir().join(format!("tobira-input-{}", std::process::id()));
        std::fs::write(&path, &want).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut input = FileInput::from_fd(file.as_fd()).unwrap().unwrap();
        let (mut got, mut reads) = (Vec::new(), 0);
        while let FileRead::Data(chunk) = input.next().await {
            assert!(
                !chunk.is_empty() && chunk.len() <= INLINE_READ,
                "a read of {}",
                chunk.len()
            );
            assert!(chunk.capacity() >= chunk.len() + PADDING_ROOM);
            got.extend_from_slice(&chunk);
            reads += 1;
            let _ = input.spare.give_back(chunk);
        }
        assert!(got == want, "bytes lost or reordered");
        assert_eq!(reads, want.len().div_ceil(INLINE_READ));
        // After the end, nothing more.
        let more = tokio::time::timeout(std::time::Duration::from_millis(50), input.next()).await;
        assert!(more.is_err());
        let (r, _w) = nix::unistd::pipe().unwrap();
        assert!(FileInput::from_fd(r.as_fd()).unwrap().is_none());
        // A file without a size (as /proc reports) is the thread's.
        let empty = std::env::temp_dir().join(format!("tobira-input-empty-{}", std::process::id()));
        std::fs::write(&empty, b"").unwrap();
        let file = std::fs::File::open(&empty).unwrap();
        std::fs::remove_file(&empty).unwrap();
        assert!(FileInput::from_fd(file.as_fd()).unwrap().is_none());
    }
}
