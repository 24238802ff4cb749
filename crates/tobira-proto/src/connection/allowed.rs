//! The table of which message may arrive when: every incoming message
//! number is checked here, in one place, against the connection's stage
//! and role before any handler parses it (RFC 4253 §7.1 and §11, RFC 4252
//! §6, RFC 4254 §1, OpenSSH PROTOCOL §1.10 strict KEX).
//!
//! Handlers may refuse further (a reply nobody asked for, a
//! keyboard-interactive response without prompts), but nothing outside
//! this table reaches them.

use super::Role;
use crate::error::Error;
use crate::msg::num;

/// Where a connection is, as far as incoming messages are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// The first key exchange, before either NEWKEYS has been received.
    InitialKex,
    /// A re-exchange: the peer's KEXINIT received, its NEWKEYS not yet.
    Rekey,
    /// Keys in force, `ssh-userauth` not yet accepted.
    PreService,
    /// `ssh-userauth` accepted, not yet authenticated.
    Authenticating,
    /// Authenticated: the connection protocol runs.
    Authenticated,
}

/// What the dispatcher should do with a message number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Hand it to its handler.
    Handle,
    /// Unknown number: answer SSH_MSG_UNIMPLEMENTED (RFC 4253 §11.4).
    Unimplemented,
}

/// Checks message `msg` from the peer of a `role` connection at `stage`;
/// `strict` is strict KEX. An error is a protocol violation, to be ended
/// with SSH_DISCONNECT_PROTOCOL_ERROR.
pub(super) fn check(role: Role, stage: Stage, strict: bool, msg: u8) -> Result<Verdict, Error> {
    let transport_generic = matches!(msg, num::DISCONNECT | num::IGNORE | num::UNIMPLEMENTED | num::DEBUG);
    let kex = matches!(msg, num::KEXINIT | num::NEWKEYS | 30..=49);
    match stage {
        // A DISCONNECT is honoured even then, so that the peer's reason
        // is reported rather than a violation.
        Stage::InitialKex if strict && !kex && msg != num::DISCONNECT => {
            return Err(Error::protocol(format!(
                "strict KEX violation: unexpected message type {msg} during initial key exchange"
            )))
        }
        Stage::InitialKex | Stage::Rekey if !(transport_generic || kex) => {
            return Err(Error::protocol(format!(
                "unexpected message type {msg} during key exchange"
            )))
        }
        _ => {}
    }
    if transport_generic || kex {
        return Ok(Verdict::Handle);
    }
    let peer_is_client = role == Role::Server;
    match msg {
        num::SERVICE_REQUEST if peer_is_client => Ok(Verdict::Handle),
        num::SERVICE_ACCEPT | num::EXT_INFO if !peer_is_client => Ok(Verdict::Handle),
        // A client may send EXT_INFO too (RFC 8308 §2.2); tobira ignores it.
        num::EXT_INFO => Ok(Verdict::Handle),
        num::SERVICE_REQUEST | num::SERVICE_ACCEPT => Err(Error::protocol(format!("unexpected message type {msg}"))),
        50..=79 => {
            if matches!(stage, Stage::PreService) {
                return Err(Error::protocol(format!(
                    "authentication message {msg} before ssh-userauth service accepted"
                )));
            }
            // Requests and responses come from clients; the rest from servers.
            let from_client = matches!(msg, num::USERAUTH_REQUEST | num::USERAUTH_INFO_RESPONSE);
            if from_client != peer_is_client {
                return Err(Error::protocol(format!(
                    "unexpected {} ({msg}) from the {}",
                    crate::msg::name(msg, None),
                    if peer_is_client { "client" } else { "server" }
                )));
            }
            Ok(Verdict::Handle)
        }
        80..=127 => {
            if stage != Stage::Authenticated {
                return Err(Error::protocol(format!(
                    "connection protocol message type {msg} before authentication"
                )));
            }
            Ok(Verdict::Handle)
        }
        _ => Ok(Verdict::Unimplemented),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(role: Role, stage: Stage, strict: bool, msg: u8) -> bool {
        check(role, stage, strict, msg).is_err()
    }

    #[test]
    fn table() {
        use Stage::*;
        for role in [Role::Client, Role::Server] {
            // Strict initial exchange: only KEXINIT, NEWKEYS, kex messages.
            for m in [2, 3, 4, 5, 50, 80, 94, 200] {
                assert!(refused(role, InitialKex, true, m), "{m}");
            }
            assert!(!refused(role, InitialKex, true, num::DISCONNECT));
            for m in [20, 21, 30, 31, 34, 49] {
                assert!(!refused(role, InitialKex, true, m), "{m}");
            }
            // Without strict KEX, generic transport messages are fine.
            assert!(!refused(role, InitialKex, false, 2));
            assert!(refused(role, InitialKex, false, 5));
            assert!(refused(role, Rekey, true, 94));
            assert!(!refused(role, Rekey, true, 2));
            // Connection protocol only once authenticated.
            for s in [PreService, Authenticating] {
                assert!(refused(role, s, true, 90), "{s:?}");
            }
            assert!(!refused(role, Authenticated, true, 90));
            assert_eq!(check(role, Authenticated, true, 200).ok(), Some(Verdict::Unimplemented));
            // Authentication before the service.
            assert!(refused(role, PreService, true, 50));
        }
        // Direction of authentication messages.
        assert!(refused(Role::Server, Authenticating, true, num::USERAUTH_SUCCESS));
        assert!(refused(Role::Server, Authenticating, true, num::USERAUTH_FAILURE));
        assert!(refused(Role::Client, Authenticating, true, num::USERAUTH_REQUEST));
        assert!(!refused(Role::Server, Authenticating, true, num::USERAUTH_REQUEST));
        assert!(!refused(Role::Client, Authenticating, true, num::USERAUTH_SUCCESS));
        // Services.
        assert!(refused(Role::Client, PreService, true, num::SERVICE_REQUEST));
        assert!(refused(Role::Server, PreService, true, num::SERVICE_ACCEPT));
    }
}
