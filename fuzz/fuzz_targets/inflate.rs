//! `transport::compress::Decompressor` on multi-packet input, with the
//! 256 KiB packet limit (or a small one).
//!
//! Input: `[flags] records`, each record `[kind][len: u16 BE][len bytes]`:
//! kind 0 = a payload compressed here with the module's own `Compressor`
//! (same stream across records, as on a connection); 1 = raw bytes as one
//! compressed packet; 2 = a "bomb": `(len % 8192) * 64` copies of the
//! first byte (up to 512 KiB), compressed; 3 = flip a bit in the previous compressed packet.
//! `flags` bit 0: limit 1024 bytes instead of 256 KiB.
//!
//! `TOBIRA_FUZZ_NO_ROUNDTRIP=1` turns the last oracle off (to explore past
//! a known round-trip failure; see fuzz/README.md).
//!
//! Oracles: no panic; output never grows by more than the limit per packet
//! and its capacity stays within the documented bound; on error the output
//! is left as it was and every later call fails; while only well-formed,
//! within-limit packets were seen, each inflates to exactly its payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tobira_proto::transport::compress::{Compressor, Decompressor};
use tobira_proto::transport::packet::MAX_PACKET;

fn roundtrip_oracle() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("TOBIRA_FUZZ_NO_ROUNDTRIP").is_none())
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut r)) = data.split_first() else {
        return;
    };
    let limit = if flags & 1 != 0 { 1024 } else { MAX_PACKET };
    let mut comp = Compressor::new();
    let mut inflater = Decompressor::new();
    let mut out: Vec<u8> = Vec::new();
    let mut clean = roundtrip_oracle();
    let mut failed = false;
    let mut previous: Vec<u8> = Vec::new();
    let mut packets = 0;
    let mut plain_total = 0usize;
    while r.len() >= 3 && packets < 64 && plain_total < 4 << 20 {
        packets += 1;
        let kind = r[0] % 4;
        let len = u16::from_be_bytes([r[1], r[2]]) as usize;
        let body = &r[3..(3 + len).min(r.len())];
        r = &r[(3 + len).min(r.len())..];
        let (packet, expect): (Vec<u8>, Option<Vec<u8>>) = match kind {
            0 | 2 => {
                let plain = if kind == 0 {
                    body.to_vec()
                } else {
                    vec![body.first().copied().unwrap_or(0); (len % 8192) * 64]
                };
                plain_total += plain.len();
                let mut c = Vec::new();
                comp.compress(&plain, &mut c).expect("deflate into a Vec");
                (c, Some(plain))
            }
            1 => (body.to_vec(), None),
            _ => {
                let mut p = previous.clone();
                if !p.is_empty() {
                    let at = len % p.len();
                    p[at] ^= 1 << (len % 8);
                }
                (p, None)
            }
        };
        previous = packet.clone();
        if expect.is_none() {
            clean = false;
        }
        // Sometimes start with some output already there, as the
        // connection's scratch buffer may.
        out.clear();
        if len % 3 == 0 {
            out.extend_from_slice(b"prefix");
        }
        let (len_before, cap_before) = (out.len(), out.capacity());
        let result = inflater.decompress(&packet, limit, &mut out);
        let grown = out.len() - len_before;
        assert!(grown <= limit, "inflated {grown} bytes past the {limit}-byte limit");
        assert!(
            out.capacity() <= cap_before.max(len_before + limit),
            "capacity {} beyond max({cap_before}, {len_before} + {limit})",
            out.capacity()
        );
        match result {
            Ok(()) => {
                assert!(!failed, "decompress succeeded after an earlier failure");
                if clean {
                    let want = expect.as_deref().unwrap_or(&[]);
                    let got = &out[len_before..];
                    if got != want {
                        let first = got.iter().zip(want).position(|(a, b)| a != b);
                        panic!(
                            "packet {packets} inflated to different bytes: got {} bytes, want {}, first difference at {first:?}",
                            got.len(),
                            want.len()
                        );
                    }
                }
            }
            Err(_) => {
                assert_eq!(out.len(), len_before, "output changed on error");
                if clean && expect.as_ref().is_some_and(|p| p.len() <= limit) {
                    panic!("well-formed packet {packets} of {} bytes refused", expect.map_or(0, |p| p.len()));
                }
                failed = true;
                clean = false;
            }
        }
    }
});
