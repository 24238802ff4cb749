//! The path's round trip, measured once per connection, and what it says
//! about receive windows.
//!
//! A window only limits a transfer when it is smaller than the
//! bandwidth-delay product, rate × round trip. On a short path (loopback,
//! a LAN) the starting [`LOCAL_WINDOW`] already covers more than any
//! transfer moves: 2 MiB per millisecond is 2 GiB/s. There, the probes of
//! `window.rs` mislead: a busy sender that queues what the window allows
//! (OpenSSH's `sshd` reads its program's output for as long as the window
//! lasts) answers a probe only after its queue, so the round trip they
//! measure is the queue's, which grows with the window; and a bigger
//! window only makes that sender buffer, and copy, more. Measured over
//! loopback: `sshd` spent 10–30 % more CPU per GiB sending to a `tobira`
//! whose window had grown to 8 MiB than to `ssh` (README, *Performance*).
//!
//! So once authenticated, the driver times one request that every peer
//! answers at once, before any channel carries data
//! ([`Connection::probe_round_trip`]: OpenSSH's own keepalive, a global
//! request with `want_reply`; RFC 4254 §4 has peers answer requests they
//! do not know with REQUEST_FAILURE), and tells the connection
//! ([`Connection::path_round_trip`]). A round trip under [`SHORT_PATH`]
//! keeps every window at its start; a longer one, or none measured, leaves
//! growth as [`crate::Config::window_growth`] says.

use std::time::Duration;

use super::channels::ReplyOwner;
#[cfg(doc)]
use super::channels::LOCAL_WINDOW;
use super::Connection;
use crate::error::Error;
use crate::msg::num;
use crate::wire::Writer;

/// Round trips shorter than this keep windows at [`LOCAL_WINDOW`]: 2 MiB
/// per millisecond covers 2 GiB/s, more than one channel moves.
pub const SHORT_PATH: Duration = Duration::from_millis(1);

/// The request timed: OpenSSH's keepalive, which its `ssh` and `sshd` send
/// themselves and every implementation answers (with REQUEST_FAILURE).
const PROBE: &str = "keepalive@openssh.com";

impl Connection {
    /// Sends the round-trip probe: a global request whose answer the
    /// connection takes itself (no [`super::Event::GlobalReply`]), counted
    /// by [`Self::round_trips_answered`]. The caller times it.
    pub fn probe_round_trip(&mut self) -> Result<(), Error> {
        self.connection_ready()?;
        let mut m = vec![num::GLOBAL_REQUEST];
        m.put_string(PROBE.as_bytes());
        m.put_bool(true);
        self.send(m)?;
        // Recorded once it is on its way, as window probes are: a probe
        // that could not be sent must not take the next real reply.
        self.chans.global_replies_due.push_back(ReplyOwner::RoundTrip);
        Ok(())
    }

    /// Answers to [`Self::probe_round_trip`] received so far.
    pub fn round_trips_answered(&self) -> u64 {
        self.chans.round_trips_answered
    }

    /// The path's round trip, as the caller timed a probe: under
    /// [`SHORT_PATH`], receive windows stay at [`LOCAL_WINDOW`] from now on
    /// (a window that grew before keeps its size).
    pub fn path_round_trip(&mut self, rtt: Duration) {
        self.chans.short_path = rtt < SHORT_PATH;
    }

    /// Whether receive windows may grow: configured so, and the path not
    /// found short.
    pub fn window_growth(&self) -> bool {
        self.config.window_growth && !self.chans.short_path
    }
}
