//! chacha20-poly1305@openssh.com (OpenSSH PROTOCOL.chacha20poly1305).
//!
//! The 64 bytes of key material are two ChaCha20 keys: the first 32 bytes
//! (K_2) key the packet's own stream and its Poly1305 key, the last 32
//! (K_1) only the 4-byte packet length. Both streams take the packet's
//! sequence number as a 64-bit big-endian nonce. Block 0 of K_2's stream
//! gives the Poly1305 key; the rest of the packet (padding length, payload
//! and padding) is encrypted with K_2's stream from block 1 on, the length
//! with K_1's from block 0, and the tag is Poly1305 over the whole
//! ciphertext, length included.
//!
//! Two implementations, picked once per key by the CPU (measured, README
//! "Cipher implementations"):
//! - [`Backend::RustCrypto`]: RustCrypto's `chacha20` with its AVX-512
//!   backend and `poly1305` (AVX2), where the CPU has AVX-512F and
//!   AVX-512VL and the build has `--cfg chacha20_avx512` (this repository's
//!   `.cargo/config.toml` sets it; `chacha20` keeps that backend behind the
//!   flag). On the benchmark's Xeon its ChaCha20 takes about 40 % less time
//!   than aws-lc's (AVX2 at most), its Poly1305 (whole blocks four at a
//!   time, `poly1305_unpadded`) about 25 % less, the whole seal of a
//!   32 KiB packet 20–28 % less.
//! - [`Backend::AwsLc`]: aws-lc's construction everywhere else. Without
//!   AVX-512 RustCrypto's ChaCha20 (AVX2) is slower than aws-lc's.

use aws_lc_rs::aead::chacha20_poly1305_openssh as aws;
use poly1305::universal_hash::{KeyInit, UniversalHash};
use poly1305::{Block, Poly1305};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::chacha_keystream::Keystream;

/// Length of the Poly1305 tag that follows each packet.
pub const TAG_LEN: usize = 16;

/// Which implementation seals and opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// RustCrypto's `chacha20` and `poly1305`: picked where `chacha20` can
    /// use its AVX-512 backend.
    RustCrypto,
    /// aws-lc-rs's `chacha20_poly1305_openssh`.
    AwsLc,
}

impl Backend {
    /// The faster implementation on this CPU and build.
    pub fn detect() -> Backend {
        #[cfg(all(target_arch = "x86_64", chacha20_avx512))]
        {
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl") {
                return Backend::RustCrypto;
            }
        }
        Backend::AwsLc
    }
}

/// RustCrypto's keys: K_2, the packet's stream and its Poly1305 key; K_1,
/// the packet length's stream. Wiped when dropped.
struct Split {
    main: Zeroizing<[u8; 32]>,
    header: Zeroizing<[u8; 32]>,
}

enum Keys {
    Split(Split),
    AwsLc(aws::SealingKey, aws::OpeningKey),
}

/// One direction's keys for chacha20-poly1305@openssh.com. The same keys
/// seal and open.
pub struct ChaChaPoly {
    keys: Keys,
}

impl ChaChaPoly {
    /// Keys the cipher from the 64 bytes of key material derived for this
    /// direction (RFC 4253 §7.2), with the implementation
    /// [`Backend::detect`] picks.
    pub fn new(key: &[u8; 64]) -> Self {
        Self::with_backend(key, Backend::detect())
    }

    /// Keys the cipher with a given implementation (both make the same
    /// packets; tests and benchmarks compare them).
    pub fn with_backend(key: &[u8; 64], backend: Backend) -> Self {
        let keys = match backend {
            Backend::RustCrypto => {
                let mut main = Zeroizing::new([0u8; 32]);
                let mut header = Zeroizing::new([0u8; 32]);
                main.copy_from_slice(&key[..32]);
                header.copy_from_slice(&key[32..]);
                Keys::Split(Split { main, header })
            }
            Backend::AwsLc => Keys::AwsLc(aws::SealingKey::new(key), aws::OpeningKey::new(key)),
        };
        ChaChaPoly { keys }
    }

    /// The implementation in use.
    pub fn backend(&self) -> Backend {
        match self.keys {
            Keys::Split(_) => Backend::RustCrypto,
            Keys::AwsLc(..) => Backend::AwsLc,
        }
    }

    /// Encrypts or decrypts (the same operation) a packet's 4-byte length
    /// field with K_1's stream.
    pub fn crypt_length(&self, seq: u32, len: [u8; 4]) -> [u8; 4] {
        match &self.keys {
            Keys::Split(k) => k.crypt_length(seq, len),
            Keys::AwsLc(_, open) => open.decrypt_packet_length(seq, len),
        }
    }

    /// Seals `packet` (the length field in the clear, then padding length,
    /// payload and padding) in place and returns its tag.
    pub fn seal(&self, seq: u32, packet: &mut [u8]) -> [u8; TAG_LEN] {
        self.seal_scattered(seq, packet, 0, &[])
    }

    /// Seals a packet whose bytes `data_at..data_at + data.len()` come
    /// from `data`. With [`Backend::RustCrypto`] they are encrypted from
    /// `data` straight into the packet, so that the caller need not copy
    /// them there first (aws-lc's construction works in place, so it
    /// copies them). The rest of `packet` (the length field in the clear,
    /// what precedes `data_at` and what follows the data) is encrypted in
    /// place. Returns the tag.
    ///
    /// `packet` must hold at least the 4-byte length field, and `data_at`
    /// must be at least 4 and leave room for `data` in `packet`; the
    /// [`Sealer`](crate::transport::packet::Sealer)'s calls always do.
    /// Otherwise `data` is ignored and the packet sealed as it stands.
    pub fn seal_scattered(&self, seq: u32, packet: &mut [u8], data_at: usize, data: &[u8]) -> [u8; TAG_LEN] {
        let data_end = data_at
            .checked_add(data.len())
            .filter(|&end| data_at >= 4 && !data.is_empty() && end <= packet.len());
        debug_assert!(
            packet.len() >= 4 && (data.is_empty() || data_end.is_some()),
            "{} bytes of data at {data_at} in a packet of {}",
            data.len(),
            packet.len()
        );
        match &self.keys {
            Keys::Split(k) => k.seal(seq, packet, data_end.map(|end| (data_at, end, data))),
            Keys::AwsLc(seal, _) => {
                if let Some(end) = data_end {
                    packet[data_at..end].copy_from_slice(data);
                }
                let mut tag = [0u8; TAG_LEN];
                // aws-lc-rs splits the length field off: not for less.
                if packet.len() >= 4 {
                    seal.seal_in_place(seq, packet, &mut tag);
                }
                tag
            }
        }
    }

    /// Checks `tag` over `packet` (as received: the length field still
    /// encrypted) in constant time and, only if it matches, decrypts the
    /// rest of the packet in place (the length field is left as it is).
    /// Returns false, with `packet` untouched, when the tag is wrong.
    pub fn open(&self, seq: u32, packet: &mut [u8], tag: &[u8]) -> bool {
        match &self.keys {
            Keys::Split(k) => k.open(seq, packet, tag),
            Keys::AwsLc(_, open) => {
                let Ok(tag) = <&[u8; TAG_LEN]>::try_from(tag) else {
                    return false;
                };
                let Some(len) = packet.get(..4).map(|h| [h[0], h[1], h[2], h[3]]) else {
                    return false;
                };
                // aws-lc-rs leaves the length field as it came, as the
                // other backend does; restored all the same, so that what
                // the caller finds there does not hang on its version.
                let ok = open.open_in_place(seq, packet, tag).is_ok();
                packet[..4].copy_from_slice(&len);
                ok
            }
        }
    }
}

impl Split {
    fn crypt_length(&self, seq: u32, len: [u8; 4]) -> [u8; 4] {
        let mut out = len;
        Keystream::new(&self.header, seq, out.len()).apply(&mut out);
        out
    }

    /// K_2's stream for a packet of `len` bytes (length field included):
    /// block 0, then the packet after its length field from block 1.
    fn packet_stream(&self, seq: u32, len: usize) -> Keystream {
        Keystream::new(&self.main, seq, 64 + len.saturating_sub(4))
    }

    /// The Poly1305 instance keyed from block 0 of `stream` (which moves
    /// on to block 1). The stream stays where the caller made it, so that
    /// no copy of the block is left behind by a move.
    fn poly1305(stream: &mut Keystream) -> Poly1305 {
        let mut block0 = Zeroizing::new([0u8; 64]);
        stream.apply(&mut block0[..]);
        let mut poly_key = Zeroizing::new([0u8; 32]);
        poly_key.copy_from_slice(&block0[..32]);
        Poly1305::new((&*poly_key).into())
    }

    /// Seals `packet` in place, its bytes `at..end` encrypted from `data`
    /// when `scatter` is `Some((at, end, data))` (checked by the caller:
    /// 4 ≤ at ≤ end ≤ packet.len(), data.len() = end − at).
    fn seal(&self, seq: u32, packet: &mut [u8], scatter: Option<(usize, usize, &[u8])>) -> [u8; TAG_LEN] {
        let mut stream = self.packet_stream(seq, packet.len());
        let mac = Self::poly1305(&mut stream);
        if let Some(head) = packet.get_mut(..4) {
            let len = self.crypt_length(seq, [head[0], head[1], head[2], head[3]]);
            head.copy_from_slice(&len);
        }
        match scatter {
            Some((at, end, data)) => {
                stream.apply(&mut packet[4..at]);
                stream.apply_b2b(data, &mut packet[at..end]);
                stream.apply(&mut packet[end..]);
            }
            None => {
                if let Some(body) = packet.get_mut(4..) {
                    stream.apply(body);
                }
            }
        }
        poly1305_unpadded(mac, packet)
    }

    fn open(&self, seq: u32, packet: &mut [u8], tag: &[u8]) -> bool {
        let mut stream = self.packet_stream(seq, packet.len());
        let expected = poly1305_unpadded(Self::poly1305(&mut stream), packet);
        if !bool::from(expected.as_slice().ct_eq(tag)) {
            return false;
        }
        if let Some(body) = packet.get_mut(4..) {
            stream.apply(body);
        }
        true
    }
}

/// Poly1305 over `data` without padding (the tag of
/// PROTOCOL.chacha20poly1305; RFC 8439 §2.5). The whole 16-byte blocks go
/// through `UniversalHash::update`, which hands them to `poly1305`'s AVX2
/// backend four at a time; only the partial block at the end goes through
/// `Poly1305::compute_unpadded`, which feeds its input one block at a time
/// through a four-block cache. Same tag, about 28 % less time for a 32 KiB
/// packet on the benchmark's Xeon (13.8 against 9.9 µs).
fn poly1305_unpadded(mut mac: Poly1305, data: &[u8]) -> [u8; TAG_LEN] {
    let (blocks, tail) = Block::slice_as_chunks(data);
    mac.update(blocks);
    mac.compute_unpadded(tail).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKENDS: [Backend; 2] = [Backend::RustCrypto, Backend::AwsLc];

    /// RFC 8439 §2.5.2's Poly1305 vector (two whole blocks and a partial
    /// one), and the same tags as `Poly1305::compute_unpadded` for every
    /// length up to 600 bytes (every mix of four-block groups, single
    /// blocks and a partial block) and a 32 KiB packet's.
    #[test]
    fn poly1305_takes_whole_blocks_four_at_a_time_with_the_same_tag() {
        let key: [u8; 32] = [
            0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52, 0xfe, 0x42, 0xd5, 0x06, 0xa8, 0x01, 0x03,
            0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd, 0x4a, 0xbf, 0xf6, 0xaf, 0x41, 0x49, 0xf5, 0x1b,
        ];
        let tag = poly1305_unpadded(Poly1305::new(&key.into()), b"Cryptographic Forum Research Group");
        assert_eq!(
            tag,
            [0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6, 0xc2, 0x2b, 0x8b, 0xaf, 0x0c, 0x01, 0x27, 0xa9]
        );
        let data: Vec<u8> = (0..32_768 + 12u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for len in (0..=600).chain([32_768 + 4, 32_768 + 12]) {
            let key = [len as u8 ^ 0x5a; 32];
            assert_eq!(
                poly1305_unpadded(Poly1305::new(&key.into()), &data[..len]),
                <[u8; TAG_LEN]>::from(Poly1305::new(&key.into()).compute_unpadded(&data[..len])),
                "length {len}"
            );
        }
    }

    fn key() -> [u8; 64] {
        let mut k = [0u8; 64];
        for (i, b) in k.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7).wrapping_add(3);
        }
        k
    }

    fn packet(len: usize) -> Vec<u8> {
        let mut p: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        p[..4].copy_from_slice(&((len - 4) as u32).to_be_bytes());
        p
    }

    /// Every packet size from tiny to past several 64-byte blocks and a full
    /// 32 KiB one, at sequence numbers near both ends: RustCrypto's
    /// construction makes the same bytes and tag as aws-lc's, an
    /// independent implementation that interoperates with OpenSSH (the
    /// known-answer test in tests/known_answers.rs pins the one this CPU
    /// picks to values computed with Python's `cryptography`; this test
    /// ties the other to it).
    #[test]
    fn backends_seal_alike() {
        let k = key();
        let ours = ChaChaPoly::with_backend(&k, Backend::RustCrypto);
        let theirs = ChaChaPoly::with_backend(&k, Backend::AwsLc);
        assert_eq!(ours.backend(), Backend::RustCrypto);
        assert_eq!(theirs.backend(), Backend::AwsLc);
        for seq in [0u32, 1, 7, 0xffff_fffe, u32::MAX] {
            for len in (8..300).chain([1024, 32_777 + 4 + 14, 35_000]) {
                let mut a = packet(len);
                let mut b = a.clone();
                let tag_a = ours.seal(seq, &mut a);
                let tag_b = theirs.seal(seq, &mut b);
                assert_eq!(a, b, "seq {seq} len {len}");
                assert_eq!(tag_a, tag_b, "seq {seq} len {len}");
            }
        }
    }

    /// Sealing with the data taken from elsewhere gives the same packet as
    /// sealing it in place, wherever the data starts and however long.
    #[test]
    fn scattered_seal_is_the_same_packet() {
        for backend in BACKENDS {
            let ours = ChaChaPoly::with_backend(&key(), backend);
            for (len, data_at, data_len) in [
                (100, 4, 96),
                (100, 14, 50),
                (5000, 14, 4970),
                (33_000, 18, 32_768),
                (70, 69, 1),
            ] {
                let whole = packet(len);
                let mut a = whole.clone();
                let tag_a = ours.seal(9, &mut a);
                let mut b = whole.clone();
                let data = b[data_at..data_at + data_len].to_vec();
                b[data_at..data_at + data_len].fill(0xee);
                let tag_b = ours.seal_scattered(9, &mut b, data_at, &data);
                assert_eq!(a, b, "{backend:?} {len} {data_at} {data_len}");
                assert_eq!(tag_a, tag_b);
            }
        }
    }

    /// Each backend opens what either seals, and leaves the length field
    /// as it came.
    #[test]
    fn opens_what_is_sealed() {
        let k = key();
        for sealer in BACKENDS {
            for opener in BACKENDS {
                let (s, o) = (
                    ChaChaPoly::with_backend(&k, sealer),
                    ChaChaPoly::with_backend(&k, opener),
                );
                for len in [16, 64, 65, 32_800] {
                    let plain = packet(len);
                    let mut p = plain.clone();
                    let tag = s.seal(3, &mut p);
                    let sent_len = [p[0], p[1], p[2], p[3]];
                    assert_eq!(o.crypt_length(3, sent_len), plain[..4]);
                    assert!(o.open(3, &mut p, &tag), "{sealer:?} to {opener:?}");
                    assert_eq!(p[..4], sent_len);
                    assert_eq!(p[4..], plain[4..]);
                }
            }
        }
    }

    /// A changed bit anywhere, a changed or short tag, or another sequence
    /// number is refused, and the packet is left as it arrived.
    #[test]
    fn refuses_forgeries_without_decrypting() {
        for backend in BACKENDS {
            let ours = ChaChaPoly::with_backend(&key(), backend);
            let mut sealed = packet(200);
            let tag = ours.seal(5, &mut sealed);
            for i in [0, 3, 4, 100, 199] {
                let mut p = sealed.clone();
                p[i] ^= 0x01;
                let before = p.clone();
                assert!(!ours.open(5, &mut p, &tag), "{backend:?}: bit flipped at {i}");
                assert_eq!(p, before);
            }
            let mut bad = tag;
            bad[15] ^= 0x80;
            assert!(!ours.open(5, &mut sealed.clone(), &bad));
            assert!(!ours.open(6, &mut sealed.clone(), &tag));
            assert!(!ours.open(5, &mut sealed.clone(), &tag[..15]));
            assert!(!ours.open(5, &mut sealed[..3].to_vec(), &tag));
            assert!(ours.open(5, &mut sealed, &tag));
        }
    }

    /// This repository's build has the flag that enables `chacha20`'s
    /// AVX-512 backend (.cargo/config.toml; a RUSTFLAGS variable would
    /// drop it), and on a CPU with AVX-512F and AVX-512VL RustCrypto's
    /// construction is picked; aws-lc's elsewhere.
    #[test]
    fn detects_the_backend_by_cpu() {
        assert!(
            std::hint::black_box(cfg!(chacha20_avx512)),
            "built without --cfg chacha20_avx512: is RUSTFLAGS set? (.cargo/config.toml)"
        );
        #[cfg(target_arch = "x86_64")]
        let wide = std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl");
        #[cfg(not(target_arch = "x86_64"))]
        let wide = false;
        let want = if wide && cfg!(chacha20_avx512) {
            Backend::RustCrypto
        } else {
            Backend::AwsLc
        };
        assert_eq!(Backend::detect(), want);
        assert_eq!(ChaChaPoly::new(&key()).backend(), want);
    }
}
