//! Key exchange methods: the table and one module per family.
//!
//! - [`ecdh`]: curve25519-sha256 and curve448-sha512 (RFC 8731, X448 in
//!   [`x448`]), ecdh-sha2-nistp256/384/521 (RFC 5656)
//! - [`dh`]: finite-field Diffie-Hellman over fixed groups (RFC 4253 §8, RFC 8268)
//! - [`gex`]: Diffie-Hellman group exchange (RFC 4419)
//! - [`hybrid`]: ML-KEM hybrids (draft-ietf-sshm-mlkem-hybrid-kex) and
//!   sntrup761x25519 (RFC 9941)
//! - [`rsa_kex`]: RSA key exchange (RFC 4432)

pub mod dh;
pub mod ecdh;
pub mod gex;
pub mod groups;
pub mod hybrid;
pub mod rsa_kex;
pub mod x448;

use crate::crypto::HashAlg;
pub use hybrid::HybridKind;
pub use rsa_kex::RsaKexMethod;

/// How a method's messages flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KexFamily {
    /// Elliptic-curve DH: INIT(30) / REPLY(31), public values as strings.
    Ecdh,
    /// Fixed-group DH: KEXDH_INIT(30) / KEXDH_REPLY(31), mpints.
    Dh,
    /// Group exchange: REQUEST(34), GROUP(31), INIT(32), REPLY(33).
    DhGex,
    /// PQ/T hybrid KEM + ECDH (draft-ietf-sshm-mlkem-hybrid-kex §2, RFC
    /// 9941): HYBRID_INIT(30) `string C_INIT` / HYBRID_REPLY(31) `string
    /// K_S, string S_REPLY, string sig`; K is a `string` in H and the KDF.
    /// See [`hybrid`].
    Hybrid,
    /// RSA key exchange (RFC 4432): the server sends KEXRSA_PUBKEY(30)
    /// `string K_S, string K_T` first; KEXRSA_SECRET(31) `string
    /// encrypted`; KEXRSA_DONE(32) `string sig`; K is an `mpint`. See
    /// [`rsa_kex`].
    Rsa,
}

/// The elliptic curve of an ECDH method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// X25519 (RFC 7748).
    X25519,
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
    /// X448 (RFC 7748 §5, RFC 8731).
    X448,
}

/// A row of the key exchange table.
#[derive(Debug, PartialEq, Eq)]
pub struct KexSpec {
    /// Method name.
    pub name: &'static str,
    /// Message flow.
    pub family: KexFamily,
    /// Exchange hash and key derivation hash.
    pub hash: HashAlg,
    /// Curve for ECDH methods (and the classical half of hybrids).
    pub curve: Option<Curve>,
    /// Fixed group prime (hex) for DH methods.
    pub group: Option<&'static str>,
    /// The hybrid method, for [`KexFamily::Hybrid`].
    pub hybrid: Option<HybridKind>,
    /// The RSA method, for [`KexFamily::Rsa`].
    pub rsa: Option<RsaKexMethod>,
}

/// Every key exchange method this build implements.
pub static KEX_METHODS: &[KexSpec] = &[
    KexSpec {
        name: "mlkem768x25519-sha256",
        family: KexFamily::Hybrid,
        hash: HashAlg::Sha256,
        curve: Some(Curve::X25519),
        group: None,
        hybrid: Some(HybridKind::MlKem768X25519),
        rsa: None,
    },
    KexSpec {
        name: "mlkem768nistp256-sha256",
        family: KexFamily::Hybrid,
        hash: HashAlg::Sha256,
        curve: Some(Curve::P256),
        group: None,
        hybrid: Some(HybridKind::MlKem768NistP256),
        rsa: None,
    },
    KexSpec {
        name: "mlkem1024nistp384-sha384",
        family: KexFamily::Hybrid,
        hash: HashAlg::Sha384,
        curve: Some(Curve::P384),
        group: None,
        hybrid: Some(HybridKind::MlKem1024NistP384),
        rsa: None,
    },
    KexSpec {
        name: "sntrup761x25519-sha512",
        family: KexFamily::Hybrid,
        hash: HashAlg::Sha512,
        curve: Some(Curve::X25519),
        group: None,
        hybrid: Some(HybridKind::Sntrup761X25519),
        rsa: None,
    },
    KexSpec {
        name: "sntrup761x25519-sha512@openssh.com",
        family: KexFamily::Hybrid,
        hash: HashAlg::Sha512,
        curve: Some(Curve::X25519),
        group: None,
        hybrid: Some(HybridKind::Sntrup761X25519),
        rsa: None,
    },
    KexSpec {
        name: "curve448-sha512",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha512,
        curve: Some(Curve::X448),
        group: None,
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "curve25519-sha256",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha256,
        curve: Some(Curve::X25519),
        group: None,
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "curve25519-sha256@libssh.org",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha256,
        curve: Some(Curve::X25519),
        group: None,
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "ecdh-sha2-nistp256",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha256,
        curve: Some(Curve::P256),
        group: None,
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "ecdh-sha2-nistp384",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha384,
        curve: Some(Curve::P384),
        group: None,
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "ecdh-sha2-nistp521",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha512,
        curve: Some(Curve::P521),
        group: None,
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "diffie-hellman-group-exchange-sha256",
        family: KexFamily::DhGex,
        hash: HashAlg::Sha256,
        curve: None,
        group: None,
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "diffie-hellman-group14-sha256",
        family: KexFamily::Dh,
        hash: HashAlg::Sha256,
        curve: None,
        group: Some(groups::GROUP14_P),
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "diffie-hellman-group16-sha512",
        family: KexFamily::Dh,
        hash: HashAlg::Sha512,
        curve: None,
        group: Some(groups::GROUP16_P),
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "diffie-hellman-group18-sha512",
        family: KexFamily::Dh,
        hash: HashAlg::Sha512,
        curve: None,
        group: Some(groups::GROUP18_P),
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "diffie-hellman-group-exchange-sha1",
        family: KexFamily::DhGex,
        hash: HashAlg::Sha1,
        curve: None,
        group: None,
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "diffie-hellman-group14-sha1",
        family: KexFamily::Dh,
        hash: HashAlg::Sha1,
        curve: None,
        group: Some(groups::GROUP14_P),
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "diffie-hellman-group1-sha1",
        family: KexFamily::Dh,
        hash: HashAlg::Sha1,
        curve: None,
        group: Some(groups::GROUP1_P),
        hybrid: None,
        rsa: None,
    },
    KexSpec {
        name: "rsa2048-sha256",
        family: KexFamily::Rsa,
        hash: HashAlg::Sha256,
        curve: None,
        group: None,
        hybrid: None,
        rsa: Some(RsaKexMethod::Rsa2048Sha256),
    },
    KexSpec {
        name: "rsa1024-sha1",
        family: KexFamily::Rsa,
        hash: HashAlg::Sha1,
        curve: None,
        group: None,
        hybrid: None,
        rsa: Some(RsaKexMethod::Rsa1024Sha1),
    },
];

/// Looks a method up by name.
pub fn lookup(name: &str) -> Option<&'static KexSpec> {
    KEX_METHODS.iter().find(|k| k.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every advertised name has a row, and each row is self-consistent.
    #[test]
    fn table_is_consistent() {
        for name in crate::algorithms::KEX_SUPPORTED {
            assert!(lookup(name).is_some(), "{name} has no KexSpec row");
        }
        for spec in KEX_METHODS {
            match spec.family {
                KexFamily::Hybrid => {
                    let kind = spec.hybrid.expect("hybrid row without kind");
                    assert_eq!(kind.hash(), spec.hash, "{}", spec.name);
                    assert_eq!(Some(kind.curve()), spec.curve, "{}", spec.name);
                }
                KexFamily::Rsa => assert_eq!(spec.rsa.map(|m| m.hash()), Some(spec.hash), "{}", spec.name),
                KexFamily::Ecdh => assert!(spec.curve.is_some(), "{}", spec.name),
                KexFamily::Dh => assert!(spec.group.is_some(), "{}", spec.name),
                KexFamily::DhGex => {}
            }
            assert_eq!(spec.hybrid.is_some(), spec.family == KexFamily::Hybrid, "{}", spec.name);
            assert_eq!(spec.rsa.is_some(), spec.family == KexFamily::Rsa, "{}", spec.name);
        }
    }
}
