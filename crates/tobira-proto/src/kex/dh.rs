//! Finite-field Diffie-Hellman (RFC 4253 §8) with constant-time modular
//! exponentiation from `crypto-bigint`.

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use rand_core::RngCore;
use zeroize::Zeroizing;

use crate::error::Error;

/// Bits of the private exponent: twice the 256-bit security level that the
/// strongest negotiated cipher needs (as OpenSSH's `dh_gen_key`).
pub const EXPONENT_BITS: u32 = 512;

/// Smallest modulus accepted from a group exchange (RFC 8270).
pub const MIN_MODULUS_BITS: usize = 2048;
/// Largest modulus accepted (RFC 4419 §3 upper bound).
pub const MAX_MODULUS_BITS: usize = 8192;

/// A DH group: prime modulus `p` and generator `g`, big-endian magnitudes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhGroup {
    /// The safe prime.
    pub p: Vec<u8>,
    /// The generator.
    pub g: Vec<u8>,
}

fn strip(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

/// Compares two big-endian magnitudes (public values only).
fn cmp_be(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Decodes a hex constant; the table's constants are well-formed.
fn hex_to_bytes(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex
        .bytes()
        .filter_map(|c| (c as char).to_digit(16).map(|d| d as u8))
        .collect();
    digits
        .chunks(2)
        .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0))
        .collect()
}

impl DhGroup {
    /// A fixed group from its hex prime, generator 2.
    pub fn from_hex(p_hex: &str) -> Self {
        DhGroup {
            p: hex_to_bytes(p_hex),
            g: vec![2],
        }
    }

    /// Size of the modulus in bits.
    pub fn bits(&self) -> usize {
        let p = strip(&self.p);
        match p.first() {
            Some(&top) => p.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        }
    }

    fn precision(&self) -> u32 {
        (self.bits() as u32).div_ceil(64) * 64
    }

    fn params(&self) -> Result<BoxedMontyParams, Error> {
        let p = BoxedUint::from_be_slice(strip(&self.p), self.precision()).map_err(|_| Error::kex("bad DH modulus"))?;
        let odd = Option::<Odd<BoxedUint>>::from(Odd::new(p)).ok_or_else(|| Error::kex("DH modulus is even"))?;
        Ok(BoxedMontyParams::new(odd))
    }

    fn modpow(&self, base: &[u8], exp: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let params = self.params()?;
        let b = BoxedUint::from_be_slice(strip(base), self.precision()).map_err(|_| Error::kex("bad DH value"))?;
        let e = BoxedUint::from_be_slice(exp, (exp.len() as u32 * 8).div_ceil(64) * 64)
            .map_err(|_| Error::kex("bad DH exponent"))?;
        let r = BoxedMontyForm::new(b, params).pow(&e).retrieve();
        Ok(Zeroizing::new(r.to_be_bytes().into_vec()))
    }

    /// Checks that a group received in a group exchange is usable: size in
    /// range, odd, generator in [2, p-2].
    pub fn validate(&self) -> Result<(), Error> {
        let bits = self.bits();
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
            return Err(Error::kex(format!("DH group size {bits} out of range")));
        }
        if self.p.last().is_none_or(|b| b & 1 == 0) {
            return Err(Error::kex("DH modulus is even"));
        }
        self.check_public(&self.g)
            .map_err(|_| Error::kex("invalid DH generator"))
    }

    /// Checks a public value: 1 < y < p-1 (RFC 4253 §8, "values not in the
    /// range [1, p-1] MUST NOT be sent or accepted"; 1 and p-1 are refused
    /// too, as by OpenSSH, since they leak nothing but fix the secret).
    pub fn check_public(&self, y: &[u8]) -> Result<(), Error> {
        let mut p_minus_1 = strip(&self.p).to_vec();
        if let Some(last) = p_minus_1.last_mut() {
            *last &= 0xfe; // p is odd
        }
        if cmp_be(y, &[1]) != std::cmp::Ordering::Greater || cmp_be(y, &p_minus_1) != std::cmp::Ordering::Less {
            return Err(Error::kex("invalid DH public value: not in [2, p-2]"));
        }
        Ok(())
    }
}

/// An ephemeral DH key pair.
pub struct DhKeyPair {
    group: DhGroup,
    x: Zeroizing<Vec<u8>>,
    /// Our public value g^x mod p.
    pub public: Vec<u8>,
}

impl DhKeyPair {
    /// Generates x (EXPONENT_BITS random bits, top bit set) and e = g^x mod p.
    pub fn generate(group: DhGroup, rng: &mut dyn RngCore) -> Result<Self, Error> {
        Self::with_exponent(group, Self::draw_exponent(rng))
    }

    /// A private exponent: EXPONENT_BITS random bits, the top one set.
    pub fn draw_exponent(rng: &mut dyn RngCore) -> Zeroizing<Vec<u8>> {
        let mut x = Zeroizing::new(vec![0u8; EXPONENT_BITS as usize / 8]);
        rng.fill_bytes(&mut x);
        if let Some(top) = x.first_mut() {
            *top |= 0x80;
        }
        x
    }

    /// The key pair of the private exponent `x` (from
    /// [`Self::draw_exponent`]): computes g^x mod p, the slow part, which
    /// needs no random number generator and so can run on another thread.
    pub fn with_exponent(group: DhGroup, x: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        let public = strip(&group.modpow(&group.g, &x)?).to_vec();
        group.check_public(&public)?;
        Ok(DhKeyPair { group, x, public })
    }

    /// The group in use.
    pub fn group(&self) -> &DhGroup {
        &self.group
    }

    /// K = f^x mod p, after checking f.
    pub fn agree(self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.group.check_public(peer)?;
        let k = self.group.modpow(peer, &self.x)?;
        Ok(Zeroizing::new(strip(&k).to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kex::groups;
    use rand::SeedableRng;

    #[test]
    fn group14_agreement_and_bounds() {
        let g = DhGroup::from_hex(groups::GROUP14_P);
        assert_eq!(g.bits(), 2048);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let a = DhKeyPair::generate(g.clone(), &mut rng).unwrap();
        let b = DhKeyPair::generate(g.clone(), &mut rng).unwrap();
        let (pa, pb) = (a.public.clone(), b.public.clone());
        assert_eq!(a.agree(&pb).unwrap(), b.agree(&pa).unwrap());
        // Out-of-range peer values: 0, 1, p-1, p, p+1.
        let mut pm1 = g.p.clone();
        *pm1.last_mut().unwrap() -= 1;
        let pp1 = vec![0xffu8; 257];
        for bad in [vec![], vec![0], vec![1], pm1, g.p.clone(), pp1] {
            let kp = DhKeyPair::generate(g.clone(), &mut rng).unwrap();
            assert!(kp.agree(&bad).is_err(), "accepted {:?}", &bad[..bad.len().min(4)]);
        }
    }

    /// 2^x mod p against a value computed independently (Python's pow).
    #[test]
    fn modpow_known_answer() {
        let g = DhGroup {
            p: vec![0x00, 0xfb],
            g: vec![2],
        }; // 251
        let r = g.modpow(&[2], &[0x10]).unwrap(); // 2^16 mod 251 = 25
        assert_eq!(strip(&r), &[25]);
    }
}
