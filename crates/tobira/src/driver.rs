//! Runs a sans-IO [`Connection`] over an async byte stream: writes its
//! output, reads the peer's bytes, hands out its events.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tobira_proto::connection::KexWorkDone;
use tobira_proto::{Connection, DisconnectReason, Event};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::fine_timer::FineTimer;

/// Why a driven connection stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Socket error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Protocol error (ours or the peer's DISCONNECT).
    #[error("{0}")]
    Protocol(#[from] tobira_proto::Error),
    /// The peer closed the TCP connection.
    #[error("Connection closed by remote host")]
    Eof,
    /// Nothing arrived in time.
    #[error("timed out")]
    Timeout,
}

/// Bytes asked for per read from the peer, at first and when the peer is
/// quiet: an idle connection keeps a small buffer.
const MIN_READ: usize = 16 * 1024;
/// The most asked for per read, reached by doubling while reads fill the
/// space they are given (bulk transfers: fewer system calls).
const MAX_READ: usize = 256 * 1024;

/// Quiet time after which a connection gives back the memory of a burst.
const IDLE_RELEASE: Duration = Duration::from_secs(1);

/// A read at least this large found the peer's data arriving faster than
/// we woke for it: a bulk read. After [`BULK_RUN`] bytes of them the
/// driver asks to be woken only once [`BULK_LOW_WATER`] bytes are queued
/// (see [`Driver::on_bulk_read`]).
const BULK_READ: usize = 32 * 1024;
/// Bytes that bulk reads must bring in a row (no smaller read, nothing
/// sent that the peer may answer, no pause longer than [`LOW_WATER_WAIT`]
/// between two of them) before the mark goes up. A message shorter than this (a request, a response, a
/// file sent before the peer waits for our acknowledgement) is read as it
/// comes, and nothing of it waits under the mark; a longer run is a
/// stream, whose end waits at most [`LOW_WATER_WAIT`].
const BULK_RUN: usize = 1024 * 1024;
/// The receive low-water mark during a bulk transfer: as much as the
/// largest read asks for.
const BULK_LOW_WATER: usize = MAX_READ;
/// How long after the last bulk read the raised mark is lowered again: the
/// peer may have stopped short of it (the end of a message or a transfer,
/// a key re-exchange), and then what it sent is read this late. Timed by a
/// [`FineTimer`] (tokio's timer would round it up to 1 to 2 ms). Long
/// enough that a stream of 600 MB/s or more (ChaCha20-Poly1305 here) fills
/// the mark before it runs out; a shorter wait lowered and raised the mark
/// over a thousand times per GiB at that speed.
const LOW_WATER_WAIT: Duration = Duration::from_micros(500);

/// What ended a wait for the peer.
enum Wake {
    Read(std::io::Result<usize>),
    Rekey,
    Idle,
    LowWater(std::io::Result<()>),
}

/// A connection bound to a stream.
pub struct Driver<S> {
    stream: S,
    /// The protocol state machine.
    pub conn: Connection,
    /// Time-based rekeying (`RekeyLimit`'s second value).
    rekey_interval: Option<Duration>,
    /// When the keys in use were installed, and which exchange that was.
    keys_since: (Instant, u32),
    /// Bytes to ask for in the next read (`MIN_READ`..=`MAX_READ`).
    read_size: usize,
    /// Called after each read that brought less than `MIN_READ` bytes
    /// (see [`Self::on_small_read`]).
    small_read_hook: Option<fn(&S)>,
    /// Sets the stream's receive low-water mark, if it has one (see
    /// [`Self::on_bulk_read`]); false when it could not.
    low_water_hook: Option<fn(&S, usize) -> bool>,
    /// Whether the mark is raised to [`BULK_LOW_WATER`].
    low_water_raised: bool,
    /// While the mark is raised, expires [`LOW_WATER_WAIT`] after the last
    /// bulk read: re-armed at each (one `timerfd_settime` per read, so
    /// that it never fires while the stream keeps coming). A kernel timer,
    /// not one per wait, because callers race reads against other work in
    /// `select!` and drop them: a timer started per wait would start over
    /// each time and might never fire, while an expiry stays readable.
    /// Made at a raise, dropped after a quiet second.
    low_water_timer: Option<FineTimer>,
    /// `Connection::answerable_packets_sent` when last looked at.
    answerable_seen: u64,
    /// Bytes of the bulk reads in a row so far (see [`BULK_RUN`]).
    bulk_run: usize,
    /// When the last bulk read was.
    last_bulk_read: Option<Instant>,
    /// The server's slow key-exchange step, running on tokio's blocking
    /// pool (see [`Self::settle_kex_work`]).
    kex_job: Option<tokio::task::JoinHandle<Result<KexWorkDone, tokio::task::JoinError>>>,
}

impl<S> Drop for Driver<S> {
    fn drop(&mut self) {
        // A step still waiting for its turn is not computed for nobody;
        // one already computing ends by itself and then gives its turn back.
        if let Some(job) = self.kex_job.take() {
            job.abort();
        }
    }
}

/// The process-wide turns for key-exchange steps: one per core.
fn kex_permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    /// Binds `conn` to `stream`.
    pub fn new(stream: S, conn: Connection) -> Self {
        Driver {
            stream,
            conn,
            rekey_interval: None,
            keys_since: (Instant::now(), 0),
            read_size: MIN_READ,
            small_read_hook: None,
            low_water_hook: None,
            low_water_raised: false,
            low_water_timer: None,
            answerable_seen: 0,
            bulk_run: 0,
            last_bulk_read: None,
            kex_job: None,
        }
    }

    /// Runs `hook` on the stream after each read of a small message (less
    /// than 16 KiB): for TCP, [`quick_ack`], so that a peer whose
    /// unacknowledged small packet holds back its next one (Nagle's
    /// algorithm, as `ssh` and `sshd` use it during the handshake) is not
    /// left waiting for our delayed ACK.
    pub fn on_small_read(&mut self, hook: fn(&S)) {
        self.small_read_hook = Some(hook);
    }

    /// Lets the driver set the stream's receive low-water mark with `hook`
    /// (for TCP, [`set_receive_low_water`]; it returns false where there is
    /// no such mark). Once reads of 32 KiB or more (an OpenSSH peer's full
    /// packet) have brought 1 MiB in a row, with no pause longer than
    /// [`LOW_WATER_WAIT`] between them, the driver raises it to
    /// 256 KiB: the peer's writes then wake us once per 256 KiB instead of
    /// once per write, which saves the peer the cost of each wake-up
    /// (`recv_low_water` explains it) and us a read per write. A message
    /// shorter than 1 MiB is therefore read as it comes. The mark goes
    /// back to one byte, and the run starts over,
    /// - before we send anything the peer may be waiting for (channel data,
    ///   a reply; not our window adjustments), so that its answer, however
    ///   short, wakes us at once: request and response traffic (an echo,
    ///   an acknowledgement after each file) never waits under the mark;
    /// - after a read of less than 32 KiB (keystrokes never raise it);
    /// - [`LOW_WATER_WAIT`] (0.5 ms) after the last bulk read, timed by a
    ///   [`FineTimer`]: then whatever has arrived is read. So the end of a
    ///   stream, or the tail of a message of more than 1 MiB that the peer
    ///   sends before it waits for our answer, is read at most that late.
    pub fn on_bulk_read(&mut self, hook: fn(&S, usize) -> bool) {
        self.low_water_hook = Some(hook);
    }

    /// After a bulk read: raises the receive low-water mark to
    /// [`BULK_LOW_WATER`] if the stream has one, and moves the time to lower
    /// it to [`LOW_WATER_WAIT`] from now.
    fn raise_low_water(&mut self) -> std::io::Result<()> {
        let Some(hook) = self.low_water_hook else {
            return Ok(());
        };
        if !self.low_water_raised && !hook(&self.stream, BULK_LOW_WATER) {
            // No such mark, or the kernel refused: reads go on as before.
            return Ok(());
        }
        self.low_water_raised = true;
        if self.low_water_timer.is_none() {
            // Made at the first raise and given back after a quiet second
            // (`release_burst_memory`): idle sessions hold no timer.
            self.low_water_timer = FineTimer::new().ok();
        }
        match &self.low_water_timer {
            Some(timer) if timer.arm(LOW_WATER_WAIT).is_ok() => Ok(()),
            // Without a timer to end the wait, the mark goes back down.
            _ => self.lower_low_water(),
        }
    }

    /// Lowers a raised mark to one byte, which also wakes a waiting read if
    /// anything is queued. An error if the kernel refuses: under a mark it
    /// cannot lower, what the peer sends may never be read.
    fn lower_low_water(&mut self) -> std::io::Result<()> {
        // Whatever lowers the mark also ends the run of bulk reads.
        self.bulk_run = 0;
        let raised = std::mem::take(&mut self.low_water_raised);
        if raised && !self.low_water_hook.is_some_and(|hook| hook(&self.stream, 1)) {
            return Err(std::io::Error::other(
                "cannot lower the socket's receive low-water mark",
            ));
        }
        Ok(())
    }

    /// Re-exchanges keys after `interval` of use (RFC 4253 §9 recommends an
    /// hour), also on an idle connection; `None` turns it off.
    pub fn set_rekey_interval(&mut self, interval: Option<Duration>) {
        self.rekey_interval = interval.filter(|d| !d.is_zero());
    }

    /// When the next time-based re-exchange is due, if any.
    fn rekey_deadline(&mut self) -> Option<Instant> {
        let iv = self.rekey_interval?;
        let count = self.conn.completed_kex_count();
        if count == 0 {
            return None;
        }
        if count != self.keys_since.1 {
            self.keys_since = (Instant::now(), count);
        }
        Some(self.keys_since.0 + iv)
    }

    /// The connection's input buffer with room for one read of `want`
    /// bytes: they are read straight into it, without a copy. A large
    /// buffer left empty by a finished burst is given back.
    fn read_space(conn: &mut Connection, want: usize) -> &mut Vec<u8> {
        let buf = conn.input_buffer();
        // Only once reads have fallen back to the minimum: a busy transfer
        // whose reads vary keeps its memory (no page faults per read).
        if want == MIN_READ && buf.is_empty() && buf.capacity() > 4 * want {
            buf.shrink_to(want);
        }
        buf.reserve(want);
        buf
    }

    /// Adapts the read size and the receive low-water mark to what the last
    /// read brought.
    fn note_read(&mut self, n: usize) -> Result<(), DriverError> {
        if n < MIN_READ {
            if let Some(hook) = self.small_read_hook {
                hook(&self.stream);
            }
        }
        if n >= BULK_READ {
            let now = Instant::now();
            if self.last_bulk_read.is_some_and(|last| now - last > LOW_WATER_WAIT) {
                // The peer paused: what comes now is a new message.
                self.bulk_run = 0;
            }
            self.last_bulk_read = Some(now);
            self.bulk_run = self.bulk_run.saturating_add(n);
            if self.bulk_run >= BULK_RUN {
                self.raise_low_water()?;
            }
        } else {
            self.lower_low_water()?;
        }
        if n >= self.read_size {
            self.read_size = (self.read_size * 2).min(MAX_READ);
        } else if n < self.read_size / 4 {
            self.read_size = (self.read_size / 2).max(MIN_READ);
        }
        Ok(())
    }

    /// Memory a connection holds for bulk transfers (spare data buffers, a
    /// large input buffer, the low-water timer), which it gives back after
    /// [`IDLE_RELEASE`] of quiet.
    fn holds_burst_memory(&mut self) -> bool {
        self.conn.spare_bytes() > 0
            || self.conn.input_buffer().capacity() > 4 * MIN_READ
            || self.low_water_timer.is_some()
    }

    /// Gives back what [`Self::holds_burst_memory`] counts.
    fn release_burst_memory(&mut self) {
        self.conn.drop_spare_buffers();
        if !self.low_water_raised {
            self.low_water_timer = None;
        }
        self.read_size = MIN_READ;
        let buf = self.conn.input_buffer();
        if buf.len() < MIN_READ {
            buf.shrink_to(MIN_READ);
        }
    }

    /// When the raised mark's wait is over (never, without a timer).
    async fn low_water_expiry(timer: Option<&FineTimer>) -> std::io::Result<()> {
        match timer {
            Some(t) => t.expired().await,
            None => std::future::pending().await,
        }
    }

    /// Reads some bytes from the peer, starting a time-based re-exchange
    /// when one falls due while waiting, and giving back burst memory when
    /// the peer stays quiet.
    async fn read_some(&mut self) -> Result<usize, DriverError> {
        loop {
            let want = self.read_size;
            let deadline = self.rekey_deadline();
            let idle = self.holds_burst_memory();
            let raised = self.low_water_raised;
            if deadline.is_none() && !idle && !raised {
                let buf = Self::read_space(&mut self.conn, want);
                let n = self.stream.read_buf(buf).await?;
                self.note_read(n)?;
                return Ok(n);
            }
            let read = tokio::select! {
                r = self.stream.read_buf(Self::read_space(&mut self.conn, want)) => Wake::Read(r),
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => Wake::Rekey,
                _ = tokio::time::sleep(IDLE_RELEASE), if idle && !raised => Wake::Idle,
                r = Self::low_water_expiry(self.low_water_timer.as_ref()), if raised => Wake::LowWater(r),
            };
            match read {
                Wake::Read(r) => {
                    let n = r?;
                    self.note_read(n)?;
                    return Ok(n);
                }
                Wake::Idle => self.release_burst_memory(),
                Wake::LowWater(r) => {
                    self.lower_low_water()?;
                    if let Err(e) = r {
                        // Never seen; the next raise makes a new timer.
                        tracing::debug!("low-water timer failed: {e}");
                        self.low_water_timer = None;
                    }
                }
                Wake::Rekey => {
                    if !self.conn.kex_in_progress() {
                        tracing::debug!("rekey interval reached; starting a key re-exchange");
                        self.conn.start_rekey();
                    }
                    self.keys_since.0 = Instant::now();
                    self.flush().await?;
                }
            }
        }
    }

    /// Runs the connection's slow key-exchange steps (finite-field DH, RSA
    /// signatures: milliseconds each; an RSA key exchange's transient key,
    /// a fraction of a second; see
    /// `tobira_proto::Config::offload_slow_kex`) on tokio's blocking pool,
    /// so that this worker thread goes on serving other connections
    /// meanwhile, and hands their results back. At most one step per core
    /// computes at a time, process-wide ([`kex_permits`]), so that a flood
    /// of such handshakes cannot crowd the worker threads off the CPU.
    /// Cancel-safe: a step whose wait is dropped (this runs inside
    /// callers' `select!`) is picked up again by the next call.
    async fn settle_kex_work(&mut self) -> Result<(), DriverError> {
        loop {
            if self.kex_job.is_none() {
                let Some(work) = self.conn.take_kex_work() else {
                    return Ok(());
                };
                let permits = kex_permits();
                self.kex_job = Some(tokio::spawn(async move {
                    // The semaphore is never closed. The permit goes with
                    // the computation: a blocking task cannot be aborted,
                    // so one that started holds its core's turn to the end
                    // even when this task is aborted (see `Drop`).
                    let permit = permits.acquire_owned().await.ok();
                    tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        let started = std::time::Instant::now();
                        let done = work.run();
                        tracing::debug!(
                            "key exchange: step computed off the I/O threads in {:.1} ms",
                            started.elapsed().as_secs_f64() * 1000.0
                        );
                        done
                    })
                    .await
                }));
            }
            let Some(job) = self.kex_job.as_mut() else {
                return Ok(());
            };
            let joined = job.await;
            self.kex_job = None;
            let done = match joined.and_then(|inner| inner) {
                Ok(done) => done,
                Err(e) => {
                    tracing::error!("key exchange step failed: {e}");
                    self.conn
                        .disconnect(DisconnectReason::KeyExchangeFailed, "key exchange failed");
                    let _ = self.flush().await;
                    return Err(DriverError::Io(std::io::Error::other(e)));
                }
            };
            if let Err(e) = self.conn.finish_kex_work(done) {
                let _ = self.flush().await;
                return Err(DriverError::Protocol(e));
            }
        }
    }

    /// Writes everything the connection has queued, channel data
    /// included: it is sealed in bursts as the output drains
    /// (`tobira_proto::connection::OUTPUT_BURST`), so the peer gets the
    /// first packets while the rest is being sealed. Lowers a raised
    /// receive low-water mark first if any of it may draw an answer (see
    /// [`Self::on_bulk_read`]); fails, like a write, if the kernel refuses.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.lower_if_answerable()?;
        while !self.conn.pending_output().is_empty() {
            let n = self.stream.write(self.conn.pending_output()).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.conn.consume_output(n);
            // Channel data is sealed as the output drains.
            self.lower_if_answerable()?;
        }
        self.stream.flush().await
    }

    /// Lowers a raised mark when we are about to send something the peer
    /// may be waiting for before it sends again (a reply, an echo, an
    /// acknowledgement): its next message, however short, must wake us at
    /// once. Our window adjustments do not count: a sending peer does not
    /// wait for them.
    fn lower_if_answerable(&mut self) -> std::io::Result<()> {
        let sent = self.conn.answerable_packets_sent();
        if sent != self.answerable_seen {
            self.answerable_seen = sent;
            self.lower_low_water()?;
        }
        Ok(())
    }

    /// The next event, reading from the peer as needed. A protocol error
    /// flushes our DISCONNECT before returning.
    pub async fn next_event(&mut self) -> Result<Event, DriverError> {
        loop {
            self.settle_kex_work().await?;
            self.flush().await?;
            if let Some(ev) = self.conn.poll_event() {
                return Ok(ev);
            }
            if self.conn.is_closed() {
                return Err(DriverError::Protocol(tobira_proto::Error::Closed));
            }
            let n = self.read_some().await?;
            if n == 0 {
                return Err(DriverError::Eof);
            }
            if let Err(e) = self.conn.feed(&[]) {
                let _ = self.flush().await;
                // Events queued before the error (e.g. traces) still count.
                return Err(DriverError::Protocol(e));
            }
        }
    }

    /// One step: an event if one is queued, else one read from the peer
    /// (which may produce none, e.g. a window adjustment). Lets callers
    /// re-check their own state after every read.
    pub async fn step(&mut self) -> Result<Option<Event>, DriverError> {
        self.settle_kex_work().await?;
        self.flush().await?;
        if let Some(ev) = self.conn.poll_event() {
            return Ok(Some(ev));
        }
        if self.conn.is_closed() {
            return Err(DriverError::Protocol(tobira_proto::Error::Closed));
        }
        let n = self.read_some().await?;
        if n == 0 {
            return Err(DriverError::Eof);
        }
        if let Err(e) = self.conn.feed(&[]) {
            let _ = self.flush().await;
            return Err(DriverError::Protocol(e));
        }
        self.settle_kex_work().await?;
        self.flush().await?;
        Ok(self.conn.poll_event())
    }

    /// [`Self::next_event`] with a deadline.
    pub async fn next_event_within(&mut self, limit: Option<Duration>) -> Result<Event, DriverError> {
        match limit {
            Some(d) => tokio::time::timeout(d, self.next_event())
                .await
                .map_err(|_| DriverError::Timeout)?,
            None => self.next_event().await,
        }
    }

    /// The local address of a TCP stream.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr>
    where
        S: AsLocalAddr,
    {
        self.stream.local_addr_opt()
    }
}

/// Acknowledges what was received at once, instead of after Linux's
/// delayed-ACK timer (up to 40 ms): OpenSSH's `ssh` and `sshd` send the
/// handshake's small packets without `TCP_NODELAY`, and each waited for the
/// ACK of the one before (`TCP_QUICKACK`, which the kernel turns off again
/// by itself).
pub fn quick_ack(stream: &tokio::net::TcpStream) {
    let _ = rustix::net::sockopt::set_tcp_quickack(stream, true);
}

/// Sets a TCP stream's receive low-water mark (for
/// [`Driver::on_bulk_read`]); false if the kernel refused.
pub fn set_receive_low_water(stream: &tokio::net::TcpStream, bytes: usize) -> bool {
    use std::os::fd::AsFd;
    crate::recv_low_water::set(stream.as_fd(), bytes).is_ok()
}

/// Streams that know their local address.
pub trait AsLocalAddr {
    /// The local address, when there is one.
    fn local_addr_opt(&self) -> Option<std::net::SocketAddr>;
}

impl AsLocalAddr for tokio::net::TcpStream {
    fn local_addr_opt(&self) -> Option<std::net::SocketAddr> {
        self.local_addr().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use tobira_proto::hostkey::SigningKey;

    fn config(kex: &str, host_key: &str, offload: bool) -> Arc<tobira_proto::Config> {
        Arc::new(tobira_proto::Config {
            kex: vec![kex.to_string()],
            host_key: vec![host_key.to_string()],
            host_keys: vec![Arc::new(SigningKey::from_ed448(&[7u8; 57], None).unwrap())],
            offload_slow_kex: offload,
            ..tobira_proto::Config::default()
        })
    }

    /// A client and a server driver over an in-memory pipe, the server's
    /// DH step offloaded: the client reaches ssh-userauth, twice over (a
    /// re-exchange), and every turn is given back afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn offloaded_steps_complete_and_give_their_turns_back() {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let cfg = config("diffie-hellman-group14-sha256", "ssh-ed448", true);
        let server = tokio::spawn(async move {
            let rng = Box::new(rand::rngs::StdRng::seed_from_u64(2));
            let mut d = Driver::new(b, Connection::server(cfg, rng));
            // Until the client goes away.
            while d.next_event().await.is_ok() {}
            d.conn.completed_kex_count()
        });
        let rng = Box::new(rand::rngs::StdRng::seed_from_u64(1));
        let ccfg = config("diffie-hellman-group14-sha256", "ssh-ed448", false);
        let mut c = Driver::new(a, Connection::client(ccfg, rng));
        loop {
            match c.next_event().await.unwrap() {
                Event::HostKey { .. } => c.conn.accept_host_key().unwrap(),
                Event::ServiceAccepted(s) if s == "ssh-userauth" => break,
                _ => {}
            }
        }
        c.conn.start_rekey();
        c.flush().await.unwrap();
        while c.conn.completed_kex_count() < 2 {
            c.step().await.unwrap();
        }
        drop(c);
        assert_eq!(server.await.unwrap(), 2);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(kex_permits().available_permits(), cores);
    }

    thread_local! {
        /// The marks [`recording_hook`] has set on this thread (the tests'
        /// runtime has one thread).
        static MARKS: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// [`set_receive_low_water`], recording each mark it sets.
    fn recording_hook(stream: &tokio::net::TcpStream, bytes: usize) -> bool {
        MARKS.with(|m| m.borrow_mut().push(bytes));
        set_receive_low_water(stream, bytes)
    }

    fn last_mark() -> Option<usize> {
        MARKS.with(|m| m.borrow().last().copied())
    }

    /// A server driver (no handshake: only its reads are used) on the
    /// receiving end of a TCP pair, its hook recording the marks.
    async fn bulk_receiver() -> (tokio::net::TcpStream, Driver<tokio::net::TcpStream>) {
        let (tx, rx) = crate::recv_low_water::loopback_pair().await;
        let rng = Box::new(rand::rngs::StdRng::seed_from_u64(3));
        let cfg = config("curve25519-sha256", "ssh-ed448", false);
        let mut d = Driver::new(rx, Connection::server(cfg, rng));
        d.on_bulk_read(recording_hook);
        (tx, d)
    }

    /// Reads until `total` bytes have come, each read's bytes dropped;
    /// returns the largest read and whether the mark was raised after any.
    async fn read_bytes(d: &mut Driver<tokio::net::TcpStream>, total: usize) -> (usize, bool) {
        let (mut got, mut largest, mut raised) = (0, 0, false);
        while got < total {
            let n = d.read_some().await.unwrap();
            assert!(n > 0, "the stream ended");
            d.conn.input_buffer().clear();
            got += n;
            largest = largest.max(n);
            raised |= d.low_water_raised;
        }
        (largest, raised)
    }

    /// Raises the mark as a bulk read would, and clears tokio's cached
    /// readiness (a read finding nothing), so that the next read waits for
    /// the kernel's word.
    fn raise_and_settle(d: &mut Driver<tokio::net::TcpStream>) {
        d.raise_low_water().unwrap();
        assert_eq!(last_mark(), Some(BULK_LOW_WATER));
        let mut buf = [0u8; 64];
        assert!(d.stream.try_read(&mut buf).is_err(), "unread input");
    }

    /// Moves a raised mark's wait a minute away (re-arms its timer).
    fn far_deadline(d: &mut Driver<tokio::net::TcpStream>) {
        let far = Duration::from_secs(60);
        d.low_water_timer
            .as_ref()
            .expect("raised without a timer")
            .arm(far)
            .unwrap();
    }

    /// Sending what the peer may answer lowers a raised mark before it
    /// goes, so that the answer, however short, is read at once (the
    /// deadline is a minute away: only the lowering can end the read in
    /// time). A flush with nothing new to send leaves the mark up.
    #[tokio::test]
    async fn sending_an_answerable_packet_lowers_the_mark() {
        let (mut tx, mut d) = bulk_receiver().await;
        raise_and_settle(&mut d);
        far_deadline(&mut d);
        // A new server connection has its KEXINIT to send.
        assert!(!d.conn.pending_output().is_empty());
        d.flush().await.unwrap();
        assert_eq!(last_mark(), Some(1), "the mark stayed up");
        assert!(!d.low_water_raised);

        d.raise_low_water().unwrap();
        far_deadline(&mut d);
        d.flush().await.unwrap();
        assert_eq!(last_mark(), Some(BULK_LOW_WATER), "lowered with nothing sent");
        d.lower_low_water().unwrap();

        let mut theirs = vec![0u8; 4096];
        let n = tx.read(&mut theirs).await.unwrap();
        assert!(theirs[..n].starts_with(b"SSH-2.0-"), "our output did not go out");
        raise_and_settle(&mut d);
        far_deadline(&mut d);
        d.conn.disconnect(DisconnectReason::ByApplication, "bye");
        d.flush().await.unwrap();
        tx.write_all(&[2u8; 100]).await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), read_bytes(&mut d, 100)).await;
        assert_eq!(read.expect("the answer waited under the mark").0, 100);
    }

    /// Bulk input raises the receive low-water mark; input that stops
    /// short of it is read once the wait is over, which lowers the mark.
    #[tokio::test]
    async fn bulk_input_raises_the_mark_and_a_short_tail_is_read_after_the_wait() {
        let (mut tx, mut d) = bulk_receiver().await;
        let writer = tokio::spawn(async move {
            tx.write_all(&vec![1u8; 4 << 20]).await.unwrap();
            tx
        });
        // Reads grow from 16 KiB by doubling while they fill up, so some
        // are 32 KiB or more before the 4 MiB are through.
        let (largest, raised) = read_bytes(&mut d, 4 << 20).await;
        assert!(largest >= BULK_READ, "largest read {largest}");
        assert!(raised, "not raised by a bulk transfer");
        let mut tx = writer.await.unwrap();

        let start = Instant::now();
        raise_and_settle(&mut d);
        tx.write_all(&[2u8; 100]).await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), read_bytes(&mut d, 100)).await;
        assert_eq!(read.expect("stuck below the raised mark"), (100, false));
        assert_eq!(last_mark(), Some(1), "the mark was not lowered");
        assert!(!d.low_water_raised);
        // Under the mark, the 100 bytes woke nobody: only the deadline did.
        assert!(start.elapsed() >= LOW_WATER_WAIT, "read after {:?}", start.elapsed());
    }

    /// The mark goes up only once bulk reads have brought [`BULK_RUN`] in
    /// a row: a message shorter than that is read as it comes, however
    /// large its reads. A smaller read, a pause, or something sent that
    /// the peer may answer starts the run over.
    #[tokio::test]
    async fn the_mark_waits_for_a_run_of_bulk_reads() {
        let (_tx, mut d) = bulk_receiver().await;
        let read = 64 * 1024;
        let reads_to_raise = BULK_RUN / read;
        for _ in 1..reads_to_raise {
            d.note_read(read).unwrap();
        }
        assert!(!d.low_water_raised, "raised within {} bytes", BULK_RUN - read);
        d.note_read(read).unwrap();
        assert!(d.low_water_raised, "not raised after {BULK_RUN} bytes");
        assert_eq!(last_mark(), Some(BULK_LOW_WATER));

        // A small read lowers it and starts the run over.
        d.note_read(100).unwrap();
        assert!(!d.low_water_raised);
        assert_eq!(d.bulk_run, 0);

        // A pause longer than the wait starts it over too.
        for _ in 1..reads_to_raise {
            d.note_read(read).unwrap();
        }
        tokio::time::sleep(LOW_WATER_WAIT * 4).await;
        d.note_read(read).unwrap();
        assert!(!d.low_water_raised, "raised across a pause");
        assert_eq!(d.bulk_run, read);

        // So does our answer (the KEXINIT queued at start).
        d.flush().await.unwrap();
        assert_eq!(d.bulk_run, 0);
    }

    /// The timer is made when the mark first goes up, and given back with
    /// the burst's memory once the mark is down: idle sessions hold none.
    #[tokio::test]
    async fn the_timer_is_given_back_with_burst_memory() {
        let (_tx, mut d) = bulk_receiver().await;
        assert!(d.low_water_timer.is_none());
        d.raise_low_water().unwrap();
        assert!(d.low_water_timer.is_some());
        assert!(d.holds_burst_memory());
        d.release_burst_memory();
        assert!(d.low_water_timer.is_some(), "dropped while raised");
        d.lower_low_water().unwrap();
        d.release_burst_memory();
        assert!(d.low_water_timer.is_none());
    }

    /// Callers race reads against other work and drop them (`select!`):
    /// the wait under the raised mark still ends, at the same deadline.
    #[tokio::test]
    async fn a_short_tail_is_read_though_every_read_is_dropped_before_it_ends() {
        let (mut tx, mut d) = bulk_receiver().await;
        raise_and_settle(&mut d);
        tx.write_all(&[2u8; 100]).await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                tokio::select! {
                    biased;
                    n = d.read_some() => break n.unwrap(),
                    // Ready at its second poll: every read is dropped
                    // after a scheduler turn or two.
                    _ = tokio::task::yield_now() => {}
                }
            }
        })
        .await;
        assert_eq!(read.expect("a read dropped over and over never ended"), 100);
        assert_eq!(last_mark(), Some(1));
    }

    /// A read below 32 KiB lowers a raised mark at once.
    #[tokio::test]
    async fn a_small_read_lowers_the_mark() {
        let (mut tx, mut d) = bulk_receiver().await;
        tx.write_all(&[2u8; 100]).await.unwrap();
        d.stream.readable().await.unwrap();
        // Raised after the bytes are known to be there, with a deadline
        // far off: only the small read can lower it in time.
        d.raise_low_water().unwrap();
        far_deadline(&mut d);
        let read = tokio::time::timeout(Duration::from_secs(5), read_bytes(&mut d, 100)).await;
        assert_eq!(read.expect("the read waited for the deadline").0, 100);
        assert_eq!(last_mark(), Some(1));
        assert!(!d.low_water_raised);
    }
}
