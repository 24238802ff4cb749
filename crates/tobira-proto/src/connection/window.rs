//! Receive windows that follow the bandwidth-delay product.
//!
//! RFC 4254 §5.2 leaves the window size to the receiver. A fixed window
//! caps a channel at window ÷ round-trip time: OpenSSH's 2 MiB allows at
//! most 100 MiB/s over a 20 ms path and 20 MiB/s over 100 ms, whatever the
//! link (HPN-SSH exists because of it). tobira starts every channel at
//! [`LOCAL_WINDOW`] like OpenSSH and grows it while the window, and not
//! the link or the application, is what limits the transfer.
//!
//! How it knows, without a clock: along with a WINDOW_ADJUST it sends a
//! channel request with `want_reply` that no peer implements (PuTTY's
//! `winadj@putty.projects.tartarus.org`, which peers answer with
//! CHANNEL_FAILURE, RFC 4254 §5.4). The answer comes one round trip later.
//! If in that round trip the peer sent at least three quarters of the
//! window, the peer was waiting for window: the window doubles, up to
//! [`MAX_WINDOW`] per channel and [`MAX_GROWTH`] more than the starting
//! windows per connection (the memory a peer can make us buffer). A
//! window only opens as the application consumes data, so a slow consumer
//! never makes it grow: what the peer can send in a round trip is then
//! what the consumer took, less than the window.

use super::channels::LOCAL_WINDOW;

/// The largest window one channel grows to: 16 MiB, enough for 1 Gbit/s
/// over 130 ms.
pub const MAX_WINDOW: u32 = 16 * 1024 * 1024;
/// The most the windows of one connection's channels may grow beyond
/// their starting [`LOCAL_WINDOW`], together.
pub const MAX_GROWTH: u32 = 32 * 1024 * 1024;
/// The channel request that measures a round trip: every peer answers it
/// with CHANNEL_FAILURE (and tobira does, in the core).
pub const PROBE_REQUEST: &str = "winadj@putty.projects.tartarus.org";

/// One channel's receive window, as far as its size goes.
#[derive(Debug)]
pub(super) struct Window {
    /// The window kept open for the peer: what WINDOW_ADJUSTs top up to.
    pub(super) size: u32,
    /// Data bytes received on the channel so far.
    received: u64,
    /// `received` when the outstanding probe was sent.
    probe_mark: Option<u64>,
}

impl Window {
    pub(super) fn new() -> Self {
        Window {
            size: LOCAL_WINDOW,
            received: 0,
            probe_mark: None,
        }
    }

    /// Counts `n` received data bytes.
    pub(super) fn received(&mut self, n: u32) {
        self.received = self.received.saturating_add(u64::from(n));
    }

    /// Whether a probe should go with the window adjust being sent: none
    /// is outstanding and the window may still grow (`growth_left` is what
    /// the connection's budget allows).
    pub(super) fn wants_probe(&self, growth_left: u32) -> bool {
        self.probe_mark.is_none() && self.size < MAX_WINDOW && growth_left > 0
    }

    /// The probe has been sent.
    pub(super) fn probe_sent(&mut self) {
        self.probe_mark = Some(self.received);
    }

    /// The probe's answer came, a round trip after it was sent. Returns by
    /// how much the window grows (0 when it stays), at most `growth_left`;
    /// `size` is already updated.
    pub(super) fn probe_answered(&mut self, growth_left: u32) -> u32 {
        let Some(mark) = self.probe_mark.take() else {
            return 0;
        };
        let in_round_trip = self.received.saturating_sub(mark);
        let full = u64::from(self.size) - u64::from(self.size / 4);
        if in_round_trip < full {
            return 0;
        }
        let grow = self.size.min(MAX_WINDOW - self.size.min(MAX_WINDOW)).min(growth_left);
        self.size += grow;
        grow
    }

    /// How far this window has grown beyond its start (returned to the
    /// connection's budget when the channel goes).
    pub(super) fn growth(&self) -> u32 {
        self.size.saturating_sub(LOCAL_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_only_when_the_peer_filled_the_window_in_a_round_trip() {
        let mut w = Window::new();
        assert!(w.wants_probe(MAX_GROWTH));
        w.probe_sent();
        assert!(!w.wants_probe(MAX_GROWTH), "one probe at a time");
        // Half the window in a round trip: the link or the consumer is
        // the limit, not the window.
        w.received(LOCAL_WINDOW / 2);
        assert_eq!(w.probe_answered(MAX_GROWTH), 0);
        assert_eq!(w.size, LOCAL_WINDOW);
        // A whole window in a round trip: it doubles.
        w.probe_sent();
        w.received(LOCAL_WINDOW);
        assert_eq!(w.probe_answered(MAX_GROWTH), LOCAL_WINDOW);
        assert_eq!(w.size, 2 * LOCAL_WINDOW);
        // An answer without a probe changes nothing.
        assert_eq!(w.probe_answered(MAX_GROWTH), 0);
    }

    #[test]
    fn growth_stops_at_the_channel_and_connection_limits() {
        let mut w = Window::new();
        let mut total = 0;
        while w.wants_probe(MAX_GROWTH) {
            w.probe_sent();
            w.received(w.size);
            let g = w.probe_answered(MAX_GROWTH);
            assert!(g > 0);
            total += g;
        }
        assert_eq!(w.size, MAX_WINDOW);
        assert_eq!(total, MAX_WINDOW - LOCAL_WINDOW);
        assert_eq!(w.growth(), total);
        // The connection's budget caps it.
        let mut w = Window::new();
        w.probe_sent();
        w.received(w.size);
        assert_eq!(w.probe_answered(1000), 1000);
        assert_eq!(w.size, LOCAL_WINDOW + 1000);
        assert!(!w.wants_probe(0));
    }
}
