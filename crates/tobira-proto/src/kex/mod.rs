//! Key exchange methods: the table and one module per family.
//!
//! - [`ecdh`]: curve25519-sha256 (RFC 8731), ecdh-sha2-nistp256 (RFC 5656)
//! - [`dh`]: finite-field Diffie-Hellman over fixed groups (RFC 4253 §8, RFC 8268)
//! - [`gex`]: Diffie-Hellman group exchange (RFC 4419)

pub mod dh;
pub mod ecdh;
pub mod gex;
pub mod groups;

use crate::crypto::HashAlg;

/// How a method's messages flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KexFamily {
    /// Elliptic-curve DH: INIT(30) / REPLY(31), public values as strings.
    Ecdh,
    /// Fixed-group DH: KEXDH_INIT(30) / KEXDH_REPLY(31), mpints.
    Dh,
    /// Group exchange: REQUEST(34), GROUP(31), INIT(32), REPLY(33).
    DhGex,
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
    /// Curve for ECDH methods.
    pub curve: Option<Curve>,
    /// Fixed group prime (hex) for DH methods.
    pub group: Option<&'static str>,
}

/// Every key exchange method this build implements.
pub static KEX_METHODS: &[KexSpec] = &[
    KexSpec {
        name: "curve25519-sha256",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha256,
        curve: Some(Curve::X25519),
        group: None,
    },
    KexSpec {
        name: "curve25519-sha256@libssh.org",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha256,
        curve: Some(Curve::X25519),
        group: None,
    },
    KexSpec {
        name: "ecdh-sha2-nistp256",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha256,
        curve: Some(Curve::P256),
        group: None,
    },
    KexSpec {
        name: "ecdh-sha2-nistp384",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha384,
        curve: Some(Curve::P384),
        group: None,
    },
    KexSpec {
        name: "ecdh-sha2-nistp521",
        family: KexFamily::Ecdh,
        hash: HashAlg::Sha512,
        curve: Some(Curve::P521),
        group: None,
    },
    KexSpec {
        name: "diffie-hellman-group-exchange-sha256",
        family: KexFamily::DhGex,
        hash: HashAlg::Sha256,
        curve: None,
        group: None,
    },
    KexSpec {
        name: "diffie-hellman-group14-sha256",
        family: KexFamily::Dh,
        hash: HashAlg::Sha256,
        curve: None,
        group: Some(groups::GROUP14_P),
    },
    KexSpec {
        name: "diffie-hellman-group16-sha512",
        family: KexFamily::Dh,
        hash: HashAlg::Sha512,
        curve: None,
        group: Some(groups::GROUP16_P),
    },
    KexSpec {
        name: "diffie-hellman-group18-sha512",
        family: KexFamily::Dh,
        hash: HashAlg::Sha512,
        curve: None,
        group: Some(groups::GROUP18_P),
    },
    KexSpec {
        name: "diffie-hellman-group-exchange-sha1",
        family: KexFamily::DhGex,
        hash: HashAlg::Sha1,
        curve: None,
        group: None,
    },
    KexSpec {
        name: "diffie-hellman-group14-sha1",
        family: KexFamily::Dh,
        hash: HashAlg::Sha1,
        curve: None,
        group: Some(groups::GROUP14_P),
    },
    KexSpec {
        name: "diffie-hellman-group1-sha1",
        family: KexFamily::Dh,
        hash: HashAlg::Sha1,
        curve: None,
        group: Some(groups::GROUP1_P),
    },
];

/// Looks a method up by name.
pub fn lookup(name: &str) -> Option<&'static KexSpec> {
    KEX_METHODS.iter().find(|k| k.name == name)
}
