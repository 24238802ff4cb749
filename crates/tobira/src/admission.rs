//! Who may start a connection: `MaxStartups` (random early drop of
//! unauthenticated connections) and `PerSourcePenalties` (OpenSSH 9.8's
//! per-source refusals after failed or abandoned logins), as described in
//! `sshd_config(5)`.
//!
//! A [`Ticket`] is held by each accepted connection. It counts toward
//! `MaxStartups` until the connection authenticates; when the connection
//! ends it reports how (authenticated, failed authentication, left without
//! trying, out of grace time, crashed), which may penalise its source.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::server::MaxStartups;

/// Penalty durations (`PerSourcePenalties`), OpenSSH 9.8's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Penalties {
    /// Off (`PerSourcePenalties no`).
    pub enabled: bool,
    /// A connection that crashed the server's handler.
    pub crash: Duration,
    /// A connection that tried to authenticate and did not succeed.
    pub authfail: Duration,
    /// A connection that closed without trying to authenticate.
    pub noauth: Duration,
    /// A connection that exceeded `LoginGraceTime`.
    pub grace_exceeded: Duration,
    /// Accumulated penalties are capped at this.
    pub max: Duration,
    /// A source is refused once its accumulated penalty reaches this.
    pub min: Duration,
    /// Most sources tracked per address family before new ones are not
    /// penalised (OpenSSH's `overflow:permissive`).
    pub max_sources: usize,
}

impl Default for Penalties {
    fn default() -> Self {
        Penalties {
            enabled: true,
            crash: Duration::from_secs(90),
            authfail: Duration::from_secs(5),
            noauth: Duration::from_secs(1),
            grace_exceeded: Duration::from_secs(10),
            max: Duration::from_secs(600),
            min: Duration::from_secs(15),
            max_sources: 65536,
        }
    }
}

fn parse_duration(v: &str) -> Option<Duration> {
    crate::config::parse_time(v)
}

impl Penalties {
    /// Parses the words of `PerSourcePenalties` (`yes`, `no`, or
    /// `kind:duration` items: `crash`, `authfail`, `noauth`,
    /// `grace-exceeded`, `max`, `min`, `max-sources4`, `max-sources6`).
    /// Empty means the defaults.
    pub fn parse(words: &[String]) -> Result<Self, String> {
        let mut p = Penalties::default();
        for w in words {
            match w.as_str() {
                "yes" => continue,
                "no" => {
                    p.enabled = false;
                    continue;
                }
                _ => {}
            }
            let (k, v) = w
                .split_once(':')
                .ok_or_else(|| format!("invalid PerSourcePenalties item '{w}'"))?;
            let dur = || parse_duration(v).ok_or_else(|| format!("invalid PerSourcePenalties time '{w}'"));
            match k {
                "crash" => p.crash = dur()?,
                "authfail" => p.authfail = dur()?,
                "noauth" => p.noauth = dur()?,
                "grace-exceeded" => p.grace_exceeded = dur()?,
                "max" => p.max = dur()?,
                "min" => p.min = dur()?,
                "max-sources4" | "max-sources6" => {
                    p.max_sources = v
                        .parse()
                        .map_err(|_| format!("invalid PerSourcePenalties count '{w}'"))?
                }
                // Accepted for compatibility; tobira is always permissive on
                // overflow (new sources are not penalised).
                "overflow" | "overflow6" => {}
                _ => return Err(format!("unknown PerSourcePenalties item '{w}'")),
            }
        }
        Ok(p)
    }
}

/// How a connection ended, for `PerSourcePenalties`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Authenticated (no penalty).
    Authenticated,
    /// Tried to authenticate and failed.
    AuthFailed,
    /// Closed without trying to authenticate.
    NoAuth,
    /// `LoginGraceTime` expired.
    GraceExceeded,
    /// The handler panicked.
    Crashed,
}

/// Why a new connection is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `MaxStartups` reached (or randomly dropped above `start`).
    #[error("drop connection #{count} from [{peer}]: past MaxStartups")]
    MaxStartups {
        /// Unauthenticated connections at the time.
        count: u32,
        /// The source.
        peer: IpAddr,
    },
    /// The source is being penalised.
    #[error("drop connection from {peer}: penalty: {remaining} s remaining")]
    Penalised {
        /// The source.
        peer: IpAddr,
        /// Seconds left.
        remaining: u64,
    },
}

/// Sources are grouped as OpenSSH's `PerSourceNetBlockSize 32:128`
/// default: one IPv4 address, one IPv6 address.
type SourceKey = IpAddr;

#[derive(Debug)]
struct State {
    unauthenticated: u32,
    /// Source → time until which it is penalised.
    penalties: HashMap<SourceKey, Instant>,
}

/// Admission control shared by every connection of a server.
#[derive(Debug)]
pub struct Admission {
    max_startups: MaxStartups,
    penalties: Penalties,
    exempt: Vec<String>,
    state: Mutex<State>,
}

impl Admission {
    /// Admission with these limits; `exempt` is
    /// `PerSourcePenaltyExemptList` (address/CIDR patterns).
    pub fn new(max_startups: MaxStartups, penalties: Penalties, exempt: Vec<String>) -> Arc<Self> {
        Arc::new(Admission {
            max_startups,
            penalties,
            exempt,
            state: Mutex::new(State {
                unauthenticated: 0,
                penalties: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another connection's task panicked
        // while holding it; the counters stay meaningful.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn exempt(&self, peer: IpAddr) -> bool {
        self.exempt.iter().any(|p| {
            matches!(
                crate::config::addr_match_list(Some(peer), p),
                Ok(crate::config::ListMatch::Match)
            )
        })
    }

    /// Decides on a new connection from `peer`; `roll` is a uniform random
    /// number in 0..100 for the random early drop.
    pub fn admit(self: &Arc<Self>, peer: IpAddr, now: Instant, roll: u32) -> Result<Ticket, Refusal> {
        let mut st = self.lock();
        if self.penalties.enabled && !self.exempt(peer) {
            if let Some(&until) = st.penalties.get(&peer) {
                if until > now {
                    let remaining = until - now;
                    if remaining >= self.penalties.min {
                        return Err(Refusal::Penalised {
                            peer,
                            remaining: remaining.as_secs(),
                        });
                    }
                } else {
                    st.penalties.remove(&peer);
                }
            }
        }
        let ms = self.max_startups;
        let n = st.unauthenticated;
        let drop = if n >= ms.full {
            true
        } else if n >= ms.start && ms.full > ms.start {
            // sshd's drop(): rate% at start, rising linearly to 100% at full.
            let p = ms.rate + (100 - ms.rate.min(100)) * (n - ms.start) / (ms.full - ms.start);
            roll < p
        } else {
            false
        };
        if drop {
            return Err(Refusal::MaxStartups { count: n, peer });
        }
        st.unauthenticated += 1;
        Ok(Ticket {
            admission: Arc::clone(self),
            peer,
            counted: true,
            outcome: None,
        })
    }

    /// Unauthenticated connections in progress.
    pub fn unauthenticated(&self) -> u32 {
        self.lock().unauthenticated
    }

    fn penalise(&self, peer: IpAddr, outcome: Outcome, now: Instant) {
        let p = &self.penalties;
        let add = match outcome {
            Outcome::Authenticated => return,
            Outcome::AuthFailed => p.authfail,
            Outcome::NoAuth => p.noauth,
            Outcome::GraceExceeded => p.grace_exceeded,
            Outcome::Crashed => p.crash,
        };
        if !p.enabled || add.is_zero() || self.exempt(peer) {
            return;
        }
        let mut st = self.lock();
        if !st.penalties.contains_key(&peer) && st.penalties.len() >= p.max_sources {
            st.penalties.retain(|_, until| *until > now);
            if st.penalties.len() >= p.max_sources {
                return;
            }
        }
        let until = st.penalties.entry(peer).or_insert(now);
        let base = (*until).max(now);
        *until = (base + add).min(now + p.max);
        tracing::debug!("penalty: {outcome:?} from {peer}, now {} s", (*until - now).as_secs());
    }
}

/// One admitted connection.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    peer: IpAddr,
    counted: bool,
    outcome: Option<Outcome>,
}

impl Ticket {
    /// The connection authenticated: it no longer counts toward
    /// `MaxStartups` and will not be penalised.
    pub fn authenticated(&mut self) {
        if self.counted {
            self.counted = false;
            let mut st = self.admission.lock();
            st.unauthenticated = st.unauthenticated.saturating_sub(1);
        }
        self.outcome = Some(Outcome::Authenticated);
    }

    /// Records how the connection is ending (the last call wins, but an
    /// authenticated connection stays so).
    pub fn set_outcome(&mut self, outcome: Outcome) {
        if self.outcome != Some(Outcome::Authenticated) {
            self.outcome = Some(outcome);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.counted {
            let mut st = self.admission.lock();
            st.unauthenticated = st.unauthenticated.saturating_sub(1);
        }
        // Dropped while unwinding: the connection's handler panicked.
        let outcome = if std::thread::panicking() {
            Outcome::Crashed
        } else {
            self.outcome.unwrap_or(Outcome::NoAuth)
        };
        self.admission.penalise(self.peer, outcome, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(start: u32, rate: u32, full: u32) -> MaxStartups {
        MaxStartups { start, rate, full }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn max_startups_random_early_drop() {
        let adm = Admission::new(ms(2, 50, 4), Penalties::default(), vec![]);
        let now = Instant::now();
        let mut held = Vec::new();
        // Below start: always admitted, whatever the roll.
        held.push(adm.admit(A, now, 0).unwrap());
        held.push(adm.admit(A, now, 0).unwrap());
        // At start: 50% drop; roll 49 drops, roll 50 passes.
        assert!(matches!(
            adm.admit(A, now, 49),
            Err(Refusal::MaxStartups { count: 2, .. })
        ));
        held.push(adm.admit(A, now, 50).unwrap());
        // 3 of 4: 75%.
        assert!(adm.admit(A, now, 74).is_err());
        held.push(adm.admit(A, now, 75).unwrap());
        // Full: always dropped.
        assert!(adm.admit(A, now, 99).is_err());
        assert_eq!(adm.unauthenticated(), 4);
        // Authenticated connections no longer count.
        held[0].authenticated();
        assert_eq!(adm.unauthenticated(), 3);
        held.truncate(1);
        assert_eq!(adm.unauthenticated(), 0);
    }

    #[test]
    fn penalties_accumulate_to_min_then_refuse() {
        let adm = Admission::new(ms(100, 30, 200), Penalties::default(), vec![]);
        let now = Instant::now();
        // Two failed logins: 10 s accumulated, under the 15 s minimum.
        for _ in 0..2 {
            let mut t = adm.admit(A, now, 0).unwrap();
            t.set_outcome(Outcome::AuthFailed);
        }
        assert!(adm.admit(A, Instant::now(), 0).is_ok());
        // The third reaches 15 s: refused, while another source is not.
        let mut t = adm.admit(A, Instant::now(), 0).unwrap();
        t.set_outcome(Outcome::AuthFailed);
        drop(t);
        assert!(matches!(
            adm.admit(A, Instant::now(), 0),
            Err(Refusal::Penalised { .. })
        ));
        assert!(adm.admit(B, Instant::now(), 0).is_ok());
        // Authenticated connections are never penalised.
        let mut t = adm.admit(B, Instant::now(), 0).unwrap();
        t.authenticated();
        t.set_outcome(Outcome::AuthFailed);
        drop(t);
        assert!(adm.admit(B, Instant::now(), 0).is_ok());
        // Later, the penalty has expired.
        assert!(adm.admit(A, Instant::now() + Duration::from_secs(601), 0).is_ok());
    }

    #[test]
    fn penalties_capped_and_exempt_and_off() {
        let p = Penalties::parse(&["authfail:100s".into(), "max:120s".into()]).unwrap();
        let adm = Admission::new(ms(100, 30, 200), p, vec!["192.0.2.2".into()]);
        let now = Instant::now();
        let mut t = adm.admit(A, now, 0).unwrap();
        t.set_outcome(Outcome::AuthFailed);
        drop(t);
        match adm.admit(A, now, 0) {
            Err(Refusal::Penalised { remaining, .. }) => assert!(remaining <= 120),
            other => panic!("{other:?}"),
        }
        for _ in 0..5 {
            let mut t = adm.admit(B, now, 0).unwrap();
            t.set_outcome(Outcome::AuthFailed);
        }
        assert!(adm.admit(B, now, 0).is_ok(), "exempt source refused");
        let off = Admission::new(ms(100, 30, 200), Penalties::parse(&["no".into()]).unwrap(), vec![]);
        for _ in 0..10 {
            let mut t = off.admit(A, now, 0).unwrap();
            t.set_outcome(Outcome::GraceExceeded);
        }
        assert!(off.admit(A, now, 0).is_ok());
        assert!(Penalties::parse(&["bogus:1".into()]).is_err());
        assert!(Penalties::parse(&["authfail".into()]).is_err());
    }
}
