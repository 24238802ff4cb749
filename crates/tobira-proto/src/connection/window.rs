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
//! channel request with `want_reply` that no peer implements
//! ([`ChannelRequest::WindowProbe`], PuTTY's
//! `winadj@putty.projects.tartarus.org`; peers answer CHANNEL_FAILURE,
//! RFC 4254 §5.4, and any answer serves). The answer comes one round trip
//! later. Window adjusts go out once a quarter of the window has been
//! consumed (or less than half of it is left), so a peer held back by the
//! window has three quarters of it or more in flight. If in that round
//! trip the application took (wrote on) at least half the window, the
//! window is what holds the transfer back: it doubles, up to
//! [`MAX_WINDOW`] per channel and [`MAX_GROWTH`] more than the starting
//! windows per connection (the memory a peer can make us buffer). What
//! counts is what the application took, not what arrived: a consumer that
//! slows down or stops, or a receiver too busy to read its input, never
//! makes a window grow, whatever the peer sends.
//!
//! After a round trip without growth, the next probe waits for a window's
//! worth of data taken: on a short path (or loopback) every adjust could
//! carry one, and each costs the peer a message to handle, where a busy
//! sender has no time to spare. After a growth the next probe goes with
//! the next adjust, while the path may hold more.

use super::channels::LOCAL_WINDOW;
#[cfg(doc)]
use crate::msg::connection::ChannelRequest;

/// The largest window one channel grows to: 16 MiB, enough for 1 Gbit/s
/// over 130 ms.
pub const MAX_WINDOW: u32 = 16 * 1024 * 1024;
/// The most the windows of one connection's channels may grow beyond
/// their starting [`LOCAL_WINDOW`], together.
pub const MAX_GROWTH: u32 = 32 * 1024 * 1024;

/// One channel's receive window, as far as its size goes.
#[derive(Debug)]
pub(super) struct Window {
    /// The window kept open for the peer: what WINDOW_ADJUSTs top up to.
    pub(super) size: u32,
    /// Data bytes the application has taken (consumed) so far.
    taken: u64,
    /// `taken` when the outstanding probe was sent.
    probe_mark: Option<u64>,
    /// `taken` from which the next probe may go.
    next_probe: u64,
}

impl Window {
    pub(super) fn new() -> Self {
        Window {
            size: LOCAL_WINDOW,
            taken: 0,
            probe_mark: None,
            next_probe: 0,
        }
    }

    /// Counts `n` bytes the application has taken.
    pub(super) fn taken(&mut self, n: u32) {
        self.taken = self.taken.saturating_add(u64::from(n));
    }

    /// Whether a probe should go with the window adjust being sent: none
    /// is outstanding, a window's worth of data was taken since the last
    /// one that did not grow the window, and the window may still grow
    /// (`growth_left` is what the connection's budget allows).
    pub(super) fn wants_probe(&self, growth_left: u32) -> bool {
        self.probe_mark.is_none() && self.taken >= self.next_probe && self.size < MAX_WINDOW && growth_left > 0
    }

    /// The probe has been sent.
    pub(super) fn probe_sent(&mut self) {
        self.probe_mark = Some(self.taken);
    }

    /// The probe's answer came, a round trip after it was sent. Returns by
    /// how much the window grows (0 when it stays), at most `growth_left`;
    /// `size` is already updated.
    pub(super) fn probe_answered(&mut self, growth_left: u32) -> u32 {
        let Some(mark) = self.probe_mark.take() else {
            return 0;
        };
        let in_round_trip = self.taken.saturating_sub(mark);
        if in_round_trip < u64::from(self.size / 2) {
            self.next_probe = self.taken.saturating_add(u64::from(self.size));
            return 0;
        }
        let grow = self.size.min(MAX_WINDOW.saturating_sub(self.size)).min(growth_left);
        self.size += grow;
        // Growing, the next probe goes at once: the path may hold more.
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
    fn grows_only_when_the_peer_sent_half_the_window_in_a_round_trip() {
        let mut w = Window::new();
        assert!(w.wants_probe(MAX_GROWTH));
        w.probe_sent();
        assert!(!w.wants_probe(MAX_GROWTH), "one probe at a time");
        // Less than half the window in a round trip: the link or the
        // consumer is the limit, not the window.
        w.taken(LOCAL_WINDOW / 2 - 1);
        assert_eq!(w.probe_answered(MAX_GROWTH), 0);
        assert_eq!(w.size, LOCAL_WINDOW);
        // The next probe waits for another window's worth of data.
        w.taken(LOCAL_WINDOW - 1);
        assert!(!w.wants_probe(MAX_GROWTH));
        w.taken(1);
        assert!(w.wants_probe(MAX_GROWTH));
        // Half the window in a round trip: it doubles, and the next probe
        // may go at once.
        w.probe_sent();
        w.taken(LOCAL_WINDOW / 2);
        assert_eq!(w.probe_answered(MAX_GROWTH), LOCAL_WINDOW);
        assert_eq!(w.size, 2 * LOCAL_WINDOW);
        assert!(w.wants_probe(MAX_GROWTH));
        // An answer without a probe changes nothing.
        assert_eq!(w.probe_answered(MAX_GROWTH), 0);
    }

    #[test]
    fn growth_stops_at_the_channel_and_connection_limits() {
        let mut w = Window::new();
        let mut total = 0;
        while w.wants_probe(MAX_GROWTH) {
            w.probe_sent();
            w.taken(w.size);
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
        w.taken(w.size);
        assert_eq!(w.probe_answered(1000), 1000);
        assert_eq!(w.size, LOCAL_WINDOW + 1000);
        assert!(!w.wants_probe(0));
    }
}
