//! The server's sessions (RFC 4254 §6, sshd(8)): each `session` channel
//! runs the user's shell, a command or a subsystem as the logged-in user,
//! with pipes or a pseudo-terminal, and reports its exit. The connection
//! task owns the protocol; each session's I/O runs in its own tasks and
//! talks to the connection task through a channel.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tobira_proto::msg::connection::{open_failure, ChannelKind, ChannelRequest};
use tobira_proto::transport::packet::PADDING_ROOM;
use tobira_proto::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, info};

use crate::account::Account;
use crate::authorized_keys::KeyOptions;
use crate::config::server::ServerConfig;
use crate::process::{self, ExitReason, Program, PtyRequest, SessionIo, SessionUser, SpawnRequest};

/// Bytes of output a session may have queued toward the client before its
/// reader waits (flow control from the channel window to the child).
const OUTPUT_HIGH_WATER: usize = 1024 * 1024;
/// A read buffer for a program's output. Each read asks for this less the
/// padding room, a little under the 64 KiB its pipe holds (see
/// `process.rs`): measured in `bench/`, emptying the pipe to the byte each
/// time (or reading 128 KiB from a larger pipe) made downloads slower.
const READ_SIZE: usize = 64 * 1024;
/// Messages in flight from a connection's session tasks (at most
/// `READ_SIZE` bytes each) to the connection.
const SESSION_QUEUE: usize = 16;

/// A session's channel id and generation: channel ids are reused, so
/// messages of an earlier program on the same id are recognised as stale.
pub type SessionKey = (u32, u64);

/// What a session's tasks tell the connection task.
#[derive(Debug)]
pub enum SessionMsg {
    /// Output of the child (stdout, or the pty).
    Data(SessionKey, Vec<u8>),
    /// Standard error of the child.
    Stderr(SessionKey, Vec<u8>),
    /// One output stream ended.
    OutputDone(SessionKey),
    /// The child exited.
    Exit(SessionKey, ExitReason),
    /// The child read this input (the window may reopen); the buffer goes
    /// back to the connection for reuse.
    Consumed(SessionKey, Vec<u8>),
}

/// Requests to the task that owns a running program.
enum Control {
    Break,
    Signal(String),
    Resize(u32, u32, u32, u32),
    Kill,
}

struct Session {
    gen: u64,
    pty: Option<PtyRequest>,
    env: Vec<(String, String)>,
    started: bool,
    stdin: Option<mpsc::UnboundedSender<Option<Vec<u8>>>>,
    control: Option<mpsc::UnboundedSender<Control>>,
    streams_open: u32,
    exit: Option<ExitReason>,
    queued: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    /// Set when the channel or connection is gone: the output pumps stop
    /// waiting for the client and let go of the pipes.
    closed: Arc<AtomicBool>,
    /// Notified when `closed` is set, for pumps blocked in a read.
    ended: Arc<Notify>,
}

impl Session {
    /// Ends the program and releases the output pumps.
    fn end(self) {
        if let Some(c) = self.control {
            if self.exit.is_none() {
                let _ = c.send(Control::Kill);
            }
        }
        self.closed.store(true, Ordering::Release);
        self.wake.notify_waiters();
        self.ended.notify_waiters();
    }
}

/// Everything the sessions of one connection share.
pub struct Sessions {
    map: HashMap<u32, Session>,
    tx: mpsc::Sender<SessionMsg>,
    /// Messages from the session tasks.
    pub rx: mpsc::Receiver<SessionMsg>,
    config: Arc<ServerConfig>,
    account: Account,
    key_options: Option<KeyOptions>,
    peer: SocketAddr,
    local: SocketAddr,
    switch_user: bool,
    next_gen: u64,
}

/// Glob match of `AcceptEnv` patterns (`*`, `?`).
fn env_accepted(patterns: &[String], name: &str) -> bool {
    patterns
        .iter()
        .flat_map(|p| p.split_whitespace())
        .any(|p| crate::config::match_pattern(name, p))
}

fn exit_request(reason: &ExitReason) -> ChannelRequest {
    match reason {
        ExitReason::Status(s) => ChannelRequest::ExitStatus { status: *s },
        ExitReason::Signal { name, core_dumped } => ChannelRequest::ExitSignal {
            name: name.clone(),
            core_dumped: *core_dumped,
            message: String::new(),
        },
    }
}

impl Sessions {
    /// Sessions for an authenticated user.
    pub fn new(
        config: Arc<ServerConfig>,
        account: Account,
        key_options: Option<KeyOptions>,
        peer: SocketAddr,
        local: SocketAddr,
        switch_user: bool,
    ) -> Self {
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        Sessions {
            map: HashMap::new(),
            tx,
            rx,
            config,
            account,
            key_options,
            peer,
            local,
            switch_user,
            next_gen: 0,
        }
    }

    /// A channel open from the client (`session` channels; forwarding is
    /// refused until it exists).
    pub fn on_open(&mut self, conn: &mut Connection, id: u32, kind: &ChannelKind) -> Result<(), tobira_proto::Error> {
        match kind {
            ChannelKind::Session => {
                if self.map.len() >= self.config.max_sessions as usize {
                    return conn.channel_reject(id, open_failure::ADMINISTRATIVELY_PROHIBITED, "open failed");
                }
                self.map.insert(
                    id,
                    Session {
                        gen: 0,
                        pty: None,
                        env: Vec::new(),
                        started: false,
                        stdin: None,
                        control: None,
                        streams_open: 0,
                        exit: None,
                        queued: Arc::new(AtomicUsize::new(0)),
                        wake: Arc::new(Notify::new()),
                        ended: Arc::new(Notify::new()),
                        closed: Arc::new(AtomicBool::new(false)),
                    },
                );
                conn.channel_accept(id)
            }
            other => conn.channel_reject(
                id,
                open_failure::ADMINISTRATIVELY_PROHIBITED,
                &format!("channel type {} is not supported yet", other.name()),
            ),
        }
    }

    /// A channel request from the client.
    pub async fn on_request(
        &mut self,
        conn: &mut Connection,
        id: u32,
        request: ChannelRequest,
        want_reply: bool,
    ) -> Result<(), tobira_proto::Error> {
        let is_shell = request == ChannelRequest::Shell;
        let ok = self.handle_request(id, request).await;
        if want_reply {
            conn.channel_request_reply(id, ok)?;
        }
        // sshd(8): PrintMotd shows /etc/motd to interactive logins.
        if ok && is_shell && self.config.print_motd {
            if let Ok(motd) = std::fs::read("/etc/motd") {
                let motd = motd.strip_suffix(b"\n").map(|m| [m, b"\r\n"].concat()).unwrap_or(motd);
                conn.channel_write(id, None, &motd)?;
            }
        }
        Ok(())
    }

    async fn handle_request(&mut self, id: u32, request: ChannelRequest) -> bool {
        let no_pty = self.key_options.as_ref().is_some_and(|o| o.no_pty) || !self.config.permit_tty;
        let Some(s) = self.map.get_mut(&id) else { return false };
        match request {
            ChannelRequest::PtyReq {
                term,
                cols,
                rows,
                width_px,
                height_px,
                modes,
            } => {
                if no_pty || s.started || s.pty.is_some() {
                    return false;
                }
                s.pty = Some(PtyRequest {
                    term,
                    cols,
                    rows,
                    width_px,
                    height_px,
                    modes: decode_modes(&modes),
                });
                true
            }
            ChannelRequest::Env { name, value } => {
                if s.started || !env_accepted(&self.config.accept_env, &name) {
                    debug!("Ignored env {name}");
                    return false;
                }
                s.env.push((name, value));
                true
            }
            ChannelRequest::Shell => self.start(id, None).await,
            ChannelRequest::Exec { command } => self.start(id, Some(Program::Exec(command))).await,
            ChannelRequest::Subsystem { name } => match self.config.subsystem.get(&name).cloned() {
                Some(cmd) if !cmd.starts_with("internal-") => self.start(id, Some(Program::Subsystem(cmd))).await,
                _ => {
                    info!(
                        "subsystem request for {name} by user {} failed, subsystem not found",
                        self.account.name
                    );
                    false
                }
            },
            ChannelRequest::WindowChange {
                cols,
                rows,
                width_px,
                height_px,
            } => {
                if let Some(p) = s.pty.as_mut() {
                    p.cols = cols;
                    p.rows = rows;
                }
                s.pty.is_some()
                    && s.control
                        .as_ref()
                        .is_some_and(|c| c.send(Control::Resize(cols, rows, width_px, height_px)).is_ok())
            }
            ChannelRequest::Signal { name } => s
                .control
                .as_ref()
                .is_some_and(|c| c.send(Control::Signal(name)).is_ok()),
            // RFC 4335: a BREAK on the pty; refused without one.
            ChannelRequest::Break { .. } => {
                s.pty.is_some() && s.control.as_ref().is_some_and(|c| c.send(Control::Break).is_ok())
            }
            _ => false,
        }
    }

    /// Starts the session's program (`None`: the login shell).
    async fn start(&mut self, id: u32, program: Option<Program>) -> bool {
        let forced = self
            .key_options
            .as_ref()
            .and_then(|o| o.command.clone())
            .or_else(|| self.config.force_command.clone());
        let Some(s) = self.map.get_mut(&id) else { return false };
        if s.started {
            return false;
        }
        let (program, original) = match (forced, program) {
            (Some(f), p) => {
                let orig = match p {
                    Some(Program::Exec(c)) | Some(Program::Subsystem(c)) => Some(c),
                    _ => None,
                };
                (Program::Exec(f), orig)
            }
            (None, Some(p)) => (p, None),
            (None, None) => (Program::Shell, None),
        };
        let mut env = Vec::new();
        for (k, v) in &self.config.set_env {
            env.push((k.clone(), v.clone()));
        }
        if let Some(o) = &self.key_options {
            env.extend(o.environment.iter().cloned());
        }
        env.extend(s.env.iter().cloned());
        let req = SpawnRequest {
            user: SessionUser {
                name: self.account.name.clone(),
                uid: self.account.uid,
                gid: self.account.gid,
                home: self.account.home.clone(),
                shell: self.account.shell.clone(),
            },
            program,
            pty: s.pty.clone(),
            env,
            ssh_client: format!("{} {} {}", self.peer.ip(), self.peer.port(), self.local.port()),
            ssh_connection: format!(
                "{} {} {} {}",
                self.peer.ip(),
                self.peer.port(),
                self.local.ip(),
                self.local.port()
            ),
            original_command: original,
            switch_user: self.switch_user,
        };
        let (child, io) = match process::spawn(req).await {
            Ok(x) => x,
            Err(e) => {
                info!("session: failed to start program for {}: {e}", self.account.name);
                return false;
            }
        };
        s.started = true;
        self.next_gen += 1;
        s.gen = self.next_gen;
        let key: SessionKey = (id, s.gen);
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        s.control = Some(ctl_tx);
        // Unbounded, yet bounded by the channel window: the window reopens
        // only as the child consumes its input (SessionMsg::Consumed).
        let (in_tx, in_rx) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
        s.stdin = Some(in_tx);
        let tx = self.tx.clone();
        let queued = s.queued.clone();
        let wake = s.wake.clone();
        let flow = |queued: Arc<AtomicUsize>, wake: Arc<Notify>| Flow {
            queued,
            wake,
            closed: s.closed.clone(),
            ended: s.ended.clone(),
        };
        match io {
            SessionIo::Pipes { stdin, stdout, stderr } => {
                s.streams_open = 2;
                tokio::spawn(feed_input(key, stdin, in_rx, tx.clone()));
                tokio::spawn(pump_output(
                    key,
                    stdout,
                    false,
                    tx.clone(),
                    flow(queued.clone(), wake.clone()),
                ));
                tokio::spawn(pump_output(key, stderr, true, tx.clone(), flow(queued, wake)));
            }
            SessionIo::Pty { master } => {
                s.streams_open = 1;
                let (reader, writer) = tokio::io::split(master);
                tokio::spawn(feed_input(key, writer, in_rx, tx.clone()));
                tokio::spawn(pump_output(key, reader, false, tx.clone(), flow(queued, wake)));
            }
        }
        tokio::spawn(own_program(key, child, ctl_rx, tx));
        true
    }

    /// Adds a variable to a session's environment before its program starts
    /// (e.g. SSH_AUTH_SOCK for a forwarded agent).
    pub fn set_env(&mut self, id: u32, name: &str, value: &str) {
        if let Some(s) = self.map.get_mut(&id) {
            s.env.retain(|(n, _)| n != name);
            s.env.push((name.to_string(), value.to_string()));
        }
    }

    /// Data from the client for the program's input.
    pub fn on_data(&mut self, conn: &mut Connection, id: u32, data: Vec<u8>) -> Result<(), tobira_proto::Error> {
        match self.map.get(&id).and_then(|s| s.stdin.clone()) {
            Some(tx) => {
                let _ = tx.send(Some(data));
                Ok(())
            }
            // Nobody reads it: consumed at once so the client is not stuck.
            None => {
                conn.channel_consumed(id, data.len())?;
                conn.recycle(data);
                Ok(())
            }
        }
    }

    /// The client's EOF: the program's input ends.
    pub fn on_eof(&mut self, id: u32) {
        if let Some(s) = self.map.get_mut(&id) {
            if let Some(tx) = s.stdin.take() {
                let _ = tx.send(None);
            }
        }
    }

    /// The channel is gone: the program's process group is ended.
    pub fn on_closed(&mut self, id: u32) {
        if let Some(s) = self.map.remove(&id) {
            s.end();
        }
    }

    /// Updates each session's view of its queued output (flow control).
    pub fn refresh(&self, conn: &Connection) {
        for (id, s) in &self.map {
            s.queued.store(conn.channel_queued(*id), Ordering::Relaxed);
            s.wake.notify_one();
        }
    }

    /// A message from a session task.
    pub fn on_msg(&mut self, conn: &mut Connection, msg: SessionMsg) -> Result<(), tobira_proto::Error> {
        let key = match &msg {
            SessionMsg::Data(k, _) | SessionMsg::Stderr(k, _) | SessionMsg::Consumed(k, _) => *k,
            SessionMsg::OutputDone(k) | SessionMsg::Exit(k, _) => *k,
        };
        let (id, gen) = key;
        // A message of an earlier program on a reused channel id is stale.
        if self.map.get(&id).is_none_or(|s| s.gen != gen) {
            return Ok(());
        }
        match msg {
            SessionMsg::Data(_, data) if conn.channel_exists(id) => conn.channel_write_owned(id, None, data)?,
            SessionMsg::Stderr(_, data) if conn.channel_exists(id) => conn.channel_write_owned(id, Some(1), data)?,
            SessionMsg::Consumed(_, buf) => {
                if conn.channel_exists(id) {
                    conn.channel_consumed(id, buf.len())?;
                }
                conn.recycle(buf);
            }
            SessionMsg::OutputDone(_) => {
                if let Some(s) = self.map.get_mut(&id) {
                    s.streams_open = s.streams_open.saturating_sub(1);
                }
            }
            SessionMsg::Exit(_, reason) => {
                if let Some(s) = self.map.get_mut(&id) {
                    s.exit = Some(reason);
                }
            }
            _ => {}
        }
        self.finish_done(conn)
    }

    /// Sessions whose program exited and whose output is drained: exit
    /// status, EOF, CLOSE (in that order, as sshd).
    fn finish_done(&mut self, conn: &mut Connection) -> Result<(), tobira_proto::Error> {
        let done: Vec<u32> = self
            .map
            .iter()
            .filter(|(_, s)| s.started && s.streams_open == 0 && s.exit.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(s) = self.map.get_mut(&id) {
                if let Some(reason) = s.exit.take() {
                    if conn.channel_exists(id) {
                        conn.channel_eof(id)?;
                        conn.channel_request(id, &exit_request(&reason), false)?;
                        conn.channel_close(id)?;
                    }
                    s.started = false;
                    s.stdin = None;
                }
            }
        }
        Ok(())
    }

    /// Ends every program (the connection is gone).
    pub fn shutdown(&mut self) {
        for (_, s) in self.map.drain() {
            s.end();
        }
    }
}

/// RFC 4254 §8 encoded terminal modes → (opcode, value) pairs; stops at
/// TTY_OP_END or at opcodes 160–255 (which have no defined argument).
pub fn decode_modes(bytes: &[u8]) -> Vec<(u8, u32)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&op) = bytes.get(i) {
        if op == 0 || op >= 160 {
            break;
        }
        let Some(v) = bytes.get(i + 1..i + 5) else { break };
        out.push((op, u32::from_be_bytes([v[0], v[1], v[2], v[3]])));
        i += 5;
    }
    out
}

/// Owns the running program: waits for it, and applies signals, window
/// changes and the kill on channel close as they come.
async fn own_program(
    id: SessionKey,
    mut child: process::Session,
    mut ctl: mpsc::UnboundedReceiver<Control>,
    tx: mpsc::Sender<SessionMsg>,
) {
    let mut open = true;
    let reason = loop {
        tokio::select! {
            r = child.wait() => break r.unwrap_or(ExitReason::Status(255)),
            c = ctl.recv(), if open => match c {
                Some(Control::Signal(name)) => {
                    let _ = child.signal(&name);
                }
                Some(Control::Resize(c, r, w, h)) => {
                    let _ = child.resize(c, r, w, h);
                }
                Some(Control::Kill) => child.kill_group(),
                Some(Control::Break) => {
                    let _ = child.send_break();
                }
                None => {
                    open = false;
                    child.kill_group();
                }
            },
        }
    };
    let _ = tx.send(SessionMsg::Exit(id, reason)).await;
}

async fn feed_input<W: tokio::io::AsyncWrite + Unpin>(
    id: SessionKey,
    mut w: W,
    mut rx: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    tx: mpsc::Sender<SessionMsg>,
) {
    let mut broken = false;
    while let Some(item) = rx.recv().await {
        match item {
            Some(data) => {
                // After a write error the input is still drained and
                // reported consumed, so the client is never stuck.
                if !broken && w.write_all(&data).await.is_err() {
                    broken = true;
                }
                if tx.send(SessionMsg::Consumed(id, data)).await.is_err() {
                    return;
                }
            }
            None => break,
        }
    }
    let _ = w.shutdown().await;
}

/// A session's output flow control, shared with its pumps.
struct Flow {
    queued: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    closed: Arc<AtomicBool>,
    ended: Arc<Notify>,
}

/// Moves a program's output to the channel until its end, or until the
/// session ends: a background job may hold the output open for ever after
/// the client has gone, and the pipe must not stay with tobirad.
async fn pump_output<R: tokio::io::AsyncRead + Unpin>(
    id: SessionKey,
    r: R,
    stderr: bool,
    tx: mpsc::Sender<SessionMsg>,
    flow: Flow,
) {
    let ended = flow.ended.clone();
    let closed = flow.closed.clone();
    tokio::select! {
        () = pump(id, r, stderr, tx, flow) => {}
        () = until_ended(&closed, &ended) => {}
    }
}

async fn pump<R: tokio::io::AsyncRead + Unpin>(
    id: SessionKey,
    mut r: R,
    stderr: bool,
    tx: mpsc::Sender<SessionMsg>,
    flow: Flow,
) {
    let Flow {
        queued, wake, closed, ..
    } = flow;
    loop {
        while queued.load(Ordering::Relaxed) > OUTPUT_HIGH_WATER {
            if closed.load(Ordering::Relaxed) {
                return;
            }
            // Woken by the connection as the client takes data; the timeout
            // only bounds a wake-up lost to a race with `Session::end`.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(250), wake.notified()).await;
        }
        if closed.load(Ordering::Relaxed) {
            return;
        }
        // Read into a buffer of its own, which then travels to the channel
        // queue as it is (no copy of bulk output). The last bytes stay
        // free: AES-GCM packets are sealed from this buffer straight into
        // the output, with the padding written just after their data
        // (`Sealer::seal_parts`), so the last packet needs room for it.
        let mut buf = Vec::with_capacity(READ_SIZE);
        let n = match (&mut r)
            .take((READ_SIZE - PADDING_ROOM) as u64)
            .read_buf(&mut buf)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if n < READ_SIZE / 4 {
            buf.shrink_to(n + PADDING_ROOM);
        }
        queued.fetch_add(n, Ordering::Relaxed);
        let msg = if stderr {
            SessionMsg::Stderr(id, buf)
        } else {
            SessionMsg::Data(id, buf)
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
    let _ = tx.send(SessionMsg::OutputDone(id)).await;
}

/// Returns once the session has ended (`closed`, then `ended` notified by
/// `Session::end`). The waiter is registered before `closed` is checked,
/// so no notification is lost between the two.
async fn until_ended(closed: &AtomicBool, ended: &Notify) {
    loop {
        let notified = ended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if closed.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_decoding_is_bounded() {
        assert_eq!(decode_modes(&[1, 0, 0, 0, 3, 53, 0, 0, 0, 1, 0]), vec![(1, 3), (53, 1)]);
        assert_eq!(decode_modes(&[1, 0, 0]), vec![]);
        assert_eq!(decode_modes(&[200, 1, 2, 3, 4]), vec![]);
        assert!(env_accepted(&["LANG LC_*".into()], "LC_ALL"));
        assert!(!env_accepted(&["LANG LC_*".into()], "PATH"));
    }
}
