//! The client's standard output, written by a thread of its own.
//!
//! Channel data arrives in packets of up to 32 KiB or more. Writing each to
//! tokio's stdout costs a hand-off to the blocking pool and a flush per
//! packet, and `std::io::Stdout` is line-buffered; both showed up as the
//! bottleneck of downloads in `bench/`. Here the data goes through a
//! bounded queue to a thread that writes to a duplicate of descriptor 1
//! directly, while the connection goes on
//! decrypting on the runtime's thread (the second core).

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::thread::JoinHandle;

use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// Batches in flight between the connection and the writer thread.
const QUEUE: usize = 4;
/// Bytes collected before a batch goes to the thread even while more
/// data is at hand (with `QUEUE`, 2 MiB in flight at most).
const BATCH_BYTES: usize = 1024 * 1024;

/// Chunks written with one `writev` at most.
const BATCH: usize = 32;

/// Moves the write position `(i, off)` (chunk, offset in it) of `chunks`
/// past `n` more bytes written, and past the empty chunks after them.
fn advance(chunks: &[Vec<u8>], (i, off): &mut (usize, usize), mut n: usize) {
    while n > 0 && *i < chunks.len() {
        let left = chunks[*i].len() - *off;
        if n >= left {
            n -= left;
            *i += 1;
            *off = 0;
        } else {
            *off += n;
            n = 0;
        }
    }
    while *i < chunks.len() && chunks[*i].len() == *off {
        *i += 1;
        *off = 0;
    }
}

/// The unwritten rest of `chunks` from `(i, off)`, at most `BATCH` slices.
fn rest(chunks: &[Vec<u8>], (i, off): (usize, usize)) -> Vec<std::io::IoSlice<'_>> {
    let mut slices = Vec::with_capacity((chunks.len() - i).min(BATCH));
    slices.push(std::io::IoSlice::new(chunks[i].get(off..).unwrap_or_default()));
    slices.extend(chunks[i + 1..].iter().take(BATCH - 1).map(|c| std::io::IoSlice::new(c)));
    slices
}

/// Writes every chunk of `chunks`, in order, with as few `writev` calls as
/// the descriptor allows.
fn write_all_vectored(w: &mut impl Write, chunks: &[Vec<u8>]) -> std::io::Result<()> {
    let mut at = (0usize, 0usize);
    advance(chunks, &mut at, 0);
    while at.0 < chunks.len() {
        match w.write_vectored(&rest(chunks, at)) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => advance(chunks, &mut at, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// [`write_all_vectored`] for a non-blocking pipe: waits for room when
/// the reader is behind.
async fn write_all_to_pipe(pipe: &pipe::Sender, chunks: &[Vec<u8>]) -> std::io::Result<()> {
    let mut at = (0usize, 0usize);
    advance(chunks, &mut at, 0);
    while at.0 < chunks.len() {
        match pipe.try_write_vectored(&rest(chunks, at)) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => advance(chunks, &mut at, n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => pipe.writable().await?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Written buffers kept for the connection to reuse (see
/// [`StdoutWriter::take_spare`]).
const SPARES: usize = 4;

/// Where the data goes.
enum Sink {
    /// A pipe, made non-blocking and written from the session's thread
    /// when it has room, as ssh(1) does: no hand-off to another thread
    /// per batch. `O_NONBLOCK` is taken off again when this is dropped
    /// unless it was there before (the pipe's flags are shared with
    /// everyone who holds it).
    Pipe {
        pipe: pipe::Sender,
        was_nonblocking: bool,
        spares: Vec<Vec<u8>>,
    },
    /// `/dev/null`: written here (a write there never waits, and a
    /// hand-off would cost a wake-up per batch for nothing).
    Inline { file: std::fs::File, spares: Vec<Vec<u8>> },
    /// Anything else (a terminal, a file, a socket) could block: a thread
    /// of its own writes it, with blocking `writev`s.
    Thread {
        tx: Option<mpsc::Sender<Vec<Vec<u8>>>>,
        /// Buffers the thread has written, for reuse.
        spare_rx: std::sync::mpsc::Receiver<Vec<u8>>,
        thread: Option<JoinHandle<()>>,
    },
}

/// Standard output: a pipe written from the session's thread, anything
/// else behind a writer thread. Dropping it waits until everything queued
/// is written.
pub struct StdoutWriter {
    sink: Sink,
    /// Chunks not yet written or handed to the thread (see [`Self::flush`]).
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
}

impl StdoutWriter {
    /// Takes over a duplicate of standard output: as a non-blocking pipe
    /// (only when `pipe_ok`: nothing else in this process writes standard
    /// output meanwhile), `/dev/null`, or behind a writer thread.
    ///
    /// A pipe that is also our standard error (`2>&1`) or input keeps
    /// the thread: `eprintln!` and the other blocking users of the same
    /// open file would fail with EAGAIN.
    pub fn new(pipe_ok: bool) -> std::io::Result<Self> {
        let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
        let direct = pipe_ok
            && crate::input::is_fifo(&fd)
            && !crate::input::same_file(&fd, std::io::stderr().as_fd())
            && !crate::input::same_file(&fd, std::io::stdin().as_fd());
        let sink = if direct {
            let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
            let was_nonblocking = nix::fcntl::OFlag::from_bits_truncate(flags).contains(nix::fcntl::OFlag::O_NONBLOCK);
            let copy = fd.try_clone()?;
            // Checks that it is a pipe open for writing, and sets O_NONBLOCK.
            match pipe::Sender::from_owned_fd(fd) {
                Ok(pipe) => Sink::Pipe {
                    pipe,
                    was_nonblocking,
                    spares: Vec::new(),
                },
                Err(_) => Self::thread(std::fs::File::from(copy))?,
            }
        } else {
            let file = std::fs::File::from(fd);
            if is_dev_null(&file) {
                Sink::Inline {
                    file,
                    spares: Vec::new(),
                }
            } else {
                Self::thread(file)?
            }
        };
        Ok(StdoutWriter {
            sink,
            pending: Vec::new(),
            pending_bytes: 0,
        })
    }

    /// Starts the writer thread on `file`.
    fn thread(mut file: std::fs::File) -> std::io::Result<Sink> {
        let (tx, mut rx) = mpsc::channel::<Vec<Vec<u8>>>(QUEUE);
        let (spare_tx, spare_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(SPARES);
        let thread = std::thread::Builder::new().name("stdout".into()).spawn(move || {
            while let Some(batch) = rx.blocking_recv() {
                // A batch goes out in as few system calls as it can
                // (writev of up to `BATCH` chunks at a time).
                if write_all_vectored(&mut file, &batch).is_err() {
                    // The reader went away (EPIPE): dropping the
                    // receiver makes the next `write` fail.
                    return;
                }
                // Written: the memory goes back for the next packets'
                // data, if the connection wants it.
                for buf in batch {
                    let _ = spare_tx.try_send(buf);
                }
            }
        })?;
        Ok(Sink::Thread {
            tx: Some(tx),
            spare_rx,
            thread: Some(thread),
        })
    }

    /// Adds `data` to the current batch; a full batch is written (or goes
    /// to the writer thread, waiting while its queue is full). Call
    /// [`Self::flush`] before waiting for more input. An error means
    /// standard output is closed.
    pub async fn write(&mut self, data: Vec<u8>) -> Result<(), ()> {
        self.pending_bytes += data.len();
        self.pending.push(data);
        if self.pending_bytes >= BATCH_BYTES {
            self.flush().await
        } else {
            Ok(())
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

    /// Writes the current batch (waiting while a pipe is full), or hands
    /// it to the writer thread: one wake-up of the thread and one `writev`
    /// for many packets' data.
    pub async fn flush(&mut self) -> Result<(), ()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        match &mut self.sink {
            Sink::Pipe { pipe, spares, .. } => {
                write_all_to_pipe(pipe, &batch).await.map_err(|_| ())?;
                spares.extend(batch.into_iter().take(SPARES.saturating_sub(spares.len())));
                Ok(())
            }
            Sink::Inline { file, spares } => {
                write_all_vectored(file, &batch).map_err(|_| ())?;
                spares.extend(batch.into_iter().take(SPARES.saturating_sub(spares.len())));
                Ok(())
            }
            Sink::Thread { tx: Some(tx), .. } => tx.send(batch).await.map_err(|_| ()),
            Sink::Thread { tx: None, .. } => Err(()),
        }
    }

    /// Writes (or hands over) the last batch and waits until everything
    /// is written: for the end of a session, before anything else is
    /// printed.
    pub async fn finish(&mut self) {
        let _ = self.flush().await;
        if let Sink::Thread { tx, thread, .. } = &mut self.sink {
            *tx = None;
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for StdoutWriter {
    fn drop(&mut self) {
        match &mut self.sink {
            Sink::Thread { tx, thread, .. } => {
                // Normally flushed already; a last batch that does not
                // fit in the queue now is lost only if its reader is gone.
                if !self.pending.is_empty() {
                    if let Some(tx) = tx.as_ref() {
                        let _ = tx.try_send(std::mem::take(&mut self.pending));
                    }
                }
                *tx = None;
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
            Sink::Pipe {
                pipe, was_nonblocking, ..
            } => {
                if !*was_nonblocking {
                    crate::input::clear_nonblocking(pipe.as_fd().as_raw_fd());
                }
            }
            Sink::Inline { .. } => {}
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

    /// A pipe (64 KiB) whose reader takes small pieces with pauses:
    /// every write that would block waits for room, and every byte of
    /// more chunks than one `writev` takes arrives in order.
    #[tokio::test]
    async fn pipe_writes_wait_for_room_and_keep_every_byte_in_order() {
        let (tx, rx) = pipe::pipe().unwrap();
        let chunks: Vec<Vec<u8>> = (0..100u32)
            .map(|i| {
                (0..(i as usize * 7919) % 60_000)
                    .map(|j| (i as u8) ^ (j as u8))
                    .collect()
            })
            .collect();
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
        write_all_to_pipe(&tx, &chunks).await.unwrap();
        drop(tx);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "bytes out of order");
    }

    #[test]
    fn vectored_writes_keep_every_byte_in_order_through_partial_writes() {
        let chunks: Vec<Vec<u8>> = (0..20u8)
            .map(|i| (0..(i as usize * 37) % 200).map(|j| i ^ j as u8).collect())
            .collect();
        let want: Vec<u8> = chunks.concat();
        for step in [1, 3, 64, 199, 4096] {
            let mut w = Trickle { got: Vec::new(), step };
            write_all_vectored(&mut w, &chunks).unwrap();
            assert_eq!(w.got, want, "step {step}");
        }
    }
}
