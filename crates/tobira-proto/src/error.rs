//! Errors of the protocol core. Every fatal error carries the
//! SSH_MSG_DISCONNECT reason code (RFC 4253 §11.1) that is sent to the peer.

use crate::wire::DecodeError;

/// Reason codes of SSH_MSG_DISCONNECT (RFC 4250 §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum DisconnectReason {
    /// SSH_DISCONNECT_HOST_NOT_ALLOWED_TO_CONNECT
    HostNotAllowedToConnect = 1,
    /// SSH_DISCONNECT_PROTOCOL_ERROR
    ProtocolError = 2,
    /// SSH_DISCONNECT_KEY_EXCHANGE_FAILED
    KeyExchangeFailed = 3,
    /// SSH_DISCONNECT_RESERVED
    Reserved = 4,
    /// SSH_DISCONNECT_MAC_ERROR
    MacError = 5,
    /// SSH_DISCONNECT_COMPRESSION_ERROR
    CompressionError = 6,
    /// SSH_DISCONNECT_SERVICE_NOT_AVAILABLE
    ServiceNotAvailable = 7,
    /// SSH_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED
    ProtocolVersionNotSupported = 8,
    /// SSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE
    HostKeyNotVerifiable = 9,
    /// SSH_DISCONNECT_CONNECTION_LOST
    ConnectionLost = 10,
    /// SSH_DISCONNECT_BY_APPLICATION
    ByApplication = 11,
    /// SSH_DISCONNECT_TOO_MANY_CONNECTIONS
    TooManyConnections = 12,
    /// SSH_DISCONNECT_AUTH_CANCELLED_BY_USER
    AuthCancelledByUser = 13,
    /// SSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE
    NoMoreAuthMethodsAvailable = 14,
    /// SSH_DISCONNECT_ILLEGAL_USER_NAME
    IllegalUserName = 15,
}

impl DisconnectReason {
    /// Maps a wire code to a reason; unknown codes map to `None`.
    pub fn from_code(code: u32) -> Option<Self> {
        use DisconnectReason::*;
        Some(match code {
            1 => HostNotAllowedToConnect,
            2 => ProtocolError,
            3 => KeyExchangeFailed,
            4 => Reserved,
            5 => MacError,
            6 => CompressionError,
            7 => ServiceNotAvailable,
            8 => ProtocolVersionNotSupported,
            9 => HostKeyNotVerifiable,
            10 => ConnectionLost,
            11 => ByApplication,
            12 => TooManyConnections,
            13 => AuthCancelledByUser,
            14 => NoMoreAuthMethodsAvailable,
            15 => IllegalUserName,
            _ => return None,
        })
    }

    /// The wire code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The RFC 4250 symbolic name, without the `SSH_DISCONNECT_` prefix.
    pub fn name(self) -> &'static str {
        use DisconnectReason::*;
        match self {
            HostNotAllowedToConnect => "HOST_NOT_ALLOWED_TO_CONNECT",
            ProtocolError => "PROTOCOL_ERROR",
            KeyExchangeFailed => "KEY_EXCHANGE_FAILED",
            Reserved => "RESERVED",
            MacError => "MAC_ERROR",
            CompressionError => "COMPRESSION_ERROR",
            ServiceNotAvailable => "SERVICE_NOT_AVAILABLE",
            ProtocolVersionNotSupported => "PROTOCOL_VERSION_NOT_SUPPORTED",
            HostKeyNotVerifiable => "HOST_KEY_NOT_VERIFIABLE",
            ConnectionLost => "CONNECTION_LOST",
            ByApplication => "BY_APPLICATION",
            TooManyConnections => "TOO_MANY_CONNECTIONS",
            AuthCancelledByUser => "AUTH_CANCELLED_BY_USER",
            NoMoreAuthMethodsAvailable => "NO_MORE_AUTH_METHODS_AVAILABLE",
            IllegalUserName => "ILLEGAL_USER_NAME",
        }
    }
}

/// A fatal protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// We end the connection: the reason code and description sent to the
    /// peer in SSH_MSG_DISCONNECT.
    #[error("{message}")]
    Local {
        /// Reason code sent to the peer.
        reason: DisconnectReason,
        /// Human-readable description (also sent to the peer).
        message: String,
    },
    /// The peer ended the connection with SSH_MSG_DISCONNECT.
    #[error("Received disconnect: {code}: {message}")]
    PeerDisconnected {
        /// The peer's reason code.
        code: u32,
        /// The peer's description.
        message: String,
    },
    /// The connection is closed; no more input is processed.
    #[error("connection closed")]
    Closed,
}

impl Error {
    /// A protocol error (SSH_DISCONNECT_PROTOCOL_ERROR).
    pub fn protocol(message: impl Into<String>) -> Self {
        Error::Local {
            reason: DisconnectReason::ProtocolError,
            message: message.into(),
        }
    }

    /// A key exchange failure (SSH_DISCONNECT_KEY_EXCHANGE_FAILED).
    pub fn kex(message: impl Into<String>) -> Self {
        Error::Local {
            reason: DisconnectReason::KeyExchangeFailed,
            message: message.into(),
        }
    }

    /// An error with an explicit reason code.
    pub fn with_reason(reason: DisconnectReason, message: impl Into<String>) -> Self {
        Error::Local {
            reason,
            message: message.into(),
        }
    }

    /// The reason code this error is (or was) reported with.
    pub fn reason(&self) -> Option<DisconnectReason> {
        match self {
            Error::Local { reason, .. } => Some(*reason),
            Error::PeerDisconnected { code, .. } => DisconnectReason::from_code(*code),
            Error::Closed => None,
        }
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::protocol(format!("malformed message: {e}"))
    }
}
