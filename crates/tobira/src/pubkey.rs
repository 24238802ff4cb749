//! Public keys of every type tobira handles, as the wire carries them: the
//! key type name and the key blob (RFC 4253 §6.6).
//!
//! ssh-key 0.6's [`PublicKey`] has no type for `ssh-ed448` (RFC 8709): its
//! `Algorithm::Other` needs a `name@domain` name. The host-key trust
//! decision, known_hosts, authorized_keys and the client's identities
//! therefore work on [`AnyPublicKey`], which holds any key ssh-key reads
//! (checked and re-encoded by it) and `ssh-ed448` keys (checked here).

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ssh_key::PublicKey;

/// The key type (and signature algorithm) name of Ed448 keys (RFC 8709).
pub const ED448: &str = "ssh-ed448";
/// Length of an Ed448 public key (RFC 8032 §5.2.5).
const ED448_LEN: usize = 57;
/// Longest key type name accepted in a blob (ssh-key's limit for
/// certificate type names is 64; nothing real is longer).
const MAX_TYPE_LEN: usize = 64;

/// Why a public key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    /// The blob is not a valid key of a known type.
    #[error("invalid public key: {0}")]
    Invalid(String),
    /// The text names one key type and its blob holds another.
    #[error("key type {text} does not match the key's type {blob}")]
    TypeMismatch {
        /// The type named in the text.
        text: String,
        /// The type inside the blob.
        blob: String,
    },
}

/// A public key: its type name (`ssh-ed25519`, `ssh-ed448`, `ssh-rsa`,
/// `ecdsa-sha2-nistp256`...), its canonical blob, and a comment.
///
/// Two keys are the same key when their blobs are equal
/// ([`AnyPublicKey::same_key`]); comments do not count.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AnyPublicKey {
    key_type: String,
    blob: Vec<u8>,
    comment: String,
}

impl fmt::Debug for AnyPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyPublicKey")
            .field("key_type", &self.key_type)
            .field("fingerprint", &self.fingerprint())
            .field("comment", &self.comment)
            .finish()
    }
}

/// Reads one SSH `string` (RFC 4251 §5) from the front of `input`,
/// bounds-checked.
fn take_string<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len_bytes: [u8; 4] = input.get(..4)?.try_into().ok()?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
    let rest = input.get(4..)?;
    let value = rest.get(..len)?;
    *input = rest.get(len..)?;
    Some(value)
}

/// The key type name at the start of a blob, if it is printable ASCII of a
/// sane length.
pub fn blob_key_type(blob: &[u8]) -> Option<&str> {
    let mut rest = blob;
    let name = take_string(&mut rest)?;
    if name.is_empty() || name.len() > MAX_TYPE_LEN || !name.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    std::str::from_utf8(name).ok()
}

impl AnyPublicKey {
    /// Reads a public key blob (RFC 4253 §6.6), as a server sends its host
    /// key or a client its user key. `ssh-ed448` blobs must hold exactly the
    /// name and a 57-byte key; other types are checked and re-encoded by
    /// ssh-key, so that equal keys have equal blobs.
    pub fn from_blob(blob: &[u8]) -> Result<Self, PublicKeyError> {
        let key_type = blob_key_type(blob).ok_or_else(|| PublicKeyError::Invalid("bad key type".into()))?;
        if key_type == ED448 {
            let mut rest = blob;
            let _name = take_string(&mut rest);
            let key =
                take_string(&mut rest).ok_or_else(|| PublicKeyError::Invalid("truncated ssh-ed448 key".into()))?;
            if key.len() != ED448_LEN || !rest.is_empty() {
                return Err(PublicKeyError::Invalid("bad ssh-ed448 key length".into()));
            }
            return Ok(AnyPublicKey {
                key_type: ED448.to_string(),
                blob: blob.to_vec(),
                comment: String::new(),
            });
        }
        let key = PublicKey::from_bytes(blob).map_err(|e| PublicKeyError::Invalid(e.to_string()))?;
        Ok(AnyPublicKey::from(&key))
    }

    /// Reads the OpenSSH text form `type base64 [comment]` (a `.pub` file's
    /// line, or the key part of a known_hosts or authorized_keys line). The
    /// type must be the blob's own.
    pub fn from_openssh(text: &str) -> Result<Self, PublicKeyError> {
        let mut fields = text.trim().splitn(3, [' ', '\t']);
        let kind = fields.next().unwrap_or("");
        let b64 = fields.next().unwrap_or("");
        let comment = fields.next().unwrap_or("").trim();
        if kind.is_empty() || b64.is_empty() {
            return Err(PublicKeyError::Invalid("missing key".into()));
        }
        let mut key = if kind == ED448 {
            let blob = BASE64
                .decode(b64)
                .map_err(|e| PublicKeyError::Invalid(format!("base64: {e}")))?;
            let key = Self::from_blob(&blob)?;
            if key.key_type != kind {
                return Err(PublicKeyError::TypeMismatch {
                    text: kind.to_string(),
                    blob: key.key_type,
                });
            }
            key
        } else {
            let k = PublicKey::from_openssh(&format!("{kind} {b64}"))
                .map_err(|e| PublicKeyError::Invalid(e.to_string()))?;
            AnyPublicKey::from(&k)
        };
        key.comment = comment.to_string();
        Ok(key)
    }

    /// The key type name (`ssh-ed25519`, `ssh-ed448`, `ssh-rsa`...).
    pub fn key_type(&self) -> &str {
        &self.key_type
    }

    /// The key blob (RFC 4253 §6.6).
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// The comment (empty when there is none).
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// Replaces the comment.
    pub fn set_comment(&mut self, comment: impl Into<String>) {
        self.comment = comment.into();
    }

    /// Whether this is the same key as `other` (comments aside).
    pub fn same_key(&self, other: &AnyPublicKey) -> bool {
        self.blob == other.blob
    }

    /// The key as ssh-key's type, when it has one (not for `ssh-ed448`).
    pub fn to_ssh_key(&self) -> Option<PublicKey> {
        let mut k = PublicKey::from_bytes(&self.blob).ok()?;
        k.set_comment(self.comment.as_str());
        Some(k)
    }

    /// The SHA-256 fingerprint as OpenSSH prints it: `SHA256:` and the
    /// unpadded base64 of the digest of the blob.
    pub fn fingerprint(&self) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.blob);
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest.as_ref());
        format!("SHA256:{b64}")
    }

    /// The key type as OpenSSH's `sshkey_type()` names it in messages:
    /// `ED25519`, `ED448`, `ECDSA`, `RSA`, `DSA`, `ED25519-SK`, `ECDSA-SK`,
    /// else the type name in upper case.
    pub fn type_label(&self) -> String {
        type_label(&self.key_type)
    }

    /// `type base64` without the comment (OpenSSH's `sshkey_write()`).
    pub fn to_openssh_bare(&self) -> String {
        format!("{} {}", self.key_type, BASE64.encode(&self.blob))
    }

    /// `type base64 comment`, or `type base64` when the comment is empty.
    pub fn to_openssh(&self) -> String {
        let bare = self.to_openssh_bare();
        if self.comment.is_empty() {
            bare
        } else {
            format!("{bare} {}", self.comment)
        }
    }
}

/// OpenSSH's `sshkey_type()` name for a key type name (see
/// [`AnyPublicKey::type_label`]).
pub fn type_label(key_type: &str) -> String {
    match key_type {
        "ssh-ed25519" => "ED25519".into(),
        ED448 => "ED448".into(),
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => "ECDSA".into(),
        "ssh-rsa" => "RSA".into(),
        "ssh-dss" => "DSA".into(),
        "sk-ssh-ed25519@openssh.com" => "ED25519-SK".into(),
        "sk-ecdsa-sha2-nistp256@openssh.com" => "ECDSA-SK".into(),
        other => other.to_ascii_uppercase(),
    }
}

impl From<&PublicKey> for AnyPublicKey {
    fn from(key: &PublicKey) -> Self {
        AnyPublicKey {
            key_type: key.algorithm().as_str().to_string(),
            // Encoding an in-memory key cannot fail in practice; an empty
            // blob would match no other key.
            blob: key.to_bytes().unwrap_or_default(),
            comment: key.comment().to_string(),
        }
    }
}

impl From<PublicKey> for AnyPublicKey {
    fn from(key: PublicKey) -> Self {
        AnyPublicKey::from(&key)
    }
}

/// Reads a public key file (`type base64 [comment]`; the first line that is
/// neither blank nor a comment), of any type including `ssh-ed448`.
pub fn load_public(path: &Path) -> Result<AnyPublicKey, crate::keyfile::KeyFileError> {
    let bytes = std::fs::read(path).map_err(|e| crate::keyfile::KeyFileError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| crate::keyfile::KeyFileError::InvalidFormat)?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or(crate::keyfile::KeyFileError::InvalidFormat)?;
    AnyPublicKey::from_openssh(line).map_err(|_| crate::keyfile::KeyFileError::InvalidFormat)
}

/// The public half of a private key file of any type, without decrypting
/// it (see [`crate::keyfile::load_public_blob_from_private`]).
pub fn load_public_from_private(path: &Path) -> Result<AnyPublicKey, crate::keyfile::KeyFileError> {
    let (blob, comment) = crate::keyfile::load_public_blob_from_private(path)?;
    let mut key = AnyPublicKey::from_blob(&blob).map_err(|_| crate::keyfile::KeyFileError::InvalidFormat)?;
    key.set_comment(comment);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    // `puttygen -t ed448 -C tested448`, then `puttygen -L` and `-l`.
    const ED448_LINE: &str = "ssh-ed448 AAAACXNzaC1lZDQ0OAAAADngoFvvNL3FAVti882HXOP2zbyKJRkRGLrYLeGYKPwTf/GzGyYhaeLzMBwg0riqqczxT18Do51czIA= tested448";
    const ED448_FP: &str = "SHA256:k02Oun4Vx52/6IZ3OMJI3idPZrdFu8UfPi/VUj0aQrU";
    const ED25519_LINE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHHkwN5cLoNSyLQKr1pySgeY3/MJyoknlqVZR2wxQTjI testa";
    const ED25519_FP: &str = "SHA256:eHq3Ue8gJ0GAf2xN2YdfAGjGlTAKnoCUrzJsFWXQYpY";

    #[test]
    fn ed448_line_and_fingerprint() {
        let k = AnyPublicKey::from_openssh(ED448_LINE).unwrap();
        assert_eq!(k.key_type(), ED448);
        assert_eq!(k.blob().len(), 4 + 9 + 4 + 57);
        assert_eq!(k.comment(), "tested448");
        assert_eq!(k.fingerprint(), ED448_FP);
        assert_eq!(k.type_label(), "ED448");
        assert_eq!(k.to_openssh(), ED448_LINE);
        assert!(k.to_ssh_key().is_none());
        let again = AnyPublicKey::from_blob(k.blob()).unwrap();
        assert!(again.same_key(&k));
        assert_eq!(again.comment(), "");
    }

    #[test]
    fn ssh_key_types_unchanged() {
        let k = AnyPublicKey::from_openssh(ED25519_LINE).unwrap();
        assert_eq!(k.key_type(), "ssh-ed25519");
        assert_eq!(k.fingerprint(), ED25519_FP);
        assert_eq!(k.type_label(), "ED25519");
        assert_eq!(k.to_openssh(), ED25519_LINE);
        let ssh = k.to_ssh_key().unwrap();
        assert_eq!(ssh.fingerprint(ssh_key::HashAlg::Sha256).to_string(), ED25519_FP);
        assert!(AnyPublicKey::from(&ssh).same_key(&k));
    }

    #[test]
    fn hostile_blobs_refused() {
        let good = AnyPublicKey::from_openssh(ED448_LINE).unwrap();
        let blob = good.blob();
        // Every truncation, and one byte too many.
        for n in 0..blob.len() {
            assert!(AnyPublicKey::from_blob(&blob[..n]).is_err(), "{n}");
        }
        let mut long = blob.to_vec();
        long.push(0);
        assert!(AnyPublicKey::from_blob(&long).is_err());
        // A length field pointing far past the end.
        let mut huge = blob.to_vec();
        huge[13..17].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(AnyPublicKey::from_blob(&huge).is_err());
        assert!(AnyPublicKey::from_blob(&[0xff; 4]).is_err());
        assert!(AnyPublicKey::from_blob(&[]).is_err());
        // The text's type must be the blob's.
        let ed25519_b64 = ED25519_LINE.split(' ').nth(1).unwrap();
        assert!(AnyPublicKey::from_openssh(&format!("ssh-ed448 {ed25519_b64}")).is_err());
        let ed448_b64 = ED448_LINE.split(' ').nth(1).unwrap();
        assert!(AnyPublicKey::from_openssh(&format!("ssh-ed25519 {ed448_b64}")).is_err());
        assert!(AnyPublicKey::from_openssh("ssh-ed448 !!!").is_err());
        assert!(AnyPublicKey::from_openssh("ssh-ed448").is_err());
    }
}
