//! Packet seal and open per cipher against the raw cipher on the same bytes
//! (issue 6, section 5). The difference is the framing overhead: building
//! the packet (length, padding length, payload copy, random padding),
//! sequence numbers, length checks and the dispatch in
//! `transport::packet::{Sealer, Opener}`.
//!
//! For each suite and payload size there are four benchmarks in the group
//! named after the suite:
//!
//! - `seal/N`: a CHANNEL_DATA message of N bytes sealed into a reused
//!   buffer as the channel layer seals queued data: `Sealer::seal_parts`
//!   of its 9-byte head and N − 9 bytes of data from the caller's buffer
//!   (AES-GCM, and ChaCha20 where RustCrypto's implementation is picked,
//!   encrypt the data straight from there; the others copy it into the
//!   packet first);
//! - `raw-seal/N`: the same primitive (aws-lc-rs AES-GCM; RustCrypto
//!   ChaCha20 and Poly1305, each used the fastest way the crates offer and
//!   checked against aws-lc's packets first, or aws-lc-rs's
//!   chacha20-poly1305@openssh.com where `chacha_poly::Backend::detect`
//!   picks it; or RustCrypto AES-CTR
//!   plus aws-lc-rs HMAC, as the Sealer uses them) over a ready-made packet
//!   of the same length, in place;
//! - `open/N`: `Opener::open` of a packet sealed by a paired Sealer (sealing
//!   is setup, not timed);
//! - `raw-open/N`: tag/MAC check and decryption of the same bytes with the
//!   same primitive.
//!
//! `bench/run` reads criterion's estimates and reports
//! (seal − raw-seal) / raw-seal and (open − raw-open) / raw-open.
//!
//! `cargo bench -p tobira-proto --bench packet`; one suite:
//! `cargo bench -p tobira-proto --bench packet -- aes128gcm`.

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::aead::{self, chacha20_poly1305_openssh as chacha, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use chacha20::cipher::array::Array;
use chacha20::cipher::{KeyIvInit, StreamCipherCore};
use chacha20::ChaCha20LegacyCore;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use poly1305::universal_hash::{KeyInit, UniversalHash};
use poly1305::{Block, Poly1305};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tobira_proto::crypto::chacha_poly::Backend;
use tobira_proto::crypto::{cipher as ciphers, mac};
use tobira_proto::transport::out_buf::OutBuf;
use tobira_proto::transport::packet::{DirectionKeys, Opener, Sealer, MAX_PACKET};

/// A suite: benchmark group name, cipher, MAC (None for AEADs).
const SUITES: &[(&str, &str, Option<&str>)] = &[
    ("chacha20poly1305", "chacha20-poly1305@openssh.com", None),
    ("aes128gcm", "aes128-gcm@openssh.com", None),
    ("aes256gcm", "aes256-gcm@openssh.com", None),
    ("aes256ctr_hmacsha256", "aes256-ctr", Some("hmac-sha2-256")),
    (
        "aes128ctr_hmacsha256etm",
        "aes128-ctr",
        Some("hmac-sha2-256-etm@openssh.com"),
    ),
];

/// Payload sizes: a full CHANNEL_DATA message (32 KiB of data, the channel
/// maximum packet tobira announces, plus its 9-byte header), and a
/// keystroke-sized one.
const SIZES: &[usize] = &[32 * 1024 + 9, 64];

fn keys(cipher: &str, mac_name: Option<&str>, seed: u8) -> DirectionKeys {
    let spec = ciphers::lookup(cipher).expect("cipher in the table");
    let mac = mac_name.map(|m| {
        let ms = mac::lookup(m).expect("MAC in the table");
        mac::Mac::new(ms, &vec![seed ^ 0x5a; ms.key_len])
    });
    DirectionKeys {
        cipher: spec,
        mac,
        key: zeroize::Zeroizing::new((0..spec.key_len).map(|i| seed.wrapping_add(i as u8)).collect()),
        iv: zeroize::Zeroizing::new((0..spec.iv_len).map(|i| seed ^ i as u8).collect()),
    }
}

/// AES-CTR with an HMAC (EtM or not).
struct CtrMac {
    /// aws-lc AES-CTR with its counter, as the packet layer keys it.
    stream: ciphers::CtrState,
    key: hmac::Key,
    tag_len: usize,
    etm: bool,
}

/// ChaCha20 and Poly1305 as chacha20-poly1305@openssh.com uses them
/// (K_2, then K_1; the sequence number as a 64-bit big-endian nonce). The
/// keystream is made in one run of blocks from the cipher's core (two at
/// least: a lone block is slow in `chacha20` 0.10, see
/// `crypto/chacha_keystream.rs`), then XORed.
struct RawChaCha {
    main: [u8; 32],
    header: [u8; 32],
    ks: Vec<chacha20::cipher::Block<ChaCha20LegacyCore>>,
}

impl RawChaCha {
    fn new(key: &[u8; 64]) -> Self {
        RawChaCha {
            main: key[..32].try_into().unwrap(),
            header: key[32..].try_into().unwrap(),
            ks: Vec::new(),
        }
    }

    /// Encrypts the length with K_1; returns K_2's keystream from block 1
    /// on, as long as the rest of the packet, and Poly1305 keyed from block 0.
    fn start(&mut self, seq: u32, packet: &mut [u8]) -> (&[u8], Poly1305) {
        let nonce = u64::from(seq).to_be_bytes();
        let mut two = [Default::default(); 2];
        ChaCha20LegacyCore::new(&self.header.into(), &nonce.into()).write_keystream_blocks(&mut two);
        for (b, k) in packet[..4].iter_mut().zip(Array::slice_as_flattened(&two)) {
            *b ^= k;
        }
        let body = packet.len() - 4;
        self.ks.resize((1 + body.div_ceil(64)).max(2), Default::default());
        ChaCha20LegacyCore::new(&self.main.into(), &nonce.into()).write_keystream_blocks(&mut self.ks);
        let ks = Array::slice_as_flattened(&self.ks);
        let key: [u8; 32] = ks[..32].try_into().unwrap();
        (&ks[64..64 + body], Poly1305::new(&key.into()))
    }
}

fn xor(buf: &mut [u8], ks: &[u8]) {
    for (b, k) in buf.iter_mut().zip(ks) {
        *b ^= k;
    }
}

/// Poly1305 without padding, the fastest way the `poly1305` crate offers:
/// whole blocks through `update` (four at a time), the partial one through
/// `compute_unpadded`.
fn poly1305_unpadded(mut mac: Poly1305, data: &[u8]) -> [u8; 16] {
    let (blocks, tail) = Block::slice_as_chunks(data);
    mac.update(blocks);
    mac.compute_unpadded(tail).into()
}

/// The raw primitive of a suite, keyed the same way as the packet layer.
enum Raw {
    ChaCha(Box<RawChaCha>),
    ChaChaAwsLc(Box<chacha::SealingKey>, Box<chacha::OpeningKey>),
    Gcm(Box<LessSafeKey>, [u8; 12]),
    Ctr(Box<CtrMac>),
}

impl Raw {
    fn new(cipher: &str, mac_name: Option<&str>) -> Raw {
        let k = keys(cipher, mac_name, 7);
        match cipher {
            "chacha20-poly1305@openssh.com" => {
                let key: &[u8; 64] = k.key.as_slice().try_into().unwrap();
                match Backend::detect() {
                    Backend::RustCrypto => Raw::ChaCha(Box::new(RawChaCha::new(key))),
                    Backend::AwsLc => Raw::ChaChaAwsLc(
                        Box::new(chacha::SealingKey::new(key)),
                        Box::new(chacha::OpeningKey::new(key)),
                    ),
                }
            }
            "aes128-gcm@openssh.com" | "aes256-gcm@openssh.com" => {
                let alg = if k.key.len() == 16 {
                    &aead::AES_128_GCM
                } else {
                    &aead::AES_256_GCM
                };
                Raw::Gcm(
                    Box::new(LessSafeKey::new(UnboundKey::new(alg, &k.key).unwrap())),
                    k.iv.as_slice().try_into().unwrap(),
                )
            }
            _ => {
                let Some(ciphers::CipherState::Ctr(stream)) = ciphers::CipherState::new(k.cipher, &k.key, &k.iv, true)
                else {
                    unreachable!("{cipher} is a CTR cipher")
                };
                let ms = mac::lookup(mac_name.unwrap()).unwrap();
                Raw::Ctr(Box::new(CtrMac {
                    stream,
                    key: hmac::Key::new(hmac::HMAC_SHA256, &vec![0x5a; ms.key_len]),
                    tag_len: ms.tag_len,
                    etm: ms.etm,
                }))
            }
        }
    }

    /// Length of the trailing tag or MAC.
    fn trailer(&self) -> usize {
        match self {
            Raw::Ctr(c) => c.tag_len,
            _ => 16,
        }
    }

    /// Encrypts and authenticates `buf` (a whole packet with room for the
    /// trailer at its end) in place.
    fn seal(&mut self, seq: u32, buf: &mut [u8]) {
        let t = self.trailer();
        let (packet, trailer) = buf.split_at_mut(buf.len() - t);
        match self {
            Raw::ChaCha(c) => {
                let (ks, mac) = c.start(seq, packet);
                xor(&mut packet[4..], ks);
                trailer.copy_from_slice(&poly1305_unpadded(mac, packet));
            }
            Raw::ChaChaAwsLc(s, _) => {
                let tag: &mut [u8; 16] = trailer.try_into().unwrap();
                s.seal_in_place(seq, packet, tag);
            }
            Raw::Gcm(k, iv) => {
                let (len, rest) = packet.split_at_mut(4);
                let tag = k
                    .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(&*len), rest)
                    .unwrap();
                trailer.copy_from_slice(tag.as_ref());
            }
            Raw::Ctr(c) => {
                if c.etm {
                    c.stream.apply(&mut packet[4..]);
                    trailer.copy_from_slice(&hmac_tag(&c.key, seq, packet).as_ref()[..c.tag_len]);
                } else {
                    let tag = hmac_tag(&c.key, seq, packet);
                    c.stream.apply(packet);
                    trailer.copy_from_slice(&tag.as_ref()[..c.tag_len]);
                }
            }
        }
    }

    /// Verifies and decrypts `buf` (as made by [`Raw::seal`]) in place.
    fn open(&mut self, seq: u32, buf: &mut [u8]) -> bool {
        let t = self.trailer();
        let (packet, trailer) = buf.split_at_mut(buf.len() - t);
        match self {
            Raw::ChaCha(c) => {
                let encrypted_len: [u8; 4] = packet[..4].try_into().unwrap();
                let (ks, mac) = c.start(seq, packet);
                let len: [u8; 4] = packet[..4].try_into().unwrap();
                packet[..4].copy_from_slice(&encrypted_len);
                let ok = poly1305_unpadded(mac, packet)[..] == *trailer;
                xor(&mut packet[4..], ks);
                packet[..4].copy_from_slice(&len);
                ok
            }
            Raw::ChaChaAwsLc(_, o) => {
                let len = o.decrypt_packet_length(seq, packet[..4].try_into().unwrap());
                let tag: &[u8; 16] = (&*trailer).try_into().unwrap();
                let ok = o.open_in_place(seq, packet, tag).is_ok();
                packet[..4].copy_from_slice(&len);
                ok
            }
            Raw::Gcm(k, iv) => {
                let (len, rest) = buf.split_at_mut(4);
                k.open_in_place(Nonce::assume_unique_for_key(*iv), Aad::from(&*len), rest)
                    .is_ok()
            }
            Raw::Ctr(c) => {
                if c.etm {
                    let ok = hmac_tag(&c.key, seq, packet).as_ref()[..c.tag_len] == *trailer;
                    c.stream.apply(&mut packet[4..]);
                    ok
                } else {
                    c.stream.apply(packet);
                    hmac_tag(&c.key, seq, packet).as_ref()[..c.tag_len] == *trailer
                }
            }
        }
    }
}

fn hmac_tag(key: &hmac::Key, seq: u32, data: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(&seq.to_be_bytes());
    ctx.update(data);
    ctx.sign()
}

/// The raw ChaCha20-Poly1305 baseline makes aws-lc's packets and tags, so
/// that it times the real construction.
fn check_raw_chacha() {
    let key: [u8; 64] = std::array::from_fn(|i| (i as u8).wrapping_mul(29));
    let aws = chacha::SealingKey::new(&key);
    let mut raw = RawChaCha::new(&key);
    for len in [16usize, 24, 64, 72, 1032, 32_784, 35_000] {
        let plain: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
        let (mut a, mut b) = (plain.clone(), plain.clone());
        let mut want = [0u8; 16];
        aws.seal_in_place(3, &mut a, &mut want);
        let (ks, mac) = raw.start(3, &mut b);
        xor(&mut b[4..], ks);
        assert_eq!(
            (a, want),
            (b.clone(), poly1305_unpadded(mac, &b)),
            "raw ChaCha20 at {len} bytes"
        );
    }
}

fn packet(c: &mut Criterion) {
    check_raw_chacha();
    for &(group, cipher, mac_name) in SUITES {
        let mut g = c.benchmark_group(group);
        for &size in SIZES {
            let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
            g.throughput(Throughput::Bytes(size as u64));

            // The packet the Sealer makes of this payload, as the raw
            // cipher's input: same length, same trailer.
            let mut sealer = Sealer::default();
            sealer.rekey(keys(cipher, mac_name, 1)).unwrap();
            let mut rng = StdRng::seed_from_u64(1);
            let mut sample = OutBuf::default();
            sealer.seal(&payload, &mut rng, &mut sample);
            let sample = sample.to_vec();
            let packet_len = sample.len();

            g.bench_function(BenchmarkId::new("seal", size), |b| {
                // Reused as the connection reuses its output buffer.
                let mut out = OutBuf::with_capacity(packet_len + 64);
                let (head, data) = payload.split_at(9);
                // The queued data, with spare capacity as tobirad's reads
                // leave it.
                let mut queued = Vec::with_capacity(data.len() + 64);
                queued.extend_from_slice(data);
                b.iter(|| {
                    out.clear();
                    sealer.seal_parts(head, black_box(&mut queued), 0..data.len(), &mut rng, &mut out);
                    black_box(out.len())
                })
            });

            let mut raw = Raw::new(cipher, mac_name);
            g.bench_function(BenchmarkId::new("raw-seal", size), |b| {
                let mut buf = sample.clone();
                let mut seq = 0u32;
                b.iter(|| {
                    raw.seal(seq, black_box(&mut buf));
                    seq = seq.wrapping_add(1);
                })
            });

            let mut sealer = Sealer::default();
            sealer.rekey(keys(cipher, mac_name, 2)).unwrap();
            let mut opener = Opener::default();
            opener.rekey(keys(cipher, mac_name, 2)).unwrap();
            opener.max_packet = MAX_PACKET;
            g.bench_function(BenchmarkId::new("open", size), |b| {
                b.iter_batched_ref(
                    || {
                        let mut p = OutBuf::with_capacity(packet_len);
                        sealer.seal(&payload, &mut rng, &mut p);
                        p.to_vec()
                    },
                    |p| {
                        let o = opener.open(p).expect("packet opens").expect("whole packet");
                        assert_eq!(o.consumed, p.len());
                    },
                    BatchSize::SmallInput,
                )
            });

            let mut raw = Raw::new(cipher, mac_name);
            let mut sealed = sample.clone();
            raw.seal(9, &mut sealed);
            let mut raw = Raw::new(cipher, mac_name);
            g.bench_function(BenchmarkId::new("raw-open", size), |b| {
                b.iter_batched_ref(
                    || sealed.clone(),
                    |p| {
                        // CTR's keystream moves on, so only the first open
                        // of a CTR suite verifies; the work is the same.
                        black_box(raw.open(9, p));
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40);
    targets = packet
}
criterion_main!(benches);
