//! Algorithm tables and the small per-family wrappers around the crypto
//! backends (aws-lc-rs for AES-GCM, HMAC, digests; RustCrypto for AES-CTR;
//! chacha20-poly1305@openssh.com from either, by the CPU: `chacha_poly`).

mod chacha_keystream;
pub mod chacha_poly;
pub mod cipher;
pub mod mac;
pub mod umac;

use aws_lc_rs::digest;

/// Hash functions used by key exchange methods (RFC 4253 §8, RFC 5656 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1 (legacy key exchanges only; off by default).
    Sha1,
    /// SHA-256
    Sha256,
    /// SHA-384
    Sha384,
    /// SHA-512
    Sha512,
}

impl HashAlg {
    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        self.algorithm().output_len()
    }

    /// Starts an incremental hash.
    pub fn context(self) -> digest::Context {
        digest::Context::new(self.algorithm())
    }

    /// Hashes `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.algorithm(), data).as_ref().to_vec()
    }
}
