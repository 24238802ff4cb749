//! The connection state machine: one SSH-2 connection in either role,
//! sans-IO. Bytes from the peer go in through [`Connection::feed`]; bytes
//! for the peer come out of [`Connection::pending_output`]; everything the
//! application must know or decide comes out of [`Connection::poll_event`].
//!
//! Implements RFC 4253 (identification, binary packets, KEXINIT and
//! negotiation, key exchange, NEWKEYS, service request), OpenSSH's strict
//! KEX (PROTOCOL §1.10), ext-info (RFC 8308) and, until user
//! authentication lands, the `none` exchange of RFC 4252 §5.2.

use std::collections::VecDeque;
use std::sync::Arc;

use rand_core::RngCore;
use zeroize::Zeroizing;

use crate::algorithms::{EXT_INFO_C, EXT_INFO_S, KEX_STRICT_C, KEX_STRICT_S};
use crate::config::Config;
use crate::crypto::mac::{self, Mac};
use crate::crypto::{cipher, HashAlg};
use crate::error::{DisconnectReason, Error};
use crate::hostkey;
use crate::kex::dh::{DhGroup, DhKeyPair};
use crate::kex::ecdh::EcdhKeyPair;
use crate::kex::gex::{self, GexRequest};
use crate::kex::hybrid::HybridClient;
use crate::kex::rsa_kex::{self, RsaTransientKey};
use crate::kex::{self, KexFamily, KexSpec};
use crate::msg::connection::{ChannelKind, ChannelRequest};
use crate::msg::num;
use crate::msg::transport::{encode_service, encode_unimplemented, Disconnect, ExtInfo, KexInit};
use crate::msg::userauth::InfoRequest;
pub use userauth::AuthRequest;

mod allowed;
mod channels;
mod host_key_rotation;
mod kex_work;
mod userauth;
mod window;

use crate::trace::{self, Direction};
use crate::transport::compress::{CompressionMode, Compressor, Decompressor};
use crate::transport::ident::{IdentReader, IdentScan};
use crate::transport::keys::derive;
use crate::transport::negotiate::{guess_was_wrong, negotiate, Negotiated};
use crate::transport::out_buf::OutBuf;
use crate::transport::packet::{cipher_block_limit, DirectionKeys, Opener, Sealer, MAX_PACKET};
use crate::wire::{Reader, Writer};
pub use channels::{LOCAL_MAX_PACKET, LOCAL_WINDOW, MAX_ANSWERS_OWED, MAX_DATA_EVENT, OUTPUT_BURST};
use kex_work::{Job, Outcome, Reply, ReplyJob, Secret, Seed};
pub use kex_work::{KexWork, KexWorkDone};
pub use window::{MAX_GROWTH, MAX_WINDOW};

/// Which side of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that connects (RFC 4253 "client").
    Client,
    /// The side that accepts.
    Server,
}

/// What the application learns from the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer's identification string (RFC 4253 §4.2).
    PeerIdent(String),
    /// The peer's KEXINIT, as received (before negotiation).
    PeerKexInit(Box<KexInit>),
    /// Algorithms agreed for a key exchange; `strict` when strict KEX is in force.
    Negotiated {
        /// The chosen algorithms.
        algorithms: Negotiated,
        /// Strict KEX (OpenSSH PROTOCOL §1.10) is in force.
        strict: bool,
    },
    /// Client: the server proved possession of this host key (its signature
    /// over the exchange hash verified). Answer with
    /// [`Connection::accept_host_key`] or [`Connection::reject_host_key`].
    HostKey {
        /// Negotiated host key algorithm.
        algorithm: String,
        /// Public key blob (RFC 4253 §6.6).
        key: Vec<u8>,
    },
    /// A key exchange finished and the new keys are in force both ways.
    KexDone {
        /// True for the first key exchange of the connection.
        first: bool,
    },
    /// Client: SSH_MSG_SERVICE_ACCEPT for this service.
    ServiceAccepted(String),
    /// Client: SSH_MSG_EXT_INFO from the server.
    ExtInfo(ExtInfo),
    /// Client: USERAUTH_FAILURE (RFC 4252 §5.1).
    AuthFailure {
        /// Methods that can continue.
        methods: Vec<String>,
        /// Partial success.
        partial: bool,
    },
    /// Client: USERAUTH_SUCCESS.
    AuthSuccess,
    /// Client: USERAUTH_BANNER text.
    AuthBanner(String),
    /// Client: USERAUTH_PK_OK: the server would accept this key.
    AuthPkOk {
        /// Algorithm.
        algorithm: String,
        /// Key blob.
        key_blob: Vec<u8>,
    },
    /// Client: keyboard-interactive prompts (RFC 4256 §3.2); answer with
    /// [`Connection::userauth_info_response`].
    AuthInfoRequest(InfoRequest),
    /// Client: the server asks for a new password (RFC 4252 §8).
    AuthPasswdChangeReq(String),
    /// Server: a USERAUTH_REQUEST to decide on. Answer with
    /// [`Connection::auth_accept`], [`Connection::auth_reject`],
    /// [`Connection::auth_pk_ok`], [`Connection::auth_info_request`] or
    /// [`Connection::auth_passwd_changereq`].
    AuthRequest(AuthRequest),
    /// Server: answers to our keyboard-interactive prompts.
    AuthInfoResponse(Vec<zeroize::Zeroizing<String>>),
    /// The peer opens a channel; answer with [`Connection::channel_accept`]
    /// or [`Connection::channel_reject`].
    ChannelOpenRequest {
        /// Our id for the channel.
        id: u32,
        /// Type and type-specific data.
        kind: ChannelKind,
    },
    /// A channel we opened is open.
    ChannelOpenConfirmed {
        /// Channel id.
        id: u32,
    },
    /// A channel we opened was refused (RFC 4254 §5.1).
    ChannelOpenFailed {
        /// Channel id.
        id: u32,
        /// Reason code.
        code: u32,
        /// Description.
        message: String,
    },
    /// Data on a channel.
    ChannelData {
        /// Channel id.
        id: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Extended data (1 = stderr) on a channel.
    ChannelExtendedData {
        /// Channel id.
        id: u32,
        /// Data type code.
        code: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The peer sent EOF on a channel.
    ChannelEof {
        /// Channel id.
        id: u32,
    },
    /// The channel is closed both ways and forgotten.
    ChannelClosed {
        /// Channel id.
        id: u32,
    },
    /// A channel request from the peer; answer with
    /// [`Connection::channel_request_reply`] when `want_reply`.
    ChannelRequest {
        /// Channel id.
        id: u32,
        /// The request.
        request: ChannelRequest,
        /// The peer wants an answer.
        want_reply: bool,
    },
    /// The answer to one of our channel requests.
    ChannelRequestReply {
        /// Channel id.
        id: u32,
        /// CHANNEL_SUCCESS or CHANNEL_FAILURE.
        success: bool,
    },
    /// A global request from the peer; answer with
    /// [`Connection::global_request_reply`] when `want_reply`.
    GlobalRequest {
        /// Request name.
        name: String,
        /// The peer wants an answer.
        want_reply: bool,
        /// Request-specific data.
        data: Vec<u8>,
    },
    /// The answer to one of our global requests.
    GlobalReply {
        /// REQUEST_SUCCESS or REQUEST_FAILURE.
        success: bool,
        /// Response-specific data.
        data: Vec<u8>,
    },
    /// Client: the server listed all its host keys after authentication
    /// (`hostkeys-00@openssh.com`, OpenSSH PROTOCOL §2.5), as public key
    /// blobs (RFC 4253 §6.6) in its order. Comes at most once per
    /// connection. Keys not yet known for the host are to be proven with
    /// [`Connection::prove_host_keys`] before they are trusted.
    HostKeysOffered {
        /// The public key blobs, unparsed.
        keys: Vec<Vec<u8>>,
    },
    /// Client: the server proved it holds the private half of these keys
    /// (`hostkeys-prove-00@openssh.com`, OpenSSH PROTOCOL §2.5): each
    /// signature over the session identifier verified. Keys whose RSA
    /// signature used SHA-1 are left out.
    HostKeysProven {
        /// The proven public key blobs, in the order they were asked for.
        keys: Vec<Vec<u8>>,
    },
    /// Client: the server refused to prove its host keys, or a proof was
    /// malformed or did not verify; nothing should be learned.
    HostKeysNotProven {
        /// Why, for the user.
        reason: String,
    },
    /// SSH_MSG_DEBUG from the peer.
    Debug(String),
    /// One decoded packet, when tracing is on.
    Trace(String),
}

enum Step {
    /// Waiting for the peer's KEXINIT.
    AwaitKexInit,
    ClientAwaitEcdhReply(EcdhKeyPair),
    ClientAwaitDhReply(DhKeyPair),
    ClientAwaitGexGroup(GexRequest),
    ClientAwaitGexReply(DhKeyPair, GexRequest),
    /// Hybrid post-quantum exchange: our key pairs and C_INIT.
    ClientAwaitHybridReply(Box<HybridClient>, Vec<u8>),
    /// RSA key exchange (RFC 4432): waiting for KEXRSA_PUBKEY.
    ClientAwaitRsaPubkey,
    /// RSA key exchange: K_S, K_T, the encrypted secret and K.
    ClientAwaitRsaDone(Box<RsaClientState>),
    /// Client: host key shown to the application; waiting for its verdict.
    ClientAwaitHostKeyVerdict,
    ServerAwaitInit,
    ServerAwaitGexRequest,
    ServerAwaitGexInit(DhGroup, GexRequest),
    /// RSA key exchange: our transient key (and its blob) sent.
    ServerAwaitRsaSecret(Box<RsaTransientKey>),
    /// Reply exchanged; waiting for NEWKEYS.
    AwaitNewKeys,
}

/// Where the server's [`KexWork`] is (see [`Config::offload_slow_kex`]).
enum WorkSlot {
    /// None outstanding.
    Idle,
    /// Waiting for the driver to take it.
    Queued(Box<KexWork>),
    /// Taken; the result of this [`KexWork`] number is awaited.
    Running(u64),
}

/// What the client of an RSA key exchange keeps until KEXRSA_DONE.
struct RsaClientState {
    k_s: Vec<u8>,
    k_t: Vec<u8>,
    encrypted: Vec<u8>,
    k: Zeroizing<Vec<u8>>,
}

/// K as an mpint (RFC 4253 §8 and every method but the hybrids).
fn k_mpint(k: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(k.len() + 5));
    v.put_mpint(k);
    v
}

/// K as a string (the post-quantum hybrids: draft-ietf-sshm-mlkem-hybrid-kex
/// §2.4, RFC 9941).
fn k_string(k: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(k.len() + 4));
    v.put_string(k);
    v
}

struct Kex {
    ours: Vec<u8>,
    theirs: Option<Vec<u8>>,
    spec: Option<&'static KexSpec>,
    negotiated: Option<Negotiated>,
    step: Step,
    skip_next: bool,
    out_keys: Option<DirectionKeys>,
    in_keys: Option<DirectionKeys>,
    newkeys_sent: bool,
    newkeys_received: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Ident,
    Running,
    Closed,
}

/// Upper bound on payloads held back while a key exchange runs.
const MAX_HELD_BYTES: usize = 4 * 1024 * 1024;

/// One SSH-2 connection, sans-IO.
pub struct Connection {
    role: Role,
    config: Arc<Config>,
    rng: Box<dyn RngCore + Send>,
    phase: Phase,
    in_buf: Vec<u8>,
    /// Sealed packets for the peer; `out[out_start..]` is still unwritten.
    out: OutBuf,
    out_start: usize,
    /// Channel data waits for the output to drain
    /// ([`OUTPUT_BURST`]).
    burst_held: bool,
    /// The channel id that goes first in the next burst.
    burst_first: u32,
    scratch: Vec<u8>,
    ident_reader: IdentReader,
    local_ident: String,
    peer_ident: Option<String>,
    sealer: Sealer,
    opener: Opener,
    kex: Option<Kex>,
    kex_family: Option<KexFamily>,
    kex_count: u32,
    session_id: Option<Vec<u8>>,
    first_host_key: Option<Vec<u8>>,
    strict: bool,
    peer_wants_ext_info: bool,
    server_sig_algs: Option<Vec<String>>,
    service_requested: bool,
    userauth_active: bool,
    authenticated: bool,
    held: Vec<Vec<u8>>,
    held_bytes: usize,
    events: VecDeque<Event>,
    pending_verdict: Option<(Vec<u8>, Zeroizing<Vec<u8>>)>,
    /// Server: the slow step of the key exchange, while the driver runs it.
    kex_work: WorkSlot,
    /// Server: the host key blob of the first key exchange (host-bound auth).
    kex_host_key: Option<Vec<u8>>,
    /// Server: keyboard-interactive prompts are outstanding.
    kbd_pending: bool,
    /// Client: the method of the last USERAUTH_REQUEST (to read message 60).
    last_method: Option<&'static str>,
    /// Channels and global requests (RFC 4254).
    chans: channels::Channels,
    /// Compression (RFC 4253 §6.2) negotiated for each direction, and the
    /// zlib streams once it is active.
    comp: Compression,
    /// Host key rotation (OpenSSH PROTOCOL §2.5).
    rotation: host_key_rotation::Rotation,
}

/// Per-direction compression state.
#[derive(Default)]
struct Compression {
    out_mode: Option<CompressionMode>,
    in_mode: Option<CompressionMode>,
    out: Option<Compressor>,
    inn: Option<Decompressor>,
    /// Scratch for compressed output before sealing.
    buf: Vec<u8>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Starts a client connection: the identification string and KEXINIT
    /// are queued at once.
    pub fn client(config: Arc<Config>, rng: Box<dyn RngCore + Send>) -> Self {
        Self::new(Role::Client, config, rng)
    }

    /// Starts a server connection.
    pub fn server(config: Arc<Config>, rng: Box<dyn RngCore + Send>) -> Self {
        Self::new(Role::Server, config, rng)
    }

    fn new(role: Role, config: Arc<Config>, rng: Box<dyn RngCore + Send>) -> Self {
        let local_ident = config.ident.clone();
        let mut c = Connection {
            role,
            config,
            rng,
            phase: Phase::Ident,
            in_buf: Vec::with_capacity(64 * 1024),
            out: OutBuf::with_capacity(64 * 1024),
            out_start: 0,
            burst_held: false,
            burst_first: 0,
            scratch: Vec::new(),
            ident_reader: IdentReader::default(),
            local_ident,
            peer_ident: None,
            sealer: Sealer::default(),
            opener: Opener::default(),
            kex: None,
            kex_family: None,
            kex_count: 0,
            session_id: None,
            first_host_key: None,
            strict: false,
            peer_wants_ext_info: false,
            server_sig_algs: None,
            service_requested: false,
            userauth_active: false,
            authenticated: false,
            held: Vec::new(),
            held_bytes: 0,
            events: VecDeque::new(),
            pending_verdict: None,
            kex_work: WorkSlot::Idle,
            kex_host_key: None,
            kbd_pending: false,
            last_method: None,
            chans: channels::new_table(),
            comp: Compression::default(),
            rotation: host_key_rotation::Rotation::default(),
        };
        c.out.extend_from_slice(c.local_ident.as_bytes());
        c.out.extend_from_slice(b"\r\n");
        if c.config.trace {
            c.events
                .push_back(Event::Trace(format!(">> identification: {}", c.local_ident)));
        }
        c.send_kexinit();
        c
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's identification string, once received.
    pub fn peer_ident(&self) -> Option<&str> {
        self.peer_ident.as_deref()
    }

    /// The session identifier (the first exchange hash, RFC 4253 §7.2).
    pub fn session_id(&self) -> Option<&[u8]> {
        self.session_id.as_deref()
    }

    /// True once strict KEX is in force.
    pub fn strict_kex(&self) -> bool {
        self.strict
    }

    /// True once a key exchange is running.
    pub fn kex_in_progress(&self) -> bool {
        self.kex.is_some()
    }

    /// The server's `server-sig-algs` (client side, RFC 8308 §3.1).
    pub fn server_sig_algs(&self) -> Option<&[String]> {
        self.server_sig_algs.as_deref()
    }

    /// True when the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether [`Self::poll_event`] has an event to give without more
    /// input (a driver may batch its work until it has none).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// A count that moves whenever a packet the peer may be waiting for
    /// is sealed: any but our window adjustments (RFC 4254 §5.2) and the
    /// probes that go with them, which a sending peer does not stop for
    /// (we send them long before its window runs out). Compared between
    /// writes, it tells a driver whether what it writes may draw an answer
    /// (see `tobira::driver::Driver::on_bulk_read`); the number itself
    /// means nothing.
    pub fn answerable_packets_sent(&self) -> u64 {
        self.sealer.packets_sealed.wrapping_sub(self.chans.window_messages)
    }

    /// Bytes waiting to be written to the peer.
    pub fn pending_output(&self) -> &[u8] {
        self.out.get(self.out_start..).unwrap_or_default()
    }

    /// Marks `n` bytes of [`Self::pending_output`] as written.
    ///
    /// Channel data is sealed in bursts of about [`OUTPUT_BURST`]: once
    /// less than that is left unwritten, the next burst is sealed here,
    /// so [`Self::pending_output`] may hold more afterwards. Write until
    /// it is empty.
    pub fn consume_output(&mut self, n: usize) {
        self.out_start = self.out_start.saturating_add(n).min(self.out.len());
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
        } else if self.out_start >= self.out.len() - self.out_start {
            // Moving the unwritten rest to the front costs no more than
            // what was written since the last move: linear overall, where
            // removing each written prefix at once was quadratic in the
            // amount queued.
            self.out.remove_front(self.out_start);
            self.out_start = 0;
        }
        // Nothing more after our DISCONNECT.
        if self.burst_held && self.phase != Phase::Closed && self.pending_output().len() < OUTPUT_BURST {
            self.burst_held = false;
            if let Err(e) = self.flush_next_burst() {
                self.fail(&e);
            }
        }
    }

    /// Feeds bytes received from the peer. On a fatal error a DISCONNECT is
    /// queued (flush [`Self::pending_output`] before closing the socket) and
    /// the connection is closed.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        self.in_buf.extend_from_slice(data);
        let r = self.process();
        if r.is_ok() {
            self.maybe_rekey();
        }
        if let Err(e) = &r {
            self.fail(e);
        }
        r
    }

    /// Where a driver may append received bytes itself (for example with
    /// `tokio::io::AsyncReadExt::read_buf`), saving [`Self::feed`]'s copy;
    /// call `feed(&[])` after appending. Only append: the bytes already
    /// there are input not yet processed.
    pub fn input_buffer(&mut self) -> &mut Vec<u8> {
        &mut self.in_buf
    }

    /// Ends the connection with SSH_MSG_DISCONNECT (RFC 4253 §11.1).
    pub fn disconnect(&mut self, reason: DisconnectReason, message: &str) {
        if self.phase == Phase::Closed {
            return;
        }
        let d = Disconnect {
            reason: reason.code(),
            description: message.to_string(),
        };
        self.send_now(&d.encode());
        self.phase = Phase::Closed;
    }

    fn fail(&mut self, e: &Error) {
        if let Error::Local { reason, message } = e {
            let (r, m) = (*reason, message.clone());
            self.disconnect(r, &m);
        }
        self.phase = Phase::Closed;
    }

    fn process(&mut self) -> Result<(), Error> {
        let mut pos = 0;
        if self.phase == Phase::Ident {
            match self.ident_reader.scan(&self.in_buf, self.role == Role::Client)? {
                IdentScan::NeedMore => return Ok(()),
                IdentScan::Found(ident, used) => {
                    pos = used;
                    if self.config.trace {
                        for line in std::mem::take(&mut self.ident_reader.pre_banner) {
                            self.events
                                .push_back(Event::Trace(format!("<< (pre-identification line) {line}")));
                        }
                        self.events
                            .push_back(Event::Trace(format!("<< identification: {ident}")));
                    }
                    self.events.push_back(Event::PeerIdent(ident.clone()));
                    self.peer_ident = Some(ident);
                    self.phase = Phase::Running;
                }
            }
        }
        let result = self.process_packets(&mut pos);
        self.in_buf.drain(..pos.min(self.in_buf.len()));
        result
    }

    fn process_packets(&mut self, pos: &mut usize) -> Result<(), Error> {
        // The input buffer is taken out for the loop so that an
        // uncompressed payload is dispatched where it was decrypted,
        // without a copy.
        let mut inb = std::mem::take(&mut self.in_buf);
        let r = self.process_packets_in(&mut inb, pos);
        self.in_buf = inb;
        r
    }

    fn process_packets_in(&mut self, inb: &mut [u8], pos: &mut usize) -> Result<(), Error> {
        // While the application decides on the host key, later packets
        // (the server's NEWKEYS) wait in the buffer; so do the client's
        // while our reply is being computed elsewhere.
        while self.phase == Phase::Running && self.pending_verdict.is_none() && matches!(self.kex_work, WorkSlot::Idle)
        {
            let rest = inb.get_mut(*pos..).unwrap_or_default();
            let Some(p) = self.opener.open(rest)? else {
                break;
            };
            let body = inb
                .get(*pos + p.payload.0..*pos + p.payload.1)
                .ok_or_else(|| Error::protocol("packet payload out of range"))?;
            *pos += p.consumed;
            let mut inflated = None;
            if let Some(z) = self.comp.inn.as_mut() {
                // Bounded inflation: more than a packet's worth is an error.
                let mut payload = std::mem::take(&mut self.scratch);
                payload.clear();
                z.decompress(body, MAX_PACKET, &mut payload)?;
                inflated = Some(payload);
            }
            let payload: &[u8] = inflated.as_deref().unwrap_or(body);
            if self.config.trace {
                let text = trace::describe(
                    Direction::Received,
                    payload,
                    p.packet_len,
                    p.padding_len,
                    self.kex_family,
                );
                self.events.push_back(Event::Trace(text));
            }
            self.chans.input_after = inb.len().saturating_sub(*pos);
            let r = self.dispatch(payload, p.seq);
            if let Some(mut buf) = inflated {
                buf.clear();
                self.scratch = buf;
            }
            r?;
        }
        Ok(())
    }

    // ----- sending -----

    fn send_now(&mut self, payload: &[u8]) {
        let (plen, pad) = match self.comp.out.as_mut() {
            Some(z) => {
                let mut buf = std::mem::take(&mut self.comp.buf);
                buf.clear();
                // Deflating into a Vec cannot fail short of a zlib bug; if it
                // does, the packet goes out uncompressed and the peer's
                // inflater reports the mismatch.
                if let Err(e) = z.compress(payload, &mut buf) {
                    tracing::error!("compression failed: {e}");
                    buf.clear();
                    buf.extend_from_slice(payload);
                }
                let r = self.sealer.seal(&buf, &mut *self.rng, &mut self.out);
                self.comp.buf = buf;
                r
            }
            None => self.sealer.seal(payload, &mut *self.rng, &mut self.out),
        };
        if channels::is_window_message(payload) {
            self.chans.window_messages = self.chans.window_messages.wrapping_add(1);
        }
        if self.config.trace {
            let text = trace::describe(Direction::Sent, payload, plen, pad, self.kex_family);
            self.events.push_back(Event::Trace(text));
        }
        if self.role == Role::Server && payload.first() == Some(&num::USERAUTH_SUCCESS) {
            // zlib@openssh.com starts right after the server's USERAUTH_SUCCESS.
            self.start_delayed_compression();
        }
    }

    /// Starts `zlib@openssh.com` in both directions once authenticated
    /// (OpenSSH PROTOCOL §1.4 / `ssh_packet_enable_delayed_compress`).
    fn start_delayed_compression(&mut self) {
        if self.comp.out.is_none() && self.comp.out_mode == Some(CompressionMode::ZlibDelayed) {
            self.comp.out = Some(Compressor::new());
        }
        if self.comp.inn.is_none() && self.comp.in_mode == Some(CompressionMode::ZlibDelayed) {
            self.comp.inn = Some(Decompressor::new());
        }
    }

    /// Sends a non-transport message, holding it while a key exchange runs
    /// (RFC 4253 §7.1: only transport messages between KEXINIT and NEWKEYS).
    fn send(&mut self, payload: Vec<u8>) -> Result<(), Error> {
        self.maybe_rekey();
        if self.kex.as_ref().is_some_and(|k| !k.newkeys_sent) {
            self.held_bytes += payload.len();
            if self.held_bytes > MAX_HELD_BYTES {
                return Err(Error::protocol("too much data held during key exchange"));
            }
            self.held.push(payload);
        } else {
            self.send_now(&payload);
        }
        Ok(())
    }

    fn our_kexinit(&mut self) -> KexInit {
        let c = &self.config;
        let mut kex = c.kex.clone();
        if self.kex_count == 0 {
            match self.role {
                Role::Client => {
                    kex.push(EXT_INFO_C.to_string());
                    kex.push(KEX_STRICT_C.to_string());
                }
                Role::Server => {
                    kex.push(EXT_INFO_S.to_string());
                    kex.push(KEX_STRICT_S.to_string());
                }
            }
        }
        let host_key = match self.role {
            Role::Client => c.host_key.clone(),
            Role::Server => c
                .host_key
                .iter()
                .filter(|alg| c.host_keys.iter().any(|k| k.algorithms().contains(&alg.as_str())))
                .cloned()
                .collect(),
        };
        let mut cookie = [0u8; 16];
        self.rng.fill_bytes(&mut cookie);
        KexInit {
            cookie,
            kex,
            host_key,
            cipher_c2s: c.cipher.clone(),
            cipher_s2c: c.cipher.clone(),
            mac_c2s: c.mac.clone(),
            mac_s2c: c.mac.clone(),
            comp_c2s: c.compression.clone(),
            comp_s2c: c.compression.clone(),
            ..Default::default()
        }
    }

    fn send_kexinit(&mut self) {
        let ki = self.our_kexinit();
        let payload = ki.encode();
        self.send_now(&payload);
        self.kex = Some(Kex {
            ours: payload,
            theirs: None,
            spec: None,
            negotiated: None,
            step: Step::AwaitKexInit,
            skip_next: false,
            out_keys: None,
            in_keys: None,
            newkeys_sent: false,
            newkeys_received: false,
        });
    }

    /// Replaces the configuration; algorithm lists and limits apply from
    /// the next KEXINIT on (a re-exchange may thus switch methods).
    pub fn set_config(&mut self, config: Arc<Config>) {
        self.config = config;
    }

    /// How many key exchanges have completed (the first one included).
    pub fn completed_kex_count(&self) -> u32 {
        self.kex_count
    }

    /// Whether the current keys have done their share: `rekey_bytes` in
    /// either direction, the cipher's own block limit (RFC 4344 §3.2), or
    /// 2^31 packets (well before the 32-bit sequence number wraps, RFC 4344
    /// §3.1).
    pub fn rekey_due(&self) -> bool {
        rekey_due(&self.sealer, &self.opener, &self.config)
    }

    /// Starts a re-exchange when [`Self::rekey_due`] says so; called where
    /// it is safe to (before an application message is sent, after input
    /// was processed).
    fn maybe_rekey(&mut self) {
        if self.kex.is_none() && self.session_id.is_some() && self.rekey_due() {
            tracing::debug!("rekey limit reached; starting a key re-exchange");
            self.start_rekey();
        }
    }

    /// Starts a key re-exchange (RFC 4253 §9) unless one is running.
    pub fn start_rekey(&mut self) {
        if self.kex.is_none() && self.phase == Phase::Running && self.session_id.is_some() {
            self.send_kexinit();
        }
    }

    // ----- dispatch -----

    fn dispatch(&mut self, payload: &[u8], seq: u32) -> Result<(), Error> {
        let msg = payload
            .first()
            .copied()
            .ok_or_else(|| Error::protocol("empty packet"))?;
        let stage = self.stage();
        let verdict = allowed::check(self.role, stage, self.strict, msg)?;
        if let Some(k) = self.kex.as_mut() {
            // A wrong first_kex_packet_follows guess: its packet is skipped
            // (RFC 4253 §7).
            if k.skip_next && (30..=49).contains(&msg) {
                k.skip_next = false;
                return Ok(());
            }
        }
        if verdict == allowed::Verdict::Unimplemented {
            self.send_now(&encode_unimplemented(seq));
            return Ok(());
        }
        match msg {
            num::DISCONNECT => {
                let d = Disconnect::decode(payload)?;
                self.phase = Phase::Closed;
                Err(Error::PeerDisconnected {
                    code: d.reason,
                    message: d.description,
                })
            }
            num::IGNORE | num::UNIMPLEMENTED => Ok(()),
            num::DEBUG => {
                let mut r = Reader::new(payload);
                r.u8()?;
                let display = r.bool()?;
                let text = String::from_utf8_lossy(r.string()?).into_owned();
                if display {
                    self.events.push_back(Event::Debug(text));
                }
                Ok(())
            }
            num::KEXINIT => self.on_kexinit(payload, seq),
            num::NEWKEYS => self.on_newkeys(),
            30..=49 => self.on_kex_message(msg, payload),
            num::SERVICE_REQUEST => self.on_service_request(payload),
            num::SERVICE_ACCEPT => self.on_service_accept(payload),
            num::EXT_INFO if self.role == Role::Client => self.on_ext_info(payload),
            // A client's EXT_INFO (RFC 8308 §2.2) names nothing tobira uses.
            num::EXT_INFO => Ok(()),
            50..=79 => self.on_userauth(msg, payload),
            80..=127 => self.on_connection_message(msg, payload),
            _ => {
                self.send_now(&encode_unimplemented(seq));
                Ok(())
            }
        }
    }

    /// The stage for the table of allowed messages ([`allowed`]).
    fn stage(&self) -> allowed::Stage {
        let in_kex = self
            .kex
            .as_ref()
            .is_some_and(|k| k.theirs.is_some() && !k.newkeys_received);
        if self.session_id.is_none() || (self.kex_count == 0 && self.kex.as_ref().is_some_and(|k| !k.newkeys_received))
        {
            allowed::Stage::InitialKex
        } else if in_kex {
            allowed::Stage::Rekey
        } else if self.authenticated {
            allowed::Stage::Authenticated
        } else if self.userauth_active {
            allowed::Stage::Authenticating
        } else {
            allowed::Stage::PreService
        }
    }

    // ----- key exchange -----

    fn on_kexinit(&mut self, payload: &[u8], seq: u32) -> Result<(), Error> {
        if self.kex.is_none() {
            // The peer starts a re-exchange (RFC 4253 §9).
            self.send_kexinit();
        }
        let first = self.kex_count == 0;
        let peer = KexInit::decode(payload)?;
        let kex = self.kex.as_mut().ok_or(Error::Closed)?;
        if kex.theirs.is_some() {
            return Err(Error::protocol("duplicate KEXINIT"));
        }
        kex.theirs = Some(payload.to_vec());
        let ours = KexInit::decode(&kex.ours)?;
        self.events.push_back(Event::PeerKexInit(Box::new(peer.clone())));
        let (client, server) = match self.role {
            Role::Client => (&ours, &peer),
            Role::Server => (&peer, &ours),
        };
        if first {
            self.strict = client.kex.iter().any(|k| k == KEX_STRICT_C) && server.kex.iter().any(|k| k == KEX_STRICT_S);
            if self.strict && seq != 0 {
                return Err(Error::protocol(
                    "strict KEX violation: KEXINIT was not the first packet",
                ));
            }
            self.peer_wants_ext_info = self.role == Role::Server && client.kex.iter().any(|k| k == EXT_INFO_C);
            if self.role == Role::Server {
                self.rotation.peer_rsa_alg = host_key_rotation::rsa_sha2_offered(&client.host_key);
            }
        }
        let n = negotiate(client, server, |c| cipher::lookup(c).is_some_and(|s| s.is_aead()))?;
        let spec = kex::lookup(&n.kex).ok_or_else(|| Error::kex(format!("unsupported kex {}", n.kex)))?;
        kex.skip_next = peer.first_kex_packet_follows && guess_was_wrong(&peer, &n);
        kex.spec = Some(spec);
        self.kex_family = Some(spec.family);
        self.events.push_back(Event::Negotiated {
            algorithms: n.clone(),
            strict: self.strict,
        });
        if self.config.trace {
            self.events.push_back(Event::Trace(trace::summary(&n, self.strict)));
        }
        let need_bits = security_bits(&n);
        self.rotation.host_key_alg = Some(n.host_key.clone());
        let kex = self.kex.as_mut().ok_or(Error::Closed)?;
        kex.negotiated = Some(n);
        match (self.role, spec.family) {
            (Role::Client, KexFamily::Ecdh) => {
                let curve = spec.curve.ok_or_else(|| Error::kex("curve missing"))?;
                let kp = EcdhKeyPair::generate(curve, &mut *self.rng)?;
                let mut m = vec![num::KEXDH_INIT];
                m.put_string(&kp.public);
                self.set_step(Step::ClientAwaitEcdhReply(kp));
                self.send_now(&m);
            }
            (Role::Client, KexFamily::Dh) => {
                let group = DhGroup::from_hex(spec.group.ok_or_else(|| Error::kex("group missing"))?);
                let kp = DhKeyPair::generate(group, &mut *self.rng)?;
                let mut m = vec![num::KEXDH_INIT];
                m.put_mpint(&kp.public);
                self.set_step(Step::ClientAwaitDhReply(kp));
                self.send_now(&m);
            }
            (Role::Client, KexFamily::DhGex) => {
                let req = GexRequest::for_security(need_bits);
                let mut m = vec![num::KEX_DH_GEX_REQUEST];
                m.put_u32(req.min);
                m.put_u32(req.n);
                m.put_u32(req.max);
                self.set_step(Step::ClientAwaitGexGroup(req));
                self.send_now(&m);
            }
            (Role::Client, KexFamily::Hybrid) => {
                let kind = spec.hybrid.ok_or_else(|| Error::kex("hybrid kind missing"))?;
                let (hc, c_init) = HybridClient::generate(kind, &mut *self.rng)?;
                let mut m = vec![num::KEXDH_INIT];
                m.put_string(&c_init);
                self.set_step(Step::ClientAwaitHybridReply(Box::new(hc), c_init));
                self.send_now(&m);
            }
            (Role::Client, KexFamily::Rsa) => self.set_step(Step::ClientAwaitRsaPubkey),
            (Role::Server, KexFamily::Rsa) => {
                // RFC 4432 §4: the server speaks first, with a transient
                // key, made off the I/O thread when offloading.
                let method = spec.rsa.ok_or_else(|| Error::kex("RSA method missing"))?;
                self.our_host_key()?;
                let seed = self.draw_seed();
                self.server_job(Job::RsaTransient { method, seed })?;
            }
            (Role::Server, KexFamily::DhGex) => self.set_step(Step::ServerAwaitGexRequest),
            (Role::Server, _) => self.set_step(Step::ServerAwaitInit),
        }
        Ok(())
    }

    fn set_step(&mut self, step: Step) {
        if let Some(k) = self.kex.as_mut() {
            k.step = step;
        }
    }

    fn on_kex_message(&mut self, msg: u8, payload: &[u8]) -> Result<(), Error> {
        let kex = self
            .kex
            .as_mut()
            .ok_or_else(|| Error::protocol(format!("key exchange message {msg} outside key exchange")))?;
        let step = std::mem::replace(&mut kex.step, Step::AwaitNewKeys);
        let mut r = Reader::new(payload);
        r.u8()?;
        match (step, msg) {
            (Step::ClientAwaitEcdhReply(kp), num::KEXDH_REPLY) => {
                let k_s = r.string()?;
                let q_s = r.string()?;
                let sig = r.string()?;
                r.finish()?;
                let q_c = kp.public.clone();
                let k = kp.agree(q_s)?;
                let mut mid = Vec::new();
                mid.put_string(&q_c);
                mid.put_string(q_s);
                self.client_verify(k_s, &mid, k_mpint(&k), sig)
            }
            (Step::ClientAwaitHybridReply(hc, c_init), num::KEXDH_REPLY) => {
                let k_s = r.string()?;
                let s_reply = r.string()?;
                let sig = r.string()?;
                r.finish()?;
                let k = hc.finish(s_reply)?;
                let mut mid = Vec::new();
                mid.put_string(&c_init);
                mid.put_string(s_reply);
                self.client_verify(k_s, &mid, k_string(&k), sig)
            }
            (Step::ClientAwaitRsaPubkey, num::KEXRSA_PUBKEY) => {
                let k_s = r.string()?;
                let k_t = r.string()?;
                r.finish()?;
                let method = self.kex_spec()?.rsa.ok_or_else(|| Error::kex("RSA method missing"))?;
                let (encrypted, k) = rsa_kex::encrypt_secret(method, k_t, &mut *self.rng)?;
                let mut m = vec![num::KEXRSA_SECRET];
                m.put_string(&encrypted);
                self.set_step(Step::ClientAwaitRsaDone(Box::new(RsaClientState {
                    k_s: k_s.to_vec(),
                    k_t: k_t.to_vec(),
                    encrypted,
                    k,
                })));
                self.send_now(&m);
                Ok(())
            }
            (Step::ClientAwaitRsaDone(st), num::KEXRSA_DONE) => {
                let sig = r.string()?;
                r.finish()?;
                let mut mid = Vec::new();
                mid.put_string(&st.k_t);
                mid.put_string(&st.encrypted);
                self.client_verify(&st.k_s, &mid, k_mpint(&st.k), sig)
            }
            (Step::ServerAwaitRsaSecret(key), num::KEXRSA_SECRET) => {
                let encrypted = r.string()?.to_vec();
                r.finish()?;
                let method = self.kex_spec()?.rsa.ok_or_else(|| Error::kex("RSA method missing"))?;
                // Refused at once, before any step is handed out for it.
                rsa_kex::check_secret_len(&key, &encrypted)?;
                let seed = self.draw_seed();
                let secret = Secret::Rsa {
                    method,
                    key,
                    encrypted,
                    seed,
                };
                self.server_work(num::KEXRSA_DONE, secret)
            }
            (Step::ClientAwaitDhReply(kp), num::KEXDH_REPLY) => {
                let k_s = r.string()?;
                let f = r.mpint_positive()?;
                let sig = r.string()?;
                r.finish()?;
                let mut mid = Vec::new();
                mid.put_mpint(&kp.public);
                mid.put_mpint(f);
                let k = kp.agree(f)?;
                self.client_verify(k_s, &mid, k_mpint(&k), sig)
            }
            (Step::ClientAwaitGexGroup(req), num::KEX_DH_GEX_GROUP) => {
                let p = r.mpint_positive()?;
                let g = r.mpint_positive()?;
                r.finish()?;
                let group = DhGroup {
                    p: p.to_vec(),
                    g: g.to_vec(),
                };
                group.validate()?;
                let bits = group.bits() as u32;
                if bits < req.min || bits > req.max {
                    return Err(Error::kex(format!(
                        "DH_GEX group out of range: {} !< {bits} !< {}",
                        req.min, req.max
                    )));
                }
                let kp = DhKeyPair::generate(group, &mut *self.rng)?;
                let mut m = vec![num::KEX_DH_GEX_INIT];
                m.put_mpint(&kp.public);
                self.set_step(Step::ClientAwaitGexReply(kp, req));
                self.send_now(&m);
                Ok(())
            }
            (Step::ClientAwaitGexReply(kp, req), num::KEX_DH_GEX_REPLY) => {
                let k_s = r.string()?;
                let f = r.mpint_positive()?;
                let sig = r.string()?;
                r.finish()?;
                let mut mid = Vec::new();
                mid.put_u32(req.min);
                mid.put_u32(req.n);
                mid.put_u32(req.max);
                mid.put_mpint(&kp.group().p);
                mid.put_mpint(&kp.group().g);
                mid.put_mpint(&kp.public);
                mid.put_mpint(f);
                let k = kp.agree(f)?;
                self.client_verify(k_s, &mid, k_mpint(&k), sig)
            }
            (Step::ServerAwaitInit, num::KEXDH_INIT) => {
                let spec = self.kex_spec()?;
                match spec.family {
                    KexFamily::Ecdh => {
                        let q_c = r.string()?;
                        r.finish()?;
                        let curve = spec.curve.ok_or_else(|| Error::kex("curve missing"))?;
                        let kp = EcdhKeyPair::generate(curve, &mut *self.rng)?;
                        let q_s = kp.public.clone();
                        let k = kp.agree(q_c)?;
                        let mut mid = Vec::new();
                        mid.put_string(q_c);
                        mid.put_string(&q_s);
                        let mut tail = Vec::new();
                        tail.put_string(&q_s);
                        self.server_reply(num::KEXDH_REPLY, &mid, Some(&tail), k_mpint(&k))
                    }
                    KexFamily::Dh => {
                        let e = r.mpint_positive()?;
                        r.finish()?;
                        let group = DhGroup::from_hex(spec.group.ok_or_else(|| Error::kex("group missing"))?);
                        self.server_dh(num::KEXDH_REPLY, group, e, &[])
                    }
                    KexFamily::DhGex => Err(Error::protocol("unexpected KEXDH_INIT during group exchange")),
                    KexFamily::Hybrid => {
                        let c_init = r.string()?;
                        r.finish()?;
                        let kind = spec.hybrid.ok_or_else(|| Error::kex("hybrid kind missing"))?;
                        let (s_reply, k) = kex::hybrid::hybrid_server(kind, c_init, &mut *self.rng)?;
                        let mut mid = Vec::new();
                        mid.put_string(c_init);
                        mid.put_string(&s_reply);
                        let mut tail = Vec::new();
                        tail.put_string(&s_reply);
                        self.server_reply(num::KEXDH_REPLY, &mid, Some(&tail), k_string(&k))
                    }
                    KexFamily::Rsa => Err(Error::protocol("unexpected message 30 in RSA key exchange")),
                }
            }
            (Step::ServerAwaitGexRequest, num::KEX_DH_GEX_REQUEST) => {
                let min = r.u32()?;
                let n = r.u32()?;
                let max = r.u32()?;
                r.finish()?;
                let req = GexRequest { min, n, max };
                let clamped = GexRequest {
                    min: min.max(self.config.gex_min_bits),
                    n: n.clamp(self.config.gex_min_bits, crate::kex::dh::MAX_MODULUS_BITS as u32),
                    max: max.min(crate::kex::dh::MAX_MODULUS_BITS as u32),
                };
                if !(clamped.min <= clamped.n && clamped.n <= clamped.max) {
                    return Err(Error::kex(format!(
                        "DH_GEX_REQUEST, bad parameters: {min} !< {n} !< {max}"
                    )));
                }
                let moduli = self.config.moduli.clone();
                let group = gex::choose_group(&moduli, clamped, &mut *self.rng)
                    .ok_or_else(|| Error::kex(format!("no DH group of {min}..{max} bits available")))?;
                let mut m = vec![num::KEX_DH_GEX_GROUP];
                m.put_mpint(&group.p);
                m.put_mpint(&group.g);
                self.set_step(Step::ServerAwaitGexInit(group, req));
                self.send_now(&m);
                Ok(())
            }
            (Step::ServerAwaitGexInit(group, req), num::KEX_DH_GEX_INIT) => {
                let e = r.mpint_positive()?;
                r.finish()?;
                let mut params = Vec::new();
                params.put_u32(req.min);
                params.put_u32(req.n);
                params.put_u32(req.max);
                params.put_mpint(&group.p);
                params.put_mpint(&group.g);
                self.server_dh(num::KEX_DH_GEX_REPLY, group, e, &params)
            }
            (_, m) => Err(Error::protocol(format!(
                "unexpected message {} ({m}) in key exchange state",
                crate::msg::name(m, self.kex_family)
            ))),
        }
    }

    fn kex_spec(&self) -> Result<&'static KexSpec, Error> {
        self.kex
            .as_ref()
            .and_then(|k| k.spec)
            .ok_or_else(|| Error::kex("no kex method"))
    }

    fn server_dh(&mut self, reply: u8, group: DhGroup, e: &[u8], params: &[u8]) -> Result<(), Error> {
        group.check_public(e)?;
        let y = DhKeyPair::draw_exponent(&mut *self.rng);
        self.server_work(
            reply,
            Secret::Dh {
                group,
                y,
                e: e.to_vec(),
                params: params.to_vec(),
            },
        )
    }

    /// String V_C, V_S, I_C, I_S: the first fields of the exchange hash
    /// (RFC 4253 §8), and the method's hash.
    fn transcript(&self) -> Result<(HashAlg, Vec<u8>), Error> {
        let kex = self.kex.as_ref().ok_or(Error::Closed)?;
        let spec = kex.spec.ok_or_else(|| Error::kex("no kex method"))?;
        let theirs = kex.theirs.as_deref().ok_or_else(|| Error::kex("no peer KEXINIT"))?;
        let peer_ident = self.peer_ident.as_deref().unwrap_or("");
        let (v_c, v_s, i_c, i_s) = match self.role {
            Role::Client => (self.local_ident.as_str(), peer_ident, kex.ours.as_slice(), theirs),
            Role::Server => (peer_ident, self.local_ident.as_str(), theirs, kex.ours.as_slice()),
        };
        let mut buf = Vec::with_capacity(4096);
        buf.put_string(v_c.as_bytes());
        buf.put_string(v_s.as_bytes());
        buf.put_string(i_c);
        buf.put_string(i_s);
        Ok((spec.hash, buf))
    }

    /// H = HASH(V_C || V_S || I_C || I_S || K_S || <method fields> || K).
    fn exchange_hash(&self, k_s: &[u8], mid: &[u8], k_enc: &[u8]) -> Result<Vec<u8>, Error> {
        let (hash, transcript) = self.transcript()?;
        Ok(kex_work::exchange_hash(hash, transcript, k_s, mid, k_enc))
    }

    /// Client: checks the server's signature over H; `k_enc` is K as the
    /// method encodes it.
    fn client_verify(&mut self, k_s: &[u8], mid: &[u8], k_enc: Zeroizing<Vec<u8>>, sig: &[u8]) -> Result<(), Error> {
        let h = self.exchange_hash(k_s, mid, &k_enc)?;
        let alg = self
            .kex
            .as_ref()
            .and_then(|k| k.negotiated.as_ref())
            .map(|n| n.host_key.clone())
            .unwrap_or_default();
        hostkey::verify(&alg, k_s, &h, sig)
            .map_err(|e| Error::with_reason(DisconnectReason::KeyExchangeFailed, format!("host key {e}")))?;
        self.pending_verdict = Some((h, k_enc));
        match &self.first_host_key {
            // A re-exchange must present the same host key.
            Some(first) if first.as_slice() == k_s => self.apply_verdict(),
            Some(_) => Err(Error::with_reason(
                DisconnectReason::HostKeyNotVerifiable,
                "host key changed during re-exchange",
            )),
            None => {
                self.first_host_key = Some(k_s.to_vec());
                self.set_step(Step::ClientAwaitHostKeyVerdict);
                self.events.push_back(Event::HostKey {
                    algorithm: alg,
                    key: k_s.to_vec(),
                });
                Ok(())
            }
        }
    }

    /// Client: the application trusts the host key; key exchange proceeds.
    pub fn accept_host_key(&mut self) -> Result<(), Error> {
        // Then the packets that arrived while the verdict was pending.
        let r = self.apply_verdict().and_then(|_| self.process());
        if let Err(e) = &r {
            self.fail(e);
        }
        r
    }

    fn apply_verdict(&mut self) -> Result<(), Error> {
        let (h, k_enc) = self
            .pending_verdict
            .take()
            .ok_or_else(|| Error::protocol("no host key awaiting a verdict"))?;
        self.set_step(Step::AwaitNewKeys);
        self.derive_keys(&h, &k_enc)?;
        self.send_newkeys()?;
        self.maybe_finish_kex()
    }

    /// Client: the application refuses the host key; the connection ends
    /// with SSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE.
    pub fn reject_host_key(&mut self, message: &str) {
        self.pending_verdict = None;
        self.disconnect(DisconnectReason::HostKeyNotVerifiable, message);
    }

    /// Server: the host key for the negotiated algorithm.
    fn our_host_key(&self) -> Result<(String, Arc<hostkey::SigningKey>), Error> {
        let alg = self
            .kex
            .as_ref()
            .and_then(|k| k.negotiated.as_ref())
            .map(|n| n.host_key.clone())
            .unwrap_or_default();
        let key = self
            .config
            .host_keys
            .iter()
            .find(|hk| hk.algorithms().contains(&alg.as_str()))
            .cloned()
            .ok_or_else(|| Error::kex(format!("no host key for {alg}")))?;
        Ok((alg, key))
    }

    /// Server: signs H and sends the reply: `reply`, then `string K_S` and
    /// `tail` when `tail` is given, then the signature; `k_enc` is K as the
    /// method encodes it.
    fn server_reply(
        &mut self,
        reply: u8,
        mid: &[u8],
        tail: Option<&[u8]>,
        k_enc: Zeroizing<Vec<u8>>,
    ) -> Result<(), Error> {
        let secret = Secret::Known {
            mid: mid.to_vec(),
            tail: tail.map(<[u8]>::to_vec),
            k_enc,
        };
        self.server_work(reply, secret)
    }

    /// Server: packages the rest of the exchange (K for DH, H, the
    /// signature) and runs it now, or, when it is slow and
    /// [`Config::offload_slow_kex`] is on, leaves it for the driver
    /// ([`Self::take_kex_work`]); later input waits meanwhile.
    fn server_work(&mut self, reply: u8, secret: Secret) -> Result<(), Error> {
        let (alg, key) = self.our_host_key()?;
        let (hash, transcript) = self.transcript()?;
        self.server_job(Job::Reply(ReplyJob {
            reply,
            secret,
            alg,
            key,
            hash,
            transcript,
        }))
    }

    /// Server: runs a step of the exchange now, or, when it is slow and
    /// [`Config::offload_slow_kex`] is on, leaves it for the driver.
    fn server_job(&mut self, job: Job) -> Result<(), Error> {
        let work = KexWork {
            id: kex_work::next_id(),
            job,
        };
        if self.config.offload_slow_kex && work.is_slow() {
            self.kex_work = WorkSlot::Queued(Box::new(work));
            return Ok(());
        }
        let done = work.run();
        self.apply_outcome(done.result?)
    }

    /// A seed for a step's randomness, from the connection's generator.
    fn draw_seed(&mut self) -> Seed {
        let mut seed = Zeroizing::new([0u8; 32]);
        self.rng.fill_bytes(&mut *seed);
        seed
    }

    /// Server: sends what a step produced.
    fn apply_outcome(&mut self, outcome: Outcome) -> Result<(), Error> {
        match outcome {
            Outcome::Reply(r) => self.send_reply(r),
            Outcome::RsaTransient(key) => self.send_rsa_pubkey(key),
        }
    }

    /// Server: opens the RSA key exchange with our host key and the
    /// transient key (RFC 4432 §4).
    fn send_rsa_pubkey(&mut self, key: Box<RsaTransientKey>) -> Result<(), Error> {
        let (_, host) = self.our_host_key()?;
        let mut m = vec![num::KEXRSA_PUBKEY];
        m.put_string(host.public_blob());
        m.put_string(key.public_blob());
        self.set_step(Step::ServerAwaitRsaSecret(key));
        self.send_now(&m);
        Ok(())
    }

    /// Server: sends the computed reply, derives the keys and sends
    /// NEWKEYS (RFC 4253 §7.3).
    fn send_reply(&mut self, r: Reply) -> Result<(), Error> {
        if self.kex_host_key.is_none() {
            self.kex_host_key = Some(r.host_key);
        }
        self.send_now(&r.message);
        self.set_step(Step::AwaitNewKeys);
        self.derive_keys(&r.h, &r.k_enc)?;
        self.send_newkeys()?;
        self.maybe_finish_kex()
    }

    /// Server: the slow step of a key exchange, when one waits to be run
    /// (only with [`Config::offload_slow_kex`]). Run it with
    /// [`KexWork::run`] wherever blocking for milliseconds is allowed and
    /// hand the result to [`Self::finish_kex_work`]; until then the
    /// connection processes no further input and sends nothing of the
    /// exchange.
    pub fn take_kex_work(&mut self) -> Option<KexWork> {
        if self.phase == Phase::Closed {
            // Nothing is sent any more: the work would be for nothing.
            if matches!(self.kex_work, WorkSlot::Queued(_)) {
                self.kex_work = WorkSlot::Idle;
            }
            return None;
        }
        match std::mem::replace(&mut self.kex_work, WorkSlot::Idle) {
            WorkSlot::Queued(work) => {
                self.kex_work = WorkSlot::Running(work.id);
                Some(*work)
            }
            other => {
                self.kex_work = other;
                None
            }
        }
    }

    /// Server: whether a [`KexWork`] taken by [`Self::take_kex_work`] has
    /// not been finished yet.
    pub fn kex_work_running(&self) -> bool {
        matches!(self.kex_work, WorkSlot::Running(_))
    }

    /// Server: goes on with the exchange with the result of the
    /// [`KexWork`] last taken by [`Self::take_kex_work`] (sends the reply
    /// and NEWKEYS, or, for the RSA key exchange's transient key,
    /// KEXRSA_PUBKEY), then processes the input that waited. Errors as
    /// [`Self::feed`]: a failed step (say, a signing error), or a result
    /// that is not the one awaited (none is, or it is another step's),
    /// queues a DISCONNECT and closes the connection.
    pub fn finish_kex_work(&mut self, done: KexWorkDone) -> Result<(), Error> {
        if self.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        let awaited = match self.kex_work {
            WorkSlot::Running(id) => id == done.id,
            _ => false,
        };
        if !awaited {
            let e = Error::kex("internal error: a key exchange result that was not awaited");
            self.fail(&e);
            return Err(e);
        }
        self.kex_work = WorkSlot::Idle;
        let r = done
            .result
            .and_then(|outcome| self.apply_outcome(outcome))
            .and_then(|()| self.process());
        if r.is_ok() {
            self.maybe_rekey();
        }
        if let Err(e) = &r {
            self.fail(e);
        }
        r
    }

    fn derive_keys(&mut self, h: &[u8], k_enc: &[u8]) -> Result<(), Error> {
        if self.session_id.is_none() {
            self.session_id = Some(h.to_vec());
        }
        let sid = self.session_id.clone().unwrap_or_default();
        let kex = self.kex.as_mut().ok_or(Error::Closed)?;
        let spec = kex.spec.ok_or_else(|| Error::kex("no kex method"))?;
        let n = kex.negotiated.clone().ok_or_else(|| Error::kex("nothing negotiated"))?;
        let make =
            |cipher_name: &str, mac_name: &str, iv: u8, key: u8, mac_letter: u8| -> Result<DirectionKeys, Error> {
                let c = cipher::lookup(cipher_name)
                    .ok_or_else(|| Error::kex(format!("unsupported cipher {cipher_name}")))?;
                let m = if c.is_aead() {
                    None
                } else {
                    let ms = mac::lookup(mac_name).ok_or_else(|| Error::kex(format!("unsupported MAC {mac_name}")))?;
                    let mk = derive(spec.hash, k_enc, h, mac_letter, &sid, ms.key_len);
                    Some(Mac::new(ms, &mk))
                };
                Ok(DirectionKeys {
                    cipher: c,
                    mac: m,
                    key: derive(spec.hash, k_enc, h, key, &sid, c.key_len),
                    iv: derive(spec.hash, k_enc, h, iv, &sid, c.iv_len),
                })
            };
        let c2s = make(&n.cipher_c2s, &n.mac_c2s, b'A', b'C', b'E')?;
        let s2c = make(&n.cipher_s2c, &n.mac_s2c, b'B', b'D', b'F')?;
        let (out, inn) = match self.role {
            Role::Client => (c2s, s2c),
            Role::Server => (s2c, c2s),
        };
        kex.out_keys = Some(out);
        kex.in_keys = Some(inn);
        Ok(())
    }

    fn send_newkeys(&mut self) -> Result<(), Error> {
        self.send_now(&[num::NEWKEYS]);
        let kex = self.kex.as_mut().ok_or(Error::Closed)?;
        let keys = kex.out_keys.take().ok_or_else(|| Error::kex("keys not derived"))?;
        kex.newkeys_sent = true;
        let mode = kex.negotiated.as_ref().map(|n| match self.role {
            Role::Client => n.comp_c2s.clone(),
            Role::Server => n.comp_s2c.clone(),
        });
        self.sealer.rekey(keys)?;
        // A fresh zlib stream with every set of keys (RFC 4253 §6.2).
        self.comp.out_mode = mode.as_deref().and_then(CompressionMode::from_name);
        self.comp.out = self
            .comp
            .out_mode
            .filter(|m| m.active_now(self.authenticated))
            .map(|_| Compressor::new());
        if self.strict {
            self.sealer.seq = 0;
        }
        if self.kex_count == 0 && self.peer_wants_ext_info {
            // RFC 8308 §2.4: the server's first packet after its NEWKEYS.
            let value = self.config.server_sig_algs.join(",");
            let ext = ExtInfo {
                extensions: vec![("server-sig-algs".into(), value.into_bytes())],
            };
            self.send_now(&ext.encode());
        }
        // What waited for the exchange goes out now, under the new keys and
        // before anything sent later (RFC 4253 §7.3): waiting for the
        // peer's NEWKEYS would let newer messages overtake it.
        for p in std::mem::take(&mut self.held) {
            self.send_now(&p);
        }
        self.held_bytes = 0;
        self.flush_all_channels()
    }

    fn on_newkeys(&mut self) -> Result<(), Error> {
        let kex = self
            .kex
            .as_mut()
            .ok_or_else(|| Error::protocol("NEWKEYS outside key exchange"))?;
        let keys = kex
            .in_keys
            .take()
            .ok_or_else(|| Error::protocol("NEWKEYS before the key exchange reply"))?;
        kex.newkeys_received = true;
        let mode = kex.negotiated.as_ref().map(|n| match self.role {
            Role::Client => n.comp_s2c.clone(),
            Role::Server => n.comp_c2s.clone(),
        });
        self.opener.rekey(keys)?;
        self.comp.in_mode = mode.as_deref().and_then(CompressionMode::from_name);
        self.comp.inn = self
            .comp
            .in_mode
            .filter(|m| m.active_now(self.authenticated))
            .map(|_| Decompressor::new());
        if self.strict {
            self.opener.seq = 0;
        }
        self.maybe_finish_kex()
    }

    fn maybe_finish_kex(&mut self) -> Result<(), Error> {
        let done = self.kex.as_ref().is_some_and(|k| k.newkeys_sent && k.newkeys_received);
        if !done {
            return Ok(());
        }
        self.kex = None;
        let first = self.kex_count == 0;
        self.kex_count = self.kex_count.saturating_add(1);
        self.events.push_back(Event::KexDone { first });
        for p in std::mem::take(&mut self.held) {
            self.send_now(&p);
        }
        self.held_bytes = 0;
        self.flush_all_channels()?;
        if first && self.role == Role::Client && !self.service_requested {
            self.service_requested = true;
            self.send_now(&encode_service(num::SERVICE_REQUEST, "ssh-userauth"));
        }
        Ok(())
    }

    // ----- services and authentication -----

    fn on_service_request(&mut self, payload: &[u8]) -> Result<(), Error> {
        let mut r = Reader::new(payload);
        r.u8()?;
        let name = String::from_utf8_lossy(r.string()?).into_owned();
        if name == "ssh-userauth" && !self.userauth_active {
            self.userauth_active = true;
            self.send(encode_service(num::SERVICE_ACCEPT, &name))
        } else {
            Err(Error::with_reason(
                DisconnectReason::ServiceNotAvailable,
                format!("service not available: {name}"),
            ))
        }
    }

    fn on_service_accept(&mut self, payload: &[u8]) -> Result<(), Error> {
        let mut r = Reader::new(payload);
        r.u8()?;
        let name = String::from_utf8_lossy(r.string()?).into_owned();
        if !self.service_requested || self.userauth_active || name != "ssh-userauth" {
            return Err(Error::protocol(format!("unexpected SERVICE_ACCEPT for {name}")));
        }
        self.userauth_active = true;
        self.events.push_back(Event::ServiceAccepted(name));
        Ok(())
    }

    fn on_ext_info(&mut self, payload: &[u8]) -> Result<(), Error> {
        let ext = ExtInfo::decode(payload)?;
        if let Some(algs) = ext.server_sig_algs() {
            self.server_sig_algs = Some(algs);
        }
        self.events.push_back(Event::ExtInfo(ext));
        Ok(())
    }

    /// Sends an arbitrary message (payload starting with its number) once
    /// the first key exchange is done; held while a re-exchange runs. For
    /// extensions the core does not know; the core's own state does not
    /// change.
    pub fn send_payload(&mut self, payload: Vec<u8>) -> Result<(), Error> {
        if self.session_id.is_none() || self.phase != Phase::Running {
            return Err(Error::protocol("cannot send before the key exchange"));
        }
        self.send(payload)
    }
}

/// [`Connection::rekey_due`] on the parts it needs (so that it can be asked
/// while a channel is borrowed).
fn rekey_due(sealer: &Sealer, opener: &Opener, config: &Config) -> bool {
    let limit = config.rekey_bytes.max(16);
    [(sealer.traffic, sealer.cipher()), (opener.traffic, opener.cipher())]
        .iter()
        .any(|(t, c)| t.bytes >= limit || t.blocks >= cipher_block_limit(c) || t.packets >= 1 << 31)
}

/// OpenSSH's `we_need`: the largest key, IV, block or MAC size in bits.
fn security_bits(n: &Negotiated) -> usize {
    let mut need = 0;
    for (c, m) in [(&n.cipher_c2s, &n.mac_c2s), (&n.cipher_s2c, &n.mac_s2c)] {
        if let Some(cs) = cipher::lookup(c) {
            need = need.max(cs.key_len).max(cs.iv_len).max(cs.block_len);
        }
        if let Some(ms) = mac::lookup(m) {
            need = need.max(ms.key_len);
        }
    }
    need * 8
}
