//! `ssh-dss` (RFC 4253 §6.6): DSA of FIPS 186-2 over SHA-1. The public key
//! blob is `string "ssh-dss", mpint p, mpint q, mpint g, mpint y`; the
//! signature blob is `string "ssh-dss", string rs`, where `rs` is r and s
//! as 160-bit unsigned big-endian integers, 40 bytes in all.
//!
//! Signing uses the deterministic nonce of RFC 6979 §3.2 with HMAC-SHA-1,
//! so no random number is needed.

use dsa::{BigUint, Components, Signature, SigningKey as DsaSecret, VerifyingKey};
use sha1::{Digest, Sha1};

use super::{bad_sig, KeyError};
use crate::error::Error;
use crate::wire::{Reader, Writer};

/// The key type and signature algorithm name (RFC 4253 §6.6).
pub(super) const NAME: &str = "ssh-dss";

/// Bytes of each of r and s in a signature: q is 160 bits (FIPS 186-2).
const SCALAR_LEN: usize = 20;

/// The size of q in bits: `ssh-dss` signatures carry 160-bit r and s.
const Q_BITS: usize = 160;

/// The smallest modulus p accepted, in bits (FIPS 186-2's L = 1024, the
/// only size `ssh-keygen` makes).
const MIN_P_BITS: usize = 1024;

/// The largest modulus p accepted, in bits. It bounds the work a peer's
/// key can cause (PuTTY makes DSA keys of up to 2048 or more bits with a
/// 160-bit q; nothing makes larger ones).
const MAX_P_BITS: usize = 3072;

/// A DSA private key with its public key blob.
pub(super) struct DssKey {
    secret: DsaSecret,
}

/// Checks the domain parameters and public value of an `ssh-dss` key (the
/// bounds OpenSSH relies on: q of 160 bits, p odd and of a sane size,
/// 1 < g < p, 1 < y < p and y of order q) and builds the verifying key.
fn verifying_key(p: &[u8], q: &[u8], g: &[u8], y: &[u8]) -> Result<VerifyingKey, &'static str> {
    let bits = |m: &[u8]| match m.first() {
        None => 0,
        Some(&top) => (m.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    };
    // Lengths first, before any arithmetic on attacker-sized numbers.
    let p_bits = bits(p);
    if !(MIN_P_BITS..=MAX_P_BITS).contains(&p_bits) {
        return Err("dsa modulus size out of range");
    }
    if bits(q) != Q_BITS {
        return Err("dsa subgroup order is not 160 bits");
    }
    let odd = |m: &[u8]| m.last().is_some_and(|b| b & 1 == 1);
    if !odd(p) || !odd(q) {
        return Err("dsa parameters out of range");
    }
    let (p, q, g, y) = (
        BigUint::from_bytes_be(p),
        BigUint::from_bytes_be(q),
        BigUint::from_bytes_be(g),
        BigUint::from_bytes_be(y),
    );
    let one = BigUint::from(1u32);
    if g <= one || g >= p || y <= one || y >= p {
        return Err("dsa parameters out of range");
    }
    let components = Components::from_components(p, q, g).map_err(|_| "invalid dsa parameters")?;
    // Also checks y^q = 1 (mod p).
    VerifyingKey::from_components(components, y).map_err(|_| "invalid dsa public key")
}

impl DssKey {
    /// Builds a key from its parameters, public value `y` and private value
    /// `x` (big-endian magnitudes), checking that they fit together.
    pub(super) fn new(p: &[u8], q: &[u8], g: &[u8], y: &[u8], x: &[u8]) -> Result<Self, KeyError> {
        let invalid = |m: &str| KeyError::Invalid("dsa", m.to_string());
        let public = verifying_key(p, q, g, y).map_err(invalid)?;
        let x = BigUint::from_bytes_be(x);
        let c = public.components();
        if &x >= c.q() || c.g().modpow(&x, c.p()) != *public.y() {
            return Err(invalid("private key does not match the public key"));
        }
        let secret = DsaSecret::from_components(public, x).map_err(|_| invalid("invalid private key"))?;
        Ok(DssKey { secret })
    }

    /// The public key blob (RFC 4253 §6.6).
    pub(super) fn blob(&self) -> Vec<u8> {
        let public = self.secret.verifying_key();
        let c = public.components();
        let mut blob = Vec::new();
        blob.put_string(NAME.as_bytes());
        for m in [c.p(), c.q(), c.g(), public.y()] {
            blob.put_mpint(&m.to_bytes_be());
        }
        blob
    }

    /// The 40-byte `r || s` signature of SHA-1(`data`).
    pub(super) fn sign(&self, data: &[u8]) -> Result<[u8; 2 * SCALAR_LEN], Error> {
        let hash = Sha1::digest(data);
        let sig = self
            .secret
            .sign_prehashed_rfc6979::<Sha1>(&hash)
            .map_err(|_| Error::kex("DSA signing failed"))?;
        let mut out = [0u8; 2 * SCALAR_LEN];
        for (half, v) in out.chunks_mut(SCALAR_LEN).zip([sig.r(), sig.s()]) {
            let b = v.to_bytes_be();
            if b.len() > SCALAR_LEN {
                return Err(Error::kex("DSA signing failed"));
            }
            half[SCALAR_LEN - b.len()..].copy_from_slice(&b);
        }
        Ok(out)
    }
}

/// Verifies the raw `ssh-dss` signature `sig` over `data` by the key whose
/// blob `kr` is positioned after the key type name. The signature must be
/// exactly 40 bytes. `Ok(false)` is a well-formed signature that does not
/// verify.
pub(super) fn verify(kr: &mut Reader<'_>, data: &[u8], sig: &[u8]) -> Result<bool, Error> {
    let mut read = || kr.mpint_positive().map_err(|_| bad_sig("malformed dsa key"));
    let (p, q, g, y) = (read()?, read()?, read()?, read()?);
    kr.finish().map_err(|_| bad_sig("trailing data in key"))?;
    if sig.len() != 2 * SCALAR_LEN {
        return Err(bad_sig("dsa signature is not 40 bytes"));
    }
    let key = verifying_key(p, q, g, y).map_err(bad_sig)?;
    let (r, s) = sig.split_at(SCALAR_LEN);
    // r = 0 or s = 0 is refused here; r, s >= q by the verifier (FIPS 186-2 §6).
    let Ok(sig) = Signature::from_components(BigUint::from_bytes_be(r), BigUint::from_bytes_be(s)) else {
        return Ok(false);
    };
    use dsa::signature::hazmat::PrehashVerifier;
    Ok(key.verify_prehash(&Sha1::digest(data), &sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 6979 §A.2.1: the 1024-bit DSA key.
    fn rfc6979_key() -> (DssKey, [Vec<u8>; 5]) {
        let p = h("86F5CA03DCFEB225063FF830A0C769B9DD9D6153AD91D7CE27F787C43278B447\
                   E6533B86B18BED6E8A48B784A14C252C5BE0DBF60B86D6385BD2F12FB763ED88\
                   73ABFD3F5BA2E0A8C0A59082EAC056935E529DAF7C610467899C77ADEDFC846C\
                   881870B7B19B2B58F9BE0521A17002E3BDD6B86685EE90B3D9A1B02B782B1779");
        let q = h("996F967F6C8E388D9E28D01E205FBA957A5698B1");
        let g = h("07B0F92546150B62514BB771E2A0C0CE387F03BDA6C56B505209FF25FD3C133D\
                   89BBCD97E904E09114D9A7DEFDEADFC9078EA544D2E401AEECC40BB9FBBF78FD\
                   87995A10A1C27CB7789B594BA7EFB5C4326A9FE59A070E136DB77175464ADCA4\
                   17BE5DCE2F40D10A46A3A3943F26AB7FD9C0398FF8C76EE0A56826A8A88F1DBD");
        let x = h("411602CB19A6CCC34494D79D98EF1E7ED5AF25F7");
        let y = h("5DF5E01DED31D0297E274E1691C192FE5868FEF9E19A84776454B100CF16F653\
                   92195A38B90523E2542EE61871C0440CB87C322FC4B4D2EC5E1E7EC766E1BE8D\
                   4CE935437DC11C3C8FD426338933EBFE739CB3465F4D3668C5E473508253B1E6\
                   82F65CBDC4FAE93C2EA212390E54905A86E2223170B44EAA7DA5DD9FFCFB7F3B");
        let key = DssKey::new(&p, &q, &g, &y, &x).unwrap();
        (key, [p, q, g, y, x])
    }

    /// RFC 6979 §A.2.1, "With SHA-1": messages "sample" and "test".
    #[test]
    fn rfc6979_dsa_sha1_vectors() {
        let (key, _) = rfc6979_key();
        for (msg, r, s) in [
            (
                &b"sample"[..],
                "2E1A0C2562B2912CAAF89186FB0F42001585DA55",
                "29EFB6B0AFF2D7A68EB70CA313022253B9A88DF5",
            ),
            (
                &b"test"[..],
                "42AB2052FD43E123F0607F115052A67DCD9C5C77",
                "183916B0230D45B9931491D4C6B0BD2FB4AAF088",
            ),
        ] {
            let sig = key.sign(msg).unwrap();
            assert_eq!(hex::encode_upper(sig), format!("{r}{s}"));
            let blob = key.blob();
            let mut kr = Reader::new(&blob);
            kr.string().unwrap();
            assert!(verify(&mut kr, msg, &sig).unwrap());
        }
    }

    #[test]
    fn inconsistent_or_weak_keys_are_refused() {
        let (_, [p, q, g, y, x]) = rfc6979_key();
        let mut x2 = x.clone();
        x2[19] ^= 1;
        assert!(DssKey::new(&p, &q, &g, &y, &x2).is_err());
        // y not of order q.
        let mut y2 = y.clone();
        y2[127] ^= 2;
        assert!(DssKey::new(&p, &q, &g, &y2, &x).is_err());
        // A 512-bit p.
        assert!(verifying_key(&p[64..], &q, &g[64..], &y[64..]).is_err());
        // q of 152 bits.
        assert!(verifying_key(&p, &q[1..], &g, &y).is_err());
        // g = 1, g = p, y = 1.
        assert!(verifying_key(&p, &q, &[1], &y).is_err());
        assert!(verifying_key(&p, &q, &p, &y).is_err());
        assert!(verifying_key(&p, &q, &g, &[1]).is_err());
        // Even p.
        let mut pe = p.clone();
        pe[127] &= 0xfe;
        assert!(verifying_key(&pe, &q, &g, &y).is_err());
        // A huge p is refused before any arithmetic.
        let mut big = vec![0xffu8; 1 << 16];
        big[0] = 0x7f;
        assert!(verifying_key(&big, &q, &g, &y).is_err());
    }

    #[test]
    fn signature_values_out_of_range_do_not_verify() {
        let (key, [_, q, ..]) = rfc6979_key();
        let blob = key.blob();
        let check = |sig: &[u8]| {
            let mut kr = Reader::new(&blob);
            kr.string().unwrap();
            verify(&mut kr, b"sample", sig)
        };
        let good = key.sign(b"sample").unwrap();
        assert!(check(&good).unwrap());
        // r = 0, s = 0.
        let mut z = good;
        z[..20].fill(0);
        assert!(!check(&z).unwrap());
        let mut z = good;
        z[20..].fill(0);
        assert!(!check(&z).unwrap());
        // r = q, s = q.
        let mut rq = good;
        rq[..20].copy_from_slice(&q);
        assert!(!check(&rq).unwrap());
        let mut sq = good;
        sq[20..].copy_from_slice(&q);
        assert!(!check(&sq).unwrap());
        // Not 40 bytes.
        assert!(check(&good[..39]).is_err());
        let mut long = good.to_vec();
        long.push(0);
        assert!(check(&long).is_err());
    }
}
