//! A one-shot timer with microsecond precision, for waits shorter than
//! tokio's timer can measure.
//!
//! tokio's timer wheel ticks once a millisecond and rounds every deadline
//! up to its next tick, so a wait of 300 µs takes 1 to 2 ms. A Linux
//! `timerfd` (timerfd_create(2)) expires when asked, within the kernel's
//! timer slack (50 µs by default), and becomes readable then: it is
//! awaited like a socket, in the same `select!`. The driver uses one to
//! bound how long input can wait under a raised receive low-water mark
//! (see `Driver::on_bulk_read`).
//!
//! Cancel-safe: an expiry stays readable until [`FineTimer::expired`]
//! consumes it, so a wait dropped in `select!` loses nothing.
//!
//! The one `unsafe` here is tokio's registration of the descriptor
//! (`AsyncFd::register_with_interest`, unsafe because tokio cannot check that the
//! descriptor stays open while registered); rustix makes the timer.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A one-shot monotonic timer that tokio can wait on.
pub struct FineTimer {
    fd: AsyncFd<OwnedFd>,
}

impl FineTimer {
    /// A disarmed timer.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled (as tokio's own sockets).
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: `fd` is the timer just created, owned and open; the
        // AsyncFd takes ownership, and nothing closes or replaces it while
        // registered (only shared references to it are handed out).
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(FineTimer { fd })
    }

    /// Arms the timer to expire `after` from now (at least 1 ns: a zero
    /// time would disarm it), replacing any earlier expiry, read or not.
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        // A wait longer than 2^63 s is not one anybody asks for.
        let value = Timespec::try_from(after).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let spec = Itimerspec {
            it_interval: Timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: value,
        };
        timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
        Ok(())
    }

    /// Waits until the armed time has passed, and consumes the expiry.
    /// Never ends while the timer is disarmed.
    pub async fn expired(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut count = [0u8; 8];
            match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut count).map_err(io::Error::from)) {
                Ok(result) => return result.map(|_| ()),
                // Readiness left over from an expiry that `arm` replaced.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The timer ends its wait after the time asked for, before tokio's
    /// millisecond tick would.
    #[tokio::test]
    async fn expires_after_the_time_asked_for_and_finer_than_a_millisecond() {
        let t = FineTimer::new().unwrap();
        let mut waits = Vec::new();
        for _ in 0..20 {
            let start = Instant::now();
            t.arm(Duration::from_micros(200)).unwrap();
            t.expired().await.unwrap();
            waits.push(start.elapsed());
        }
        // Never early; and not rounded up to a millisecond tick (the
        // shortest of the waits, so that a busy machine's delays do not
        // decide it).
        assert!(waits.iter().all(|w| *w >= Duration::from_micros(200)), "{waits:?}");
        assert!(waits.iter().min() < Some(&Duration::from_millis(1)), "{waits:?}");
    }

    /// Re-arming replaces the earlier expiry, even one already due and not
    /// yet read; a disarmed timer never ends its wait.
    #[tokio::test]
    async fn rearming_replaces_an_unread_expiry() {
        let t = FineTimer::new().unwrap();
        t.arm(Duration::from_micros(1)).unwrap();
        // The reactor runs meanwhile and records the expiry as readiness.
        tokio::time::sleep(Duration::from_millis(2)).await;
        t.arm(Duration::from_secs(60)).unwrap();
        let early = tokio::time::timeout(Duration::from_millis(50), t.expired()).await;
        assert!(early.is_err(), "the replaced expiry ended the wait");
        t.arm(Duration::from_micros(100)).unwrap();
        let due = tokio::time::timeout(Duration::from_secs(5), t.expired()).await;
        assert!(due.expect("the new expiry never came").is_ok());
    }

    /// A wait dropped before the expiry loses nothing: the expiry that
    /// comes after the wait was dropped ends the next wait.
    #[tokio::test]
    async fn a_dropped_wait_leaves_the_expiry_for_the_next() {
        use std::future::Future;
        use std::task::Poll;
        let t = FineTimer::new().unwrap();
        t.arm(Duration::from_micros(300)).unwrap();
        {
            let mut wait = std::pin::pin!(t.expired());
            let pending = std::future::poll_fn(|cx| Poll::Ready(wait.as_mut().poll(cx).is_pending())).await;
            assert!(pending, "expired at once");
        }
        std::thread::sleep(Duration::from_millis(1));
        let next = tokio::time::timeout(Duration::from_secs(5), t.expired()).await;
        assert!(next.expect("the expiry was lost").is_ok());
    }
}
