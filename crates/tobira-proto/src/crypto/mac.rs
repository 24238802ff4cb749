//! The MAC table (RFC 4253 §6.4, RFC 6668, OpenSSH `-etm@openssh.com`).

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

/// A row of the MAC table.
#[derive(Debug, PartialEq, Eq)]
pub struct MacSpec {
    /// Algorithm name as negotiated.
    pub name: &'static str,
    /// Key length in bytes.
    pub key_len: usize,
    /// Tag length in bytes.
    pub tag_len: usize,
    /// Encrypt-then-MAC: the MAC covers the ciphertext and the length stays clear.
    pub etm: bool,
    hash: HmacHash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HmacHash {
    Sha1,
    Sha256,
    Sha512,
}

/// Every MAC this build implements.
pub static MACS: &[MacSpec] = &[
    MacSpec {
        name: "hmac-sha1",
        key_len: 20,
        tag_len: 20,
        etm: false,
        hash: HmacHash::Sha1,
    },
    MacSpec {
        name: "hmac-sha1-96",
        key_len: 20,
        tag_len: 12,
        etm: false,
        hash: HmacHash::Sha1,
    },
    MacSpec {
        name: "hmac-sha1-etm@openssh.com",
        key_len: 20,
        tag_len: 20,
        etm: true,
        hash: HmacHash::Sha1,
    },
    MacSpec {
        name: "hmac-sha1-96-etm@openssh.com",
        key_len: 20,
        tag_len: 12,
        etm: true,
        hash: HmacHash::Sha1,
    },
    MacSpec {
        name: "hmac-sha2-256",
        key_len: 32,
        tag_len: 32,
        etm: false,
        hash: HmacHash::Sha256,
    },
    MacSpec {
        name: "hmac-sha2-512",
        key_len: 64,
        tag_len: 64,
        etm: false,
        hash: HmacHash::Sha512,
    },
    MacSpec {
        name: "hmac-sha2-256-etm@openssh.com",
        key_len: 32,
        tag_len: 32,
        etm: true,
        hash: HmacHash::Sha256,
    },
    MacSpec {
        name: "hmac-sha2-512-etm@openssh.com",
        key_len: 64,
        tag_len: 64,
        etm: true,
        hash: HmacHash::Sha512,
    },
];

/// Looks a MAC up by name.
pub fn lookup(name: &str) -> Option<&'static MacSpec> {
    MACS.iter().find(|m| m.name == name)
}

/// A keyed MAC for one direction.
pub struct Mac {
    key: hmac::Key,
    /// The table row.
    pub spec: &'static MacSpec,
}

impl Mac {
    /// Keys the MAC.
    pub fn new(spec: &'static MacSpec, key: &[u8]) -> Self {
        let alg = match spec.hash {
            HmacHash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            HmacHash::Sha256 => hmac::HMAC_SHA256,
            HmacHash::Sha512 => hmac::HMAC_SHA512,
        };
        Mac {
            key: hmac::Key::new(alg, key),
            spec,
        }
    }

    /// mac = MAC(key, sequence_number || data) (RFC 4253 §6.4); the caller
    /// truncates to `spec.tag_len`.
    pub fn tag(&self, seq: u32, data: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&seq.to_be_bytes());
        ctx.update(data);
        ctx.sign()
    }

    /// Checks a received tag in constant time.
    pub fn verify(&self, seq: u32, data: &[u8], tag: &[u8]) -> bool {
        let t = self.tag(seq, data);
        let want = &t.as_ref()[..self.spec.tag_len];
        want.len() == tag.len() && bool::from(want.ct_eq(tag))
    }
}
