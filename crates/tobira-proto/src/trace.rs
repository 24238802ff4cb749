//! Decodes packets into the protocol-analyser view of the seed note:
//! direction, message name and number, packet and padding length, then
//! every field of the handshake messages. Secrets (passwords, private
//! values) never appear; channel data is summarised by length.

use crate::kex::KexFamily;
use crate::msg::{self, num, transport::KEXINIT_LIST_NAMES};
use crate::transport::negotiate::Negotiated;
use crate::wire::{DecodeError, Reader};

/// Which way a packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We sent it.
    Sent,
    /// We received it.
    Received,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn short_hex(b: &[u8]) -> String {
    if b.len() <= 16 {
        hex(b)
    } else {
        format!("{}…{}", hex(&b[..8]), hex(&b[b.len() - 4..]))
    }
}

fn bits(mag: &[u8]) -> usize {
    match mag.first() {
        Some(&top) => mag.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// Describes a public key blob field by field.
pub fn describe_key_blob(blob: &[u8], indent: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut r = Reader::new(blob);
    let Ok(kt) = r.utf8() else {
        out.push(format!("{indent}(malformed key blob, {} bytes)", blob.len()));
        return out;
    };
    out.push(format!("{indent}host key type: {kt} (blob {} bytes)", blob.len()));
    match kt {
        "ssh-rsa" => {
            if let (Ok(e), Ok(n)) = (r.mpint_positive(), r.mpint_positive()) {
                out.push(format!("{indent}  e: {}", hex(e)));
                out.push(format!("{indent}  n: {} bits ({})", bits(n), short_hex(n)));
            }
        }
        "ssh-ed25519" => {
            if let Ok(k) = r.string() {
                out.push(format!("{indent}  public key: {} bytes ({})", k.len(), hex(k)));
            }
        }
        t if t.starts_with("ecdsa-sha2-") => {
            if let (Ok(c), Ok(q)) = (r.utf8(), r.string()) {
                out.push(format!("{indent}  curve: {c}"));
                out.push(format!("{indent}  Q: {} bytes ({})", q.len(), short_hex(q)));
            }
        }
        _ => {}
    }
    out
}

fn describe_sig(sig: &[u8], indent: &str) -> String {
    let mut r = Reader::new(sig);
    match (r.utf8(), r.string()) {
        (Ok(alg), Ok(s)) => format!("{indent}signature: {alg}, {} bytes", s.len()),
        _ => format!("{indent}signature: (malformed, {} bytes)", sig.len()),
    }
}

fn body(payload: &[u8], family: Option<KexFamily>, lines: &mut Vec<String>) -> Result<(), DecodeError> {
    let mut r = Reader::new(payload);
    let m = r.u8()?;
    let ind = "    ";
    match m {
        num::KEXINIT => {
            let cookie = r.bytes(16, "cookie")?;
            lines.push(format!("{ind}cookie: {}", hex(cookie)));
            for label in KEXINIT_LIST_NAMES {
                let raw = Reader::new(r.remaining()).string()?;
                let list = r.name_list()?;
                lines.push(format!("{ind}{label} length: {}", raw.len()));
                lines.push(format!("{ind}{label} string: {}", list.join(",")));
            }
            lines.push(format!("{ind}first_kex_packet_follows: {}", r.u8()?));
            lines.push(format!("{ind}reserved: {}", r.u32()?));
        }
        num::DISCONNECT => {
            let code = r.u32()?;
            let name = crate::error::DisconnectReason::from_code(code)
                .map(|c| c.name())
                .unwrap_or("unknown");
            lines.push(format!("{ind}reason: {code} ({name})"));
            lines.push(format!("{ind}description: {}", String::from_utf8_lossy(r.string()?)));
        }
        num::IGNORE => lines.push(format!("{ind}data: {} bytes", r.string()?.len())),
        num::DEBUG => {
            let d = r.u8()?;
            lines.push(format!("{ind}always_display: {d}"));
            lines.push(format!("{ind}message: {}", String::from_utf8_lossy(r.string()?)));
        }
        num::UNIMPLEMENTED => lines.push(format!("{ind}rejected sequence number: {}", r.u32()?)),
        num::SERVICE_REQUEST | num::SERVICE_ACCEPT => {
            lines.push(format!("{ind}service name: {}", String::from_utf8_lossy(r.string()?)));
        }
        num::EXT_INFO => {
            let n = r.u32()?;
            lines.push(format!("{ind}nr-extensions: {n}"));
            for _ in 0..n.min(64) {
                let name = String::from_utf8_lossy(r.string()?).into_owned();
                let value = String::from_utf8_lossy(r.string()?).into_owned();
                lines.push(format!("{ind}{name}: {value}"));
            }
        }
        num::NEWKEYS => {}
        30 if family == Some(KexFamily::Hybrid) => {
            let c = r.string()?;
            lines.push(format!(
                "{ind}C_INIT (client KEM public key || ECDH public key): {} bytes ({})",
                c.len(),
                short_hex(c)
            ));
        }
        30 if family == Some(KexFamily::Rsa) => {
            let ks = r.string()?;
            lines.push(format!("{ind}K_S (host key): {} bytes", ks.len()));
            lines.extend(describe_key_blob(ks, "      "));
            let kt = r.string()?;
            lines.push(format!("{ind}K_T (transient RSA key): {} bytes", kt.len()));
            lines.extend(describe_key_blob(kt, "      "));
        }
        31 if family == Some(KexFamily::Rsa) => {
            let e = r.string()?;
            lines.push(format!("{ind}encrypted secret (RSAES-OAEP): {} bytes", e.len()));
        }
        32 if family == Some(KexFamily::Rsa) => {
            let sig = r.string()?;
            lines.push(format!("{ind}signature of H: {} bytes", sig.len()));
            lines.push(describe_sig(sig, "      "));
        }
        30 => match family {
            Some(KexFamily::Ecdh) => {
                let q = r.string()?;
                lines.push(format!(
                    "{ind}Q_C (client ephemeral public key): {} bytes ({})",
                    q.len(),
                    short_hex(q)
                ));
            }
            _ => {
                let e = r.mpint_positive()?;
                lines.push(format!("{ind}e (DH client public value): mpint, {} bits", bits(e)));
            }
        },
        31 if family == Some(KexFamily::DhGex) => {
            let p = r.mpint_positive()?;
            let g = r.mpint_positive()?;
            lines.push(format!("{ind}p (DH modulus): mpint, {} bits", bits(p)));
            lines.push(format!("{ind}g (DH base): {}", hex(g)));
        }
        31 | 33 => {
            let ks = r.string()?;
            lines.push(format!("{ind}K_S (host key): {} bytes", ks.len()));
            lines.extend(describe_key_blob(ks, "      "));
            if family == Some(KexFamily::Hybrid) {
                let q = r.string()?;
                lines.push(format!(
                    "{ind}S_REPLY (KEM ciphertext || server ECDH public key): {} bytes ({})",
                    q.len(),
                    short_hex(q)
                ));
            } else if family == Some(KexFamily::Ecdh) {
                let q = r.string()?;
                lines.push(format!(
                    "{ind}Q_S (server ephemeral public key): {} bytes ({})",
                    q.len(),
                    short_hex(q)
                ));
            } else {
                let f = r.mpint_positive()?;
                lines.push(format!("{ind}f (DH server public value): mpint, {} bits", bits(f)));
            }
            let sig = r.string()?;
            lines.push(format!("{ind}signature of H: {} bytes", sig.len()));
            lines.push(describe_sig(sig, "      "));
        }
        32 => {
            let e = r.mpint_positive()?;
            lines.push(format!("{ind}e (DH client public value): mpint, {} bits", bits(e)));
        }
        34 => {
            lines.push(format!("{ind}min: {}", r.u32()?));
            lines.push(format!("{ind}n: {}", r.u32()?));
            lines.push(format!("{ind}max: {}", r.u32()?));
        }
        num::USERAUTH_REQUEST => {
            lines.push(format!("{ind}user: {}", String::from_utf8_lossy(r.string()?)));
            lines.push(format!("{ind}service: {}", String::from_utf8_lossy(r.string()?)));
            let method = String::from_utf8_lossy(r.string()?).into_owned();
            lines.push(format!("{ind}method: {method}"));
            if method == "password" {
                lines.push(format!("{ind}password: (redacted)"));
            }
        }
        num::USERAUTH_FAILURE => {
            lines.push(format!(
                "{ind}authentications that can continue: {}",
                r.name_list()?.join(",")
            ));
            lines.push(format!("{ind}partial success: {}", r.u8()?));
        }
        num::USERAUTH_BANNER => lines.push(format!("{ind}message: {}", String::from_utf8_lossy(r.string()?))),
        num::CHANNEL_DATA => {
            let id = r.u32()?;
            lines.push(format!(
                "{ind}recipient channel: {id}, data: {} bytes",
                r.string()?.len()
            ));
        }
        _ => lines.push(format!("{ind}({} bytes)", payload.len().saturating_sub(1))),
    }
    Ok(())
}

/// Decodes one packet for `--trace`.
pub fn describe(dir: Direction, payload: &[u8], packet_len: u32, padding_len: u8, family: Option<KexFamily>) -> String {
    let arrow = match dir {
        Direction::Sent => ">>",
        Direction::Received => "<<",
    };
    let m = payload.first().copied().unwrap_or(0);
    let mut lines = vec![format!(
        "{arrow} {} ({m})  packet_length={packet_len} padding_length={padding_len} payload={}",
        msg::name(m, family),
        payload.len()
    )];
    if let Err(e) = body(payload, family, &mut lines) {
        lines.push(format!("    (malformed: {e})"));
    }
    lines.join("\n")
}

/// One line summarising a negotiation, per direction.
pub fn summary(n: &Negotiated, strict: bool) -> String {
    format!(
        "== negotiated: kex {} host key {}{}\n== client->server: cipher {} MAC {} compression {}\n== server->client: cipher {} MAC {} compression {}",
        n.kex,
        n.host_key,
        if strict { " (strict KEX)" } else { "" },
        n.cipher_c2s,
        n.mac_c2s,
        n.comp_c2s,
        n.cipher_s2c,
        n.mac_s2c,
        n.comp_s2c
    )
}
