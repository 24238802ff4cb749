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
use std::os::fd::AsFd;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

/// Batches in flight between the connection and the writer thread.
const QUEUE: usize = 4;
/// Bytes collected before a batch goes to the thread even while more
/// data is at hand (with `QUEUE`, 2 MiB in flight at most).
const BATCH_BYTES: usize = 1024 * 1024;

/// Chunks written with one `writev` at most.
const BATCH: usize = 32;

/// Writes every chunk of `chunks`, in order, with as few `writev` calls as
/// the descriptor allows.
fn write_all_vectored(w: &mut impl Write, chunks: &[Vec<u8>]) -> std::io::Result<()> {
    let (mut i, mut off) = (0usize, 0usize);
    while i < chunks.len() {
        let mut slices = Vec::with_capacity(chunks.len() - i);
        slices.push(std::io::IoSlice::new(chunks[i].get(off..).unwrap_or_default()));
        slices.extend(chunks[i + 1..].iter().map(|c| std::io::IoSlice::new(c)));
        let mut n = match w.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while n > 0 && i < chunks.len() {
            let left = chunks[i].len() - off;
            if n >= left {
                n -= left;
                i += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
        // Empty chunks after the last byte written.
        while i < chunks.len() && chunks[i].len() == off {
            i += 1;
            off = 0;
        }
    }
    Ok(())
}

/// Written buffers kept for the connection to reuse (see
/// [`StdoutWriter::take_spare`]).
const SPARES: usize = 4;

/// Standard output behind a writer thread. Dropping it waits until
/// everything queued is written.
pub struct StdoutWriter {
    tx: Option<mpsc::Sender<Vec<Vec<u8>>>>,
    /// Standard output is `/dev/null`: written here, without the thread
    /// (a write there never waits, and a hand-off would cost a wake-up
    /// per batch for nothing).
    inline: Option<(std::fs::File, Vec<Vec<u8>>)>,
    /// Buffers the thread has written, for reuse.
    spare_rx: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<JoinHandle<()>>,
    /// Chunks not yet handed to the thread (see [`Self::flush`]).
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
}

impl StdoutWriter {
    /// Starts the writer thread on a duplicate of standard output.
    pub fn new() -> std::io::Result<Self> {
        let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
        let mut file = std::fs::File::from(fd);
        if is_dev_null(&file) {
            let (_, spare_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(0);
            return Ok(StdoutWriter {
                tx: None,
                inline: Some((file, Vec::new())),
                spare_rx,
                thread: None,
                pending: Vec::new(),
                pending_bytes: 0,
            });
        }
        let (tx, mut rx) = mpsc::channel::<Vec<Vec<u8>>>(QUEUE);
        let (spare_tx, spare_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(SPARES);
        let thread = std::thread::Builder::new().name("stdout".into()).spawn(move || {
            while let Some(batch) = rx.blocking_recv() {
                // A batch goes out in as few system calls as it can
                // (writev of up to `BATCH` chunks at a time).
                for part in batch.chunks(BATCH) {
                    if write_all_vectored(&mut file, part).is_err() {
                        // The reader went away (EPIPE): dropping the
                        // receiver makes the next `write` fail.
                        return;
                    }
                }
                // Written: the memory goes back for the next packets'
                // data, if the connection wants it.
                for buf in batch {
                    let _ = spare_tx.try_send(buf);
                }
            }
        })?;
        Ok(StdoutWriter {
            tx: Some(tx),
            inline: None,
            spare_rx,
            thread: Some(thread),
            pending: Vec::new(),
            pending_bytes: 0,
        })
    }

    /// Adds `data` to the current batch; a full batch goes to the writer
    /// thread (waiting while its queue is full). Call [`Self::flush`]
    /// before waiting for more input. An error means standard output is
    /// closed.
    pub async fn write(&mut self, data: Vec<u8>) -> Result<(), ()> {
        self.pending_bytes += data.len();
        self.pending.push(data);
        if self.pending_bytes >= BATCH_BYTES {
            self.flush().await
        } else {
            Ok(())
        }
    }

    /// A buffer the thread has written, to give back to the connection
    /// (`Connection::recycle`) so that its memory is reused.
    pub fn take_spare(&mut self) -> Option<Vec<u8>> {
        match &mut self.inline {
            Some((_, spares)) => spares.pop(),
            None => self.spare_rx.try_recv().ok(),
        }
    }

    /// Hands the current batch to the writer thread: one wake-up of the
    /// thread and one `writev` for many packets' data.
    pub async fn flush(&mut self) -> Result<(), ()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        if let Some((file, spares)) = &mut self.inline {
            for part in batch.chunks(BATCH) {
                write_all_vectored(file, part).map_err(|_| ())?;
            }
            spares.extend(batch.into_iter().take(SPARES.saturating_sub(spares.len())));
            return Ok(());
        }
        match &self.tx {
            Some(tx) => tx.send(batch).await.map_err(|_| ()),
            None => Err(()),
        }
    }
}

impl StdoutWriter {
    /// Hands over the last batch and waits until the thread has written
    /// everything: for the end of a session, before anything else is
    /// printed.
    pub async fn finish(&mut self) {
        let _ = self.flush().await;
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StdoutWriter {
    fn drop(&mut self) {
        // Normally flushed already; a last batch that does not fit in the
        // queue now is lost only if its reader is gone.
        if !self.pending.is_empty() {
            if let Some(tx) = &self.tx {
                let _ = tx.try_send(std::mem::take(&mut self.pending));
            }
        }
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
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
