//! Protocol version exchange (RFC 4253 §4.2): `SSH-2.0-softwareversion
//! SP comments CR LF`, at most 255 bytes including CR LF. A client accepts
//! other lines before the server's identification.

use crate::error::{DisconnectReason, Error};

/// The longest identification line, CR LF included (RFC 4253 §4.2).
pub const MAX_IDENT_LEN: usize = 255;
/// How many non-identification lines a client skips before giving up
/// (OpenSSH allows 1024 lines).
pub const MAX_PRE_BANNER_LINES: usize = 1024;

/// Our identification string, without CR LF.
pub fn local_ident() -> String {
    format!("SSH-2.0-tobira_{}", env!("CARGO_PKG_VERSION"))
}

/// Incremental reader of the peer's identification line.
#[derive(Debug, Default)]
pub struct IdentReader {
    skipped_lines: usize,
    /// Lines received before the identification (client side).
    pub pre_banner: Vec<String>,
}

/// Result of scanning the input for the identification line.
#[derive(Debug)]
pub enum IdentScan {
    /// Need more bytes.
    NeedMore,
    /// Found: the identification (without CR LF) and the bytes consumed.
    Found(String, usize),
}

impl IdentReader {
    /// Scans `buf`. `is_client` allows other lines before the
    /// identification, as RFC 4253 §4.2 allows a server to send.
    pub fn scan(&mut self, buf: &[u8], is_client: bool) -> Result<IdentScan, Error> {
        let mut start = 0;
        loop {
            let rest = &buf[start..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() >= MAX_IDENT_LEN {
                    return Err(too_long());
                }
                return Ok(IdentScan::NeedMore);
            };
            if nl + 1 > MAX_IDENT_LEN {
                return Err(too_long());
            }
            let mut line = &rest[..nl];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            start += nl + 1;
            if line.starts_with(b"SSH-") {
                let text = std::str::from_utf8(line)
                    .map_err(|_| Error::protocol("identification string is not valid UTF-8"))?;
                if line.contains(&0) {
                    return Err(Error::protocol("identification string contains NUL"));
                }
                if !(text.starts_with("SSH-2.0-") || text.starts_with("SSH-1.99-")) {
                    return Err(Error::with_reason(
                        DisconnectReason::ProtocolVersionNotSupported,
                        format!(
                            "Protocol major versions differ: 2 vs. {}",
                            text.get(4..).and_then(|v| v.split('.').next()).unwrap_or("?")
                        ),
                    ));
                }
                return Ok(IdentScan::Found(text.to_string(), start));
            }
            if !is_client {
                return Err(Error::protocol("invalid identification string: not an SSH-2.0 line"));
            }
            self.skipped_lines += 1;
            if self.skipped_lines > MAX_PRE_BANNER_LINES {
                return Err(Error::protocol("too many lines before the identification string"));
            }
            self.pre_banner.push(String::from_utf8_lossy(line).into_owned());
        }
    }
}

fn too_long() -> Error {
    Error::protocol("identification string too long (over 255 bytes)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(r: Result<IdentScan, Error>) -> (String, usize) {
        match r.unwrap() {
            IdentScan::Found(s, n) => (s, n),
            IdentScan::NeedMore => panic!("need more"),
        }
    }

    #[test]
    fn client_skips_banner_lines() {
        let mut r = IdentReader::default();
        let buf = b"hello\r\nworld\nSSH-2.0-OpenSSH_9.2p1 Debian-2\r\nrest";
        let (s, n) = found(r.scan(buf, true));
        assert_eq!(s, "SSH-2.0-OpenSSH_9.2p1 Debian-2");
        assert_eq!(&buf[n..], b"rest");
        assert_eq!(r.pre_banner, ["hello", "world"]);
        assert!(IdentReader::default().scan(buf, false).is_err());
    }

    #[test]
    fn partial_and_limits() {
        assert!(matches!(
            IdentReader::default().scan(b"SSH-2.0-x", true).unwrap(),
            IdentScan::NeedMore
        ));
        let long = format!("SSH-2.0-{}\r\n", "a".repeat(250));
        assert!(IdentReader::default().scan(long.as_bytes(), true).is_err());
        let endless = vec![b'a'; 300];
        assert!(IdentReader::default().scan(&endless, true).is_err());
        let e = IdentReader::default().scan(b"SSH-1.5-old\r\n", true).unwrap_err();
        assert_eq!(e.reason(), Some(DisconnectReason::ProtocolVersionNotSupported));
        let (s, _) = found(IdentReader::default().scan(b"SSH-1.99-compat\r\n", false));
        assert_eq!(s, "SSH-1.99-compat");
    }
}
