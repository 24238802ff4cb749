//! The server's slow key-exchange step, packaged so that a driver can run
//! it off its I/O thread.
//!
//! A server answering KEXDH_INIT (RFC 4253 §8, RFC 5656 §4, the hybrids),
//! KEX_DH_GEX_INIT (RFC 4419 §3) or KEXRSA_SECRET (RFC 4432 §4) computes the
//! exchange hash H and the host key's signature over H, and for
//! finite-field Diffie-Hellman the shared secret first. With finite-field
//! DH (two modular exponentiations of 2048 to 8192 bits) or an RSA or DSA
//! host key, that takes milliseconds, during which an I/O thread that runs
//! it serves no other connection. [`KexWork`] holds everything the step
//! needs and nothing of the [`super::Connection`], so it can be sent to
//! another thread; [`super::Connection::finish_kex_work`] takes its result.
//!
//! The RSA key exchange (RFC 4432 §4) has a second slow step, before any
//! of that: the server opens with a transient RSA key of its own, whose
//! generation takes a third of a second for 2048 bits; and it decrypts the
//! client's secret with it. Both are work of this kind too. Randomness
//! comes from the connection's generator all the same: the work gets a seed
//! drawn from it and expands that with ChaCha20 (`rand_chacha`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zeroize::Zeroizing;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::crypto::HashAlg;
use crate::error::Error;
use crate::hostkey::SigningKey;
use crate::kex::dh::{DhGroup, DhKeyPair};
use crate::kex::rsa_kex::{self, RsaKexMethod, RsaTransientKey};
use crate::wire::Writer;

/// A seed for the randomness of one step, drawn from the connection's
/// generator.
pub(super) type Seed = Zeroizing<[u8; 32]>;

/// How K is reached.
pub(super) enum Secret {
    /// Already computed (elliptic curves, hybrids): the method's fields of
    /// H (`mid`), the reply's fields after K_S (`tail`) and K as the
    /// method encodes it.
    Known {
        mid: Vec<u8>,
        tail: Option<Vec<u8>>,
        k_enc: Zeroizing<Vec<u8>>,
    },
    /// Finite-field DH (RFC 4253 §8, RFC 4419 §3): f = g^y mod p and
    /// K = e^y mod p, with y drawn by the connection beforehand. `params`
    /// are the group exchange's fields of H before e (empty for fixed
    /// groups).
    Dh {
        group: DhGroup,
        y: Zeroizing<Vec<u8>>,
        e: Vec<u8>,
        params: Vec<u8>,
    },
    /// RSA key exchange (RFC 4432 §4): K decrypted from the client's
    /// KEXRSA_SECRET with our transient key.
    Rsa {
        method: RsaKexMethod,
        key: Box<RsaTransientKey>,
        encrypted: Vec<u8>,
        seed: Seed,
    },
}

/// Numbers every [`KexWork`] of the process, so that a result is only
/// taken by the connection, and the exchange, it belongs to.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh [`KexWork`] number.
pub(super) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A slow step of the server's key exchange, not yet computed: see the
/// module documentation.
pub struct KexWork {
    /// Which step this is (see [`next_id`]).
    pub(super) id: u64,
    pub(super) job: Job,
}

/// What a [`KexWork`] computes.
pub(super) enum Job {
    /// The reply to the client's key exchange message.
    Reply(ReplyJob),
    /// RSA key exchange (RFC 4432 §4): the transient key K_T the server
    /// opens with.
    RsaTransient { method: RsaKexMethod, seed: Seed },
}

/// Everything the reply to the client's key exchange message needs.
pub(super) struct ReplyJob {
    /// The reply's message number.
    pub reply: u8,
    pub secret: Secret,
    /// The negotiated host key algorithm and its key.
    pub alg: String,
    pub key: Arc<SigningKey>,
    /// H's hash and its first fields: string V_C, V_S, I_C, I_S.
    pub hash: HashAlg,
    pub transcript: Vec<u8>,
}

impl std::fmt::Debug for KexWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("KexWork");
        d.field("id", &self.id);
        match &self.job {
            Job::Reply(r) => d.field("reply", &r.reply).field("alg", &r.alg),
            Job::RsaTransient { method, .. } => d.field("rsa_transient_key", method),
        };
        d.finish_non_exhaustive()
    }
}

/// The result of [`KexWork::run`], for [`super::Connection::finish_kex_work`].
pub struct KexWorkDone {
    /// The [`KexWork`] it came from.
    pub(super) id: u64,
    pub(super) result: Result<Outcome, Error>,
}

/// What a [`KexWork`] produced.
pub(super) enum Outcome {
    /// The reply, to send with NEWKEYS.
    Reply(Reply),
    /// The transient key, to send in KEXRSA_PUBKEY.
    RsaTransient(Box<RsaTransientKey>),
}

impl std::fmt::Debug for KexWorkDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KexWorkDone")
            .field("id", &self.id)
            .field("ok", &self.result.is_ok())
            .finish_non_exhaustive()
    }
}

/// What the connection sends and keeps once the work is done.
pub(super) struct Reply {
    /// The exchange hash H.
    pub h: Vec<u8>,
    /// K as the method encodes it, for key derivation (RFC 4253 §7.2).
    pub k_enc: Zeroizing<Vec<u8>>,
    /// The reply's payload: message number, K_S and the method's fields
    /// (unless KEXRSA_DONE), the signature of H.
    pub message: Vec<u8>,
    /// Our host key blob K_S.
    pub host_key: Vec<u8>,
}

/// H = HASH(V_C || V_S || I_C || I_S || K_S || <method fields> || K),
/// `transcript` holding the first four (RFC 4253 §8).
pub(super) fn exchange_hash(hash: HashAlg, mut transcript: Vec<u8>, k_s: &[u8], mid: &[u8], k_enc: &[u8]) -> Vec<u8> {
    transcript.put_string(k_s);
    transcript.extend_from_slice(mid);
    transcript.extend_from_slice(k_enc);
    hash.digest(&transcript)
}

impl KexWork {
    /// Whether the work takes long enough to be worth another thread:
    /// finite-field DH, the RSA key exchange's steps, or a signature by an
    /// RSA or DSA host key. The elliptic-curve and hybrid methods with
    /// Ed25519 or ECDSA keys take well under a millisecond, less than a
    /// hand-over between threads.
    pub fn is_slow(&self) -> bool {
        match &self.job {
            Job::RsaTransient { .. } => true,
            Job::Reply(r) => {
                matches!(r.secret, Secret::Dh { .. } | Secret::Rsa { .. })
                    || matches!(r.key.key_type(), "ssh-rsa" | "ssh-dss")
            }
        }
    }

    /// Computes the step: the RSA key exchange's transient key, or the
    /// shared secret (for DH and RSA), H and the host key's signature. May
    /// take milliseconds (a transient RSA key, a third of a second): call
    /// it where blocking is allowed (for example in
    /// `tokio::task::spawn_blocking`).
    pub fn run(self) -> KexWorkDone {
        let id = self.id;
        let result = match self.job {
            Job::Reply(r) => r.compute().map(Outcome::Reply),
            Job::RsaTransient { method, seed } => RsaTransientKey::generate(method, &mut ChaCha20Rng::from_seed(*seed))
                .map(|key| Outcome::RsaTransient(Box::new(key))),
        };
        KexWorkDone { id, result }
    }
}

impl ReplyJob {
    fn compute(self) -> Result<Reply, Error> {
        let (mid, tail, k_enc) = match self.secret {
            Secret::Known { mid, tail, k_enc } => (mid, tail, k_enc),
            Secret::Rsa {
                method,
                key,
                encrypted,
                seed,
            } => {
                let k = rsa_kex::decrypt_secret(method, &key, &encrypted, &mut ChaCha20Rng::from_seed(*seed))?;
                let mut mid = Vec::new();
                mid.put_string(key.public_blob());
                mid.put_string(&encrypted);
                (mid, None, super::k_mpint(&k))
            }
            Secret::Dh { group, y, e, params } => {
                let kp = DhKeyPair::with_exponent(group, y)?;
                let f = kp.public.clone();
                let k = kp.agree(&e)?;
                let mut mid = params;
                mid.put_mpint(&e);
                mid.put_mpint(&f);
                let mut tail = Vec::new();
                tail.put_mpint(&f);
                (mid, Some(tail), super::k_mpint(&k))
            }
        };
        let k_s = self.key.public_blob();
        let h = exchange_hash(self.hash, self.transcript, k_s, &mid, &k_enc);
        let sig = self.key.sign(&self.alg, &h)?;
        let mut message = vec![self.reply];
        if let Some(tail) = tail {
            message.put_string(k_s);
            message.extend_from_slice(&tail);
        }
        message.put_string(&sig);
        Ok(Reply {
            h,
            k_enc,
            message,
            host_key: k_s.to_vec(),
        })
    }
}
