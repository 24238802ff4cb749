//! Elliptic-curve Diffie-Hellman: X25519 (RFC 7748, RFC 8731) and the NIST
//! curves P-256/P-384/P-521 (RFC 5656 §4) on aws-lc-rs, and X448 (RFC 7748,
//! RFC 8731) on the `x448` crate (see [`super::x448`]). The private scalar
//! comes from the injected RNG.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use rand_core::RngCore;
use zeroize::Zeroizing;

use super::x448::X448KeyPair;
use super::Curve;
use crate::error::Error;

/// An ephemeral ECDH key pair.
pub struct EcdhKeyPair {
    private: Private,
    /// Our public value Q: 32 bytes for X25519, 56 for X448, SEC1
    /// uncompressed (0x04 || x || y) for the NIST curves.
    pub public: Vec<u8>,
    curve: Curve,
}

enum Private {
    Aws(PrivateKey),
    X448(X448KeyPair),
}

fn alg(curve: Curve) -> Result<&'static agreement::Algorithm, Error> {
    Ok(match curve {
        Curve::X25519 => &agreement::X25519,
        Curve::P256 => &agreement::ECDH_P256,
        Curve::P384 => &agreement::ECDH_P384,
        Curve::P521 => &agreement::ECDH_P521,
        Curve::X448 => return Err(Error::kex("X448 is not an aws-lc curve")),
    })
}

impl Curve {
    /// Length of the public value on the wire: 32 (X25519), 56 (X448), or
    /// 1 + 2 * field bytes for SEC1 uncompressed NIST points (RFC 5656 §4).
    pub fn public_len(self) -> usize {
        match self {
            Curve::X25519 => 32,
            Curve::X448 => 56,
            Curve::P256 => 65,
            Curve::P384 => 97,
            Curve::P521 => 133,
        }
    }

    /// Length of the raw shared secret: the X25519/X448 output, or the
    /// fixed-length x-coordinate of the shared point (SEC1 §3.3.1).
    pub fn secret_len(self) -> usize {
        match self {
            Curve::X25519 | Curve::P256 => 32,
            Curve::X448 => 56,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

impl EcdhKeyPair {
    /// Generates a key pair from the injected RNG.
    pub fn generate(curve: Curve, rng: &mut dyn RngCore) -> Result<Self, Error> {
        if curve == Curve::X448 {
            let kp = X448KeyPair::generate(rng)?;
            return Ok(EcdhKeyPair {
                public: kp.public.to_vec(),
                private: Private::X448(kp),
                curve,
            });
        }
        // A random 32-byte string is a valid X25519 scalar; for the NIST
        // curves a scalar is valid unless >= n (rare), so retry a few times.
        let len = curve.secret_len();
        for _ in 0..16 {
            let mut seed = Zeroizing::new(vec![0u8; len]);
            rng.fill_bytes(&mut seed[..]);
            if curve == Curve::P521 {
                seed[0] &= 0x01; // 521 bits
            }
            if let Ok(private) = PrivateKey::from_private_key(alg(curve)?, &seed[..]) {
                let public = private
                    .compute_public_key()
                    .map_err(|_| Error::kex("ECDH public key computation failed"))?
                    .as_ref()
                    .to_vec();
                return Ok(EcdhKeyPair {
                    private: Private::Aws(private),
                    public,
                    curve,
                });
            }
        }
        Err(Error::kex("could not generate an ECDH key"))
    }

    /// The curve of this key pair.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// Computes the shared secret with the peer's public value: the raw
    /// X25519/X448 output, or the fixed-length x-coordinate for the NIST
    /// curves. Wrong lengths, points not on the curve, compressed NIST
    /// points, low-order X25519/X448 points and an all-zero result are
    /// errors (RFC 7748 §6, RFC 8731 §3, RFC 5656 §4).
    pub fn agree(self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let montgomery = matches!(self.curve, Curve::X25519 | Curve::X448);
        if peer.len() != self.curve.public_len() || (!montgomery && peer.first() != Some(&4)) {
            return Err(Error::kex(format!("invalid ECDH public value (length {})", peer.len())));
        }
        let private = match self.private {
            Private::X448(kp) => return kp.agree(peer),
            Private::Aws(p) => p,
        };
        let secret = agreement::agree(
            &private,
            UnparsedPublicKey::new(alg(self.curve)?, peer),
            Error::kex("invalid ECDH public value"),
            |k| Ok(Zeroizing::new(k.to_vec())),
        )?;
        if secret.iter().all(|&b| b == 0) {
            return Err(Error::kex("ECDH shared secret is zero"));
        }
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<u8>);
    impl RngCore for Fixed {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            d.copy_from_slice(&self.0[..d.len()]);
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }

    /// RFC 7748 §6.1 Diffie-Hellman test vector.
    #[test]
    fn rfc7748_x25519() {
        let a = hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a").unwrap();
        let b_pub = hex::decode("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f").unwrap();
        let kp = EcdhKeyPair::generate(Curve::X25519, &mut Fixed(a)).unwrap();
        assert_eq!(
            hex::encode(&kp.public),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        let k = kp.agree(&b_pub).unwrap();
        assert_eq!(
            hex::encode(&k[..]),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        );
    }

    /// A low-order point gives an all-zero secret, which must be refused.
    #[test]
    fn x25519_zero_result_refused() {
        let kp = EcdhKeyPair::generate(Curve::X25519, &mut Fixed(vec![9; 32])).unwrap();
        let err = kp.agree(&[0u8; 32]).unwrap_err();
        assert_eq!(err.reason(), Some(crate::error::DisconnectReason::KeyExchangeFailed));
    }

    #[test]
    fn p256_invalid_point_refused() {
        let kp = EcdhKeyPair::generate(Curve::P256, &mut Fixed(vec![7; 32])).unwrap();
        let mut bad = vec![4u8];
        bad.extend_from_slice(&[1u8; 64]);
        assert!(kp.agree(&bad).is_err());
        let kp = EcdhKeyPair::generate(Curve::P256, &mut Fixed(vec![7; 32])).unwrap();
        assert!(kp.agree(&[4u8; 10]).is_err());
    }

    #[test]
    fn nist_curves_agree() {
        for curve in [Curve::P384, Curve::P521] {
            let a = EcdhKeyPair::generate(curve, &mut Fixed((0..66).collect())).unwrap();
            let b = EcdhKeyPair::generate(curve, &mut Fixed((9..75).collect())).unwrap();
            let (pa, pb) = (a.public.clone(), b.public.clone());
            assert_eq!(a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
        }
    }

    /// RFC 7748 §6.2 through the ECDH wrapper (curve448-sha512, RFC 8731).
    #[test]
    fn x448_through_ecdh() {
        let a = hex::decode(
            "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
        )
        .unwrap();
        let b_pub = hex::decode(
            "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609",
        )
        .unwrap();
        let kp = EcdhKeyPair::generate(Curve::X448, &mut Fixed(a)).unwrap();
        assert_eq!(kp.curve(), Curve::X448);
        assert_eq!(
            hex::encode(&kp.public),
            "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0"
        );
        assert_eq!(
            hex::encode(&kp.agree(&b_pub).unwrap()[..]),
            "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d"
        );
        let kp = EcdhKeyPair::generate(Curve::X448, &mut Fixed(vec![7; 56])).unwrap();
        assert!(kp.agree(&[0u8; 56]).is_err());
        let kp = EcdhKeyPair::generate(Curve::X448, &mut Fixed(vec![7; 56])).unwrap();
        assert!(kp.agree(&[5u8; 32]).is_err());
    }

    #[test]
    fn p256_agreement_matches() {
        let a = EcdhKeyPair::generate(Curve::P256, &mut Fixed(vec![3; 32])).unwrap();
        let b = EcdhKeyPair::generate(Curve::P256, &mut Fixed(vec![5; 32])).unwrap();
        let (pa, pb) = (a.public.clone(), b.public.clone());
        assert_eq!(a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
    }
}
