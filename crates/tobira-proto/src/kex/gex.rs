//! Diffie-Hellman group exchange (RFC 4419): the client's size request and
//! the server's choice of group from an OpenSSH `moduli` file, falling back
//! to the RFC 3526 groups.

use rand_core::RngCore;

use super::dh::{DhGroup, MAX_MODULUS_BITS, MIN_MODULUS_BITS};
use super::groups;

/// The client's request (SSH_MSG_KEX_DH_GEX_REQUEST, RFC 4419 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GexRequest {
    /// Minimal acceptable group size in bits.
    pub min: u32,
    /// Preferred size.
    pub n: u32,
    /// Maximal acceptable size.
    pub max: u32,
}

impl GexRequest {
    /// RFC 4419 §3: min <= n <= max, with max no larger than 8192 bits.
    pub fn is_valid(&self) -> bool {
        self.min <= self.n && self.n <= self.max && self.max <= 8192
    }

    /// OpenSSH's request for a cipher needing `need_bits` of security
    /// (`dh_estimate`): 2048 up to 112 bits, 3072 up to 128, 7680 up to
    /// 192, else 8192.
    pub fn for_security(need_bits: usize) -> Self {
        let n = match need_bits {
            0..=112 => 2048,
            113..=128 => 3072,
            129..=192 => 7680,
            _ => 8192,
        };
        GexRequest {
            min: MIN_MODULUS_BITS as u32,
            n,
            max: MAX_MODULUS_BITS as u32,
        }
    }
}

/// One usable line of a moduli file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modulus {
    /// Size in bits.
    pub bits: u32,
    /// The group.
    pub group: DhGroup,
}

/// Parses OpenSSH's moduli(5) format: `time type tests tries size generator
/// modulus`, keeping safe primes (type 2) that passed Miller-Rabin (tests
/// bit 0x04). Malformed lines are skipped.
pub fn parse_moduli(text: &str) -> Vec<Modulus> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 7 {
            continue;
        }
        let (Ok(kind), Ok(tests), Ok(size)) = (f[1].parse::<u32>(), f[2].parse::<u32>(), f[4].parse::<u32>()) else {
            continue;
        };
        if kind != 2 || tests & 0x04 == 0 || f[6].len() > 4096 || !f[6].bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(g) = u8::from_str_radix(f[5], 16) else { continue };
        let group = DhGroup {
            p: DhGroup::from_hex(f[6]).p,
            g: vec![g],
        };
        // moduli lists size as bits - 1.
        let bits = size.saturating_add(1);
        if group.bits() as u32 != bits {
            continue;
        }
        out.push(Modulus { bits, group });
    }
    out
}

/// The RFC 3526 groups used when no moduli file is available.
pub fn fallback_groups() -> Vec<Modulus> {
    [
        (2048, groups::GROUP14_P),
        (3072, groups::GROUP15_P),
        (4096, groups::GROUP16_P),
        (6144, groups::GROUP17_P),
        (8192, groups::GROUP18_P),
    ]
    .into_iter()
    .map(|(bits, p)| Modulus {
        bits,
        group: DhGroup::from_hex(p),
    })
    .collect()
}

/// Chooses a group as OpenSSH's `choose_dh` does: among groups within
/// [min, max], the smallest size >= n (else the largest below n), one of
/// that size at random.
pub fn choose_group(moduli: &[Modulus], req: GexRequest, rng: &mut dyn RngCore) -> Option<DhGroup> {
    let fits: Vec<&Modulus> = moduli
        .iter()
        .filter(|m| m.bits >= req.min && m.bits <= req.max)
        .collect();
    let best = fits
        .iter()
        .map(|m| m.bits)
        .filter(|&b| b >= req.n)
        .min()
        .or_else(|| fits.iter().map(|m| m.bits).max())?;
    let same: Vec<&&Modulus> = fits.iter().filter(|m| m.bits == best).collect();
    let pick = (rng.next_u32() as usize) % same.len();
    Some(same[pick].group.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn choose_prefers_smallest_at_least_n() {
        let m = fallback_groups();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let g = choose_group(
            &m,
            GexRequest {
                min: 2048,
                n: 3072,
                max: 8192,
            },
            &mut rng,
        )
        .unwrap();
        assert_eq!(g.bits(), 3072);
        let g = choose_group(
            &m,
            GexRequest {
                min: 2048,
                n: 7680,
                max: 8192,
            },
            &mut rng,
        )
        .unwrap();
        assert_eq!(g.bits(), 8192);
        let g = choose_group(
            &m,
            GexRequest {
                min: 9000,
                n: 9000,
                max: 9000,
            },
            &mut rng,
        );
        assert!(g.is_none());
        let g = choose_group(
            &m,
            GexRequest {
                min: 1024,
                n: 1024,
                max: 1536,
            },
            &mut rng,
        );
        assert!(g.is_none());
        assert!(!GexRequest {
            min: 4096,
            n: 2048,
            max: 8192
        }
        .is_valid());
        assert!(GexRequest::for_security(256).is_valid());
    }

    #[test]
    fn moduli_parsing_checks_fields() {
        let p = groups::GROUP14_P.to_string();
        let text = format!("# comment\n20230101 2 6 100 2047 2 {p}\n20230101 2 6 100 2047 2 zz\n20230101 2 6 100 3071 2 {p}\nshort line\n");
        let m = parse_moduli(&text);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].bits, 2048);
        if let Ok(sys) = std::fs::read_to_string("/etc/ssh/moduli") {
            let m = parse_moduli(&sys);
            assert!(!m.is_empty());
            assert!(m.iter().all(|x| x.group.validate().is_ok()));
        }
    }
}
