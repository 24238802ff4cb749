//! The client: connects, runs the key exchange with the user's trust
//! decision, requests the `ssh-userauth` service and asks for the server's
//! authentication methods (RFC 4252 §5.2 `none`).

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use std::net::SocketAddr;
use tobira_proto::transport::negotiate::Negotiated;
use tobira_proto::{Connection, DisconnectReason, Event};
use tokio::net::{TcpSocket, TcpStream};

use crate::client_auth::{Authenticator, Prompter};
use crate::config::client::AddressFamily;
use crate::driver::{Driver, DriverError};

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Remote user name.
    pub user: String,
    /// Protocol configuration. An application that reports what it has
    /// written on with `Connection::channel_consumed` (so that the server
    /// is held back by it) turns `auto_window_adjust` off.
    pub proto: Arc<tobira_proto::Config>,
    /// `ConnectTimeout`.
    pub connect_timeout: Option<Duration>,
    /// The time part of `RekeyLimit`.
    pub rekey_interval: Option<Duration>,
    /// `AddressFamily` (`-4`, `-6`): which of the host's addresses to try.
    pub address_family: AddressFamily,
    /// `BindAddress` (`-b`): the local address (or name) to connect from.
    pub bind_address: Option<String>,
    /// `ConnectionAttempts`: rounds over the host's addresses, a second
    /// apart, before giving up (at least one).
    pub connection_attempts: u32,
}

/// What the client learned.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The server's identification string.
    pub server_ident: String,
    /// The negotiated algorithms.
    pub negotiated: Option<Negotiated>,
    /// Strict KEX was in force.
    pub strict: bool,
    /// The server's `server-sig-algs`.
    pub server_sig_algs: Option<Vec<String>>,
    /// The method that authenticated us.
    pub auth_method: String,
}

/// Client failures, each with the one-line message ssh would print.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP connection failed.
    #[error("connect to host {host} port {port}: {source}")]
    Connect {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Cause.
        source: std::io::Error,
    },
    /// The trust decision refused the host key (text already shown).
    #[error("{0}")]
    HostKeyRejected(String),
    /// Every method failed: OpenSSH's `user@host: Permission denied (…).`
    #[error("{user}@{host}: Permission denied ({}).", methods.join(","))]
    PermissionDenied {
        /// User.
        user: String,
        /// Host.
        host: String,
        /// Methods the server still offered.
        methods: Vec<String>,
    },
    /// Protocol or I/O failure after connecting.
    #[error("{0}")]
    Session(String),
}

fn session_err(host: &str, port: u16, e: DriverError) -> ClientError {
    ClientError::Session(match e {
        DriverError::Protocol(tobira_proto::Error::PeerDisconnected { code, message }) => {
            format!("Received disconnect from {host} port {port}:{code}: {message}")
        }
        DriverError::Eof => format!("Connection closed by {host} port {port}"),
        DriverError::Timeout => format!("Connection timed out during banner exchange with {host} port {port}"),
        other => format!("{other}"),
    })
}

/// The trust decision: given the host key algorithm and blob, accept or
/// refuse with the text to show.
pub type HostKeyVerifier<'a> = dyn FnMut(&str, &[u8]) -> Result<(), String> + Send + 'a;

/// Connects, runs the key exchange with the trust decision, and
/// authenticates with `auth`. `trace` receives decoded packets when tracing
/// is on, `debug` the ssh -v style lines. The callbacks are `Send`, so the
/// returned future can run on `tokio::spawn`.
pub async fn connect(
    s: &ClientSettings,
    verify: &mut HostKeyVerifier<'_>,
    auth: &mut Authenticator,
    prompter: &mut (dyn Prompter + Send),
    trace: &mut (dyn FnMut(&str) + Send),
) -> Result<(Driver<BoxStream>, Outcome), ClientError> {
    let stream = tcp_connect(s).await?;
    handshake(s, Box::new(stream), verify, auth, prompter, trace).await
}

/// Any byte stream the client can run over (TCP, a ProxyCommand's pipes).
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {
    /// The stream as [`std::any::Any`], to find out whether it is TCP.
    fn as_any(&self) -> &dyn std::any::Any;
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Stream for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A boxed [`Stream`].
pub type BoxStream = Box<dyn Stream>;

/// Sets the receive low-water mark of a boxed stream when it is TCP (see
/// [`Driver::on_bulk_read`]); false for any other stream.
pub fn set_receive_low_water(stream: &BoxStream, bytes: usize) -> bool {
    // `(**stream)`: the boxed value itself. The box is a `Stream` too, and
    // `stream.as_any()` would answer for the box.
    match (**stream).as_any().downcast_ref::<TcpStream>() {
        Some(tcp) => crate::driver::set_receive_low_water(tcp, bytes),
        None => false,
    }
}

/// Connects to the first of the host's addresses (of
/// [`ClientSettings::address_family`]) that answers, from
/// [`ClientSettings::bind_address`] if set; up to `ConnectionAttempts`
/// rounds, a second apart, all within `ConnectTimeout` (one budget for
/// every address and round, as ssh(1)'s `ssh_connect_direct()` spends
/// it).
async fn tcp_connect(s: &ClientSettings) -> Result<TcpStream, ClientError> {
    let fail = |source| ClientError::Connect {
        host: s.host.clone(),
        port: s.port,
        source,
    };
    let targets: Vec<SocketAddr> = tokio::net::lookup_host((s.host.as_str(), s.port))
        .await
        .map_err(fail)?
        .filter(|a| s.address_family.allows(a))
        .collect();
    let sources: Vec<SocketAddr> = match &s.bind_address {
        Some(b) => tokio::net::lookup_host((b.as_str(), 0))
            .await
            .map_err(fail)?
            .filter(|a| s.address_family.allows(a))
            .collect(),
        None => Vec::new(),
    };
    // Each address with where to connect it from; none at all fails now,
    // without waiting through the rounds.
    let mut pairs = Vec::new();
    for target in targets {
        let source = sources.iter().find(|b| b.is_ipv4() == target.is_ipv4()).copied();
        if s.bind_address.is_none() || source.is_some() {
            pairs.push((target, source));
        }
    }
    if pairs.is_empty() {
        let why = if s.bind_address.is_some() {
            "no address of the bind address's family"
        } else {
            "no address of the family asked for"
        };
        return Err(fail(std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, why)));
    }
    let deadline = s.connect_timeout.map(|t| tokio::time::Instant::now() + t);
    let mut last = std::io::Error::new(std::io::ErrorKind::TimedOut, "Connection timed out");
    for attempt in 0..s.connection_attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for &(target, source) in &pairs {
            let left = match deadline {
                Some(d) => match d.checked_duration_since(tokio::time::Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(fail(last)),
                },
                None => None,
            };
            match connect_one(target, source, left).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(e) => last = e,
            }
        }
    }
    Err(fail(last))
}

/// One TCP connection to `target`, from `source` if given, within
/// `limit`.
async fn connect_one(
    target: SocketAddr,
    source: Option<SocketAddr>,
    limit: Option<Duration>,
) -> std::io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(b) = source {
        socket.bind(b)?;
    }
    let connect = socket.connect(target);
    match limit {
        Some(t) => tokio::time::timeout(t, connect)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "Connection timed out"))?,
        None => connect.await,
    }
}

/// Runs the key exchange and authentication over an established stream
/// (a TCP connection, or a `ProxyCommand`/`ProxyJump` pipe).
pub async fn handshake(
    s: &ClientSettings,
    stream: BoxStream,
    verify: &mut HostKeyVerifier<'_>,
    auth: &mut Authenticator,
    prompter: &mut (dyn Prompter + Send),
    trace: &mut (dyn FnMut(&str) + Send),
) -> Result<(Driver<BoxStream>, Outcome), ClientError> {
    let rng = Box::new(rand::rngs::StdRng::from_entropy());
    let mut d = Driver::new(stream, Connection::client(s.proto.clone(), rng));
    d.on_bulk_read(set_receive_low_water);
    d.set_rekey_interval(s.rekey_interval);
    let mut out = Outcome {
        server_ident: String::new(),
        negotiated: None,
        strict: false,
        server_sig_algs: None,
        auth_method: String::new(),
    };
    // No identification within this time is a failure, as OpenSSH's
    // banner timeout.
    let banner_limit = Some(s.connect_timeout.unwrap_or(Duration::from_secs(60)));
    let sess = |e: tobira_proto::Error| ClientError::Session(e.to_string());
    loop {
        let limit = if out.server_ident.is_empty() {
            banner_limit
        } else {
            None
        };
        let ev = match d.next_event_within(limit).await {
            Ok(ev) => ev,
            Err(e) => {
                while let Some(Event::Trace(t)) = d.conn.poll_event() {
                    trace(&t);
                }
                return Err(session_err(&s.host, s.port, e));
            }
        };
        match ev {
            Event::Trace(t) => trace(&t),
            Event::PeerIdent(id) => out.server_ident = id,
            Event::Negotiated { algorithms, strict } => {
                out.negotiated = Some(algorithms);
                out.strict = strict;
            }
            Event::HostKey { algorithm, key } => match verify(&algorithm, &key) {
                Ok(()) => d.conn.accept_host_key().map_err(sess)?,
                Err(msg) => {
                    d.conn.reject_host_key("Host key verification failed.");
                    let _ = d.flush().await;
                    return Err(ClientError::HostKeyRejected(msg));
                }
            },
            Event::ExtInfo(_) => out.server_sig_algs = d.conn.server_sig_algs().map(|v| v.to_vec()),
            Event::ServiceAccepted(_) => auth.start(&mut d.conn).map_err(sess)?,
            Event::AuthBanner(b) => prompter.show(&b),
            Event::AuthFailure { methods, .. } => {
                let more = auth.on_failure(&mut d.conn, &methods, prompter).map_err(sess)?;
                if !more {
                    return Err(give_up(&mut d, auth, &s.host, methods).await);
                }
            }
            Event::AuthPkOk { .. } => {
                // A key that cannot sign (bad passphrase, agent refusal)
                // counts as a failure: move on to the next method.
                let signed = auth.on_pk_ok(&mut d.conn, prompter).map_err(sess)?;
                let methods = auth.last_can_continue.clone();
                let more = signed || auth.on_failure(&mut d.conn, &methods, prompter).map_err(sess)?;
                if !more {
                    return Err(give_up(&mut d, auth, &s.host, methods).await);
                }
            }
            Event::AuthInfoRequest(req) => {
                let answered = auth.on_info_request(&mut d.conn, &req, prompter).map_err(sess)?;
                if !answered {
                    d.conn.disconnect(
                        DisconnectReason::AuthCancelledByUser,
                        "Authentication cancelled by user",
                    );
                    let _ = d.flush().await;
                    return Err(ClientError::Session("authentication cancelled".into()));
                }
            }
            Event::AuthPasswdChangeReq(prompt) => {
                prompter.show(&format!("{prompt}\n"));
                d.conn
                    .disconnect(DisconnectReason::AuthCancelledByUser, "Password change required");
                let _ = d.flush().await;
                return Err(ClientError::Session(
                    "the server requires a password change, which tobira does not do yet".into(),
                ));
            }
            Event::AuthSuccess => {
                out.auth_method = auth.last_method.clone().unwrap_or_else(|| "none".into());
                return Ok((d, out));
            }
            _ => {}
        }
    }
}

/// Ends the connection when no method is left (RFC 4252 §5.1) and builds
/// OpenSSH's "Permission denied" error.
async fn give_up(d: &mut Driver<BoxStream>, auth: &Authenticator, host: &str, methods: Vec<String>) -> ClientError {
    d.conn.disconnect(
        DisconnectReason::NoMoreAuthMethodsAvailable,
        "No more authentication methods available",
    );
    let _ = d.flush().await;
    ClientError::PermissionDenied {
        user: auth.user().to_string(),
        host: host.to_string(),
        methods,
    }
}

#[cfg(test)]
mod low_water_tests {
    use super::*;

    /// The mark is set through a boxed TCP stream (reached inside the box,
    /// not the box itself), and refused for any other stream.
    #[tokio::test]
    async fn a_boxed_tcp_stream_takes_the_low_water_mark_and_a_pipe_does_not() {
        let (tcp, _accepted) = crate::recv_low_water::loopback_pair().await;
        let boxed: BoxStream = Box::new(tcp);
        assert!(set_receive_low_water(&boxed, 256 * 1024));
        assert!(set_receive_low_water(&boxed, 1));
        let (pipe, _other) = tokio::io::duplex(1024);
        let boxed: BoxStream = Box::new(pipe);
        assert!(!set_receive_low_water(&boxed, 256 * 1024));
    }
}
