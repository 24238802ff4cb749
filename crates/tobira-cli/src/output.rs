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

/// Chunks in flight between the connection and the writer thread (with
/// 32 KiB packets, 2 MiB: the channel window bounds it as well).
const QUEUE: usize = 64;

/// Standard output behind a writer thread. Dropping it waits until
/// everything queued is written.
pub struct StdoutWriter {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl StdoutWriter {
    /// Starts the writer thread on a duplicate of standard output.
    pub fn new() -> std::io::Result<Self> {
        let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
        let mut file = std::fs::File::from(fd);
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
        let thread = std::thread::Builder::new().name("stdout".into()).spawn(move || {
            while let Some(chunk) = rx.blocking_recv() {
                if file.write_all(&chunk).is_err() {
                    // The reader went away (EPIPE): dropping the
                    // receiver makes the next `write` fail.
                    return;
                }
            }
        })?;
        Ok(StdoutWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `data` for standard output; waits while the queue is full.
    /// An error means standard output is closed.
    pub async fn write(&self, data: Vec<u8>) -> Result<(), ()> {
        match &self.tx {
            Some(tx) => tx.send(data).await.map_err(|_| ()),
            None => Err(()),
        }
    }
}

impl Drop for StdoutWriter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
