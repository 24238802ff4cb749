//! Known-answer tests of the packet constructions and key derivation.
//! Expected values were computed independently with Python's
//! `cryptography` (OpenSSL) and `hashlib`, from the same keys and inputs:
//! AES-GCM with the RFC 5647 §7.1 nonce and the packet length as AAD, and
//! chacha20-poly1305@openssh.com (PROTOCOL.chacha20poly1305) built from raw
//! ChaCha20 and Poly1305.

use tobira_proto::crypto::{cipher, HashAlg};
use tobira_proto::transport::keys::derive;
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
    let mut out = Vec::new();
    for _ in 0..packets {
        s.seal(PAYLOAD, &mut Counting(0), &mut out);
    }
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
        let mut out = Vec::new();
        for _ in 0..2 {
            s.seal(PAYLOAD, &mut Counting(0), &mut out);
        }
        assert_eq!(hex::encode(&out), want, "{name}");
    }
}
