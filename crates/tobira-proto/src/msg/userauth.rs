//! User authentication messages (RFC 4252, RFC 4256, OpenSSH
//! `publickey-hostbound-v00@openssh.com` in PROTOCOL §2.5).

use zeroize::Zeroizing;

use super::num;
use crate::wire::{DecodeError, Reader, Writer};

/// The OpenSSH host-bound public key method.
pub const HOSTBOUND_METHOD: &str = "publickey-hostbound-v00@openssh.com";
/// Most prompts accepted in one keyboard-interactive exchange.
pub const MAX_PROMPTS: u32 = 64;

/// The method-specific part of SSH_MSG_USERAUTH_REQUEST.
#[derive(Clone, PartialEq, Eq)]
pub enum MethodData {
    /// `none` (RFC 4252 §5.2).
    None,
    /// `password` (RFC 4252 §8), with a new password when changing it.
    Password {
        /// The password.
        password: Zeroizing<String>,
        /// The new password (SSH_MSG_USERAUTH_PASSWD_CHANGEREQ answer).
        new_password: Option<Zeroizing<String>>,
    },
    /// `publickey` (RFC 4252 §7) or its host-bound form.
    PublicKey {
        /// Signature algorithm.
        algorithm: String,
        /// Public key blob.
        key_blob: Vec<u8>,
        /// Host key blob (host-bound method only).
        host_key: Option<Vec<u8>>,
        /// Signature blob, absent for a query.
        signature: Option<Vec<u8>>,
    },
    /// `keyboard-interactive` (RFC 4256 §3.1).
    KeyboardInteractive {
        /// Submethods hint.
        submethods: String,
    },
    /// Any other method name.
    Other(String),
}

impl std::fmt::Debug for MethodData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MethodData::None => write!(f, "None"),
            MethodData::Password { .. } => write!(f, "Password(redacted)"),
            MethodData::PublicKey {
                algorithm, signature, ..
            } => {
                write!(f, "PublicKey({algorithm}, signed: {})", signature.is_some())
            }
            MethodData::KeyboardInteractive { .. } => write!(f, "KeyboardInteractive"),
            MethodData::Other(m) => write!(f, "Other({m})"),
        }
    }
}

impl MethodData {
    /// The method name on the wire.
    pub fn name(&self) -> &str {
        match self {
            MethodData::None => "none",
            MethodData::Password { .. } => "password",
            MethodData::PublicKey { host_key: Some(_), .. } => HOSTBOUND_METHOD,
            MethodData::PublicKey { .. } => "publickey",
            MethodData::KeyboardInteractive { .. } => "keyboard-interactive",
            MethodData::Other(m) => m,
        }
    }
}

/// SSH_MSG_USERAUTH_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserauthRequest {
    /// User name (UTF-8).
    pub user: String,
    /// Service name.
    pub service: String,
    /// Method and its fields.
    pub method: MethodData,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl UserauthRequest {
    /// Decodes a payload starting with the message number.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        r.u8()?;
        let user = r.utf8()?.to_string();
        let service = text(r.string()?);
        let method_name = text(r.string()?);
        let method = match method_name.as_str() {
            "none" => MethodData::None,
            "password" => {
                let change = r.bool()?;
                let password = Zeroizing::new(r.utf8()?.to_string());
                let new_password = if change {
                    Some(Zeroizing::new(r.utf8()?.to_string()))
                } else {
                    None
                };
                MethodData::Password { password, new_password }
            }
            "publickey" | HOSTBOUND_METHOD => {
                let signed = r.bool()?;
                let algorithm = text(r.string()?);
                let key_blob = r.string()?.to_vec();
                let host_key = if method_name == HOSTBOUND_METHOD {
                    Some(r.string()?.to_vec())
                } else {
                    None
                };
                let signature = if signed { Some(r.string()?.to_vec()) } else { None };
                MethodData::PublicKey {
                    algorithm,
                    key_blob,
                    host_key,
                    signature,
                }
            }
            "keyboard-interactive" => {
                let _language = r.string()?;
                MethodData::KeyboardInteractive {
                    submethods: text(r.string()?),
                }
            }
            _ => {
                return Ok(UserauthRequest {
                    user,
                    service,
                    method: MethodData::Other(method_name),
                })
            }
        };
        r.finish()?;
        Ok(UserauthRequest { user, service, method })
    }

    /// Encodes the payload.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(vec![num::USERAUTH_REQUEST]);
        v.put_string(self.user.as_bytes());
        v.put_string(self.service.as_bytes());
        v.put_string(self.method.name().as_bytes());
        match &self.method {
            MethodData::None | MethodData::Other(_) => {}
            MethodData::Password { password, new_password } => {
                v.put_bool(new_password.is_some());
                v.put_string(password.as_bytes());
                if let Some(n) = new_password {
                    v.put_string(n.as_bytes());
                }
            }
            MethodData::PublicKey {
                algorithm,
                key_blob,
                host_key,
                signature,
            } => {
                v.put_bool(signature.is_some());
                v.put_string(algorithm.as_bytes());
                v.put_string(key_blob);
                if let Some(h) = host_key {
                    v.put_string(h);
                }
                if let Some(s) = signature {
                    v.put_string(s);
                }
            }
            MethodData::KeyboardInteractive { submethods } => {
                v.put_string(b"");
                v.put_string(submethods.as_bytes());
            }
        }
        v
    }
}

/// The data a public key signature covers (RFC 4252 §7; PROTOCOL §2.5
/// adds the host key for the host-bound method).
pub fn publickey_signed_data(
    session_id: &[u8],
    user: &str,
    service: &str,
    algorithm: &str,
    key_blob: &[u8],
    host_key: Option<&[u8]>,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(256 + key_blob.len());
    v.put_string(session_id);
    v.put_u8(num::USERAUTH_REQUEST);
    v.put_string(user.as_bytes());
    v.put_string(service.as_bytes());
    v.put_string(if host_key.is_some() {
        HOSTBOUND_METHOD.as_bytes()
    } else {
        b"publickey"
    });
    v.put_bool(true);
    v.put_string(algorithm.as_bytes());
    v.put_string(key_blob);
    if let Some(h) = host_key {
        v.put_string(h);
    }
    v
}

/// One keyboard-interactive prompt (RFC 4256 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// Prompt text.
    pub text: String,
    /// Whether the answer may be echoed.
    pub echo: bool,
}

/// SSH_MSG_USERAUTH_INFO_REQUEST (RFC 4256 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRequest {
    /// Name (often empty).
    pub name: String,
    /// Instruction (often empty).
    pub instruction: String,
    /// Prompts.
    pub prompts: Vec<Prompt>,
}

impl InfoRequest {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![num::USERAUTH_INFO_REQUEST];
        v.put_string(self.name.as_bytes());
        v.put_string(self.instruction.as_bytes());
        v.put_string(b"");
        v.put_u32(self.prompts.len() as u32);
        for p in &self.prompts {
            v.put_string(p.text.as_bytes());
            v.put_bool(p.echo);
        }
        v
    }

    /// Decodes the payload.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        r.u8()?;
        let name = text(r.string()?);
        let instruction = text(r.string()?);
        let _lang = r.string()?;
        let n = r.u32()?;
        if n > MAX_PROMPTS {
            return Err(DecodeError::Invalid("too many prompts"));
        }
        let mut prompts = Vec::new();
        for _ in 0..n {
            let text = text(r.string()?);
            prompts.push(Prompt { text, echo: r.bool()? });
        }
        r.finish()?;
        Ok(InfoRequest {
            name,
            instruction,
            prompts,
        })
    }
}

/// Encodes SSH_MSG_USERAUTH_INFO_RESPONSE (RFC 4256 §3.4).
pub fn encode_info_response(responses: &[Zeroizing<String>]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(vec![num::USERAUTH_INFO_RESPONSE]);
    v.put_u32(responses.len() as u32);
    for r in responses {
        v.put_string(r.as_bytes());
    }
    v
}

/// Decodes SSH_MSG_USERAUTH_INFO_RESPONSE.
pub fn decode_info_response(payload: &[u8]) -> Result<Vec<Zeroizing<String>>, DecodeError> {
    let mut r = Reader::new(payload);
    r.u8()?;
    let n = r.u32()?;
    if n > MAX_PROMPTS {
        return Err(DecodeError::Invalid("too many responses"));
    }
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Zeroizing::new(r.utf8()?.to_string()));
    }
    r.finish()?;
    Ok(out)
}

/// Encodes SSH_MSG_USERAUTH_FAILURE (RFC 4252 §5.1).
pub fn encode_failure(methods: &[String], partial: bool) -> Vec<u8> {
    let mut v = vec![num::USERAUTH_FAILURE];
    v.put_name_list(methods);
    v.put_bool(partial);
    v
}

/// Encodes SSH_MSG_USERAUTH_PK_OK (RFC 4252 §7).
pub fn encode_pk_ok(algorithm: &str, key_blob: &[u8]) -> Vec<u8> {
    let mut v = vec![num::USERAUTH_PK_OK];
    v.put_string(algorithm.as_bytes());
    v.put_string(key_blob);
    v
}

/// Encodes SSH_MSG_USERAUTH_BANNER (RFC 4252 §5.4).
pub fn encode_banner(message: &str) -> Vec<u8> {
    let mut v = vec![num::USERAUTH_BANNER];
    v.put_string(message.as_bytes());
    v.put_string(b"");
    v
}

/// Encodes SSH_MSG_USERAUTH_PASSWD_CHANGEREQ (RFC 4252 §8).
pub fn encode_passwd_changereq(prompt: &str) -> Vec<u8> {
    let mut v = vec![num::USERAUTH_PASSWD_CHANGEREQ];
    v.put_string(prompt.as_bytes());
    v.put_string(b"");
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_truncation_fails() {
        let reqs = [
            MethodData::None,
            MethodData::Password {
                password: Zeroizing::new("pw".into()),
                new_password: None,
            },
            MethodData::Password {
                password: Zeroizing::new("a".into()),
                new_password: Some(Zeroizing::new("b".into())),
            },
            MethodData::PublicKey {
                algorithm: "ssh-ed25519".into(),
                key_blob: vec![1, 2],
                host_key: None,
                signature: None,
            },
            MethodData::PublicKey {
                algorithm: "ssh-ed25519".into(),
                key_blob: vec![1],
                host_key: Some(vec![9]),
                signature: Some(vec![3]),
            },
            MethodData::KeyboardInteractive {
                submethods: String::new(),
            },
        ];
        for m in reqs {
            let r = UserauthRequest {
                user: "u".into(),
                service: "ssh-connection".into(),
                method: m,
            };
            let enc = r.encode();
            assert_eq!(UserauthRequest::decode(&enc).unwrap(), r);
            for cut in 1..enc.len() {
                assert!(
                    UserauthRequest::decode(&enc[..cut]).is_err(),
                    "{:?} cut {cut}",
                    r.method
                );
            }
        }
    }

    #[test]
    fn info_messages() {
        let q = InfoRequest {
            name: "n".into(),
            instruction: "i".into(),
            prompts: vec![Prompt {
                text: "Password: ".into(),
                echo: false,
            }],
        };
        assert_eq!(InfoRequest::decode(&q.encode()).unwrap(), q);
        let resp = encode_info_response(&[Zeroizing::new("x".into())]);
        assert_eq!(decode_info_response(&resp).unwrap()[0].as_str(), "x");
        let mut huge = vec![num::USERAUTH_INFO_RESPONSE];
        huge.put_u32(u32::MAX);
        assert!(decode_info_response(&huge).is_err());
    }
}
