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
//! (The RSA key exchange's own steps, the transient key's generation and
//! the secret's decryption, still run inline: that method is off by
//! default.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::crypto::HashAlg;
use crate::error::Error;
use crate::hostkey::SigningKey;
use crate::kex::dh::{DhGroup, DhKeyPair};
use crate::wire::Writer;

/// How K is reached.
pub(super) enum Secret {
    /// Already computed (elliptic curves, hybrids, RSA key exchange): the
    /// method's fields of H (`mid`), the reply's fields after K_S (`tail`;
    /// none for KEXRSA_DONE) and K as the method encodes it.
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
}

/// Numbers every [`KexWork`] of the process, so that a result is only
/// taken by the connection, and the exchange, it belongs to.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh [`KexWork`] number.
pub(super) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The server's reply to the client's key exchange message, not yet
/// computed: see the module documentation.
pub struct KexWork {
    /// Which step this is (see [`next_id`]).
    pub(super) id: u64,
    /// The reply's message number.
    pub(super) reply: u8,
    pub(super) secret: Secret,
    /// The negotiated host key algorithm and its key.
    pub(super) alg: String,
    pub(super) key: Arc<SigningKey>,
    /// H's hash and its first fields: string V_C, V_S, I_C, I_S.
    pub(super) hash: HashAlg,
    pub(super) transcript: Vec<u8>,
}

impl std::fmt::Debug for KexWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KexWork")
            .field("id", &self.id)
            .field("reply", &self.reply)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The result of [`KexWork::run`], for [`super::Connection::finish_kex_work`].
pub struct KexWorkDone {
    /// The [`KexWork`] it came from.
    pub(super) id: u64,
    pub(super) result: Result<Reply, Error>,
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
    /// finite-field DH, or a signature by an RSA or DSA host key. The
    /// elliptic-curve and hybrid methods with Ed25519 or ECDSA keys take
    /// well under a millisecond, less than a hand-over between threads.
    pub fn is_slow(&self) -> bool {
        matches!(self.secret, Secret::Dh { .. }) || matches!(self.key.key_type(), "ssh-rsa" | "ssh-dss")
    }

    /// Computes the shared secret (for DH), H and the host key's signature.
    /// May take milliseconds: call it where blocking is allowed (for
    /// example in `tokio::task::spawn_blocking`).
    pub fn run(self) -> KexWorkDone {
        let id = self.id;
        KexWorkDone {
            id,
            result: self.compute(),
        }
    }

    fn compute(self) -> Result<Reply, Error> {
        let (mid, tail, k_enc) = match self.secret {
            Secret::Known { mid, tail, k_enc } => (mid, tail, k_enc),
            Secret::Dh { group, y, e, params } => {
                let kp = DhKeyPair::with_exponent(group, y)?;
                let f = kp.public.clone();
                let k = kp.agree(&e)?;
                let mut mid = params;
                mid.put_mpint(&e);
                mid.put_mpint(&f);
                let mut tail = Vec::new();
                tail.put_mpint(&f);
                let mut k_enc = Zeroizing::new(Vec::with_capacity(k.len() + 5));
                k_enc.put_mpint(&k);
                (mid, Some(tail), k_enc)
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
