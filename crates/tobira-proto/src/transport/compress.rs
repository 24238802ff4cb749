//! Payload compression: `zlib` (RFC 4253 §6.2) and OpenSSH's delayed
//! `zlib@openssh.com`.
//!
//! RFC 4253 §6.2: the payload field of each binary packet (not the length
//! fields, padding or MAC) is compressed. Each direction has its own zlib
//! stream (RFC 1950 framing around RFC 1951 deflate); the context is carried
//! from one packet to the next, and each packet ends with a *partial flush*
//! so that the receiver can inflate the whole payload from that packet's
//! bytes alone. The zlib header (`78 9c`) is therefore only in the first
//! compressed packet of a stream, and the stream is never finished.
//!
//! What this module matches in OpenSSH (`packet.c`: `compress_buffer`,
//! `uncompress_buffer`, `ssh_set_newkeys`,
//! `ssh_packet_enable_delayed_compress`):
//!
//! * **Flush mode.** OpenSSH deflates every payload with `Z_PARTIAL_FLUSH`;
//!   tobira uses `Z_SYNC_FLUSH` ([`FlushCompress::Sync`]: an empty stored
//!   block, `00 00 ff ff`, four bytes more per packet), because the
//!   miniz_oxide backend's partial flush does not always flush everything
//!   once the stream passes the 32 KiB window (found by the `inflate` fuzz
//!   target: a payload came out short, its tail at the start of the next
//!   packet). Every zlib inflater, OpenSSH's included, reads sync-flushed
//!   input; our inflater accepts both partial- and sync-flushed input.
//! * **Level.** 6, OpenSSH's hard-coded `start_compression_out(ssh, 6)`.
//! * **Empty payload.** Compresses to nothing (OpenSSH returns early too);
//!   inflating nothing yields nothing.
//! * **Lifetime: one stream per direction per set of keys.** OpenSSH does
//!   *not* keep the stream across a rekey: every NEWKEYS installs a fresh
//!   `newkeys` whose `comp.enabled` is 0, so `ssh_set_newkeys` calls
//!   `start_compression_out`/`_in`, which `deflateEnd`s the old stream and
//!   `deflateInit`s a new one (RFC 4253 §6.2: "the compression context is
//!   initialized after each key exchange"). The packet layer must therefore
//!   create a new [`Compressor`] when it switches to new outgoing keys
//!   (right after sending NEWKEYS) and a new [`Decompressor`] when it
//!   switches to new incoming keys (right after receiving NEWKEYS), provided
//!   [`CompressionMode::active_now`] is true; the next packet then starts
//!   with a zlib header.
//! * **Delayed start (`zlib@openssh.com`).** Compression starts in *both*
//!   directions at once, at USERAUTH_SUCCESS, which itself travels
//!   uncompressed: the server starts compressing its next outgoing packet
//!   and expects its next incoming packet compressed right after it *sends*
//!   USERAUTH_SUCCESS; the client does the same right after it *receives*
//!   USERAUTH_SUCCESS. From then on (authenticated), every later NEWKEYS
//!   starts fresh streams immediately, as with `zlib`.
//! * **Errors.** A corrupt stream, a finished stream (`Z_STREAM_END`, which
//!   OpenSSH also treats as an error) or a payload that inflates beyond the
//!   packet limit is fatal: [`DisconnectReason::CompressionError`]. After an
//!   error the stream is unusable and every later call fails.
//!
//! Inflation is bounded: at most `limit + 1` bytes are ever inflated per
//! packet, in chunks of [`INFLATE_CHUNK`] bytes, so a decompression bomb
//! fails after inflating about `limit` bytes, without consuming the rest of
//! its input.

use std::fmt;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::{DisconnectReason, Error};

/// The deflate level OpenSSH uses for packet compression (RFC 4253 §6.2
/// leaves it to the implementation).
pub const ZLIB_LEVEL: u32 = 6;

/// Inflate output is produced in chunks of this many bytes (RFC 4253 §6.2
/// payloads are inflated chunk by chunk so the packet limit is enforced
/// before anything larger is produced).
pub const INFLATE_CHUNK: usize = 16 * 1024;

/// A negotiated compression method for one direction (RFC 4253 §6.2, and
/// `zlib@openssh.com` from OpenSSH's PROTOCOL §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionMode {
    /// `none`: payloads are sent as they are.
    None,
    /// `zlib` (RFC 4253 §6.2): compression starts with the first packet
    /// after NEWKEYS.
    Zlib,
    /// `zlib@openssh.com`: like `zlib`, but compression starts only once
    /// user authentication succeeded (after USERAUTH_SUCCESS, see the
    /// module documentation for which side starts when).
    ZlibDelayed,
}

impl CompressionMode {
    /// The mode for a negotiated method name (RFC 4253 §6.2 names `none`
    /// and `zlib`; OpenSSH adds `zlib@openssh.com`); `None` for names this
    /// module does not implement.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(CompressionMode::None),
            "zlib" => Some(CompressionMode::Zlib),
            "zlib@openssh.com" => Some(CompressionMode::ZlibDelayed),
            _ => None,
        }
    }

    /// The method name as it appears in KEXINIT (RFC 4253 §6.2).
    pub fn name(self) -> &'static str {
        match self {
            CompressionMode::None => "none",
            CompressionMode::Zlib => "zlib",
            CompressionMode::ZlibDelayed => "zlib@openssh.com",
        }
    }

    /// Whether payloads are compressed under keys using this mode, given
    /// whether user authentication has completed (RFC 4253 §6.2; for the
    /// delayed mode "authenticated" means: the server has sent, or the
    /// client has received, USERAUTH_SUCCESS).
    ///
    /// The packet layer evaluates this when it installs new keys for a
    /// direction (starting a fresh stream if true), and once more at
    /// USERAUTH_SUCCESS for [`CompressionMode::ZlibDelayed`], starting both
    /// directions' streams if no stream is running yet.
    pub fn active_now(self, authenticated: bool) -> bool {
        match self {
            CompressionMode::None => false,
            CompressionMode::Zlib => true,
            CompressionMode::ZlibDelayed => authenticated,
        }
    }
}

fn compression_error(message: impl Into<String>) -> Error {
    Error::with_reason(DisconnectReason::CompressionError, message)
}

fn poisoned() -> Error {
    compression_error("zlib: stream unusable after an earlier error")
}

/// The sending half of RFC 4253 §6.2 compression: one zlib deflate stream
/// that lives as long as one set of outgoing keys.
pub struct Compressor {
    stream: Compress,
    failed: bool,
}

impl Compressor {
    /// Starts a new stream at [`ZLIB_LEVEL`] with the zlib header (RFC 4253
    /// §6.2); call at each key change that activates compression.
    pub fn new() -> Self {
        Compressor {
            stream: Compress::new(Compression::new(ZLIB_LEVEL), true),
            failed: false,
        }
    }

    /// Compresses one packet payload and appends the result to `out`
    /// (RFC 4253 §6.2): the stream's context carries over from earlier
    /// payloads, and the output ends with a partial flush so the peer can
    /// inflate all of `payload` from these bytes. An empty payload appends
    /// nothing. On error `out` is left as it was.
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if self.failed {
            return Err(poisoned());
        }
        if payload.is_empty() {
            return Ok(());
        }
        let start = out.len();
        let result = self.compress_inner(payload, out);
        if result.is_err() {
            self.failed = true;
            out.truncate(start);
        }
        result
    }

    fn compress_inner(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let mut rest = payload;
        loop {
            // Deflate output is at most slightly larger than its input
            // (stored blocks); the loop below copes with anything larger.
            out.reserve(rest.len() + rest.len() / 64 + 64);
            let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
            let status = self
                .stream
                .compress_vec(rest, out, FlushCompress::Sync)
                .map_err(|e| compression_error(format!("zlib: deflate failed: {e}")))?;
            let consumed = (self.stream.total_in() - in_before) as usize;
            let written = self.stream.total_out() - out_before;
            rest = &rest[consumed..];
            match status {
                Status::Ok | Status::BufError => {}
                Status::StreamEnd => return Err(compression_error("zlib: deflate stream ended")),
            }
            // As in OpenSSH: done once all input is taken and deflate left
            // output space unused (nothing is pending inside it).
            if rest.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
            if consumed == 0 && written == 0 {
                return Err(compression_error("zlib: deflate made no progress"));
            }
        }
    }

    /// Payload bytes compressed so far by this stream.
    pub fn total_in(&self) -> u64 {
        self.stream.total_in()
    }

    /// Compressed bytes produced so far by this stream.
    pub fn total_out(&self) -> u64 {
        self.stream.total_out()
    }
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("total_in", &self.total_in())
            .field("total_out", &self.total_out())
            .field("failed", &self.failed)
            .finish()
    }
}

/// The receiving half of RFC 4253 §6.2 compression: one zlib inflate stream
/// that lives as long as one set of incoming keys, with bounded output.
pub struct Decompressor {
    stream: Decompress,
    scratch: Box<[u8]>,
    failed: bool,
}

impl Decompressor {
    /// Starts a new stream expecting the zlib header (RFC 4253 §6.2); call
    /// at each key change that activates compression.
    pub fn new() -> Self {
        Decompressor {
            stream: Decompress::new(true),
            scratch: vec![0; INFLATE_CHUNK].into_boxed_slice(),
            failed: false,
        }
    }

    /// Inflates one packet's compressed payload and appends it to `out`
    /// (RFC 4253 §6.2), with the context carried over from earlier packets.
    ///
    /// `limit` is the largest inflated payload accepted (the packet limit);
    /// anything larger is a [`DisconnectReason::CompressionError`], detected
    /// after inflating at most `limit + 1` bytes. `out` grows by at most
    /// `limit` bytes and its capacity never beyond `max(its capacity before,
    /// out.len() + limit)`. Corrupt data, or a stream the peer finished,
    /// is a [`DisconnectReason::CompressionError`] too. On error `out` is
    /// left as it was and the stream is unusable.
    pub fn decompress(&mut self, data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.failed {
            return Err(poisoned());
        }
        let start = out.len();
        let result = self.decompress_inner(data, limit, out);
        if result.is_err() {
            self.failed = true;
            out.truncate(start);
        }
        result
    }

    fn decompress_inner(&mut self, data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        let cap = out.len().saturating_add(limit);
        let mut produced = 0usize;
        let mut rest = data;
        loop {
            // One byte beyond the limit is enough to detect an overrun.
            let room = self.scratch.len().min((limit - produced).saturating_add(1));
            let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
            let status = self
                .stream
                .decompress(rest, &mut self.scratch[..room], FlushDecompress::Sync)
                .map_err(|e| compression_error(format!("zlib: corrupt compressed payload: {e}")))?;
            let consumed = (self.stream.total_in() - in_before) as usize;
            let written = (self.stream.total_out() - out_before) as usize;
            rest = &rest[consumed..];
            if written > limit - produced {
                return Err(compression_error(format!(
                    "zlib: payload inflates beyond the {limit}-byte limit"
                )));
            }
            append_bounded(out, &self.scratch[..written], cap);
            produced += written;
            match status {
                Status::Ok | Status::BufError => {}
                Status::StreamEnd => {
                    return Err(compression_error("zlib: peer ended the compression stream"));
                }
            }
            // Done once all input is taken and inflate left output space
            // unused: it holds nothing more that this input can produce.
            if rest.is_empty() && written < room {
                return Ok(());
            }
            if consumed == 0 && written == 0 {
                return Err(compression_error("zlib: inflate made no progress"));
            }
        }
    }

    /// Compressed bytes consumed so far by this stream.
    pub fn total_in(&self) -> u64 {
        self.stream.total_in()
    }

    /// Payload bytes inflated so far by this stream.
    pub fn total_out(&self) -> u64 {
        self.stream.total_out()
    }
}

impl Default for Decompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("total_in", &self.total_in())
            .field("total_out", &self.total_out())
            .field("failed", &self.failed)
            .finish()
    }
}

/// Appends `chunk` to `out`, growing geometrically but never past `cap`
/// bytes of capacity (the caller guarantees `out.len() + chunk.len() <=
/// cap`), unless `out` already had more.
fn append_bounded(out: &mut Vec<u8>, chunk: &[u8], cap: usize) {
    let need = out.len() + chunk.len();
    if need > out.capacity() {
        let target = out.capacity().saturating_mul(2).clamp(need, cap.max(need));
        out.reserve_exact(target - out.len());
    }
    out.extend_from_slice(chunk);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::packet::MAX_PACKET;

    fn assert_compression_error(r: Result<(), Error>) {
        let e = r.expect_err("expected an error");
        assert_eq!(e.reason(), Some(DisconnectReason::CompressionError), "{e}");
    }

    #[test]
    fn modes() {
        for (name, mode) in [
            ("none", CompressionMode::None),
            ("zlib", CompressionMode::Zlib),
            ("zlib@openssh.com", CompressionMode::ZlibDelayed),
        ] {
            assert_eq!(CompressionMode::from_name(name), Some(mode));
            assert_eq!(mode.name(), name);
        }
        assert_eq!(CompressionMode::from_name("ZLIB"), None);
        assert_eq!(CompressionMode::from_name("zlib@openssh"), None);
        assert!(!CompressionMode::None.active_now(false));
        assert!(!CompressionMode::None.active_now(true));
        assert!(CompressionMode::Zlib.active_now(false));
        assert!(CompressionMode::Zlib.active_now(true));
        assert!(!CompressionMode::ZlibDelayed.active_now(false));
        assert!(CompressionMode::ZlibDelayed.active_now(true));
        for name in crate::algorithms::COMPRESSION_SUPPORTED {
            assert!(CompressionMode::from_name(name).is_some(), "{name}");
        }
    }

    fn channel_data(i: usize) -> Vec<u8> {
        let text = format!("drwxr-xr-x 2 user user 4096 Jan  1 00:00 directory-number-{i}\n");
        let mut p = vec![94, 0, 0, 0, 0];
        p.extend_from_slice(&(text.len() as u32).to_be_bytes());
        p.extend_from_slice(text.as_bytes());
        p
    }

    /// Regression (fuzz/crashes/inflate-partial-flush-min): every packet
    /// inflates to exactly its payload, also once the stream has passed
    /// the 32 KiB window.
    #[test]
    fn each_packet_carries_its_whole_payload() {
        let mut c = Compressor::new();
        let mut d = Decompressor::new();
        let payloads: Vec<Vec<u8>> = vec![
            b"xxxxx".to_vec(),
            vec![b'y'; 20],
            vec![0u8; 32768],
            vec![7u8; 40000],
            (0..70000u32).map(|i| (i * 31 % 251) as u8).collect(),
            b"tail".to_vec(),
        ];
        for p in &payloads {
            let mut z = Vec::new();
            c.compress(p, &mut z).unwrap();
            let mut out = Vec::new();
            d.decompress(&z, MAX_PACKET, &mut out).unwrap();
            assert_eq!(out.len(), p.len());
            assert!(&out == p);
        }
    }

    #[test]
    fn round_trip_shares_context() {
        let mut c = Compressor::new();
        let mut d = Decompressor::new();
        let mut sizes = Vec::new();
        for i in 0..50 {
            let payload = channel_data(i);
            let mut wire = Vec::new();
            c.compress(&payload, &mut wire).unwrap();
            if i == 0 {
                assert_eq!(&wire[..2], &[0x78, 0x9c], "zlib header, level 6");
            } else {
                assert_ne!(&wire[..2], &[0x78, 0x9c]);
            }
            sizes.push(wire.len());
            // Each packet inflates completely on its own bytes.
            let mut plain = b"prefix".to_vec();
            d.decompress(&wire, MAX_PACKET, &mut plain).unwrap();
            assert_eq!(&plain[..6], b"prefix");
            assert_eq!(&plain[6..], &payload[..], "packet {i}");
        }
        // The shared dictionary makes later packets much smaller.
        assert!(sizes[49] * 2 < sizes[0], "{sizes:?}");
        assert!(sizes[49] < channel_data(49).len() / 2, "{sizes:?}");
        assert_eq!(c.total_in(), d.total_out());
        assert_eq!(c.total_out(), d.total_in());
    }

    /// A deterministic xorshift stream, incompressible for deflate.
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    #[test]
    fn round_trip_large_and_incompressible() {
        let mut c = Compressor::new();
        let mut d = Decompressor::new();
        let mut big = noise(100_000, 1);
        big.extend(std::iter::repeat_n(b'a', 100_000));
        big.extend(noise(MAX_PACKET - big.len(), 2));
        for payload in [&big[..], b"x", &noise(70_000, 3), &big[..]] {
            let mut wire = Vec::new();
            c.compress(payload, &mut wire).unwrap();
            let mut plain = Vec::new();
            d.decompress(&wire, MAX_PACKET, &mut plain).unwrap();
            assert_eq!(plain, payload);
        }
    }

    #[test]
    fn empty_payload() {
        let mut c = Compressor::new();
        let mut d = Decompressor::new();
        let mut wire = Vec::new();
        c.compress(b"", &mut wire).unwrap();
        assert!(wire.is_empty());
        let mut plain = Vec::new();
        d.decompress(b"", MAX_PACKET, &mut plain).unwrap();
        assert!(plain.is_empty());
        // The streams work normally afterwards, with or without the header
        // already consumed.
        for payload in [&b"\x05\0\0\0\x0cssh-userauth"[..], b"\x02"] {
            c.compress(payload, &mut wire).unwrap();
            d.decompress(&wire, MAX_PACKET, &mut plain).unwrap();
            assert_eq!(plain, payload);
            d.decompress(b"", MAX_PACKET, &mut plain).unwrap();
            assert_eq!(plain, payload);
            wire.clear();
            plain.clear();
        }
    }

    /// Packets compressed by CPython 3 / zlib 1.2.13 with
    /// `c = zlib.compressobj(6)` and, per payload,
    /// `c.compress(p) + c.flush(zlib.Z_PARTIAL_FLUSH)`: what OpenSSH's
    /// `compress_buffer` produces. The third payload repeats the second and
    /// shrinks to 5 bytes through the shared context.
    #[test]
    fn inflates_zlib_partial_flush_kat() {
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        payloads.push(b"\x05\x00\x00\x00\x0cssh-userauth".to_vec());
        let mut data = b"\x5e\x00\x00\x00\x00\x00\x00\x00\x30".to_vec();
        data.extend_from_slice(&b"tobira zlib interop line\n".repeat(2));
        payloads.push(data.clone());
        payloads.push(data);
        payloads.push((0..=255u8).chain(0..=255u8).collect());
        payloads.push(b"\x01".to_vec());
        let packets = [
            "789c62656060e0292eced02d2d4e2d4a2c2dc90008",
            "a03806083028c94fca2c4a54a8cac94c52c8cc2b492dca2f50c8c9cc4be5c2290110",
            "4014680508",
            "2006462666165636760e4e2e6e1e5e3e7e0141216111513171094929691959397905452565155535750d\
             4d2d6d1d5d3d7d03432363135333730b4b2b6b1b5b3b7b07472767175737770f4f2f6f1f5f3fff80c0a\
             0e090d0b0f088c8a8e898d8b8f884c4a4e494d4b4f48cccacec9cdcbcfc82c2a2e292d2b2f28acaaaea9\
             adabafa86c6a6e696d6b6f68eceaeee9edebefe0913274d9e3275daf4193367cd9e3377defc050b172d5\
             eb274d9f2152b57ad5eb376ddfa0d1b376ddeb275dbf61d3b77eddeb377dffe03070f1d3e72f4d8f1132\
             74f9d3e73f6dcf90b172f5dbe72f5daf51b376fddbe73f7defd070f1f3d7ef2f4d9f3172f5fbd7ef3f6d\
             dfb0f1f3f7dfef2f5dbf71f3f7ffdfef3f7dfff91ee7f8000",
            "620408",
        ];
        let mut d = Decompressor::new();
        for (payload, packet) in payloads.iter().zip(packets) {
            let mut plain = Vec::new();
            d.decompress(&hex::decode(packet).unwrap(), MAX_PACKET, &mut plain)
                .unwrap();
            assert_eq!(&plain, payload);
        }
    }

    /// Sync-flushed input (what some other implementations send) inflates
    /// too.
    #[test]
    fn inflates_sync_flushed_input() {
        let mut c = Compress::new(Compression::new(9), true);
        let mut d = Decompressor::new();
        for i in 0..5 {
            let payload = channel_data(i);
            let mut wire = Vec::with_capacity(1024);
            c.compress_vec(&payload, &mut wire, FlushCompress::Sync).unwrap();
            assert!(wire.ends_with(&[0, 0, 0xff, 0xff]));
            let mut plain = Vec::new();
            d.decompress(&wire, MAX_PACKET, &mut plain).unwrap();
            assert_eq!(plain, payload);
        }
    }

    #[test]
    fn limit_is_exact() {
        let payload = noise(1000, 4);
        let mut wire = Vec::new();
        Compressor::new().compress(&payload, &mut wire).unwrap();
        let mut plain = Vec::new();
        Decompressor::new().decompress(&wire, 1000, &mut plain).unwrap();
        assert_eq!(plain, payload);
        let mut plain = b"kept".to_vec();
        let mut d = Decompressor::new();
        assert_compression_error(d.decompress(&wire, 999, &mut plain));
        assert_eq!(plain, b"kept");
        // The stream is dead after an error.
        assert_compression_error(d.decompress(b"", 1000, &mut plain));
        let mut zero = Vec::new();
        assert_compression_error(Decompressor::new().decompress(&wire, 0, &mut zero));
        assert!(zero.is_empty());
    }

    /// Writes bits LSB first, as deflate does.
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }

    impl Bits {
        fn put(&mut self, value: u64, count: u32) {
            self.acc |= value << self.n;
            self.n += count;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
    }

    /// A zlib stream holding one fixed-Huffman block: a literal 0, then
    /// `matches` copies of <length 258, distance 1>. Each match is 13 bits,
    /// so ~1.6 MB of input inflates to ~258 MB.
    fn bomb(matches: usize) -> Vec<u8> {
        let mut b = Bits {
            out: vec![0x78, 0x01],
            acc: 0,
            n: 0,
        };
        b.put(0b010, 3); // BFINAL = 0, BTYPE = 01 (fixed Huffman)
        b.put(0b0000_1100, 8); // literal 0: code 00110000, sent MSB first
        for _ in 0..matches {
            b.put(0b1010_0011, 8); // length 258: code 285 = 11000101, MSB first
            b.put(0, 5); // distance 1: code 0
        }
        b.out
    }

    #[test]
    fn decompression_bomb_fails_fast_with_bounded_memory() {
        // ~100 MB from ~630 KB of compressed data.
        let data = bomb(100_000_000 / 258);
        assert!(data.len() < 700_000);
        let mut d = Decompressor::new();
        let mut plain = Vec::new();
        let start = std::time::Instant::now();
        assert_compression_error(d.decompress(&data, MAX_PACKET, &mut plain));
        assert!(plain.is_empty());
        // Nothing near 100 MB was ever held: at most the limit.
        assert!(plain.capacity() <= MAX_PACKET, "{}", plain.capacity());
        // Only about limit + 1 bytes were inflated, from a small prefix.
        assert!(d.total_out() <= MAX_PACKET as u64 + 1, "{}", d.total_out());
        assert!(d.total_in() < 10_000, "{}", d.total_in());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));

        // The same through our own compressor: 8 MiB of zeros.
        let mut wire = Vec::new();
        Compressor::new().compress(&vec![0; 8 << 20], &mut wire).unwrap();
        assert!(wire.len() < 64 * 1024, "{}", wire.len());
        let mut plain = Vec::with_capacity(16);
        assert_compression_error(Decompressor::new().decompress(&wire, MAX_PACKET, &mut plain));
        assert!(plain.capacity() <= MAX_PACKET + 16);
    }

    #[test]
    fn output_capacity_stays_within_limit() {
        let payload = vec![7u8; MAX_PACKET];
        let mut wire = Vec::new();
        Compressor::new().compress(&payload, &mut wire).unwrap();
        let mut plain = Vec::new();
        Decompressor::new().decompress(&wire, MAX_PACKET, &mut plain).unwrap();
        assert_eq!(plain, payload);
        assert!(plain.capacity() <= MAX_PACKET, "{}", plain.capacity());
    }

    #[test]
    fn corrupt_input_is_an_error() {
        // Not a zlib header.
        let mut plain = Vec::new();
        assert_compression_error(Decompressor::new().decompress(b"\x05\0\0\0\x0cssh-userauth", MAX_PACKET, &mut plain));
        // A valid first packet, then a block of the reserved type 11.
        let mut c = Compressor::new();
        let mut d = Decompressor::new();
        let mut wire = Vec::new();
        c.compress(b"\x05\0\0\0\x0cssh-userauth", &mut wire).unwrap();
        d.decompress(&wire, MAX_PACKET, &mut plain).unwrap();
        let mut plain = Vec::new();
        assert_compression_error(d.decompress(&[0xff; 16], MAX_PACKET, &mut plain));
        assert!(plain.is_empty());
        assert_compression_error(d.decompress(&wire, MAX_PACKET, &mut plain));
        // A flipped bit inside a later packet, never a panic: an error, or
        // different bytes, or (a flip in bits that only matter for what
        // follows, such as BFINAL or the trailing flush block) an error
        // with the next packet. Integrity is the MAC's job; zlib's Adler-32
        // is never checked because the stream never ends.
        let mut c = Compressor::new();
        let mut wires = Vec::new();
        for i in 0..3 {
            let mut w = Vec::new();
            c.compress(&channel_data(i), &mut w).unwrap();
            wires.push(w);
        }
        // With sync flushes the bits that pad the last block to the byte
        // boundary before the empty stored block are ignored by inflate:
        // at most 7 flips per packet change nothing at all.
        let mut harmless = 0;
        for bit in 0..wires[1].len() * 8 {
            let mut d = Decompressor::new();
            let mut plain = Vec::new();
            d.decompress(&wires[0], MAX_PACKET, &mut plain).unwrap();
            let mut bad = wires[1].clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let mut plain = Vec::new();
            if d.decompress(&bad, MAX_PACKET, &mut plain).is_ok() && plain == channel_data(1) {
                let mut next = Vec::new();
                let r = d.decompress(&wires[2], MAX_PACKET, &mut next);
                if r.is_ok() && next == channel_data(2) {
                    harmless += 1;
                }
            }
        }
        assert!(harmless <= 7, "{harmless} flips went unnoticed");
        // Random garbage, with and without a valid header: no panics.
        for seed in 1..200u64 {
            let mut data = noise(1 + (seed as usize * 37) % 3000, seed);
            if seed % 2 == 0 {
                data[0] = 0x78;
                data[1] = 0x9c;
            }
            let mut d = Decompressor::new();
            let mut plain = Vec::new();
            if d.decompress(&data, MAX_PACKET, &mut plain).is_ok() {
                assert!(plain.len() <= MAX_PACKET);
            }
        }
    }

    #[test]
    fn finished_stream_is_an_error() {
        let mut c = Compress::new(Compression::new(6), true);
        let mut wire = Vec::with_capacity(256);
        c.compress_vec(b"hello", &mut wire, FlushCompress::Finish).unwrap();
        let mut plain = Vec::new();
        assert_compression_error(Decompressor::new().decompress(&wire, MAX_PACKET, &mut plain));
        assert!(plain.is_empty());
    }
}
