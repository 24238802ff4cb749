//! RSA key exchange (RFC 4432): `rsa2048-sha256` and `rsa1024-sha1`.
//!
//! Message flow (RFC 4432 §4; the server speaks first after KEXINIT):
//!
//! ```text
//! S -> C  byte 30 (SSH_MSG_KEXRSA_PUBKEY)  string K_S, string K_T
//! C -> S  byte 31 (SSH_MSG_KEXRSA_SECRET)  string RSAES-OAEP-ENCRYPT(K_T, mpint K)
//! S -> C  byte 32 (SSH_MSG_KEXRSA_DONE)    string signature of H
//! ```
//!
//! `K_T` is the server's transient RSA public key as an `ssh-rsa` blob
//! (`string "ssh-rsa", mpint e, mpint n`), at least 1024 bits for
//! `rsa1024-sha1` and 2048 bits for `rsa2048-sha256` (RFC 4432 §5, §6). The
//! client picks a random integer `0 <= K < 2^(KLEN - 2*HLEN - 49)` (KLEN the
//! modulus length and HLEN the hash length, both in bits) and encrypts the
//! whole `mpint` encoding of `K` (with its 4-byte length) with RSAES-OAEP
//! (RFC 8017 §7.1), the method's hash for both OAEP and MGF1, empty label.
//! The exchange hash (RFC 4432 §4) is
//!
//! ```text
//! H = HASH(string V_C || string V_S || string I_C || string I_S || string K_S
//!          || string K_T || string encrypted_secret || mpint K)
//! ```
//!
//! and `K` enters the key derivation as an `mpint` (RFC 4253 §7.2).
//!
//! Backends: key generation, public-key parsing and encryption use the
//! `rsa` crate with the injected RNG. Decryption with 2048-bit and larger
//! keys uses aws-lc-rs (constant-time); aws-lc-rs refuses RSA keys below
//! 2048 bits, so 1024-bit keys are decrypted by the `rsa` crate with
//! blinding from the injected RNG.

use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use rand_core::{CryptoRng, RngCore};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

use crate::crypto::HashAlg;
use crate::error::Error;
use crate::wire::{Reader, Writer};

/// Largest transient key accepted from a server, in bits.
pub const MAX_TRANSIENT_BITS: usize = 8192;

/// An RSA key exchange method (RFC 4432 §5, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaKexMethod {
    /// `rsa1024-sha1`: transient key of at least 1024 bits, SHA-1.
    Rsa1024Sha1,
    /// `rsa2048-sha256`: transient key of at least 2048 bits, SHA-256.
    Rsa2048Sha256,
}

impl RsaKexMethod {
    /// The exchange hash, OAEP and MGF1 hash.
    pub fn hash(self) -> HashAlg {
        match self {
            RsaKexMethod::Rsa1024Sha1 => HashAlg::Sha1,
            RsaKexMethod::Rsa2048Sha256 => HashAlg::Sha256,
        }
    }

    /// The transient key size: the minimum a client accepts, and the size
    /// [`RsaTransientKey::generate`] produces.
    pub fn key_bits(self) -> usize {
        match self {
            RsaKexMethod::Rsa1024Sha1 => 1024,
            RsaKexMethod::Rsa2048Sha256 => 2048,
        }
    }

    /// The bound on the secret: `K < 2^(KLEN - 2*HLEN - 49)` for a modulus
    /// of `klen` bits (RFC 4432 §4). Returns the exponent.
    pub fn secret_bits(self, klen: usize) -> usize {
        klen.saturating_sub(2 * 8 * self.hash().output_len() + 49)
    }

    fn oaep(self) -> Oaep {
        match self {
            RsaKexMethod::Rsa1024Sha1 => Oaep::new::<sha1::Sha1>(),
            RsaKexMethod::Rsa2048Sha256 => Oaep::new::<sha2::Sha256>(),
        }
    }

    fn aws_oaep(self) -> &'static OaepAlgorithm {
        match self {
            RsaKexMethod::Rsa1024Sha1 => &OAEP_SHA1_MGF1SHA1,
            RsaKexMethod::Rsa2048Sha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }
}

/// Presents the injected RNG to the `rsa` crate, which asks for a
/// `CryptoRng`; the connection's RNG is a CSPRNG by contract.
struct CryptoRngRef<'a>(&'a mut dyn RngCore);

impl RngCore for CryptoRngRef<'_> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl CryptoRng for CryptoRngRef<'_> {}

/// The server's transient RSA key pair (RFC 4432 §3). The server may
/// reuse it for several exchanges but must not use it for anything else.
pub struct RsaTransientKey {
    key: RsaPrivateKey,
    /// aws-lc decryption key for moduli of 2048 bits and more.
    aws: Option<OaepPrivateDecryptingKey>,
    blob: Vec<u8>,
}

impl std::fmt::Debug for RsaTransientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaTransientKey")
            .field("bits", &self.bits())
            .finish_non_exhaustive()
    }
}

impl RsaTransientKey {
    /// Generates a transient key of `method.key_bits()` bits (e = 65537)
    /// from the injected RNG (RFC 4432 §3).
    pub fn generate(method: RsaKexMethod, rng: &mut dyn RngCore) -> Result<Self, Error> {
        let key = RsaPrivateKey::new(&mut CryptoRngRef(rng), method.key_bits())
            .map_err(|e| Error::kex(format!("RSA key generation failed: {e}")))?;
        Self::from_key(key)
    }

    fn from_key(key: RsaPrivateKey) -> Result<Self, Error> {
        let mut blob = Vec::new();
        blob.put_string(b"ssh-rsa");
        blob.put_mpint(&key.e().to_bytes_be());
        blob.put_mpint(&key.n().to_bytes_be());
        let aws = if key.n().bits() >= 2048 {
            let der = key
                .to_pkcs8_der()
                .map_err(|e| Error::kex(format!("RSA key encoding failed: {e}")))?;
            let k = PrivateDecryptingKey::from_pkcs8(der.as_bytes())
                .map_err(|e| Error::kex(format!("RSA key rejected: {e}")))?;
            Some(OaepPrivateDecryptingKey::new(k).map_err(|_| Error::kex("RSA key rejected"))?)
        } else {
            None
        };
        Ok(RsaTransientKey { key, aws, blob })
    }

    /// The `ssh-rsa` public key blob `K_T` for SSH_MSG_KEXRSA_PUBKEY
    /// (RFC 4432 §4).
    pub fn public_blob(&self) -> &[u8] {
        &self.blob
    }

    /// The modulus length in bits (KLEN).
    pub fn bits(&self) -> usize {
        self.key.n().bits()
    }

    /// The modulus length in bytes: the length of a valid encrypted secret.
    pub fn len_bytes(&self) -> usize {
        self.key.size()
    }
}

/// Parses an `ssh-rsa` blob: `string "ssh-rsa", mpint e, mpint n`
/// (RFC 4253 §6.6), nothing after it.
fn parse_k_t(blob: &[u8]) -> Result<RsaPublicKey, Error> {
    let bad = |what: &str| Error::kex(format!("invalid transient RSA key K_T: {what}"));
    let mut r = Reader::new(blob);
    let name = r.string().map_err(|_| bad("truncated"))?;
    if name != b"ssh-rsa" {
        return Err(bad("not ssh-rsa"));
    }
    let e = r.mpint_positive().map_err(|_| bad("bad exponent"))?;
    let n = r.mpint_positive().map_err(|_| bad("bad modulus"))?;
    r.finish().map_err(|_| bad("trailing data"))?;
    if n.len() * 8 > MAX_TRANSIENT_BITS + 8 || e.len() > 8 {
        return Err(bad("too large"));
    }
    if n.last().is_none_or(|b| b & 1 == 0) || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
        return Err(bad("even modulus or exponent, or exponent 1"));
    }
    RsaPublicKey::new_with_max_size(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e), MAX_TRANSIENT_BITS)
        .map_err(|e| bad(&e.to_string()))
}

/// Client side (RFC 4432 §4): checks the transient key `K_T` (an
/// `ssh-rsa` blob of at least `method.key_bits()` bits), picks a random
/// `K` with `0 <= K < 2^(KLEN - 2*HLEN - 49)` and returns
/// `(RSAES-OAEP-ENCRYPT(K_T, mpint K), K)`: the first for
/// SSH_MSG_KEXRSA_SECRET and the exchange hash, `K` as the big-endian
/// magnitude (no leading zeros) to be encoded as an `mpint`.
pub fn encrypt_secret(
    method: RsaKexMethod,
    k_t_blob: &[u8],
    rng: &mut dyn RngCore,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), Error> {
    let k_t = parse_k_t(k_t_blob)?;
    let klen = k_t.n().bits();
    if klen < method.key_bits() {
        return Err(Error::kex(format!(
            "transient RSA key too small: {klen} bits, {} needed",
            method.key_bits()
        )));
    }
    let bits = method.secret_bits(klen);
    let mut k = Zeroizing::new(vec![0u8; bits.div_ceil(8)]);
    rng.try_fill_bytes(&mut k[..])
        .map_err(|_| Error::kex("random number generator failed"))?;
    let excess = k.len() * 8 - bits;
    if let Some(top) = k.first_mut() {
        *top &= 0xff >> excess;
    }
    let start = k.iter().position(|&b| b != 0).unwrap_or(k.len());
    let k = Zeroizing::new(k[start..].to_vec());
    let mut plain = Zeroizing::new(Vec::with_capacity(k.len() + 5));
    plain.put_mpint(&k);
    let encrypted = k_t
        .encrypt(&mut CryptoRngRef(rng), method.oaep(), &plain)
        .map_err(|e| Error::kex(format!("RSA encryption failed: {e}")))?;
    Ok((encrypted, k))
}

/// The encrypted secret must be exactly the transient key's modulus length
/// (RFC 4432 §4); checked before any work is spent on decrypting it.
pub fn check_secret_len(key: &RsaTransientKey, encrypted: &[u8]) -> Result<(), Error> {
    if encrypted.len() != key.len_bytes() {
        return Err(Error::kex(format!(
            "encrypted RSA secret has length {} (expected {})",
            encrypted.len(),
            key.len_bytes()
        )));
    }
    Ok(())
}

/// Server side (RFC 4432 §4): decrypts the client's encrypted secret with
/// the transient key and returns `K` as the big-endian magnitude, to be
/// encoded as an `mpint`. A ciphertext that is not exactly the modulus
/// length, an OAEP decryption failure, or a plaintext that is not exactly
/// one non-negative `mpint` is an error (SSH_DISCONNECT_KEY_EXCHANGE_FAILED).
/// `rng` supplies the blinding for keys below 2048 bits.
pub fn decrypt_secret(
    method: RsaKexMethod,
    key: &RsaTransientKey,
    encrypted: &[u8],
    rng: &mut dyn RngCore,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    check_secret_len(key, encrypted)?;
    let plain = match &key.aws {
        Some(aws) => {
            let mut out = Zeroizing::new(vec![0u8; aws.min_output_size()]);
            let n = aws
                .decrypt(method.aws_oaep(), encrypted, &mut out[..], None)
                .map_err(|_| Error::kex("RSA decryption of the shared secret failed"))?
                .len();
            out.truncate(n);
            out
        }
        None => Zeroizing::new(
            key.key
                .decrypt_blinded(&mut CryptoRngRef(rng), method.oaep(), encrypted)
                .map_err(|_| Error::kex("RSA decryption of the shared secret failed"))?,
        ),
    };
    let mut r = Reader::new(&plain);
    let k = r
        .mpint_positive()
        .map_err(|_| Error::kex("decrypted RSA secret is not an mpint"))?;
    r.finish()
        .map_err(|_| Error::kex("decrypted RSA secret has trailing data"))?;
    Ok(Zeroizing::new(k.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DisconnectReason;
    use rand::SeedableRng;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn big(s: &str) -> BigUint {
        BigUint::from_bytes_be(&h(s))
    }

    fn assert_kex_err<T: std::fmt::Debug>(r: Result<T, Error>) {
        assert_eq!(r.unwrap_err().reason(), Some(DisconnectReason::KeyExchangeFailed));
    }

    fn fixed_key(n: &str, d: &str, p: &str, q: &str) -> RsaTransientKey {
        let key =
            RsaPrivateKey::from_components(big(n), BigUint::from(65537u32), big(d), vec![big(p), big(q)]).unwrap();
        RsaTransientKey::from_key(key).unwrap()
    }

    fn key1024() -> RsaTransientKey {
        fixed_key(RSA1024_N, RSA1024_D, RSA1024_P, RSA1024_Q)
    }

    fn key2048() -> RsaTransientKey {
        fixed_key(RSA2048_N, RSA2048_D, RSA2048_P, RSA2048_Q)
    }

    /// Ciphertexts produced by an independent implementation (Python
    /// `cryptography`/OpenSSL RSAES-OAEP, hash and MGF1 per method, empty
    /// label) of `mpint K`, decrypted by both backends (1024: `rsa` crate,
    /// 2048: aws-lc).
    #[test]
    fn decrypts_independent_ciphertexts() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for (method, key, ct, k) in [
            (RsaKexMethod::Rsa1024Sha1, key1024(), RSA1024_CT, RSA1024_K),
            (RsaKexMethod::Rsa2048Sha256, key2048(), RSA2048_CT, RSA2048_K),
        ] {
            assert_eq!(key.bits(), method.key_bits());
            assert_eq!(key.aws.is_some(), method == RsaKexMethod::Rsa2048Sha256);
            let got = decrypt_secret(method, &key, &h(ct), &mut rng).unwrap();
            assert_eq!(hex::encode(&got[..]), k);
            // K uses the top allowed bit: exactly KLEN - 2*HLEN - 49 bits.
            let bits = got.len() * 8 - got[0].leading_zeros() as usize;
            assert_eq!(bits, method.secret_bits(key.bits()));
        }
    }

    /// Malformed plaintexts (valid OAEP): inconsistent length, negative
    /// mpint, trailing bytes; and OAEP with the other hash.
    #[test]
    fn bad_plaintexts_refused() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for (method, key, cts) in [
            (
                RsaKexMethod::Rsa1024Sha1,
                key1024(),
                [
                    RSA1024_CT_BADLEN,
                    RSA1024_CT_NEG,
                    RSA1024_CT_TRAIL,
                    RSA1024_CT_WRONGHASH,
                ],
            ),
            (
                RsaKexMethod::Rsa2048Sha256,
                key2048(),
                [
                    RSA2048_CT_BADLEN,
                    RSA2048_CT_NEG,
                    RSA2048_CT_TRAIL,
                    RSA2048_CT_WRONGHASH,
                ],
            ),
        ] {
            for ct in cts {
                assert_kex_err(decrypt_secret(method, &key, &h(ct), &mut rng));
            }
        }
    }

    #[test]
    fn round_trip_generated_keys() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for method in [RsaKexMethod::Rsa1024Sha1, RsaKexMethod::Rsa2048Sha256] {
            let key = RsaTransientKey::generate(method, &mut rng).unwrap();
            assert_eq!(key.bits(), method.key_bits());
            for _ in 0..4 {
                let (enc, k) = encrypt_secret(method, key.public_blob(), &mut rng).unwrap();
                assert_eq!(enc.len(), key.len_bytes());
                let bits = k.first().map_or(0, |b| k.len() * 8 - b.leading_zeros() as usize);
                assert!(bits <= method.secret_bits(key.bits()));
                assert_eq!(decrypt_secret(method, &key, &enc, &mut rng).unwrap(), k);
            }
        }
    }

    /// The client's ciphertexts decrypt under the fixed keys too (the
    /// 2048-bit case crosses implementations: `rsa` crate encryption,
    /// aws-lc decryption), including a K with a zero high byte.
    #[test]
    fn client_encrypts_to_fixed_keys() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for (method, key) in [
            (RsaKexMethod::Rsa1024Sha1, key1024()),
            (RsaKexMethod::Rsa2048Sha256, key2048()),
        ] {
            let (enc, k) = encrypt_secret(method, key.public_blob(), &mut rng).unwrap();
            assert_eq!(decrypt_secret(method, &key, &enc, &mut rng).unwrap(), k);
            // An RNG of zeros gives K = 0: mpint of zero is an empty string.
            let (enc, k) = encrypt_secret(method, key.public_blob(), &mut Zeros).unwrap();
            assert!(k.is_empty());
            assert!(decrypt_secret(method, &key, &enc, &mut rng).unwrap().is_empty());
        }
    }

    struct Zeros;
    impl RngCore for Zeros {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            d.fill(0)
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            d.fill(0);
            Ok(())
        }
    }

    #[test]
    fn hostile_k_t_refused() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let k1024 = key1024();
        let blob = k1024.public_blob().to_vec();
        // A 1024-bit key for rsa2048-sha256.
        assert_kex_err(encrypt_secret(RsaKexMethod::Rsa2048Sha256, &blob, &mut rng));
        assert!(encrypt_secret(RsaKexMethod::Rsa1024Sha1, &blob, &mut rng).is_ok());
        // Truncations, trailing data, other key types, garbage.
        for len in [0, 3, 11, 15, blob.len() - 1] {
            assert_kex_err(encrypt_secret(RsaKexMethod::Rsa1024Sha1, &blob[..len], &mut rng));
        }
        let mut trailing = blob.clone();
        trailing.push(0);
        assert_kex_err(encrypt_secret(RsaKexMethod::Rsa1024Sha1, &trailing, &mut rng));
        let mut other = Vec::new();
        other.put_string(b"ssh-dss");
        other.extend_from_slice(&blob[11..]);
        assert_kex_err(encrypt_secret(RsaKexMethod::Rsa1024Sha1, &other, &mut rng));
        // Exponent 1, even modulus, negative modulus, huge modulus.
        let n = h(RSA1024_N);
        for (e, n) in [
            (vec![1u8], n.clone()),
            (vec![1u8, 0, 1], [&n[..127], &[n[127] & 0xfe]].concat()),
            (vec![1u8, 0, 1], [&[0x80u8][..], &n[..]].concat()),
            (vec![1u8, 0, 1], vec![0x7f; MAX_TRANSIENT_BITS / 8 + 1]),
        ] {
            let mut b = Vec::new();
            b.put_string(b"ssh-rsa");
            b.put_string(&e);
            b.put_string(&n);
            assert_kex_err(encrypt_secret(RsaKexMethod::Rsa1024Sha1, &b, &mut rng));
        }
        assert_kex_err(encrypt_secret(RsaKexMethod::Rsa1024Sha1, &[0xffu8; 300], &mut rng));
    }

    #[test]
    fn hostile_ciphertexts_refused() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for (method, key) in [
            (RsaKexMethod::Rsa1024Sha1, key1024()),
            (RsaKexMethod::Rsa2048Sha256, key2048()),
        ] {
            let n = key.len_bytes();
            for len in [0, 1, n - 1, n + 1, 2 * n] {
                assert_kex_err(decrypt_secret(method, &key, &vec![0x5a; len], &mut rng));
            }
            // Right length, not a valid OAEP encoding; and a value >= n.
            assert_kex_err(decrypt_secret(method, &key, &vec![0x5a; n], &mut rng));
            assert_kex_err(decrypt_secret(method, &key, &vec![0xff; n], &mut rng));
            // A flipped bit in a valid ciphertext.
            let (mut enc, _) = encrypt_secret(method, key.public_blob(), &mut rng).unwrap();
            enc[n / 2] ^= 1;
            assert_kex_err(decrypt_secret(method, &key, &enc, &mut rng));
        }
    }

    #[test]
    fn secret_bits_per_rfc4432() {
        assert_eq!(RsaKexMethod::Rsa1024Sha1.secret_bits(1024), 1024 - 320 - 49);
        assert_eq!(RsaKexMethod::Rsa2048Sha256.secret_bits(2048), 2048 - 512 - 49);
        // mpint(K) fits the OAEP limit k - 2*hLen - 2 at the minimum sizes.
        for m in [RsaKexMethod::Rsa1024Sha1, RsaKexMethod::Rsa2048Sha256] {
            let max_mpint = 4 + m.secret_bits(m.key_bits()).div_ceil(8);
            assert!(max_mpint <= m.key_bits() / 8 - 2 * m.hash().output_len() - 2);
        }
    }

    // Test keys and ciphertexts generated with Python `cryptography`
    // (OpenSSL): RSA keys with e = 65537, OAEP(hash, MGF1(hash), no label).
    const RSA1024_N: &str = concat!(
        "e6d9f1337cdc65e528e3bb8454b8435b5548aa393bc429686c1a26737f7edb3446dacacf1acc9d6ff4f9840155e9c26b",
        "a721e6f4e0bfca065249c486ffda8d63005f70ddc89c2e3b919de0e1000d5673ac4fce6b5a9382f1187f6d54d1134124",
        "4c18ef83de0d5412e1a0a40739d0dd8375ca0703093bb339fbc691b03689436f",
    );
    const RSA1024_D: &str = concat!(
        "56b7437d9dc784972256f9576a239559b79d8623dda9800c739f171687abf5579bce1024dfe240b98f8232edf581cbc0",
        "7895a9960edebc5ac78a62427bd5730a2893fbbe02a5420e5910d6c2ce094f491e403168b51f2943574c962278b9030b",
        "75716ba087ae7a3933834480bb1326082b4fd1d6dbc6f603ea9f71570ef67421",
    );
    const RSA1024_P: &str = concat!(
        "fc59fa0ede8313cbd590d0fe48d03e86a96709d1d27cf722355f6706bc16ce4d73d8b22967f2a0650ccc89be8d0cbee9",
        "01a308fc59ea950adb90475669616279",
    );
    const RSA1024_Q: &str = concat!(
        "ea30632cdaa1d215c5c051ec1bab84173703cf029361f47518e8b006576b6d928f7dba43f1cc90c89f25018384263612",
        "019923af1156b6f49d7136015db49b27",
    );
    const RSA1024_K: &str = concat!(
        "400000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "00000000000000000000000000000000000000000000000000000123456789abcdef",
    );
    const RSA1024_CT: &str = concat!(
        "449e09c0e2cac00c6fdbef86f8551d8f1e7180f3a0de85984cccb5591b21f00fdf736496fa771ee185c5da2ee2c8a839",
        "e6180eb9e615cce79199d6043b21759223849c4826fc04d9a77825995e264d0e7e8254a329e0b022ebab7d86dd10f4f3",
        "dbc788bec8e340ab897ca9fdf6101524644feb01205a5af8e791ce3ea4526326",
    );
    const RSA1024_CT_BADLEN: &str = concat!(
        "09cd92fae3bb76420f32a64fd157853a23b98e871fb3a4a52f348063afa65dbb17f786c95fcdff16b48d264addf792e1",
        "390b447600e84e39da296644b9a1568562b8675d3f604dc3675e14137f4fe8b83b500adfffdf11ba53e86175a70f9db6",
        "e7f21fa8204d708a8d405204dba298efa7581574594f0d1408b6945175b409b9",
    );
    const RSA1024_CT_NEG: &str = concat!(
        "12102e1882ae0eeed3aa58e29eae4d028cda84e9f0ec4dd0446a385cc481f25e44ee627f0de621efa36b6212bc88691f",
        "3c587388b2fb83c03d76130c82951106c820a9fa5f5f6a39b744adbbe2574f76097ddc6ca43140d53e851c37eec4987d",
        "032058cf7881a7c13d40740202aec5ff3aae035fe76c1abae34caefa1448a69b",
    );
    const RSA1024_CT_TRAIL: &str = concat!(
        "77e4546c6f4a7f1780fc03eca64cacdb1dcbbbb77c3c31351764e202b9e21b4b2fedb35278e793c7a44dc889dc884283",
        "a9dacd110c4e6edf2f3cdaf503ebac5c2b5bf9a7ab22e32981f154b78e84993251180c569917bb4cdf5ac9bbfb8d194f",
        "c87616fbf7ec21ee333915be983b86876809ae6ba5024fa4f10c5863a4e365ad",
    );
    const RSA1024_CT_WRONGHASH: &str = concat!(
        "9d29cab7f33c8b8fcfc04bed0c258804c932554adc9252cd384182bf870c5f56f60f535d60360f50b9fa9f44d6f1ef88",
        "a13a58bdc6d2394cce45ba8b922a91e60bff3f1d24cb808f050ef8b831bcd8a3512153a654b3664f529d6ae958d43560",
        "289f5b315431e00c680b04ec7ea84b7adc1f8b4e6152a71e9b7b0e5f909fa5fc",
    );
    const RSA2048_N: &str = concat!(
        "8ae5ce2a5cf0674883c8e87aec1786d7a2b8879768454b13733ac85b89e9d7c8369eea7fc177dd1c1461878e5a38328b",
        "656b24b60a4a76b39fbd209dcefb653b6cbcbb1a28a0c2025512a9a2c679ba156f964c99a2b77d23d6765e585ce30212",
        "f460994e8e1aa71ec18628c032670156c252e4cc17cb3b8dbedb95e89b80f82b614a62d4a6ae8dbc31c24f07c4115738",
        "a235a192b996d9e6d8912a5cc592b214a82cbdbf1d3ec2c6e4e01847f264d6ff0aa9e38e408cd25cc96cde40be2d9e3c",
        "3a63645ddeea1d0ce2c163d5e82eefae3e77fc299b628b0bb81ffb704b2f2ace01ffebbc65a606a750037ca27c8497b5",
        "db052924d225e840d6360ac29d109cd5",
    );
    const RSA2048_D: &str = concat!(
        "0676acba24728c7fdfa0170f77529df4056ebc629397dbe7470eb679aa088f81d1e6e1c739afd4028541479f5c7bee80",
        "35a33f855823c073d9ec616aee919cd39fdb0582f15e8fc0af884b8c175bdd48b7956131aa148b568259a648cae3c67a",
        "2ed49af5c09fa564c54132bec4e9adb2859ef96634fa40667779fcf722db64d1006974fbe81196538a74be1de4e60192",
        "4d92478265a92963a07f5c8f3380b9762793ee909bd092f256ea6c01d6cb9a3f3398c4ac5f5530b45a155a3a8b7decc9",
        "8d4f87f02fae5b192ac04477eb0cf66fef96b9991d2b47b3b46c389264ad402f4ecf0f116e58719ca6082b36db1d5767",
        "3692124ede15d024357e2c8e910a41c9",
    );
    const RSA2048_P: &str = concat!(
        "c38e14253b6f5060afb9a8139db6858b089fbb9a1927d626f21a8213d74b70b83c55939767b91fa5bc86ae6aca395b5e",
        "8298aa81ff1e177b9404a466abf6f3db327b061fa09ff58b23e79e4ee66fbfbe1a8b9b788727c47f5fe3f4235bda39a0",
        "130b428bb276df98c181f5376048d3f8aec04422f295801574138aa6f8384929",
    );
    const RSA2048_Q: &str = concat!(
        "b5d4887d82eb43e4e56ae0dc9a5eb98f9ef36c534f9d3dba945950aa772140fe51da77e7001c09c14986af7348128c7e",
        "a74106965c096383a7216531f5cd4bb755d718e90dc9fe956122bd7972de2441fb1d47603dfa720545cb6bf521e4f47d",
        "7d44b5928a70f1f4cbac2be6397dcdcead48b3fd9f4ab7733f2edb4a3e83afcd",
    );
    const RSA2048_K: &str = concat!(
        "400000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000123456789abcdef",
    );
    const RSA2048_CT: &str = concat!(
        "4e678a9d9da4841c79a7128fc001cff7d4bfac5b2dd654c22d94f1702108d883a75db3b6f36f389a84f56121e815ac35",
        "cafeee9e14cd8f1e0b361343d17254a057d1942dfee6df64fa8f26a07976bcc2000e8b92cc3500a3d5c0a426801a2649",
        "edf4117b1949bf2576c67462e2cbc0c21bcce31f6d6253979e6ca34157d40bdf9c4bc19edcfd16a451d6e81ce9f63b73",
        "2b7325184c3d92a46135b02dba1d3fff3d9ecc12e8f4dc697a64bb236c32e650b39bf89cb64276e6fa42b15bd4a416df",
        "454dbfa0784c4a887a5411c0789df4cd1e72306c071a4b4fb69804e67892587621efc8bd59a0d994663d4d032841b0d5",
        "47a335067f71c53dfd186783b55fc8b9",
    );
    const RSA2048_CT_BADLEN: &str = concat!(
        "7c8a2b6329c75825371ea6ec05be9f75954d4177ad6a4632e9918394dc9198649d93d37148bf2d4023794ce71d739b0e",
        "7e9e169ef4b52286a6af3d2962bda032188eb6472347d6ddeea190a69099b87f52651608e4dc361ac0e04ed12a952cee",
        "f62790166b258944dcbff0c5fe0968cee0afba85608af5c27ed600e992b8088c1bbc34671a6a77cfdd4c2eaedcb739dd",
        "150e62370b672d75766241c9f02a38052ff55b4c9b1a7af6139d69fc846ced66c082dc359b256d5180699e3b1c34a723",
        "759faae41c2e1b944c85293d45fa0893c61525149ec42c1c243fd63cce0a8d861333c86291d470965457f40ac1ba89c1",
        "25e72f3fb832bd614e0ebe13e6a4bd9b",
    );
    const RSA2048_CT_NEG: &str = concat!(
        "5813a9f792a22f831f0b03c1258efba4c4f6a11347ab0c3f5dc1613c3846338902a5801ab19d828d01b5661df2a53b25",
        "9b580fedf9d040972f64c5c7658b158c16cda6377c3422549d5b4e7f0e7cf43062b5650e15a6242d659193ae6b1c0fa0",
        "fd4850de7adb16b2135509f38eba43142191283aae1f60f42e35729e6be22bce95cab62bb0740fc7aae0f89a76262e5e",
        "998fc42c022ba782778612ad9e398c68ebbe697cc7a4ff468de1e4b2007a1d749c9438ff7a70942bf4977c014a27ca16",
        "24342309d7e79b66a0691837969ecebc0831f4bdbe56bbc778e59199338fdb03e4fa27b9435435b870dad633770cb884",
        "fc105f784417e9ef458592e062d744db",
    );
    const RSA2048_CT_TRAIL: &str = concat!(
        "20418a1a0dced57ab308324f7191b941ed7659f77477bd02c76cf635fb3bb94eea01cac70948899fd7cdcb6f5e38f404",
        "1662c4ab61ee01e4876ad43e7b555fc9b0ff0ff5af644e0b5e4da6545e076df544ca28f0a3c9b5945ded940b7085e116",
        "c99e957334213780833c046b6e663eca10d3b6d0fd2aacfcdd6de61e262e85f401cfe11959a49d10ccc0eb180a39ee39",
        "9dc35595925fbb917d2fa9f6833e961f4b79fe10530052d94eb359ff3fe6cd6e7a4728f8764339a54a54fbe945498378",
        "7c77254de26f7c2dfd4bacb7941f0dab5d4991cdcda575776882d706bd3ae700f943585d14b124cf324f0cd8a3f30822",
        "2efb3144ab07b68a65453112126968c4",
    );
    const RSA2048_CT_WRONGHASH: &str = concat!(
        "393132de01831365cd5dd6082653999214bd227d2729b944cefe7f645c996b069f64e59878e352f341583709ca19d8c0",
        "3ee22b0fe45b861e97d129a0b6e9e023a85d68aba103318dfabab1fc7d2b90538ce73e3ef47b394f476e99ce3191259f",
        "5683e716ea49cc7a8f5cbaae2a04b89121941b310cdba0f08b165302252e558b34d443d75681c05b0b319dd64afbb2c4",
        "24dc8f82e6e04766f3f860533ae573f7b0c891892eb2a34ba48496db70e94777579726cb1d95dc735d858ce6336f37ab",
        "7bd6d538fa375941592b3ccbfb2b55d271f650da2f07c54412b49ea308497c9350241fcdb65158de7bb0edc62b68a3c1",
        "47603f2b0ae959ebd25ce1e77820ca2e",
    );
}
