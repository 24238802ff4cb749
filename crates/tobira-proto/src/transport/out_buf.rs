//! The buffer sealed packets are appended to on their way to the peer
//! (RFC 4253 §6): a byte vector that keeps the memory it has once written,
//! so that a packet encrypted into it from elsewhere needs no zero-fill
//! of its room first (issue 6: no pass over the data beyond the cipher's).
//!
//! A `Vec<u8>` forgets that its memory was ever written once it is cleared,
//! and safe Rust can only hand out written memory: the next AES-GCM packet
//! sealed from a channel's queued buffer into it would first have to
//! zero 32 KiB, a tenth of the cipher's own time. `OutBuf` clears by
//! moving its end back and keeps what lies beyond.

use std::ops::Deref;

/// Output bytes for the peer: `bytes[..len]`; what lies beyond `len` in
/// `bytes` is kept for reuse: earlier output (or zeros), or the plaintext
/// of a packet that was cut back before it was sealed. It is never shown:
/// `Debug` prints only the output's length.
#[derive(Default)]
pub struct OutBuf {
    /// Written memory; its length is the most this buffer has held.
    bytes: Vec<u8>,
    /// How much of `bytes` is output.
    len: usize,
}

impl OutBuf {
    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        OutBuf {
            bytes: Vec::with_capacity(capacity),
            len: 0,
        }
    }

    /// The output, as bytes.
    pub fn as_slice(&self) -> &[u8] {
        debug_assert!(self.len <= self.bytes.len());
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// The output, to change in place (encryption).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        self.bytes.get_mut(..len).unwrap_or_default()
    }

    /// Makes room for `additional` more bytes of output.
    pub fn reserve(&mut self, additional: usize) {
        let want = self.len.saturating_add(additional);
        self.bytes.reserve(want.saturating_sub(self.bytes.len()));
    }

    /// Appends `data` (over kept memory; growth beyond it is zeroed
    /// first, which happens only while the buffer grows).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.extend_for_overwrite(data.len()).copy_from_slice(data);
    }

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) {
        self.extend_from_slice(&[byte]);
    }

    /// Sets the length to `new_len`: cut, or grown with `value`.
    pub fn resize(&mut self, new_len: usize, value: u8) {
        if new_len > self.len {
            self.extend_for_overwrite(new_len - self.len).fill(value);
        } else {
            self.len = new_len;
        }
    }

    /// Appends `n` bytes whose contents are unspecified (earlier output, or
    /// zeros) and returns them: for a caller that overwrites every one of
    /// them, such as a cipher encrypting into them. Memory this buffer has
    /// held before is not written here; only growth beyond it is zeroed.
    pub fn extend_for_overwrite(&mut self, n: usize) -> &mut [u8] {
        let start = self.len;
        let end = start.saturating_add(n);
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.len = end;
        debug_assert!(self.len <= self.bytes.len());
        self.bytes.get_mut(start..end).unwrap_or_default()
    }

    /// Cuts the output to `len` bytes (no-op if it is shorter).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Empties the output; the memory is kept.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Removes the first `n` bytes of output, moving the rest to the front.
    pub fn remove_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.bytes.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Bytes of memory held.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
}

impl std::fmt::Debug for OutBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl Deref for OutBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_over_kept_memory_and_beyond_it() {
        let mut b = OutBuf::with_capacity(4);
        b.extend_from_slice(b"abcdef");
        b.clear();
        assert!(b.is_empty());
        b.extend_from_slice(b"xy");
        assert_eq!(&b[..], b"xy");
        // Part over the kept "cdef", part beyond it.
        b.extend_from_slice(b"123456");
        assert_eq!(&b[..], b"xy123456");
        b.push(b'!');
        assert_eq!(&b[..], b"xy123456!");
    }

    #[test]
    fn extend_for_overwrite_reuses_memory_and_zeroes_growth() {
        let mut b = OutBuf::default();
        b.extend_from_slice(b"secret");
        b.truncate(2);
        let room = b.extend_for_overwrite(6);
        // Kept memory is not written again; growth beyond it is zeroed.
        assert_eq!(room, b"cret\0\0");
        room.copy_from_slice(b"ABCDEF");
        assert_eq!(&b[..], b"seABCDEF");
    }

    #[test]
    fn resize_fills_with_the_value_even_over_kept_memory() {
        let mut b = OutBuf::default();
        b.extend_from_slice(b"abcdef");
        b.resize(2, 0);
        assert_eq!(&b[..], b"ab");
        b.resize(5, 7);
        assert_eq!(&b[..], &[b'a', b'b', 7, 7, 7]);
    }

    #[test]
    fn remove_front_keeps_the_rest_in_order() {
        let mut b = OutBuf::default();
        b.extend_from_slice(b"0123456789");
        b.remove_front(4);
        assert_eq!(&b[..], b"456789");
        b.remove_front(100);
        assert!(b.is_empty());
        b.extend_from_slice(b"z");
        assert_eq!(&b[..], b"z");
    }

    /// Random operations against a `Vec<u8>` doing the same: the output
    /// always matches, whatever memory is kept behind it.
    #[test]
    fn behaves_as_a_vec_under_random_operations() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let mut b = OutBuf::default();
        let mut model: Vec<u8> = Vec::new();
        for step in 0..20_000u32 {
            let n = rng.gen_range(0..300usize);
            let byte = step as u8;
            match rng.gen_range(0..8u8) {
                0 | 1 => {
                    let data = vec![byte; n];
                    b.extend_from_slice(&data);
                    model.extend_from_slice(&data);
                }
                2 => {
                    b.push(byte);
                    model.push(byte);
                }
                3 => {
                    let to = model.len().saturating_sub(n);
                    b.resize(to + n / 2, byte);
                    model.resize(to + n / 2, byte);
                }
                4 => {
                    b.extend_for_overwrite(n).fill(byte);
                    model.extend(std::iter::repeat_n(byte, n));
                }
                5 => {
                    let to = model.len().saturating_sub(n);
                    b.truncate(to);
                    model.truncate(to);
                }
                6 => {
                    let k = n.min(model.len());
                    b.remove_front(n);
                    model.drain(..k);
                }
                _ => {
                    b.reserve(n);
                    if n % 7 == 0 {
                        b.clear();
                        model.clear();
                    }
                }
            }
            assert_eq!(&b[..], &model[..], "step {step}");
        }
    }

    #[test]
    fn mutable_view_covers_only_the_output() {
        let mut b = OutBuf::default();
        b.extend_from_slice(b"abcd");
        b.truncate(3);
        b.as_mut_slice().copy_from_slice(b"XYZ");
        assert_eq!(&b[..], b"XYZ");
        assert!(b.capacity() >= 4);
    }
}
