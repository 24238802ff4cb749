//! The client's standard output and standard error.
//!
//! Channel data arrives in packets of up to 32 KiB or more; it is written
//! in batches, many packets per `writev`. Bytes count as consumed (and
//! reopen the channel's window) only once written or handed to the writer
//! thread, so a reader that falls behind holds back the server through
//! the window, and the session never waits for it: it goes on serving
//! forwards, keepalives and signals meanwhile. Where the data goes
//! decides how it is written:
//! - **a pipe** on standard output is made non-blocking and written from
//!   the session's own thread whenever it has room, as ssh(1) does: no
//!   hand-off to another thread, so an answer reaches the program reading
//!   it at once. Its blocking mode is put back at the end
//!   (`stdio_pipe.rs`);
//! - **`/dev/null`** is written inline (a write there never waits);
//! - **anything else** (a terminal, a file, a socket, and standard error
//!   whatever it is) could block, so a thread of its own writes it, with
//!   blocking `writev`s, from a bounded queue, while the connection goes
//!   on decrypting on the runtime's thread. (tokio's stdout would cost a
//!   hand-off to the blocking pool and a flush per packet, and
//!   `std::io::Stdout` is line-buffered; both showed up as the bottleneck
//!   of downloads in `bench/`.) Standard error is never made
//!   non-blocking: our own messages and logs are written to it with
//!   blocking writes, which would fail on a full non-blocking pipe.

use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::AsFd;
use std::thread::JoinHandle;

use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use crate::stdio_pipe::RestoreBlocking;

/// Batches in flight between the connection and the writer thread.
const QUEUE: usize = 4;
/// Bytes collected before a batch is written (or goes to the thread) even
/// while more data is at hand.
const BATCH_BYTES: usize = 1024 * 1024;

/// Chunks written with one `writev` at most.
const BATCH: usize = 32;

/// Written buffers kept for the connection to reuse (see
/// [`OutputWriter::take_spare`]).
const SPARES: usize = 4;

/// Chunks to write, in order, the first one possibly written in part.
#[derive(Default)]
struct Pending {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the first chunk already written.
    off: usize,
    /// Bytes not yet written, in all chunks.
    bytes: usize,
}

impl Pending {
    fn push(&mut self, data: Vec<u8>) {
        self.bytes += data.len();
        self.chunks.push_back(data);
    }

    fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The unwritten bytes, at most `BATCH` slices, for one `writev`.
    fn slices(&self) -> Vec<std::io::IoSlice<'_>> {
        let mut chunks = self.chunks.iter();
        let mut slices = Vec::with_capacity(self.chunks.len().min(BATCH));
        if let Some(first) = chunks.next() {
            slices.push(std::io::IoSlice::new(first.get(self.off..).unwrap_or_default()));
        }
        slices.extend(
            chunks
                .filter(|c| !c.is_empty())
                .take(BATCH - 1)
                .map(|c| std::io::IoSlice::new(c)),
        );
        slices
    }

    /// Takes whole chunks from the front, about `limit` bytes (at least
    /// one chunk), for the writer thread; nothing of them is written yet.
    fn take_batch(&mut self, limit: usize) -> Vec<Vec<u8>> {
        debug_assert_eq!(self.off, 0, "the thread's chunks are never written in part here");
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(c) = self.chunks.pop_front() {
            bytes += c.len();
            batch.push(c);
            if bytes >= limit {
                break;
            }
        }
        self.bytes -= bytes.min(self.bytes);
        batch
    }

    /// `n` more bytes were written: the chunks now written in full (and
    /// empty ones) leave, to `done` for reuse while it has room.
    fn advance(&mut self, mut n: usize, done: &mut Vec<Vec<u8>>) {
        self.bytes -= n.min(self.bytes);
        while let Some(first) = self.chunks.front() {
            let left = first.len() - self.off;
            if n < left {
                self.off += n;
                return;
            }
            n -= left;
            self.off = 0;
            if let Some(c) = self.chunks.pop_front() {
                if done.len() < SPARES && c.capacity() > 0 {
                    done.push(c);
                }
            }
        }
    }
}

/// Writes everything in `p` to `w`, with as few `writev` calls as the
/// descriptor allows (blocking).
fn write_all_vectored(w: &mut impl Write, p: &mut Pending, done: &mut Vec<Vec<u8>>) -> std::io::Result<()> {
    p.advance(0, done);
    while !p.is_empty() {
        match w.write_vectored(&p.slices()) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => p.advance(n, done),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes what a non-blocking pipe takes now, without waiting; returns
/// the bytes written.
fn write_to_pipe(pipe: &pipe::Sender, p: &mut Pending, done: &mut Vec<Vec<u8>>) -> std::io::Result<usize> {
    let mut total = 0;
    p.advance(0, done);
    while !p.is_empty() {
        match pipe.try_write_vectored(&p.slices()) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                total += n;
                p.advance(n, done);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Where the data goes.
enum Sink {
    /// A pipe, written from the session's thread when it has room.
    Pipe {
        pipe: pipe::Sender,
        spares: Vec<Vec<u8>>,
        /// Dropped after `pipe`.
        _restore: RestoreBlocking,
    },
    /// `/dev/null`, written here.
    Inline { file: std::fs::File, spares: Vec<Vec<u8>> },
    /// Anything else, written by a thread with blocking `writev`s.
    Thread {
        tx: Option<mpsc::Sender<Vec<Vec<u8>>>>,
        /// Buffers the thread has written, for reuse.
        spare_rx: std::sync::mpsc::Receiver<Vec<u8>>,
        /// Closed when the thread is done (everything written, or its
        /// reader gone): awaited, where joining would block the runtime.
        done: Option<tokio::sync::oneshot::Receiver<()>>,
        thread: Option<JoinHandle<()>>,
    },
}

/// Standard output or standard error (see the module's documentation).
/// Dropping it waits until everything handed to the writer thread is
/// written.
pub struct OutputWriter {
    sink: Sink,
    /// Data not yet written or handed to the thread.
    pending: Pending,
    /// The last write or hand-over left data for lack of room.
    waiting: bool,
}

/// The output is closed (its reader went away), or the writer thread is
/// gone.
#[derive(Debug, thiserror::Error)]
#[error("output is closed")]
pub struct OutputClosed;

/// Bytes of channel data now off our hands, to report to the connection
/// (`Connection::channel_consumed`).
pub type Taken = Result<usize, OutputClosed>;

impl OutputWriter {
    /// Takes over a duplicate of standard output: as a non-blocking pipe
    /// (only when `pipe_ok`: nothing else in this process writes standard
    /// output meanwhile, and when it may go non-blocking, see
    /// `stdio_pipe::may_go_non_blocking`), `/dev/null`, or behind
    /// a writer thread.
    pub fn stdout(pipe_ok: bool) -> std::io::Result<Self> {
        let sink = match Self::pipe(pipe_ok)? {
            Some(pipe) => pipe,
            None => Self::blocking(std::io::stdout().as_fd(), "stdout")?,
        };
        Ok(Self::with_sink(sink))
    }

    /// Writes nowhere (`/dev/null`), holding no standard stream: for `-N`,
    /// whose session has no output, so that a background client (`-f`)
    /// keeps nobody's pipe open.
    pub fn discard() -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        Ok(Self::with_sink(Sink::Inline {
            file,
            spares: Vec::new(),
        }))
    }

    /// Takes over a duplicate of standard error: `/dev/null`, or behind a
    /// writer thread (never a non-blocking pipe, see the module's
    /// documentation).
    pub fn stderr() -> std::io::Result<Self> {
        Ok(Self::with_sink(Self::blocking(std::io::stderr().as_fd(), "stderr")?))
    }

    fn with_sink(sink: Sink) -> Self {
        OutputWriter {
            sink,
            pending: Pending::default(),
            waiting: false,
        }
    }

    /// A duplicate of `fd`, left in its blocking mode: written inline if
    /// it is `/dev/null`, by a thread called `name` otherwise.
    fn blocking(fd: std::os::fd::BorrowedFd<'_>, name: &str) -> std::io::Result<Sink> {
        let file = std::fs::File::from(fd.try_clone_to_owned()?);
        if is_dev_null(&file) {
            Ok(Sink::Inline {
                file,
                spares: Vec::new(),
            })
        } else {
            Self::thread(file, name)
        }
    }

    /// Standard output as a non-blocking pipe, when `pipe_ok` and it may
    /// be one; `None` otherwise.
    fn pipe(pipe_ok: bool) -> std::io::Result<Option<Sink>> {
        let stdout = std::io::stdout();
        if !pipe_ok || !crate::stdio_pipe::may_go_non_blocking(stdout.as_fd()) {
            return Ok(None);
        }
        let restore = RestoreBlocking::note(stdout.as_fd())?;
        // Checks that it is a pipe open for writing, sets O_NONBLOCK and
        // registers it; on failure `restore` puts the mode back, and the
        // thread writes it instead.
        let Ok(pipe) = pipe::Sender::from_owned_fd(stdout.as_fd().try_clone_to_owned()?) else {
            return Ok(None);
        };
        Ok(Some(Sink::Pipe {
            pipe,
            spares: Vec::new(),
            _restore: restore,
        }))
    }

    /// Starts the writer thread, called `name`, on `file`.
    fn thread(mut file: std::fs::File, name: &str) -> std::io::Result<Sink> {
        let (tx, mut rx) = mpsc::channel::<Vec<Vec<u8>>>(QUEUE);
        let (spare_tx, spare_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(SPARES);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            // Dropped when the thread ends, however it ends.
            let _done = done_tx;
            let mut done = Vec::new();
            while let Some(batch) = rx.blocking_recv() {
                let mut p = Pending::default();
                batch.into_iter().for_each(|c| p.push(c));
                if write_all_vectored(&mut file, &mut p, &mut done).is_err() {
                    // The reader went away (EPIPE): dropping the
                    // receiver makes the next `write` fail.
                    return;
                }
                // Written: the memory goes back for the next packets'
                // data, if the connection wants it.
                for buf in done.drain(..) {
                    let _ = spare_tx.try_send(buf);
                }
            }
        })?;
        Ok(Sink::Thread {
            tx: Some(tx),
            spare_rx,
            done: Some(done_rx),
            thread: Some(thread),
        })
    }

    /// Adds `data` to the current batch; a full batch is written (what a
    /// pipe takes now) or handed to the writer thread (if its queue has
    /// room). Never waits: what is left waits for [`Self::writable`].
    /// Call [`Self::flush`] before waiting for more input. Every count
    /// returned here and by the other methods goes to the connection as
    /// consumed: bytes count once written or handed to the thread, and
    /// until then the channel's window holds back the server.
    pub fn write(&mut self, data: Vec<u8>) -> Taken {
        self.pending.push(data);
        if self.pending.bytes >= BATCH_BYTES {
            self.flush()
        } else {
            Ok(0)
        }
    }

    /// A buffer that has been written, to give back to the connection
    /// (`Connection::recycle`) so that its memory is reused.
    pub fn take_spare(&mut self) -> Option<Vec<u8>> {
        match &mut self.sink {
            Sink::Pipe { spares, .. } | Sink::Inline { spares, .. } => spares.pop(),
            Sink::Thread { spare_rx, .. } => spare_rx.try_recv().ok(),
        }
    }

    /// Writes the current batch (as much as a pipe takes now), or hands
    /// it to the writer thread if its queue has room: one wake-up of the
    /// thread and one `writev` for many packets' data. Never waits.
    /// Returns the bytes taken.
    pub fn flush(&mut self) -> Taken {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let taken = match &mut self.sink {
            Sink::Pipe { pipe, spares, .. } => {
                write_to_pipe(pipe, &mut self.pending, spares).map_err(|_| OutputClosed)?
            }
            Sink::Inline { file, spares } => {
                let bytes = self.pending.bytes;
                write_all_vectored(file, &mut self.pending, spares).map_err(|_| OutputClosed)?;
                bytes
            }
            Sink::Thread { tx: Some(tx), .. } => {
                // A batch of about `BATCH_BYTES` per free place in the
                // queue: what the thread holds stays bounded.
                let mut handed = 0;
                while !self.pending.is_empty() {
                    match tx.try_reserve() {
                        Ok(permit) => {
                            let batch = self.pending.take_batch(BATCH_BYTES);
                            handed += batch.iter().map(Vec::len).sum::<usize>();
                            permit.send(batch);
                        }
                        Err(mpsc::error::TrySendError::Full(())) => break,
                        // What was handed over counts; the next call
                        // reports the end.
                        Err(mpsc::error::TrySendError::Closed(())) if handed > 0 => break,
                        Err(mpsc::error::TrySendError::Closed(())) => return Err(OutputClosed),
                    }
                }
                handed
            }
            Sink::Thread { tx: None, .. } => return Err(OutputClosed),
        };
        self.waiting = !self.pending.is_empty();
        Ok(taken)
    }

    /// Bytes given to [`Self::write`] and not yet taken (written or handed
    /// over).
    pub fn unwritten(&self) -> usize {
        self.pending.bytes
    }

    /// Data waits for room: the pipe was full or the thread's queue was
    /// ([`Self::writable`]).
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// Waits until the pipe, or the thread's queue, has room, and writes
    /// or hands over what it takes; for a `select!` branch while
    /// [`Self::is_waiting`]. Cancel-safe: what is written is recorded
    /// before anything else waits. Returns the bytes taken.
    pub async fn writable(&mut self) -> Taken {
        match &mut self.sink {
            Sink::Pipe { pipe, .. } => pipe.writable().await.map_err(|_| OutputClosed)?,
            Sink::Thread { tx: Some(tx), .. } => {
                // Room now; `flush` takes it (this task is the only sender).
                drop(tx.reserve().await.map_err(|_| OutputClosed)?);
            }
            Sink::Thread { tx: None, .. } => return Err(OutputClosed),
            Sink::Inline { .. } => return std::future::pending().await,
        }
        self.flush()
    }

    /// Writes (or hands over) everything left and waits until it is
    /// written: for the end of a session, before anything else is
    /// printed. Cancel-safe: nothing is lost when it is dropped before it
    /// completes, and it blocks nothing meanwhile.
    pub async fn finish(&mut self) {
        while self.flush().is_ok() && self.is_waiting() {
            if self.writable().await.is_err() {
                break;
            }
        }
        if let Sink::Thread { tx, done, thread, .. } = &mut self.sink {
            *tx = None;
            if let Some(d) = done.as_mut() {
                let _ = d.await;
                // Not polled again once complete.
                *done = None;
            }
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }

    /// Gives up on what is not written yet, without waiting for a reader
    /// that may never come back (a session ended by a signal, as ssh(1)
    /// ends at once): a pipe keeps what it holds, the writer thread is
    /// left to finish or to die with the process.
    pub fn abandon(mut self) {
        if let Sink::Thread { tx, thread, .. } = &mut self.sink {
            *tx = None;
            drop(thread.take());
        }
    }
}

impl Drop for OutputWriter {
    fn drop(&mut self) {
        if let Sink::Thread { tx, thread, .. } = &mut self.sink {
            // Normally finished already (or abandoned); otherwise what
            // does not fit in the queue now is lost.
            if !self.pending.is_empty() {
                if let Some(tx) = tx.as_ref() {
                    let _ = tx.try_send(std::mem::take(&mut self.pending).chunks.into());
                }
            }
            *tx = None;
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// True when `file` is the null device (same device number as
/// `/dev/null`).
fn is_dev_null(file: &std::fs::File) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (Ok(m), Ok(null)) = (file.metadata(), std::fs::metadata("/dev/null")) else {
        return false;
    };
    m.file_type().is_char_device() && null.file_type().is_char_device() && m.rdev() == null.rdev()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts at most `step` bytes per call, across slices.
    struct Trickle {
        got: Vec<u8>,
        step: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.step);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
            let mut left = self.step;
            for b in bufs {
                let n = b.len().min(left);
                self.got.extend_from_slice(&b[..n]);
                left -= n;
                if left == 0 {
                    break;
                }
            }
            Ok(self.step - left)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Chunks of many sizes, empty ones among them (first, in the middle
    /// and last), more than one `writev` takes.
    fn chunks_with_empties() -> Vec<Vec<u8>> {
        (0..100u32)
            .map(|i| {
                let n = if i % 9 == 0 { 0 } else { (i as usize * 7919) % 60_000 };
                (0..n).map(|j| (i as u8) ^ (j as u8)).collect()
            })
            .collect()
    }

    /// A pipe (64 KiB) whose reader takes small pieces with pauses: a
    /// write takes what fits and stops, waiting for room is the caller's,
    /// and every byte arrives in order; the buffers written come back.
    #[tokio::test]
    async fn pipe_writes_take_what_fits_and_keep_every_byte_in_order() {
        let (tx, rx) = pipe::pipe().unwrap();
        let chunks = chunks_with_empties();
        let want: Vec<u8> = chunks.concat();
        assert!(want.len() > 2 * 1024 * 1024 && chunks.len() > BATCH);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 5000];
            loop {
                rx.readable().await.unwrap();
                match rx.try_read(&mut buf) {
                    Ok(0) => return got,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("{e}"),
                }
                if got.len() % 7 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        });
        let mut p = Pending::default();
        chunks.into_iter().for_each(|c| p.push(c));
        let (mut done, mut total, mut short_writes) = (Vec::new(), 0, 0);
        let all = async {
            while !p.is_empty() {
                total += write_to_pipe(&tx, &mut p, &mut done).unwrap();
                if !p.is_empty() {
                    short_writes += 1;
                    tx.writable().await.unwrap();
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), all)
            .await
            .expect("the writes finish");
        drop(tx);
        let got = reader.await.unwrap();
        assert_eq!(total, want.len(), "bytes reported written");
        assert!(short_writes > 10, "the pipe filled up ({short_writes} short writes)");
        assert_eq!(got.len(), want.len());
        assert!(got == want, "bytes out of order");
        assert_eq!(done.len(), SPARES, "written buffers kept for reuse");
    }

    #[test]
    fn vectored_writes_keep_every_byte_in_order_through_partial_writes() {
        let chunks = chunks_with_empties();
        let want: Vec<u8> = chunks.concat();
        for step in [1, 3, 64, 199, 4096, 1 << 20] {
            let mut w = Trickle { got: Vec::new(), step };
            let mut p = Pending::default();
            chunks.iter().for_each(|c| p.push(c.clone()));
            let mut done = Vec::new();
            write_all_vectored(&mut w, &mut p, &mut done).unwrap();
            assert!(w.got == want, "step {step}: bytes lost or out of order");
            assert!(p.is_empty() && p.chunks.is_empty(), "step {step}");
        }
    }
}
