//! A tiny two-way byte codec for the structure-aware targets.
//!
//! The same `visit` function of each type both decodes a value from fuzzer
//! bytes ([`In`]) and encodes a value back into bytes ([`Out`]), so that
//! seed inputs can be written from typed values (see `examples/gen_corpus.rs`)
//! and decode to exactly those values. Decoding never fails: past the end
//! of the input every field reads as zero or empty.
//!
//! Wire format of the primitives:
//! - `u8`: one byte; `u16`/`u32`: big-endian; `bool`: one byte, low bit;
//! - `small`: a `u32` written as one byte when below 0xFF, else `0xFF` and
//!   four bytes (channel numbers, counts);
//! - `bytes`: a length as one byte when below 0xFF, else `0xFF` and a
//!   big-endian `u16`, then that many bytes (truncated at the end of input);
//! - `name`: one byte, an index into a table of interesting names; an index
//!   past the table is followed by a free-form `bytes` string.

/// Decodes (reading) or encodes (writing) values field by field.
pub trait Codec {
    /// True when decoding.
    fn reading(&self) -> bool;
    /// One byte.
    fn u8(&mut self, v: &mut u8);
    /// Two bytes, big-endian.
    fn u16(&mut self, v: &mut u16) {
        let mut b = v.to_be_bytes();
        self.u8(&mut b[0]);
        self.u8(&mut b[1]);
        *v = u16::from_be_bytes(b);
    }
    /// Four bytes, big-endian.
    fn u32(&mut self, v: &mut u32) {
        let mut b = v.to_be_bytes();
        for x in &mut b {
            self.u8(x);
        }
        *v = u32::from_be_bytes(b);
    }
    /// One byte; the low bit.
    fn bool(&mut self, v: &mut bool) {
        let mut b = u8::from(*v);
        self.u8(&mut b);
        *v = b & 1 == 1;
    }
    /// A `u32` that is usually small.
    fn small(&mut self, v: &mut u32) {
        let mut b = if *v < 0xff { *v as u8 } else { 0xff };
        self.u8(&mut b);
        if b == 0xff {
            self.u32(v);
        } else {
            *v = u32::from(b);
        }
    }
    /// A byte string.
    fn bytes(&mut self, v: &mut Vec<u8>);
    /// A text string (lossily UTF-8 when decoding).
    fn string(&mut self, v: &mut String) {
        let mut b = v.as_bytes().to_vec();
        self.bytes(&mut b);
        if self.reading() {
            *v = String::from_utf8_lossy(&b).into_owned();
        }
    }
    /// A name: an index into `table`, or a free-form string.
    fn name(&mut self, v: &mut String, table: &[&str]) {
        let mut idx = table
            .iter()
            .position(|n| *n == v.as_str())
            .map_or(0xff, |i| i as u8);
        self.u8(&mut idx);
        if let Some(n) = table.get(idx as usize) {
            *v = n.to_string();
        } else {
            self.string(v);
        }
    }
    /// A list of names: a `small` count then the names.
    fn names(&mut self, v: &mut Vec<String>, table: &[&str]) {
        let mut n = v.len() as u32;
        self.small(&mut n);
        if self.reading() {
            v.clear();
            for _ in 0..n.min(64) {
                if self.exhausted() {
                    break;
                }
                let mut s = String::new();
                self.name(&mut s, table);
                v.push(s);
            }
        } else {
            for s in v.iter_mut() {
                self.name(s, table);
            }
        }
    }
    /// Decoding: no input left.
    fn exhausted(&self) -> bool {
        false
    }
}

/// Decoding from fuzzer bytes.
pub struct In<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> In<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Self {
        In { data, pos: 0 }
    }
}

impl Codec for In<'_> {
    fn reading(&self) -> bool {
        true
    }
    fn u8(&mut self, v: &mut u8) {
        *v = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
    }
    fn bytes(&mut self, v: &mut Vec<u8>) {
        let mut l = 0u8;
        self.u8(&mut l);
        let len = if l == 0xff {
            let mut n = 0u16;
            self.u16(&mut n);
            n as usize
        } else {
            l as usize
        };
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(len).min(self.data.len());
        *v = self.data[start..end].to_vec();
        self.pos = start + len;
    }
    fn exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// Encoding into bytes.
#[derive(Default)]
pub struct Out {
    /// The bytes so far.
    pub buf: Vec<u8>,
}

impl Codec for Out {
    fn reading(&self) -> bool {
        false
    }
    fn u8(&mut self, v: &mut u8) {
        self.buf.push(*v);
    }
    fn bytes(&mut self, v: &mut Vec<u8>) {
        let n = v.len().min(u16::MAX as usize);
        if n < 0xff {
            self.buf.push(n as u8);
        } else {
            self.buf.push(0xff);
            self.buf.extend_from_slice(&(n as u16).to_be_bytes());
        }
        self.buf.extend_from_slice(&v[..n]);
    }
}

/// A value that can be decoded from and encoded to fuzzer bytes.
pub trait Visit: Default {
    /// Reads or writes every field.
    fn visit<C: Codec>(&mut self, c: &mut C);

    /// Decodes a value from the start of `data`.
    fn decode(data: &[u8]) -> Self {
        let mut v = Self::default();
        v.visit(&mut In::new(data));
        v
    }

    /// Encodes the value.
    fn encode(&self) -> Vec<u8>
    where
        Self: Clone,
    {
        let mut out = Out::default();
        self.clone().visit(&mut out);
        out.buf
    }
}
