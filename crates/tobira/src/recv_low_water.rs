//! A socket's receive low-water mark (`SO_RCVLOWAT`, socket(7)).
//!
//! Linux' TCP wakes a reader waiting in `epoll` only once this many bytes
//! are queued (`tcp_data_ready`), or earlier when its buffer or window runs
//! short. Every wake-up of a sleeping reader is paid by the sender: the
//! kernel runs the receiving side of loopback TCP in the sending thread,
//! and waking a thread that sleeps on another core costs it an
//! inter-processor interrupt, a VM exit on a virtual machine.
//! [`crate::driver::Driver`] raises the mark during bulk transfers, so that
//! the peer's writes wake us once per quarter megabyte rather than once per
//! write (see `Driver::on_bulk_read`).
//!
//! Lowering the mark wakes a waiting reader at once if enough is queued,
//! and a non-blocking read returns whatever is queued whatever the mark.
//!
//! This is the one socket option tobira sets that no safe crate offers
//! (nix 0.29, rustix 1.1 and socket2 0.5/0.6 have no setter for it), so it
//! is a single `setsockopt` call in `unsafe`, the only one of this module.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc;

/// Sets the receive low-water mark of the socket `fd` to `bytes` (at
/// least 1, the default: wake on any byte). Linux caps it at half the
/// largest receive buffer (`tcp_rmem`'s maximum). A receive buffer too
/// small to hold the mark it grows to that size (`tcp_set_rcvlowat`), and
/// then also clamps the window it advertises to the mark until its own
/// tuning grows the buffer further: a transfer over a long path that
/// raises the mark early runs with a 256 KiB window for its first round
/// trips (measured over a 20 ms path in `bench/`: no slower).
pub fn set(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX).max(1);
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is borrowed, so it stays open for the whole call; the
    // option value points at `value`, a live `c_int` on this stack, and
    // `len` is exactly its size; the kernel only reads it.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast::<libc::c_void>(),
            len,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A connected TCP pair on loopback, (connecting side, accepted side): the
/// sockets the tests of the mark's users write into and read from.
#[cfg(test)]
pub(crate) async fn loopback_pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (a, b) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    (a.expect("connect"), b.expect("accept").0)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    use super::loopback_pair as pair;

    async fn readable_within(s: &TcpStream, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), s.readable())
            .await
            .is_ok()
    }

    /// Reads what is queued until the socket would block, which is what
    /// clears tokio's cached readiness (a fresh stream counts as readable
    /// until a read finds nothing); returns the bytes read.
    fn drain(s: &TcpStream) -> usize {
        let mut buf = vec![0; 1 << 16];
        let mut total = 0;
        loop {
            match s.try_read(&mut buf) {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return total,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    #[tokio::test]
    async fn the_reader_is_woken_only_once_the_mark_is_queued() {
        let (mut tx, rx) = pair().await;
        super::set(rx.as_fd(), 1000).expect("setsockopt");
        assert_eq!(drain(&rx), 0);
        tx.write_all(&[7; 10]).await.expect("write");
        assert!(
            !readable_within(&rx, 100).await,
            "woken by 10 bytes under a mark of 1000"
        );
        tx.write_all(&[7; 990]).await.expect("write");
        assert!(readable_within(&rx, 2000).await, "not woken at the mark");
        assert_eq!(drain(&rx), 1000);
    }

    #[tokio::test]
    async fn lowering_the_mark_wakes_a_waiting_reader() {
        let (mut tx, rx) = pair().await;
        let rx = std::sync::Arc::new(rx);
        super::set(rx.as_fd(), 1000).expect("setsockopt");
        assert_eq!(drain(&rx), 0);
        tx.write_all(&[7; 10]).await.expect("write");
        let waiter = {
            let rx = rx.clone();
            tokio::spawn(async move { rx.readable().await.is_ok() })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished(), "woken by 10 bytes under a mark of 1000");
        super::set(rx.as_fd(), 1).expect("setsockopt");
        let woken = tokio::time::timeout(Duration::from_secs(2), waiter).await;
        assert!(
            matches!(woken, Ok(Ok(true))),
            "lowering the mark did not wake the reader"
        );
        assert_eq!(drain(&rx), 10);
    }

    #[test]
    fn a_descriptor_that_is_no_socket_is_refused() {
        let file = std::fs::File::open("/dev/null").expect("open");
        assert!(super::set(file.as_fd(), 1000).is_err());
    }
}
