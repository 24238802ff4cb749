//! Times the path's round trip once per connection, for the receive
//! windows (`tobira_proto`'s `connection/path_probe.rs`): once the
//! connection is authenticated, probes the peer answers at once
//! ([`Connection::probe_round_trip`]), each timed from when it is queued
//! (the driver writes it in the same flush) to when its answer has been
//! read, one after the other, [`PROBES`] of them; the shortest goes to
//! [`Connection::path_round_trip`]. The first can take far longer than the
//! path: `sshd`, which sends without `TCP_NODELAY`, holds a small reply
//! back until its last packet is acknowledged, and right after
//! authentication it has just sent some (measured: 44 ms on loopback, the
//! delayed-ACK timer, where the next probes took 0.1 ms). Under
//! [`tobira_proto::SHORT_PATH`] (loopback, a LAN) receive windows stay at
//! their start, where they already cover more than a channel moves.

use std::time::{Duration, Instant};

use tobira_proto::Connection;

/// Probes sent, one after the other; the shortest round trip counts.
const PROBES: u32 = 3;

/// Where the measurement stands.
#[derive(Debug, Default)]
pub(crate) enum RoundTrip {
    /// Not measured yet (before authentication, or growth is off anyway).
    #[default]
    Unmeasured,
    /// A probe is out: when, how many answers had come before it, which
    /// probe this is (from 1), and the shortest round trip before it.
    Probing {
        sent: Instant,
        answered_before: u64,
        nth: u32,
        shortest: Option<Duration>,
    },
    /// Done: the connection has the round trip.
    Measured,
}

impl RoundTrip {
    /// Sends the probes when the connection is ready for them, and hands
    /// the round trip to the connection once they are answered. Called
    /// before each flush of the connection's output, so a probe queued
    /// here goes out at once and an answer fed since the last call is
    /// seen.
    pub(crate) fn watch(&mut self, conn: &mut Connection) {
        match *self {
            RoundTrip::Unmeasured => {
                if conn.window_growth() && conn.is_authenticated() && !conn.is_closed() {
                    // Refused during a key re-exchange: tried again at
                    // the next flush.
                    self.send(conn, 1, None);
                }
            }
            RoundTrip::Probing {
                sent,
                answered_before,
                nth,
                shortest,
            } => {
                if conn.round_trips_answered() <= answered_before {
                    return;
                }
                let rtt = sent.elapsed();
                let shortest = shortest.map_or(rtt, |s| s.min(rtt));
                // Short already, or enough probes, or the next one refused
                // (a key re-exchange): what was measured stands.
                if shortest < tobira_proto::SHORT_PATH || nth >= PROBES || !self.send(conn, nth + 1, Some(shortest)) {
                    Self::conclude(conn, shortest);
                    *self = RoundTrip::Measured;
                }
            }
            RoundTrip::Measured => {}
        }
    }

    /// Sends probe `nth`; false if the connection refused it.
    fn send(&mut self, conn: &mut Connection, nth: u32, shortest: Option<Duration>) -> bool {
        let answered_before = conn.round_trips_answered();
        if conn.probe_round_trip().is_err() {
            return false;
        }
        *self = RoundTrip::Probing {
            sent: Instant::now(),
            answered_before,
            nth,
            shortest,
        };
        true
    }

    /// Hands the round trip to the connection.
    fn conclude(conn: &mut Connection, rtt: Duration) {
        conn.path_round_trip(rtt);
        if conn.window_growth() {
            tracing::debug!("path round trip {} µs: receive windows may grow", rtt.as_micros());
        } else {
            tracing::debug!(
                "path round trip {} µs: receive windows stay at their start",
                rtt.as_micros()
            );
        }
    }
}
