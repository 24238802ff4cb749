//! A blocking client for the SSH agent protocol, as spoken by OpenSSH's
//! `ssh-agent` over the Unix socket named by `SSH_AUTH_SOCK` or the
//! `IdentityAgent` option.
//!
//! The protocol is specified in draft-miller-ssh-agent (published as
//! RFC 9987; section numbers below follow draft-miller-ssh-agent-14), with
//! OpenSSH's extensions in its `PROTOCOL.agent`. Only the two operations a
//! client needs for public-key authentication are implemented: listing the
//! agent's keys (§3.5) and asking it for a signature (§3.6).
//!
//! Every message is framed as a `uint32` length followed by that many bytes
//! (§3). Replies come from another process, so they are treated as
//! untrusted: each length is checked against [`MAX_MESSAGE_LEN`] and
//! [`MAX_IDENTITIES`] before anything is allocated, and malformed replies are
//! [`AgentError::Protocol`] errors, never panics.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use tobira_proto::wire::{DecodeError, Reader, Writer};

/// The largest agent message, request or reply, we send or accept, in
/// bytes (OpenSSH's `ssh-agent` uses the same 256 KiB bound). Framing per
/// draft-miller-ssh-agent §3.
pub const MAX_MESSAGE_LEN: usize = 256 * 1024;

/// The most identities accepted in one `SSH_AGENT_IDENTITIES_ANSWER`
/// (draft-miller-ssh-agent §3.5).
pub const MAX_IDENTITIES: usize = 1024;

/// The read and write timeout a new [`AgentClient`] uses. Generous, since an
/// agent may ask its user to confirm a signature (the confirm key
/// constraint of draft-miller-ssh-agent) before it answers (§3.6).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment variable naming the agent's socket.
const AUTH_SOCK_ENV: &str = "SSH_AUTH_SOCK";

// Message numbers, draft-miller-ssh-agent §6.1.
const SSH_AGENT_FAILURE: u8 = 5;
const SSH_AGENTC_REQUEST_IDENTITIES: u8 = 11;
const SSH_AGENT_IDENTITIES_ANSWER: u8 = 12;
const SSH_AGENTC_SIGN_REQUEST: u8 = 13;
const SSH_AGENT_SIGN_RESPONSE: u8 = 14;
const SSH_AGENT_EXTENSION_FAILURE: u8 = 28;
// Legacy failure codes OpenSSH's own client (authfd.c) also treats as
// failure: SSH2_AGENT_FAILURE and SSH_COM_AGENT2_FAILURE.
const SSH2_AGENT_FAILURE: u8 = 30;
const SSH_COM_AGENT2_FAILURE: u8 = 102;

// Signature flags, draft-miller-ssh-agent §3.6.1.
const SSH_AGENT_RSA_SHA2_256: u32 = 0x02;
const SSH_AGENT_RSA_SHA2_512: u32 = 0x04;

/// Errors of talking to an SSH agent (draft-miller-ssh-agent §3).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Connecting to, writing to or reading from the agent's socket failed,
    /// timed out, or the agent closed the connection.
    #[error("agent I/O error: {0}")]
    Io(#[from] io::Error),
    /// The agent's reply violates the protocol (bad framing, oversized or
    /// malformed message, unexpected message type), or a request was too
    /// large to send. After such an error on a connection its framing is
    /// lost and every further request on it fails.
    #[error("agent protocol error: {0}")]
    Protocol(String),
    /// The agent answered `SSH_AGENT_FAILURE` (draft-miller-ssh-agent §3.1):
    /// it refused the request, e.g. it does not hold the key.
    #[error("the agent refused the request")]
    Failure,
}

/// One key held by the agent, from an `SSH_AGENT_IDENTITIES_ANSWER`
/// (draft-miller-ssh-agent §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    /// The public key blob in SSH wire encoding (RFC 4253 §6.6), or a
    /// certificate blob.
    pub key_blob: Vec<u8>,
    /// The key's comment. Bytes that are not UTF-8 are replaced with U+FFFD
    /// rather than rejecting the whole answer.
    pub comment: String,
}

/// A connection to an SSH agent (draft-miller-ssh-agent §3): one request at
/// a time, each answered by exactly one reply.
#[derive(Debug)]
pub struct AgentClient {
    stream: UnixStream,
    /// Set while a request is outstanding; still set after an error means
    /// the stream's framing is lost.
    desync: bool,
}

impl AgentClient {
    /// Connects to the agent listening on the Unix socket at `path`
    /// (draft-miller-ssh-agent §3, "the agent listens on a local socket"),
    /// with [`DEFAULT_TIMEOUT`] for reads and writes.
    pub fn connect(path: &Path) -> Result<Self, AgentError> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(DEFAULT_TIMEOUT))?;
        stream.set_write_timeout(Some(DEFAULT_TIMEOUT))?;
        Ok(AgentClient { stream, desync: false })
    }

    /// Connects to the agent named by the `SSH_AUTH_SOCK` environment
    /// variable (draft-miller-ssh-agent §3). `None` when the variable is
    /// unset or empty.
    pub fn from_env() -> Option<Result<Self, AgentError>> {
        let path = std::env::var_os(AUTH_SOCK_ENV).filter(|p| !p.is_empty())?;
        Some(Self::connect(Path::new(&path)))
    }

    /// Sets the read and write timeout of the agent connection
    /// (draft-miller-ssh-agent §3); `None` waits forever. A zero duration is
    /// an [`AgentError::Io`] error.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), AgentError> {
        self.stream.set_read_timeout(timeout)?;
        self.stream.set_write_timeout(timeout)?;
        Ok(())
    }

    /// Lists the agent's keys: `SSH_AGENTC_REQUEST_IDENTITIES` (11),
    /// answered by `SSH_AGENT_IDENTITIES_ANSWER` (12), per
    /// draft-miller-ssh-agent §3.5. At most [`MAX_IDENTITIES`] are accepted.
    pub fn identities(&mut self) -> Result<Vec<AgentIdentity>, AgentError> {
        let reply = self.transact(&[SSH_AGENTC_REQUEST_IDENTITIES])?;
        let mut r = Reader::new(&reply);
        expect_type(&mut r, SSH_AGENT_IDENTITIES_ANSWER, "SSH_AGENT_IDENTITIES_ANSWER")?;
        let nkeys = r.u32().map_err(malformed)?;
        let nkeys = usize::try_from(nkeys).unwrap_or(usize::MAX);
        if nkeys > MAX_IDENTITIES {
            return Err(AgentError::Protocol(format!(
                "agent lists {nkeys} identities, more than the {MAX_IDENTITIES} accepted"
            )));
        }
        // Each identity is at least two empty strings: 8 bytes.
        if nkeys > r.remaining().len() / 8 {
            return Err(AgentError::Protocol(format!(
                "agent lists {nkeys} identities but sent only {} bytes",
                r.remaining().len()
            )));
        }
        let mut out = Vec::with_capacity(nkeys);
        for _ in 0..nkeys {
            let key_blob = r.string().map_err(malformed)?;
            if key_blob.is_empty() {
                return Err(AgentError::Protocol("agent listed an empty key blob".into()));
            }
            let comment = r.string().map_err(malformed)?;
            out.push(AgentIdentity {
                key_blob: key_blob.to_vec(),
                comment: String::from_utf8_lossy(comment).into_owned(),
            });
        }
        r.finish().map_err(malformed)?;
        Ok(out)
    }

    /// Asks the agent to sign `data` with the key `key_blob`:
    /// `SSH_AGENTC_SIGN_REQUEST` (13) answered by `SSH_AGENT_SIGN_RESPONSE`
    /// (14), per draft-miller-ssh-agent §3.6. The flags (§3.6.1) are
    /// `SSH_AGENT_RSA_SHA2_256` for `rsa-sha2-256`, `SSH_AGENT_RSA_SHA2_512`
    /// for `rsa-sha2-512` and 0 otherwise.
    ///
    /// Returns the signature blob (`string algorithm, string signature`)
    /// exactly as the agent sent it, after checking that it is well formed
    /// and that its algorithm name equals `algorithm` (an agent that ignores
    /// the flags and answers `ssh-rsa` is an [`AgentError::Protocol`] error).
    pub fn sign(&mut self, key_blob: &[u8], data: &[u8], algorithm: &str) -> Result<Vec<u8>, AgentError> {
        let flags = match algorithm {
            "rsa-sha2-256" => SSH_AGENT_RSA_SHA2_256,
            "rsa-sha2-512" => SSH_AGENT_RSA_SHA2_512,
            _ => 0,
        };
        // byte type, string key, string data, uint32 flags.
        let len = key_blob
            .len()
            .checked_add(data.len())
            .and_then(|n| n.checked_add(1 + 4 + 4 + 4));
        match len {
            Some(n) if n <= MAX_MESSAGE_LEN => {}
            _ => {
                return Err(AgentError::Protocol(format!(
                    "sign request larger than {MAX_MESSAGE_LEN} bytes"
                )))
            }
        }
        let mut body = Vec::with_capacity(len.unwrap_or(0));
        body.put_u8(SSH_AGENTC_SIGN_REQUEST);
        body.put_string(key_blob);
        body.put_string(data);
        body.put_u32(flags);

        let reply = self.transact(&body)?;
        let mut r = Reader::new(&reply);
        expect_type(&mut r, SSH_AGENT_SIGN_RESPONSE, "SSH_AGENT_SIGN_RESPONSE")?;
        let sig_blob = r.string().map_err(malformed)?;
        r.finish().map_err(malformed)?;

        let mut sr = Reader::new(sig_blob);
        let sig_alg = sr
            .utf8()
            .map_err(|e| AgentError::Protocol(format!("malformed signature blob from agent: {e}")))?;
        if sig_alg != algorithm {
            return Err(AgentError::Protocol(format!(
                "agent signed with {sig_alg}, not the requested {algorithm}"
            )));
        }
        sr.string()
            .and_then(|_| sr.finish())
            .map_err(|e| AgentError::Protocol(format!("malformed signature blob from agent: {e}")))?;
        Ok(sig_blob.to_vec())
    }

    /// Sends one framed request and reads its framed reply (§3).
    fn transact(&mut self, body: &[u8]) -> Result<Vec<u8>, AgentError> {
        if self.desync {
            return Err(AgentError::Protocol(
                "agent connection unusable after an earlier error".into(),
            ));
        }
        if body.len() > MAX_MESSAGE_LEN {
            return Err(AgentError::Protocol(format!(
                "request larger than {MAX_MESSAGE_LEN} bytes"
            )));
        }
        self.desync = true;
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.put_string(body);
        self.stream.write_all(&frame)?;
        self.stream.flush()?;

        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len == 0 {
            return Err(AgentError::Protocol("empty agent message".into()));
        }
        if len > MAX_MESSAGE_LEN {
            return Err(AgentError::Protocol(format!(
                "agent message of {len} bytes exceeds the {MAX_MESSAGE_LEN}-byte limit"
            )));
        }
        let mut reply = vec![0u8; len];
        self.stream.read_exact(&mut reply)?;
        self.desync = false;
        Ok(reply)
    }
}

/// Reads the reply's type byte: `want`, a failure (§3.1), or an error.
fn expect_type(r: &mut Reader<'_>, want: u8, name: &str) -> Result<(), AgentError> {
    match r.u8().map_err(malformed)? {
        t if t == want => Ok(()),
        SSH_AGENT_FAILURE | SSH_AGENT_EXTENSION_FAILURE | SSH2_AGENT_FAILURE | SSH_COM_AGENT2_FAILURE => {
            Err(AgentError::Failure)
        }
        t => Err(AgentError::Protocol(format!(
            "unexpected agent message type {t}, wanted {name} ({want})"
        ))),
    }
}

fn malformed(e: DecodeError) -> AgentError {
    AgentError::Protocol(format!("malformed agent reply: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread::JoinHandle;

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "tobira-agent-unit-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A fake agent: for each canned reply, reads one framed request and
    /// answers with the reply's raw bytes (framing included, so it can be
    /// broken). Returns the request bodies it saw.
    struct FakeAgent {
        client: AgentClient,
        thread: Option<JoinHandle<Vec<Vec<u8>>>>,
        _dir: TempDir,
    }

    impl FakeAgent {
        fn new(replies: Vec<Vec<u8>>) -> Self {
            let dir = TempDir::new();
            let path = dir.0.join("agent.sock");
            let listener = UnixListener::bind(&path).expect("bind");
            let thread = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().expect("accept");
                let mut seen = Vec::new();
                for reply in replies {
                    let mut len = [0u8; 4];
                    if s.read_exact(&mut len).is_err() {
                        break;
                    }
                    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                    if s.read_exact(&mut body).is_err() {
                        break;
                    }
                    seen.push(body);
                    if s.write_all(&reply).is_err() {
                        break;
                    }
                }
                seen
            });
            let mut client = AgentClient::connect(&path).expect("connect");
            client.set_timeout(Some(Duration::from_secs(5))).expect("timeout");
            FakeAgent {
                client,
                thread: Some(thread),
                _dir: dir,
            }
        }

        /// Closes the client side and returns the requests the agent saw.
        fn finish(mut self) -> Vec<Vec<u8>> {
            let _ = self.client.stream.shutdown(std::net::Shutdown::Both);
            self.thread.take().expect("thread").join().expect("fake agent panicked")
        }
    }

    /// Frames a message body.
    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_string(body);
        v
    }

    fn identities_answer(ids: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut b = vec![SSH_AGENT_IDENTITIES_ANSWER];
        b.put_u32(ids.len() as u32);
        for (k, c) in ids {
            b.put_string(k);
            b.put_string(c);
        }
        b
    }

    fn sig_blob(alg: &str, sig: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.put_string(alg.as_bytes());
        b.put_string(sig);
        b
    }

    fn sign_response(blob: &[u8]) -> Vec<u8> {
        let mut b = vec![SSH_AGENT_SIGN_RESPONSE];
        b.put_string(blob);
        b
    }

    fn protocol_err<T: std::fmt::Debug>(r: Result<T, AgentError>) -> String {
        match r {
            Err(AgentError::Protocol(m)) => m,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn lists_identities() {
        let answer = identities_answer(&[(b"key-one", b"alice@host"), (b"key-two", b"\xffbad")]);
        let mut fake = FakeAgent::new(vec![frame(&answer)]);
        let ids = fake.client.identities().expect("identities");
        assert_eq!(
            ids,
            vec![
                AgentIdentity {
                    key_blob: b"key-one".to_vec(),
                    comment: "alice@host".into()
                },
                AgentIdentity {
                    key_blob: b"key-two".to_vec(),
                    comment: "\u{fffd}bad".into()
                },
            ]
        );
        assert_eq!(fake.finish(), vec![vec![SSH_AGENTC_REQUEST_IDENTITIES]]);
    }

    #[test]
    fn lists_no_identities_and_reuses_connection() {
        let empty = frame(&identities_answer(&[]));
        let mut fake = FakeAgent::new(vec![empty.clone(), empty]);
        assert!(fake.client.identities().expect("first").is_empty());
        assert!(fake.client.identities().expect("second").is_empty());
        assert_eq!(fake.finish().len(), 2);
    }

    #[test]
    fn failure_replies_are_failure() {
        for code in [
            SSH_AGENT_FAILURE,
            SSH_AGENT_EXTENSION_FAILURE,
            SSH2_AGENT_FAILURE,
            SSH_COM_AGENT2_FAILURE,
        ] {
            let mut fake = FakeAgent::new(vec![frame(&[code]), frame(&[code])]);
            assert!(matches!(fake.client.identities(), Err(AgentError::Failure)));
            // A failure keeps the framing: the connection stays usable.
            assert!(matches!(
                fake.client.sign(b"k", b"d", "ssh-ed25519"),
                Err(AgentError::Failure)
            ));
            fake.finish();
        }
    }

    #[test]
    fn sign_sends_flags_and_returns_blob() {
        for (alg, flags) in [
            ("rsa-sha2-256", SSH_AGENT_RSA_SHA2_256),
            ("rsa-sha2-512", SSH_AGENT_RSA_SHA2_512),
            ("ssh-ed25519", 0),
            ("ecdsa-sha2-nistp256", 0),
            ("ssh-rsa", 0),
        ] {
            let blob = sig_blob(alg, b"signature bytes");
            let mut fake = FakeAgent::new(vec![frame(&sign_response(&blob))]);
            let got = fake.client.sign(b"the key", b"the data", alg).expect("sign");
            assert_eq!(got, blob);
            let seen = fake.finish();
            let mut want = vec![SSH_AGENTC_SIGN_REQUEST];
            want.put_string(b"the key");
            want.put_string(b"the data");
            want.put_u32(flags);
            assert_eq!(seen, vec![want], "{alg}");
        }
    }

    #[test]
    fn sign_rejects_other_algorithm() {
        // An agent that ignores SSH_AGENT_RSA_SHA2_256 and signs with SHA-1.
        let blob = sig_blob("ssh-rsa", b"sig");
        let mut fake = FakeAgent::new(vec![frame(&sign_response(&blob))]);
        let m = protocol_err(fake.client.sign(b"k", b"d", "rsa-sha2-256"));
        assert!(m.contains("ssh-rsa"), "{m}");
        fake.finish();
    }

    #[test]
    fn sign_rejects_malformed_signature_blobs() {
        let mut trailing = sig_blob("ssh-ed25519", b"sig");
        trailing.push(0);
        let mut bad_utf8 = Vec::new();
        bad_utf8.put_string(b"\xff\xfe");
        bad_utf8.put_string(b"sig");
        let mut huge_inner = Vec::new();
        huge_inner.put_string(b"ssh-ed25519");
        huge_inner.put_u32(u32::MAX);
        for blob in [Vec::new(), trailing, bad_utf8, huge_inner, b"ssh-ed25519".to_vec()] {
            let mut fake = FakeAgent::new(vec![frame(&sign_response(&blob))]);
            protocol_err(fake.client.sign(b"k", b"d", "ssh-ed25519"));
            fake.finish();
        }
    }

    #[test]
    fn sign_rejects_malformed_responses() {
        let good = sign_response(&sig_blob("ssh-ed25519", b"sig"));
        let mut trailing = good.clone();
        trailing.push(7);
        let mut overlong = vec![SSH_AGENT_SIGN_RESPONSE];
        overlong.put_u32(u32::MAX);
        for body in [
            trailing,
            overlong,
            vec![SSH_AGENT_SIGN_RESPONSE],
            vec![SSH_AGENT_IDENTITIES_ANSWER, 0, 0, 0, 0],
            vec![SSH_AGENTC_SIGN_REQUEST],
        ] {
            let mut fake = FakeAgent::new(vec![frame(&body)]);
            protocol_err(fake.client.sign(b"k", b"d", "ssh-ed25519"));
            fake.finish();
        }
    }

    #[test]
    fn sign_refuses_oversized_request_without_sending() {
        let mut fake = FakeAgent::new(vec![]);
        let data = vec![0u8; MAX_MESSAGE_LEN];
        protocol_err(fake.client.sign(b"k", &data, "ssh-ed25519"));
        // Nothing was sent, so the connection is still in sync.
        assert!(!fake.client.desync);
        assert!(fake.finish().is_empty());
    }

    #[test]
    fn identities_rejects_malformed_answers() {
        let mut too_many = vec![SSH_AGENT_IDENTITIES_ANSWER];
        too_many.put_u32(MAX_IDENTITIES as u32 + 1);
        let mut max_count = vec![SSH_AGENT_IDENTITIES_ANSWER];
        max_count.put_u32(u32::MAX);
        let mut count_without_keys = vec![SSH_AGENT_IDENTITIES_ANSWER];
        count_without_keys.put_u32(1000);
        let mut trailing = identities_answer(&[(b"k", b"c")]);
        trailing.push(0);
        let mut string_overrun = vec![SSH_AGENT_IDENTITIES_ANSWER];
        string_overrun.put_u32(1);
        string_overrun.put_u32(0x7fff_ffff);
        string_overrun.put_u32(0);
        let empty_key = identities_answer(&[(b"", b"c")]);
        for body in [
            too_many,
            max_count,
            count_without_keys,
            trailing,
            string_overrun,
            empty_key,
            vec![SSH_AGENT_IDENTITIES_ANSWER],
            vec![SSH_AGENT_SIGN_RESPONSE, 0, 0, 0, 0],
            vec![0xff],
        ] {
            let mut fake = FakeAgent::new(vec![frame(&body)]);
            protocol_err(fake.client.identities());
            fake.finish();
        }
    }

    #[test]
    fn every_truncation_of_an_answer_is_an_error() {
        let body = identities_answer(&[(b"key-one", b"one"), (b"key-two", b"two")]);
        for cut in 1..body.len() {
            let mut fake = FakeAgent::new(vec![frame(&body[..cut])]);
            protocol_err(fake.client.identities());
            fake.finish();
        }
        let body = sign_response(&sig_blob("ssh-ed25519", &[9; 64]));
        for cut in 1..body.len() {
            let mut fake = FakeAgent::new(vec![frame(&body[..cut])]);
            protocol_err(fake.client.sign(b"k", b"d", "ssh-ed25519"));
            fake.finish();
        }
    }

    #[test]
    fn oversized_frame_is_rejected_and_poisons_connection() {
        for len in [MAX_MESSAGE_LEN as u32 + 1, u32::MAX] {
            let reply = len.to_be_bytes().to_vec();
            let mut fake = FakeAgent::new(vec![reply]);
            let m = protocol_err(fake.client.identities());
            assert!(m.contains("exceeds"), "{m}");
            let m = protocol_err(fake.client.identities());
            assert!(m.contains("unusable"), "{m}");
            assert_eq!(fake.finish().len(), 1);
        }
    }

    #[test]
    fn largest_frame_is_accepted() {
        let mut body = identities_answer(&[(b"k", b"")]);
        // Pad the comment so the message is exactly MAX_MESSAGE_LEN bytes.
        let pad = MAX_MESSAGE_LEN - body.len();
        body.truncate(body.len() - 4);
        body.put_string(&vec![b'c'; pad]);
        assert_eq!(body.len(), MAX_MESSAGE_LEN);
        let mut fake = FakeAgent::new(vec![frame(&body)]);
        let ids = fake.client.identities().expect("identities");
        assert_eq!(ids[0].comment.len(), pad);
        fake.finish();
    }

    #[test]
    fn empty_frame_is_rejected() {
        let mut fake = FakeAgent::new(vec![vec![0, 0, 0, 0]]);
        let m = protocol_err(fake.client.identities());
        assert!(m.contains("empty"), "{m}");
        fake.finish();
    }

    #[test]
    fn truncated_frame_is_io_error() {
        // The length promises 100 bytes; the agent sends 3 and hangs up.
        let mut reply = 100u32.to_be_bytes().to_vec();
        reply.extend_from_slice(&[SSH_AGENT_IDENTITIES_ANSWER, 0, 0]);
        let mut fake = FakeAgent::new(vec![reply]);
        match fake.client.identities() {
            Err(AgentError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
            other => panic!("expected EOF, got {other:?}"),
        }
        fake.finish();
    }

    #[test]
    fn closed_connection_is_io_error() {
        let mut fake = FakeAgent::new(vec![Vec::new()]);
        assert!(matches!(fake.client.identities(), Err(AgentError::Io(_))));
        fake.finish();
    }

    #[test]
    fn silent_agent_times_out() {
        let dir = TempDir::new();
        let path = dir.0.join("agent.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let mut client = AgentClient::connect(&path).expect("connect");
        client.set_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let (_held, _) = listener.accept().expect("accept");
        match client.identities() {
            Err(AgentError::Io(e)) => assert!(
                matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
                "{e:?}"
            ),
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[test]
    fn connect_to_missing_socket_fails() {
        let dir = TempDir::new();
        let r = AgentClient::connect(&dir.0.join("no-such.sock"));
        assert!(matches!(r, Err(AgentError::Io(_))));
    }
}
