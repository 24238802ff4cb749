//! The server: accepts TCP connections and runs one task per connection
//! around a server-role [`Connection`]. Log lines follow sshd's wording.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use tobira_proto::msg::connection::ChannelRequest;
use tobira_proto::{Connection, Event};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use crate::admission::{self, Admission, Penalties, Ticket};
use crate::config::server::ServerConfig;
use crate::connection_threads::ConnectionThreads;
use crate::driver::{Driver, DriverError};
use crate::server_auth::{AuthState, Decision, Outcome, PolicyContext};
use crate::server_forward::ServerForwards;
use crate::server_session::Sessions;

/// Settings shared by every connection of a server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The protocol configuration (algorithms, host keys, moduli); its
    /// `auto_window_adjust` is turned off for every connection, whose
    /// windows reopen as data is written on, and `offload_slow_kex` is
    /// turned on (the driver runs those steps on tokio's blocking pool).
    pub proto: Arc<tobira_proto::Config>,
    /// `LoginGraceTime`: None disables the limit.
    pub login_grace_time: Option<Duration>,
    /// Print every packet to stderr (`--trace`).
    pub trace: bool,
    /// The server configuration (authentication policy).
    pub config: Arc<ServerConfig>,
    /// Running as root: authenticate system accounts.
    pub is_root: bool,
    /// Secret for the per-user failure delay.
    pub delay_secret: [u8; 32],
}

/// Accepts connections on every listener until the process ends. Each new
/// connection takes the settings current in `settings` (so a SIGHUP reload
/// applies to new connections; established ones keep theirs).
pub async fn serve(
    listeners: Vec<TcpListener>,
    settings: tokio::sync::watch::Receiver<Arc<ServerSettings>>,
) -> std::io::Result<()> {
    // Admission control (MaxStartups, PerSourcePenalties) is shared by
    // every listener and keeps the limits the server started with.
    let admission = {
        let cfg = &settings.borrow().config;
        let penalties = Penalties::parse(&cfg.per_source_penalties).map_err(std::io::Error::other)?;
        let exempt = cfg.per_source_penalty_exempt_list.iter().cloned().collect();
        Admission::new(cfg.max_startups, penalties, exempt)
    };
    // Each connection runs on one of these threads from accept to close
    // (see `connection_threads`).
    let threads = Arc::new(ConnectionThreads::per_core("tobira-conn")?);
    let mut tasks = Vec::new();
    for l in listeners {
        let s = settings.clone();
        let a = Arc::clone(&admission);
        let t = Arc::clone(&threads);
        tasks.push(tokio::spawn(async move { accept_loop(l, s, a, t).await }));
    }
    for t in tasks {
        t.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    settings: tokio::sync::watch::Receiver<Arc<ServerSettings>>,
    admission: Arc<Admission>,
    threads: Arc<ConnectionThreads>,
) -> std::io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let roll = rand::Rng::gen_range(&mut rand::thread_rng(), 0..100);
                let ticket = match admission.admit(peer.ip(), std::time::Instant::now(), roll) {
                    Ok(t) => t,
                    Err(refusal) => {
                        // As sshd: the socket is closed at once, before the
                        // identification string.
                        info!("{refusal}");
                        drop(stream);
                        continue;
                    }
                };
                let s = settings.borrow().clone();
                // The socket moves to its connection thread's runtime.
                let stream = match stream.into_std() {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!("accept: {e}");
                        continue;
                    }
                };
                let started = threads.spawn(move || async move {
                    match TcpStream::from_std(stream) {
                        Ok(stream) => handle(stream, peer, s, ticket).await,
                        Err(e) => tracing::error!("accept: {e}"),
                    }
                });
                if let Err(e) = started {
                    tracing::error!("accept: {e}");
                }
            }
            // Out of descriptors and the like: keep serving the others.
            Err(e) => {
                tracing::error!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Runs one connection to its end.
pub async fn handle(stream: TcpStream, peer: SocketAddr, settings: Arc<ServerSettings>, mut ticket: Ticket) {
    let _ = stream.set_nodelay(true);
    let addr = format!("{} port {}", peer.ip(), peer.port());
    debug!("Connection from {addr}");
    let rng = Box::new(rand::rngs::StdRng::from_entropy());
    // Sessions and forwardings report what they have written on
    // (`channel_consumed`); windows that also reopened on arrival would let
    // a client make us buffer without bound.
    // The slow step of a key exchange (DH, RSA signatures) runs on the
    // blocking pool, not on the worker that serves other connections.
    let proto = if settings.proto.auto_window_adjust || !settings.proto.offload_slow_kex {
        Arc::new(tobira_proto::Config {
            auto_window_adjust: false,
            offload_slow_kex: true,
            ..(*settings.proto).clone()
        })
    } else {
        settings.proto.clone()
    };
    let conn = Connection::server(proto, rng);
    let mut d = Driver::new(stream, conn);
    d.on_small_read(crate::driver::quick_ack);
    d.on_bulk_read(crate::driver::set_receive_low_water);
    d.set_rekey_interval(settings.config.rekey_limit.interval);
    let deadline = settings.login_grace_time.map(|g| tokio::time::Instant::now() + g);
    let ctx = PolicyContext {
        config: Arc::clone(&settings.config),
        is_root: settings.is_root,
        peer,
    };
    let mut auth = Some(AuthState::new(ctx));
    let pre = " [preauth]";
    let local = d.local_addr().unwrap_or(peer);
    let mut sessions: Option<Sessions> = None;
    let mut forwards: Option<ServerForwards> = None;
    let mut alive: Option<tokio::time::Interval> = None;
    let mut unanswered = 0u32;
    let mut user_label: Option<String> = None;
    loop {
        let authenticated = d.conn.is_authenticated();
        if authenticated && sessions.is_none() {
            ticket.authenticated();
            let Some(acct) = auth.as_ref().and_then(|a| a.account.clone()) else {
                return;
            };
            let opts = auth.as_ref().and_then(|a| a.key_options.clone());
            let cfg = auth
                .as_ref()
                .map(|a| Arc::clone(a.cfg()))
                .unwrap_or_else(|| Arc::clone(&settings.config));
            forwards = Some(ServerForwards::new(
                Arc::clone(&cfg),
                opts.clone(),
                (acct.uid, acct.gid),
            ));
            user_label = Some(acct.name.clone());
            if !cfg.client_alive_interval.is_zero() {
                let mut iv = tokio::time::interval(cfg.client_alive_interval);
                iv.reset();
                alive = Some(iv);
            }
            sessions = Some(Sessions::new(cfg, acct, opts, peer, local, settings.is_root));
        }
        let left = if authenticated {
            None
        } else {
            deadline.map(|t| t.saturating_duration_since(tokio::time::Instant::now()))
        };
        let ev = match (sessions.as_mut(), forwards.as_mut()) {
            (Some(ss), Some(fw)) => {
                ss.refresh(&d.conn);
                fw.fw.refresh(&d.conn);
                tokio::select! {
                    _ = async { match alive.as_mut() { Some(a) => { a.tick().await; } None => std::future::pending::<()>().await } } => {
                        // ClientAliveInterval / ClientAliveCountMax (sshd_config(5)).
                        if unanswered >= settings.config.client_alive_count_max {
                            let who = user_label.clone().unwrap_or_default();
                            info!("Timeout, client not responding from user {who} {addr}");
                            d.conn.disconnect(tobira_proto::DisconnectReason::ByApplication, "Timeout, client not responding");
                            let _ = d.flush().await;
                            ss.shutdown();
                            fw.fw.shutdown();
                            return;
                        }
                        if d.conn.global_request("keepalive@openssh.com", true, &[]).is_ok() {
                            unanswered += 1;
                        }
                        let _ = d.flush().await;
                        continue;
                    }
                    Some(msg) = fw.fw.rx.recv() => {
                        if fw.on_msg(&mut d.conn, msg).is_err() || d.flush().await.is_err() {
                            let who = user_label.clone().unwrap_or_default();
                            info!("Connection closed by user {who} {addr}");
                            ss.shutdown();
                            fw.fw.shutdown();
                            return;
                        }
                        continue;
                    }
                    ev = d.step() => match ev {
                        Ok(None) => continue,
                        Ok(Some(ev)) => Ok(ev),
                        Err(e) => Err(e),
                    },
                    Some(msg) = ss.rx.recv() => {
                        if ss.on_msg(&mut d.conn, msg).is_err() || d.flush().await.is_err() {
                            let who = user_label.clone().unwrap_or_default();
                            info!("Connection closed by user {who} {addr}");
                            ss.shutdown();
                            fw.fw.shutdown();
                            return;
                        }
                        continue;
                    }
                }
            }
            _ => d.next_event_within(left).await,
        };
        let user = auth.as_ref().and_then(|a| a.user().map(str::to_string));
        let suffix = if authenticated { "" } else { pre };
        match ev {
            Ok(Event::AuthRequest(req)) => {
                let r = &req.request;
                if r.method.name() != "none" {
                    ticket.set_outcome(admission::Outcome::AuthFailed);
                }
                debug!(
                    "userauth-request for user {} service {} method {} [preauth]",
                    r.user,
                    r.service,
                    r.method.name()
                );
                let Some(mut st) = auth.take() else { return };
                let started = tokio::time::Instant::now();
                if let Some(b) = st.take_banner() {
                    let _ = d.conn.auth_banner(&b);
                }
                let (st, out) = match tokio::task::spawn_blocking(move || {
                    let o = st.decide(&req);
                    (st, o)
                })
                .await
                {
                    Ok(x) => x,
                    Err(_) => return,
                };
                if !apply(&mut d, &st, out, started, &settings).await {
                    return;
                }
                auth = Some(st);
            }
            Ok(Event::AuthInfoResponse(responses)) => {
                let Some(mut st) = auth.take() else { return };
                let started = tokio::time::Instant::now();
                let (st, out) = match tokio::task::spawn_blocking(move || {
                    let o = st.decide_info(&responses);
                    (st, o)
                })
                .await
                {
                    Ok(x) => x,
                    Err(_) => return,
                };
                if !apply(&mut d, &st, out, started, &settings).await {
                    return;
                }
                auth = Some(st);
            }
            Ok(ev) => {
                if let Event::GlobalReply { .. } = ev {
                    // Only keepalives ask the client for replies.
                    unanswered = 0;
                }
                on_event(&ev, &addr, &settings);
                if let (Some(ss), Some(fw)) = (sessions.as_mut(), forwards.as_mut()) {
                    if on_connection_event(ss, fw, &mut d.conn, ev).await.is_err() {
                        ss.shutdown();
                        fw.fw.shutdown();
                        return;
                    }
                }
            }
            Err(DriverError::Timeout) => {
                ticket.set_outcome(admission::Outcome::GraceExceeded);
                info!("Timeout before authentication for {addr}");
                d.conn.disconnect(
                    tobira_proto::DisconnectReason::ProtocolError,
                    "Timeout before authentication",
                );
                let _ = d.flush().await;
                return;
            }
            Err(e) => {
                if let Some(ss) = sessions.as_mut() {
                    ss.shutdown();
                }
                if let Some(fw) = forwards.as_mut() {
                    fw.fw.shutdown();
                }
                while let Some(ev) = d.conn.poll_event() {
                    on_event(&ev, &addr, &settings);
                }
                match e {
                    DriverError::Protocol(tobira_proto::Error::PeerDisconnected { code, message }) => {
                        info!("Received disconnect from {addr}:{code}: {message}{suffix}");
                        match (&user, authenticated) {
                            (Some(u), true) => info!("Disconnected from user {u} {addr}"),
                            (Some(u), false) => info!("Disconnected from authenticating user {u} {addr}{pre}"),
                            _ => info!("Disconnected from {addr}{pre}"),
                        }
                    }
                    DriverError::Protocol(tobira_proto::Error::Local { message, .. }) => {
                        info!("error: {message} [{addr}]");
                        info!("Disconnected from {addr}{suffix}");
                    }
                    _ => match (&user, authenticated) {
                        (Some(u), true) => info!("Connection closed by user {u} {addr}"),
                        (Some(u), false) => info!("Connection closed by authenticating user {u} {addr}{pre}"),
                        _ => info!("Connection closed by {addr}{pre}"),
                    },
                }
                return;
            }
        }
    }
}

/// Connection-protocol events after login: forwarded channels first, then
/// sessions.
async fn on_connection_event(
    ss: &mut Sessions,
    fw: &mut ServerForwards,
    conn: &mut Connection,
    mut ev: Event,
) -> Result<(), tobira_proto::Error> {
    if fw.on_channel_event(conn, &mut ev) {
        return Ok(());
    }
    match ev {
        Event::ChannelOpenRequest { id, kind } => {
            if fw.on_open(conn, id, &kind)? {
                return Ok(());
            }
            ss.on_open(conn, id, &kind)
        }
        Event::GlobalRequest { name, want_reply, data } => {
            if !fw.on_global(conn, &name, want_reply, &data).await? && want_reply {
                conn.global_request_reply(false, &[])?;
            }
            Ok(())
        }
        Event::ChannelRequest {
            id,
            request: ChannelRequest::Other { name, .. },
            want_reply,
        } if name == "auth-agent-req@openssh.com" => {
            let path = fw.agent_socket();
            if let Some(p) = &path {
                ss.set_env(id, "SSH_AUTH_SOCK", &p.to_string_lossy());
            }
            if want_reply {
                conn.channel_request_reply(id, path.is_some())?;
            }
            Ok(())
        }
        Event::ChannelRequest {
            id,
            request,
            want_reply,
        } => ss.on_request(conn, id, request, want_reply).await,
        Event::ChannelData { id, data } => ss.on_data(conn, id, data),
        Event::ChannelExtendedData { id, data, .. } => conn.channel_consumed(id, data.len()),
        Event::ChannelEof { id } => {
            ss.on_eof(id);
            Ok(())
        }
        Event::ChannelClosed { id } => {
            ss.on_closed(id);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Sends the decision; false when the connection must end.
async fn apply(
    d: &mut Driver<TcpStream>,
    st: &AuthState,
    out: Outcome,
    started: tokio::time::Instant,
    settings: &ServerSettings,
) -> bool {
    for line in &out.log {
        info!("{line}");
    }
    if let Some(n) = &out.notice {
        let _ = d.conn.auth_banner(n);
    }
    let r = match out.decision {
        Decision::Accept => d.conn.auth_accept_with_sig_algs(st.per_user_sig_algs()),
        Decision::PkOk { algorithm, key_blob } => d.conn.auth_pk_ok(&algorithm, &key_blob),
        Decision::Info(q) => d.conn.auth_info_request(&q),
        Decision::Reject { partial } => {
            if !partial {
                // Failures answer no sooner than the user's fixed delay,
                // valid user or not (OpenSSH's ensure_minimum_time_since).
                let mut delay = st.failure_delay(&settings.delay_secret);
                while started.elapsed() > delay {
                    delay *= 2;
                }
                tokio::time::sleep_until(started + delay).await;
            }
            d.conn.auth_reject(&out.methods, partial)
        }
        Decision::Disconnect(msg) => {
            d.conn.disconnect(tobira_proto::DisconnectReason::ProtocolError, &msg);
            let _ = d.flush().await;
            return false;
        }
    };
    r.is_ok() && d.flush().await.is_ok()
}

fn on_event(ev: &Event, addr: &str, settings: &ServerSettings) {
    match ev {
        Event::Trace(t) if settings.trace => eprintln!("[{addr}] {t}"),
        Event::PeerIdent(id) => debug!("Remote protocol version {id} from {addr}"),
        Event::Negotiated { algorithms: n, strict } => {
            debug!("kex: algorithm: {}; host key algorithm: {}", n.kex, n.host_key);
            debug!(
                "kex: client->server cipher: {} MAC: {} compression: {}",
                n.cipher_c2s, n.mac_c2s, n.comp_c2s
            );
            debug!(
                "kex: server->client cipher: {} MAC: {} compression: {}",
                n.cipher_s2c, n.mac_s2c, n.comp_s2c
            );
            if *strict {
                debug!("kex: strict KEX mode enabled [{addr}]");
            }
        }
        _ => {}
    }
}
