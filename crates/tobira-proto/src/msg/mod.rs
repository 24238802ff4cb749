//! Message numbers (RFC 4250 §4.1) and typed messages.

pub mod connection;
pub mod transport;
pub mod userauth;

/// Message numbers of RFC 4250 §4.1.2 and the extensions we speak.
#[allow(missing_docs)]
pub mod num {
    pub const DISCONNECT: u8 = 1;
    pub const IGNORE: u8 = 2;
    pub const UNIMPLEMENTED: u8 = 3;
    pub const DEBUG: u8 = 4;
    pub const SERVICE_REQUEST: u8 = 5;
    pub const SERVICE_ACCEPT: u8 = 6;
    pub const EXT_INFO: u8 = 7;
    pub const NEWCOMPRESS: u8 = 8;
    pub const KEXINIT: u8 = 20;
    pub const NEWKEYS: u8 = 21;
    pub const KEXDH_INIT: u8 = 30;
    pub const KEXDH_REPLY: u8 = 31;
    pub const KEX_DH_GEX_GROUP: u8 = 31;
    pub const KEX_DH_GEX_INIT: u8 = 32;
    pub const KEX_DH_GEX_REPLY: u8 = 33;
    pub const KEX_DH_GEX_REQUEST: u8 = 34;
    pub const KEXRSA_PUBKEY: u8 = 30;
    pub const KEXRSA_SECRET: u8 = 31;
    pub const KEXRSA_DONE: u8 = 32;
    pub const USERAUTH_REQUEST: u8 = 50;
    pub const USERAUTH_FAILURE: u8 = 51;
    pub const USERAUTH_SUCCESS: u8 = 52;
    pub const USERAUTH_BANNER: u8 = 53;
    pub const USERAUTH_PK_OK: u8 = 60;
    pub const USERAUTH_PASSWD_CHANGEREQ: u8 = 60;
    pub const USERAUTH_INFO_REQUEST: u8 = 60;
    pub const USERAUTH_INFO_RESPONSE: u8 = 61;
    pub const GLOBAL_REQUEST: u8 = 80;
    pub const REQUEST_SUCCESS: u8 = 81;
    pub const REQUEST_FAILURE: u8 = 82;
    pub const CHANNEL_OPEN: u8 = 90;
    pub const CHANNEL_OPEN_CONFIRMATION: u8 = 91;
    pub const CHANNEL_OPEN_FAILURE: u8 = 92;
    pub const CHANNEL_WINDOW_ADJUST: u8 = 93;
    pub const CHANNEL_DATA: u8 = 94;
    pub const CHANNEL_EXTENDED_DATA: u8 = 95;
    pub const CHANNEL_EOF: u8 = 96;
    pub const CHANNEL_CLOSE: u8 = 97;
    pub const CHANNEL_REQUEST: u8 = 98;
    pub const CHANNEL_SUCCESS: u8 = 99;
    pub const CHANNEL_FAILURE: u8 = 100;
}

/// The RFC 4250 name of a message number. `kex_family` disambiguates
/// 30–49, whose meaning depends on the negotiated key exchange.
pub fn name(n: u8, kex_family: Option<crate::kex::KexFamily>) -> &'static str {
    use crate::kex::KexFamily;
    match n {
        1 => "SSH_MSG_DISCONNECT",
        2 => "SSH_MSG_IGNORE",
        3 => "SSH_MSG_UNIMPLEMENTED",
        4 => "SSH_MSG_DEBUG",
        5 => "SSH_MSG_SERVICE_REQUEST",
        6 => "SSH_MSG_SERVICE_ACCEPT",
        7 => "SSH_MSG_EXT_INFO",
        8 => "SSH_MSG_NEWCOMPRESS",
        20 => "SSH_MSG_KEXINIT",
        21 => "SSH_MSG_NEWKEYS",
        30 => match kex_family {
            Some(KexFamily::Ecdh) => "SSH_MSG_KEX_ECDH_INIT",
            Some(KexFamily::Hybrid) => "SSH_MSG_KEX_HYBRID_INIT",
            Some(KexFamily::Rsa) => "SSH_MSG_KEXRSA_PUBKEY",
            _ => "SSH_MSG_KEXDH_INIT",
        },
        31 => match kex_family {
            Some(KexFamily::Ecdh) => "SSH_MSG_KEX_ECDH_REPLY",
            Some(KexFamily::Hybrid) => "SSH_MSG_KEX_HYBRID_REPLY",
            Some(KexFamily::Rsa) => "SSH_MSG_KEXRSA_SECRET",
            Some(KexFamily::DhGex) => "SSH_MSG_KEX_DH_GEX_GROUP",
            _ => "SSH_MSG_KEXDH_REPLY",
        },
        32 => match kex_family {
            Some(KexFamily::Rsa) => "SSH_MSG_KEXRSA_DONE",
            _ => "SSH_MSG_KEX_DH_GEX_INIT",
        },
        33 => "SSH_MSG_KEX_DH_GEX_REPLY",
        34 => "SSH_MSG_KEX_DH_GEX_REQUEST",
        50 => "SSH_MSG_USERAUTH_REQUEST",
        51 => "SSH_MSG_USERAUTH_FAILURE",
        52 => "SSH_MSG_USERAUTH_SUCCESS",
        53 => "SSH_MSG_USERAUTH_BANNER",
        60 => "SSH_MSG_USERAUTH_PK_OK",
        61 => "SSH_MSG_USERAUTH_INFO_RESPONSE",
        80 => "SSH_MSG_GLOBAL_REQUEST",
        81 => "SSH_MSG_REQUEST_SUCCESS",
        82 => "SSH_MSG_REQUEST_FAILURE",
        90 => "SSH_MSG_CHANNEL_OPEN",
        91 => "SSH_MSG_CHANNEL_OPEN_CONFIRMATION",
        92 => "SSH_MSG_CHANNEL_OPEN_FAILURE",
        93 => "SSH_MSG_CHANNEL_WINDOW_ADJUST",
        94 => "SSH_MSG_CHANNEL_DATA",
        95 => "SSH_MSG_CHANNEL_EXTENDED_DATA",
        96 => "SSH_MSG_CHANNEL_EOF",
        97 => "SSH_MSG_CHANNEL_CLOSE",
        98 => "SSH_MSG_CHANNEL_REQUEST",
        99 => "SSH_MSG_CHANNEL_SUCCESS",
        100 => "SSH_MSG_CHANNEL_FAILURE",
        _ => "unknown",
    }
}
