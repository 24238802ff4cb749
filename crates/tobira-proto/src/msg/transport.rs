//! Transport-layer messages (RFC 4253 §7, §11; RFC 8308).

use super::num;
use crate::wire::{DecodeError, Reader, Writer};

/// SSH_MSG_KEXINIT (RFC 4253 §7.1): the cookie and the ten name-lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KexInit {
    /// 16 random bytes.
    pub cookie: [u8; 16],
    /// kex_algorithms
    pub kex: Vec<String>,
    /// server_host_key_algorithms
    pub host_key: Vec<String>,
    /// encryption_algorithms_client_to_server
    pub cipher_c2s: Vec<String>,
    /// encryption_algorithms_server_to_client
    pub cipher_s2c: Vec<String>,
    /// mac_algorithms_client_to_server
    pub mac_c2s: Vec<String>,
    /// mac_algorithms_server_to_client
    pub mac_s2c: Vec<String>,
    /// compression_algorithms_client_to_server
    pub comp_c2s: Vec<String>,
    /// compression_algorithms_server_to_client
    pub comp_s2c: Vec<String>,
    /// languages_client_to_server
    pub lang_c2s: Vec<String>,
    /// languages_server_to_client
    pub lang_s2c: Vec<String>,
    /// first_kex_packet_follows
    pub first_kex_packet_follows: bool,
    /// reserved uint32 (0)
    pub reserved: u32,
}

/// The labels of the ten KEXINIT name-lists, in wire order.
pub const KEXINIT_LIST_NAMES: [&str; 10] = [
    "kex_algorithms",
    "server_host_key_algorithms",
    "encryption_algorithms_client_to_server",
    "encryption_algorithms_server_to_client",
    "mac_algorithms_client_to_server",
    "mac_algorithms_server_to_client",
    "compression_algorithms_client_to_server",
    "compression_algorithms_server_to_client",
    "languages_client_to_server",
    "languages_server_to_client",
];

impl KexInit {
    /// The ten lists in wire order.
    pub fn lists(&self) -> [&Vec<String>; 10] {
        [
            &self.kex,
            &self.host_key,
            &self.cipher_c2s,
            &self.cipher_s2c,
            &self.mac_c2s,
            &self.mac_s2c,
            &self.comp_c2s,
            &self.comp_s2c,
            &self.lang_c2s,
            &self.lang_s2c,
        ]
    }

    /// Encodes the whole payload, message number included.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1024);
        v.put_u8(num::KEXINIT);
        v.extend_from_slice(&self.cookie);
        for l in self.lists() {
            v.put_name_list(l);
        }
        v.put_bool(self.first_kex_packet_follows);
        v.put_u32(self.reserved);
        v
    }

    /// Decodes a payload that starts with the message number.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        if r.u8()? != num::KEXINIT {
            return Err(DecodeError::Invalid("KEXINIT"));
        }
        let mut cookie = [0u8; 16];
        cookie.copy_from_slice(r.bytes(16, "cookie")?);
        let k = KexInit {
            cookie,
            kex: r.name_list()?,
            host_key: r.name_list()?,
            cipher_c2s: r.name_list()?,
            cipher_s2c: r.name_list()?,
            mac_c2s: r.name_list()?,
            mac_s2c: r.name_list()?,
            comp_c2s: r.name_list()?,
            comp_s2c: r.name_list()?,
            lang_c2s: r.name_list()?,
            lang_s2c: r.name_list()?,
            first_kex_packet_follows: r.bool()?,
            reserved: r.u32()?,
        };
        // RFC 4253 §7.1 allows no extension after `reserved`; OpenSSH
        // ignores trailing bytes, and so do we for compatibility.
        Ok(k)
    }
}

/// SSH_MSG_DISCONNECT (RFC 4253 §11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// Reason code.
    pub reason: u32,
    /// Description (UTF-8).
    pub description: String,
}

impl Disconnect {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![num::DISCONNECT];
        v.put_u32(self.reason);
        v.put_string(self.description.as_bytes());
        v.put_string(b"");
        v
    }

    /// Decodes the payload; an invalid UTF-8 description is replaced lossily.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        r.u8()?;
        let reason = r.u32()?;
        let description = String::from_utf8_lossy(r.string()?).into_owned();
        Ok(Disconnect { reason, description })
    }
}

/// Encodes SSH_MSG_SERVICE_REQUEST or SSH_MSG_SERVICE_ACCEPT (RFC 4253 §10).
pub fn encode_service(msg: u8, service: &str) -> Vec<u8> {
    let mut v = vec![msg];
    v.put_string(service.as_bytes());
    v
}

/// Encodes SSH_MSG_UNIMPLEMENTED (RFC 4253 §11.4).
pub fn encode_unimplemented(seq: u32) -> Vec<u8> {
    let mut v = vec![num::UNIMPLEMENTED];
    v.put_u32(seq);
    v
}

/// Encodes SSH_MSG_IGNORE (RFC 4253 §11.2).
pub fn encode_ignore(data: &[u8]) -> Vec<u8> {
    let mut v = vec![num::IGNORE];
    v.put_string(data);
    v
}

/// Encodes SSH_MSG_DEBUG (RFC 4253 §11.3).
pub fn encode_debug(always_display: bool, message: &str) -> Vec<u8> {
    let mut v = vec![num::DEBUG];
    v.put_bool(always_display);
    v.put_string(message.as_bytes());
    v.put_string(b"");
    v
}

/// SSH_MSG_EXT_INFO (RFC 8308 §2.3): extension name/value pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtInfo {
    /// The extensions, in order.
    pub extensions: Vec<(String, Vec<u8>)>,
}

/// At most this many extensions are accepted in one EXT_INFO.
pub const MAX_EXTENSIONS: u32 = 64;

impl ExtInfo {
    /// Encodes the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![num::EXT_INFO];
        v.put_u32(self.extensions.len() as u32);
        for (n, val) in &self.extensions {
            v.put_string(n.as_bytes());
            v.put_string(val);
        }
        v
    }

    /// Decodes the payload.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        r.u8()?;
        let n = r.u32()?;
        if n > MAX_EXTENSIONS {
            return Err(DecodeError::Invalid("too many extensions"));
        }
        let mut extensions = Vec::new();
        for _ in 0..n {
            let name = String::from_utf8_lossy(r.string()?).into_owned();
            let value = r.string()?.to_vec();
            extensions.push((name, value));
        }
        Ok(ExtInfo { extensions })
    }

    /// The `server-sig-algs` extension's algorithms, if present.
    pub fn server_sig_algs(&self) -> Option<Vec<String>> {
        self.extensions
            .iter()
            .find(|(n, _)| n == "server-sig-algs")
            .map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kexinit_round_trip() {
        let k = KexInit {
            cookie: [7; 16],
            kex: vec!["curve25519-sha256".into(), "ext-info-c".into()],
            host_key: vec!["ssh-ed25519".into()],
            cipher_c2s: vec!["aes256-ctr".into()],
            cipher_s2c: vec!["aes256-ctr".into()],
            mac_c2s: vec!["hmac-sha2-256".into()],
            mac_s2c: vec!["hmac-sha2-256".into()],
            comp_c2s: vec!["none".into()],
            comp_s2c: vec!["none".into()],
            ..Default::default()
        };
        let enc = k.encode();
        assert_eq!(KexInit::decode(&enc).unwrap(), k);
        for cut in 0..enc.len() - 5 {
            assert!(KexInit::decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
    }
}
