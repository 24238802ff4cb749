//! The binary packet protocol (RFC 4253 §6): framing, padding, sequence
//! numbers, encryption and MAC, in both directions.
//!
//! Packets are built and encrypted in place in the caller's output buffer,
//! and decrypted in place in the input buffer: no allocation per packet.

use rand_core::RngCore;

use crate::crypto::cipher::{CipherKind, CipherSpec, CipherState, NONE};
use crate::crypto::mac::Mac;
use crate::error::{DisconnectReason, Error};
use crate::transport::out_buf::OutBuf;

/// Smallest padding (RFC 4253 §6).
pub const MIN_PADDING: usize = 4;
/// Spare capacity to leave after channel data so that
/// [`Sealer::seal_parts`] can write the padding of its last packet there
/// and seal it without a copy (AES-GCM pads with 4 to 19 bytes; this is
/// also the most padding it sets aside).
pub const PADDING_ROOM: usize = 64;
/// Data below this many bytes is copied into the packet even with AES-GCM:
/// for a keystroke, copying costs less than sealing in two pieces.
const SCATTER_MIN: usize = 1024;
/// AES-GCM's tag (RFC 5647 §7.3).
const GCM_TAG: usize = 16;
/// Largest packet before user authentication completes (RFC 4253 §6.1:
/// implementations must accept 35000 bytes; we accept no more).
pub const MAX_PACKET_PREAUTH: usize = 35_000;
/// Largest packet once authenticated (OpenSSH's PACKET_MAX_SIZE).
pub const MAX_PACKET: usize = 256 * 1024;

/// What one direction carried since its keys were installed: what
/// rekeying limits are measured against (RFC 4253 §9, RFC 4344 §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Packets.
    pub packets: u64,
    /// Bytes on the wire (length field, payload, padding, MAC/tag).
    pub bytes: u64,
    /// Cipher blocks processed (bytes / the cipher's block length).
    pub blocks: u64,
}

impl Traffic {
    fn count(&mut self, wire_len: usize, block: usize) {
        self.packets = self.packets.saturating_add(1);
        self.bytes = self.bytes.saturating_add(wire_len as u64);
        self.blocks = self.blocks.saturating_add((wire_len / block.max(1)) as u64);
    }
}

/// The rekey limit a cipher imposes by itself, in blocks: RFC 4344 §3.2
/// asks for a new key after 2^(L/4) blocks of an L-bit block cipher, which
/// matters for 64-bit blocks (3DES: 2^16 blocks, 512 KiB). For 128-bit
/// blocks, stream ciphers and AEADs it is 2^32 blocks, far beyond the byte
/// limit ([`crate::Config::rekey_bytes`]).
pub fn cipher_block_limit(spec: &CipherSpec) -> u64 {
    match spec.kind {
        CipherKind::Cbc if spec.block_len == 8 => 1 << 16,
        _ => 1 << 32,
    }
}

/// Keys and algorithms for one direction, as derived at NEWKEYS.
pub struct DirectionKeys {
    /// The cipher.
    pub cipher: &'static CipherSpec,
    /// The MAC, absent for AEAD ciphers and `none`.
    pub mac: Option<Mac>,
    /// Encryption key.
    pub key: zeroize::Zeroizing<Vec<u8>>,
    /// Initial IV.
    pub iv: zeroize::Zeroizing<Vec<u8>>,
}

fn length_is_clear(spec: &CipherSpec, mac: &Option<Mac>) -> bool {
    spec.kind == CipherKind::AesGcm
        || spec.kind == CipherKind::ChaCha20Poly1305
        || mac.as_ref().is_some_and(|m| m.spec.etm)
}

/// The sending half: seals payloads into packets.
pub struct Sealer {
    spec: &'static CipherSpec,
    state: CipherState,
    mac: Option<Mac>,
    /// Sequence number of the next packet (RFC 4253 §6.4), wrapping at 2^32.
    pub seq: u32,
    /// Sent since the keys were installed.
    pub traffic: Traffic,
    /// Packets sealed since the connection began: unlike [`Self::seq`]
    /// (reset by strict key exchange) and [`Self::traffic`], never reset.
    pub packets_sealed: u64,
}

impl Default for Sealer {
    fn default() -> Self {
        Sealer {
            spec: &NONE,
            state: CipherState::None,
            mac: None,
            seq: 0,
            traffic: Traffic::default(),
            packets_sealed: 0,
        }
    }
}

impl Sealer {
    /// Installs new keys (at NEWKEYS); the sequence number carries on.
    pub fn rekey(&mut self, keys: DirectionKeys) -> Result<(), Error> {
        self.state = CipherState::new(keys.cipher, &keys.key, &keys.iv, true)
            .ok_or_else(|| Error::kex("cipher keying failed"))?;
        self.spec = keys.cipher;
        self.mac = keys.mac;
        self.traffic = Traffic::default();
        Ok(())
    }

    /// The cipher in force.
    pub fn cipher(&self) -> &'static CipherSpec {
        self.spec
    }

    /// True once a cipher other than `none` is in force.
    pub fn is_encrypted(&self) -> bool {
        self.spec.kind != CipherKind::None
    }

    /// The padding for a payload of `payload_len` bytes: at least
    /// [`MIN_PADDING`], making the encrypted part (or, where the length
    /// travels in the clear, the part after it) a multiple of the block
    /// size, at least 8 (RFC 4253 §6).
    fn padding_len(&self, payload_len: usize) -> usize {
        let block = self.spec.block_len.max(8);
        let aligned = if length_is_clear(self.spec, &self.mac) {
            1 + payload_len
        } else {
            5 + payload_len
        };
        let pad = block - aligned % block;
        if pad < MIN_PADDING {
            pad + block
        } else {
            pad
        }
    }

    /// Whether [`Self::seal_parts`] seals `data_len` bytes ending at `end`
    /// of a buffer of `capacity`, after a head of `head_len`, from where
    /// they lie rather than copying them: 1 KiB or more, with
    /// chacha20-poly1305 (whose aws-lc implementation copies them all the
    /// same, see [`ChaChaPoly::seal_scattered`]), or with AES-GCM when
    /// there is room for the padding after them.
    ///
    /// [`ChaChaPoly::seal_scattered`]: crate::crypto::chacha_poly::ChaChaPoly::seal_scattered
    pub fn scatters(&self, head_len: usize, capacity: usize, end: usize, data_len: usize) -> bool {
        let pad = self.padding_len(head_len.saturating_add(data_len));
        data_len >= SCATTER_MIN
            && match self.state {
                CipherState::ChaCha(_) => true,
                CipherState::Gcm(_) => pad <= PADDING_ROOM && capacity >= end.saturating_add(pad),
                _ => false,
            }
    }

    /// Seals the payload `head ‖ buf[data]` (a message's fields, then the
    /// data it carries where the caller holds it), appending the packet to
    /// `out`; the same packet as [`Self::seal`] of that payload.
    ///
    /// With chacha20-poly1305 (RustCrypto's backend, see
    /// [`crate::crypto::chacha_poly::Backend`]; aws-lc's copies) and
    /// AES-GCM the data is encrypted from `buf` straight into `out`,
    /// without being copied there first (issue 6: no copy per packet on
    /// the data path). ChaCha20, a stream cipher, takes the packet in
    /// pieces, so `buf` is only read.
    /// With AES-GCM the padding has to follow the data in the same
    /// piece of plaintext, so it is written into `buf` just after `data`
    /// (over what lies there, kept aside, or into the buffer's spare
    /// capacity) and `buf` is put back as it was before this returns.
    /// The packet's room in `out` is not zero-filled first: [`OutBuf`]
    /// hands out memory it has held before as it is, for the cipher to
    /// overwrite (the fill cost a tenth of AES-GCM's time on a 32 KiB
    /// packet).
    /// `data` must lie within `buf`; it is cut to `buf` otherwise, and the
    /// message in `head` would then not match the data that follows it.
    /// Other ciphers, data under 1 KiB, or (AES-GCM) a `buf` without room
    /// for the padding after the data take the copy of [`Self::seal_with`].
    pub fn seal_parts(
        &mut self,
        head: &[u8],
        buf: &mut Vec<u8>,
        data: std::ops::Range<usize>,
        rng: &mut dyn RngCore,
        out: &mut OutBuf,
    ) -> (u32, u8) {
        debug_assert!(
            data.start <= data.end && data.end <= buf.len(),
            "{data:?} of {}",
            buf.len()
        );
        let end = data.end.min(buf.len());
        let start = data.start.min(end);
        let data_len = end - start;
        let payload_len = head.len() + data_len;
        let pad = self.padding_len(payload_len);
        let scatter = self.scatters(head.len(), buf.capacity(), end, data_len);
        if scatter && matches!(self.state, CipherState::ChaCha(_)) {
            return self.seal_chacha_parts(head, &buf[start..end], rng, out);
        }
        let gcm = match &mut self.state {
            CipherState::Gcm(gcm) if scatter => gcm,
            _ => return self.seal_copied(head, &buf[start..end], rng, out),
        };
        let packet_len = 1 + payload_len + pad;
        let out_start = out.len();
        out.reserve(4 + packet_len + GCM_TAG);
        out.extend_from_slice(&(packet_len as u32).to_be_bytes());
        out.push(pad as u8);
        out.extend_from_slice(head);
        let prefix_len = out.len() - out_start;
        out.extend_for_overwrite(data_len + pad + GCM_TAG);
        // The padding after the data, in the caller's buffer.
        let buf_len = buf.len();
        let kept_len = buf_len.saturating_sub(end).min(pad);
        let mut kept = [0u8; PADDING_ROOM];
        kept[..kept_len].copy_from_slice(&buf[end..end + kept_len]);
        if buf_len < end + pad {
            buf.resize(end + pad, 0);
        }
        rng.fill_bytes(&mut buf[end..end + pad]);
        let (prefix, extra_out) = out.as_mut_slice()[out_start..].split_at_mut(prefix_len);
        let (len_bytes, in_out) = prefix.split_at_mut(4);
        let sealed = gcm.seal_scatter(len_bytes, in_out, &buf[start..end + pad], extra_out);
        buf.truncate(buf_len);
        buf[end..end + kept_len].copy_from_slice(&kept[..kept_len]);
        if !sealed {
            // Lengths are right by construction; should aws-lc refuse
            // anyway, the packet is built the other way.
            out.truncate(out_start);
            return self.seal_copied(head, &buf[start..end], rng, out);
        }
        self.seq = self.seq.wrapping_add(1);
        self.traffic.count(out.len() - out_start, self.spec.block_len.max(8));
        self.packets_sealed = self.packets_sealed.wrapping_add(1);
        (packet_len as u32, pad as u8)
    }

    /// [`Self::seal_parts`] with chacha20-poly1305: the packet's head and
    /// padding are written into `out`, and `data` is encrypted from where
    /// it lies into the room between them.
    fn seal_chacha_parts(&mut self, head: &[u8], data: &[u8], rng: &mut dyn RngCore, out: &mut OutBuf) -> (u32, u8) {
        self.seal_framed(head.len() + data.len(), rng, out, |o| o.extend_from_slice(head), data)
    }

    /// [`Self::seal`] of `head ‖ data`, the two copied into the packet.
    fn seal_copied(&mut self, head: &[u8], data: &[u8], rng: &mut dyn RngCore, out: &mut OutBuf) -> (u32, u8) {
        self.seal_with(head.len() + data.len(), rng, out, |o| {
            o.extend_from_slice(head);
            o.extend_from_slice(data);
        })
    }

    /// Frames, pads, encrypts and MACs `payload`, appending the packet to `out`.
    /// Returns (packet_length, padding_length) for tracing.
    pub fn seal(&mut self, payload: &[u8], rng: &mut dyn RngCore, out: &mut OutBuf) -> (u32, u8) {
        self.seal_with(payload.len(), rng, out, |o| o.extend_from_slice(payload))
    }

    /// Like [`Self::seal`], but `write` appends the payload to `out` itself
    /// (exactly `payload_len` bytes, else the packet is cut or padded to
    /// that length): the payload is built in place, where it is encrypted,
    /// with no intermediate buffer.
    pub fn seal_with(
        &mut self,
        payload_len: usize,
        rng: &mut dyn RngCore,
        out: &mut OutBuf,
        write: impl FnOnce(&mut OutBuf),
    ) -> (u32, u8) {
        self.seal_framed(payload_len, rng, out, write, &[])
    }

    /// [`Self::seal_with`] of a payload whose last `tail.len()` bytes are
    /// `tail` (`write` appends the rest): chacha20-poly1305 encrypts `tail`
    /// from where it lies into the packet, the other ciphers copy it there.
    fn seal_framed(
        &mut self,
        payload_len: usize,
        rng: &mut dyn RngCore,
        out: &mut OutBuf,
        write: impl FnOnce(&mut OutBuf),
        tail: &[u8],
    ) -> (u32, u8) {
        let block = self.spec.block_len.max(8);
        let pad = self.padding_len(payload_len);
        let packet_len = 1 + payload_len + pad;
        let start = out.len();
        out.reserve(4 + packet_len + 64);
        out.extend_from_slice(&(packet_len as u32).to_be_bytes());
        out.push(pad as u8);
        write(out);
        // A writer that disagrees with its own length must not desynchronise
        // the stream.
        let tail = &tail[..tail.len().min(payload_len)];
        out.resize(start + 5 + payload_len - tail.len(), 0);
        let tail_at = out.len() - start;
        if matches!(self.state, CipherState::ChaCha(_)) {
            // Overwritten by the encrypted tail below.
            out.extend_for_overwrite(tail.len());
        } else {
            out.extend_from_slice(tail);
        }
        rng.fill_bytes(out.extend_for_overwrite(pad));
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let end = out.len();
        match &mut self.state {
            CipherState::None => {}
            CipherState::ChaCha(k) => {
                let tag = k.seal_scattered(seq, &mut out.as_mut_slice()[start..end], tail_at, tail);
                out.extend_from_slice(&tag);
            }
            CipherState::Gcm(g) => {
                let (len, rest) = out.as_mut_slice()[start..end].split_at_mut(4);
                let tag = g.seal(len, rest);
                out.extend_from_slice(&tag);
            }
            CipherState::Ctr(c) => {
                let mac = self.mac.as_ref();
                match mac {
                    Some(m) if m.spec.etm => {
                        c.apply(&mut out.as_mut_slice()[start + 4..end]);
                        let tag = m.tag(seq, &out[start..end]);
                        out.extend_from_slice(&tag.as_ref()[..m.spec.tag_len]);
                    }
                    Some(m) => {
                        let tag = m.tag(seq, &out[start..end]);
                        c.apply(&mut out.as_mut_slice()[start..end]);
                        out.extend_from_slice(&tag.as_ref()[..m.spec.tag_len]);
                    }
                    None => c.apply(&mut out.as_mut_slice()[start..end]),
                }
            }
        }
        self.traffic.count(out.len() - start, block);
        self.packets_sealed = self.packets_sealed.wrapping_add(1);
        (packet_len as u32, pad as u8)
    }
}

/// A packet opened in the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Bytes of the input buffer this packet used (including MAC/tag).
    pub consumed: usize,
    /// Payload range within the input buffer.
    pub payload: (usize, usize),
    /// packet_length field.
    pub packet_len: u32,
    /// padding_length field.
    pub padding_len: u8,
    /// Sequence number of this packet.
    pub seq: u32,
}

/// The receiving half: opens packets from the input buffer.
pub struct Opener {
    spec: &'static CipherSpec,
    state: CipherState,
    mac: Option<Mac>,
    /// Sequence number of the next packet.
    pub seq: u32,
    /// For CTR without EtM: the first block is already decrypted in place.
    first_block_done: Option<u32>,
    /// Largest accepted packet_length.
    pub max_packet: usize,
    /// Received since the keys were installed.
    pub traffic: Traffic,
}

impl Default for Opener {
    fn default() -> Self {
        Opener {
            spec: &NONE,
            state: CipherState::None,
            mac: None,
            seq: 0,
            first_block_done: None,
            max_packet: MAX_PACKET_PREAUTH,
            traffic: Traffic::default(),
        }
    }
}

fn mac_error() -> Error {
    Error::with_reason(DisconnectReason::MacError, "Corrupted MAC on input.")
}

impl Opener {
    /// Installs new keys (at NEWKEYS).
    pub fn rekey(&mut self, keys: DirectionKeys) -> Result<(), Error> {
        self.state = CipherState::new(keys.cipher, &keys.key, &keys.iv, false)
            .ok_or_else(|| Error::kex("cipher keying failed"))?;
        self.spec = keys.cipher;
        self.mac = keys.mac;
        self.first_block_done = None;
        self.traffic = Traffic::default();
        Ok(())
    }

    /// The cipher in force.
    pub fn cipher(&self) -> &'static CipherSpec {
        self.spec
    }

    fn check_len(&self, len: u32, clear_len: bool) -> Result<usize, Error> {
        let block = self.spec.block_len.max(8);
        let n = len as usize;
        let aligned = if clear_len { n } else { n + 4 };
        if n < 5 || n > self.max_packet {
            return Err(Error::protocol(format!("Bad packet length {len}.")));
        }
        if aligned % block != 0 {
            return Err(Error::protocol(format!(
                "Bad packet length {len}: not a multiple of the block size {block}."
            )));
        }
        Ok(n)
    }

    /// Tries to open one packet at the start of `buf`. Returns `Ok(None)`
    /// when more bytes are needed. On success the payload is decrypted in
    /// place at `Opened::payload`.
    pub fn open(&mut self, buf: &mut [u8]) -> Result<Option<Opened>, Error> {
        let mac_len = self.mac.as_ref().map_or(0, |m| m.spec.tag_len);
        let tag_len = self.spec.tag_len;
        let seq = self.seq;
        let len: usize = match &mut self.state {
            CipherState::None => {
                let Some(h) = buf.get(..4) else { return Ok(None) };
                let n = self.check_len(u32::from_be_bytes([h[0], h[1], h[2], h[3]]), false)?;
                if buf.len() < 4 + n {
                    return Ok(None);
                }
                n
            }
            CipherState::ChaCha(k) => {
                let Some(h) = buf.get(..4) else { return Ok(None) };
                let plain = k.crypt_length(seq, [h[0], h[1], h[2], h[3]]);
                let n = self.check_len(u32::from_be_bytes(plain), true)?;
                if buf.len() < 4 + n + tag_len {
                    return Ok(None);
                }
                let (packet, rest) = buf.split_at_mut(4 + n);
                let CipherState::ChaCha(k) = &self.state else {
                    return Err(Error::Closed);
                };
                if !k.open(seq, packet, &rest[..tag_len]) {
                    return Err(mac_error());
                }
                packet[..4].copy_from_slice(&plain);
                n
            }
            CipherState::Gcm(_) => {
                let Some(h) = buf.get(..4) else { return Ok(None) };
                let n = self.check_len(u32::from_be_bytes([h[0], h[1], h[2], h[3]]), true)?;
                if buf.len() < 4 + n + tag_len {
                    return Ok(None);
                }
                let (len_bytes, rest) = buf.split_at_mut(4);
                let CipherState::Gcm(g) = &mut self.state else {
                    return Err(Error::Closed);
                };
                if !g.open(len_bytes, &mut rest[..n + tag_len]) {
                    return Err(mac_error());
                }
                n
            }
            CipherState::Ctr(_) => {
                let etm = self.mac.as_ref().is_some_and(|m| m.spec.etm);
                if etm {
                    let Some(h) = buf.get(..4) else { return Ok(None) };
                    let n = self.check_len(u32::from_be_bytes([h[0], h[1], h[2], h[3]]), true)?;
                    if buf.len() < 4 + n + mac_len {
                        return Ok(None);
                    }
                    let m = self.mac.as_ref().ok_or(Error::Closed)?;
                    if !m.verify(seq, &buf[..4 + n], &buf[4 + n..4 + n + mac_len]) {
                        return Err(mac_error());
                    }
                    let CipherState::Ctr(c) = &mut self.state else {
                        return Err(Error::Closed);
                    };
                    c.apply(&mut buf[4..4 + n]);
                    n
                } else {
                    let block = self.spec.block_len;
                    let n = match self.first_block_done {
                        Some(l) => l as usize,
                        None => {
                            if buf.len() < block {
                                return Ok(None);
                            }
                            let CipherState::Ctr(c) = &mut self.state else {
                                return Err(Error::Closed);
                            };
                            c.apply(&mut buf[..block]);
                            let l = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                            let n = self.check_len(l, false)?;
                            self.first_block_done = Some(l);
                            n
                        }
                    };
                    if buf.len() < 4 + n + mac_len {
                        return Ok(None);
                    }
                    self.first_block_done = None;
                    let CipherState::Ctr(c) = &mut self.state else {
                        return Err(Error::Closed);
                    };
                    c.apply(&mut buf[block..4 + n]);
                    let m = self.mac.as_ref().ok_or(Error::Closed)?;
                    if !m.verify(seq, &buf[..4 + n], &buf[4 + n..4 + n + mac_len]) {
                        return Err(mac_error());
                    }
                    n
                }
            }
        };
        let pad = buf[4] as usize;
        if pad < MIN_PADDING || pad + 1 >= len {
            return Err(Error::protocol(format!(
                "Bad padding length {pad} for packet length {len}."
            )));
        }
        self.seq = self.seq.wrapping_add(1);
        let consumed = 4 + len + mac_len + tag_len;
        self.traffic.count(consumed, self.spec.block_len.max(8));
        Ok(Some(Opened {
            consumed,
            payload: (5, 5 + len - 1 - pad),
            packet_len: len as u32,
            padding_len: pad as u8,
            seq,
        }))
    }
}
