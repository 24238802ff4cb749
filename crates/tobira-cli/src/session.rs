//! The client's session (ssh(1), RFC 4254 §6): a remote command or an
//! interactive shell over one `session` channel, with the local terminal in
//! raw mode, escapes, window-size changes, keepalives, and the remote exit
//! status as ours.

use std::time::Duration;

use tobira::driver::{Driver, DriverError};
use tobira_proto::msg::connection::{ChannelKind, ChannelRequest};
use tobira_proto::{DisconnectReason, Event};
use tokio::io::AsyncWriteExt;

use crate::client_forward::ClientForwards;
use crate::output::OutputWriter;
use crate::safe_text::printable;
use crate::terminal::{self, EscapeAction, EscapeItem, EscapeState, RawModeGuard};

/// Input bytes queued toward the server before stdin is no longer read.
const INPUT_HIGH_WATER: usize = 1024 * 1024;

/// What to run and how (from the command line and ssh_config).
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The remote command; `None` for the login shell.
    pub command: Option<String>,
    /// Run `command` as a subsystem (`-s`).
    pub subsystem: bool,
    /// Ask for a pseudo-terminal.
    pub want_tty: bool,
    /// `-N`: no session at all.
    pub no_session: bool,
    /// Environment to send (`SendEnv` matches and `SetEnv`).
    pub env: Vec<(String, String)>,
    /// `EscapeChar` (`None` for `none`).
    pub escape_char: Option<u8>,
    /// `ServerAliveInterval` (zero: off).
    pub alive_interval: Duration,
    /// `ServerAliveCountMax`.
    pub alive_count_max: u32,
    /// The host, for messages.
    pub host: String,
    /// `-q`.
    pub quiet: bool,
    /// `LocalForward` / `-L`.
    pub local_forwards: Vec<tobira::config::client::Forward>,
    /// `RemoteForward` / `-R`.
    pub remote_forwards: Vec<tobira::config::client::Forward>,
    /// `DynamicForward` / `-D`.
    pub dynamic_forwards: Vec<tobira::config::client::Forward>,
    /// `ExitOnForwardFailure`.
    pub exit_on_forward_failure: bool,
    /// `-n`: standard input is not read; the command gets an immediate
    /// end of file.
    pub null_stdin: bool,
    /// `-f`: this is the background copy; it [`crate::background::detach`]es
    /// once its forwards are set up.
    pub background: bool,
    /// `-W host:port`.
    pub stdio_forward: Option<(String, u16)>,
    /// `-A` / `ForwardAgent`: the local agent socket to forward.
    pub forward_agent: Option<std::path::PathBuf>,
    /// `-v`: report key re-exchanges as OpenSSH's debug lines.
    pub verbose: bool,
    /// The level our messages are shown at (`LogLevel`, `-v`, `-q`).
    pub log_level: tobira::config::LogLevel,
    /// `UpdateHostKeys`, when the server may update known_hosts.
    pub host_key_update: Option<tobira::host_key_update::HostKeyUpdate>,
}

/// Runs the session to its end and returns the exit status for our
/// process: the remote command's status, 128 + its signal when killed, or
/// 255 when the connection failed.
pub async fn run(mut d: Driver<tobira::client::BoxStream>, o: SessionOptions) -> u8 {
    // `-W` writes standard output through its forward, and `-N` not at all.
    let stdout = if o.no_session {
        OutputWriter::discard()
    } else {
        OutputWriter::stdout(o.stdio_forward.is_none())
    };
    let stdout = match stdout {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tobira: standard output: {e}");
            return 255;
        }
    };
    // Standard error's writer starts with the first data for it.
    let mut out = Outputs {
        stdout,
        stderr: Stderr::NotStarted,
        later: Vec::new(),
    };
    let mut signals = Terminators::install();
    let mut killed = false;
    let mut code = run_inner(&mut d, &o, &mut out, &mut signals, &mut killed).await;
    if !killed {
        // Everything received goes out before we exit, unless a signal
        // says to stop waiting for its reader.
        if let Some(sig) = finish_unless_signalled(&mut out, &mut signals).await {
            report_killed(sig);
            code = 255;
            killed = true;
        }
    }
    if killed {
        // At once, as ssh(1), not after a reader that may never come back.
        out.abandon();
    } else {
        out.say_later();
        drop(out);
    }
    if !d.conn.is_closed() {
        d.conn
            .disconnect(DisconnectReason::ByApplication, "disconnected by user");
        let _ = d.flush().await;
    }
    code
}

/// Runs `f` with the terminal out of raw mode, if it was in it: what it
/// prints and asks (`UpdateHostKeys ask`) needs the line discipline back.
fn cooked<T>(raw: &mut Option<RawModeGuard>, f: impl FnOnce() -> T) -> T {
    let was_raw = raw.take().is_some();
    let out = f();
    if was_raw {
        *raw = RawModeGuard::enter().ok().flatten();
    }
    out
}

/// Prints a message of ours if `LogLevel` shows its level.
fn notify(o: &SessionOptions) -> impl FnMut(tobira::config::LogLevel, &str) + '_ {
    move |level, m| {
        if o.log_level >= level {
            eprint!("{m}");
        }
    }
}

fn signal_number(name: &str) -> u8 {
    match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "ABRT" => 6,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        _ => 15,
    }
}

async fn run_inner(
    d: &mut Driver<tobira::client::BoxStream>,
    o: &SessionOptions,
    out: &mut Outputs,
    signals: &mut Terminators,
    killed: &mut bool,
) -> u8 {
    let mut channel = None;
    let mut host_key_update = o.host_key_update.clone();
    let mut fwd = match ClientForwards::setup(
        &mut d.conn,
        &o.local_forwards,
        &o.remote_forwards,
        &o.dynamic_forwards,
        o.exit_on_forward_failure,
    )
    .await
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}", printable(&e.to_string()));
            return 255;
        }
    };
    fwd.set_agent(o.forward_agent.clone());
    // `-f`: into the background once the forwards are set up (and, with
    // ExitOnForwardFailure, accepted), as ssh -f.
    let mut detach_pending = o.background;
    if let Some((host, port)) = &o.stdio_forward {
        if let Err(e) = fwd.open_stdio(&mut d.conn, host, *port) {
            eprintln!("tobira: {e}");
            return 255;
        }
    }
    if !o.no_session && o.stdio_forward.is_none() {
        match d.conn.channel_open(ChannelKind::Session) {
            Ok(id) => channel = Some(id),
            Err(e) => {
                eprintln!("tobira: {e}");
                return 255;
            }
        }
    }
    // Read once the command has started (see `crate::input`).
    let mut stdin: Option<crate::input::Stdin> = None;
    // Spare buffers standard input refused, on their way back to the
    // connection (kept, so that handing them back allocates nothing).
    let mut refused: Vec<Vec<u8>> = Vec::new();
    let mut raw: Option<RawModeGuard> = None;
    let mut escapes = EscapeState::new(o.escape_char);
    let mut exit: Option<u8> = None;
    let mut started = false;
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    // After a pause of the loop (our own message to a standard error
    // nobody reads, say), one tick, not a burst of the missed ones: a
    // burst would count every keepalive as unanswered before any answer
    // is read.
    let mut alive = (!o.alive_interval.is_zero()).then(|| {
        let mut i = tokio::time::interval(o.alive_interval);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let mut unanswered = 0u32;
    let mut tty_requested = false;
    let mut stdio_closed = false;
    let mut stdio_written = false;
    loop {
        if detach_pending && !(o.exit_on_forward_failure && fwd.awaiting_replies()) {
            detach_pending = false;
            if channel.is_some() {
                // The session keeps the standard error it had.
                out.start_stderr();
            }
            crate::background::detach(o.verbose);
        }
        fwd.fw.refresh(&d.conn);
        // Output collected from the events at hand goes to standard output
        // and standard error before we wait for more.
        if !d.conn.has_events() {
            match out.stdout.flush() {
                Ok(n) => taken_from_output(d, channel, n),
                Err(_) => return 255,
            }
            let n = out.stderr_flush();
            taken_from_output(d, channel, n);
        }
        let ev = tokio::select! {
            // Terminating signals restore the terminal before we go (ssh
            // does too), and the standard pipes' blocking mode as we return.
            sig = signals.recv() => {
                drop(raw.take());
                report_killed(sig);
                *killed = true;
                return 255;
            }
            Some(msg) = fwd.fw.rx.recv() => {
                // -W: the channel closed; exit once stdout has everything.
                if let tobira::forward::FwdMsg::WriteDone(id, _) = &msg {
                    if Some(*id) == fwd.stdio_channel {
                        if stdio_closed {
                            return 0;
                        }
                        stdio_written = true;
                    }
                }
                if fwd.on_msg(&mut d.conn, msg).is_err() || d.flush().await.is_err() {
                    drop(raw.take());
                    return 255;
                }
                continue;
            }
            // Standard output has room for what waits for it.
            n = out.stdout.writable(), if out.stdout.is_waiting() => {
                match n {
                    Ok(n) => taken_from_output(d, channel, n),
                    Err(_) => return 255,
                }
                continue;
            }
            // So has standard error.
            n = async { match &mut out.stderr { Stderr::Open(e) => e.writable().await, _ => std::future::pending().await } },
                if matches!(&out.stderr, Stderr::Open(e) if e.is_waiting()) => {
                let n = n.unwrap_or_else(|_| out.stderr_closed());
                taken_from_output(d, channel, n);
                continue;
            }
            ev = d.step() => match ev {
                Ok(None) => continue,
                Ok(Some(ev)) => Ok(ev),
                Err(e) => Err(e),
            },
            // Backpressure: stdin is read only while little is queued for
            // the server's window.
            chunk = async { match stdin.as_mut() { Some(s) => s.next().await, None => std::future::pending().await } },
                if started && channel.is_some_and(|id| d.conn.channel_queued(id) < INPUT_HIGH_WATER) => {
                let Some(id) = channel else { continue };
                match chunk {
                    Some(bytes) => {
                        let items = if raw.is_some() { escapes.process(&bytes) } else { vec![EscapeItem::Data(bytes)] };
                        for item in items {
                            match item {
                                EscapeItem::Data(b) => {
                                    if let Err(e) = d.conn.channel_write_owned(id, None, b) {
                                        drop(raw.take());
                                        eprintln!("tobira: {e}");
                                        return 255;
                                    }
                                }
                                EscapeItem::Action(a) => {
                                    if let Some(code) = escape_action(d, id, a, &mut raw, &escapes).await {
                                        return code;
                                    }
                                }
                            }
                        }
                    }
                    None => {
                        let _ = d.conn.channel_eof(id);
                    }
                }
                if d.flush().await.is_err() {
                    return 255;
                }
                // Sent buffers are read into again; those standard input
                // refuses (full, or too large for it) go back afterwards,
                // not on top of the ones it would take.
                if let Some(s) = stdin.as_mut() {
                    while let Some(buf) = d.conn.spare_buffer() {
                        if let Err(buf) = s.give_back(buf) {
                            refused.push(buf);
                        }
                    }
                    for buf in refused.drain(..) {
                        d.conn.recycle(buf);
                    }
                }
                continue;
            }
            _ = async { if let Some(w) = winch.as_mut() { w.recv().await } else { std::future::pending().await } }, if tty_requested => {
                if let (Some(id), Some((c, r, w, h))) = (channel, terminal::window_size()) {
                    let _ = d.conn.channel_request(id, &ChannelRequest::WindowChange { cols: c, rows: r, width_px: w, height_px: h }, false);
                    let _ = d.flush().await;
                }
                continue;
            }
            _ = async { if let Some(a) = alive.as_mut() { a.tick().await; } else { std::future::pending::<()>().await } }, if alive.is_some() => {
                if unanswered >= o.alive_count_max {
                    drop(raw.take());
                    eprintln!("Timeout, server {} not responding.", o.host);
                    return 255;
                }
                if d.conn.global_request("keepalive@openssh.com", true, &[]).is_ok() {
                    unanswered += 1;
                }
                continue;
            }
        };
        let mut ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                drop(raw.take());
                // Said after the output that came before (see `run`).
                return match (e, exit) {
                    // After the exit status only a plain end of the connection
                    // (or the server's "by application" goodbye) keeps it: a
                    // MAC error or any other failure means output may be
                    // lost, and is reported as OpenSSH does (255).
                    (DriverError::Eof, Some(code)) => code,
                    (DriverError::Protocol(tobira_proto::Error::PeerDisconnected { code: 11, .. }), Some(code)) => code,
                    (DriverError::Protocol(tobira_proto::Error::PeerDisconnected { code, message }), _) => {
                        out.later(format!("Received disconnect from {}: {code}: {message}", o.host));
                        255
                    }
                    (DriverError::Eof, None) if o.no_session => 0,
                    (e, _) => {
                        out.later(format!("Connection to {} closed: {e}", o.host));
                        255
                    }
                };
            }
        };
        // Forwarding first: its global requests were sent before any
        // keepalive, so the first replies are its own.
        match fwd.on_event(&mut d.conn, &mut ev).await {
            Ok(true) => {
                if let Event::ChannelClosed { id } = ev {
                    if Some(id) == fwd.stdio_channel {
                        if stdio_written {
                            return 0;
                        }
                        stdio_closed = true;
                    }
                }
                continue;
            }
            Ok(false) => {}
            Err(e) => {
                drop(raw.take());
                eprintln!("{}", printable(&e));
                return 255;
            }
        }
        match ev {
            Event::ChannelOpenConfirmed { id } if Some(id) == channel => {
                if o.want_tty {
                    let (cols, rows, w, h) = terminal::window_size().unwrap_or((80, 24, 0, 0));
                    let req = ChannelRequest::PtyReq {
                        term: terminal::term_name(),
                        cols,
                        rows,
                        width_px: w,
                        height_px: h,
                        modes: terminal::encoded_modes(),
                    };
                    let _ = d.conn.channel_request(id, &req, true);
                    tty_requested = true;
                }
                if o.forward_agent.is_some() {
                    let req = ChannelRequest::Other {
                        name: "auth-agent-req@openssh.com".into(),
                        data: Vec::new(),
                    };
                    let _ = d.conn.channel_request(id, &req, false);
                }
                for (name, value) in &o.env {
                    let _ = d.conn.channel_request(
                        id,
                        &ChannelRequest::Env {
                            name: name.clone(),
                            value: value.clone(),
                        },
                        false,
                    );
                }
                let req = match (&o.command, o.subsystem) {
                    (Some(c), true) => ChannelRequest::Subsystem { name: c.clone() },
                    (Some(c), false) => ChannelRequest::Exec { command: c.clone() },
                    (None, _) => ChannelRequest::Shell,
                };
                let _ = d.conn.channel_request(id, &req, true);
            }
            Event::ChannelOpenFailed { code, message, .. } => {
                let reason = match code {
                    1 => "administratively prohibited",
                    2 => "connect failed",
                    3 => "unknown channel type",
                    4 => "resource shortage",
                    _ => "unknown reason",
                };
                eprintln!("channel 0: open failed: {reason}: {}", printable(&message));
                return 255;
            }
            Event::ChannelRequestReply { id, success } if Some(id) == channel => {
                if tty_requested && !started && raw.is_none() && !success && o.want_tty {
                    // The pty reply comes first; a refusal is reported and the
                    // session continues without one, as ssh does.
                    tty_requested = false;
                    if !o.quiet {
                        eprintln!("PTY allocation request failed on channel 0");
                    }
                    continue;
                }
                if tty_requested && raw.is_none() && !started {
                    raw = RawModeGuard::enter().ok().flatten();
                    if raw.is_none() {
                        // Not a terminal: no raw mode, the pty still runs.
                    }
                    if success {
                        continue;
                    }
                }
                if !success {
                    drop(raw.take());
                    let what = match (&o.command, o.subsystem) {
                        (Some(_), true) => "subsystem",
                        (Some(_), false) => "exec",
                        (None, _) => "shell",
                    };
                    eprintln!("{what} request failed on channel 0");
                    return 255;
                }
                if !started {
                    started = true;
                    match crate::input::Stdin::start(o.null_stdin) {
                        Ok(s) => stdin = Some(s),
                        Err(e) => {
                            drop(raw.take());
                            eprintln!("tobira: standard input: {e}");
                            return 255;
                        }
                    }
                }
            }
            Event::ChannelData { id, data } if Some(id) == channel => {
                match out.stdout.write(data) {
                    Ok(n) => taken_from_output(d, channel, n),
                    Err(_) => return 255,
                }
                out.recycle_spares(&mut d.conn);
            }
            Event::ChannelExtendedData { id, data, .. } if Some(id) == channel => {
                // Written like standard output (RFC 4254 §5.2: extended
                // data shares the channel's window).
                let n = out.stderr_write(data);
                taken_from_output(d, channel, n);
                out.recycle_spares(&mut d.conn);
            }
            Event::ChannelExtendedData { id, data, .. } => {
                // No other channel of ours has a standard error.
                let _ = d.conn.channel_consumed(id, data.len());
            }
            Event::ChannelRequest {
                id,
                request: ChannelRequest::ExitStatus { status },
                want_reply,
            } if Some(id) == channel => {
                exit = Some((status & 0xff) as u8);
                // Taken, as OpenSSH answers (RFC 4254 §6.10 asks for no
                // reply, but an answer owed blocks every later one).
                if want_reply {
                    let _ = d.conn.channel_request_reply(id, true);
                }
            }
            Event::ChannelRequest {
                id,
                request: ChannelRequest::ExitSignal { name, message, .. },
                want_reply,
            } if Some(id) == channel => {
                if !message.is_empty() && !o.quiet {
                    // After the standard error that came before it.
                    out.later(message);
                }
                exit = Some(128u8.saturating_add(signal_number(&name)));
                if want_reply {
                    let _ = d.conn.channel_request_reply(id, true);
                }
            }
            Event::ChannelRequest {
                id, want_reply: true, ..
            } => {
                let _ = d.conn.channel_request_reply(id, false);
            }
            Event::ChannelClosed { id } if Some(id) == channel => {
                // The output first, then the terminal, then our messages.
                if let Some(sig) = finish_unless_signalled(out, signals).await {
                    drop(raw.take());
                    report_killed(sig);
                    *killed = true;
                    return 255;
                }
                drop(raw.take());
                out.say_later();
                if o.want_tty && !o.quiet {
                    eprintln!("Connection to {} closed.", o.host);
                }
                return exit.unwrap_or(255);
            }
            Event::ChannelOpenRequest { id, .. } => {
                let _ = d.conn.channel_reject(id, 1, "open denied");
            }
            Event::GlobalRequest { want_reply: true, .. } => {
                let _ = d.conn.global_request_reply(false, &[]);
            }
            Event::GlobalReply { .. } => unanswered = 0,
            Event::HostKeysOffered { keys } => {
                if let Some(u) = host_key_update.as_mut() {
                    let to_prove = cooked(&mut raw, || u.offered(&keys, &mut crate::tty::ask, &mut notify(o)));
                    if !to_prove.is_empty() {
                        let _ = d.conn.prove_host_keys(to_prove);
                    }
                }
            }
            Event::HostKeysProven { keys } => {
                if let Some(u) = host_key_update.as_mut() {
                    cooked(&mut raw, || u.proven(&keys, &mut crate::tty::ask, &mut notify(o)));
                }
            }
            Event::HostKeysNotProven { reason } => {
                notify(o)(tobira::config::LogLevel::Error, &format!("{}\n", printable(&reason)));
            }
            Event::Negotiated { algorithms, .. } if o.verbose => {
                eprintln!("debug1: kex: algorithm: {}", algorithms.kex);
                eprintln!("debug1: kex: host key algorithm: {}", algorithms.host_key);
            }
            Event::KexDone { first: false } if o.verbose => eprintln!("debug1: SSH2_MSG_NEWKEYS received"),
            _ => {}
        }
    }
}

/// The signals that end the client, as they end ssh(1): SIGINT, SIGQUIT,
/// SIGTERM and SIGHUP, caught so that the terminal's modes and the
/// standard pipes' blocking mode are put back before we exit.
struct Terminators(Vec<(i32, tokio::signal::unix::Signal)>);

impl Terminators {
    /// Catches them from now on (for the rest of the process).
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            (2, SignalKind::interrupt()),
            (3, SignalKind::quit()),
            (15, SignalKind::terminate()),
            (1, SignalKind::hangup()),
        ];
        Terminators(
            kinds
                .into_iter()
                .filter_map(|(n, k)| signal(k).ok().map(|s| (n, s)))
                .collect(),
        )
    }

    /// The number of the next one to arrive. Cancel-safe.
    async fn recv(&mut self) -> i32 {
        std::future::poll_fn(|cx| {
            for (n, s) in self.0.iter_mut() {
                if s.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready(*n);
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}

/// Says "Killed by signal N." on standard error, as ssh(1) does, without
/// waiting for it: standard error may be a pipe that nobody reads (which
/// may be why we were killed). A thread of its own writes it; we give it
/// a moment, and exit without it if it is stuck.
fn report_killed(sig: i32) {
    use std::io::Write;
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = std::thread::Builder::new().name("killed".into()).spawn(move || {
        let _ = writeln!(std::io::stderr(), "Killed by signal {sig}.");
        let _ = tx.send(());
    });
    if writer.is_ok() {
        let _ = rx.recv_timeout(Duration::from_millis(100));
    }
}

/// The session channel's standard output and standard error, and our own
/// messages that wait for them.
struct Outputs {
    stdout: OutputWriter,
    stderr: Stderr,
    /// Messages of ours about the end of the session, printed once what
    /// came before them is written ([`Self::say_later`]).
    later: Vec<String>,
}

/// Standard error's writer, started with the first extended data.
enum Stderr {
    NotStarted,
    Open(OutputWriter),
    /// Closed by its reader (or it could not start): what comes for it
    /// is dropped.
    Closed,
}

impl Outputs {
    /// Adds `data` for standard error, starting its writer if needed;
    /// returns the bytes taken (see [`OutputWriter::write`]). Once
    /// standard error is closed (its reader gone), what is sent for it is
    /// dropped but still counts as taken, so that the window stays open
    /// for standard output: the session goes on, as ssh(1)'s does.
    fn stderr_write(&mut self, data: Vec<u8>) -> usize {
        self.start_stderr();
        let Stderr::Open(e) = &mut self.stderr else {
            return data.len();
        };
        e.write(data).unwrap_or_else(|_| self.stderr_closed())
    }

    /// Starts standard error's writer now, on the standard error we have
    /// now (before `-f` puts `/dev/null` there).
    fn start_stderr(&mut self) {
        if matches!(self.stderr, Stderr::NotStarted) {
            self.stderr = OutputWriter::stderr().map_or(Stderr::Closed, Stderr::Open);
        }
    }

    /// Writes what standard error's batch holds, as [`OutputWriter::flush`];
    /// the bytes taken.
    fn stderr_flush(&mut self) -> usize {
        let Stderr::Open(e) = &mut self.stderr else {
            return 0;
        };
        e.flush().unwrap_or_else(|_| self.stderr_closed())
    }

    /// Standard error failed: drops its writer and returns what it still
    /// held, which counts as taken.
    fn stderr_closed(&mut self) -> usize {
        match std::mem::replace(&mut self.stderr, Stderr::Closed) {
            Stderr::Open(e) => e.unwritten(),
            _ => 0,
        }
    }

    /// Gives the buffers both have written back to the connection
    /// (`Connection::recycle`), for the next packets' data.
    fn recycle_spares(&mut self, conn: &mut tobira_proto::Connection) {
        while let Some(buf) = self.stdout.take_spare() {
            conn.recycle(buf);
        }
        if let Stderr::Open(e) = &mut self.stderr {
            while let Some(buf) = e.take_spare() {
                conn.recycle(buf);
            }
        }
    }

    /// Gives up on what both still hold (see [`OutputWriter::abandon`]).
    fn abandon(self) {
        self.stdout.abandon();
        if let Stderr::Open(e) = self.stderr {
            e.abandon();
        }
    }

    /// Writes out everything both still hold.
    async fn finish(&mut self) {
        self.stdout.finish().await;
        if let Stderr::Open(e) = &mut self.stderr {
            e.finish().await;
        }
    }

    /// Keeps `message` for [`Self::say_later`]: it comes after the
    /// command's standard error that arrived before it.
    fn later(&mut self, message: String) {
        self.later.push(message);
    }

    /// Prints the messages kept by [`Self::later`], once [`Self::finish`]
    /// has written what came before them.
    fn say_later(&mut self) {
        // The server's words among them (a disconnect reason, an
        // exit-signal message).
        for m in self.later.drain(..) {
            eprintln!("{}", printable(&m));
        }
    }
}

/// Writes out what standard output and standard error still hold, unless
/// one of `signals` comes first (its number, then).
async fn finish_unless_signalled(out: &mut Outputs, signals: &mut Terminators) -> Option<i32> {
    tokio::select! {
        _ = out.finish() => None,
        sig = signals.recv() => Some(sig),
    }
}

/// Reports `n` bytes of the session channel's data as written out, which
/// reopens its window for the server (RFC 4254 §5.2).
fn taken_from_output(d: &mut Driver<tobira::client::BoxStream>, channel: Option<u32>, n: usize) {
    if let (Some(id), true) = (channel, n > 0) {
        let _ = d.conn.channel_consumed(id, n);
    }
}

/// Applies an escape; `Some(code)` ends the session.
async fn escape_action(
    d: &mut Driver<tobira::client::BoxStream>,
    id: u32,
    a: EscapeAction,
    raw: &mut Option<RawModeGuard>,
    escapes: &EscapeState,
) -> Option<u8> {
    let mut err = tokio::io::stderr();
    match a {
        EscapeAction::Disconnect => {
            drop(raw.take());
            return Some(255);
        }
        EscapeAction::Suspend => {
            if let Some(r) = raw.as_mut() {
                let _ = r.suspend();
            }
        }
        EscapeAction::SendBreak => {
            let _ = d.conn.channel_request(id, &ChannelRequest::Break { ms: 500 }, false);
        }
        EscapeAction::Rekey => d.conn.start_rekey(),
        EscapeAction::Help(text) | EscapeAction::Message(text) => {
            let _ = err.write_all(text.as_bytes()).await;
        }
        EscapeAction::ListForwards => {
            let _ = err
                .write_all(b"The following connections are open:\r\n  #0 client-session\r\n")
                .await;
        }
        _ => {
            let _ = err.write_all(escapes.help().as_bytes()).await;
        }
    }
    let _ = err.flush().await;
    None
}
