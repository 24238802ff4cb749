//! X448 Diffie-Hellman (RFC 7748 §5) for `curve448-sha512` (RFC 8731).
//!
//! The scalar is 56 bytes from the injected RNG (clamped as in RFC 7748
//! §5); the public value and the shared secret are 56-byte little-endian
//! u-coordinates. The arithmetic is the `x448` crate's; low-order peer points
//! and an all-zero shared secret are refused (RFC 7748 §6.2, RFC 8731 §3).
//! The secret scalar is kept in a [`Zeroizing`] buffer (the `x448` crate
//! takes it by value, so transient stack copies inside the crate are not
//! wiped).

use rand_core::RngCore;
use zeroize::Zeroizing;

use crate::error::Error;

/// Length of an X448 scalar, public value and shared secret (RFC 7748 §5).
pub const X448_LEN: usize = 56;

/// An ephemeral X448 key pair (RFC 7748 §6.2).
pub struct X448KeyPair {
    secret: Zeroizing<[u8; X448_LEN]>,
    /// Our public value X448(k, 5): 56 bytes (RFC 8731 §3.1, `Q_C` / `Q_S`).
    pub public: [u8; X448_LEN],
}

impl X448KeyPair {
    /// Generates a key pair: 56 random bytes from the injected RNG are the
    /// scalar (clamped by the X448 function, RFC 7748 §5).
    pub fn generate(rng: &mut dyn RngCore) -> Result<Self, Error> {
        let mut secret = Zeroizing::new([0u8; X448_LEN]);
        rng.try_fill_bytes(&mut secret[..])
            .map_err(|_| Error::kex("random number generator failed"))?;
        Ok(Self::from_secret(secret))
    }

    /// A key pair from a fixed scalar (tests and known-answer checks).
    pub(crate) fn from_secret(secret: Zeroizing<[u8; X448_LEN]>) -> Self {
        let public = ::x448::x448_unchecked(*secret, ::x448::X448_BASEPOINT_BYTES);
        X448KeyPair { secret, public }
    }

    /// Computes the shared secret X448(k, peer) (RFC 7748 §6.2). The peer's
    /// value must be 56 bytes; low-order points and an all-zero result are
    /// errors (RFC 8731 §3: "MUST" check for the all-zero value).
    pub fn agree(self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let peer: [u8; X448_LEN] = peer
            .try_into()
            .map_err(|_| Error::kex(format!("invalid X448 public value (length {})", peer.len())))?;
        let shared = Zeroizing::new(
            ::x448::x448(*self.secret, peer).ok_or_else(|| Error::kex("X448 public value has low order"))?,
        );
        if shared.iter().all(|&b| b == 0) {
            return Err(Error::kex("X448 shared secret is zero"));
        }
        Ok(Zeroizing::new(shared.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(h: &str) -> [u8; X448_LEN] {
        hex::decode(h).unwrap().try_into().unwrap()
    }

    /// RFC 7748 §6.2 Diffie-Hellman test vector.
    #[test]
    fn rfc7748_6_2_x448() {
        let a = X448KeyPair::from_secret(Zeroizing::new(arr(
            "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
        )));
        let b = X448KeyPair::from_secret(Zeroizing::new(arr(
            "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d",
        )));
        assert_eq!(
            hex::encode(a.public),
            "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0"
        );
        assert_eq!(
            hex::encode(b.public),
            "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609"
        );
        let (pa, pb) = (a.public, b.public);
        let k = "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d";
        assert_eq!(hex::encode(&a.agree(&pb).unwrap()[..]), k);
        assert_eq!(hex::encode(&b.agree(&pa).unwrap()[..]), k);
    }

    /// RFC 7748 §5.2 X448 function test vectors (the two single-call
    /// vectors and the 1- and 1000-iteration ones).
    #[test]
    fn rfc7748_5_2_x448() {
        let cases = [
            (
                "3d262fddf9ec8e88495266fea19a34d28882acef045104d0d1aae121700a779c984c24f8cdd78fbff44943eba368f54b29259a4f1c600ad3",
                "06fce640fa3487bfda5f6cf2d5263f8aad88334cbd07437f020f08f9814dc031ddbdc38c19c6da2583fa5429db94ada18aa7a7fb4ef8a086",
                "ce3e4ff95a60dc6697da1db1d85e6afbdf79b50a2412d7546d5f239fe14fbaadeb445fc66a01b0779d98223961111e21766282f73dd96b6f",
            ),
            (
                "203d494428b8399352665ddca42f9de8fef600908e0d461cb021f8c538345dd77c3e4806e25f46d3315c44e0a5b4371282dd2c8d5be3095f",
                "0fbcc2f993cd56d3305b0b7d9e55d4c1a8fb5dbb52f8e9a1e9b6201b165d015894e56c4d3570bee52fe205e28a78b91cdfbde71ce8d157db",
                "884a02576239ff7a2f2f63b2db6a9ff37047ac13568e1e30fe63c4a7ad1b3ee3a5700df34321d62077e63633c575c1c954514e99da7c179d",
            ),
        ];
        for (k, u, out) in cases {
            let kp = X448KeyPair::from_secret(Zeroizing::new(arr(k)));
            assert_eq!(hex::encode(&kp.agree(&arr(u)).unwrap()[..]), out);
        }
        // Iterated: k = u = 5; repeat (k, u) = (X448(k, u), k).
        let mut k = [0u8; X448_LEN];
        k[0] = 5;
        let mut u = k;
        for i in 1..=1000 {
            let r = ::x448::x448_unchecked(k, u);
            u = k;
            k = r;
            if i == 1 {
                assert_eq!(
                    hex::encode(k),
                    "3f482c8a9f19b01e6c46ee9711d9dc14fd4bf67af30765c2ae2b846a4d23a8cd0db897086239492caf350b51f833868b9bc2b3bca9cf4113"
                );
            }
        }
        assert_eq!(
            hex::encode(k),
            "aa3b4749d55b9daf1e5b00288826c467274ce3ebbdd5c17b975e09d4af6c67cf10d087202db88286e2b79fceea3ec353ef54faa26e219f38"
        );
    }

    /// Low-order points (0, 1, p - 1 and the non-canonical encodings p and
    /// p + 1) and wrong lengths are refused.
    #[test]
    fn hostile_public_values_refused() {
        let mut bad: Vec<[u8; X448_LEN]> = vec![[0u8; X448_LEN], [0u8; X448_LEN]];
        bad[1][0] = 1;
        // p - 1 = 2^448 - 2^224 - 2 (little-endian), p and p + 1.
        let mut p = [0xffu8; X448_LEN];
        p[28] = 0xfe;
        let mut pm1 = p;
        pm1[0] = 0xfe;
        let mut pp1 = [0xffu8; X448_LEN];
        pp1[..28].fill(0);
        bad.push(p);
        bad.push(pm1);
        bad.push(pp1);
        for pt in bad {
            let kp = X448KeyPair::generate(&mut rand::rngs::OsRng).unwrap();
            let err = kp.agree(&pt).unwrap_err();
            assert_eq!(err.reason(), Some(crate::error::DisconnectReason::KeyExchangeFailed));
        }
        for len in [0usize, 32, 55, 57] {
            let kp = X448KeyPair::generate(&mut rand::rngs::OsRng).unwrap();
            assert!(kp.agree(&vec![9u8; len]).is_err());
        }
    }

    #[test]
    fn random_pairs_agree() {
        let a = X448KeyPair::generate(&mut rand::rngs::OsRng).unwrap();
        let b = X448KeyPair::generate(&mut rand::rngs::OsRng).unwrap();
        let (pa, pb) = (a.public, b.public);
        assert_eq!(a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
    }
}
