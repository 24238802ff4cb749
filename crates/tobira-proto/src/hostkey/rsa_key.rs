//! RSA signatures with PKCS#1 v1.5 padding (RFC 8017 §8.2): `rsa-sha2-256`
//! and `rsa-sha2-512` (RFC 8332 §3) and the legacy `ssh-rsa` over SHA-1
//! (RFC 4253 §6.6). The public key blob is `string "ssh-rsa", mpint e,
//! mpint n`; the signature blob is `string alg, string s` with `s` as long
//! as the modulus.
//!
//! aws-lc signs SHA-2 signatures with keys of 2048 bits or more. It cannot
//! sign over SHA-1 nor load smaller keys, so SHA-1 signatures and keys of
//! 1024 to 2047 bits are signed with the `rsa` crate, blinded with fresh
//! randomness. aws-lc verifies everything.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{self, RsaPublicKeyComponents};
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey};
use sha2::Digest;

use super::{bad_sig, KeyError};
use crate::error::Error;
use crate::wire::{Reader, Writer};

/// The key type name (RFC 4253 §6.6).
pub(super) const NAME: &str = "ssh-rsa";

/// The smallest modulus accepted, in bits, as OpenSSH's
/// `SSH_RSA_MINIMUM_MODULUS_SIZE`.
pub(super) const MIN_BITS: usize = 1024;

/// The largest modulus accepted, in bits (aws-lc's verification limit).
pub(super) const MAX_BITS: usize = 8192;

/// The smallest modulus aws-lc loads as a private key, in bits.
const AWS_LC_MIN_BITS: usize = 2048;

/// DER of the `DigestInfo` prefix for SHA-1 (RFC 8017 §9.2, note 1).
const SHA1_PREFIX: [u8; 15] = [
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
/// DER of the `DigestInfo` prefix for SHA-256 (RFC 8017 §9.2, note 1).
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
];
/// DER of the `DigestInfo` prefix for SHA-512 (RFC 8017 §9.2, note 1).
const SHA512_PREFIX: [u8; 19] = [
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40,
];

/// The size in bits of a big-endian magnitude without leading zeros.
pub(super) fn bit_len(m: &[u8]) -> usize {
    match m.first() {
        None => 0,
        Some(&top) => (m.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

/// An RSA private key.
pub(super) struct RsaKey {
    /// aws-lc's key, for SHA-2 signatures; `None` under 2048 bits.
    fast: Option<RsaKeyPair>,
    /// The `rsa` crate's key, for SHA-1 signatures and small keys; `None`
    /// if that crate refuses a key aws-lc took.
    soft: Option<RsaPrivateKey>,
    blob: Vec<u8>,
}

impl RsaKey {
    /// Builds the key from an OpenSSH private key's components.
    pub(super) fn from_ssh(kp: &ssh_key::private::RsaKeypair) -> Result<Self, KeyError> {
        // ssh-key 0.6's conversion to `rsa::RsaPrivateKey` repeats p for q,
        // so the key is built from the components here.
        let big = |m: &ssh_key::Mpint| m.as_positive_bytes().map(BigUint::from_bytes_be);
        let bad = || KeyError::Invalid("rsa", "malformed component".into());
        let n = big(&kp.public.n).ok_or_else(bad)?;
        let e = big(&kp.public.e).ok_or_else(bad)?;
        let d = big(&kp.private.d).ok_or_else(bad)?;
        let p = big(&kp.private.p).ok_or_else(bad)?;
        let q = big(&kp.private.q).ok_or_else(bad)?;
        let qinv = big(&kp.private.iqmp).ok_or_else(bad)?;
        let one = BigUint::from(1u32);
        if p <= one || q <= one {
            return Err(bad());
        }
        let bits = n.bits();
        if bits < MIN_BITS {
            return Err(KeyError::Invalid(
                "rsa",
                format!("{bits}-bit modulus is smaller than {MIN_BITS} bits"),
            ));
        }
        let fast = if bits >= AWS_LC_MIN_BITS {
            let comps = KeyPairComponents {
                public_key: PublicKeyComponents {
                    n: n.to_bytes_be(),
                    e: e.to_bytes_be(),
                },
                d: d.to_bytes_be(),
                p: p.to_bytes_be(),
                q: q.to_bytes_be(),
                dP: (&d % (&p - &one)).to_bytes_be(),
                dQ: (&d % (&q - &one)).to_bytes_be(),
                qInv: qinv.to_bytes_be(),
            };
            Some(RsaKeyPair::from_components(&comps).map_err(|e| KeyError::Invalid("rsa", e.to_string()))?)
        } else {
            None
        };
        let mut blob = Vec::new();
        blob.put_string(NAME.as_bytes());
        blob.put_mpint(&e.to_bytes_be());
        blob.put_mpint(&n.to_bytes_be());
        // Validates the key (n = pq, de = 1 mod p-1 and q-1).
        let soft = match RsaPrivateKey::from_components(n, e, d, vec![p, q]) {
            Ok(k) => Some(k),
            Err(_) if fast.is_some() => None,
            Err(e) => return Err(KeyError::Invalid("rsa", e.to_string())),
        };
        Ok(RsaKey { fast, soft, blob })
    }

    /// The public key blob (RFC 4253 §6.6).
    pub(super) fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The raw signature of `data` with `alg`: `rsa-sha2-256`,
    /// `rsa-sha2-512` or `ssh-rsa`.
    pub(super) fn sign(&self, alg: &str, data: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = || Error::kex("RSA signing failed");
        if let (Some(k), "rsa-sha2-256" | "rsa-sha2-512") = (&self.fast, alg) {
            let pad = if alg == "rsa-sha2-256" {
                &signature::RSA_PKCS1_SHA256
            } else {
                &signature::RSA_PKCS1_SHA512
            };
            let mut sig = vec![0u8; k.public_modulus_len()];
            k.sign(pad, &SystemRandom::new(), data, &mut sig)
                .map_err(|_| failed())?;
            return Ok(sig);
        }
        let (hashed, prefix): (Vec<u8>, &[u8]) = match alg {
            "ssh-rsa" => (sha1::Sha1::digest(data).to_vec(), &SHA1_PREFIX),
            "rsa-sha2-256" => (sha2::Sha256::digest(data).to_vec(), &SHA256_PREFIX),
            "rsa-sha2-512" => (sha2::Sha512::digest(data).to_vec(), &SHA512_PREFIX),
            _ => return Err(Error::kex(format!("an RSA key cannot sign with {alg}"))),
        };
        let soft = self.soft.as_ref().ok_or_else(failed)?;
        let padding = Pkcs1v15Sign {
            hash_len: Some(hashed.len()),
            prefix: prefix.into(),
        };
        soft.sign_with_rng(&mut rand_core::OsRng, padding, &hashed)
            .map_err(|_| failed())
    }
}

/// Verifies the raw signature `sig` with `alg` over `data` by the key whose
/// blob `kr` is positioned after the key type name. Keys under 1024 or over
/// 8192 bits are refused. `Ok(false)` is a well-formed signature that does
/// not verify.
pub(super) fn verify(alg: &str, kr: &mut Reader<'_>, data: &[u8], sig: &[u8]) -> Result<bool, Error> {
    let e = kr.mpint_positive().map_err(|_| bad_sig("malformed rsa key"))?;
    let n = kr.mpint_positive().map_err(|_| bad_sig("malformed rsa key"))?;
    kr.finish().map_err(|_| bad_sig("trailing data in key"))?;
    let bits = bit_len(n);
    if bits < MIN_BITS {
        return Err(bad_sig(&format!("{bits}-bit rsa key is smaller than {MIN_BITS} bits")));
    }
    if bits > MAX_BITS {
        return Err(bad_sig(&format!("{bits}-bit rsa key is larger than {MAX_BITS} bits")));
    }
    // A signature may be shorter than the modulus (RFC 8332 §3 asks for the
    // full length, but OpenSSH has always padded short ones).
    if sig.len() > n.len() {
        return Err(bad_sig("rsa signature longer than the modulus"));
    }
    let mut padded = vec![0u8; n.len()];
    padded[n.len() - sig.len()..].copy_from_slice(sig);
    let params = match alg {
        "rsa-sha2-256" => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        "rsa-sha2-512" => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        "ssh-rsa" => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        other => return Err(bad_sig(&format!("unsupported algorithm {other}"))),
    };
    Ok(RsaPublicKeyComponents { n, e }.verify(params, data, &padded).is_ok())
}
