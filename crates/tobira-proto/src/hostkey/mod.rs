//! Host and user key signature algorithms: `ssh-ed25519` and `ssh-ed448`
//! (RFC 8709), `ecdsa-sha2-nistp256/384/521` (RFC 5656 §3),
//! `rsa-sha2-256`/`rsa-sha2-512` (RFC 8332) and the legacy SHA-1 algorithms
//! `ssh-rsa` and `ssh-dss` (RFC 4253 §6.6). Public key blobs and signature
//! blobs are encoded per RFC 4253 §6.6. Ed25519, ECDSA and RSA verification
//! and most signing run on aws-lc-rs; Ed448 (RFC 8032 §5.2) and DSA (FIPS
//! 186-2) run on RustCrypto crates, as do RSA SHA-1 signing and keys under
//! 2048 bits.
//!
//! Every blob a peer sends is parsed with bounds checks: a malformed key or
//! signature is an [`Error`], never a panic.

mod dss;
mod ed448;
mod rsa_key;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, UnparsedPublicKey};

use crate::error::{DisconnectReason, Error};
use crate::wire::{Reader, Writer};

use self::dss::DssKey;
use self::ed448::Ed448Key;
use self::rsa_key::RsaKey;

/// The key type (public key format name, RFC 4253 §6.6) used by a signature
/// algorithm: `ssh-rsa` for `rsa-sha2-256`/`rsa-sha2-512` (RFC 8332 §3);
/// every other algorithm names its own key type.
pub fn key_type_for(alg: &str) -> &str {
    match alg {
        "rsa-sha2-256" | "rsa-sha2-512" => "ssh-rsa",
        other => other,
    }
}

/// Signature algorithms a key of `key_type` can produce, preferred first:
/// an `ssh-rsa` key signs with `rsa-sha2-512`, `rsa-sha2-256` (RFC 8332)
/// and last the SHA-1 `ssh-rsa` (RFC 4253 §6.6); other key types sign with
/// the algorithm of their own name (RFC 8709, RFC 5656, RFC 4253).
pub fn algorithms_for_key_type(key_type: &str) -> &'static [&'static str] {
    match key_type {
        "ssh-ed25519" => &["ssh-ed25519"],
        "ssh-ed448" => &["ssh-ed448"],
        "ecdsa-sha2-nistp256" => &["ecdsa-sha2-nistp256"],
        "ecdsa-sha2-nistp384" => &["ecdsa-sha2-nistp384"],
        "ecdsa-sha2-nistp521" => &["ecdsa-sha2-nistp521"],
        "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
        "ssh-dss" => &["ssh-dss"],
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

/// The keys of RustCrypto crates are boxed to keep [`SigningKey`] small.
enum Inner {
    Ed25519(Ed25519KeyPair),
    Ed448(Box<Ed448Key>),
    Ecdsa(EcdsaKeyPair, &'static EcdsaCurve),
    Rsa(Box<RsaKey>),
    Dss(Box<DssKey>),
}

/// A private key able to sign exchange hashes (RFC 4253 §8) and
/// authentication requests (RFC 4252 §7).
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
    /// Builds a signing key from a decrypted OpenSSH private key: Ed25519
    /// (RFC 8709), ECDSA over P-256/384/521 (RFC 5656), RSA of 1024 bits
    /// or more (RFC 8332, RFC 4253 §6.6) or DSA (RFC 4253 §6.6, FIPS 186-2,
    /// a 160-bit q and a 1024- to 3072-bit p). ssh-key 0.6 has no Ed448
    /// type: see [`SigningKey::from_ed448`].
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
                let key = RsaKey::from_ssh(kp)?;
                Ok(SigningKey {
                    blob: key.blob().to_vec(),
                    inner: Inner::Rsa(Box::new(key)),
                    key_type: rsa_key::NAME,
                })
            }
            KeypairData::Dsa(kp) => {
                fn mag(m: &ssh_key::Mpint) -> Result<&[u8], KeyError> {
                    m.as_positive_bytes()
                        .ok_or_else(|| KeyError::Invalid("dsa", "malformed component".into()))
                }
                let public = &kp.public;
                let key = DssKey::new(
                    mag(&public.p)?,
                    mag(&public.q)?,
                    mag(&public.g)?,
                    mag(&public.y)?,
                    mag(kp.private.as_mpint())?,
                )?;
                Ok(SigningKey {
                    blob: key.blob(),
                    inner: Inner::Dss(Box::new(key)),
                    key_type: dss::NAME,
                })
            }
            other => Err(KeyError::Unsupported(
                other.algorithm().map(|a| a.to_string()).unwrap_or_default(),
            )),
        }
    }

    /// Builds an `ssh-ed448` signing key (RFC 8709) from the 57-byte Ed448
    /// private key of RFC 8032 §5.2.5. When `public` is given it must be the
    /// 57-byte public key that private key derives (OpenSSH-format key files
    /// store both, see PROTOCOL.key).
    pub fn from_ed448(secret: &[u8], public: Option<&[u8]>) -> Result<Self, KeyError> {
        let key = Ed448Key::new(secret, public)?;
        let mut blob = Vec::new();
        blob.put_string(ed448::NAME.as_bytes());
        blob.put_string(key.public());
        Ok(SigningKey {
            inner: Inner::Ed448(Box::new(key)),
            blob,
            key_type: ed448::NAME,
        })
    }

    /// The public key blob (RFC 4253 §6.6).
    pub fn public_blob(&self) -> &[u8] {
        &self.blob
    }

    /// The key type name (RFC 4253 §6.6): `ssh-ed25519`, `ssh-ed448`,
    /// `ecdsa-sha2-nistp256`, `ssh-rsa`, `ssh-dss`...
    pub fn key_type(&self) -> &'static str {
        self.key_type
    }

    /// Signature algorithms this key can produce, preferred first (see
    /// [`algorithms_for_key_type`]).
    pub fn algorithms(&self) -> &'static [&'static str] {
        algorithms_for_key_type(self.key_type)
    }

    /// Signs `data` with `alg`, returning the signature blob
    /// (`string alg, string signature`, RFC 4253 §6.6).
    pub fn sign(&self, alg: &str, data: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        match (&self.inner, alg) {
            (Inner::Ed25519(k), "ssh-ed25519") => {
                out.put_string(alg.as_bytes());
                out.put_string(k.sign(data).as_ref());
            }
            (Inner::Ed448(k), ed448::NAME) => {
                out.put_string(alg.as_bytes());
                out.put_string(&k.sign(data));
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
            (Inner::Rsa(k), "rsa-sha2-256" | "rsa-sha2-512" | "ssh-rsa") => {
                let sig = k.sign(alg, data)?;
                out.put_string(alg.as_bytes());
                out.put_string(&sig);
            }
            (Inner::Dss(k), dss::NAME) => {
                out.put_string(alg.as_bytes());
                out.put_string(&k.sign(data)?);
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
/// `data` (RFC 4253 §6.6, RFC 8709, RFC 5656 §3.1.2, RFC 8332 §3). The
/// signature's algorithm name must equal `alg` exactly and the key must be
/// of the type `alg` uses ([`key_type_for`]). Both blobs may come from the
/// peer: a malformed one, an RSA key under 1024 bits or a DSA signature
/// that is not 40 bytes is an error, as is a signature that does not
/// verify.
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
        ed448::NAME => ed448::verify(&mut kr, data, sig)?,
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
        "rsa-sha2-256" | "rsa-sha2-512" | "ssh-rsa" => rsa_key::verify(alg, &mut kr, data, sig)?,
        dss::NAME => dss::verify(&mut kr, data, sig)?,
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

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// Standard base64 (RFC 4648 §4), for reading the Ed448 fixture, which
    /// ssh-key cannot parse.
    fn base64(text: &str) -> Vec<u8> {
        const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut acc, mut n) = (0u32, 0);
        for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
            acc = acc << 6 | ABC.iter().position(|&x| x == c).unwrap() as u32;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((acc >> n) as u8);
            }
        }
        out
    }

    /// An unencrypted OpenSSH-format `ssh-ed448` key (PROTOCOL.key; the
    /// private section holds `string pub, string priv || pub` as for
    /// Ed25519).
    fn openssh_ed448(text: &str) -> SigningKey {
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let raw = base64(&body);
        let mut r = Reader::new(&raw);
        assert_eq!(r.bytes(15, "magic").unwrap(), b"openssh-key-v1\0");
        assert_eq!(r.string().unwrap(), b"none");
        r.string().unwrap();
        r.string().unwrap();
        assert_eq!(r.u32().unwrap(), 1);
        let public_blob = r.string().unwrap();
        let mut p = Reader::new(r.string().unwrap());
        assert_eq!(p.u32().unwrap(), p.u32().unwrap());
        assert_eq!(p.utf8().unwrap(), "ssh-ed448");
        let public = p.string().unwrap();
        let both = p.string().unwrap();
        assert_eq!(both.len(), 114);
        assert_eq!(&both[57..], public);
        let key = SigningKey::from_ed448(&both[..57], Some(public)).unwrap();
        assert_eq!(key.public_blob(), public_blob);
        key
    }

    fn ssh_key(text: &str) -> SigningKey {
        SigningKey::from_ssh_key(&ssh_key::PrivateKey::from_openssh(text).unwrap()).unwrap()
    }

    /// The fixture keys, made by OpenSSH's ssh-keygen (PuTTY's puttygen for
    /// Ed448).
    fn keys() -> Vec<SigningKey> {
        let mut keys: Vec<SigningKey> = [
            include_str!("../../tests/keys/host_ed25519"),
            include_str!("../../tests/keys/host_ecdsa"),
            include_str!("../../tests/keys/host_rsa"),
            include_str!("../../tests/keys/user_ecdsa384"),
            include_str!("../../tests/keys/user_ecdsa521"),
            include_str!("../../tests/keys/host_rsa1024"),
            include_str!("../../tests/keys/host_dsa"),
        ]
        .iter()
        .map(|t| ssh_key(t))
        .collect();
        keys.push(openssh_ed448(include_str!("../../tests/keys/host_ed448")));
        keys
    }

    /// The public key line's blob of a `.pub` fixture.
    fn pub_blob(line: &str) -> Vec<u8> {
        base64(line.split_whitespace().nth(1).unwrap())
    }

    #[test]
    fn fixture_blobs_match_their_public_files() {
        for (private, public) in [
            (
                ssh_key(include_str!("../../tests/keys/host_dsa")),
                include_str!("../../tests/keys/host_dsa.pub"),
            ),
            (
                ssh_key(include_str!("../../tests/keys/host_rsa1024")),
                include_str!("../../tests/keys/host_rsa1024.pub"),
            ),
            (
                openssh_ed448(include_str!("../../tests/keys/host_ed448")),
                include_str!("../../tests/keys/host_ed448.pub"),
            ),
        ] {
            assert_eq!(private.public_blob(), pub_blob(public), "{}", private.key_type());
        }
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        for k in keys() {
            assert!(!k.algorithms().is_empty(), "{}", k.key_type());
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
                let mut long = sig.clone();
                long.push(0);
                assert!(verify(alg, k.public_blob(), b"exchange hash", &long).is_err());
            }
        }
    }

    /// Mangled key and signature blobs are refused without a panic.
    #[test]
    fn hostile_blobs_are_errors() {
        for k in keys() {
            let alg = k.algorithms()[0];
            let blob = k.public_blob();
            let sig = k.sign(alg, b"data").unwrap();
            for cut in 0..blob.len() {
                assert!(verify(alg, &blob[..cut], b"data", &sig).is_err(), "{alg} cut {cut}");
            }
            for i in 0..blob.len() {
                let mut b = blob.to_vec();
                b[i] ^= 0x80;
                assert!(verify(alg, &b, b"data", &sig).is_err(), "{alg} key byte {i}");
            }
            for i in 0..sig.len() {
                let mut s = sig.clone();
                s[i] ^= 0x80;
                assert!(verify(alg, blob, b"data", &s).is_err(), "{alg} sig byte {i}");
            }
            let mut b = blob.to_vec();
            b.extend_from_slice(&[0, 0, 0, 0]);
            assert!(verify(alg, &b, b"data", &sig).is_err());
            // An inner length far past the end.
            let mut s = sig.clone();
            let at = 4 + alg.len();
            s[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
            assert!(verify(alg, blob, b"data", &s).is_err());
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

    /// RFC 8032 §7.4: the 1023-octet message.
    const ED448_MSG_1023: &str = "
        6ddf802e1aae4986935f7f981ba3f0351d6273c0a0c22c9c0e8339168e675412a3debfaf435ed651558007db4384b650
        fcc07e3b586a27a4f7a00ac8a6fec2cd86ae4bf1570c41e6a40c931db27b2faa15a8cedd52cff7362c4e6e23daec0fbc
        3a79b6806e316efcc7b68119bf46bc76a26067a53f296dafdbdc11c77f7777e972660cf4b6a9b369a6665f02e0cc9b6e
        dfad136b4fabe723d2813db3136cfde9b6d044322fee2947952e031b73ab5c603349b307bdc27bc6cb8b8bbd7bd32321
        9b8033a581b59eadebb09b3c4f3d2277d4f0343624acc817804728b25ab797172b4c5c21a22f9c7839d64300232eb66e
        53f31c723fa37fe387c7d3e50bdf9813a30e5bb12cf4cd930c40cfb4e1fc622592a49588794494d56d24ea4b40c89fc0
        596cc9ebb961c8cb10adde976a5d602b1c3f85b9b9a001ed3c6a4d3b1437f52096cd1956d042a597d561a596ecd3d173
        5a8d570ea0ec27225a2c4aaff26306d1526c1af3ca6d9cf5a2c98f47e1c46db9a33234cfd4d81f2c98538a09ebe76998
        d0d8fd25997c7d255c6d66ece6fa56f11144950f027795e653008f4bd7ca2dee85d8e90f3dc315130ce2a00375a318c7
        c3d97be2c8ce5b6db41a6254ff264fa6155baee3b0773c0f497c573f19bb4f4240281f0b1f4f7be857a4e59d416c06b4
        c50fa09e1810ddc6b1467baeac5a3668d11b6ecaa901440016f389f80acc4db977025e7f5924388c7e340a732e554440
        e76570f8dd71b7d640b3450d1fd5f0410a18f9a3494f707c717b79b4bf75c98400b096b21653b5d217cf3565c9597456
        f70703497a078763829bc01bb1cbc8fa04eadc9a6e3f6699587a9e75c94e5bab0036e0b2e711392cff0047d0d6b05bd2
        a588bc109718954259f1d86678a579a3120f19cfb2963f177aeb70f2d4844826262e51b80271272068ef5b3856fa8535
        aa2a88b2d41f2a0e2fda7624c2850272ac4a2f561f8f2f7a318bfd5caf9696149e4ac824ad3460538fdc25421beec2cc
        6818162d06bbed0c40a387192349db67a118bada6cd5ab0140ee273204f628aad1c135f770279a651e24d8c14d75a605
        9d76b96a6fd857def5e0b354b27ab937a5815d16b5fae407ff18222c6d1ed263be68c95f32d908bd895cd76207ae7264
        87567f9a67dad79abec316f683b17f2d02bf07e0ac8b5bc6162cf94697b3c27cd1fea49b27f23ba2901871962506520c
        392da8b6ad0d99f7013fbc06c2c17a569500c8a7696481c1cd33e9b14e40b82e79a5f5db82571ba97bae3ad3e0479515
        bb0e2b0f3bfcd1fd33034efc6245eddd7ee2086ddae2600d8ca73e214e8c2b0bdb2b047c6a464a562ed77b73d2d841c4
        b34973551257713b753632efba348169abc90a68f42611a40126d7cb21b58695568186f7e569d2ff0f9e745d0487dd2e
        b997cafc5abf9dd102e62ff66cba87";

    /// RFC 8032 §7.4 Ed448 vectors (empty context): blank, 1 octet,
    /// 256 octets and 1023 octets: (secret, public, message, signature).
    fn ed448_vectors() -> [(&'static str, &'static str, String, &'static str); 4] {
        [
            (
                "6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b",
                "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180",
                String::new(),
                "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600",
            ),
            (
                "c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e",
                "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4cb82169c235160627b4c3a9480",
                "03".into(),
                "26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f4352541b143c4b981b7e18f62de8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cbcee1afb2e027df36bc04dcecbf154336c19f0af7e0a6472905e799f1953d2a0ff3348ab21aa4adafd1d234441cf807c03a00",
            ),
            (
                "2ec5fe3c17045abdb136a5e6a913e32ab75ae68b53d2fc149b77e504132d37569b7e766ba74a19bd6162343a21c8590aa9cebca9014c636df5",
                "79756f014dcfe2079f5dd9e718be4171e2ef2486a08f25186f6bff43a9936b9bfe12402b08ae65798a3d81e22e9ec80e7690862ef3d4ed3a00",
                "15777532b0bdd0d1389f636c5f6b9ba734c90af572877e2d272dd078aa1e567cfa80e12928bb542330e8409f3174504107ecd5efac61ae7504dabe2a602ede89e5cca6257a7c77e27a702b3ae39fc769fc54f2395ae6a1178cab4738e543072fc1c177fe71e92e25bf03e4ecb72f47b64d0465aaea4c7fad372536c8ba516a6039c3c2a39f0e4d832be432dfa9a706a6e5c7e19f397964ca4258002f7c0541b590316dbc5622b6b2a6fe7a4abffd96105eca76ea7b98816af0748c10df048ce012d901015a51f189f3888145c03650aa23ce894c3bd889e030d565071c59f409a9981b51878fd6fc110624dcbcde0bf7a69ccce38fabdf86f3bef6044819de11".into(),
                "c650ddbb0601c19ca11439e1640dd931f43c518ea5bea70d3dcde5f4191fe53f00cf966546b72bcc7d58be2b9badef28743954e3a44a23f880e8d4f1cfce2d7a61452d26da05896f0a50da66a239a8a188b6d825b3305ad77b73fbac0836ecc60987fd08527c1a8e80d5823e65cafe2a3d00",
            ),
            (
                "872d093780f5d3730df7c212664b37b8a0f24f56810daa8382cd4fa3f77634ec44dc54f1c2ed9bea86fafb7632d8be199ea165f5ad55dd9ce8",
                "a81b2e8a70a5ac94ffdbcc9badfc3feb0801f258578bb114ad44ece1ec0e799da08effb81c5d685c0c56f64eecaef8cdf11cc38737838cf400",
                ED448_MSG_1023.into(),
                "e301345a41a39a4d72fff8df69c98075a0cc082b802fc9b2b6bc503f926b65bddf7f4c8f1cb49f6396afc8a70abe6d8aef0db478d4c6b2970076c6a0484fe76d76b3a97625d79f1ce240e7c576750d295528286f719b413de9ada3e8eb78ed573603ce30d8bb761785dc30dbc320869e1a00",
            ),
        ]
    }

    #[test]
    fn rfc8032_ed448_vectors() {
        for (secret, public, msg, want) in ed448_vectors() {
            let (secret, public, msg, want) = (h(secret), h(public), h(&msg), h(want));
            let key = SigningKey::from_ed448(&secret, Some(&public)).unwrap();
            let derived = SigningKey::from_ed448(&secret, None).unwrap();
            assert_eq!(key.public_blob(), derived.public_blob());
            let mut blob = Vec::new();
            blob.put_string(b"ssh-ed448");
            blob.put_string(&public);
            assert_eq!(key.public_blob(), blob);
            assert_eq!(key.key_type(), "ssh-ed448");
            let sig = key.sign("ssh-ed448", &msg).unwrap();
            let mut expected = Vec::new();
            expected.put_string(b"ssh-ed448");
            expected.put_string(&want);
            assert_eq!(hex::encode(&sig), hex::encode(&expected));
            verify("ssh-ed448", &blob, &msg, &sig).unwrap();
            let mut other = msg.clone();
            other.push(0);
            assert!(verify("ssh-ed448", &blob, &other, &sig).is_err());
        }
    }

    /// RFC 8032 §7.4 "1 octet (with context)": `ssh-ed448` uses the empty
    /// context, so a signature made with context "foo" does not verify.
    #[test]
    fn ed448_context_signature_is_not_ssh_ed448() {
        let public = h("43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4cb82169c235160627b4c3a9480");
        let with_ctx = h("d4f8f6131770dd46f40867d6fd5d5055de43541f8c5e35abbcd001b32a89f7d2151f7647f11d8ca2ae279fb842d607217fce6e042f6815ea000c85741de5c8da1144a6a1aba7f96de42505d7a7298524fda538fccbbb754f578c1cad10d54d0d5428407e85dcbc98a49155c13764e66c3c00");
        let mut blob = Vec::new();
        blob.put_string(b"ssh-ed448");
        blob.put_string(&public);
        let mut sig = Vec::new();
        sig.put_string(b"ssh-ed448");
        sig.put_string(&with_ctx);
        assert!(verify("ssh-ed448", &blob, &[0x03], &sig).is_err());
    }

    #[test]
    fn ed448_bad_keys() {
        let (secret, public, ..) = &ed448_vectors()[0];
        let (secret, mut public) = (h(secret), h(public));
        assert!(SigningKey::from_ed448(&secret[..56], None).is_err());
        public[0] ^= 1;
        assert!(SigningKey::from_ed448(&secret, Some(&public)).is_err());
        assert!(SigningKey::from_ed448(&secret, Some(&public[..56])).is_err());
        // A key blob whose point is not on the curve, or of the wrong size.
        let key = SigningKey::from_ed448(&secret, None).unwrap();
        let sig = key.sign("ssh-ed448", b"m").unwrap();
        for bad in [vec![0xffu8; 57], vec![0u8; 56], vec![0u8; 58]] {
            let mut blob = Vec::new();
            blob.put_string(b"ssh-ed448");
            blob.put_string(&bad);
            assert!(verify("ssh-ed448", &blob, b"m", &sig).is_err());
        }
    }

    /// An `ssh-dss` signature made by OpenSSH 9.2 (`ssh-keygen -Y sign -f
    /// host_dsa -n tobira-test` over "tobira dsa kat"): it signs the
    /// SSHSIG structure of PROTOCOL.sshsig.
    #[test]
    fn openssh_dsa_signature_verifies() {
        use sha2::Digest;
        let blob = pub_blob(include_str!("../../tests/keys/host_dsa.pub"));
        let sig = h("000000077373682d64737300000028985c80e8773193121278424abde57af635570c0ea6db94ec331f2a6019ecacc24937de2f8214cd2a");
        let mut signed = b"SSHSIG".to_vec();
        signed.put_string(b"tobira-test");
        signed.put_string(b"");
        signed.put_string(b"sha512");
        signed.put_string(&sha2::Sha512::digest(b"tobira dsa kat"));
        verify("ssh-dss", &blob, &signed, &sig).unwrap();
        signed.push(0);
        assert!(verify("ssh-dss", &blob, &signed, &sig).is_err());
        // The same r || s in a 41-byte string is refused.
        let mut long = Vec::new();
        long.put_string(b"ssh-dss");
        let mut rs = sig[15..].to_vec();
        rs.push(0);
        long.put_string(&rs);
        signed.pop();
        let e = verify("ssh-dss", &blob, &signed, &long).unwrap_err();
        assert!(e.to_string().contains("40 bytes"), "{e}");
    }

    /// PKCS#1 v1.5 signatures are deterministic: these are OpenSSL's
    /// (`openssl dgst -sha1|-sha256|-sha512 -sign`) over "exchange hash"
    /// with the fixture keys.
    #[test]
    fn rsa_signatures_match_openssl() {
        let small = ssh_key(include_str!("../../tests/keys/host_rsa1024"));
        let big = ssh_key(include_str!("../../tests/keys/host_rsa"));
        for (key, alg, want) in [
            (&small, "ssh-rsa", "a65f3709a336d64aef0c62a46c3735bdd0fa1ccdedefde8769eb7f2433981703dbfb7e8e7696b0d6d56fc5f349e90560c7a3a48cb89ef39d15807242e683337ea23fc34cdf48ae898255ceed127358c9961444a031aa2ec8d43addfcc64cb0c405f60585279a5f7d9effb0ee91d0e831376adcce40ebeb0191a9289e6dd7617e"),
            (&small, "rsa-sha2-256", "85a3bb68a71ccf139e2bd0785a1e2d229626bdd0b41e865246a057e236383e2c72f4158c53ed7d4e945f3c147a26a967ad37d2f2195387249efa0caabaf847ca2bdac51e215535e47337e6ead7ece3da62c2b2c557447ac62209c3f8d12ff3250d46ea625786a5e01a65188e969e256904a4f624413b7a1db87ee7f09b34a2f2"),
            (&small, "rsa-sha2-512", "90cdc3df358e7503cabda962c85f8f546931e27a497ada6a5a70a27654ac6ba3d601e46faa4871380cd29bd592e3d4598c921d7eb50ebf000eceb57845f2dab71b6c840677a01fe6ed304fc4d736122747c4572d80990f2ac310c366d376565ebccbfc3e2f7d789e3ac6ce905ab9dd9123796b796b73fb964a7f64f00a3c330b"),
            (&big, "ssh-rsa", "446ea39f4aa1c00638bdfd67f83e2c6ea81724edf3c4e92176ea244c11f341a71dee4d5cb0ede9eb83868682e81c3ef0f185080156e9fe077e58fabded639d2171c530f6fdf90ba676bed3f23cb34a2dc7bc11c347de05bbc0f16b6dd4a3f6d09eefb9b073e4865b588450c4063da12202237df6795e294b18675843029c2c1a2b8222b12ea005701fc49272e49f1652c9e2528b89fa926330ba74f4b299a78ac99c888048bd4edb377a1051bfebc0d51e315d62b8d0a90d2c0bc48a3619e76779855e3510c83cbc560f48ae213f8e68d6053d35f17c2f73130d7c06cf9af0bd1f80b3e249d1c632c623bfc1afa7409f8827abbaead7024345da7f9932c9cff3"),
        ] {
            let sig = key.sign(alg, b"exchange hash").unwrap();
            let mut expected = Vec::new();
            expected.put_string(alg.as_bytes());
            expected.put_string(&h(want));
            assert_eq!(hex::encode(&sig), hex::encode(&expected), "{alg}");
            verify(alg, key.public_blob(), b"exchange hash", &sig).unwrap();
        }
    }

    #[test]
    fn rsa_keys_under_1024_bits_are_refused() {
        let e = [1, 0, 1];
        let mut sig = Vec::new();
        sig.put_string(b"ssh-rsa");
        sig.put_string(&[1u8; 128]);
        // 1023 bits: refused before any arithmetic; 1024 bits: checked.
        for (top, refused) in [(0x7fu8, true), (0x80, false)] {
            let mut n = vec![0xffu8; 128];
            n[0] = top;
            let mut blob = Vec::new();
            blob.put_string(b"ssh-rsa");
            blob.put_mpint(&e);
            blob.put_mpint(&n);
            let err = verify("ssh-rsa", &blob, b"x", &sig).unwrap_err().to_string();
            assert_eq!(err.contains("smaller than 1024 bits"), refused, "{err}");
        }
        // The same through the key type check of every RSA algorithm.
        let mut blob = Vec::new();
        blob.put_string(b"ssh-rsa");
        blob.put_mpint(&e);
        blob.put_mpint(&[0x7f; 96]);
        for alg in ["rsa-sha2-256", "rsa-sha2-512"] {
            let mut s = Vec::new();
            s.put_string(alg.as_bytes());
            s.put_string(&[1u8; 96]);
            assert!(verify(alg, &blob, b"x", &s).is_err());
        }
    }

    #[test]
    fn rsa_key_algorithms_include_sha1_last() {
        assert_eq!(
            algorithms_for_key_type("ssh-rsa"),
            &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        );
        assert_eq!(algorithms_for_key_type("ssh-dss"), &["ssh-dss"]);
        assert_eq!(algorithms_for_key_type("ssh-ed448"), &["ssh-ed448"]);
        for alg in ["ssh-rsa", "ssh-dss", "ssh-ed448"] {
            assert_eq!(key_type_for(alg), alg);
        }
        let k = ssh_key(include_str!("../../tests/keys/host_dsa"));
        assert_eq!(k.key_type(), "ssh-dss");
        assert!(k.sign("ssh-rsa", b"x").is_err());
    }

    #[test]
    fn algorithm_must_match_key() {
        let keys = keys();
        let k = &keys[0];
        let sig = k.sign("ssh-ed25519", b"x").unwrap();
        assert!(verify("rsa-sha2-256", k.public_blob(), b"x", &sig).is_err());
        assert!(k.sign("rsa-sha2-256", b"x").is_err());
        // An ssh-rsa signature is not an rsa-sha2-256 one and vice versa.
        let rsa = &keys[2];
        let sha1 = rsa.sign("ssh-rsa", b"x").unwrap();
        assert!(verify("rsa-sha2-256", rsa.public_blob(), b"x", &sha1).is_err());
        let mut renamed = Vec::new();
        renamed.put_string(b"rsa-sha2-256");
        renamed.put_string(&sha1[4 + 7 + 4..]);
        assert!(verify("rsa-sha2-256", rsa.public_blob(), b"x", &renamed).is_err());
        // Ed448 and DSA signatures under each other's names.
        let (dsa, ed448) = (&keys[6], &keys[7]);
        let d = dsa.sign("ssh-dss", b"x").unwrap();
        assert!(verify("ssh-ed448", ed448.public_blob(), b"x", &d).is_err());
        assert!(verify("ssh-ed448", dsa.public_blob(), b"x", &d).is_err());
        assert!(ed448.sign("ssh-dss", b"x").is_err());
    }
}
