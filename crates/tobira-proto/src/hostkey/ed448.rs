//! `ssh-ed448` (RFC 8709): pure Ed448 of RFC 8032 §5.2 with an empty
//! context. The public key blob is `string "ssh-ed448", string key` with
//! the 57-byte encoded point (RFC 8709 §4); the signature blob is
//! `string "ssh-ed448", string signature` with the 114-byte `R || S` (RFC
//! 8709 §6).

use ed448_goldilocks_plus::{
    SecretKey, Signature, SigningKey as Ed448Secret, VerifyingKey, PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH,
    SIGNATURE_LENGTH,
};

use super::{bad_sig, KeyError};
use crate::error::Error;
use crate::wire::Reader;

/// The key type and signature algorithm name (RFC 8709 §4).
pub(super) const NAME: &str = "ssh-ed448";

/// An Ed448 private key with its public key.
pub(super) struct Ed448Key {
    secret: Ed448Secret,
    public: [u8; PUBLIC_KEY_LENGTH],
}

impl Ed448Key {
    /// Builds the key from the 57-byte private key of RFC 8032 §5.2.5 and,
    /// when given, checks that `public` is the key it derives.
    pub(super) fn new(secret: &[u8], public: Option<&[u8]>) -> Result<Self, KeyError> {
        if secret.len() != SECRET_KEY_LENGTH {
            return Err(KeyError::Invalid(
                "ed448",
                format!("private key is {} bytes, not {SECRET_KEY_LENGTH}", secret.len()),
            ));
        }
        let secret = Ed448Secret::from(SecretKey::clone_from_slice(secret));
        let derived = secret.verifying_key().to_bytes();
        if let Some(given) = public {
            if given != derived.as_slice() {
                return Err(KeyError::Invalid(
                    "ed448",
                    "public key does not match the private key".into(),
                ));
            }
        }
        Ok(Ed448Key {
            secret,
            public: derived,
        })
    }

    /// The 57-byte encoded public key.
    pub(super) fn public(&self) -> &[u8; PUBLIC_KEY_LENGTH] {
        &self.public
    }

    /// The 114-byte Ed448 signature of `data` (RFC 8032 §5.2.6, empty context).
    pub(super) fn sign(&self, data: &[u8]) -> [u8; SIGNATURE_LENGTH] {
        self.secret.sign_raw(data).to_bytes()
    }
}

/// Verifies the raw signature `sig` over `data` by the key whose blob
/// `kr` is positioned after the key type name. `Ok(false)` is a
/// well-formed signature that does not verify.
pub(super) fn verify(kr: &mut Reader<'_>, data: &[u8], sig: &[u8]) -> Result<bool, Error> {
    let pk = kr.string().map_err(|_| bad_sig("malformed ed448 key"))?;
    kr.finish().map_err(|_| bad_sig("trailing data in key"))?;
    let pk: &[u8; PUBLIC_KEY_LENGTH] = pk.try_into().map_err(|_| bad_sig("bad ed448 key length"))?;
    let sig: &[u8; SIGNATURE_LENGTH] = sig.try_into().map_err(|_| bad_sig("bad ed448 signature length"))?;
    let key = VerifyingKey::from_bytes(pk).map_err(|_| bad_sig("invalid ed448 public key"))?;
    // A signature whose R is not a point or whose S is not reduced
    // (RFC 8032 §5.2.7 step 1) is simply not valid.
    let Ok(sig) = Signature::from_bytes(sig) else {
        return Ok(false);
    };
    Ok(key.verify_raw(&sig, data).is_ok())
}
