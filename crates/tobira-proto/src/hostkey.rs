//! Host and user key signature algorithms: `ssh-ed25519` (RFC 8709),
//! `ecdsa-sha2-nistp256/384/521` (RFC 5656 §3), `rsa-sha2-256`/`rsa-sha2-512`
//! (RFC 8332). Public key blobs and signature blobs are encoded per RFC
//! 4253 §6.6; signing and verification run on aws-lc-rs.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, UnparsedPublicKey};

use crate::error::{DisconnectReason, Error};
use crate::wire::{Reader, Writer};

/// The key type (public key format name) used by a signature algorithm.
pub fn key_type_for(alg: &str) -> &str {
    match alg {
        "rsa-sha2-256" | "rsa-sha2-512" => "ssh-rsa",
        other => other,
    }
}

/// Signature algorithms a key of `key_type` can produce.
pub fn algorithms_for_key_type(key_type: &str) -> &'static [&'static str] {
    match key_type {
        "ssh-ed25519" => &["ssh-ed25519"],
        "ecdsa-sha2-nistp256" => &["ecdsa-sha2-nistp256"],
        "ecdsa-sha2-nistp384" => &["ecdsa-sha2-nistp384"],
        "ecdsa-sha2-nistp521" => &["ecdsa-sha2-nistp521"],
        "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256"],
        _ => &[],
    }
}

/// An ECDSA curve as SSH names it (RFC 5656 §6.1) and aws-lc-rs implements it.
pub struct EcdsaCurve {
    /// Key type and signature algorithm name.
    pub name: &'static str,
    /// The curve identifier inside the key blob.
    pub ident: &'static str,
    /// Bytes of a scalar (r and s).
    pub scalar_len: usize,
    signing: &'static signature::EcdsaSigningAlgorithm,
    verifying: &'static signature::EcdsaVerificationAlgorithm,
}

/// The three NIST curves of RFC 5656 with their RFC 5656 §6.2.1 hashes.
pub static CURVES: [EcdsaCurve; 3] = [
    EcdsaCurve {
        name: "ecdsa-sha2-nistp256",
        ident: "nistp256",
        scalar_len: 32,
        signing: &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        verifying: &signature::ECDSA_P256_SHA256_FIXED,
    },
    EcdsaCurve {
        name: "ecdsa-sha2-nistp384",
        ident: "nistp384",
        scalar_len: 48,
        signing: &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        verifying: &signature::ECDSA_P384_SHA384_FIXED,
    },
    EcdsaCurve {
        name: "ecdsa-sha2-nistp521",
        ident: "nistp521",
        scalar_len: 66,
        signing: &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        verifying: &signature::ECDSA_P521_SHA512_FIXED,
    },
];

/// A key-loading error.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key type is not supported for signing.
    #[error("unsupported key type {0}")]
    Unsupported(String),
    /// The key material is inconsistent or rejected by the backend.
    #[error("invalid {0} key: {1}")]
    Invalid(&'static str, String),
}

enum Inner {
    Ed25519(Ed25519KeyPair),
    Ecdsa(EcdsaKeyPair, &'static EcdsaCurve),
    Rsa(RsaKeyPair),
}

/// A private key able to sign exchange hashes and authentication requests.
pub struct SigningKey {
    inner: Inner,
    blob: Vec<u8>,
    key_type: &'static str,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_type)
    }
}

impl SigningKey {
    /// Builds a signing key from a decrypted OpenSSH private key.
    pub fn from_ssh_key(key: &ssh_key::PrivateKey) -> Result<Self, KeyError> {
        use ssh_key::private::KeypairData;
        match key.key_data() {
            KeypairData::Ed25519(kp) => {
                let seed = kp.private.to_bytes();
                let pair = Ed25519KeyPair::from_seed_and_public_key(&seed, &kp.public.0)
                    .map_err(|e| KeyError::Invalid("ed25519", e.to_string()))?;
                let mut blob = Vec::new();
                blob.put_string(b"ssh-ed25519");
                blob.put_string(&kp.public.0);
                Ok(SigningKey {
                    inner: Inner::Ed25519(pair),
                    blob,
                    key_type: "ssh-ed25519",
                })
            }
            KeypairData::Ecdsa(kp) => {
                let curve = match kp.curve() {
                    ssh_key::EcdsaCurve::NistP256 => &CURVES[0],
                    ssh_key::EcdsaCurve::NistP384 => &CURVES[1],
                    ssh_key::EcdsaCurve::NistP521 => &CURVES[2],
                };
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    curve.signing,
                    kp.private_key_bytes(),
                    kp.public_key_bytes(),
                )
                .map_err(|e| KeyError::Invalid("ecdsa", e.to_string()))?;
                let mut blob = Vec::new();
                blob.put_string(curve.name.as_bytes());
                blob.put_string(curve.ident.as_bytes());
                blob.put_string(kp.public_key_bytes());
                Ok(SigningKey {
                    inner: Inner::Ecdsa(pair, curve),
                    blob,
                    key_type: curve.name,
                })
            }
            KeypairData::Rsa(kp) => {
                // ssh-key 0.6's conversion to `rsa::RsaPrivateKey` repeats p
                // for q, so the CRT parameters are computed here.
                use rsa::BigUint;
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
                let pair = RsaKeyPair::from_components(&comps).map_err(|e| KeyError::Invalid("rsa", e.to_string()))?;
                let mut blob = Vec::new();
                blob.put_string(b"ssh-rsa");
                blob.put_mpint(&e.to_bytes_be());
                blob.put_mpint(&n.to_bytes_be());
                Ok(SigningKey {
                    inner: Inner::Rsa(pair),
                    blob,
                    key_type: "ssh-rsa",
                })
            }
            other => Err(KeyError::Unsupported(
                other.algorithm().map(|a| a.to_string()).unwrap_or_default(),
            )),
        }
    }

    /// The public key blob (RFC 4253 §6.6).
    pub fn public_blob(&self) -> &[u8] {
        &self.blob
    }

    /// The key type name (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`).
    pub fn key_type(&self) -> &'static str {
        self.key_type
    }

    /// Signature algorithms this key can produce, preferred first.
    pub fn algorithms(&self) -> &'static [&'static str] {
        algorithms_for_key_type(self.key_type)
    }

    /// Signs `data` with `alg`, returning the signature blob
    /// (`string alg, string signature`).
    pub fn sign(&self, alg: &str, data: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        match (&self.inner, alg) {
            (Inner::Ed25519(k), "ssh-ed25519") => {
                out.put_string(alg.as_bytes());
                out.put_string(k.sign(data).as_ref());
            }
            (Inner::Ecdsa(k, curve), a) if a == curve.name => {
                let sig = k
                    .sign(&SystemRandom::new(), data)
                    .map_err(|_| Error::kex("ECDSA signing failed"))?;
                let rs = sig.as_ref();
                let (r, s) = rs.split_at(rs.len() / 2);
                let mut inner = Vec::new();
                inner.put_mpint(r);
                inner.put_mpint(s);
                out.put_string(alg.as_bytes());
                out.put_string(&inner);
            }
            (Inner::Rsa(k), "rsa-sha2-256" | "rsa-sha2-512") => {
                let pad = if alg == "rsa-sha2-256" {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA512
                };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(pad, &SystemRandom::new(), data, &mut sig)
                    .map_err(|_| Error::kex("RSA signing failed"))?;
                out.put_string(alg.as_bytes());
                out.put_string(&sig);
            }
            _ => return Err(Error::kex(format!("key type {} cannot sign with {alg}", self.key_type))),
        }
        Ok(out)
    }
}

fn bad_sig(why: &str) -> Error {
    Error::with_reason(
        DisconnectReason::KeyExchangeFailed,
        format!("signature verification failed: {why}"),
    )
}

/// Verifies a signature blob made with `alg` by the key in `key_blob` over
/// `data`. The signature's algorithm name must equal `alg` exactly.
pub fn verify(alg: &str, key_blob: &[u8], data: &[u8], sig_blob: &[u8]) -> Result<(), Error> {
    let mut kr = Reader::new(key_blob);
    let key_type = kr.utf8().map_err(|_| bad_sig("malformed public key"))?;
    if key_type != key_type_for(alg) {
        return Err(bad_sig(&format!("key type {key_type} does not match algorithm {alg}")));
    }
    let mut sr = Reader::new(sig_blob);
    let sig_alg = sr.utf8().map_err(|_| bad_sig("malformed signature"))?;
    if sig_alg != alg {
        return Err(bad_sig(&format!(
            "signature algorithm {sig_alg} is not the negotiated {alg}"
        )));
    }
    let sig = sr.string().map_err(|_| bad_sig("malformed signature"))?;
    sr.finish().map_err(|_| bad_sig("trailing data in signature"))?;
    let ok = match alg {
        "ssh-ed25519" => {
            let pk = kr.string().map_err(|_| bad_sig("malformed ed25519 key"))?;
            kr.finish().map_err(|_| bad_sig("trailing data in key"))?;
            if pk.len() != 32 || sig.len() != 64 {
                return Err(bad_sig("bad ed25519 key or signature length"));
            }
            UnparsedPublicKey::new(&signature::ED25519, pk)
                .verify(data, sig)
                .is_ok()
        }
        a if a.starts_with("ecdsa-sha2-") => {
            let spec = CURVES
                .iter()
                .find(|c| c.name == a)
                .ok_or_else(|| bad_sig("unsupported ECDSA curve"))?;
            let curve = kr.string().map_err(|_| bad_sig("malformed ecdsa key"))?;
            let q = kr.string().map_err(|_| bad_sig("malformed ecdsa key"))?;
            kr.finish().map_err(|_| bad_sig("trailing data in key"))?;
            if curve != spec.ident.as_bytes() {
                return Err(bad_sig("ecdsa curve mismatch"));
            }
            let mut ir = Reader::new(sig);
            let r = ir.mpint_positive().map_err(|_| bad_sig("malformed ecdsa signature"))?;
            let s = ir.mpint_positive().map_err(|_| bad_sig("malformed ecdsa signature"))?;
            ir.finish().map_err(|_| bad_sig("trailing data in ecdsa signature"))?;
            let n = spec.scalar_len;
            if r.len() > n || s.len() > n {
                return Err(bad_sig("ecdsa signature component too long"));
            }
            let mut fixed = vec![0u8; 2 * n];
            fixed[n - r.len()..n].copy_from_slice(r);
            fixed[2 * n - s.len()..].copy_from_slice(s);
            UnparsedPublicKey::new(spec.verifying, q).verify(data, &fixed).is_ok()
        }
        "rsa-sha2-256" | "rsa-sha2-512" => {
            let e = kr.mpint_positive().map_err(|_| bad_sig("malformed rsa key"))?;
            let n = kr.mpint_positive().map_err(|_| bad_sig("malformed rsa key"))?;
            kr.finish().map_err(|_| bad_sig("trailing data in key"))?;
            if n.len() * 8 < 1024 || sig.len() > n.len() {
                return Err(bad_sig("rsa key too small or signature too long"));
            }
            let mut padded = vec![0u8; n.len()];
            padded[n.len() - sig.len()..].copy_from_slice(sig);
            let params = if alg == "rsa-sha2-256" {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
            };
            let rpk = aws_lc_rs::signature::RsaPublicKeyComponents { n, e };
            rpk.verify(params, data, &padded).is_ok()
        }
        other => return Err(bad_sig(&format!("unsupported algorithm {other}"))),
    };
    if ok {
        Ok(())
    } else {
        Err(bad_sig("incorrect signature"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture keys, made by OpenSSH's ssh-keygen.
    fn keys() -> Vec<SigningKey> {
        [
            include_str!("../tests/keys/host_ed25519"),
            include_str!("../tests/keys/host_ecdsa"),
            include_str!("../tests/keys/host_rsa"),
            include_str!("../tests/keys/user_ecdsa384"),
            include_str!("../tests/keys/user_ecdsa521"),
        ]
        .iter()
        .map(|t| SigningKey::from_ssh_key(&ssh_key::PrivateKey::from_openssh(t).unwrap()).unwrap())
        .collect()
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        for k in keys() {
            for alg in k.algorithms() {
                let sig = k.sign(alg, b"exchange hash").unwrap();
                verify(alg, k.public_blob(), b"exchange hash", &sig).unwrap();
                assert!(verify(alg, k.public_blob(), b"exchange hasH", &sig).is_err());
                let mut bad = sig.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                assert!(verify(alg, k.public_blob(), b"exchange hash", &bad).is_err());
                for cut in 0..sig.len() {
                    assert!(verify(alg, k.public_blob(), b"exchange hash", &sig[..cut]).is_err());
                }
            }
        }
    }

    /// RFC 8032 §7.1 TEST 2 (one-byte message).
    #[test]
    fn rfc8032_ed25519_vector() {
        let seed = hex::decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb").unwrap();
        let public = hex::decode("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c").unwrap();
        let kp = ssh_key::private::Ed25519Keypair::from_seed(&seed.clone().try_into().unwrap());
        assert_eq!(kp.public.0.to_vec(), public);
        let key = SigningKey::from_ssh_key(&ssh_key::PrivateKey::from(kp)).unwrap();
        let sig = key.sign("ssh-ed25519", &[0x72]).unwrap();
        let want = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
        assert_eq!(hex::encode(&sig[sig.len() - 64..]), want);
        verify("ssh-ed25519", key.public_blob(), &[0x72], &sig).unwrap();
    }

    #[test]
    fn algorithm_must_match_key() {
        let k = &keys()[0];
        let sig = k.sign("ssh-ed25519", b"x").unwrap();
        assert!(verify("rsa-sha2-256", k.public_blob(), b"x", &sig).is_err());
        assert!(k.sign("rsa-sha2-256", b"x").is_err());
    }
}
