//! One packet's ChaCha20 keystream (D. J. Bernstein's variant: 64-bit
//! nonce, 64-bit block counter from 0; OpenSSH PROTOCOL.chacha20poly1305),
//! made in runs of blocks for [`super::chacha_poly`].
//!
//! RustCrypto's `chacha20` makes a lone 64-byte block with 128-bit vectors,
//! and in 0.10 its AVX-512 backend compiles that path without AVX-512VL, so
//! every rotation in it is a function call: on the benchmark's Xeon a lone
//! block costs about 450 ns, against about 65 ns per block when two or more
//! are made at once (scratch measurement, README "Cipher implementations").
//! Its `StreamCipher` wrapper makes a lone block whenever a call starts or
//! ends inside one, which the packet layer's calls do three to five times
//! per packet (the Poly1305 key, the length, the edges of the channel data,
//! the end of the padding). [`Keystream`] asks the cipher's core for runs
//! of at least two blocks and XORs from what it has made, so that no lone
//! block is made.

use chacha20::cipher::array::Array;
use chacha20::cipher::{Block, KeyIvInit, StreamCipherCore};
use chacha20::ChaCha20LegacyCore;
use zeroize::Zeroize;

/// Bytes in a ChaCha20 block.
const BLOCK: usize = 64;
/// Blocks made per run at most: what the AVX-512 backend makes at once.
const RUN: usize = 16;

/// A packet's keystream, consumed front to back.
pub(super) struct Keystream {
    core: ChaCha20LegacyCore,
    blocks: [Block<ChaCha20LegacyCore>; RUN],
    /// Next unused byte of `blocks`.
    pos: usize,
    /// Bytes of `blocks` made by the last run.
    made: usize,
    /// Bytes of `blocks` ever written: what is wiped when dropped.
    used: usize,
    /// Bytes the caller said it will take and that are not made yet: the
    /// size of the next runs (correctness does not depend on it).
    wanted: usize,
}

impl Keystream {
    /// The stream of `key` for nonce `seq` (64-bit big-endian), from block
    /// 0, for a caller that will take about `total` bytes.
    pub(super) fn new(key: &[u8; 32], seq: u32, total: usize) -> Self {
        Keystream {
            core: ChaCha20LegacyCore::new(key.into(), &u64::from(seq).to_be_bytes().into()),
            blocks: Default::default(),
            pos: 0,
            made: 0,
            used: 0,
            wanted: total,
        }
    }

    /// Up to `n` bytes of keystream (at least one when `n` > 0), making a
    /// run first when none is left: as many blocks as are still wanted,
    /// between two and [`RUN`].
    fn take(&mut self, n: usize) -> &[u8] {
        if self.pos == self.made {
            let count = self.wanted.div_ceil(BLOCK).clamp(2, RUN);
            self.core.write_keystream_blocks(&mut self.blocks[..count]);
            self.made = count * BLOCK;
            self.used = self.used.max(self.made);
            self.pos = 0;
            self.wanted = self.wanted.saturating_sub(self.made);
        }
        let start = self.pos;
        let end = start + n.min(self.made - start);
        self.pos = end;
        &Array::slice_as_flattened(&self.blocks)[start..end]
    }

    /// XORs the next `buf.len()` bytes of keystream into `buf`.
    pub(super) fn apply(&mut self, mut buf: &mut [u8]) {
        while !buf.is_empty() {
            let ks = self.take(buf.len());
            let (now, rest) = buf.split_at_mut(ks.len());
            for (b, k) in now.iter_mut().zip(ks) {
                *b ^= k;
            }
            buf = rest;
        }
    }

    /// Writes `src` XOR the next `src.len()` bytes of keystream into `dst`,
    /// which must be as long (the caller's slices are, by construction; in
    /// a release build only the shorter length is written).
    pub(super) fn apply_b2b(&mut self, mut src: &[u8], mut dst: &mut [u8]) {
        debug_assert_eq!(src.len(), dst.len());
        let n = src.len().min(dst.len());
        (src, dst) = (&src[..n], &mut dst[..n]);
        while !src.is_empty() {
            let ks = self.take(src.len());
            let (s_now, s_rest) = src.split_at(ks.len());
            let (d_now, d_rest) = dst.split_at_mut(ks.len());
            for ((d, s), k) in d_now.iter_mut().zip(s_now).zip(ks) {
                *d = s ^ k;
            }
            (src, dst) = (s_rest, d_rest);
        }
    }
}

impl Drop for Keystream {
    fn drop(&mut self) {
        // The keystream made (unused bytes, and the block that keyed
        // Poly1305) is wiped, as far as any run reached; the core wipes its
        // own state (chacha20's `zeroize`).
        let used = self.used;
        if let Some(made) = Array::slice_as_flattened_mut(&mut self.blocks).get_mut(..used) {
            made.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::cipher::StreamCipher;
    use chacha20::ChaCha20Legacy;

    /// The same bytes as RustCrypto's `StreamCipher` wrapper, whatever the
    /// pieces the stream is taken in and whatever size was announced.
    #[test]
    fn same_stream_as_the_wrapper_in_any_pieces() {
        let key = [0x42u8; 32];
        let total = 3 * RUN * BLOCK + 77;
        let src: Vec<u8> = (0..total as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
            .collect();
        let mut want = src.clone();
        ChaCha20Legacy::new(&key.into(), &7u64.to_be_bytes().into()).apply_keystream(&mut want);
        let cuts: [&[usize]; 5] = [
            &[total],
            &[4, 60, 10, 999, 1, 1, 64, 128],
            &[64, 64, 1024, 1023, 1025],
            &[1; 200],
            &[3, 17, 4096, 5],
        ];
        for (i, pieces) in cuts.iter().enumerate() {
            for announced in [0, 64, total, 10 * total] {
                let mut ks = Keystream::new(&key, 7, announced);
                let mut got = src.clone();
                let mut at = 0;
                for (j, &p) in pieces.iter().cycle().enumerate() {
                    if at == total {
                        break;
                    }
                    let end = (at + p).min(total);
                    // In place and from another buffer, alternately.
                    if j % 2 == 0 {
                        ks.apply(&mut got[at..end]);
                    } else {
                        ks.apply_b2b(&src[at..end], &mut got[at..end]);
                    }
                    at = end;
                }
                assert_eq!(got, want, "cuts {i}, announced {announced}");
            }
        }
    }
}
