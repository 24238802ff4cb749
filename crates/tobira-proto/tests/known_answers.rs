//! Known-answer tests of the packet constructions and key derivation.
//! Expected values were computed independently with Python's
//! `cryptography` (OpenSSL) and `hashlib`, from the same keys and inputs:
//! AES-GCM with the RFC 5647 §7.1 nonce and the packet length as AAD, and
//! chacha20-poly1305@openssh.com (PROTOCOL.chacha20poly1305) built from raw
//! ChaCha20 and Poly1305.

use tobira_proto::crypto::{cipher, HashAlg};
use tobira_proto::transport::keys::derive;
use tobira_proto::transport::out_buf::OutBuf;
use tobira_proto::transport::packet::{DirectionKeys, Opener, Sealer};
use zeroize::Zeroizing;

/// Padding bytes 0, 1, 2, … so the packet is reproducible.
struct Counting(u8);
impl rand_core::RngCore for Counting {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for b in d {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}

fn keys(name: &str, key: &[u8], iv: &[u8]) -> DirectionKeys {
    DirectionKeys {
        cipher: cipher::lookup(name).unwrap(),
        mac: None,
        key: Zeroizing::new(key.to_vec()),
        iv: Zeroizing::new(iv.to_vec()),
    }
}

const PAYLOAD: &[u8] = b"\x05\x00\x00\x00\x0cssh-userauth";

fn check(name: &str, key: &[u8], iv: &[u8], seq: u32, packets: usize, want_hex: &str) {
    let mut s = Sealer::default();
    s.rekey(keys(name, key, iv)).unwrap();
    s.seq = seq;
    // Memory the buffer held before must not show through.
    let mut out = OutBuf::default();
    out.extend_from_slice(&[0xa5; 4096]);
    out.clear();
    for _ in 0..packets {
        s.seal(PAYLOAD, &mut Counting(0), &mut out);
    }
    let out = out.to_vec();
    assert_eq!(hex::encode(&out), want_hex, "{name}");
    // And our opener takes it back, packet by packet.
    let mut o = Opener::default();
    o.rekey(keys(name, key, iv)).unwrap();
    o.seq = seq;
    let mut buf = out.clone();
    let mut at = 0;
    for _ in 0..packets {
        let p = o.open(&mut buf[at..]).unwrap().unwrap();
        assert_eq!(&buf[at + p.payload.0..at + p.payload.1], PAYLOAD);
        at += p.consumed;
    }
    assert_eq!(at, buf.len());
    // A flipped bit in the last tag byte is refused.
    let mut o = Opener::default();
    o.rekey(keys(name, key, iv)).unwrap();
    o.seq = seq;
    let mut bad = out.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    if packets == 1 {
        assert!(o.open(&mut bad).is_err());
    }
}

#[test]
fn aes256_gcm_openssh_construction() {
    let key: Vec<u8> = (0..32).collect();
    let iv: Vec<u8> = (100..112).collect();
    check(
        "aes256-gcm@openssh.com",
        &key,
        &iv,
        0,
        2,
        "00000020461ede6679e525ed564f2a9bbf170b8836aa060b896ff777a1d6a441f1a8a945a1ace13d4a51ef24867347901df9bdbc\
         00000020ed1e4a169c62a9341acc6d93494d018616348a3f636e55521dd71a4efde709a84789425c484e8897939be4b27870d943",
    );
}

#[test]
fn chacha20_poly1305_openssh_construction() {
    let key: Vec<u8> = (0..64).collect();
    check(
        "chacha20-poly1305@openssh.com",
        &key,
        &[],
        7,
        1,
        "a39afcb22e4315434e8f592d0440ce83b2fdb25940da30377ce03986d0c1499b200968b07658ff4b5aae7977",
    );
}

/// RFC 4253 §7.2, including the extension past one hash output.
#[test]
fn key_derivation_with_extension() {
    let k = hex::decode("00000021008001010101010101010101010101010101010101010101010101010101010101").unwrap();
    let h = hex::decode("44bd7ae60f478fae1061e11a7739f4b94d1daf917982d33b6fc8a01a63f89c21").unwrap();
    let sid = hex::decode("3f3af1ecebbd1410ab417ec0d27bbfcb5d340e177ae159b59fc8626c2dfd9175").unwrap();
    let out = derive(HashAlg::Sha256, &k, &h, b'C', &sid, 80);
    assert_eq!(
        hex::encode(&out[..]),
        "31b3397e0b1056dd4b32a51f62fe19b71ae203b7903316b21ee0c3e36655254efd8f08139d7a55bfe6be50fc1b9ecc34db1cf20fa66190bbdd064de413528a82b64d6f9e774853ad2b4db8064882e6f0"
    );
    assert_eq!(&derive(HashAlg::Sha256, &k, &h, b'C', &sid, 16)[..], &out[..16]);
}

/// CBC modes (RFC 4253 §6.3) and 3DES: two packets with the cipher state
/// chained across them, against Python `cryptography` (OpenSSL) encrypting
/// the same two framed packets in one CBC stream (keys 0, 1, 2, …, IV
/// 100, 101, …).
#[test]
fn cbc_and_3des_known_answers() {
    for (name, key_len, iv_len, want) in [
        (
            "aes128-cbc",
            16,
            16,
            "9d34390b393e9f0e3c946bbca28a79f32a649e7d7af61c6d165c2037021e0561\
             99e71deba721ce5589374c0bc8bbae05604f05f6f607a51e2a83bd0ef0ababad",
        ),
        (
            "aes192-cbc",
            24,
            16,
            "098e74c771f44dcff3cbf353d3328ceaae35054b0400ba19e13da3ef9e62bab8\
             fb65b7b690668e091b8f43faa2186f8655a81d9e6276171ad4b3740733e2b9c4",
        ),
        (
            "aes256-cbc",
            32,
            16,
            "96b67f97335dbcf4832cb43973c52a387696f17392be327690769fe91651ff33\
             2a74845b1a153894ebc7b7f64e4f90cfded58b443db37eaba3f73bd5af9babfb",
        ),
        (
            "rijndael-cbc@lysator.liu.se",
            32,
            16,
            "96b67f97335dbcf4832cb43973c52a387696f17392be327690769fe91651ff33\
             2a74845b1a153894ebc7b7f64e4f90cfded58b443db37eaba3f73bd5af9babfb",
        ),
        (
            "3des-cbc",
            24,
            8,
            "3d823a34f293ed80ba6b2c645e093370abffb070273d8d909ee7edb1a7182657\
             4726336cd031c3b81e2ffe7ddccaaf8a48495d51ff74cda411ef3daea973b811",
        ),
    ] {
        let key: Vec<u8> = (0..key_len).collect();
        let iv: Vec<u8> = (100..100 + iv_len).collect();
        // Without a MAC only the encryption is compared (the round trip
        // with MACs is in the handshake tests).
        let mut s = Sealer::default();
        s.rekey(keys(name, &key, &iv)).unwrap();
        let mut out = OutBuf::default();
        for _ in 0..2 {
            s.seal(PAYLOAD, &mut Counting(0), &mut out);
        }
        assert_eq!(hex::encode(&out[..]), want, "{name}");
    }
}

/// Applies `name`'s sealing cipher (AES-CTR) to `data` in place, in pieces
/// of `split` blocks, so the counter must carry over between calls as it
/// does between packets.
fn ctr_apply(name: &str, key: &[u8], iv: &[u8], data: &mut [u8], split: usize) {
    let spec = cipher::lookup(name).unwrap();
    let Some(cipher::CipherState::Ctr(mut c)) = cipher::CipherState::new(spec, key, iv, true) else {
        panic!("{name} is not a CTR cipher");
    };
    for piece in data.chunks_mut(16 * split) {
        c.apply(piece);
    }
}

#[test]
fn aes_ctr_nist_sp800_38a_vectors() {
    // NIST SP 800-38A, F.5.1 (CTR-AES128), F.5.3 (CTR-AES192) and F.5.5
    // (CTR-AES256) encryption.
    let plain = hex::decode(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
         30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
    )
    .unwrap();
    let iv = hex::decode("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").unwrap();
    for (name, key, want) in [
        (
            "aes128-ctr",
            "2b7e151628aed2a6abf7158809cf4f3c",
            "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff\
             5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee",
        ),
        (
            "aes192-ctr",
            "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
            "1abc932417521ca24f2b0459fe7e6e0b090339ec0aa6faefd5ccc2c6f4ce8e94\
             1e36b26bd1ebc670d1bd1d665620abf74f78a7f6d29809585a97daec58c6b050",
        ),
        (
            "aes256-ctr",
            "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
            "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5\
             2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6",
        ),
    ] {
        let key = hex::decode(key).unwrap();
        for split in [1, 3, 4] {
            let mut data = plain.clone();
            ctr_apply(name, &key, &iv, &mut data, split);
            assert_eq!(hex::encode(&data), want, "{name}, {split} block(s) per call");
        }
    }
}

#[test]
fn aes_ctr_counter_carries_across_all_128_bits() {
    // The SSH counter is the whole 128-bit IV (RFC 4344 §4): from
    // 00..00 ffffffff ffffffff ffffffff ffffffff the carry must reach
    // past the low 32 bits (aws-lc counts in 32-bit pieces) and then wrap to zero.
    use aes::cipher::{BlockEncrypt, KeyInit};
    let key = [7u8; 16];
    let aes = aes::Aes128::new(&key.into());
    for start in [
        "00000000fffffffffffffffffffffffe",
        "ffffffffffffffffffffffffffffffff",
        "0000000000000000fffffffffffffffe",
    ] {
        let first = u128::from_str_radix(start, 16).unwrap();
        let mut want = Vec::new();
        for i in 0..4u128 {
            let mut block = first.wrapping_add(i).to_be_bytes().into();
            aes.encrypt_block(&mut block);
            want.extend_from_slice(&block);
        }
        for split in [1, 4] {
            let mut data = vec![0u8; 64];
            ctr_apply("aes128-ctr", &key, &first.to_be_bytes(), &mut data, split);
            assert_eq!(data, want, "from {start}, {split} block(s) per call");
        }
    }
}

/// `Sealer::seal_parts` (a message's head, then data sealed from where the
/// caller holds it: AES-GCM encrypts it straight into the output, the
/// padding written just after it in the caller's buffer; ChaCha20 encrypts
/// it straight into the output between head and padding) makes exactly the
/// packets `Sealer::seal` makes of the same payload, for every cipher and
/// wherever the data lies: amid other bytes, near or at the end of the
/// buffer with spare capacity for the padding, or without (copied), empty,
/// keystroke-sized (copied). The caller's buffer comes back as it was, and the packets
/// open to the payload.
#[test]
fn seal_parts_is_seal_without_the_copy() {
    use tobira_proto::crypto::mac;
    let suites: &[(&str, Option<&str>)] = &[
        ("aes128-gcm@openssh.com", None),
        ("aes256-gcm@openssh.com", None),
        ("chacha20-poly1305@openssh.com", None),
        ("aes128-ctr", Some("hmac-sha2-256")),
        ("aes256-ctr", Some("hmac-sha2-512-etm@openssh.com")),
    ];
    let suite_keys = |name: &str, mac_name: Option<&str>| {
        let spec = cipher::lookup(name).unwrap();
        DirectionKeys {
            cipher: spec,
            mac: mac_name.map(|m| {
                let ms = mac::lookup(m).unwrap();
                mac::Mac::new(ms, &vec![0x42; ms.key_len])
            }),
            key: Zeroizing::new((0..spec.key_len as u8).collect()),
            iv: Zeroizing::new((0..spec.iv_len as u8).rev().collect()),
        }
    };
    let head: &[u8] = &[94, 0, 0, 0, 7, 0, 0, 0, 0];
    let content: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    for &(name, mac_name) in suites {
        // (buffer length, spare capacity, data range)
        let cases: &[(usize, usize, std::ops::Range<usize>)] = &[
            (40_000, 0, 100..32_868),    // amid other bytes
            (40_000, 64, 7_230..39_998), // 2 bytes after it, room beyond
            (40_000, 0, 7_230..39_998),  // 2 bytes after it, none spare: copied
            (40_000, 64, 7_232..40_000), // at the end, room beyond
            (40_000, 0, 7_232..40_000),  // at the end, no room: copied
            (40_000, 0, 500..500),       // empty
            (17, 64, 0..17),             // a keystroke: copied
        ];
        let mut parts = Sealer::default();
        parts.rekey(suite_keys(name, mac_name)).unwrap();
        let mut whole = Sealer::default();
        whole.rekey(suite_keys(name, mac_name)).unwrap();
        let mut opener = Opener::default();
        opener.rekey(suite_keys(name, mac_name)).unwrap();
        opener.max_packet = tobira_proto::transport::packet::MAX_PACKET;
        for (len, spare, range) in cases {
            let mut buf = Vec::with_capacity(len + spare);
            buf.extend_from_slice(&content[..*len]);
            if *spare == 0 {
                buf.shrink_to_fit();
            }
            let before = buf.clone();
            // ChaCha20 cases, and AES-GCM cases with room, seal from
            // `buf`; the rest copy.
            let gcm = name.contains("gcm");
            let chacha = name.starts_with("chacha");
            let room = buf.capacity() >= range.end + 19;
            assert_eq!(
                parts.scatters(head.len(), buf.capacity(), range.end, range.len()),
                (chacha || gcm && room) && range.len() >= 1024,
                "{name} {range:?}"
            );
            let mut payload = head.to_vec();
            payload.extend_from_slice(&buf[range.clone()]);
            // `a` has held other output before, which must not show
            // through: the packet's room in it is not cleared first.
            let mut a = OutBuf::default();
            a.extend_from_slice(&[0xa5; 64 * 1024]);
            a.clear();
            let mut b = OutBuf::default();
            let ra = parts.seal_parts(head, &mut buf, range.clone(), &mut Counting(9), &mut a);
            let rb = whole.seal(&payload, &mut Counting(9), &mut b);
            assert_eq!(ra, rb, "{name} {range:?}");
            assert!(a[..] == b[..], "{name} {range:?}: packets differ");
            assert!(buf == before, "{name} {range:?}: the caller's buffer changed");
            let mut a = a.to_vec();
            let p = opener.open(&mut a).unwrap().unwrap();
            assert_eq!(p.consumed, a.len());
            assert!(a[p.payload.0..p.payload.1] == payload[..], "{name} {range:?}");
        }
        assert_eq!(parts.seq, whole.seq);
        assert_eq!(parts.traffic, whole.traffic);
    }
}
