//! The data type representations of RFC 4251 §5: `byte`, `boolean`,
//! `uint32`, `uint64`, `string`, `mpint` and `name-list`.
//!
//! [`Reader`] is bounds-checked everywhere: every read that runs past the
//! end of the input is a [`DecodeError`], never a panic.

/// A field could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the field did.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A field violates its encoding rules.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes were left after the last field of a message.
    #[error("trailing data after message")]
    Trailing,
}

/// The largest name-list we accept, in bytes (OpenSSH accepts far less in
/// practice; the bound keeps allocation proportional to the packet).
pub const MAX_NAME_LIST: usize = 64 * 1024;

/// A bounds-checked cursor over a message payload (RFC 4251 §5).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `buf` from its first byte.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Fails unless every byte has been read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing)
        }
    }

    /// Reads `n` raw bytes.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated(what))?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }

    /// Reads a `byte`.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1, "byte")?[0])
    }

    /// Reads a `boolean` (any non-zero value is true, RFC 4251 §5).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }

    /// Reads a `uint32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4, "uint32")?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a `uint64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.bytes(8, "uint64")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Reads a `string` as raw bytes. The length is checked against the
    /// remaining input before anything is allocated or sliced.
    pub fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.bytes(n, "string")
    }

    /// Reads a `string` that must be UTF-8 (RFC 4251 §5 "ISO-10646 UTF-8").
    pub fn utf8(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.string()?).map_err(|_| DecodeError::Invalid("UTF-8 string"))
    }

    /// Reads an `mpint` that must be non-negative and returns its magnitude,
    /// big-endian, without leading zero bytes.
    pub fn mpint_positive(&mut self) -> Result<&'a [u8], DecodeError> {
        let s = self.string()?;
        if let Some(&first) = s.first() {
            if first & 0x80 != 0 {
                return Err(DecodeError::Invalid("negative mpint"));
            }
        }
        let start = s.iter().position(|&b| b != 0).unwrap_or(s.len());
        Ok(&s[start..])
    }

    /// Reads a `name-list`: comma-separated US-ASCII names, no empty names
    /// (RFC 4251 §5).
    pub fn name_list(&mut self) -> Result<Vec<String>, DecodeError> {
        let s = self.string()?;
        if s.len() > MAX_NAME_LIST {
            return Err(DecodeError::Invalid("name-list too long"));
        }
        if s.is_empty() {
            return Ok(Vec::new());
        }
        let text = std::str::from_utf8(s).map_err(|_| DecodeError::Invalid("name-list"))?;
        let mut out = Vec::new();
        for name in text.split(',') {
            if name.is_empty() || !name.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                return Err(DecodeError::Invalid("name-list"));
            }
            out.push(name.to_string());
        }
        Ok(out)
    }
}

/// Appends RFC 4251 §5 encodings to a byte vector.
pub trait Writer {
    /// Appends a `byte`.
    fn put_u8(&mut self, v: u8);
    /// Appends a `boolean`.
    fn put_bool(&mut self, v: bool);
    /// Appends a `uint32`.
    fn put_u32(&mut self, v: u32);
    /// Appends a `uint64`.
    fn put_u64(&mut self, v: u64);
    /// Appends a `string`.
    fn put_string(&mut self, v: &[u8]);
    /// Appends a `name-list`.
    fn put_name_list<S: AsRef<str>>(&mut self, names: &[S]);
    /// Appends a non-negative `mpint` from its big-endian magnitude (leading
    /// zeros are stripped; a zero byte is prepended when the top bit is set).
    fn put_mpint(&mut self, magnitude: &[u8]);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_bool(&mut self, v: bool) {
        self.push(u8::from(v));
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_string(&mut self, v: &[u8]) {
        // Lengths we write come from our own buffers, far below 4 GiB.
        self.put_u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.extend_from_slice(v);
    }
    fn put_name_list<S: AsRef<str>>(&mut self, names: &[S]) {
        let mut joined = String::new();
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                joined.push(',');
            }
            joined.push_str(n.as_ref());
        }
        self.put_string(joined.as_bytes());
    }
    fn put_mpint(&mut self, magnitude: &[u8]) {
        let start = magnitude.iter().position(|&b| b != 0).unwrap_or(magnitude.len());
        let m = &magnitude[start..];
        if m.first().is_some_and(|&b| b & 0x80 != 0) {
            self.put_u32(u32::try_from(m.len() + 1).unwrap_or(u32::MAX));
            self.push(0);
            self.extend_from_slice(m);
        } else {
            self.put_string(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of RFC 4251 §5.
    #[test]
    fn rfc4251_mpint_examples() {
        let cases: &[(&[u8], &[u8])] = &[
            (&[], &[0, 0, 0, 0]),
            (
                &[0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7],
                &[0, 0, 0, 8, 0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7],
            ),
            (&[0x80], &[0, 0, 0, 2, 0, 0x80]),
            (&[0, 0, 0x80], &[0, 0, 0, 2, 0, 0x80]),
        ];
        for (mag, enc) in cases {
            let mut v = Vec::new();
            v.put_mpint(mag);
            assert_eq!(&v, enc);
            let mut r = Reader::new(enc);
            let back = r.mpint_positive().unwrap();
            let want: Vec<u8> = mag.iter().copied().skip_while(|&b| b == 0).collect();
            assert_eq!(back, &want[..]);
        }
    }

    #[test]
    fn name_lists() {
        let mut v = Vec::new();
        v.put_name_list(&["zlib", "none"]);
        assert_eq!(v, b"\0\0\0\x09zlib,none");
        assert_eq!(Reader::new(&v).name_list().unwrap(), ["zlib", "none"]);
        assert!(Reader::new(b"\0\0\0\x05a,,bc").name_list().is_err());
        assert_eq!(Reader::new(b"\0\0\0\0").name_list().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn truncation_is_an_error() {
        assert_eq!(
            Reader::new(b"\0\0\0\x09zlib").string(),
            Err(DecodeError::Truncated("string"))
        );
        assert_eq!(
            Reader::new(b"\xff\xff\xff\xff").string(),
            Err(DecodeError::Truncated("string"))
        );
        assert_eq!(Reader::new(b"\0\0").u32(), Err(DecodeError::Truncated("uint32")));
        assert!(Reader::new(b"\0\0\0\x01\x80").mpint_positive().is_err());
        assert_eq!(Reader::new(b"x").finish(), Err(DecodeError::Trailing));
    }
}
