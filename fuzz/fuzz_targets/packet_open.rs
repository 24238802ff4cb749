//! The binary packet decoder (`transport::packet::Opener`) in every cipher
//! and MAC mode.
//!
//! Input: `[cipher][mac][flags] rest`.
//! - `cipher` indexes `algorithms::CIPHER_SUPPORTED`, `mac` indexes
//!   `algorithms::MAC_SUPPORTED` (ignored by the AEAD ciphers);
//! - `flags`: bit 0 = the post-auth packet limit (256 KiB) instead of
//!   35000; bit 1 = *sealed* mode (below); bits 2-3 = how the stream is
//!   fed (all at once, 1, 7 or 61 bytes at a time); bit 4 = sequence
//!   numbers start just below 2^32 (wrap-around).
//! - raw mode: `rest` is the ciphertext stream.
//! - sealed mode: `rest` is records `[kind][len: u16 BE][len bytes]`,
//!   encrypted and MACed here with the same keys as the opener's, so the
//!   fuzzer reaches the checks behind the MAC: kind 0 = a well-formed
//!   packet with this payload (well-formed means non-empty); 1 = this plaintext packet as is (length and
//!   padding fields fuzzer-chosen, zero-extended to whole blocks); 2 = raw
//!   bytes appended; 3 = flip bits at an offset of the stream.
//!
//! Oracles: no panic; `Opened` ranges lie within the buffer; and while the
//! stream holds only well-formed packets within the limit, every packet
//! opens to exactly its payload, in order, without error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tobira_proto::algorithms::{CIPHER_SUPPORTED, MAC_SUPPORTED};
use tobira_proto::crypto::cipher::{self, CipherKind, CipherState};
use tobira_proto::crypto::mac::{self, Mac};
use tobira_proto::transport::packet::{DirectionKeys, Opener, MAX_PACKET, MAX_PACKET_PREAUTH, MIN_PADDING};
use zeroize::Zeroizing;

struct SealSide {
    state: CipherState,
    mac: Option<Mac>,
    etm: bool,
    block: usize,
    kind: CipherKind,
    seq: u32,
}

impl SealSide {
    /// Encrypts and MACs a plaintext packet (`uint32 length || rest`),
    /// appending it to `out`.
    fn seal(&mut self, mut pkt: Vec<u8>, out: &mut Vec<u8>) {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        match &mut self.state {
            CipherState::ChaCha(k) => {
                let tag = k.seal(seq, &mut pkt);
                out.extend_from_slice(&pkt);
                out.extend_from_slice(&tag);
            }
            CipherState::Gcm(g) => {
                let (len, rest) = pkt.split_at_mut(4);
                let tag = g.seal(len, rest);
                out.extend_from_slice(&pkt);
                out.extend_from_slice(&tag);
            }
            CipherState::Ctr(c) => {
                let m = self.mac.as_ref().expect("non-AEAD ciphers have a MAC");
                let tag_len = m.spec.tag_len;
                if self.etm {
                    c.apply(&mut pkt[4..]);
                    let tag = m.tag(seq, &pkt);
                    out.extend_from_slice(&pkt);
                    out.extend_from_slice(&tag.as_ref()[..tag_len]);
                } else {
                    let tag = m.tag(seq, &pkt);
                    c.apply(&mut pkt);
                    out.extend_from_slice(&pkt);
                    out.extend_from_slice(&tag.as_ref()[..tag_len]);
                }
            }
            CipherState::None => out.extend_from_slice(&pkt),
        }
    }

    fn clear_len(&self) -> bool {
        self.kind == CipherKind::AesGcm || self.kind == CipherKind::ChaCha20Poly1305 || self.etm
    }

    /// A well-formed packet for `payload`, as `Sealer::seal` frames it.
    fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let block = self.block.max(8);
        let aligned = if self.clear_len() { 1 + payload.len() } else { 5 + payload.len() };
        let mut pad = block - aligned % block;
        if pad < MIN_PADDING {
            pad += block;
        }
        let packet_len = 1 + payload.len() + pad;
        let mut v = Vec::with_capacity(4 + packet_len);
        v.extend_from_slice(&(packet_len as u32).to_be_bytes());
        v.push(pad as u8);
        v.extend_from_slice(payload);
        v.extend((0..pad).map(|i| i as u8));
        v
    }

    /// Zero-extends a fuzzer-written plaintext packet so the cipher sees
    /// whole blocks (the length field stays as written).
    fn align(&self, mut pkt: Vec<u8>) -> Vec<u8> {
        if pkt.len() < 4 {
            pkt.resize(4, 0);
        }
        let block = self.block.max(8);
        let body = if self.clear_len() { pkt.len() - 4 } else { pkt.len() };
        let extra = (block - body % block) % block;
        pkt.resize(pkt.len() + extra, 0);
        pkt
    }
}

fn keys(spec: &'static cipher::CipherSpec) -> (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>) {
    (
        Zeroizing::new((0..spec.key_len).map(|i| 0x11u8.wrapping_add(i as u8)).collect()),
        Zeroizing::new((0..spec.iv_len).map(|i| 0x22u8.wrapping_add(i as u8)).collect()),
    )
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let cipher_name = CIPHER_SUPPORTED[data[0] as usize % CIPHER_SUPPORTED.len()];
    let mac_name = MAC_SUPPORTED[data[1] as usize % MAC_SUPPORTED.len()];
    let flags = data[2];
    let rest = &data[3..];
    let spec = cipher::lookup(cipher_name).expect("supported cipher in table");
    let mac_spec = if spec.is_aead() {
        None
    } else {
        Some(mac::lookup(mac_name).expect("supported MAC in table"))
    };
    let mac_key: Vec<u8> = mac_spec.map_or(Vec::new(), |m| (0..m.key_len).map(|i| 0x33u8 ^ i as u8).collect());
    let (key, iv) = keys(spec);

    let mut opener = Opener::default();
    opener.max_packet = if flags & 1 != 0 { MAX_PACKET } else { MAX_PACKET_PREAUTH };
    let start_seq = if flags & 0x10 != 0 { u32::MAX - 2 } else { 0 };
    opener.seq = start_seq;
    opener
        .rekey(DirectionKeys {
            cipher: spec,
            mac: mac_spec.map(|m| Mac::new(m, &mac_key)),
            key: key.clone(),
            iv: iv.clone(),
        })
        .expect("opener keys");

    // The stream to feed, and the payloads expected while it stays clean.
    let mut stream = Vec::new();
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let mut clean = true;
    if flags & 2 == 0 {
        stream.extend_from_slice(rest);
        clean = false;
    } else {
        let mut sealer = SealSide {
            state: CipherState::new(spec, &key, &iv, true).expect("sealing keys"),
            mac: mac_spec.map(|m| Mac::new(m, &mac_key)),
            etm: mac_spec.is_some_and(|m| m.etm),
            block: spec.block_len,
            kind: spec.kind,
            seq: start_seq,
        };
        let mut r = rest;
        while r.len() >= 3 {
            let kind = r[0] % 4;
            let len = u16::from_be_bytes([r[1], r[2]]) as usize;
            let body = &r[3..(3 + len).min(r.len())];
            r = &r[(3 + len).min(r.len())..];
            match kind {
                0 => {
                    let pkt = sealer.frame(body);
                    // An empty payload has no message number: refused by
                    // design ("padding_length + 1 >= packet_length").
                    if body.is_empty() || pkt.len() - 4 > opener.max_packet {
                        clean = false;
                    }
                    if clean {
                        expected.push(body.to_vec());
                    }
                    sealer.seal(pkt, &mut stream);
                }
                1 => {
                    clean = false;
                    let pkt = sealer.align(body.to_vec());
                    sealer.seal(pkt, &mut stream);
                }
                2 => {
                    clean = false;
                    stream.extend_from_slice(body);
                }
                _ => {
                    if !stream.is_empty() {
                        clean = false;
                        let at = len % stream.len();
                        stream[at] ^= body.first().copied().unwrap_or(1) | 1;
                    }
                }
            }
        }
    }

    // Feed as the connection does: append, open until more is needed,
    // drop what was consumed.
    let chunk = match (flags >> 2) & 3 {
        0 => usize::MAX,
        1 => 1,
        2 => 7,
        _ => 61,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut opened = 0usize;
    'feed: for piece in stream.chunks(chunk.min(stream.len().max(1))) {
        buf.extend_from_slice(piece);
        let mut pos = 0;
        loop {
            match opener.open(&mut buf[pos..]) {
                Ok(Some(p)) => {
                    let avail = buf.len() - pos;
                    assert!(p.consumed <= avail, "consumed {} of {avail} bytes", p.consumed);
                    assert!(p.payload.0 <= p.payload.1 && p.payload.1 <= p.consumed, "payload {:?}", p.payload);
                    if clean {
                        let got = &buf[pos + p.payload.0..pos + p.payload.1];
                        assert_eq!(
                            Some(&got.to_vec()),
                            expected.get(opened),
                            "{cipher_name}/{mac_name}: packet {opened} opened to a different payload"
                        );
                    }
                    opened += 1;
                    pos += p.consumed;
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(!clean, "{cipher_name}/{mac_name}: well-formed packet {opened} refused: {e}");
                    break 'feed;
                }
            }
        }
        buf.drain(..pos);
    }
    if clean {
        assert_eq!(opened, expected.len(), "{cipher_name}/{mac_name}: not every packet opened");
    }
});
