//! The connection protocol (RFC 4254): channels with flow control, channel
//! requests, global requests. Data the application writes is queued per
//! channel and sent as the peer's window allows; EOF and CLOSE follow the
//! queued data so nothing is lost.

use std::collections::{BTreeMap, VecDeque};

use super::host_key_rotation;
use super::window::{Window, MAX_GROWTH};
use super::{Connection, Event, Phase};
use crate::error::Error;
use crate::msg::connection::{open_failure, ChannelKind, ChannelRequest};
use crate::msg::num;
use crate::transport::packet::PADDING_ROOM;
use crate::wire::{Reader, Writer};

/// Our receive window per channel when it opens (RFC 4254 §5.2); it grows
/// with the bandwidth-delay product (see `window.rs`).
pub const LOCAL_WINDOW: u32 = 2 * 1024 * 1024;
/// The largest data packet we accept.
pub const LOCAL_MAX_PACKET: u32 = 32 * 1024;
/// Queue marker for a complete channel request message.
const REQUEST_MARK: u32 = u32::MAX;
/// The largest maximum packet size a peer may announce (2^31).
const MAX_REMOTE_PACKET: u32 = 1 << 31;
/// Channels open at once on one connection, at most.
pub const MAX_CHANNELS: usize = 1024;
/// The most data one [`Event::ChannelData`] (or extended data) event
/// gathers: consecutive data packets of a channel that arrive in one read
/// become one event up to this size, so the application writes them on
/// in one system call and reports them consumed once.
pub const MAX_DATA_EVENT: usize = 256 * 1024;
/// Data buffers kept for reuse (given back with [`Connection::recycle`],
/// or sent): enough for a starting window of [`MAX_DATA_EVENT`] events in
/// flight between the connection and the application (a grown window
/// allocates beyond it).
const SPARE_BUFFERS: usize = LOCAL_WINDOW as usize / MAX_DATA_EVENT;
/// Bytes the application may queue on one channel beyond the peer's window.
pub const MAX_QUEUED: usize = 16 * 1024 * 1024;
/// Answers a connection may owe the peer at once, per channel and for
/// global requests (RFC 4254 §4, §5.4). Answers go out in order, so those
/// the core knows wait behind one the application has not given; a peer
/// that keeps asking meanwhile (keepalives, window probes) is disconnected
/// past this many instead of growing the queue without end. Requests the
/// application has not yet seen count too: a peer may send this many
/// at once without waiting for answers (OpenSSH's `ssh` sends one
/// `tcpip-forward` per `RemoteForward`, all at once), not more.
pub const MAX_ANSWERS_OWED: usize = 4096;
/// Unwritten output past which channel data stays in its channel's queue
/// until less than this is left to write ([`Connection::consume_output`]
/// then seals the next burst). A burst may end up to one packet longer.
///
/// When a WINDOW_ADJUST opens a megabyte or more, sealing all of it before
/// anything is written leaves the peer idle meanwhile: an OpenSSH
/// receiver, single-threaded, asks for more when half its 2 MiB window is
/// left and then waits on us. Written in bursts, the first packets are on
/// their way while the rest is being sealed. Measured on 2 cores
/// (`tobira` uploading 2 GiB to `sshd`, chacha20-poly1305, four
/// alternating runs each): 551–575 MiB/s sealing whole windows,
/// 682–770 MiB/s in 256 KiB bursts, where `ssh` does about 680. Transfers
/// between tobira and tobirad did not change.
pub const OUTPUT_BURST: usize = 256 * 1024;

#[derive(Debug)]
struct Channel {
    remote_id: Option<u32>,
    remote_window: u32,
    remote_max_packet: u32,
    local_window: u32,
    /// Data waiting for window: (extended data code, bytes); `Some(u32::MAX)`
    /// marks a complete message (a channel request) to send in turn.
    queue: VecDeque<(Option<u32>, Vec<u8>)>,
    /// Bytes of the front entry of `queue` already sent: a large write
    /// goes out a packet at a time without moving its rest each time.
    front_sent: usize,
    queued: usize,
    eof_wanted: bool,
    eof_sent: bool,
    eof_received: bool,
    close_wanted: bool,
    close_sent: bool,
    close_received: bool,
    /// Our requests awaiting CHANNEL_SUCCESS/FAILURE, in the order sent:
    /// `true` for a window probe (answered to the core), `false` for the
    /// application's.
    replies_due: VecDeque<bool>,
    /// Answers owed to the peer's requests, in order: `None` while the
    /// application decides, `Some(success)` once known.
    answers: VecDeque<Option<bool>>,
    /// Opened by the peer and not yet accepted or refused.
    pending_accept: bool,
    /// Bytes the next WINDOW_ADJUST grants: received bytes the
    /// application has consumed, and the window's growth.
    consumed: u32,
    /// The size the receive window is kept at, and its growth.
    window: Window,
}

impl Channel {
    /// Counts `n` more bytes as consumed by the application, never more
    /// than the window lacks: `local_window + consumed` stays within the
    /// window's size, so an adjust always grants something and never more
    /// than the window.
    fn consume(&mut self, n: u32) {
        let before = self.consumed;
        self.grant(n);
        self.window.taken(self.consumed - before);
    }

    /// Makes `n` more bytes grantable at the next adjust (consumption, or
    /// a window's growth), within the window's size.
    fn grant(&mut self, n: u32) {
        let room = self.window.size.saturating_sub(self.local_window);
        self.consumed = self.consumed.saturating_add(n).min(room);
    }

    fn new() -> Self {
        Channel {
            remote_id: None,
            remote_window: 0,
            remote_max_packet: 0,
            local_window: LOCAL_WINDOW,
            queue: VecDeque::new(),
            front_sent: 0,
            queued: 0,
            eof_wanted: false,
            eof_sent: false,
            eof_received: false,
            close_wanted: false,
            close_sent: false,
            close_received: false,
            replies_due: VecDeque::new(),
            answers: VecDeque::new(),
            pending_accept: false,
            consumed: 0,
            window: Window::new(),
        }
    }
}

/// Who waits for the reply to one of our global requests.
#[derive(Debug)]
pub(super) enum ReplyOwner {
    /// The application: the reply becomes [`Event::GlobalReply`].
    Application,
    /// Our own `hostkeys-prove-00@openssh.com` for these key blobs.
    HostKeyProof(Vec<Vec<u8>>),
}

/// The channel table and global-request bookkeeping of a connection.
#[derive(Debug, Default)]
pub struct Channels {
    map: BTreeMap<u32, Channel>,
    /// Our global requests awaiting a reply, oldest first (RFC 4254 §4:
    /// replies come in request order).
    pub(super) global_replies_due: VecDeque<ReplyOwner>,
    /// Answers owed to the peer's global requests, in order (see
    /// `Channel::answers`).
    global_answers: VecDeque<Option<(bool, Vec<u8>)>>,
    /// The client said `no-more-sessions@openssh.com`.
    pub no_more_sessions: bool,
    /// How far the channels' receive windows have grown beyond
    /// [`LOCAL_WINDOW`], together (at most [`MAX_GROWTH`]).
    grown: u32,
    /// Closed channels whose answers to our requests (window probes
    /// above all) may still come: a peer may answer a request that
    /// crossed its CLOSE. Their ids are not reused until then.
    orphans: BTreeMap<u32, usize>,
    /// Data buffers the application gave back, for the next data events
    /// (memory that is already mapped: no page faults per packet).
    spare: Vec<Vec<u8>>,
    /// Bytes of received input after the packet being dispatched: how
    /// much more data may follow into the same event.
    pub(super) input_after: usize,
    /// WINDOW_ADJUST messages and window probes sealed so far (see
    /// `Connection::answerable_packets_sent`).
    pub(super) window_messages: u64,
}

impl Channels {
    /// The lowest id not in use. An id whose end ([`Event::ChannelClosed`],
    /// [`Event::ChannelOpenFailed`]) the application has not taken yet is
    /// not reused: until then, what the application does with that id is
    /// for the old channel and must not reach a new one.
    fn free_id(&self, events: &VecDeque<Event>) -> Option<u32> {
        if self.map.len() >= MAX_CHANNELS {
            return None;
        }
        let ending: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                Event::ChannelClosed { id } | Event::ChannelOpenFailed { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        (0u32..).find(|i| !self.map.contains_key(i) && !ending.contains(i) && !self.orphans.contains_key(i))
    }

    /// Forgets a channel; its window growth goes back to the budget, and
    /// the answers still due to it are awaited without it.
    fn remove(&mut self, id: u32) {
        if let Some(ch) = self.map.remove(&id) {
            self.grown = self.grown.saturating_sub(ch.window.growth());
            // Bounded: past that, a late answer ends the connection as
            // any message for an unknown channel does.
            if !ch.replies_due.is_empty() && self.orphans.len() < MAX_CHANNELS {
                self.orphans.insert(id, ch.replies_due.len());
            }
        }
    }

    /// An answer for a closed channel that still had requests out: taken
    /// (true) and dropped, or false when none was due.
    fn orphan_reply(&mut self, id: u32) -> bool {
        let Some(n) = self.orphans.get_mut(&id) else {
            return false;
        };
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.orphans.remove(&id);
        }
        true
    }
}

fn bad(msg: String) -> Error {
    Error::protocol(msg)
}

impl Connection {
    pub(super) fn connection_ready(&self) -> Result<(), Error> {
        if !self.authenticated || self.phase != Phase::Running {
            return Err(Error::protocol(
                "the connection protocol needs an authenticated connection",
            ));
        }
        Ok(())
    }

    pub(super) fn on_connection_message(&mut self, msg: u8, payload: &[u8]) -> Result<(), Error> {
        let mut r = Reader::new(payload);
        r.u8()?;
        match msg {
            num::GLOBAL_REQUEST => {
                let name = String::from_utf8_lossy(r.string()?).into_owned();
                let want_reply = r.bool()?;
                let data = r.remaining().to_vec();
                if want_reply && self.chans.global_answers.len() >= MAX_ANSWERS_OWED {
                    return Err(bad(format!(
                        "{MAX_ANSWERS_OWED} global requests already await an answer"
                    )));
                }
                match name.as_str() {
                    // Answered here, in turn with the application's answers.
                    "keepalive@openssh.com" => {
                        if want_reply {
                            self.chans.global_answers.push_back(Some((false, Vec::new())));
                        }
                    }
                    host_key_rotation::ANNOUNCE => {
                        self.on_host_keys_announced(&data);
                        if want_reply {
                            // A client takes it, whatever it held, as
                            // OpenSSH's does; a server has no use for it.
                            let taken = self.role == super::Role::Client;
                            self.chans.global_answers.push_back(Some((taken, Vec::new())));
                        }
                    }
                    host_key_rotation::PROVE => {
                        let proof = self.host_key_proof(&data);
                        if want_reply {
                            let answer = match proof {
                                Some(sigs) => (true, sigs),
                                None => (false, Vec::new()),
                            };
                            self.chans.global_answers.push_back(Some(answer));
                        }
                    }
                    "no-more-sessions@openssh.com" => {
                        self.chans.no_more_sessions = true;
                        // Taken (OpenSSH's sshd answers success when asked).
                        if want_reply {
                            self.chans.global_answers.push_back(Some((true, Vec::new())));
                        }
                    }
                    _ => {
                        if want_reply {
                            self.chans.global_answers.push_back(None);
                        }
                        self.events.push_back(Event::GlobalRequest { name, want_reply, data });
                    }
                }
                self.flush_global_answers()
            }
            num::REQUEST_SUCCESS | num::REQUEST_FAILURE => {
                let success = msg == num::REQUEST_SUCCESS;
                let event = match self.chans.global_replies_due.pop_front() {
                    None => return Err(bad("unexpected global request reply".into())),
                    Some(ReplyOwner::Application) => Event::GlobalReply {
                        success,
                        data: r.remaining().to_vec(),
                    },
                    Some(ReplyOwner::HostKeyProof(keys)) => self.check_host_key_proof(keys, success, r.remaining()),
                };
                self.events.push_back(event);
                Ok(())
            }
            num::CHANNEL_OPEN => self.on_channel_open(&mut r),
            _ => {
                let id = r.u32()?;
                if matches!(msg, num::CHANNEL_SUCCESS | num::CHANNEL_FAILURE)
                    && !self.chans.map.contains_key(&id)
                    && self.chans.orphan_reply(id)
                {
                    return Ok(());
                }
                let ch = self
                    .chans
                    .map
                    .get_mut(&id)
                    .ok_or_else(|| bad(format!("message {msg} for unknown channel {id}")))?;
                if ch.pending_accept
                    || (ch.remote_id.is_none()
                        && !matches!(msg, num::CHANNEL_OPEN_CONFIRMATION | num::CHANNEL_OPEN_FAILURE))
                {
                    return Err(bad(format!("message {msg} for channel {id} before it is open")));
                }
                match msg {
                    num::CHANNEL_OPEN_CONFIRMATION => {
                        if ch.remote_id.is_some() {
                            return Err(bad(format!("channel {id}: duplicate open confirmation")));
                        }
                        let remote = r.u32()?;
                        let window = r.u32()?;
                        let max_packet = r.u32()?;
                        if max_packet == 0 || max_packet > MAX_REMOTE_PACKET {
                            return Err(bad(format!("channel {id}: bad maximum packet size {max_packet}")));
                        }
                        ch.remote_id = Some(remote);
                        ch.remote_window = window;
                        ch.remote_max_packet = max_packet;
                        self.events.push_back(Event::ChannelOpenConfirmed { id });
                        self.flush_channel(id)
                    }
                    num::CHANNEL_OPEN_FAILURE => {
                        if ch.remote_id.is_some() {
                            return Err(bad(format!("channel {id}: open failure after confirmation")));
                        }
                        let code = r.u32()?;
                        let message = String::from_utf8_lossy(r.string()?).into_owned();
                        self.chans.remove(id);
                        self.events.push_back(Event::ChannelOpenFailed { id, code, message });
                        Ok(())
                    }
                    num::CHANNEL_WINDOW_ADJUST => {
                        let n = r.u32()?;
                        ch.remote_window = ch
                            .remote_window
                            .checked_add(n)
                            .ok_or_else(|| bad(format!("channel {id}: window adjust overflows the window")))?;
                        self.flush_channel(id)
                    }
                    num::CHANNEL_DATA | num::CHANNEL_EXTENDED_DATA => {
                        let code = if msg == num::CHANNEL_EXTENDED_DATA {
                            Some(r.u32()?)
                        } else {
                            None
                        };
                        let data = r.string()?;
                        let len = data.len() as u32;
                        if len > LOCAL_MAX_PACKET {
                            return Err(bad(format!(
                                "channel {id}: received a {len}-byte packet, over the maximum {LOCAL_MAX_PACKET}"
                            )));
                        }
                        if len > ch.local_window {
                            return Err(bad(format!(
                                "channel {id}: received {len} bytes, more than the window of {}",
                                ch.local_window
                            )));
                        }
                        ch.local_window -= len;
                        // RFC 4254 §5.2: data after EOF is not allowed; like
                        // OpenSSH, it is discarded.
                        if ch.eof_received || ch.close_received {
                            return Ok(());
                        }
                        if self.config.auto_window_adjust {
                            ch.consume(len);
                            self.adjust_window(id)?;
                        }
                        self.push_data_event(id, code, data);
                        Ok(())
                    }
                    num::CHANNEL_EOF => {
                        ch.eof_received = true;
                        self.events.push_back(Event::ChannelEof { id });
                        Ok(())
                    }
                    num::CHANNEL_CLOSE => {
                        if ch.close_received {
                            return Err(bad(format!("channel {id}: duplicate close")));
                        }
                        ch.close_received = true;
                        // Queued data can no longer be delivered.
                        ch.queue.clear();
                        ch.front_sent = 0;
                        ch.queued = 0;
                        ch.close_wanted = true;
                        self.flush_channel(id)
                    }
                    num::CHANNEL_REQUEST => {
                        let name = String::from_utf8_lossy(r.string()?).into_owned();
                        let want_reply = r.bool()?;
                        let request = ChannelRequest::decode(&name, &mut r)?;
                        if want_reply && ch.answers.len() >= MAX_ANSWERS_OWED {
                            return Err(bad(format!(
                                "channel {id}: {MAX_ANSWERS_OWED} requests already await an answer"
                            )));
                        }
                        if matches!(request, ChannelRequest::Keepalive | ChannelRequest::WindowProbe) {
                            // Answered here, in turn (OpenSSH answers failure).
                            if want_reply {
                                ch.answers.push_back(Some(false));
                            }
                            return self.flush_answers(id);
                        }
                        if want_reply {
                            ch.answers.push_back(None);
                        }
                        self.events.push_back(Event::ChannelRequest {
                            id,
                            request,
                            want_reply,
                        });
                        Ok(())
                    }
                    num::CHANNEL_SUCCESS | num::CHANNEL_FAILURE => {
                        let Some(probe) = ch.replies_due.pop_front() else {
                            return Err(bad(format!("channel {id}: unexpected request reply")));
                        };
                        if probe {
                            // A round trip since the probe: the window may grow.
                            let grow = ch.window.probe_answered(MAX_GROWTH.saturating_sub(self.chans.grown));
                            if grow > 0 {
                                self.chans.grown = self.chans.grown.saturating_add(grow);
                                ch.grant(grow);
                                tracing::debug!("channel {id}: receive window grows to {} bytes", ch.window.size);
                                return self.adjust_window(id);
                            }
                            return Ok(());
                        }
                        self.events.push_back(Event::ChannelRequestReply {
                            id,
                            success: msg == num::CHANNEL_SUCCESS,
                        });
                        Ok(())
                    }
                    _ => Err(bad(format!("unknown connection protocol message {msg}"))),
                }
            }
        }
    }

    fn on_channel_open(&mut self, r: &mut Reader<'_>) -> Result<(), Error> {
        let kind_name = String::from_utf8_lossy(r.string()?).into_owned();
        let sender = r.u32()?;
        let window = r.u32()?;
        let max_packet = r.u32()?;
        let kind = ChannelKind::decode(&kind_name, r)?;
        let refuse = |c: &mut Connection, code: u32, why: &str| -> Result<(), Error> {
            let mut m = vec![num::CHANNEL_OPEN_FAILURE];
            m.put_u32(sender);
            m.put_u32(code);
            m.put_string(why.as_bytes());
            m.put_string(b"");
            c.send(m)
        };
        if max_packet == 0 || max_packet > MAX_REMOTE_PACKET {
            return refuse(
                self,
                open_failure::ADMINISTRATIVELY_PROHIBITED,
                "bad maximum packet size",
            );
        }
        if kind == ChannelKind::Session && self.chans.no_more_sessions {
            return Err(bad("session channel opened after no-more-sessions@openssh.com".into()));
        }
        let Some(id) = self.chans.free_id(&self.events) else {
            return refuse(self, open_failure::RESOURCE_SHORTAGE, "too many channels");
        };
        let mut ch = Channel::new();
        ch.remote_id = Some(sender);
        ch.remote_window = window;
        ch.remote_max_packet = max_packet;
        ch.pending_accept = true;
        self.chans.map.insert(id, ch);
        self.events.push_back(Event::ChannelOpenRequest { id, kind });
        Ok(())
    }

    /// Accepts a channel the peer opened (CHANNEL_OPEN_CONFIRMATION).
    pub fn channel_accept(&mut self, id: u32) -> Result<(), Error> {
        let ch = self
            .chans
            .map
            .get_mut(&id)
            .ok_or_else(|| bad(format!("no channel {id}")))?;
        if !ch.pending_accept {
            return Err(bad(format!("channel {id} is not awaiting acceptance")));
        }
        ch.pending_accept = false;
        let mut m = vec![num::CHANNEL_OPEN_CONFIRMATION];
        m.put_u32(ch.remote_id.unwrap_or_default());
        m.put_u32(id);
        m.put_u32(LOCAL_WINDOW);
        m.put_u32(LOCAL_MAX_PACKET);
        self.send(m)
    }

    /// Refuses a channel the peer opened (CHANNEL_OPEN_FAILURE, RFC 4254 §5.1).
    pub fn channel_reject(&mut self, id: u32, code: u32, message: &str) -> Result<(), Error> {
        let ch = self.chans.map.get(&id).ok_or_else(|| bad(format!("no channel {id}")))?;
        if !ch.pending_accept {
            return Err(bad(format!("channel {id} is not awaiting acceptance")));
        }
        let remote = ch.remote_id.unwrap_or_default();
        self.chans.remove(id);
        let mut m = vec![num::CHANNEL_OPEN_FAILURE];
        m.put_u32(remote);
        m.put_u32(code);
        m.put_string(message.as_bytes());
        m.put_string(b"");
        self.send(m)
    }

    /// Opens a channel; the answer comes as [`Event::ChannelOpenConfirmed`]
    /// or [`Event::ChannelOpenFailed`] with the returned id.
    pub fn channel_open(&mut self, kind: ChannelKind) -> Result<u32, Error> {
        self.connection_ready()?;
        let id = self
            .chans
            .free_id(&self.events)
            .ok_or_else(|| bad("too many channels".into()))?;
        self.chans.map.insert(id, Channel::new());
        let mut m = vec![num::CHANNEL_OPEN];
        m.put_string(kind.name().as_bytes());
        m.put_u32(id);
        m.put_u32(LOCAL_WINDOW);
        m.put_u32(LOCAL_MAX_PACKET);
        kind.encode_fields(&mut m);
        self.send(m)?;
        Ok(id)
    }

    /// Sends a channel request (RFC 4254 §6). With `want_reply` the answer
    /// comes as [`Event::ChannelRequestReply`].
    pub fn channel_request(&mut self, id: u32, request: &ChannelRequest, want_reply: bool) -> Result<(), Error> {
        let ch = self.open_channel(id)?;
        if ch.close_sent || ch.close_received {
            return Ok(());
        }
        if want_reply {
            ch.replies_due.push_back(false);
        }
        let m = request_message(ch.remote_id.unwrap_or_default(), request, want_reply);
        // After any data still waiting for window, so that e.g. exit-status
        // follows the output it ends.
        ch.queue.push_back((Some(REQUEST_MARK), m));
        self.flush_channel(id)
    }

    /// Answers the oldest request of this channel that wanted a reply.
    pub fn channel_request_reply(&mut self, id: u32, success: bool) -> Result<(), Error> {
        let ch = self.open_channel(id)?;
        let slot = ch
            .answers
            .iter_mut()
            .find(|a| a.is_none())
            .ok_or_else(|| bad(format!("channel {id}: no request awaits a reply")))?;
        *slot = Some(success);
        self.flush_answers(id)
    }

    /// Sends the answers that are known, in order (RFC 4254 §5.4).
    fn flush_answers(&mut self, id: u32) -> Result<(), Error> {
        let Some(ch) = self.chans.map.get_mut(&id) else {
            return Ok(());
        };
        let remote = ch.remote_id.unwrap_or_default();
        let mut out = Vec::new();
        while let Some(Some(success)) = ch.answers.front().copied() {
            ch.answers.pop_front();
            if !ch.close_sent {
                let mut m = vec![if success {
                    num::CHANNEL_SUCCESS
                } else {
                    num::CHANNEL_FAILURE
                }];
                m.put_u32(remote);
                out.push(m);
            }
        }
        for m in out {
            self.send(m)?;
        }
        Ok(())
    }

    fn open_channel(&mut self, id: u32) -> Result<&mut Channel, Error> {
        let ch = self
            .chans
            .map
            .get_mut(&id)
            .ok_or_else(|| bad(format!("no channel {id}")))?;
        if ch.remote_id.is_none() || ch.pending_accept {
            return Err(bad(format!("channel {id} is not open")));
        }
        Ok(ch)
    }

    /// Queues data (or extended data with `code`, 1 = stderr) for the
    /// channel; it is sent as the peer's window allows.
    pub fn channel_write(&mut self, id: u32, code: Option<u32>, data: &[u8]) -> Result<(), Error> {
        // Room after the data for the padding of its last packet (see
        // `Sealer::seal_parts`).
        let mut owned = Vec::with_capacity(data.len().saturating_add(PADDING_ROOM));
        owned.extend_from_slice(data);
        self.channel_write_owned(id, code, owned)
    }

    /// [`Self::channel_write`] for data the caller owns: the buffer is
    /// queued as it is, without a copy (RFC 4254 §5.2). With AES-GCM its
    /// packets are encrypted from it straight into the output; leaving
    /// [`PADDING_ROOM`] bytes of spare capacity after the data spares the
    /// last packet a copy.
    pub fn channel_write_owned(&mut self, id: u32, code: Option<u32>, data: Vec<u8>) -> Result<(), Error> {
        let ch = self
            .chans
            .map
            .get_mut(&id)
            .ok_or_else(|| bad(format!("no channel {id}")))?;
        // The peer has closed it (our CLOSE may still wait for a key
        // re-exchange to end): nothing more can be delivered (RFC 4254
        // §5.3), so the data is dropped, not an error.
        if ch.close_received {
            return Ok(());
        }
        if ch.eof_wanted || ch.close_wanted {
            return Err(bad(format!("channel {id}: write after EOF or close")));
        }
        if ch.queued + data.len() > MAX_QUEUED {
            return Err(bad(format!("channel {id}: too much data queued")));
        }
        if data.is_empty() {
            return Ok(());
        }
        ch.queued += data.len();
        ch.queue.push_back((code, data));
        self.flush_channel(id)
    }

    /// Queues received channel data: appended to the last queued event when
    /// that is data of the same channel and stream (still in order, and
    /// at most [`MAX_DATA_EVENT`] bytes), else a new event in a recycled
    /// buffer when there is one.
    fn push_data_event(&mut self, id: u32, code: Option<u32>, data: &[u8]) {
        let last = match self.events.back_mut() {
            Some(Event::ChannelData { id: i, data: d }) if *i == id && code.is_none() => Some(d),
            Some(Event::ChannelExtendedData {
                id: i,
                code: c,
                data: d,
            }) if *i == id && Some(*c) == code => Some(d),
            _ => None,
        };
        if let Some(d) = last {
            if d.len().saturating_add(data.len()) <= MAX_DATA_EVENT {
                d.extend_from_slice(data);
                return;
            }
        }
        let mut buf = self.chans.spare.pop().unwrap_or_else(|| {
            // Room for what may follow in this read, so that appending
            // does not move the data.
            let hint = data.len().saturating_add(self.chans.input_after);
            Vec::with_capacity(hint.min(MAX_DATA_EVENT).max(data.len()))
        });
        buf.clear();
        buf.extend_from_slice(data);
        self.events.push_back(match code {
            Some(code) => Event::ChannelExtendedData { id, code, data: buf },
            None => Event::ChannelData { id, data: buf },
        });
    }

    /// Gives back the buffer of a data event the application is done with;
    /// the connection reuses its memory for later data events. Optional.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        keep_spare(&mut self.chans.spare, buf);
    }

    /// A buffer to build the next [`Self::channel_write_owned`] in: one of
    /// the data buffers the connection has finished with (sent, or given
    /// back with [`Self::recycle`]), whose memory is already mapped; empty,
    /// with its capacity. `None` when there is none.
    pub fn spare_buffer(&mut self) -> Option<Vec<u8>> {
        let mut buf = self.chans.spare.pop()?;
        // Empty: its old contents (another channel's data) stay private.
        buf.clear();
        Some(buf)
    }

    /// Bytes held in spare data buffers.
    pub fn spare_bytes(&self) -> usize {
        self.chans.spare.iter().map(Vec::capacity).sum()
    }

    /// Frees the spare data buffers (a connection that has gone quiet).
    pub fn drop_spare_buffers(&mut self) {
        self.chans.spare = Vec::new();
    }

    /// The application has consumed `n` received bytes of the channel (written
    /// them on); the window is reopened accordingly (RFC 4254 §5.2). Only
    /// with `Config::auto_window_adjust` off: with it on, the window
    /// reopens as data arrives. Counts beyond what was received are
    /// ignored: the window never opens past its size.
    pub fn channel_consumed(&mut self, id: u32, n: usize) -> Result<(), Error> {
        if let Some(ch) = self.chans.map.get_mut(&id) {
            ch.consume(u32::try_from(n).unwrap_or(u32::MAX));
            self.adjust_window(id)?;
        }
        Ok(())
    }

    /// Sends WINDOW_ADJUST once a quarter of the window has been consumed
    /// (or half of it is used): the peer always has three quarters of the
    /// window or more to send in, so a transfer over a long path is not
    /// held to half the window per round trip (OpenSSH adjusts after every
    /// three maximum packets, which costs a busy sender a message to handle
    /// every 96 KiB).
    fn adjust_window(&mut self, id: u32) -> Result<(), Error> {
        let Some(ch) = self.chans.map.get_mut(&id) else {
            return Ok(());
        };
        let size = ch.window.size;
        let due = ch.consumed >= size / 4 || ch.local_window < size / 2;
        if !due || ch.consumed == 0 || ch.close_sent || ch.close_received {
            return Ok(());
        }
        let add = ch.consumed.min(size.saturating_sub(ch.local_window));
        ch.consumed -= add;
        ch.local_window += add;
        let remote = ch.remote_id.unwrap_or_default();
        let mut m = vec![num::CHANNEL_WINDOW_ADJUST];
        m.put_u32(remote);
        m.put_u32(add);
        // A probe goes with it while the window may grow, unless one of
        // the application's requests still waits in the queue: replies
        // come in the order requests are sent.
        let probe = self.config.window_growth
            && !ch.eof_received
            && ch.window.wants_probe(MAX_GROWTH.saturating_sub(self.chans.grown))
            && !ch.queue.iter().any(|(c, _)| *c == Some(REQUEST_MARK));
        self.send(m)?;
        if probe {
            self.send(request_message(remote, &ChannelRequest::WindowProbe, true))?;
            // Recorded once it is on its way: a probe that could not be
            // sent must not take the channel's next real reply.
            if let Some(ch) = self.chans.map.get_mut(&id) {
                ch.window.probe_sent();
                ch.replies_due.push_back(true);
            }
        }
        Ok(())
    }

    /// The receive window the channel is kept at (RFC 4254 §5.2):
    /// [`LOCAL_WINDOW`] at first, more once it has grown with the
    /// bandwidth-delay product (up to [`super::MAX_WINDOW`]).
    pub fn channel_receive_window(&self, id: u32) -> Option<u32> {
        self.chans.map.get(&id).map(|c| c.window.size)
    }

    /// Bytes queued on the channel and not yet sent.
    pub fn channel_queued(&self, id: u32) -> usize {
        self.chans.map.get(&id).map_or(0, |c| c.queued)
    }

    /// True while the channel exists (until both sides closed it).
    pub fn channel_exists(&self, id: u32) -> bool {
        self.chans.map.contains_key(&id)
    }

    /// Sends EOF after the queued data (RFC 4254 §5.3).
    pub fn channel_eof(&mut self, id: u32) -> Result<(), Error> {
        if let Some(ch) = self.chans.map.get_mut(&id) {
            ch.eof_wanted = true;
            self.flush_channel(id)?;
        }
        Ok(())
    }

    /// Closes the channel after the queued data (RFC 4254 §5.3).
    pub fn channel_close(&mut self, id: u32) -> Result<(), Error> {
        if let Some(ch) = self.chans.map.get_mut(&id) {
            ch.close_wanted = true;
            self.flush_channel(id)?;
        }
        Ok(())
    }

    /// Sends what the window allows; then EOF and CLOSE when wanted and
    /// the queue is empty; forgets the channel when both closes are done.
    fn flush_channel(&mut self, id: u32) -> Result<(), Error> {
        // During a key re-exchange channel data stays in its channel's
        // queue (bounded by the application's backpressure) rather than in
        // the connection's hold buffer; it moves once the new keys are in.
        if self.kex.as_ref().is_some_and(|k| !k.newkeys_sent) {
            return Ok(());
        }
        self.maybe_rekey();
        if self.kex.as_ref().is_some_and(|k| !k.newkeys_sent) {
            return Ok(());
        }
        // The usual case: packets are built straight into the output
        // buffer and encrypted there, without a message per packet.
        let direct = self.held.is_empty() && self.comp.out.is_none() && !self.config.trace;
        let Connection {
            chans,
            sealer,
            opener,
            config,
            out: wire,
            out_start,
            burst_held,
            rng,
            ..
        } = self;
        let Some(ch) = chans.map.get_mut(&id) else {
            return Ok(());
        };
        let Some(remote) = ch.remote_id else { return Ok(()) };
        if ch.pending_accept {
            return Ok(());
        }
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut held_for_burst = false;
        macro_rules! emit {
            ($m:expr) => {
                if direct {
                    sealer.seal(&$m, &mut **rng, wire);
                } else {
                    out.push($m);
                }
            };
        }
        while !ch.close_sent {
            if let Some((Some(REQUEST_MARK), _)) = ch.queue.front() {
                if let Some((_, m)) = ch.queue.pop_front() {
                    emit!(m);
                }
                continue;
            }
            // Sending directly, the rekey limit is checked per packet: the
            // rest waits in the queue for the new keys.
            if ch.remote_window == 0 || (direct && super::rekey_due(sealer, opener, config)) {
                break;
            }
            let sent = ch.front_sent;
            let Some((code, buf)) = ch.queue.front_mut() else {
                break;
            };
            if direct && wire.len().saturating_sub(*out_start) >= OUTPUT_BURST {
                // The rest goes once less than a burst is left to write.
                *burst_held = true;
                held_for_burst = true;
                break;
            }
            let left = buf.len().saturating_sub(sent);
            let n = left.min(ch.remote_window as usize).min(ch.remote_max_packet as usize);
            // The message up to its data (RFC 4254 §5.2).
            let mut head = [0u8; 13];
            let head = match *code {
                Some(c) => {
                    head[0] = num::CHANNEL_EXTENDED_DATA;
                    head[1..5].copy_from_slice(&remote.to_be_bytes());
                    head[5..9].copy_from_slice(&c.to_be_bytes());
                    head[9..13].copy_from_slice(&(n as u32).to_be_bytes());
                    &head[..13]
                }
                None => {
                    head[0] = num::CHANNEL_DATA;
                    head[1..5].copy_from_slice(&remote.to_be_bytes());
                    head[5..9].copy_from_slice(&(n as u32).to_be_bytes());
                    &head[..9]
                }
            };
            if direct {
                // Sealed from the queued buffer into the output.
                sealer.seal_parts(head, buf, sent..sent + n, &mut **rng, wire);
            } else {
                let mut m = Vec::with_capacity(head.len() + n);
                m.extend_from_slice(head);
                m.extend_from_slice(buf.get(sent..sent + n).unwrap_or_default());
                out.push(m);
            }
            ch.remote_window -= n as u32;
            ch.queued -= n;
            if n == left {
                if let Some((_, buf)) = ch.queue.pop_front() {
                    keep_spare(&mut chans.spare, buf);
                }
                ch.front_sent = 0;
            } else {
                ch.front_sent += n;
            }
        }
        let empty = ch.queue.is_empty();
        if empty && ch.eof_wanted && !ch.eof_sent && !ch.close_sent {
            ch.eof_sent = true;
            let mut m = vec![num::CHANNEL_EOF];
            m.put_u32(remote);
            emit!(m);
        }
        if empty && ch.close_wanted && !ch.close_sent {
            ch.close_sent = true;
            let mut m = vec![num::CHANNEL_CLOSE];
            m.put_u32(remote);
            emit!(m);
        }
        let done = ch.close_sent && ch.close_received;
        let stopped_for_rekey = direct && !held_for_burst && !ch.queue.is_empty() && ch.remote_window > 0;
        for m in out {
            self.send(m)?;
        }
        if done {
            self.chans.remove(id);
            self.events.push_back(Event::ChannelClosed { id });
        }
        if stopped_for_rekey {
            // Starts the re-exchange; the queue moves on after NEWKEYS.
            self.maybe_rekey();
        }
        Ok(())
    }

    /// Seals the next burst of channel data ([`OUTPUT_BURST`]). Channels
    /// take turns going first, so that one with bulk data and an open
    /// window does not hold another's keystrokes back for longer than a
    /// burst.
    pub(super) fn flush_next_burst(&mut self) -> Result<(), Error> {
        if let Some(first) = self.flush_channels_from(self.burst_first)? {
            self.burst_first = first.wrapping_add(1);
        }
        Ok(())
    }

    /// Sends what every channel can send (after a key re-exchange).
    pub(super) fn flush_all_channels(&mut self) -> Result<(), Error> {
        self.flush_channels_from(0).map(drop)
    }

    /// Sends what every channel can send, the first id at or after
    /// `start` first, wrapping around; returns the id that went first.
    fn flush_channels_from(&mut self, start: u32) -> Result<Option<u32>, Error> {
        let ids: Vec<u32> = (self.chans.map.range(start..).chain(self.chans.map.range(..start)))
            .map(|(id, _)| *id)
            .collect();
        for &id in &ids {
            self.flush_channel(id)?;
        }
        Ok(ids.first().copied())
    }

    /// Sends a global request (RFC 4254 §4); with `want_reply` the answer
    /// comes as [`Event::GlobalReply`].
    pub fn global_request(&mut self, name: &str, want_reply: bool, data: &[u8]) -> Result<(), Error> {
        self.connection_ready()?;
        if want_reply {
            self.chans.global_replies_due.push_back(ReplyOwner::Application);
        }
        let mut m = vec![num::GLOBAL_REQUEST];
        m.put_string(name.as_bytes());
        m.put_bool(want_reply);
        m.extend_from_slice(data);
        self.send(m)
    }

    /// Answers the oldest global request that wanted a reply.
    pub fn global_request_reply(&mut self, success: bool, data: &[u8]) -> Result<(), Error> {
        let slot = self
            .chans
            .global_answers
            .iter_mut()
            .find(|a| a.is_none())
            .ok_or_else(|| bad("no global request awaits a reply".into()))?;
        *slot = Some((success, data.to_vec()));
        self.flush_global_answers()
    }

    /// Sends the known global answers, in order (RFC 4254 §4).
    fn flush_global_answers(&mut self) -> Result<(), Error> {
        while let Some(Some(_)) = self.chans.global_answers.front() {
            let Some(Some((success, data))) = self.chans.global_answers.pop_front() else {
                break;
            };
            let mut m = vec![if success {
                num::REQUEST_SUCCESS
            } else {
                num::REQUEST_FAILURE
            }];
            if success {
                m.extend_from_slice(&data);
            }
            self.send(m)?;
        }
        Ok(())
    }
}

/// True for the messages a receiving channel sends to keep its window open:
/// WINDOW_ADJUST (RFC 4254 §5.2) and the window probes that go with it. A
/// sending peer does not stop to wait for them (see
/// `Connection::answerable_packets_sent`).
pub(super) fn is_window_message(payload: &[u8]) -> bool {
    match payload.first() {
        Some(&num::CHANNEL_WINDOW_ADJUST) => true,
        Some(&num::CHANNEL_REQUEST) => {
            let name = ChannelRequest::WindowProbe.name().as_bytes();
            // byte code, uint32 recipient channel, string request type
            let len = u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes();
            payload.get(5..9) == Some(&len[..]) && payload.get(9..9 + name.len()) == Some(name)
        }
        _ => false,
    }
}

/// SSH_MSG_CHANNEL_REQUEST for the peer's channel `remote` (RFC 4254 §5.4).
fn request_message(remote: u32, request: &ChannelRequest, want_reply: bool) -> Vec<u8> {
    let mut m = vec![num::CHANNEL_REQUEST];
    m.put_u32(remote);
    m.put_string(request.name().as_bytes());
    m.put_bool(want_reply);
    request.encode_fields(&mut m);
    m
}

/// Keeps `buf` for reuse if the pool has room and it is a bulk-sized
/// buffer (small ones are not worth keeping, huge ones cost too much).
fn keep_spare(spare: &mut Vec<Vec<u8>>, buf: Vec<u8>) {
    let cap = buf.capacity();
    if spare.len() < SPARE_BUFFERS && (4096..=2 * MAX_DATA_EVENT).contains(&cap) {
        spare.push(buf);
    }
}

pub(super) fn new_table() -> Channels {
    Channels::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Consumption counted twice (the automatic adjust and the
    /// application's `channel_consumed`, or an application's mistake)
    /// never grants more than was received: the window cannot open past
    /// its size, and an adjust is never for zero bytes.
    #[test]
    fn consumption_is_capped_at_what_was_received() {
        let mut ch = Channel::new();
        ch.local_window -= 1000;
        ch.consume(1000);
        ch.consume(1000);
        assert_eq!(ch.consumed, 1000);
        ch.consume(u32::MAX);
        assert_eq!(ch.consumed, 1000);
        assert_eq!(ch.local_window + ch.consumed, LOCAL_WINDOW);
    }
}
