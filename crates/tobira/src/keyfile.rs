//! OpenSSH key files: generating key pairs, reading and writing private
//! and public key files, fingerprints and the "randomart" picture.
//!
//! Private keys are written in OpenSSH's own format (`BEGIN OPENSSH PRIVATE
//! KEY`), encrypted with `aes256-ctr` and `bcrypt-pbkdf` when a passphrase
//! is given, exactly as `ssh-keygen` writes them. Besides that format,
//! [`load_private`] reads the unencrypted PEM formats OpenSSL and older
//! `ssh-keygen` versions write: PKCS#1 (`BEGIN RSA PRIVATE KEY`), SEC1
//! (`BEGIN EC PRIVATE KEY`) and PKCS#8 (`BEGIN PRIVATE KEY`).
//!
//! ssh-key 0.6 has no type for `ssh-ed448` keys (RFC 8709), which PuTTY
//! writes in OpenSSH's format: [`load_any_private`] and [`load_signing_key`]
//! read those too, as an [`Ed448Keypair`]. DSA keys (`ssh-dss`, RFC 4253
//! §6.6) in OpenSSH's format load like the others.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use md5::{Digest, Md5};
use rand_core::OsRng;
use ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, PrivateKey, PublicKey};
use tobira_proto::hostkey::{KeyError, SigningKey};
use zeroize::Zeroizing;

/// The smallest RSA modulus `ssh-keygen` accepts, in bits.
pub const RSA_MIN_BITS: usize = 1024;
/// The largest RSA modulus `ssh-keygen` accepts, in bits.
pub const RSA_MAX_BITS: usize = 16384;
/// The RSA modulus size used when none is asked for, in bits.
pub const RSA_DEFAULT_BITS: usize = 3072;

/// Errors of reading, writing and generating key files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// A key type name that is not known at all.
    #[error("unknown key type {0}")]
    UnknownKeyType(String),
    /// A key type that is known but that tobira cannot generate.
    #[error("key type {0} is not supported yet")]
    UnsupportedKeyType(String),
    /// A key size that is not valid for the key type.
    #[error("Invalid {kind} key length: {reason}")]
    InvalidKeyLength {
        /// Key type, as `ssh-keygen` names it in this message (`RSA`, `ECDSA`).
        kind: &'static str,
        /// Why the size was refused.
        reason: String,
    },
    /// Generating the key failed in the cryptographic library.
    #[error("key generation failed: {0}")]
    Generation(String),
    /// Reading or writing a file failed.
    #[error("{}: {}", path.display(), io_message(source))]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The private key is encrypted and no passphrase was given.
    #[error("passphrase required to decrypt the private key")]
    PassphraseRequired,
    /// The passphrase given does not decrypt the private key.
    #[error("incorrect passphrase supplied to decrypt private key")]
    BadPassphrase,
    /// The file is not a key in any format tobira reads.
    #[error("invalid format")]
    InvalidFormat,
    /// The file is a key in a format or with a feature tobira does not read.
    #[error("unsupported key format: {0}")]
    UnsupportedFormat(String),
    /// An operation needed the decrypted key but was given an encrypted one.
    #[error("the private key is encrypted")]
    Encrypted,
    /// Encoding, decoding, encrypting or decrypting a key failed.
    #[error("{0}")]
    Key(ssh_key::Error),
    /// The key was read but cannot sign (an unsupported type, or key
    /// material the signing code refuses).
    #[error("{0}")]
    Signing(KeyError),
}

/// `io::Error`'s text without the trailing " (os error N)".
fn io_message(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The kinds of key pairs tobira generates (`ssh-keygen -t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Ed25519 (`ssh-ed25519`).
    Ed25519,
    /// ECDSA over NIST P-256, P-384 or P-521 (`ecdsa-sha2-nistp*`).
    Ecdsa,
    /// RSA (`ssh-rsa`, signing with `rsa-sha2-256`/`rsa-sha2-512`).
    Rsa,
}

impl KeyType {
    /// The short name, as given to `-t`: `ed25519`, `ecdsa` or `rsa`.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::Ecdsa => "ecdsa",
            KeyType::Rsa => "rsa",
        }
    }

    /// The default file name in `~/.ssh`: `id_ed25519`, `id_ecdsa`, `id_rsa`.
    pub fn default_file_name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "id_ed25519",
            KeyType::Ecdsa => "id_ecdsa",
            KeyType::Rsa => "id_rsa",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyType {
    type Err = KeyFileError;

    /// Parses a `-t` name: `ed25519`, `ecdsa`, `rsa`, or a full algorithm
    /// name such as `ssh-ed25519`. `ed448` and `dsa` are refused with
    /// [`KeyFileError::UnsupportedKeyType`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ed25519" | "ssh-ed25519" => Ok(KeyType::Ed25519),
            "ecdsa" | "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => Ok(KeyType::Ecdsa),
            "rsa" | "ssh-rsa" => Ok(KeyType::Rsa),
            "ed448"
            | "ssh-ed448"
            | "dsa"
            | "ssh-dss"
            | "ecdsa-sk"
            | "ed25519-sk"
            | "sk-ecdsa-sha2-nistp256@openssh.com"
            | "sk-ssh-ed25519@openssh.com" => Err(KeyFileError::UnsupportedKeyType(s.to_string())),
            _ => Err(KeyFileError::UnknownKeyType(s.to_string())),
        }
    }
}

/// The digests a fingerprint can be made with (`ssh-keygen -E`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FingerprintHash {
    /// MD5, shown as colon-separated hex: `MD5:aa:bb:...`.
    Md5,
    /// SHA-256, shown as unpadded base64: `SHA256:...` (the default).
    #[default]
    Sha256,
    /// SHA-512, shown as unpadded base64: `SHA512:...`.
    Sha512,
}

impl FingerprintHash {
    /// The name shown in fingerprints and randomart: `MD5`, `SHA256`, `SHA512`.
    pub fn label(self) -> &'static str {
        match self {
            FingerprintHash::Md5 => "MD5",
            FingerprintHash::Sha256 => "SHA256",
            FingerprintHash::Sha512 => "SHA512",
        }
    }

    /// The raw digest of a public key blob.
    fn digest(self, key: &PublicKey) -> Vec<u8> {
        match self {
            FingerprintHash::Md5 => {
                let blob = key_blob(key);
                Md5::digest(&blob).to_vec()
            }
            FingerprintHash::Sha256 => key.fingerprint(HashAlg::Sha256).as_bytes().to_vec(),
            FingerprintHash::Sha512 => key.fingerprint(HashAlg::Sha512).as_bytes().to_vec(),
        }
    }
}

impl From<HashAlg> for FingerprintHash {
    fn from(h: HashAlg) -> Self {
        match h {
            HashAlg::Sha512 => FingerprintHash::Sha512,
            _ => FingerprintHash::Sha256,
        }
    }
}

impl FromStr for FingerprintHash {
    type Err = String;

    /// Parses `md5`, `sha256` or `sha512`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "md5" => Ok(FingerprintHash::Md5),
            "sha256" => Ok(FingerprintHash::Sha256),
            "sha512" => Ok(FingerprintHash::Sha512),
            _ => Err(format!("Invalid hash algorithm \"{s}\"")),
        }
    }
}

/// Checks a key size for a key type as [`generate`] would, without
/// generating anything: returns the size that will be used.
pub fn check_bits(kind: KeyType, bits: Option<usize>) -> Result<usize, KeyFileError> {
    match kind {
        KeyType::Ed25519 => Ok(256),
        KeyType::Ecdsa => match bits {
            None => Ok(256),
            Some(b @ (256 | 384 | 521)) => Ok(b),
            Some(_) => Err(KeyFileError::InvalidKeyLength {
                kind: "ECDSA",
                reason: "valid lengths are 256, 384 or 521 bits".into(),
            }),
        },
        KeyType::Rsa => {
            let bits = bits.unwrap_or(RSA_DEFAULT_BITS);
            let reason = if bits < RSA_MIN_BITS {
                format!("minimum is {RSA_MIN_BITS} bits")
            } else if bits > RSA_MAX_BITS {
                format!("maximum is {RSA_MAX_BITS} bits")
            } else if matches!(bits, 2048 | 3072 | 4096 | 8192) {
                return Ok(bits);
            } else {
                format!("{bits} bits is not supported (use 2048, 3072, 4096 or 8192)")
            };
            Err(KeyFileError::InvalidKeyLength { kind: "RSA", reason })
        }
    }
}

/// Generates a new key pair of the given type, with the given comment.
///
/// `bits` is the key size: ignored for Ed25519; 256 (default), 384 or 521
/// for ECDSA; for RSA 2048, 3072 (default), 4096 or 8192 (sizes from 1024
/// to 16384 are valid for `ssh-keygen` but others are refused here; see
/// [`check_bits`]).
pub fn generate(kind: KeyType, bits: Option<usize>, comment: &str) -> Result<PrivateKey, KeyFileError> {
    let bits = check_bits(kind, bits)?;
    let mut key = match kind {
        KeyType::Ed25519 => PrivateKey::from(Ed25519Keypair::random(&mut OsRng)),
        KeyType::Ecdsa => {
            let curve = match bits {
                384 => EcdsaCurve::NistP384,
                521 => EcdsaCurve::NistP521,
                _ => EcdsaCurve::NistP256,
            };
            PrivateKey::from(EcdsaKeypair::random(&mut OsRng, curve).map_err(KeyFileError::Key)?)
        }
        KeyType::Rsa => PrivateKey::from(generate_rsa(bits)?),
    };
    key.set_comment(comment);
    Ok(key)
}

/// Generates an RSA key with aws-lc (much faster than the pure-Rust
/// generator) and converts it through PKCS#8 into ssh-key's type. `bits`
/// has passed [`check_bits`].
fn generate_rsa(bits: usize) -> Result<RsaKeypair, KeyFileError> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use rsa::pkcs8::DecodePrivateKey;

    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => KeySize::Rsa8192,
    };
    let pair =
        KeyPair::generate(size).map_err(|_| KeyFileError::Generation("RSA key pair generation failed".into()))?;
    let der: Pkcs8V1Der<'static> = pair
        .as_der()
        .map_err(|_| KeyFileError::Generation("RSA key export failed".into()))?;
    let private = rsa::RsaPrivateKey::from_pkcs8_der(der.as_ref())
        .map_err(|e| KeyFileError::Generation(format!("RSA key import failed: {e}")))?;
    RsaKeypair::try_from(&private).map_err(KeyFileError::Key)
}

/// The PEM block labelled `label` in `text` (from its BEGIN line through
/// its END line), if there is one.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

/// Parsed private key text, before any decryption.
enum Parsed<'a> {
    /// OpenSSH's format (maybe encrypted).
    OpenSsh(PrivateKey),
    /// A PEM format, already decoded.
    Pem(PrivateKey),
    /// An `ssh-ed448` key in OpenSSH's format (maybe encrypted), which
    /// ssh-key cannot represent: its PEM block, for [`openssh_fallback`].
    Ed448(&'a str),
}

/// The error for an `ssh-ed448` key given to a function returning ssh-key's
/// [`PrivateKey`] or [`PublicKey`], which have no Ed448 type.
fn ed448_unsupported() -> KeyFileError {
    KeyFileError::UnsupportedFormat(format!(
        "key algorithm: {ED448} (readable with load_any_private or load_signing_key)"
    ))
}

fn parse_private(text: &str) -> Result<Parsed<'_>, KeyFileError> {
    if let Some(block) = pem_block(text, "OPENSSH PRIVATE KEY") {
        if Container::parse(block).is_ok_and(|c| c.key_type() == Some(ED448.as_bytes())) {
            return Ok(Parsed::Ed448(block));
        }
        return match PrivateKey::from_openssh(block) {
            Ok(k) => Ok(Parsed::OpenSsh(k)),
            Err(e @ (ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. })) => {
                Err(KeyFileError::UnsupportedFormat(format!("key algorithm: {e}")))
            }
            // ssh-key 0.6 rejects ECDSA private scalars OpenSSH wrote as
            // shorter mpints (half of all P-521 keys): decode those here.
            Err(_) => match openssh_fallback(block, None) {
                Ok(AnyPrivateKey::OpenSsh(k)) => Ok(Parsed::OpenSsh(k)),
                _ => Err(KeyFileError::InvalidFormat),
            },
        };
    }
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(KeyFileError::UnsupportedFormat(
            "encrypted PKCS#8 keys are not supported".into(),
        ));
    }
    if let Some(block) = pem_block(text, "RSA PRIVATE KEY") {
        if block.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(KeyFileError::UnsupportedFormat(
                "encrypted PEM keys are not supported".into(),
            ));
        }
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(block).map_err(|_| KeyFileError::InvalidFormat)?;
        return rsa_to_private(&key).map(Parsed::Pem);
    }
    if let Some(block) = pem_block(text, "EC PRIVATE KEY") {
        if block.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(KeyFileError::UnsupportedFormat(
                "encrypted PEM keys are not supported".into(),
            ));
        }
        if let Ok(k) = p256::SecretKey::from_sec1_pem(block) {
            return Ok(Parsed::Pem(p256_to_private(k)));
        }
        if let Ok(k) = p384::SecretKey::from_sec1_pem(block) {
            return Ok(Parsed::Pem(p384_to_private(k)));
        }
        if let Ok(k) = p521::SecretKey::from_sec1_pem(block) {
            return Ok(Parsed::Pem(p521_to_private(k)));
        }
        return Err(KeyFileError::InvalidFormat);
    }
    if let Some(block) = pem_block(text, "PRIVATE KEY") {
        use pkcs8_traits::DecodePrivateKey;
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(block) {
            return rsa_to_private(&k).map(Parsed::Pem);
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(block) {
            return Ok(Parsed::Pem(PrivateKey::from(Ed25519Keypair::from(k))));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_pem(block) {
            return Ok(Parsed::Pem(p256_to_private(k)));
        }
        if let Ok(k) = p384::SecretKey::from_pkcs8_pem(block) {
            return Ok(Parsed::Pem(p384_to_private(k)));
        }
        if let Ok(k) = p521::SecretKey::from_pkcs8_pem(block) {
            return Ok(Parsed::Pem(p521_to_private(k)));
        }
        return Err(KeyFileError::UnsupportedFormat(
            "PKCS#8 key of an unsupported algorithm".into(),
        ));
    }
    Err(KeyFileError::InvalidFormat)
}

/// A reader of SSH wire encoding over a byte slice.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], KeyFileError> {
        if self.0.len() < n {
            return Err(KeyFileError::InvalidFormat);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, KeyFileError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<&'a [u8], KeyFileError> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }
}

/// Right-aligns a minimal big-endian scalar in an `N`-byte buffer.
fn padded_scalar<const N: usize>(scalar: &[u8]) -> Result<zeroize::Zeroizing<[u8; N]>, KeyFileError> {
    let digits = match scalar.iter().position(|&b| b != 0) {
        Some(i) => &scalar[i..],
        None => return Err(KeyFileError::InvalidFormat),
    };
    if digits.len() > N {
        return Err(KeyFileError::InvalidFormat);
    }
    let mut out = zeroize::Zeroizing::new([0u8; N]);
    out[N - digits.len()..].copy_from_slice(digits);
    Ok(out)
}

/// The key type name of Ed448 keys (RFC 8709 §4).
const ED448: &str = "ssh-ed448";

/// Bytes of an Ed448 private key and of a public key (RFC 8032 §5.2.5).
const ED448_LEN: usize = 57;

/// The outer layer of an OpenSSH-format private key (PROTOCOL.key), read
/// without ssh-key: `"openssh-key-v1\0"`, the cipher and KDF, one public
/// key blob (in the clear) and the private section (maybe encrypted).
struct Container {
    cipher_name: String,
    kdf_name: Vec<u8>,
    kdf_options: Vec<u8>,
    public_blob: Vec<u8>,
    sealed: Vec<u8>,
    tag: Vec<u8>,
}

impl Container {
    fn parse(block: &str) -> Result<Self, KeyFileError> {
        use base64::Engine as _;

        let body: String = block
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| KeyFileError::InvalidFormat)?;
        let mut w = Wire(&raw);
        if w.bytes(15)? != b"openssh-key-v1\0" {
            return Err(KeyFileError::InvalidFormat);
        }
        let cipher_name = std::str::from_utf8(w.string()?)
            .map_err(|_| KeyFileError::InvalidFormat)?
            .to_string();
        let kdf_name = w.string()?.to_vec();
        let kdf_options = w.string()?.to_vec();
        if w.u32()? != 1 {
            return Err(KeyFileError::UnsupportedFormat("more than one key in a file".into()));
        }
        let public_blob = w.string()?.to_vec();
        let sealed = w.string()?.to_vec();
        Ok(Container {
            cipher_name,
            kdf_name,
            kdf_options,
            public_blob,
            sealed,
            tag: w.0.to_vec(),
        })
    }

    /// The key type name at the start of the public key blob.
    fn key_type(&self) -> Option<&[u8]> {
        Wire(&self.public_blob).string().ok()
    }

    fn is_encrypted(&self) -> bool {
        self.cipher_name != "none"
    }

    /// The private section, decrypted with `passphrase` when the key is
    /// encrypted, after its two check integers (which must agree).
    fn open(&self, passphrase: Option<&str>) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
        let cipher = ssh_key::Cipher::new(&self.cipher_name)
            .map_err(|_| KeyFileError::UnsupportedFormat(format!("cipher {}", self.cipher_name)))?;
        // As OpenSSH's `private2_decrypt`: a known KDF, and one unless
        // there is no cipher.
        if self.kdf_name != b"none" && self.kdf_name != b"bcrypt" {
            return Err(KeyFileError::UnsupportedFormat("key derivation function".into()));
        }
        if self.kdf_name == b"none" && !cipher.is_none() {
            return Err(KeyFileError::InvalidFormat);
        }
        let mut plain = Zeroizing::new(self.sealed.clone());
        if !cipher.is_none() {
            let pass = passphrase.ok_or(KeyFileError::PassphraseRequired)?;
            let mut opts = Wire(&self.kdf_options);
            let salt = opts.string()?.to_vec();
            let rounds = opts.u32()?;
            let kdf = ssh_key::Kdf::Bcrypt { salt, rounds };
            let (key, iv) = kdf.derive_key_and_iv(cipher, pass).map_err(KeyFileError::Key)?;
            let tag = if cipher.has_tag() {
                Some(<[u8; 16]>::try_from(self.tag.as_slice()).map_err(|_| KeyFileError::InvalidFormat)?)
            } else {
                None
            };
            cipher
                .decrypt(&key, &iv, &mut plain, tag)
                .map_err(|_| KeyFileError::BadPassphrase)?;
        }
        let mut p = Wire(&plain);
        if p.u32()? != p.u32()? {
            return Err(if cipher.is_none() {
                KeyFileError::InvalidFormat
            } else {
                KeyFileError::BadPassphrase
            });
        }
        Ok(Zeroizing::new(p.0.to_vec()))
    }
}

/// Decodes the ECDSA fields of a private section after the key type:
/// `string curve, string point, mpint scalar`.
fn decode_ecdsa(key_type: &[u8], p: &mut Wire<'_>) -> Result<EcdsaKeypair, KeyFileError> {
    let _curve = p.string()?;
    let point = p.string()?;
    let scalar = p.string()?;
    let pair = match key_type {
        b"ecdsa-sha2-nistp256" => {
            let k =
                p256::SecretKey::from_slice(&*padded_scalar::<32>(scalar)?).map_err(|_| KeyFileError::InvalidFormat)?;
            EcdsaKeypair::NistP256 {
                public: k.public_key().into(),
                private: k.into(),
            }
        }
        b"ecdsa-sha2-nistp384" => {
            let k =
                p384::SecretKey::from_slice(&*padded_scalar::<48>(scalar)?).map_err(|_| KeyFileError::InvalidFormat)?;
            EcdsaKeypair::NistP384 {
                public: k.public_key().into(),
                private: k.into(),
            }
        }
        b"ecdsa-sha2-nistp521" => {
            let k =
                p521::SecretKey::from_slice(&*padded_scalar::<66>(scalar)?).map_err(|_| KeyFileError::InvalidFormat)?;
            EcdsaKeypair::NistP521 {
                public: k.public_key().into(),
                private: k.into(),
            }
        }
        _ => return Err(KeyFileError::InvalidFormat),
    };
    if pair.public_key_bytes() != point {
        return Err(KeyFileError::InvalidFormat);
    }
    Ok(pair)
}

/// Decodes the Ed448 fields of a private section after the key type, laid
/// out as for Ed25519 (PROTOCOL.key; PuTTY writes them so): `string
/// public` (57 bytes), `string private || public` (114 bytes; a bare
/// 57-byte private key is accepted too).
fn decode_ed448(p: &mut Wire<'_>) -> Result<(Zeroizing<[u8; ED448_LEN]>, [u8; ED448_LEN]), KeyFileError> {
    let public: [u8; ED448_LEN] = p.string()?.try_into().map_err(|_| KeyFileError::InvalidFormat)?;
    let both = p.string()?;
    let secret = match both.len() {
        ED448_LEN => both,
        n if n == 2 * ED448_LEN && both[ED448_LEN..] == public => &both[..ED448_LEN],
        _ => return Err(KeyFileError::InvalidFormat),
    };
    let mut out = Zeroizing::new([0u8; ED448_LEN]);
    out.copy_from_slice(secret);
    Ok((out, public))
}

/// Decodes an OpenSSH-format private key without ssh-key's private-key
/// decoder, decrypting it with `passphrase` when it is encrypted. Used for
/// the keys that decoder refuses:
///
/// - ECDSA keys whose private scalar OpenSSH wrote as a minimal mpint, so
///   shorter than the field size when its top bytes are zero (about half
///   of P-521 keys, 1 in 256 others), which ssh-key 0.6 requires in full;
/// - `ssh-ed448` keys (RFC 8709), for which ssh-key 0.6 has no type.
///
/// The private section's padding and the clear public key must agree with
/// the key, as OpenSSH checks.
fn openssh_fallback(block: &str, passphrase: Option<&str>) -> Result<AnyPrivateKey, KeyFileError> {
    let container = Container::parse(block)?;
    let plain = container.open(passphrase)?;
    let mut p = Wire(&plain);
    let key_type = p.string()?;
    let (key, public_blob) = if key_type == ED448.as_bytes() {
        let (secret, public) = decode_ed448(&mut p)?;
        let comment = String::from_utf8_lossy(p.string()?).into_owned();
        let key = Ed448Keypair {
            secret,
            public,
            comment,
        };
        // The public key must be the one the private key derives.
        key.signing_key().map_err(|_| KeyFileError::InvalidFormat)?;
        let blob = key.public_blob();
        (AnyPrivateKey::Ed448(key), blob)
    } else {
        let pair = decode_ecdsa(key_type, &mut p)?;
        let comment = String::from_utf8_lossy(p.string()?).into_owned();
        let key = PrivateKey::new(KeypairData::Ecdsa(pair), comment).map_err(KeyFileError::Key)?;
        let blob = key.public_key().to_bytes().map_err(KeyFileError::Key)?;
        (AnyPrivateKey::OpenSsh(key), blob)
    };
    // Deterministic padding 1, 2, 3... to the cipher's block size.
    if p.0.len() >= 256 || p.0.iter().enumerate().any(|(i, &b)| usize::from(b) != i + 1) {
        return Err(KeyFileError::InvalidFormat);
    }
    // The file's clear public key must be the one the private key gives.
    if container.public_blob != public_blob {
        return Err(KeyFileError::InvalidFormat);
    }
    Ok(key)
}

/// An `ssh-ed448` key pair (RFC 8709; Ed448 of RFC 8032 §5.2) read from an
/// OpenSSH-format private key file, as PuTTY writes them. ssh-key 0.6 has no
/// Ed448 type, so such keys are kept apart from [`PrivateKey`].
#[derive(Clone)]
pub struct Ed448Keypair {
    secret: Zeroizing<[u8; ED448_LEN]>,
    public: [u8; ED448_LEN],
    comment: String,
}

impl fmt::Debug for Ed448Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed448Keypair")
            .field("public", &self.public)
            .field("comment", &self.comment)
            .finish_non_exhaustive()
    }
}

impl Ed448Keypair {
    /// The 57-byte public key (RFC 8032 §5.2.5).
    pub fn public_bytes(&self) -> &[u8; ED448_LEN] {
        &self.public
    }

    /// The public key blob: `string "ssh-ed448", string key` (RFC 8709 §4).
    pub fn public_blob(&self) -> Vec<u8> {
        let mut blob = Vec::with_capacity(4 + ED448.len() + 4 + ED448_LEN);
        for part in [ED448.as_bytes(), &self.public] {
            blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
            blob.extend_from_slice(part);
        }
        blob
    }

    /// The key's comment.
    pub fn comment(&self) -> &str {
        &self.comment
    }

    /// The public key line `ssh-ed448 base64 comment` (without the comment
    /// part when it is empty), without a newline.
    pub fn public_line(&self) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.public_blob());
        if self.comment.is_empty() {
            format!("{ED448} {b64}")
        } else {
            format!("{ED448} {b64} {}", self.comment)
        }
    }

    /// A key signing with `ssh-ed448` (RFC 8709).
    pub fn signing_key(&self) -> Result<SigningKey, KeyFileError> {
        SigningKey::from_ed448(&*self.secret, Some(&self.public)).map_err(KeyFileError::Signing)
    }
}

/// A decrypted private key of any type tobira signs with: one ssh-key
/// represents, or an Ed448 key pair, which it cannot.
// Made once per key file read, never stored in bulk: the size difference
// between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AnyPrivateKey {
    /// Ed25519, ECDSA, RSA or DSA (and types tobira cannot sign with).
    OpenSsh(PrivateKey),
    /// `ssh-ed448` (RFC 8709).
    Ed448(Ed448Keypair),
}

impl AnyPrivateKey {
    /// The key type name (RFC 4253 §6.6): `ssh-ed25519`, `ssh-ed448`,
    /// `ssh-rsa`, `ssh-dss`, `ecdsa-sha2-nistp256`...
    pub fn key_type(&self) -> String {
        match self {
            AnyPrivateKey::OpenSsh(k) => k.algorithm().as_str().to_string(),
            AnyPrivateKey::Ed448(_) => ED448.to_string(),
        }
    }

    /// The public key blob (RFC 4253 §6.6).
    pub fn public_blob(&self) -> Vec<u8> {
        match self {
            AnyPrivateKey::OpenSsh(k) => key_blob(k.public_key()),
            AnyPrivateKey::Ed448(k) => k.public_blob(),
        }
    }

    /// The key's comment.
    pub fn comment(&self) -> &str {
        match self {
            AnyPrivateKey::OpenSsh(k) => k.comment(),
            AnyPrivateKey::Ed448(k) => k.comment(),
        }
    }

    /// A key signing with the algorithms of its type (see
    /// `tobira_proto::hostkey::algorithms_for_key_type`).
    pub fn signing_key(&self) -> Result<SigningKey, KeyFileError> {
        match self {
            AnyPrivateKey::OpenSsh(k) => SigningKey::from_ssh_key(k).map_err(KeyFileError::Signing),
            AnyPrivateKey::Ed448(k) => k.signing_key(),
        }
    }
}

/// The PKCS#8 decoding trait, as re-exported by the curve crates.
mod pkcs8_traits {
    pub use p256::pkcs8::DecodePrivateKey;
}

fn rsa_to_private(key: &rsa::RsaPrivateKey) -> Result<PrivateKey, KeyFileError> {
    RsaKeypair::try_from(key)
        .map(PrivateKey::from)
        .map_err(|_| KeyFileError::UnsupportedFormat("RSA keys under 2048 bits".into()))
}

fn p256_to_private(k: p256::SecretKey) -> PrivateKey {
    let public = k.public_key().into();
    PrivateKey::from(EcdsaKeypair::NistP256 {
        public,
        private: k.into(),
    })
}

fn p384_to_private(k: p384::SecretKey) -> PrivateKey {
    let public = k.public_key().into();
    PrivateKey::from(EcdsaKeypair::NistP384 {
        public,
        private: k.into(),
    })
}

fn p521_to_private(k: p521::SecretKey) -> PrivateKey {
    let public = k.public_key().into();
    PrivateKey::from(EcdsaKeypair::NistP521 {
        public,
        private: k.into(),
    })
}

fn read_text(path: &Path) -> Result<String, KeyFileError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    String::from_utf8(bytes).map_err(|_| KeyFileError::InvalidFormat)
}

/// Loads a private key file, decrypting it with `passphrase` if it is
/// encrypted.
///
/// Reads OpenSSH's format (plain or encrypted) and the unencrypted PEM
/// formats PKCS#1 (RSA), SEC1 (ECDSA P-256/384/521) and PKCS#8 (RSA,
/// Ed25519, ECDSA). Returns [`KeyFileError::PassphraseRequired`] for an
/// encrypted key without a passphrase and [`KeyFileError::BadPassphrase`]
/// when the passphrase is wrong. The key returned is never encrypted.
/// [`PrivateKey`] has no Ed448 type: an `ssh-ed448` key is
/// [`KeyFileError::UnsupportedFormat`] (see [`load_any_private`]).
pub fn load_private(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey, KeyFileError> {
    let text = read_text(path)?;
    private_from_str(&text, passphrase)
}

/// Like [`load_private`], from the text of a key file.
pub fn private_from_str(text: &str, passphrase: Option<&str>) -> Result<PrivateKey, KeyFileError> {
    match decode_private(text, passphrase, false)? {
        AnyPrivateKey::OpenSsh(k) => Ok(k),
        AnyPrivateKey::Ed448(_) => Err(ed448_unsupported()),
    }
}

/// Decodes and decrypts a private key file's text. Without `ed448`, an
/// `ssh-ed448` key is refused before any passphrase is needed.
fn decode_private(text: &str, passphrase: Option<&str>, ed448: bool) -> Result<AnyPrivateKey, KeyFileError> {
    match parse_private(text)? {
        Parsed::Pem(k) => Ok(AnyPrivateKey::OpenSsh(k)),
        Parsed::Ed448(_) if !ed448 => Err(ed448_unsupported()),
        Parsed::Ed448(block) => openssh_fallback(block, passphrase),
        Parsed::OpenSsh(k) if !k.is_encrypted() => Ok(AnyPrivateKey::OpenSsh(k)),
        Parsed::OpenSsh(k) => match passphrase {
            None => Err(KeyFileError::PassphraseRequired),
            Some(p) => match k.decrypt(p) {
                Ok(k) => Ok(AnyPrivateKey::OpenSsh(k)),
                // See `openssh_fallback`; it also checks the passphrase.
                Err(_) if k.algorithm().is_ecdsa() => {
                    let block = pem_block(text, "OPENSSH PRIVATE KEY").unwrap_or(text);
                    openssh_fallback(block, Some(p))
                }
                Err(ssh_key::Error::AlgorithmUnknown) | Err(ssh_key::Error::AlgorithmUnsupported { .. }) => {
                    Err(KeyFileError::UnsupportedFormat(format!("cipher {}", k.cipher())))
                }
                // A wrong key fails the check-int comparison (or, for AEAD
                // ciphers, the tag), or yields garbage failing a later check.
                Err(_) => Err(KeyFileError::BadPassphrase),
            },
        },
    }
}

/// Loads a private key file of any type tobira signs with, decrypting it
/// with `passphrase` if it is encrypted: what [`load_private`] reads, and
/// also `ssh-ed448` keys (RFC 8709) in OpenSSH's format. Errors as
/// [`load_private`].
pub fn load_any_private(path: &Path, passphrase: Option<&str>) -> Result<AnyPrivateKey, KeyFileError> {
    let text = read_text(path)?;
    any_private_from_str(&text, passphrase)
}

/// Like [`load_any_private`], from the text of a key file.
pub fn any_private_from_str(text: &str, passphrase: Option<&str>) -> Result<AnyPrivateKey, KeyFileError> {
    decode_private(text, passphrase, true)
}

/// Loads a private key file as a key able to sign (host keys, RFC 4253 §8,
/// and user keys, RFC 4252 §7): Ed25519, Ed448, ECDSA, RSA of 1024 bits or
/// more, or DSA. Errors as [`load_private`], and
/// [`KeyFileError::Signing`] for a key tobira cannot sign with.
pub fn load_signing_key(path: &Path, passphrase: Option<&str>) -> Result<SigningKey, KeyFileError> {
    load_any_private(path, passphrase)?.signing_key()
}

/// The public half of a private key file, without decrypting it: OpenSSH's
/// format stores the public key in the clear. The comment is the file's
/// own for an unencrypted key and empty for an encrypted one. An
/// `ssh-ed448` key, which [`PublicKey`] cannot represent, is
/// [`KeyFileError::UnsupportedFormat`]: see
/// [`load_public_blob_from_private`].
pub fn load_public_from_private(path: &Path) -> Result<PublicKey, KeyFileError> {
    let text = read_text(path)?;
    match parse_private(&text)? {
        Parsed::Pem(k) | Parsed::OpenSsh(k) => Ok(k.public_key().clone()),
        Parsed::Ed448(_) => Err(ed448_unsupported()),
    }
}

/// Like [`load_public_from_private`] for every key type including
/// `ssh-ed448`: the public key blob (RFC 4253 §6.6) and the comment (the
/// file's own for an unencrypted key, empty for an encrypted one).
pub fn load_public_blob_from_private(path: &Path) -> Result<(Vec<u8>, String), KeyFileError> {
    let text = read_text(path)?;
    match parse_private(&text)? {
        Parsed::Pem(k) | Parsed::OpenSsh(k) => Ok((key_blob(k.public_key()), k.comment().to_string())),
        Parsed::Ed448(block) => {
            let container = Container::parse(block)?;
            if container.is_encrypted() {
                return Ok((container.public_blob, String::new()));
            }
            let key = openssh_fallback(block, None)?;
            Ok((key.public_blob(), key.comment().to_string()))
        }
    }
}

/// Whether the private key file at `path` is encrypted (OpenSSH format
/// with a cipher, an encrypted PEM or an encrypted PKCS#8 file).
pub fn is_encrypted(path: &Path) -> Result<bool, KeyFileError> {
    let text = read_text(path)?;
    if let Some(block) = pem_block(&text, "OPENSSH PRIVATE KEY") {
        return match PrivateKey::from_openssh(block) {
            Ok(key) => Ok(key.is_encrypted()),
            // An `ssh-ed448` key, or an unencrypted key ssh-key's decoder
            // refuses (see `openssh_fallback`).
            Err(_) => match parse_private(&text)? {
                Parsed::Ed448(block) => Ok(Container::parse(block)?.is_encrypted()),
                _ => Ok(false),
            },
        };
    }
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || (text.contains(" PRIVATE KEY-----") && text.contains("Proc-Type: 4,ENCRYPTED"))
    {
        return Ok(true);
    }
    parse_private(&text).map(|_| false)
}

/// Loads a public key file (`type base64 [comment]`, one key).
pub fn load_public(path: &Path) -> Result<PublicKey, KeyFileError> {
    let text = read_text(path)?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or(KeyFileError::InvalidFormat)?;
    PublicKey::from_openssh(line).map_err(|_| KeyFileError::InvalidFormat)
}

/// Writes `contents` to `path`, creating or truncating it, with the
/// permission bits `mode` (also applied to an existing file).
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyFileError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io_err(path))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(path))?;
    f.write_all(contents).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))?;
    Ok(())
}

/// The OpenSSH-format text of a private key, encrypted with `aes256-ctr`
/// and `bcrypt-pbkdf` when `passphrase` is given and not empty.
pub fn private_to_string(
    key: &PrivateKey,
    passphrase: Option<&str>,
) -> Result<zeroize::Zeroizing<String>, KeyFileError> {
    if key.is_encrypted() {
        return Err(KeyFileError::Encrypted);
    }
    match passphrase {
        Some(p) if !p.is_empty() => {
            let enc = key.encrypt(&mut OsRng, p).map_err(KeyFileError::Key)?;
            enc.to_openssh(LineEnding::LF).map_err(KeyFileError::Key)
        }
        _ => key.to_openssh(LineEnding::LF).map_err(KeyFileError::Key),
    }
}

/// Writes a private key to `path` in OpenSSH's format with mode 0600,
/// encrypted with `aes256-ctr` and `bcrypt-pbkdf` when `passphrase` is
/// given and not empty. `key` must not be encrypted.
pub fn save_private(path: &Path, key: &PrivateKey, passphrase: Option<&str>) -> Result<(), KeyFileError> {
    let text = private_to_string(key, passphrase)?;
    write_file(path, text.as_bytes(), 0o600)
}

/// The public key line `type base64 comment` (no comment part when the
/// comment is empty), without a newline.
pub fn public_line(key: &PublicKey) -> Result<String, KeyFileError> {
    key.to_openssh().map_err(KeyFileError::Key)
}

/// Writes a public key file (`type base64 comment` and a newline) with
/// mode 0644.
pub fn save_public(path: &Path, key: &PublicKey) -> Result<(), KeyFileError> {
    let mut line = public_line(key)?;
    line.push('\n');
    write_file(path, line.as_bytes(), 0o644)
}

/// The SSH wire encoding of a public key (the "key blob" fingerprints hash).
fn key_blob(key: &PublicKey) -> Vec<u8> {
    // Encoding an in-memory key into a Vec cannot fail in practice; an
    // empty blob would only give a wrong MD5 fingerprint, never a panic.
    key.to_bytes().unwrap_or_default()
}

/// The size of a key in bits as `ssh-keygen` shows it: 256 for Ed25519,
/// the curve size for ECDSA, the modulus size for RSA and DSA.
pub fn key_bits(key: &PublicKey) -> u32 {
    fn mpint_bits(m: &ssh_key::Mpint) -> u32 {
        let bytes = m.as_positive_bytes().unwrap_or(&[]);
        match bytes.iter().position(|&b| b != 0) {
            None => 0,
            Some(i) => {
                let rest = (bytes.len() - i - 1) as u32;
                rest * 8 + (8 - bytes[i].leading_zeros())
            }
        }
    }
    match key.key_data() {
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) => 256,
        KeyData::Ecdsa(k) => match k.curve() {
            EcdsaCurve::NistP256 => 256,
            EcdsaCurve::NistP384 => 384,
            EcdsaCurve::NistP521 => 521,
        },
        KeyData::SkEcdsaSha2NistP256(_) => 256,
        KeyData::Rsa(k) => mpint_bits(&k.n),
        KeyData::Dsa(k) => mpint_bits(&k.p),
        _ => 0,
    }
}

/// The key type as `ssh-keygen` shows it in `-l` output and randomart:
/// `ED25519`, `ECDSA`, `RSA`, `DSA`, `ED25519-SK`, `ECDSA-SK`.
pub fn key_type_label(key: &PublicKey) -> &'static str {
    match key.algorithm() {
        Algorithm::Ed25519 => "ED25519",
        Algorithm::Ecdsa { .. } => "ECDSA",
        Algorithm::Rsa { .. } => "RSA",
        Algorithm::Dsa => "DSA",
        Algorithm::SkEd25519 => "ED25519-SK",
        Algorithm::SkEcdsaSha2NistP256 => "ECDSA-SK",
        _ => "UNKNOWN",
    }
}

/// The fingerprint of a public key: `SHA256:<base64>` (unpadded),
/// `SHA512:<base64>` or `MD5:aa:bb:...`.
pub fn fingerprint(key: &PublicKey, hash: FingerprintHash) -> String {
    match hash {
        FingerprintHash::Md5 => {
            let hex: Vec<String> = hash.digest(key).iter().map(|b| format!("{b:02x}")).collect();
            format!("MD5:{}", hex.join(":"))
        }
        FingerprintHash::Sha256 => key.fingerprint(HashAlg::Sha256).to_string(),
        FingerprintHash::Sha512 => key.fingerprint(HashAlg::Sha512).to_string(),
    }
}

/// A line of `ssh-keygen -l`: `256 SHA256:xxxx comment (ED25519)`, with
/// `no comment` when the key has none.
pub fn fingerprint_line(key: &PublicKey, hash: FingerprintHash) -> String {
    let comment = if key.comment().is_empty() {
        "no comment"
    } else {
        key.comment()
    };
    format!(
        "{} {} {} ({})",
        key_bits(key),
        fingerprint(key, hash),
        comment,
        key_type_label(key)
    )
}

/// The "randomart" picture `ssh-keygen` prints for a key (the drunken
/// bishop walk of OpenSSH's `fingerprint_randomart`), 11 lines without a
/// final newline:
///
/// ```text
/// +--[ED25519 256]--+
/// |        .o.      |
/// ...
/// +----[SHA256]-----+
/// ```
pub fn randomart(key: &PublicKey, hash: FingerprintHash) -> String {
    let title = format!("[{} {}]", key_type_label(key), key_bits(key));
    let title = if title.len() > FLDSIZE_X {
        format!("[{}]", key_type_label(key))
    } else {
        title
    };
    draw_randomart(&hash.digest(key), &title, &format!("[{}]", hash.label()))
}

const FLDBASE: usize = 8;
const FLDSIZE_Y: usize = FLDBASE + 1;
const FLDSIZE_X: usize = FLDBASE * 2 + 1;

/// OpenSSH's `fingerprint_randomart` on a raw digest, with the given top
/// and bottom labels (each cut to 16 characters as `snprintf` into a
/// 17-byte buffer does).
fn draw_randomart(digest: &[u8], title: &str, hash_label: &str) -> String {
    const AUGMENT: &[u8] = b" .o+=*BOX@%&#/^SE";
    let len = AUGMENT.len() - 1;
    let mut field = [[0usize; FLDSIZE_Y]; FLDSIZE_X];
    let mut x = (FLDSIZE_X / 2) as isize;
    let mut y = (FLDSIZE_Y / 2) as isize;
    for &byte in digest {
        let mut input = byte;
        for _ in 0..4 {
            x += if input & 0x1 != 0 { 1 } else { -1 };
            y += if input & 0x2 != 0 { 1 } else { -1 };
            x = x.clamp(0, FLDSIZE_X as isize - 1);
            y = y.clamp(0, FLDSIZE_Y as isize - 1);
            let cell = &mut field[x as usize][y as usize];
            if *cell < len - 2 {
                *cell += 1;
            }
            input >>= 2;
        }
    }
    field[FLDSIZE_X / 2][FLDSIZE_Y / 2] = len - 1;
    field[x as usize][y as usize] = len;

    fn border(label: &str) -> String {
        let label: String = label.chars().take(FLDSIZE_X - 1).collect();
        let n = label.chars().count();
        let left = (FLDSIZE_X - n) / 2;
        let right = FLDSIZE_X - left - n;
        format!("+{}{}{}+", "-".repeat(left), label, "-".repeat(right))
    }

    let mut out = border(title);
    out.push('\n');
    for row in 0..FLDSIZE_Y {
        out.push('|');
        for col in field.iter() {
            out.push(AUGMENT[col[row].min(len)] as char);
        }
        out.push_str("|\n");
    }
    out.push_str(&border(hash_label));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "tobira-keyfile-{}-{}-{}",
                tag,
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn round_trip(kind: KeyType, bits: Option<usize>, pass: Option<&str>) {
        let dir = TempDir::new(kind.name());
        let key = generate(kind, bits, "me@host").expect("generate");
        assert_eq!(key.comment(), "me@host");
        let path = dir.0.join("id");
        save_private(&path, &key, pass).expect("save");
        save_public(&dir.0.join("id.pub"), key.public_key()).expect("save pub");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let pmode = fs::metadata(dir.0.join("id.pub")).expect("meta").permissions().mode() & 0o777;
        assert_eq!(pmode, 0o644);
        let encrypted = pass.is_some_and(|p| !p.is_empty());
        assert_eq!(is_encrypted(&path).expect("is_encrypted"), encrypted);
        let loaded = load_private(&path, pass).expect("load");
        assert_eq!(loaded.public_key().key_data(), key.public_key().key_data());
        assert_eq!(loaded.key_data(), key.key_data());
        assert_eq!(loaded.comment(), "me@host");
        let public = load_public(&dir.0.join("id.pub")).expect("load pub");
        assert_eq!(public.key_data(), key.public_key().key_data());
        assert_eq!(public.comment(), "me@host");
        let from_private = load_public_from_private(&path).expect("pub from private");
        assert_eq!(from_private.key_data(), key.public_key().key_data());
        if encrypted {
            assert!(matches!(
                load_private(&path, None),
                Err(KeyFileError::PassphraseRequired)
            ));
            assert!(matches!(
                load_private(&path, Some("wrong passphrase")),
                Err(KeyFileError::BadPassphrase)
            ));
        }
    }

    #[test]
    fn ed25519_round_trip() {
        round_trip(KeyType::Ed25519, None, None);
        round_trip(KeyType::Ed25519, None, Some(""));
    }

    #[test]
    fn ed25519_encrypted_round_trip() {
        round_trip(KeyType::Ed25519, None, Some("correct horse"));
    }

    #[test]
    fn ecdsa_round_trips() {
        round_trip(KeyType::Ecdsa, None, None);
        round_trip(KeyType::Ecdsa, Some(384), None);
        round_trip(KeyType::Ecdsa, Some(521), Some("pass phrase"));
    }

    #[test]
    fn rsa_round_trips() {
        round_trip(KeyType::Rsa, Some(2048), None);
        round_trip(KeyType::Rsa, Some(2048), Some("pass phrase"));
    }

    #[test]
    fn rsa_default_size() {
        let key = generate(KeyType::Rsa, None, "").expect("generate");
        assert_eq!(key_bits(key.public_key()), 3072);
        assert!(fingerprint_line(key.public_key(), FingerprintHash::Sha256).ends_with(" no comment (RSA)"));
    }

    #[test]
    fn bad_sizes() {
        assert!(matches!(
            generate(KeyType::Rsa, Some(512), ""),
            Err(KeyFileError::InvalidKeyLength { .. })
        ));
        assert!(matches!(
            generate(KeyType::Rsa, Some(1500), ""),
            Err(KeyFileError::InvalidKeyLength { .. })
        ));
        assert!(matches!(
            generate(KeyType::Ecdsa, Some(255), ""),
            Err(KeyFileError::InvalidKeyLength { .. })
        ));
    }

    #[test]
    fn key_type_names() {
        assert_eq!("ed25519".parse::<KeyType>().ok(), Some(KeyType::Ed25519));
        assert_eq!("ecdsa".parse::<KeyType>().ok(), Some(KeyType::Ecdsa));
        assert_eq!("rsa".parse::<KeyType>().ok(), Some(KeyType::Rsa));
        let e = "ed448".parse::<KeyType>().expect_err("ed448");
        assert_eq!(e.to_string(), "key type ed448 is not supported yet");
        assert!(matches!("foo".parse::<KeyType>(), Err(KeyFileError::UnknownKeyType(_))));
    }

    // A key and its fingerprints, as printed by OpenSSH's ssh-keygen -l.
    const ED25519_PUB: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDcpwVnB0i4Ac1DflwKYv0M16O9HKl3boncwk4hilEYV test@example";
    const ED25519_SHA256_LINE: &str = "256 SHA256:v2mkRAFHoLskNabetO77+blWosTw5wnTRmq1o9zirJk test@example (ED25519)";
    const ED25519_MD5_LINE: &str = "256 MD5:85:36:ab:64:87:99:44:f0:fb:44:b9:9d:13:e4:eb:42 test@example (ED25519)";
    const ED25519_SHA256_ART: &str = "\
+--[ED25519 256]--+
|      o+o        |
|     . ..        |
|    =    .       |
|   +.o  +        |
|  o ++ *S.       |
| . = oO O.o      |
|  . ++ @ B.      |
|   . +=.*..o     |
|   .E==++oo      |
+----[SHA256]-----+";
    const ED25519_MD5_ART: &str = "\
+--[ED25519 256]--+
|    ...   .      |
|     o   =       |
|      o * +      |
|     . B * +     |
|      B E =      |
|     o * . .     |
|      . o .      |
|         .       |
|                 |
+------[MD5]------+";

    #[test]
    fn fingerprint_formats() {
        let key = PublicKey::from_openssh(ED25519_PUB).expect("parse");
        assert_eq!(fingerprint_line(&key, FingerprintHash::Sha256), ED25519_SHA256_LINE);
        assert_eq!(fingerprint_line(&key, FingerprintHash::Md5), ED25519_MD5_LINE);
        let sha = fingerprint(&key, FingerprintHash::Sha256);
        assert_eq!(sha.len(), "SHA256:".len() + 43);
        assert!(!sha.ends_with('='));
        let md5 = fingerprint(&key, FingerprintHash::Md5);
        assert!(md5.starts_with("MD5:"));
        assert_eq!(md5.len(), 4 + 16 * 3 - 1);
        assert_eq!(md5.matches(':').count(), 16);
    }

    #[test]
    fn randomart_shape_matches_ssh_key() {
        let key = PublicKey::from_openssh(ED25519_PUB).expect("parse");
        let art = randomart(&key, FingerprintHash::Sha256);
        assert_eq!(art, ED25519_SHA256_ART);
        assert_eq!(randomart(&key, FingerprintHash::Md5), ED25519_MD5_ART);
        let lines: Vec<&str> = art.lines().collect();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[0], "+--[ED25519 256]--+");
        assert_eq!(lines[10], "+----[SHA256]-----+");
        assert!(lines.iter().all(|l| l.chars().count() == 19));
        // ssh-key implements the same walk for SHA fingerprints.
        let theirs = key.fingerprint(HashAlg::Sha256).to_randomart("[ED25519 256]");
        assert_eq!(art.trim_end(), theirs.trim_end());
        let md5 = randomart(&key, FingerprintHash::Md5);
        assert!(md5.ends_with("+------[MD5]------+"), "{md5}");
    }

    #[test]
    fn pem_formats() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let dir = TempDir::new("pem");

        // PKCS#1 and PKCS#8 RSA.
        let rsa_key = generate(KeyType::Rsa, Some(2048), "").expect("rsa");
        let KeypairData::Rsa(pair) = rsa_key.key_data() else {
            panic!("not rsa")
        };
        let private = rsa::RsaPrivateKey::from_components(
            rsa::BigUint::from_bytes_be(pair.public.n.as_positive_bytes().expect("n")),
            rsa::BigUint::from_bytes_be(pair.public.e.as_positive_bytes().expect("e")),
            rsa::BigUint::from_bytes_be(pair.private.d.as_positive_bytes().expect("d")),
            vec![
                rsa::BigUint::from_bytes_be(pair.private.p.as_positive_bytes().expect("p")),
                rsa::BigUint::from_bytes_be(pair.private.q.as_positive_bytes().expect("q")),
            ],
        )
        .expect("components");
        let pkcs1 = private.to_pkcs1_pem(Default::default()).expect("pkcs1");
        fs::write(dir.0.join("rsa1"), pkcs1.as_bytes()).expect("write");
        let loaded = load_private(&dir.0.join("rsa1"), None).expect("load pkcs1");
        assert_eq!(loaded.public_key().key_data(), rsa_key.public_key().key_data());
        let pkcs8 = private.to_pkcs8_pem(Default::default()).expect("pkcs8");
        fs::write(dir.0.join("rsa8"), pkcs8.as_bytes()).expect("write");
        let loaded = load_private(&dir.0.join("rsa8"), None).expect("load pkcs8");
        assert_eq!(loaded.public_key().key_data(), rsa_key.public_key().key_data());

        // SEC1 and PKCS#8 P-256, with OpenSSL's EC PARAMETERS block first.
        let secret = p256::SecretKey::random(&mut OsRng);
        let expected = p256_to_private(secret.clone());
        let sec1 = secret.to_sec1_pem(Default::default()).expect("sec1");
        let text = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            &*sec1
        );
        fs::write(dir.0.join("ec"), text).expect("write");
        let loaded = load_private(&dir.0.join("ec"), None).expect("load sec1");
        assert_eq!(loaded.public_key().key_data(), expected.public_key().key_data());
        let p8 = secret.to_pkcs8_pem(Default::default()).expect("pkcs8");
        fs::write(dir.0.join("ec8"), p8.as_bytes()).expect("write");
        let loaded = load_private(&dir.0.join("ec8"), None).expect("load ec pkcs8");
        assert_eq!(loaded.public_key().key_data(), expected.public_key().key_data());

        // PKCS#8 Ed25519.
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let expected = PrivateKey::from(Ed25519Keypair::from(signing.clone()));
        let p8 = signing.to_pkcs8_pem(Default::default()).expect("pkcs8");
        fs::write(dir.0.join("ed8"), p8.as_bytes()).expect("write");
        let loaded = load_private(&dir.0.join("ed8"), None).expect("load ed pkcs8");
        assert_eq!(loaded.public_key().key_data(), expected.public_key().key_data());
        assert!(!is_encrypted(&dir.0.join("ed8")).expect("is_encrypted"));
    }

    #[test]
    fn garbage_is_invalid_format() {
        let dir = TempDir::new("garbage");
        let p = dir.0.join("junk");
        fs::write(&p, b"\xff\xfe not a key").expect("write");
        assert!(matches!(load_private(&p, None), Err(KeyFileError::InvalidFormat)));
        fs::write(
            &p,
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        )
        .expect("write");
        assert!(matches!(load_private(&p, None), Err(KeyFileError::InvalidFormat)));
        let missing = dir.0.join("missing");
        let e = load_private(&missing, None).expect_err("missing");
        assert!(e.to_string().ends_with(": No such file or directory"), "{e}");
    }

    // Fixture keys shared with tobira-proto: an Ed448 key made by PuTTY's
    // puttygen (plain, and encrypted with the passphrase "tobira test"),
    // and DSA and 1024-bit RSA keys made by OpenSSH 9.2's ssh-keygen.
    const ED448_KEY: &str = include_str!("../../tobira-proto/tests/keys/host_ed448");
    const ED448_PUB: &str = include_str!("../../tobira-proto/tests/keys/host_ed448.pub");
    const ED448_ENCRYPTED: &str = include_str!("../../tobira-proto/tests/keys/user_ed448_encrypted");
    const DSA_KEY: &str = include_str!("../../tobira-proto/tests/keys/host_dsa");
    const DSA_PUB: &str = include_str!("../../tobira-proto/tests/keys/host_dsa.pub");
    const RSA1024_KEY: &str = include_str!("../../tobira-proto/tests/keys/host_rsa1024");

    fn sign_and_verify(key: &SigningKey) {
        for alg in key.algorithms() {
            let sig = key.sign(alg, b"data").expect("sign");
            tobira_proto::hostkey::verify(alg, key.public_blob(), b"data", &sig).expect("verify");
            assert!(tobira_proto::hostkey::verify(alg, key.public_blob(), b"date", &sig).is_err());
        }
    }

    fn pub_blob(line: &str) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = line.split_whitespace().nth(1).expect("base64");
        base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
    }

    #[test]
    fn ed448_keys_from_puttygen() {
        let dir = TempDir::new("ed448");
        let path = dir.0.join("id_ed448");
        fs::write(&path, ED448_KEY).expect("write");
        let key = load_any_private(&path, None).expect("load");
        let AnyPrivateKey::Ed448(pair) = &key else {
            panic!("not ed448: {key:?}")
        };
        assert_eq!(pair.public_line(), ED448_PUB.trim_end());
        assert_eq!(pair.comment(), "tobira-test-ed448");
        assert_eq!(key.key_type(), "ssh-ed448");
        assert_eq!(key.comment(), "tobira-test-ed448");
        assert_eq!(key.public_blob(), pub_blob(ED448_PUB));
        assert!(!format!("{pair:?}").contains("secret"));
        let signing = load_signing_key(&path, None).expect("signing key");
        assert_eq!(signing.key_type(), "ssh-ed448");
        assert_eq!(signing.public_blob(), pub_blob(ED448_PUB));
        sign_and_verify(&signing);
        assert!(!is_encrypted(&path).expect("is_encrypted"));
        let (blob, comment) = load_public_blob_from_private(&path).expect("public blob");
        assert_eq!(blob, pub_blob(ED448_PUB));
        assert_eq!(comment, "tobira-test-ed448");
        // ssh-key's types have no Ed448: the functions returning them refuse it.
        assert!(matches!(
            load_private(&path, None),
            Err(KeyFileError::UnsupportedFormat(m)) if m.contains("ssh-ed448")
        ));
        assert!(matches!(
            load_public_from_private(&path),
            Err(KeyFileError::UnsupportedFormat(_))
        ));
    }

    #[test]
    fn encrypted_ed448_key() {
        let dir = TempDir::new("ed448enc");
        let path = dir.0.join("id_ed448");
        fs::write(&path, ED448_ENCRYPTED).expect("write");
        assert!(is_encrypted(&path).expect("is_encrypted"));
        assert!(matches!(
            load_any_private(&path, None),
            Err(KeyFileError::PassphraseRequired)
        ));
        assert!(matches!(
            load_any_private(&path, Some("wrong")),
            Err(KeyFileError::BadPassphrase)
        ));
        // Refused as unsupported before any passphrase is asked for.
        assert!(matches!(
            load_private(&path, None),
            Err(KeyFileError::UnsupportedFormat(_))
        ));
        let key = load_signing_key(&path, Some("tobira test")).expect("decrypt");
        assert_eq!(key.public_blob(), pub_blob(ED448_PUB));
        sign_and_verify(&key);
        let (blob, comment) = load_public_blob_from_private(&path).expect("public blob");
        assert_eq!(blob, pub_blob(ED448_PUB));
        assert_eq!(comment, "");
    }

    /// The decoded body of an OpenSSH-format key file, and the file again
    /// from a body.
    fn body(text: &str) -> Vec<u8> {
        use base64::Engine as _;
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
    }

    fn file(body: &[u8]) -> String {
        use base64::Engine as _;
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(body)
        )
    }

    #[test]
    fn damaged_ed448_keys_are_refused() {
        let raw = body(ED448_KEY);
        assert!(any_private_from_str(&file(&raw), None).is_ok());
        for cut in 0..raw.len() {
            assert!(any_private_from_str(&file(&raw[..cut]), None).is_err(), "cut {cut}");
        }
        // Flipping any byte but the comment's text is caught: by the
        // header checks, the check integers, the key pair check, the
        // comparison with the clear public key or the padding check.
        let comment = raw
            .windows(17)
            .rposition(|w| w == b"tobira-test-ed448")
            .expect("comment");
        for i in 0..raw.len() {
            if (comment..comment + 17).contains(&i) {
                continue;
            }
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let r = any_private_from_str(&file(&bad), None);
            assert!(r.is_err(), "byte {i}: {r:?}");
        }
    }

    #[test]
    fn dsa_keys_from_ssh_keygen() {
        let dir = TempDir::new("dsa");
        let path = dir.0.join("id_dsa");
        fs::write(&path, DSA_KEY).expect("write");
        let key = load_private(&path, None).expect("load");
        assert_eq!(key.algorithm(), Algorithm::Dsa);
        assert!(fingerprint_line(key.public_key(), FingerprintHash::Sha256).starts_with("1024 SHA256:"));
        let signing = load_signing_key(&path, None).expect("signing key");
        assert_eq!(signing.key_type(), "ssh-dss");
        assert_eq!(signing.algorithms(), &["ssh-dss"]);
        assert_eq!(signing.public_blob(), pub_blob(DSA_PUB));
        sign_and_verify(&signing);
        // An encrypted copy, as ssh-keygen -p writes it.
        save_private(&path, &key, Some("pass phrase")).expect("save");
        let again = load_signing_key(&path, Some("pass phrase")).expect("decrypt");
        assert_eq!(again.public_blob(), signing.public_blob());
    }

    #[test]
    fn rsa_1024_keys_sign_with_sha1_too() {
        let key = any_private_from_str(RSA1024_KEY, None)
            .expect("load")
            .signing_key()
            .expect("signing key");
        assert_eq!(key.algorithms(), &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
        sign_and_verify(&key);
    }
}
