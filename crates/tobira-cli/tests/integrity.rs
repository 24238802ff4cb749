//! Integrity of the binary packet protocol against the real OpenSSH, through
//! a tampering TCP proxy written here (std threads):
//!
//! - one flipped bit after the key exchange (like OpenSSH's
//!   regress/integrity.sh), for every cipher × MAC that tobira and OpenSSH
//!   9.2 both speak, in both directions: ssh → proxy → tobirad (tobirad must
//!   detect damage to what the client sends) and tobira → proxy → sshd
//!   (tobira must detect damage to what the server sends). The connection
//!   must end with exit code 255, the receiver must name the error, and no
//!   damaged byte may reach the channel (what came out of `cat` is a prefix
//!   of what went in);
//! - Terrapin (CVE-2023-48795): an SSH_MSG_IGNORE injected into the
//!   unencrypted handshake, alone or with the first encrypted packet
//!   deleted, must end the connection under strict KEX (and the proxy
//!   forwarding unchanged must not);
//! - a damaged packet after the exit status is still an error (found by
//!   the bit flips: sshd may send `exit-status` before the last data);
//! - sequence numbers reset at every NEWKEYS under strict KEX in step with
//!   OpenSSH: a session survives many re-exchanges (`RekeyLimit 1M`).
//!
//! The proxy parses the unencrypted part of each direction (identification
//! line, then `uint32 length, byte padding length, payload, padding`
//! packets) up to that direction's NEWKEYS; offsets of the flipped bit are
//! counted from the end of NEWKEYS. Where each flip lands is computed from
//! the known first encrypted packet (ssh's SERVICE_REQUEST, sshd's
//! EXT_INFO) and OpenSSH's padding rule, checked against the clear length
//! of the AES-GCM and encrypt-then-MAC modes.
//!
//! `TOBIRA_INTEGRITY_JOBS` sets how many connections run at once (default
//! 4); `TOBIRA_INTEGRITY_ONLY=<text>` keeps the pairs whose `cipher+mac`
//! contains the text; `TOBIRA_INTEGRITY_TIMES` prints each case's timing.

mod common;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};
use tobira_proto::algorithms::{CIPHER_SUPPORTED, MAC_SUPPORTED};
use tobira_proto::crypto::{cipher, mac};

// ---------------------------------------------------------------------------
// The tampering proxy
// ---------------------------------------------------------------------------

/// Where an SSH_MSG_IGNORE is injected into the unencrypted handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inject {
    /// Right after the identification line.
    BeforeKexinit,
    /// Right after the KEXINIT packet.
    AfterKexinit,
    /// Right before the NEWKEYS packet.
    BeforeNewkeys,
}

/// One flipped bit after NEWKEYS.
#[derive(Clone, Copy, Debug)]
enum Flip {
    /// Bit `bit` of byte `k` after the end of NEWKEYS.
    At { k: usize, bit: u8 },
    /// Bit `bit` of byte `index` of the MAC or tag of the first packet that
    /// starts `from` or more bytes after NEWKEYS. Only for framings with a
    /// clear length (AES-GCM, encrypt-then-MAC), whose packet boundaries the
    /// proxy can follow.
    Tag {
        from: usize,
        tag_len: usize,
        index: usize,
        bit: u8,
    },
    /// Bit `bit` of the `k`-th byte to arrive after the direction, past
    /// NEWKEYS, was silent for `pause`.
    AfterPause { pause: Duration, k: usize, bit: u8 },
}

/// What the proxy does to one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Tamper {
    flip: Option<Flip>,
    inject: Option<Inject>,
    /// Bytes deleted right after NEWKEYS.
    delete: usize,
}

/// What the proxy saw of one direction.
#[derive(Clone, Debug, Default)]
struct Seen {
    ident: Option<String>,
    /// Message types of the unencrypted packets.
    plain_types: Vec<u8>,
    /// Stream offset of the end of NEWKEYS.
    newkeys_end: Option<usize>,
    /// The first 4 bytes after NEWKEYS (the packet length where it is clear).
    first_enc: Vec<u8>,
    /// Offset after NEWKEYS of the flipped byte.
    flipped: Option<usize>,
    injected: bool,
    deleted: usize,
    /// Bytes read from this direction.
    total: usize,
    /// Bytes after NEWKEYS.
    after_newkeys: usize,
    /// Junk written when the receiver stalled after the flip (see `pump`).
    filled: usize,
}

impl Seen {
    fn first_len(&self) -> Option<usize> {
        (self.first_enc.len() == 4).then(|| u32::from_be_bytes(self.first_enc[..4].try_into().unwrap()) as usize)
    }
}

#[derive(PartialEq, Eq)]
enum Phase {
    Ident,
    Plain,
    Encrypted,
}

/// The stream transformer of one direction.
struct Pump {
    t: Tamper,
    phase: Phase,
    buf: Vec<u8>,
    seen: Seen,
    /// Packet framing after NEWKEYS, for `Flip::Tag`.
    frame_start: usize,
    frame_hdr: Vec<u8>,
    tag_target: Option<usize>,
    /// For `Flip::AfterPause`: the offset after NEWKEYS, once the pause was seen.
    pause_target: Option<usize>,
}

/// An unencrypted SSH_MSG_IGNORE packet, framed for the `none` cipher
/// (block size 8, at least 4 bytes of padding).
fn ignore_packet() -> Vec<u8> {
    let payload = [2u8, 0, 0, 0, 4, b't', b'e', b'r', b'r'];
    let mut pad = 8 - (5 + payload.len()) % 8;
    if pad < 4 {
        pad += 8;
    }
    let mut p = Vec::new();
    p.extend_from_slice(&((1 + payload.len() + pad) as u32).to_be_bytes());
    p.push(pad as u8);
    p.extend_from_slice(&payload);
    p.extend(std::iter::repeat_n(0u8, pad));
    p
}

impl Pump {
    fn new(t: Tamper) -> Self {
        Pump {
            t,
            phase: Phase::Ident,
            buf: Vec::new(),
            seen: Seen::default(),
            frame_start: 0,
            frame_hdr: Vec::new(),
            tag_target: None,
            pause_target: None,
        }
    }

    fn inject(&mut self, at: Inject, out: &mut Vec<u8>) {
        if self.t.inject == Some(at) {
            out.extend_from_slice(&ignore_packet());
            self.seen.injected = true;
        }
    }

    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.seen.total += data.len();
        if self.phase == Phase::Encrypted {
            return self.feed_encrypted(data, out);
        }
        self.buf.extend_from_slice(data);
        loop {
            match self.phase {
                Phase::Ident => {
                    let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                        return;
                    };
                    let line: Vec<u8> = self.buf.drain(..=nl).collect();
                    out.extend_from_slice(&line);
                    if line.starts_with(b"SSH-") {
                        self.seen.ident = Some(String::from_utf8_lossy(&line).trim_end().to_string());
                        self.phase = Phase::Plain;
                        self.inject(Inject::BeforeKexinit, out);
                    }
                }
                Phase::Plain => {
                    if self.buf.len() < 6 {
                        return;
                    }
                    let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                    if len > 300_000 {
                        // Not a packet we understand: forward the rest untouched.
                        self.phase = Phase::Encrypted;
                        self.t = Tamper::default();
                        let rest = std::mem::take(&mut self.buf);
                        return self.feed_encrypted(&rest, out);
                    }
                    if self.buf.len() < 4 + len {
                        return;
                    }
                    let packet: Vec<u8> = self.buf.drain(..4 + len).collect();
                    let ty = packet[5];
                    self.seen.plain_types.push(ty);
                    if ty == 21 {
                        self.inject(Inject::BeforeNewkeys, out);
                    }
                    out.extend_from_slice(&packet);
                    if ty == 20 {
                        self.inject(Inject::AfterKexinit, out);
                    }
                    if ty == 21 {
                        self.phase = Phase::Encrypted;
                        let rest = std::mem::take(&mut self.buf);
                        self.seen.newkeys_end = Some(self.seen.total - rest.len());
                        return self.feed_encrypted(&rest, out);
                    }
                }
                Phase::Encrypted => unreachable!(),
            }
        }
    }

    /// Nothing left to do to this direction: forward in bulk.
    fn settled(&self) -> bool {
        self.seen.first_enc.len() >= 4
            && self.seen.deleted >= self.t.delete
            && (self.t.flip.is_none() || self.seen.flipped.is_some())
    }

    fn feed_encrypted(&mut self, data: &[u8], out: &mut Vec<u8>) {
        for (i, &byte) in data.iter().enumerate() {
            if self.settled() {
                out.extend_from_slice(&data[i..]);
                self.seen.after_newkeys += data.len() - i;
                return;
            }
            let k = self.seen.after_newkeys;
            self.seen.after_newkeys += 1;
            if self.seen.first_enc.len() < 4 {
                self.seen.first_enc.push(byte);
            }
            if self.seen.deleted < self.t.delete {
                self.seen.deleted += 1;
                continue;
            }
            let mut b = byte;
            match self.t.flip {
                Some(Flip::At { k: at, bit }) if at == k => {
                    b ^= 1 << bit;
                    self.seen.flipped = Some(k);
                }
                Some(Flip::AfterPause { bit, .. }) if self.pause_target == Some(k) => {
                    b ^= 1 << bit;
                    self.seen.flipped = Some(k);
                }
                Some(Flip::Tag {
                    from,
                    tag_len,
                    index,
                    bit,
                }) => {
                    if self.tag_target.is_none() && k == self.frame_start + self.frame_hdr.len() {
                        self.frame_hdr.push(b);
                        if self.frame_hdr.len() == 4 {
                            let l = u32::from_be_bytes(self.frame_hdr[..4].try_into().unwrap()) as usize;
                            if self.frame_start >= from {
                                self.tag_target = Some(self.frame_start + 4 + l + index);
                            } else {
                                self.frame_start += 4 + l + tag_len;
                                self.frame_hdr.clear();
                            }
                        }
                    }
                    if self.tag_target == Some(k) {
                        b ^= 1 << bit;
                        self.seen.flipped = Some(k);
                    }
                }
                _ => {}
            }
            out.push(b);
        }
    }
}

struct ProxyShared {
    upstream_port: Option<u16>,
    streams: Vec<TcpStream>,
    seen: [Seen; 2],
}

/// A one-connection proxy from `port` to 127.0.0.1:`server`.
struct Proxy {
    port: u16,
    shared: Arc<Mutex<ProxyShared>>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// Forwards `from` to `to` through a `Pump`. When the bit was flipped and
/// the direction then stays silent for 1.5 s while the connection lives, the
/// receiver is most likely waiting for the rest of a packet whose damaged
/// length claims more bytes than the sender will ever send (both sides
/// wait; OpenSSH behaves the same): 300 KiB of zeros complete any such
/// packet, so the receiver reaches its MAC check and fails there.
fn pump(mut from: TcpStream, mut to: TcpStream, t: Tamper) -> Seen {
    let _ = from.set_read_timeout(Some(Duration::from_millis(200)));
    let mut p = Pump::new(t);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let mut last = Instant::now();
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(Flip::AfterPause { pause, k, .. }) = t.flip {
                    if p.phase == Phase::Encrypted && p.pause_target.is_none() && last.elapsed() >= pause {
                        p.pause_target = Some(p.seen.after_newkeys + k);
                    }
                }
                out.clear();
                p.feed(&buf[..n], &mut out);
                if to.write_all(&out).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    break;
                }
                last = Instant::now();
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if p.seen.flipped.is_some() && p.seen.filled == 0 && last.elapsed() > Duration::from_millis(1500) {
                    let junk = vec![0u8; 300 * 1024];
                    p.seen.filled = junk.len();
                    if to.write_all(&junk).is_err() {
                        let _ = from.shutdown(Shutdown::Both);
                        break;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    p.seen
}

fn proxy(server: u16, c2s: Tamper, s2c: Tamper) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let shared = Arc::new(Mutex::new(ProxyShared {
        upstream_port: None,
        streams: Vec::new(),
        seen: Default::default(),
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let (sh, st) = (shared.clone(), stop.clone());
    let handle = std::thread::spawn(move || {
        let start = Instant::now();
        let client = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if !st.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(60) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        };
        let _ = client.set_nonblocking(false);
        let Ok(server) = TcpStream::connect(("127.0.0.1", server)) else {
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        {
            let mut g = sh.lock().unwrap();
            g.upstream_port = server.local_addr().ok().map(|a| a.port());
            g.streams = vec![client.try_clone().unwrap(), server.try_clone().unwrap()];
        }
        let (c1, s1) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let up = std::thread::spawn(move || pump(c1, s1, c2s));
        let down = pump(server, client, s2c);
        let up = up.join().unwrap();
        sh.lock().unwrap().seen = [up, down];
    });
    Proxy {
        port,
        shared,
        stop,
        handle,
    }
}

impl Proxy {
    /// After the client exited: lets both directions drain (up to 5 s), then
    /// cuts the connection; returns the server-side local port (as the
    /// server logs it) and what each direction saw (client→server,
    /// server→client).
    fn finish(self) -> (Option<u16>, [Seen; 2]) {
        let start = Instant::now();
        while !self.handle.is_finished() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.store(true, Ordering::SeqCst);
        for s in &self.shared.lock().unwrap().streams {
            let _ = s.shutdown(Shutdown::Both);
        }
        let _ = self.handle.join();
        let mut g = self.shared.lock().unwrap();
        (g.upstream_port, std::mem::take(&mut g.seen))
    }
}

// ---------------------------------------------------------------------------
// Clients, servers, logs
// ---------------------------------------------------------------------------

/// A user with one authorized Ed25519 key and the data sent through `cat`.
struct Env {
    user: TestUser,
    ident: String,
    input: Arc<Vec<u8>>,
    _dir: TempDir,
}

fn env(tag: &str, size: usize) -> Env {
    let dir = TempDir::new(tag);
    let user = TestUser::create();
    let (key, line) = user_key(&dir, "id", "ed25519", None, "");
    user.authorize(&[line]);
    Env {
        user,
        ident: format!("-i{}", key.display()),
        input: Arc::new(pseudo_random(size, 0x2545_f491_4f6c_dd1d)),
        _dir: dir,
    }
}

fn pseudo_random(n: usize, mut s: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.extend_from_slice(&s.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// `ssh` or tobira running `cat` as `env.user` at 127.0.0.1:`port`.
fn client(kind: &str, env: &Env, port: u16, opts: &[String]) -> Command {
    client_running(kind, env, port, opts, "cat")
}

/// `ssh` or tobira running `command` as `env.user` at 127.0.0.1:`port`.
fn client_running(kind: &str, env: &Env, port: u16, opts: &[String], command: &str) -> Command {
    let mut c = if kind == "ssh" {
        Command::new("ssh")
    } else {
        Command::new(bin("tobira"))
    };
    c.args([
        "-F",
        "/dev/null",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        &env.ident,
        "-p",
        &port.to_string(),
    ]);
    for o in opts {
        if o.starts_with('-') {
            c.arg(o);
        } else {
            c.args(["-o", o]);
        }
    }
    c.arg(format!("{}@127.0.0.1", env.user.name)).arg(command);
    c.env_remove("SSH_AUTH_SOCK");
    c
}

struct Outcome {
    /// None when the client had to be killed.
    code: Option<i32>,
    out: Vec<u8>,
    err: String,
}

/// Runs `cmd` with `input` on its standard input.
fn run_with_input(mut cmd: Command, input: Arc<Vec<u8>>, limit: Duration) -> Outcome {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut so = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let mut se = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    });
    let start = Instant::now();
    let code = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st.code().unwrap_or(-1));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    Outcome {
        code,
        out: reader.join().unwrap(),
        err: errs.join().unwrap(),
    }
}

/// The lines tobirad logged about one connection (by its source port),
/// read incrementally: the debug log of a long run is large.
struct LogWatch {
    path: PathBuf,
    state: Mutex<(u64, Vec<String>)>,
}

impl LogWatch {
    fn new(path: PathBuf) -> Self {
        LogWatch {
            path,
            state: Mutex::new((0, Vec::new())),
        }
    }

    fn refresh(&self) {
        let mut g = self.state.lock().unwrap();
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        use std::io::Seek;
        if f.seek(std::io::SeekFrom::Start(g.0)).is_err() {
            return;
        }
        let mut chunk = Vec::new();
        let _ = f.read_to_end(&mut chunk);
        // Only whole lines.
        let Some(end) = chunk.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        g.0 += end as u64 + 1;
        for line in String::from_utf8_lossy(&chunk[..=end]).lines() {
            if line.contains("127.0.0.1 port ") {
                g.1.push(line.to_string());
            }
        }
    }

    fn lines_for(&self, port: u16) -> Vec<String> {
        let needle = format!("127.0.0.1 port {port}");
        let g = self.state.lock().unwrap();
        g.1.iter()
            .filter(|l| {
                l.match_indices(&needle)
                    .any(|(i, _)| !l[i + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
            })
            .cloned()
            .collect()
    }

    /// Waits (up to 5 s) until the connection's end is logged.
    fn end_of(&self, port: u16) -> Vec<String> {
        let start = Instant::now();
        loop {
            self.refresh();
            let lines = self.lines_for(port);
            let ended = lines.iter().any(|l| {
                l.contains("error: ") || l.contains("Connection closed by") || l.contains("Disconnected from")
            });
            if ended || start.elapsed() > Duration::from_secs(5) {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The texts of tobira-proto's packet layer for a damaged packet.
const DAMAGE: &[&str] = &["Corrupted MAC on input.", "Bad packet length", "Bad padding length"];

fn openssh_list(kind: &str) -> Vec<String> {
    let out = Command::new("ssh").args(["-Q", kind]).output().expect("ssh -Q");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Ciphers and MACs tobira implements that OpenSSH's client speaks.
fn common_algorithms() -> (Vec<&'static str>, Vec<&'static str>) {
    let oc = openssh_list("cipher");
    let om = openssh_list("mac");
    let ciphers: Vec<&str> = CIPHER_SUPPORTED
        .iter()
        .copied()
        .filter(|c| oc.iter().any(|o| o == c))
        .collect();
    let macs: Vec<&str> = MAC_SUPPORTED
        .iter()
        .copied()
        .filter(|m| om.iter().any(|o| o == m))
        .collect();
    assert!(ciphers.len() >= 6 && macs.len() >= 6, "{ciphers:?} {macs:?}");
    (ciphers, macs)
}

/// Every (cipher, MAC) pair; AEAD ciphers once, without a MAC.
fn pairs(ciphers: &[&'static str], macs: &[&'static str]) -> Vec<(&'static str, Option<&'static str>)> {
    let mut v = Vec::new();
    for &c in ciphers {
        if cipher::lookup(c).unwrap().is_aead() {
            v.push((c, None));
        } else {
            v.extend(macs.iter().map(|&m| (c, Some(m))));
        }
    }
    v
}

fn algorithm_opts(c: &str, m: Option<&str>) -> Vec<String> {
    let mut v = vec![
        format!("Ciphers={c}"),
        "KexAlgorithms=curve25519-sha256".to_string(),
        "HostKeyAlgorithms=ssh-ed25519".to_string(),
    ];
    if let Some(m) = m {
        v.push(format!("MACs={m}"));
    }
    v
}

/// The first encrypted packet as OpenSSH frames it: padding to the cipher's
/// block size (at least 8) over everything but the MAC or tag, and without
/// the length field for AEAD and encrypt-then-MAC; at least 4 bytes.
#[derive(Clone, Copy, Debug)]
struct Layout {
    payload: usize,
    pad: usize,
    /// packet_length: padding length byte + payload + padding.
    packet_len: usize,
    tag: usize,
    /// The length is sent in clear (AES-GCM, encrypt-then-MAC).
    clear: bool,
}

impl Layout {
    fn new(c: &str, m: Option<&str>, payload: usize) -> Self {
        let cs = cipher::lookup(c).unwrap();
        let ms = m.map(|m| mac::lookup(m).unwrap());
        let len_excluded = cs.is_aead() || ms.is_some_and(|m| m.etm);
        let block = cs.block_len.max(8);
        let aligned = if len_excluded { 1 + payload } else { 5 + payload };
        let mut pad = block - aligned % block;
        if pad < 4 {
            pad += block;
        }
        Layout {
            payload,
            pad,
            packet_len: 1 + payload + pad,
            tag: if cs.is_aead() { cs.tag_len } else { ms.unwrap().tag_len },
            clear: len_excluded && !c.starts_with("chacha20"),
        }
    }

    /// Bytes on the wire.
    fn total(&self) -> usize {
        4 + self.packet_len + self.tag
    }
}

/// SERVICE_REQUEST "ssh-userauth", OpenSSH's first packet after NEWKEYS.
const SERVICE_REQUEST_LEN: usize = 1 + 4 + 12;

/// EXT_INFO as sshd 9.2 sends it right after its NEWKEYS: server-sig-algs
/// and publickey-hostbound@openssh.com "0".
fn ext_info_len(server_sig_algs: &str) -> usize {
    1 + 4 + (4 + 15) + (4 + server_sig_algs.len()) + (4 + 31) + (4 + 1)
}

/// The four flips of pair number `i`: in the first encrypted packet the
/// length field (its top two bytes: no length that valid exists before
/// authentication, so the receiver cannot just wait for more) and the MAC
/// or tag; in turn the padding length byte, a payload byte or a padding
/// byte of it; and one in the channel data of `cat`, in turn anywhere or,
/// where the framing is clear, in a data packet's MAC or tag. `i` also
/// rotates the bits and bytes hit.
fn flips(lay: &Layout, i: usize) -> Vec<(String, Flip)> {
    let bit = |s: usize| ((i + s) % 8) as u8;
    let length = Flip::At { k: i % 2, bit: bit(0) };
    let inside = match i % 3 {
        0 => ("padding length", Flip::At { k: 4, bit: bit(1) }),
        1 => (
            "payload",
            Flip::At {
                k: 5 + (i * 5) % lay.payload,
                bit: bit(1),
            },
        ),
        _ => (
            "padding",
            Flip::At {
                k: 5 + lay.payload + (i / 3) % lay.pad,
                bit: bit(1),
            },
        ),
    };
    let tag = Flip::At {
        k: 4 + lay.packet_len + (i * 3) % lay.tag,
        bit: bit(2),
    };
    let data = if lay.clear && i % 2 == 1 {
        (
            "channel data MAC/tag",
            Flip::Tag {
                from: 16_000 + (i * 4_099) % 30_000,
                tag_len: lay.tag,
                index: (i * 7) % lay.tag,
                bit: bit(3),
            },
        )
    } else {
        (
            "channel data",
            Flip::At {
                k: 16_000 + (i * 7_919) % 40_000,
                bit: (i % 3) as u8,
            },
        )
    };
    vec![
        ("length".to_string(), length),
        (inside.0.to_string(), inside.1),
        ("MAC/tag".to_string(), tag),
        (data.0.to_string(), data.1),
    ]
}

/// Which way the damage goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// ssh → proxy → tobirad, damage to what ssh sends.
    ClientToServer,
    /// tobira → proxy → sshd, damage to what sshd sends.
    ServerToClient,
}

struct Case {
    c: &'static str,
    m: Option<&'static str>,
    what: String,
    flip: Flip,
    lay: Layout,
}

/// Runs `work` over `items` on `jobs` threads.
fn parallel<T: Send + 'static>(items: Vec<T>, jobs: usize, work: Arc<dyn Fn(T) + Send + Sync>) {
    let queue = Arc::new(Mutex::new(items.into_iter().collect::<VecDeque<T>>()));
    let workers: Vec<_> = (0..jobs)
        .map(|_| {
            let (q, w) = (queue.clone(), work.clone());
            std::thread::spawn(move || loop {
                let Some(item) = q.lock().unwrap().pop_front() else {
                    break;
                };
                w(item);
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

fn jobs() -> usize {
    std::env::var("TOBIRA_INTEGRITY_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

fn prefix_check(input: &[u8], out: &[u8]) -> Result<(), String> {
    if out.len() > input.len() {
        return Err(format!("{} bytes out for {} in", out.len(), input.len()));
    }
    match input.iter().zip(out).position(|(a, b)| a != b) {
        Some(p) => Err(format!(
            "DAMAGED BYTE DELIVERED at output offset {p} of {} (0x{:02x} instead of 0x{:02x})",
            out.len(),
            out[p],
            input[p]
        )),
        None => Ok(()),
    }
}

/// tobira through a transparent proxy to sshd with `cipher`: the control
/// case (login and `cat` work through the proxy) and the calibration of
/// sshd's first encrypted packet: returns the EXT_INFO payload length,
/// checked against the clear length the proxy sees when `cipher` is
/// AES-GCM.
fn calibrate_sshd(env: &Env, sshd: &Server, c: &str) -> usize {
    let px = proxy(sshd.port, Tamper::default(), Tamper::default());
    let mut opts = algorithm_opts(c, None);
    opts.push("-v".into());
    let o = run_with_input(
        client("tobira", env, px.port, &opts),
        env.input.clone(),
        Duration::from_secs(60),
    );
    let (_, seen) = px.finish();
    assert_eq!(o.code, Some(0), "tobira → transparent proxy → sshd ({c}): {}", o.err);
    assert!(
        o.out == *env.input,
        "tobira → transparent proxy → sshd ({c}): output differs"
    );
    for (d, s) in ["client→server", "server→client"].iter().zip(&seen) {
        assert!(
            s.ident.as_deref().is_some_and(|i| i.starts_with("SSH-2.0-")) && s.plain_types.first() == Some(&20),
            "{d}: {s:?}"
        );
        assert_eq!(s.plain_types.last(), Some(&21), "{d}: {s:?}");
    }
    let algs = o
        .err
        .lines()
        .find_map(|l| {
            l.split_once("server-sig-algs=<")
                .map(|(_, r)| r.trim_end_matches('>').to_string())
        })
        .unwrap_or_else(|| panic!("tobira -v printed no server-sig-algs: {}", o.err));
    let l = ext_info_len(&algs);
    let lay = Layout::new(c, None, l);
    if lay.clear {
        assert_eq!(
            seen[1].first_len(),
            Some(lay.packet_len),
            "sshd's EXT_INFO is not framed as predicted ({lay:?})"
        );
    }
    l
}

/// The control case the other way: ssh through a transparent proxy to
/// tobirad; checks the predicted SERVICE_REQUEST framing with AES-GCM.
fn control_tobirad(env: &Env, tobirad: &Server, c: &str) {
    let px = proxy(tobirad.port, Tamper::default(), Tamper::default());
    let o = run_with_input(
        client("ssh", env, px.port, &algorithm_opts(c, None)),
        env.input.clone(),
        Duration::from_secs(60),
    );
    let (_, seen) = px.finish();
    assert_eq!(o.code, Some(0), "ssh → transparent proxy → tobirad ({c}): {}", o.err);
    assert!(
        o.out == *env.input,
        "ssh → transparent proxy → tobirad ({c}): output differs"
    );
    for s in &seen {
        assert_eq!(s.plain_types.first(), Some(&20), "{s:?}");
        assert_eq!(s.plain_types.last(), Some(&21), "{s:?}");
    }
    let lay = Layout::new(c, None, SERVICE_REQUEST_LEN);
    if lay.clear {
        assert_eq!(
            seen[0].first_len(),
            Some(lay.packet_len),
            "ssh's SERVICE_REQUEST ({lay:?})"
        );
    }
}

fn integrity(dir: Dir) {
    let started = Instant::now();
    let env = Arc::new(env(
        if dir == Dir::ClientToServer {
            "integ-c2s"
        } else {
            "integ-s2c"
        },
        64 * 1024,
    ));
    let (ciphers, macs) = common_algorithms();
    let all_c = format!("Ciphers={}", ciphers.join(","));
    let all_m = format!("MACs={}", macs.join(","));
    let (server, payload, watch) = match dir {
        Dir::ClientToServer => {
            let s = start_tobirad(&["-o", &all_c, "-o", &all_m]);
            control_tobirad(&env, &s, "aes128-gcm@openssh.com");
            let w = LogWatch::new(s.log.clone());
            (s, SERVICE_REQUEST_LEN, Some(w))
        }
        Dir::ServerToClient => {
            let s = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys", &all_c, &all_m]);
            let l = calibrate_sshd(&env, &s, "aes128-gcm@openssh.com");
            (s, l, None)
        }
    };
    let server = Arc::new(server);
    let watch = Arc::new(watch);
    let only = std::env::var("TOBIRA_INTEGRITY_ONLY").unwrap_or_default();
    let mut cases = Vec::new();
    for (i, (c, m)) in pairs(&ciphers, &macs).into_iter().enumerate() {
        if !format!("{c}+{}", m.unwrap_or("")).contains(&only) {
            continue;
        }
        let lay = Layout::new(c, m, payload);
        for (what, flip) in flips(&lay, i) {
            cases.push(Case { c, m, what, flip, lay });
        }
    }
    let n = cases.len();
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let fills = Arc::new(Mutex::new(Vec::<String>::new()));
    let detected = Arc::new(Mutex::new(std::collections::BTreeMap::<String, usize>::new()));
    let (f2, fl2, d2, s2, e2, w2) = (
        failures.clone(),
        fills.clone(),
        detected.clone(),
        server.clone(),
        env.clone(),
        watch.clone(),
    );
    parallel(
        cases,
        jobs(),
        Arc::new(move |case: Case| {
            let label = format!(
                "{} {}+{}: {} {:?}",
                if dir == Dir::ClientToServer {
                    "ssh→tobirad"
                } else {
                    "sshd→tobira"
                },
                case.c,
                case.m.unwrap_or("(AEAD)"),
                case.what,
                case.flip
            );
            let tamper = Tamper {
                flip: Some(case.flip),
                ..Tamper::default()
            };
            let (c2s, s2c, kind, side) = match dir {
                Dir::ClientToServer => (tamper, Tamper::default(), "ssh", 0),
                Dir::ServerToClient => (Tamper::default(), tamper, "tobira", 1),
            };
            let t0 = Instant::now();
            let px = proxy(s2.port, c2s, s2c);
            let o = run_with_input(
                client(kind, &e2, px.port, &algorithm_opts(case.c, case.m)),
                e2.input.clone(),
                Duration::from_secs(30),
            );
            let t1 = t0.elapsed();
            let (up, seen) = px.finish();
            let t2 = t0.elapsed();
            let seen = &seen[side];
            let mut errs = Vec::new();
            match o.code {
                Some(255) => {}
                None => errs.push("HANG: the client was killed after 30 s".to_string()),
                Some(0) if dir == Dir::ServerToClient && o.out.len() < e2.input.len() => errs.push(
                    "exit 0 instead of 255, output cut short: the damaged packet came after the exit status \
                     (see damage_after_exit_status_is_reported)"
                        .to_string(),
                ),
                Some(c) => errs.push(format!("exit {c} instead of 255")),
            }
            if let Err(e) = prefix_check(&e2.input, &o.out) {
                errs.push(e);
            }
            if seen.flipped.is_none() {
                errs.push(format!(
                    "the flip was never made: {} bytes after NEWKEYS",
                    seen.after_newkeys
                ));
            }
            if case.lay.clear && seen.first_len() != Some(case.lay.packet_len) {
                errs.push(format!(
                    "first encrypted packet not framed as predicted: length {:?}, {:?}",
                    seen.first_len(),
                    case.lay
                ));
            }
            let report = match (dir, &*w2) {
                (Dir::ClientToServer, Some(w)) => up.map(|p| w.end_of(p).join("\n")).unwrap_or_default(),
                _ => o.err.clone(),
            };
            match DAMAGE.iter().find(|d| report.contains(*d)) {
                Some(d) => *d2.lock().unwrap().entry(d.to_string()).or_default() += 1,
                None => errs.push(format!("no damage reported by the receiver:\n{report}")),
            }
            if std::env::var("TOBIRA_INTEGRITY_TIMES").is_ok() {
                eprintln!("{label}: client {t1:?} proxy {t2:?} total {:?}", t0.elapsed());
            }
            if seen.filled > 0 {
                fl2.lock().unwrap().push(label.clone());
            }
            if !errs.is_empty() {
                f2.lock().unwrap().push(format!(
                    "{label}\n  {}\n  output {} of {} bytes; the damaged direction carried {} bytes after NEWKEYS{}\n  client stderr: {}",
                    errs.join("\n  "),
                    o.out.len(),
                    e2.input.len(),
                    seen.after_newkeys,
                    if seen.filled > 0 { " and junk" } else { "" },
                    o.err.trim()
                ));
            }
        }),
    );
    let failures = failures.lock().unwrap();
    let fills = fills.lock().unwrap();
    eprintln!(
        "{n} cases in {:.1} s; the receiver said {:?}; it stalled on a damaged length and got junk in {} cases: {:?}",
        started.elapsed().as_secs_f64(),
        detected.lock().unwrap(),
        fills.len(),
        fills
    );
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// One bit flipped in what ssh sends, after NEWKEYS, for every cipher × MAC:
/// tobirad logs the damage and drops the connection (ssh exits 255), and
/// `cat` echoed only undamaged bytes.
#[test]
fn bit_flip_client_to_server_detected_by_tobirad() {
    integrity(Dir::ClientToServer);
}

/// One bit flipped in what sshd sends, after NEWKEYS, for every cipher ×
/// MAC: tobira reports the damage and exits 255, having written only
/// undamaged bytes.
#[test]
fn bit_flip_server_to_client_detected_by_tobira() {
    integrity(Dir::ServerToClient);
}

const CHACHA: &str = "chacha20-poly1305@openssh.com";

/// The Terrapin proxy forwarding unchanged: both pairings log in and `cat`
/// returns the data, with chacha20-poly1305 and AES-GCM; the proxy saw each
/// direction's identification, KEXINIT first and NEWKEYS last.
#[test]
fn terrapin_control_transparent_proxy_works() {
    let env = env("terrapin-ctl", 64 * 1024);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let tobirad = start_tobirad(&[]);
    for c in [CHACHA, "aes128-gcm@openssh.com"] {
        calibrate_sshd(&env, &sshd, c);
        control_tobirad(&env, &tobirad, c);
    }
}

/// The variants of the attack on one direction: an IGNORE injected before
/// KEXINIT, after it, or before NEWKEYS; the last also with the first
/// encrypted packet deleted (the Terrapin prefix truncation); and, where
/// more packets follow it (server to client), the deletion alone (the
/// client's SERVICE_REQUEST is the only packet in flight: deleted alone,
/// both sides would just wait).
fn terrapin_variants(first_packet: usize, delete_alone: bool) -> Vec<(&'static str, Tamper, &'static [&'static str])> {
    const STRICT: &[&str] = &["strict KEX violation"];
    let mut v = vec![
        (
            "IGNORE before KEXINIT",
            Tamper {
                inject: Some(Inject::BeforeKexinit),
                ..Tamper::default()
            },
            STRICT,
        ),
        (
            "IGNORE after KEXINIT",
            Tamper {
                inject: Some(Inject::AfterKexinit),
                ..Tamper::default()
            },
            STRICT,
        ),
        (
            "IGNORE before NEWKEYS",
            Tamper {
                inject: Some(Inject::BeforeNewkeys),
                ..Tamper::default()
            },
            STRICT,
        ),
        (
            "IGNORE before NEWKEYS + first encrypted packet deleted",
            Tamper {
                inject: Some(Inject::BeforeNewkeys),
                delete: first_packet,
                ..Tamper::default()
            },
            STRICT,
        ),
    ];
    if delete_alone {
        v.push((
            "first encrypted packet deleted",
            Tamper {
                delete: first_packet,
                ..Tamper::default()
            },
            DAMAGE,
        ));
    }
    v
}

/// Terrapin against tobira: tobira → proxy → sshd, the proxy tampering with
/// what sshd sends (chacha20-poly1305). Strict KEX is on in both; tobira
/// must name the violation and exit 255 without output.
#[test]
fn terrapin_server_to_client_detected_by_tobira() {
    let env = env("terrapin-s2c", 4096);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let ext_info = calibrate_sshd(&env, &sshd, "aes128-gcm@openssh.com");
    let first = Layout::new(CHACHA, None, ext_info).total();
    let mut failures = Vec::new();
    for (what, t, expect) in terrapin_variants(first, true) {
        let px = proxy(sshd.port, Tamper::default(), t);
        let mut opts = algorithm_opts(CHACHA, None);
        opts.push("-v".into());
        let o = run_with_input(
            client("tobira", &env, px.port, &opts),
            env.input.clone(),
            Duration::from_secs(30),
        );
        let (_, seen) = px.finish();
        let s = &seen[1];
        let mut errs = Vec::new();
        if o.code != Some(255) {
            errs.push(format!("exit {:?}", o.code));
        }
        if !o.out.is_empty() {
            errs.push(format!("{} bytes of output", o.out.len()));
        }
        if s.injected != t.inject.is_some() || s.deleted != t.delete {
            errs.push(format!("the proxy did not tamper as asked: {s:?}"));
        }
        match o.err.lines().find(|l| expect.iter().any(|e| l.contains(e))) {
            Some(l) => eprintln!("{what}: tobira: {l}"),
            None => errs.push(format!("tobira did not report {expect:?}")),
        }
        if !errs.is_empty() {
            failures.push(format!("{what}: {}\n{}", errs.join("; "), o.err));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Terrapin against tobirad: ssh → proxy → tobirad, the proxy tampering
/// with what ssh sends (chacha20-poly1305). tobirad must log the violation
/// and drop the connection (ssh exits 255).
#[test]
fn terrapin_client_to_server_detected_by_tobirad() {
    let env = env("terrapin-c2s", 4096);
    let tobirad = start_tobirad(&[]);
    control_tobirad(&env, &tobirad, "aes128-gcm@openssh.com");
    let watch = LogWatch::new(tobirad.log.clone());
    let first = Layout::new(CHACHA, None, SERVICE_REQUEST_LEN).total();
    let mut failures = Vec::new();
    for (what, t, expect) in terrapin_variants(first, false) {
        let px = proxy(tobirad.port, t, Tamper::default());
        let o = run_with_input(
            client("ssh", &env, px.port, &algorithm_opts(CHACHA, None)),
            env.input.clone(),
            Duration::from_secs(30),
        );
        let (up, seen) = px.finish();
        let s = &seen[0];
        let log = up.map(|p| watch.end_of(p).join("\n")).unwrap_or_default();
        let mut errs = Vec::new();
        if o.code != Some(255) {
            errs.push(format!("exit {:?}", o.code));
        }
        if !o.out.is_empty() {
            errs.push(format!("{} bytes of output", o.out.len()));
        }
        if s.injected != t.inject.is_some() || s.deleted != t.delete {
            errs.push(format!("the proxy did not tamper as asked: {s:?}"));
        }
        match log.lines().find(|l| expect.iter().any(|e| l.contains(e))) {
            Some(l) => eprintln!("{what}: tobirad: {l}"),
            None => errs.push(format!("tobirad did not log {expect:?}")),
        }
        if !errs.is_empty() {
            failures.push(format!("{what}: {}\ntobirad: {log}\nssh: {}", errs.join("; "), o.err));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// Under strict KEX both sides reset their sequence numbers at every
/// NEWKEYS (the tobira-proto tests check this between two tobiras; here
/// against OpenSSH): `RekeyLimit 1M` with 8 MiB through `cat`, so several
/// re-exchanges in each direction, tobira → sshd and ssh → tobirad, with
/// chacha20-poly1305 (the sequence number is the nonce) and aes128-ctr +
/// hmac-sha2-256 (it is MACed). What comes back has the same SHA-256.
#[test]
fn rekey_every_megabyte_keeps_sequence_numbers_in_step() {
    let env = env("integ-rekey", 8 << 20);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys", "MACs=+hmac-sha2-256"]);
    let tobirad = start_tobirad(&["-o", "MACs=+hmac-sha2-256"]);
    let want = sha256_hex(&env.input);
    for (c, m) in [(CHACHA, None), ("aes128-ctr", Some("hmac-sha2-256"))] {
        for (kind, port) in [("tobira", sshd.port), ("ssh", tobirad.port)] {
            let mut opts = vec!["-v".to_string(), format!("Ciphers={c}"), "RekeyLimit=1M".to_string()];
            if let Some(m) = m {
                opts.push(format!("MACs={m}"));
            }
            let o = run_with_input(
                client(kind, &env, port, &opts),
                env.input.clone(),
                Duration::from_secs(180),
            );
            let label = format!("{kind} (RekeyLimit 1M, {c} {m:?})");
            let tail: Vec<&str> = o.err.lines().rev().take(20).collect();
            assert_eq!(o.code, Some(0), "{label}: {}", tail.join("\n"));
            assert_eq!(o.out.len(), env.input.len(), "{label}: bytes back");
            assert_eq!(sha256_hex(&o.out), want, "{label}: SHA-256 of what came back");
            let rekeys = o
                .err
                .lines()
                .filter(|l| l.contains("SSH2_MSG_NEWKEYS received"))
                .count();
            assert!(rekeys >= 6, "{label}: {rekeys} re-exchanges");
            if kind == "tobira" {
                assert!(o.err.contains("kex: strict KEX mode enabled"), "{label}: {}", o.err);
            }
        }
    }
}

/// A damaged packet after the exit status must still end the session with
/// an error. sshd sends `exit-status` as soon as the command's process
/// exits, and whatever its children still write afterwards follows as
/// channel data, then EOF and CLOSE (OpenSSH does this whenever output is
/// still queued when the command exits, so it also happens with plain `cat`
/// now and then). Here the command exits at once and leaves a child that
/// writes 1000 bytes 0.7 s later; the proxy flips a bit in the first
/// packet after that pause (the data). OpenSSH's ssh (the reference) says
/// "Corrupted MAC on input." and exits 255; so must tobira, rather than
/// exit with the remote status and lose the data silently.
#[test]
fn damage_after_exit_status_is_reported() {
    let env = env("integ-exit", 0);
    let sshd = start_sshd(&["AuthorizedKeysFile=.ssh/authorized_keys"]);
    let command = "sh -c '(sleep 0.7; head -c 1000 /dev/zero) & exit 0'";
    let mut failures = Vec::new();
    for c in [CHACHA, "aes128-ctr"] {
        for kind in ["ssh", "tobira"] {
            // First undamaged: the data does arrive after the exit status.
            let px = proxy(sshd.port, Tamper::default(), Tamper::default());
            let o = run_with_input(
                client_running(kind, &env, px.port, &algorithm_opts(c, None), command),
                env.input.clone(),
                Duration::from_secs(30),
            );
            px.finish();
            assert_eq!(
                (o.code, o.out.len()),
                (Some(0), 1000),
                "{kind} {c} undamaged: {}",
                o.err
            );
            let flip = Flip::AfterPause {
                pause: Duration::from_millis(400),
                k: 20,
                bit: 3,
            };
            let px = proxy(
                sshd.port,
                Tamper::default(),
                Tamper {
                    flip: Some(flip),
                    ..Tamper::default()
                },
            );
            let o = run_with_input(
                client_running(kind, &env, px.port, &algorithm_opts(c, None), command),
                env.input.clone(),
                Duration::from_secs(30),
            );
            let (_, seen) = px.finish();
            let label = format!("{kind} {c}: damaged data after exit-status");
            // ssh says "message authentication code incorrect" for the AEADs.
            let reported = DAMAGE.iter().any(|d| o.err.contains(d))
                || (kind == "ssh" && o.err.contains("message authentication code incorrect"));
            eprintln!(
                "{label}: exit {:?}, {} bytes out, damage reported: {reported}",
                o.code,
                o.out.len()
            );
            if seen[1].flipped.is_none() {
                failures.push(format!("{label}: the flip was never made: {:?}", seen[1]));
            } else if o.code != Some(255) || !o.out.iter().all(|&b| b == 0) || !reported {
                failures.push(format!(
                    "{label}: exit {:?} (want 255), {} bytes out, stderr: {}",
                    o.code,
                    o.out.len(),
                    o.err.trim()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
