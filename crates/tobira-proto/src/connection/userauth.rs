//! User authentication (RFC 4252, RFC 4256) on both sides of a
//! [`Connection`]. The core parses, verifies signatures over the session
//! identifier and enforces message order; every policy decision (which
//! keys, which passwords) is the application's, through events.

use zeroize::Zeroizing;

use super::{Connection, Event, Role};
use crate::error::Error;
use crate::hostkey;
use crate::msg::num;
use crate::msg::userauth::{
    decode_info_response, encode_banner, encode_failure, encode_info_response, encode_passwd_changereq, encode_pk_ok,
    publickey_signed_data, InfoRequest, MethodData, UserauthRequest,
};
use crate::transport::packet::MAX_PACKET;
use crate::wire::Reader;

/// A USERAUTH_REQUEST for the server application to decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// The request as received.
    pub request: UserauthRequest,
    /// For a signed public key request: whether the signature over the
    /// session identifier verified (and, host-bound, the host key was
    /// ours). `None` for queries and other methods.
    pub signature_valid: Option<bool>,
}

impl Connection {
    /// Authentication messages; [`super::allowed`] has already checked
    /// the stage (service accepted) and the direction.
    pub(super) fn on_userauth(&mut self, msg: u8, payload: &[u8]) -> Result<(), Error> {
        match (self.role, msg) {
            (Role::Server, num::USERAUTH_REQUEST) => self.on_request(payload),
            (Role::Server, num::USERAUTH_INFO_RESPONSE) if self.kbd_pending && !self.authenticated => {
                self.kbd_pending = false;
                let responses = decode_info_response(payload)?;
                self.events.push_back(Event::AuthInfoResponse(responses));
                Ok(())
            }
            (Role::Client, num::USERAUTH_FAILURE) => {
                let mut r = Reader::new(payload);
                r.u8()?;
                let methods = r.name_list()?;
                let partial = r.bool()?;
                self.events.push_back(Event::AuthFailure { methods, partial });
                Ok(())
            }
            (Role::Client, num::USERAUTH_SUCCESS) => {
                if self.authenticated {
                    return Err(Error::protocol("duplicate USERAUTH_SUCCESS"));
                }
                self.authenticated = true;
                self.opener.max_packet = MAX_PACKET;
                self.start_delayed_compression();
                self.events.push_back(Event::AuthSuccess);
                Ok(())
            }
            (Role::Client, num::USERAUTH_BANNER) if !self.authenticated => {
                let mut r = Reader::new(payload);
                r.u8()?;
                let text = String::from_utf8_lossy(r.string()?).into_owned();
                self.events.push_back(Event::AuthBanner(text));
                Ok(())
            }
            (Role::Client, 60) => self.on_message_60(payload),
            (role, m) => Err(Error::protocol(format!(
                "unexpected {} ({m}) from the {}",
                crate::msg::name(m, None),
                if role == Role::Server { "client" } else { "server" }
            ))),
        }
    }

    /// Message 60 means PK_OK, PASSWD_CHANGEREQ or INFO_REQUEST depending on
    /// the method we last used (RFC 4252 §7, §8; RFC 4256 §3.2).
    fn on_message_60(&mut self, payload: &[u8]) -> Result<(), Error> {
        let mut r = Reader::new(payload);
        r.u8()?;
        match self.last_method {
            Some("publickey") => {
                let algorithm = String::from_utf8_lossy(r.string()?).into_owned();
                let key_blob = r.string()?.to_vec();
                r.finish()?;
                self.events.push_back(Event::AuthPkOk { algorithm, key_blob });
            }
            Some("password") => {
                let prompt = String::from_utf8_lossy(r.string()?).into_owned();
                self.events.push_back(Event::AuthPasswdChangeReq(prompt));
            }
            Some("keyboard-interactive") => {
                let req = InfoRequest::decode(payload)?;
                self.events.push_back(Event::AuthInfoRequest(req));
            }
            _ => return Err(Error::protocol("unexpected message 60 from the server")),
        }
        Ok(())
    }

    fn on_request(&mut self, payload: &[u8]) -> Result<(), Error> {
        // RFC 4252 §5.1: requests after success are ignored.
        if self.authenticated {
            return Ok(());
        }
        let request = UserauthRequest::decode(payload)?;
        // A new request abandons keyboard-interactive prompts (RFC 4256 §3.4).
        self.kbd_pending = false;
        let signature_valid = match &request.method {
            MethodData::PublicKey {
                algorithm,
                key_blob,
                host_key,
                signature: Some(sig),
            } => {
                let host_ok = match host_key {
                    Some(h) => self.kex_host_key.as_deref() == Some(h.as_slice()),
                    None => true,
                };
                let sid = self.session_id.clone().unwrap_or_default();
                let data = publickey_signed_data(
                    &sid,
                    &request.user,
                    &request.service,
                    algorithm,
                    key_blob,
                    host_key.as_deref(),
                );
                Some(host_ok && hostkey::verify(algorithm, key_blob, &data, sig).is_ok())
            }
            _ => None,
        };
        self.events.push_back(Event::AuthRequest(AuthRequest {
            request,
            signature_valid,
        }));
        Ok(())
    }

    fn server_auth_check(&self) -> Result<(), Error> {
        if self.role != Role::Server || !self.userauth_active {
            return Err(Error::protocol("not a server in user authentication"));
        }
        Ok(())
    }

    /// Server: authentication succeeded (USERAUTH_SUCCESS); the connection
    /// protocol may start and packets up to 256 KiB are accepted.
    pub fn auth_accept(&mut self) -> Result<(), Error> {
        self.server_auth_check()?;
        if self.authenticated {
            return Ok(());
        }
        self.authenticated = true;
        self.opener.max_packet = MAX_PACKET;
        self.send(vec![num::USERAUTH_SUCCESS])?;
        self.announce_host_keys()
    }

    /// Server: success, preceded by an EXT_INFO with this user's
    /// `server-sig-algs` when given and the client asked for ext-info
    /// (RFC 8308 §2.4).
    pub fn auth_accept_with_sig_algs(&mut self, sig_algs: Option<Vec<String>>) -> Result<(), Error> {
        if let (Some(algs), true, false) = (sig_algs, self.peer_wants_ext_info, self.authenticated) {
            let ext = crate::msg::transport::ExtInfo {
                extensions: vec![("server-sig-algs".into(), algs.join(",").into_bytes())],
            };
            self.server_auth_check()?;
            self.send(ext.encode())?;
        }
        self.auth_accept()
    }

    /// Server: USERAUTH_FAILURE with the methods that can continue.
    pub fn auth_reject(&mut self, methods: &[String], partial: bool) -> Result<(), Error> {
        self.server_auth_check()?;
        self.send(encode_failure(methods, partial))
    }

    /// Server: USERAUTH_PK_OK for a public key query.
    pub fn auth_pk_ok(&mut self, algorithm: &str, key_blob: &[u8]) -> Result<(), Error> {
        self.server_auth_check()?;
        self.send(encode_pk_ok(algorithm, key_blob))
    }

    /// Server: keyboard-interactive prompts (RFC 4256 §3.2).
    pub fn auth_info_request(&mut self, req: &InfoRequest) -> Result<(), Error> {
        self.server_auth_check()?;
        self.kbd_pending = true;
        self.send(req.encode())
    }

    /// Server: ask for a new password (RFC 4252 §8).
    pub fn auth_passwd_changereq(&mut self, prompt: &str) -> Result<(), Error> {
        self.server_auth_check()?;
        self.send(encode_passwd_changereq(prompt))
    }

    /// Server: USERAUTH_BANNER (RFC 4252 §5.4), before success only.
    pub fn auth_banner(&mut self, text: &str) -> Result<(), Error> {
        self.server_auth_check()?;
        if self.authenticated {
            return Ok(());
        }
        self.send(encode_banner(text))
    }

    /// True once user authentication succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    fn client_request(&mut self, req: UserauthRequest) -> Result<(), Error> {
        if !self.userauth_active || self.role != Role::Client {
            return Err(Error::protocol("ssh-userauth service not accepted"));
        }
        self.last_method = Some(match &req.method {
            MethodData::None => "none",
            MethodData::Password { .. } => "password",
            MethodData::PublicKey { .. } => "publickey",
            MethodData::KeyboardInteractive { .. } => "keyboard-interactive",
            MethodData::Other(_) => "other",
        });
        let payload = req.encode();
        self.send(payload.to_vec())
    }

    /// Client: method `none` (RFC 4252 §5.2), which asks for the server's
    /// methods.
    pub fn userauth_none(&mut self, user: &str) -> Result<(), Error> {
        self.client_request(UserauthRequest {
            user: user.into(),
            service: "ssh-connection".into(),
            method: MethodData::None,
        })
    }

    /// Client: method `password` (RFC 4252 §8); `new_password` answers a
    /// change request.
    pub fn userauth_password(&mut self, user: &str, password: &str, new_password: Option<&str>) -> Result<(), Error> {
        self.client_request(UserauthRequest {
            user: user.into(),
            service: "ssh-connection".into(),
            method: MethodData::Password {
                password: Zeroizing::new(password.into()),
                new_password: new_password.map(|p| Zeroizing::new(p.into())),
            },
        })
    }

    /// Client: asks whether the server would accept a key (no signature).
    pub fn userauth_publickey_query(&mut self, user: &str, algorithm: &str, key_blob: &[u8]) -> Result<(), Error> {
        self.client_request(UserauthRequest {
            user: user.into(),
            service: "ssh-connection".into(),
            method: MethodData::PublicKey {
                algorithm: algorithm.into(),
                key_blob: key_blob.to_vec(),
                host_key: None,
                signature: None,
            },
        })
    }

    /// Client: the bytes to sign for a public key request (RFC 4252 §7).
    pub fn userauth_publickey_data(&self, user: &str, algorithm: &str, key_blob: &[u8]) -> Vec<u8> {
        let sid = self.session_id.clone().unwrap_or_default();
        publickey_signed_data(&sid, user, "ssh-connection", algorithm, key_blob, None)
    }

    /// Client: a signed public key request; `signature` is the blob made
    /// over [`Self::userauth_publickey_data`].
    pub fn userauth_publickey_signed(
        &mut self,
        user: &str,
        algorithm: &str,
        key_blob: &[u8],
        signature: Vec<u8>,
    ) -> Result<(), Error> {
        self.client_request(UserauthRequest {
            user: user.into(),
            service: "ssh-connection".into(),
            method: MethodData::PublicKey {
                algorithm: algorithm.into(),
                key_blob: key_blob.to_vec(),
                host_key: None,
                signature: Some(signature),
            },
        })
    }

    /// Client: method `keyboard-interactive` (RFC 4256 §3.1).
    pub fn userauth_keyboard_interactive(&mut self, user: &str) -> Result<(), Error> {
        self.client_request(UserauthRequest {
            user: user.into(),
            service: "ssh-connection".into(),
            method: MethodData::KeyboardInteractive {
                submethods: String::new(),
            },
        })
    }

    /// Client: answers to an [`Event::AuthInfoRequest`] (RFC 4256 §3.4).
    pub fn userauth_info_response(&mut self, responses: &[Zeroizing<String>]) -> Result<(), Error> {
        if self.role != Role::Client || self.last_method != Some("keyboard-interactive") {
            return Err(Error::protocol("no keyboard-interactive exchange in progress"));
        }
        let payload = encode_info_response(responses);
        self.send(payload.to_vec())
    }
}
