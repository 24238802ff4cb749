//! Post-quantum/traditional hybrid key exchanges: the cryptographic halves.
//!
//! - `mlkem768x25519-sha256`, `mlkem768nistp256-sha256`,
//!   `mlkem1024nistp384-sha384`: draft-ietf-sshm-mlkem-hybrid-kex §2
//!   (published as RFC 10042), ML-KEM of FIPS 203.
//! - `sntrup761x25519-sha512` and `sntrup761x25519-sha512@openssh.com`:
//!   RFC 9941 (OpenSSH `kexsntrup761x25519.c`), Streamlined NTRU Prime 761.
//!
//! Both families share one message flow (draft §2, RFC 9941):
//!
//! ```text
//! C -> S  byte 30 (SSH_MSG_KEX_HYBRID_INIT)   string C_INIT = C_PK2 || C_PK1
//! S -> C  byte 31 (SSH_MSG_KEX_HYBRID_REPLY)  string K_S, string S_REPLY = S_CT2 || S_PK1,
//!                                             string signature of H
//! ```
//!
//! where `C_PK2` is the client's KEM public key, `C_PK1` / `S_PK1` the ECDH
//! public values (32-byte X25519, or SEC1 uncompressed P-256 / P-384 points)
//! and `S_CT2` the KEM ciphertext. The shared secret is
//! `K = HASH(K_PQ || K_CL)`, with `K_PQ` the 32-byte KEM shared secret and
//! `K_CL` the raw X25519 output or the fixed-length x-coordinate of the
//! ECDH point (32 bytes for P-256, 48 for P-384; no mpint length or sign
//! byte, as libssh 0.12 and AsyncSSH do it). `K` enters the exchange
//! hash and the key derivation (RFC 4253 §7.2) as a `string`, not an mpint:
//!
//! ```text
//! H = HASH(string V_C || string V_S || string I_C || string I_S || string K_S
//!          || string C_INIT || string S_REPLY || string K)
//! ```
//!
//! Randomness: the ECDH scalars and the sntrup761 seeds come from the
//! injected RNG. aws-lc-rs exposes no seeded ML-KEM API, so ML-KEM key
//! generation and encapsulation draw from aws-lc's own DRBG.
//!
//! ML-KEM and sntrup761 decapsulation use implicit rejection (FIPS 203
//! §6.3, NTRU Prime): a tampered ciphertext yields a different `K`, not an
//! error, and the exchange then fails at the host-key signature check.

use aws_lc_rs::kem::{AlgorithmId, Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_1024, ML_KEM_768};
use rand_core::RngCore;
use zeroize::Zeroizing;

use super::ecdh::EcdhKeyPair;
use super::Curve;
use crate::crypto::HashAlg;
use crate::error::Error;

/// The hybrid key exchange methods (draft-ietf-sshm-mlkem-hybrid-kex §2,
/// RFC 9941).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HybridKind {
    /// `mlkem768x25519-sha256`: ML-KEM-768 + X25519, SHA-256.
    MlKem768X25519,
    /// `mlkem768nistp256-sha256`: ML-KEM-768 + ECDH P-256, SHA-256.
    MlKem768NistP256,
    /// `mlkem1024nistp384-sha384`: ML-KEM-1024 + ECDH P-384, SHA-384.
    MlKem1024NistP384,
    /// `sntrup761x25519-sha512` (and the `@openssh.com` alias):
    /// sntrup761 + X25519, SHA-512 (RFC 9941).
    Sntrup761X25519,
}

/// The post-quantum KEM of a hybrid method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pq {
    MlKem768,
    MlKem1024,
    Sntrup761,
}

impl Pq {
    /// (encapsulation key, ciphertext) lengths: FIPS 203 Table 3, NTRU
    /// Prime sntrup761 parameters.
    fn lens(self) -> (usize, usize) {
        match self {
            Pq::MlKem768 => (1184, 1088),
            Pq::MlKem1024 => (1568, 1568),
            Pq::Sntrup761 => (sntrup761::PUBLIC_KEY_SIZE, sntrup761::CIPHERTEXT_SIZE),
        }
    }

    fn mlkem(self) -> Option<&'static aws_lc_rs::kem::Algorithm<AlgorithmId>> {
        match self {
            Pq::MlKem768 => Some(&ML_KEM_768),
            Pq::MlKem1024 => Some(&ML_KEM_1024),
            Pq::Sntrup761 => None,
        }
    }

    /// The module rank k of FIPS 203 (3 for ML-KEM-768, 4 for ML-KEM-1024).
    fn mlkem_rank(self) -> usize {
        match self {
            Pq::MlKem768 => 3,
            Pq::MlKem1024 => 4,
            Pq::Sntrup761 => 0,
        }
    }
}

impl HybridKind {
    fn pq(self) -> Pq {
        match self {
            HybridKind::MlKem768X25519 | HybridKind::MlKem768NistP256 => Pq::MlKem768,
            HybridKind::MlKem1024NistP384 => Pq::MlKem1024,
            HybridKind::Sntrup761X25519 => Pq::Sntrup761,
        }
    }

    /// The exchange hash, key derivation and combiner hash (draft §2,
    /// RFC 9941).
    pub fn hash(self) -> HashAlg {
        match self {
            HybridKind::MlKem768X25519 | HybridKind::MlKem768NistP256 => HashAlg::Sha256,
            HybridKind::MlKem1024NistP384 => HashAlg::Sha384,
            HybridKind::Sntrup761X25519 => HashAlg::Sha512,
        }
    }

    /// The traditional (ECDH) half.
    pub fn curve(self) -> Curve {
        match self {
            HybridKind::MlKem768X25519 | HybridKind::Sntrup761X25519 => Curve::X25519,
            HybridKind::MlKem768NistP256 => Curve::P256,
            HybridKind::MlKem1024NistP384 => Curve::P384,
        }
    }

    /// Length of `C_INIT`: KEM public key + ECDH public value
    /// (1216, 1249, 1665 and 1190 bytes).
    pub fn c_init_len(self) -> usize {
        self.pq().lens().0 + self.curve().public_len()
    }

    /// Length of `S_REPLY`: KEM ciphertext + ECDH public value
    /// (1120, 1153, 1665 and 1071 bytes).
    pub fn s_reply_len(self) -> usize {
        self.pq().lens().1 + self.curve().public_len()
    }
}

/// The client's secret KEM half.
enum PqSecret {
    MlKem(DecapsulationKey<AlgorithmId>),
    Sntrup(Box<sntrup761::DecapsulationKey>),
}

/// The client side of a hybrid exchange: its KEM decapsulation key and
/// ECDH key pair, kept between `SSH_MSG_KEX_HYBRID_INIT` and `_REPLY`.
pub struct HybridClient {
    kind: HybridKind,
    pq: PqSecret,
    ecdh: EcdhKeyPair,
}

impl std::fmt::Debug for HybridClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HybridClient")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn fill_seed(rng: &mut dyn RngCore) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rng.try_fill_bytes(&mut seed[..])
        .map_err(|_| Error::kex("random number generator failed"))?;
    Ok(seed)
}

impl HybridClient {
    /// Generates the client's ephemeral KEM and ECDH key pairs and returns
    /// them with `C_INIT = C_PK2 || C_PK1`, to be sent as the `string` of
    /// SSH_MSG_KEX_HYBRID_INIT (draft §2, RFC 9941).
    pub fn generate(kind: HybridKind, rng: &mut dyn RngCore) -> Result<(Self, Vec<u8>), Error> {
        let mut c_init = Vec::with_capacity(kind.c_init_len());
        let pq = match kind.pq().mlkem() {
            Some(alg) => {
                let dk = DecapsulationKey::generate(alg).map_err(|_| Error::kex("ML-KEM key generation failed"))?;
                let ek = dk
                    .encapsulation_key()
                    .and_then(|ek| ek.key_bytes())
                    .map_err(|_| Error::kex("ML-KEM key generation failed"))?;
                c_init.extend_from_slice(ek.as_ref());
                PqSecret::MlKem(dk)
            }
            None => {
                let seed = fill_seed(rng)?;
                let (ek, dk) = sntrup761::generate_key_from_seed(*seed);
                c_init.extend_from_slice(ek.as_ref());
                PqSecret::Sntrup(Box::new(dk))
            }
        };
        let ecdh = EcdhKeyPair::generate(kind.curve(), rng)?;
        c_init.extend_from_slice(&ecdh.public);
        if c_init.len() != kind.c_init_len() {
            return Err(Error::kex("hybrid C_INIT has an unexpected length"));
        }
        Ok((HybridClient { kind, pq, ecdh }, c_init))
    }

    /// The method of this exchange.
    pub fn kind(&self) -> HybridKind {
        self.kind
    }

    /// Processes the server's `S_REPLY = S_CT2 || S_PK1` (the `string` of
    /// SSH_MSG_KEX_HYBRID_REPLY): decapsulates `K_PQ`, computes `K_CL`, and
    /// returns `K = HASH(K_PQ || K_CL)` as raw bytes, to be encoded as a
    /// `string` in the exchange hash and key derivation (draft §2,
    /// RFC 9941). A wrong length, an invalid ECDH point or an all-zero
    /// X25519 result is an error (SSH_DISCONNECT_KEY_EXCHANGE_FAILED).
    pub fn finish(self, s_reply: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        if s_reply.len() != self.kind.s_reply_len() {
            return Err(Error::kex(format!(
                "invalid hybrid S_REPLY length {} (expected {})",
                s_reply.len(),
                self.kind.s_reply_len()
            )));
        }
        let (ct, s_pk1) = s_reply.split_at(self.kind.pq().lens().1);
        let k_pq: Zeroizing<Vec<u8>> = match &self.pq {
            PqSecret::MlKem(dk) => {
                let ss = dk
                    .decapsulate(Ciphertext::from(ct))
                    .map_err(|_| Error::kex("ML-KEM decapsulation failed"))?;
                Zeroizing::new(ss.as_ref().to_vec())
            }
            PqSecret::Sntrup(dk) => {
                let ct = sntrup761::Ciphertext::try_from(ct).map_err(|_| Error::kex("invalid sntrup761 ciphertext"))?;
                let ss = dk.decapsulate(&ct);
                Zeroizing::new(ss.as_ref().to_vec())
            }
        };
        let k_cl = self.ecdh.agree(s_pk1)?;
        Ok(combine(self.kind.hash(), &k_pq, &k_cl))
    }

    /// A client from fixed key material (known-answer tests): the KEM
    /// secret key bytes (FIPS 203 expanded `dk`, or the sntrup761 secret
    /// key) and an ECDH key pair.
    #[cfg(test)]
    fn from_parts(kind: HybridKind, pq_secret: &[u8], ecdh: EcdhKeyPair) -> Self {
        let pq = match kind.pq().mlkem() {
            Some(alg) => PqSecret::MlKem(DecapsulationKey::new(alg, pq_secret).unwrap()),
            None => PqSecret::Sntrup(Box::new(sntrup761::DecapsulationKey::try_from(pq_secret).unwrap())),
        };
        HybridClient { kind, pq, ecdh }
    }
}

/// The server side: takes the client's `C_INIT`, encapsulates to its KEM
/// key, performs ECDH against its public value and returns
/// `(S_REPLY, K)`, with `S_REPLY = S_CT2 || S_PK1` (sent as a `string` in
/// SSH_MSG_KEX_HYBRID_REPLY) and `K = HASH(K_PQ || K_CL)` as raw bytes
/// (encoded as a `string`; draft §2, RFC 9941).
///
/// Refused: a `C_INIT` of the wrong length, an ML-KEM encapsulation key
/// failing the FIPS 203 §7.2 modulus check, an ECDH point not on the curve
/// (or compressed), and an all-zero X25519 result.
pub fn hybrid_server(
    kind: HybridKind,
    c_init: &[u8],
    rng: &mut dyn RngCore,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), Error> {
    if c_init.len() != kind.c_init_len() {
        return Err(Error::kex(format!(
            "invalid hybrid C_INIT length {} (expected {})",
            c_init.len(),
            kind.c_init_len()
        )));
    }
    let pq = kind.pq();
    let (c_pk2, c_pk1) = c_init.split_at(pq.lens().0);
    let mut s_reply = Vec::with_capacity(kind.s_reply_len());
    let k_pq: Zeroizing<Vec<u8>> = match pq.mlkem() {
        Some(alg) => {
            if !mlkem_encapsulation_key_valid(c_pk2, pq.mlkem_rank()) {
                return Err(Error::kex("invalid ML-KEM encapsulation key"));
            }
            let ek = EncapsulationKey::new(alg, c_pk2).map_err(|_| Error::kex("invalid ML-KEM encapsulation key"))?;
            let (ct, ss) = ek
                .encapsulate()
                .map_err(|_| Error::kex("ML-KEM encapsulation failed"))?;
            s_reply.extend_from_slice(ct.as_ref());
            Zeroizing::new(ss.as_ref().to_vec())
        }
        None => {
            let ek =
                sntrup761::EncapsulationKey::try_from(c_pk2).map_err(|_| Error::kex("invalid sntrup761 public key"))?;
            let seed = fill_seed(rng)?;
            let (ct, ss) = ek.encapsulate_deterministic(*seed);
            s_reply.extend_from_slice(ct.as_ref());
            Zeroizing::new(ss.as_ref().to_vec())
        }
    };
    let ecdh = EcdhKeyPair::generate(kind.curve(), rng)?;
    s_reply.extend_from_slice(&ecdh.public);
    let k_cl = ecdh.agree(c_pk1)?;
    if s_reply.len() != kind.s_reply_len() {
        return Err(Error::kex("hybrid S_REPLY has an unexpected length"));
    }
    Ok((s_reply, combine(kind.hash(), &k_pq, &k_cl)))
}

/// `K = HASH(K_PQ || K_CL)` (draft §2, RFC 9941).
fn combine(hash: HashAlg, k_pq: &[u8], k_cl: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut ctx = hash.context();
    ctx.update(k_pq);
    ctx.update(k_cl);
    Zeroizing::new(ctx.finish().as_ref().to_vec())
}

/// The encapsulation key check of FIPS 203 §7.2 ("modulus check"): every
/// 12-bit coefficient of the encoded vector `t` (the first 384·k bytes) is
/// below q = 3329. The trailing 32 bytes (ρ) are unconstrained.
fn mlkem_encapsulation_key_valid(ek: &[u8], k: usize) -> bool {
    const Q: u16 = 3329;
    if ek.len() != 384 * k + 32 {
        return false;
    }
    ek[..384 * k].chunks_exact(3).all(|c| {
        let (b0, b1, b2) = (u16::from(c[0]), u16::from(c[1]), u16::from(c[2]));
        let lo = b0 | ((b1 & 0x0f) << 8);
        let hi = (b1 >> 4) | (b2 << 4);
        lo < Q && hi < Q
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DisconnectReason;
    use ml_kem::kem::{Decapsulate, Encapsulate};
    use ml_kem::{EncapsulateDeterministic, EncodedSizeUser, KemCore, MlKem1024, MlKem768, B32};
    use sha2::Digest;

    /// Returns the bytes it was given, in order, then zeros.
    struct Fixed(Vec<u8>, usize);
    impl Fixed {
        fn new(parts: &[&[u8]]) -> Self {
            Fixed(parts.concat(), 0)
        }
    }
    impl RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            for b in d.iter_mut() {
                *b = self.0.get(self.1).copied().unwrap_or(0);
                self.1 += 1;
            }
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn b32(s: &str) -> B32 {
        B32::try_from(&h(s)[..]).unwrap()
    }

    const ALL: [HybridKind; 4] = [
        HybridKind::MlKem768X25519,
        HybridKind::MlKem768NistP256,
        HybridKind::MlKem1024NistP384,
        HybridKind::Sntrup761X25519,
    ];

    // RFC 7748 §6.1 X25519 Diffie-Hellman vector.
    const X25519_A: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const X25519_A_PUB: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    const X25519_B: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    const X25519_B_PUB: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    const X25519_K: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

    // C2SP CCTV ML-KEM "unluckysample" vectors (ML-KEM/unluckysample/
    // ML-KEM-768.txt and ML-KEM-1024.txt): seeds d, z, encapsulation
    // randomness m and the published shared secret K. SHA-256 digests of
    // the published ek (computed offline from the published hex).
    const Z: &str = "8476013560151d986dc7834dcb57c75f845f8d7ee71558d0955f3f4feb723cf2";
    const M: &str = "e48f74ad416e99631003ded1478aec62a02c245d88ed7f2fae92aedf13ca03b3";
    const D768: &str = "82c4a361586b9715c2375a45fb85c32d04be7fe6e26acd820ec5d4080093afe1";
    const K768: &str = "4f7cc64c040fc4e335a539691f4638caf8b1bf5da6455754afe699e41813801b";
    const EK768_SHA256: &str = "056834c9a99e2a5c4626126a79471e6e71bfc6589b136df8c2042f0f269a096c";
    const D1024: &str = "9526e27d918ae2379c067c81c59eca33fcd7045ea098c6ea6ed7d8aaea511cb6";
    const K1024: &str = "984b648fda1cc7ff5fb01d89387f1827ffd43f0bd6c12b157b8b6101273a01ee";
    const EK1024_SHA256: &str = "9dbc23d3cd4f961d5bafb1538c74c5eee4348964c0d26e0aded8f7a05a378403";

    /// (ek, dk, ct) of the CCTV ML-KEM-768 vector, regenerated with the
    /// `ml-kem` crate and checked against the published values.
    fn cctv768() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (dk, ek) = MlKem768::generate_deterministic(&b32(D768), &b32(Z));
        let (ct, k) = ek.encapsulate_deterministic(&b32(M)).unwrap();
        let ek = ek.as_bytes().to_vec();
        assert_eq!(hex::encode(sha2::Sha256::digest(&ek)), EK768_SHA256);
        assert_eq!(hex::encode(&ct[..6]), "696ef1699d5a");
        assert_eq!(hex::encode(k), K768);
        (ek, dk.as_bytes().to_vec(), ct.to_vec())
    }

    fn cctv1024() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (dk, ek) = MlKem1024::generate_deterministic(&b32(D1024), &b32(Z));
        let (ct, k) = ek.encapsulate_deterministic(&b32(M)).unwrap();
        let ek = ek.as_bytes().to_vec();
        assert_eq!(hex::encode(sha2::Sha256::digest(&ek)), EK1024_SHA256);
        assert_eq!(hex::encode(&ct[..6]), "05ebe8bf5036");
        assert_eq!(hex::encode(k), K1024);
        (ek, dk.as_bytes().to_vec(), ct.to_vec())
    }

    /// Published ML-KEM vectors (C2SP CCTV): the `ml-kem` crate reproduces
    /// them from the seeds, and aws-lc decapsulates the ciphertext to the
    /// published K.
    #[test]
    fn mlkem_cctv_kat_through_aws_lc() {
        for (alg, (_, dk, ct), k) in [(&ML_KEM_768, cctv768(), K768), (&ML_KEM_1024, cctv1024(), K1024)] {
            let dk = DecapsulationKey::new(alg, &dk).unwrap();
            let ss = dk.decapsulate(Ciphertext::from(&ct[..])).unwrap();
            assert_eq!(hex::encode(ss.as_ref()), k);
        }
    }

    /// aws-lc encapsulates to an `ml-kem` key and the `ml-kem` crate
    /// decapsulates to the same secret, and the other way round.
    #[test]
    fn mlkem_cross_check_aws_lc_and_ml_kem() {
        // aws-lc -> ml-kem (768 and 1024).
        let (dk, ek) = MlKem768::generate(&mut rand::rngs::OsRng);
        let aws_ek = EncapsulationKey::new(&ML_KEM_768, &ek.as_bytes()).unwrap();
        let (ct, ss) = aws_ek.encapsulate().unwrap();
        let ct: ml_kem::Ciphertext<MlKem768> = ct.as_ref().try_into().unwrap();
        assert_eq!(dk.decapsulate(&ct).unwrap().as_slice(), ss.as_ref());
        let (dk, ek) = MlKem1024::generate(&mut rand::rngs::OsRng);
        let aws_ek = EncapsulationKey::new(&ML_KEM_1024, &ek.as_bytes()).unwrap();
        let (ct, ss) = aws_ek.encapsulate().unwrap();
        let ct: ml_kem::Ciphertext<MlKem1024> = ct.as_ref().try_into().unwrap();
        assert_eq!(dk.decapsulate(&ct).unwrap().as_slice(), ss.as_ref());

        // ml-kem -> aws-lc, through HybridClient (mlkem768x25519): an
        // independent server built from the ml-kem crate and RFC 7748 keys.
        let (client, c_init) =
            HybridClient::generate(HybridKind::MlKem768X25519, &mut Fixed::new(&[&h(X25519_A)])).unwrap();
        assert_eq!(hex::encode(&c_init[1184..]), X25519_A_PUB);
        let ek_bytes: ml_kem::Encoded<<MlKem768 as KemCore>::EncapsulationKey> = c_init[..1184].try_into().unwrap();
        let ek = <MlKem768 as KemCore>::EncapsulationKey::from_bytes(&ek_bytes);
        let (ct, k_pq) = ek.encapsulate(&mut rand::rngs::OsRng).unwrap();
        let mut s_reply = ct.to_vec();
        s_reply.extend_from_slice(&h(X25519_B_PUB));
        let k = client.finish(&s_reply).unwrap();
        let want = sha2::Sha256::new()
            .chain_update(k_pq)
            .chain_update(h(X25519_K))
            .finalize();
        assert_eq!(&k[..], &want[..]);
    }

    /// Known answers for the client side of every ML-KEM hybrid, composed
    /// from published vectors: CCTV ML-KEM (dk, ciphertext, K_PQ), RFC 7748
    /// §6.1 X25519 keys, and fixed P-256/P-384 scalars. The expected K was
    /// computed independently (Python `cryptography` / hashlib:
    /// HASH(K_PQ || K_CL)).
    #[test]
    fn mlkem_hybrid_client_kat() {
        let (_, dk, ct) = cctv768();
        let ecdh = EcdhKeyPair::generate(Curve::X25519, &mut Fixed::new(&[&h(X25519_A)])).unwrap();
        let client = HybridClient::from_parts(HybridKind::MlKem768X25519, &dk, ecdh);
        let s_reply = [ct.clone(), h(X25519_B_PUB)].concat();
        assert_eq!(
            hex::encode(&client.finish(&s_reply).unwrap()[..]),
            "3bf1aaebb6176ce1d56c325770f85682004e875f556570be61e6444a26b07a59"
        );

        // P-256: client scalar 0x11 * 32, server scalar 0x22 * 32.
        let ecdh = EcdhKeyPair::generate(Curve::P256, &mut Fixed::new(&[&[0x11; 32]])).unwrap();
        assert_eq!(
            hex::encode(&ecdh.public),
            "040217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4ed194a7debcb97712d2dda3ca85aa8765a56f45fc758599652f2897c65306e5794"
        );
        let client = HybridClient::from_parts(HybridKind::MlKem768NistP256, &dk, ecdh);
        let s_reply = [ct, h("04d65a93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589cf350185e895372df6221ea3a137557e473fddb6755f05bd507c3c533fce9c91285")].concat();
        assert_eq!(
            hex::encode(&client.finish(&s_reply).unwrap()[..]),
            "8cae192a73a026b2343dd033ed8dc7478b964268053983b8851d91058671c236"
        );

        // P-384: client scalar 0x33 * 48, server scalar 0x44 * 48.
        let (_, dk, ct) = cctv1024();
        let ecdh = EcdhKeyPair::generate(Curve::P384, &mut Fixed::new(&[&[0x33; 48]])).unwrap();
        let client = HybridClient::from_parts(HybridKind::MlKem1024NistP384, &dk, ecdh);
        let s_reply = [ct, h("04b01380bb42d55e316eed81928efebef108186c6d6c88cdad320ca9c4320cad6a603be8d80e57dd2782b8b1a4cdbe6e82f596d07d1c2f16249a6ce4cf99b192f0c486b5a37096fc91a6c0c354546abe352a99cdf1ad679eaeb03b7864e790c15f")].concat();
        let k = client.finish(&s_reply).unwrap();
        assert_eq!(k.len(), 48);
        assert_eq!(
            hex::encode(&k[..]),
            "28f5957e674fb61ca4de89122013b5e6b68187d4f8784d644a3aa70c75fdfce52a5c4a4623485e187c0976cbff9d2611"
        );
    }

    /// The server side against an independent client (the `ml-kem` crate
    /// with the CCTV key, RFC 7748 Alice): the server's ECDH scalar comes
    /// from the injected RNG (RFC 7748 Bob), its ML-KEM randomness from
    /// aws-lc, so K_PQ is recovered by `ml-kem` decapsulation.
    #[test]
    fn mlkem_hybrid_server_against_ml_kem_client() {
        let (ek, dk_bytes, _) = cctv768();
        let c_init = [ek, h(X25519_A_PUB)].concat();
        let (s_reply, k) =
            hybrid_server(HybridKind::MlKem768X25519, &c_init, &mut Fixed::new(&[&h(X25519_B)])).unwrap();
        assert_eq!(s_reply.len(), 1120);
        assert_eq!(hex::encode(&s_reply[1088..]), X25519_B_PUB);
        let enc: ml_kem::Encoded<<MlKem768 as KemCore>::DecapsulationKey> = dk_bytes[..].try_into().unwrap();
        let dk = <MlKem768 as KemCore>::DecapsulationKey::from_bytes(&enc);
        let ct: ml_kem::Ciphertext<MlKem768> = s_reply[..1088].try_into().unwrap();
        let k_pq = dk.decapsulate(&ct).unwrap();
        let want = sha2::Sha256::new()
            .chain_update(k_pq)
            .chain_update(h(X25519_K))
            .finalize();
        assert_eq!(&k[..], &want[..]);
    }

    /// NIST sntrup761 KAT, count = 0 (DRBG seed 061550234D158C5E…), as
    /// shipped in the `sntrup761` crate's test data and cross-checked by
    /// Nettle's testsuite: decapsulating ct with sk gives ss.
    const SNTRUP_KAT0_SS: &str = "344ca5e25f6da5ea95e4a695b1c5446eca9859334532e4a9537669f012c743a2";
    const SNTRUP_KAT0_SK: &str = concat!(
        "55565515155545556569159955a2555455456161450594556556915055895615548852955456550098544995555aa546",
        "5400a5555558956510a6515596559665996a449154154144655655555511056241569549446269405555551656659555",
        "55a51591555956591565651542404089195454566955859064258656285054569505a6a9569494466614155801155650",
        "55485955259049a5545525455504526a195455554185525a899625525556582484644514556589656258515459150185",
        "08154a51a0448959112a286212608a52911a949119a2895664165900a861541a200a52104029544600425a5a1198101a",
        "1a50a094a551425a484959a1506486a618555a89905615029622a2a46696a2a6595a46682622525050489a8040562808",
        "168156854185026540a1059a94aaa291811948a259816991110951802409aa5a2a06290092451446655608404096898a",
        "a56220562285150891914066110a0905a841044865042a2688aa12441aaa46064669155555a2109659299922820036c9",
        "69cf1008a6aa9551a784941c65a9bf68c2dc33fa36b5d266b25171b346679f2d22bf3123a79c790d6dec68e1bc44420a",
        "6824f5357c78e3c336fee0551e620dcb975f563682a312a3353b521c727f57cabed0c3228f09317cae8b58158ebf5b26",
        "bdc6e6365aa601acad2abd37f5830d0bbfe355705c0a62b76a5c910ad04e55e5dad749c7393d2e2e8ab643e62e4757ad",
        "2201caa33203f53b4a9d4757e7274d72bdb036a31d7de11e5d1c66cf3059f33b6a2972c1e1d9c9fb2aebc78b2c055d48",
        "d79c3a7c996c08b7def0791cde895053885d8da1d254ee19c090af34f4720b0b77139108d8498982feab0b54934cee3d",
        "cd24b049f981a84c928028a64a26cdf87052313c3e50b2e1f539394502433c0962996c3599189b15174281b6595b567b",
        "8c4cd80902860e613ae1906a55607cbf0e11ad6c0c0df38c006a5f535fa6e6fb49d10b78b9cb6473bf0630518db6fdec",
        "fd70ded201c7e35ffb3bb78d8aec181f6de960c316fe354b7cc69e8048201965aafef4ea3f808737ff45255a1779de57",
        "a4b68db587263d7b7f6cb07d8b01224dd291237efd9c01676e30154a2a7d60174536580fe64efedda5fb42c13ed8c576",
        "8a3cbcae7a2343b3128cd5c1c663a07c7dc0e1e2642c0d9a02f349c964154a6c4308d8ecf30f47e9a81eed2a32a2bb44",
        "dfc36a28a66ae77bb139fa416b6327eefe33632469ccc21229587573c4f7752ce1cc79ca0c6bda08cd79e25720d2d909",
        "2ea2ab13f31e9a3af1c69fc6379d8e2ad2b87b514c817a087338b7b0736b8954de9223225b40079c92601248c14b2104",
        "901e74f849d9eee9f5636c1dad6031ab477c573197e7eb6ce535d9f0f69183dd9df5521595e5c9e98d846ce08aa655b7",
        "0cc0d8041401929690298f645d9112dbb03b189cdb1fcf4d512f6874b409bf55ee1cc284a05b698b8818f043c2591c9f",
        "4aba29cf4259915d6a0be71b6b93963c618cbb567838e5eade6500de9ad250083a01eb3eb44c00eecb2b0f874cda165f",
        "aa6524ca13d435c938db9469292fe97283c69222107ea2f9efca1b6d41dca5b149b2a8cc2244a1bc54261cc11742acd2",
        "7b7f2352c33fb83fe143386479d78d6d5c3e51684b60a56714182449c94327139b0289b9bde0ae3fef319fe2c605ab55",
        "07c894d2c2761a3bd3ea30f4ba928f9f23303061617e2f042dcf229aff2c9345a6b3cdcf90d3e3bcc3a1110c85616bd5",
        "85c31cde3e69adc12a18bfa5797df0543435a7c874a8acf3786fccba4a6ceaa65e5666230aa7206ae78eb1b98cb52365",
        "08e6357e18cccfaec5693532be4ee38022c48fe94f62b0293a088bf4d737f48748f23bcb338b58b4d666ad3c64e9ecd0",
        "7265f971b07af716d4a5b719c3f5fe35744734cba5430381661e372b6f6510d61b11e4697a1a961589949dba53b5bc5b",
        "db76fa09324387d799536506182eff7078034b34e1ddd2612b0a40e7f1a294fba869da2e46c4c36bb08c7e9bef09a944",
        "59e8fc2d3cc579d15284df1f19ef77e03041511acc39bf9ca8ac8de6a0e5eea0bbd4289b6dae38e9e82eb50a0397b3ee",
        "6c52fbdc7deea2c376825e89016c859b09488548bf76ca62d696df94a61e8f0e13c69ee816ce5aa2768987b0a782d74c",
        "673ec0059fa532ae97f8bdf90f90130926654fb8b469d772049d72a8375cd8459d06cc1b90633eb3a899685d21491b50",
        "62a9fc73fb6e878d7a73198efa0b569d9ce665ce126ffdc9862eb00d11f457a7995555f7c92011c24e1cec45c270fb5f",
        "121f08177f97fc3f631c0ef86a92e99d557fb69a0f6fcd8b1c0ef94aa7429b3a8a11614d847202d3d04a98313fc0d63a",
        "bf9fd75ca321c879458bf8837b7e74ccf5179c7714fa9800d1821ee3f9639d28136b7910872631f85ae7b6dd289e0103",
        "4217210859d4e53c65487ce38aff621da76ba1c4e2e77ed5380b47b8d983ccb5bb793e",
    );
    const SNTRUP_KAT0_CT: &str = concat!(
        "84f327d38929039ef84366ab796a96e6cc268454d5ad8d05410d3e969b6d228b6ced2cbad7bab3b4b7ee453747d3331d",
        "43b21cd2ecc3bf557d696e81773ee69f687fe1f61e63742af913a35418575467118409d4ffdbbac5ca062dff3f04d761",
        "54d17ec34212debfca967a91e461f73786d949d6a9765140b9dc7849639a487058f45dda919576090d35e783804ba7b8",
        "b33b5c6a8c1ebb7c39f042696cf9f2b624d26ea5d6d101489e242cc35126b573928b6b8bf9945269ad22e7da70ccb7dc",
        "374f75641978d5f6d5f540a1169eb098570a7cfd65c9257c4c196f42c6da4f4466d8f11a17c6a75a9bdd45b5ac77a836",
        "7b005ed22141a81b995a19e4dc9e6743b4b45e0329e7a00d3ff90c7a917cdc9ca75a34fffdd9a321751b5c8b2ab9e1ea",
        "037cf45c04b412a97f52e7c6d66508456d9117961257b4f50bb9f500de99b6f061c377d44f495d711ab2ed3e88ccf14d",
        "f10f8c60bd00e29cd83ad160faef2984fac7e897cbb8cda144d50e4c1ad20238a2617598da6efe786aa82e0931b0b5d1",
        "a7fa024b856353afaedb0a1150a42da182353ce5a00403bb6b7a13effc14b0fd97e1117302ed8a66faaed88b43b34cfc",
        "73cb33e49a4c34d0bfdee2feadc2b4c8bb1ec41215586fc66550d496373305b99cee254eac71d3cdac689a777062acae",
        "65b031b5a1a973835be6a4bb061f178531c45de3b33e7763b483621821e037fe5ef48fd971d8d2befda63250e9b1181d",
        "8b8086bed9cda8cde6644cde8ebf7c1f1038afe798a2a4c492b603b7f4f8805d0fdf19d8274888cebec3043cc9acf024",
        "bd30d8b0d28d311985930110386598775cf84e0848b11e090905a65f56142fc17d2573536fc51e7d5b2e0ff7b0947115",
        "5008561156fbaec215031ed0d844eb14d6c609173355fff8ae22c6e5bccd19b2832e5fbe625c2c0e516e1369d1fcf49a",
        "5fdbaf8cf572f04317db8ed70ee1605b96d077b4f054c72b139f5bcaa5bb627e39be5bcc97af922c5e70835bd918281b",
        "95e557fc86a43c75980a0d9f0f9162f230014cd867dd07db23260934546c04499d6b8627b8d5dec73fa45327f8498352",
        "9baf3aa10e885724fe76055099d136ccaacc159b4ce38784404cc9b04723910f990af77c64d42a29d784fc897955758f",
        "1d2a12bb7c6f6a8e5b94efa740f662cf0da2d099c61ee1cc6b661a64f0887b805af53c7b64c4456daf228582c1b2212a",
        "8f718e56df6b72d7efa0c5d26582ce96aefce13cb2830c3fb32e5115aacc20d3a335f7a4c12e0cd1de532d8d9d42d69b",
        "c2d0be0ac7df3b8f416b9a53db261c47272725a8a88298678351b42103219092076b6ece744d993388a8f2c475079cb8",
        "bc4dc492a4797147c01ea3508225826f7a3d32bf502b0f4552f36fc9f6fb91e82db1949338b45436ec0ff63b53f900f2",
        "7f8147d420f93d33c83794980e94143fd361f944ddb56d3114ee974c96a155",
    );

    #[test]
    fn sntrup761_nist_kat0_and_hybrid_kat() {
        let sk = h(SNTRUP_KAT0_SK.trim());
        let ct = h(SNTRUP_KAT0_CT.trim());
        assert_eq!(
            (sk.len(), ct.len()),
            (sntrup761::SECRET_KEY_SIZE, sntrup761::CIPHERTEXT_SIZE)
        );
        let dk = sntrup761::DecapsulationKey::try_from(&sk[..]).unwrap();
        let ss = dk.decapsulate(&sntrup761::Ciphertext::try_from(&ct[..]).unwrap());
        assert_eq!(hex::encode(ss.as_ref()), SNTRUP_KAT0_SS);

        // Hybrid: NIST KAT ciphertext + RFC 7748 Bob; K = SHA-512(ss || K_CL),
        // computed independently with Python hashlib.
        let ecdh = EcdhKeyPair::generate(Curve::X25519, &mut Fixed::new(&[&h(X25519_A)])).unwrap();
        let client = HybridClient::from_parts(HybridKind::Sntrup761X25519, &sk, ecdh);
        let s_reply = [ct, h(X25519_B_PUB)].concat();
        assert_eq!(
            hex::encode(&client.finish(&s_reply).unwrap()[..]),
            "9984931de666438023b224978d616b9e0d57fdc307428cc1b0240e1fa8567dfa\
             a857f38c70ac86f5f35e04818325556cbf78b2ab6f6e0cb927e559822527ff7b"
        );
    }

    /// Regression check (not a published vector): sntrup761x25519 with
    /// every random byte fixed gives a fixed C_INIT, S_REPLY and K on both
    /// sides. The values were produced by this implementation.
    #[test]
    fn sntrup761_hybrid_fixed_rng_regression() {
        let client_rng = [[0x01u8; 32], [0x02u8; 32]].concat();
        let server_rng = [[0x03u8; 32], [0x04u8; 32]].concat();
        let (client, c_init) =
            HybridClient::generate(HybridKind::Sntrup761X25519, &mut Fixed::new(&[&client_rng])).unwrap();
        let (s_reply, k_s) =
            hybrid_server(HybridKind::Sntrup761X25519, &c_init, &mut Fixed::new(&[&server_rng])).unwrap();
        let k_c = client.finish(&s_reply).unwrap();
        assert_eq!(k_c, k_s);
        assert_eq!(hex::encode(sha2::Sha256::digest(&c_init)), REGRESSION_C_INIT);
        assert_eq!(hex::encode(sha2::Sha256::digest(&s_reply)), REGRESSION_S_REPLY);
        assert_eq!(hex::encode(&k_c[..]), REGRESSION_K);
        // The X25519 halves: X25519(0x02 * 32, 9) and X25519(0x04 * 32, 9)
        // (computed with Python `cryptography`).
        assert_eq!(
            hex::encode(&c_init[1158..]),
            "ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59"
        );
        assert_eq!(
            hex::encode(&s_reply[1039..]),
            "ac01b2209e86354fb853237b5de0f4fab13c7fcbf433a61c019369617fecf10b"
        );
    }
    const REGRESSION_C_INIT: &str = "62d7a196d121615d48f6b4df6bf08a517e2b6cc9b1151db1eeaa47e4e1fe3c6c";
    const REGRESSION_S_REPLY: &str = "179a16386ccd5b58449d88b17b0cd07a917d02756efd28742a969a9720dc340a";
    const REGRESSION_K: &str = concat!(
        "94aa0891d7da3ec9798802e2226b2683d1d7335d61ccdc59fa1957cdeeab90d5",
        "3d7b0c9415625bee6edb82035a2b5bae0456036773268ccf7bea6c80654691f9"
    );

    #[test]
    fn round_trip_all_kinds() {
        for kind in ALL {
            let (client, c_init) = HybridClient::generate(kind, &mut rand::rngs::OsRng).unwrap();
            assert_eq!(client.kind(), kind);
            assert_eq!(c_init.len(), kind.c_init_len());
            let (s_reply, k_s) = hybrid_server(kind, &c_init, &mut rand::rngs::OsRng).unwrap();
            assert_eq!(s_reply.len(), kind.s_reply_len());
            let k_c = client.finish(&s_reply).unwrap();
            assert_eq!(k_c, k_s);
            assert_eq!(k_c.len(), kind.hash().output_len());
        }
        let lens: Vec<_> = ALL.iter().map(|k| (k.c_init_len(), k.s_reply_len())).collect();
        assert_eq!(lens, [(1216, 1120), (1249, 1153), (1665, 1665), (1190, 1071)]);
    }

    /// A changed ciphertext is not an error (implicit rejection) but gives
    /// a different K, so the signature check fails later.
    #[test]
    fn tampered_ciphertext_changes_k() {
        for kind in ALL {
            let (client, c_init) = HybridClient::generate(kind, &mut rand::rngs::OsRng).unwrap();
            let (mut s_reply, k_s) = hybrid_server(kind, &c_init, &mut rand::rngs::OsRng).unwrap();
            s_reply[5] ^= 0x40;
            assert_ne!(client.finish(&s_reply).unwrap(), k_s);
        }
    }

    fn assert_kex_err<T: std::fmt::Debug>(r: Result<T, Error>) {
        assert_eq!(r.unwrap_err().reason(), Some(DisconnectReason::KeyExchangeFailed));
    }

    #[test]
    fn hostile_lengths_refused() {
        for kind in ALL {
            let (_, c_init) = HybridClient::generate(kind, &mut rand::rngs::OsRng).unwrap();
            for len in [0, 1, kind.c_init_len() - 1, kind.c_init_len() + 1, 5000] {
                let mut v = c_init.clone();
                v.resize(len, 0x42);
                assert_kex_err(hybrid_server(kind, &v, &mut rand::rngs::OsRng));
            }
            for len in [0, 1, kind.s_reply_len() - 1, kind.s_reply_len() + 1, 5000] {
                let (client, _) = HybridClient::generate(kind, &mut rand::rngs::OsRng).unwrap();
                assert_kex_err(client.finish(&vec![0x42; len]));
            }
        }
        // A C_INIT of another method.
        let (_, c_init) = HybridClient::generate(HybridKind::MlKem768X25519, &mut rand::rngs::OsRng).unwrap();
        assert_kex_err(hybrid_server(
            HybridKind::MlKem768NistP256,
            &c_init,
            &mut rand::rngs::OsRng,
        ));
    }

    #[test]
    fn hostile_ecdh_values_refused() {
        for kind in ALL {
            let (client, c_init) = HybridClient::generate(kind, &mut rand::rngs::OsRng).unwrap();
            let pk_len = kind.curve().public_len();
            let split = c_init.len() - pk_len;
            let mut bad_points = vec![vec![0u8; pk_len]];
            if kind.curve() != Curve::X25519 {
                // Not on the curve; and a compressed-point prefix.
                let mut p = vec![4u8];
                p.resize(pk_len, 1);
                bad_points.push(p);
                let mut p = c_init[split..].to_vec();
                p[0] = 2;
                bad_points.push(p);
            } else {
                // Low-order point of order 8 (all-zero shared secret).
                bad_points.push(h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"));
            }
            for p in &bad_points {
                let v = [&c_init[..split], &p[..]].concat();
                assert_kex_err(hybrid_server(kind, &v, &mut rand::rngs::OsRng));
            }
            let (s_reply, _) = hybrid_server(kind, &c_init, &mut rand::rngs::OsRng).unwrap();
            let split = s_reply.len() - pk_len;
            let v = [&s_reply[..split], &bad_points[0][..]].concat();
            assert_kex_err(client.finish(&v));
        }
    }

    /// An ML-KEM encapsulation key with a coefficient >= q fails the
    /// FIPS 203 §7.2 modulus check.
    #[test]
    fn mlkem_modulus_check() {
        for kind in [HybridKind::MlKem768X25519, HybridKind::MlKem1024NistP384] {
            let (_, c_init) = HybridClient::generate(kind, &mut rand::rngs::OsRng).unwrap();
            let ek_len = kind.pq().lens().0;
            assert!(mlkem_encapsulation_key_valid(&c_init[..ek_len], kind.pq().mlkem_rank()));
            for (pos, patch) in [(0usize, [0xffu8, 0x0f]), (301, [0xf0, 0xff])] {
                let mut v = c_init.clone();
                v[pos] = patch[0];
                v[pos + 1] = patch[1];
                assert!(!mlkem_encapsulation_key_valid(&v[..ek_len], kind.pq().mlkem_rank()));
                assert_kex_err(hybrid_server(kind, &v, &mut rand::rngs::OsRng));
            }
            // Coefficient exactly q - 1 = 3328 = 0xd00 is fine; q = 0xd01 is not.
            let mut v = c_init[..ek_len].to_vec();
            v[0] = 0x00;
            v[1] = (v[1] & 0xf0) | 0x0d;
            assert!(mlkem_encapsulation_key_valid(&v, kind.pq().mlkem_rank()));
            v[0] = 0x01;
            assert!(!mlkem_encapsulation_key_valid(&v, kind.pq().mlkem_rank()));
        }
    }
}
