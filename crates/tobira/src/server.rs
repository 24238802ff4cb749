//! The server: accepts TCP connections and runs one task per connection
//! around a server-role [`Connection`]. Log lines follow sshd's wording.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use tobira_proto::{Connection, Event};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info};

use crate::driver::{Driver, DriverError};

/// Settings shared by every connection of a server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The protocol configuration (algorithms, host keys, moduli).
    pub proto: Arc<tobira_proto::Config>,
    /// `LoginGraceTime`: None disables the limit.
    pub login_grace_time: Option<Duration>,
    /// Print every packet to stderr (`--trace`).
    pub trace: bool,
}

/// Accepts connections on every listener until the process ends. Each new
/// connection takes the settings current in `settings` (so a SIGHUP reload
/// applies to new connections; established ones keep theirs).
pub async fn serve(
    listeners: Vec<TcpListener>,
    settings: tokio::sync::watch::Receiver<Arc<ServerSettings>>,
) -> std::io::Result<()> {
    let mut tasks = Vec::new();
    for l in listeners {
        let s = settings.clone();
        tasks.push(tokio::spawn(async move { accept_loop(l, s).await }));
    }
    for t in tasks {
        t.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    settings: tokio::sync::watch::Receiver<Arc<ServerSettings>>,
) -> std::io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let s = settings.borrow().clone();
                tokio::spawn(async move { handle(stream, peer, s).await });
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
pub async fn handle(stream: TcpStream, peer: SocketAddr, settings: Arc<ServerSettings>) {
    let _ = stream.set_nodelay(true);
    let addr = format!("{} port {}", peer.ip(), peer.port());
    debug!("Connection from {addr}");
    let rng = Box::new(rand::rngs::StdRng::from_entropy());
    let conn = Connection::server(settings.proto.clone(), rng);
    let mut d = Driver::new(stream, conn);
    let deadline = settings.login_grace_time.map(|g| tokio::time::Instant::now() + g);
    let mut user: Option<String> = None;
    loop {
        let left = deadline.map(|t| t.saturating_duration_since(tokio::time::Instant::now()));
        let ev = d.next_event_within(left).await;
        let pre = " [preauth]";
        match ev {
            Ok(ev) => on_event(&ev, &addr, &settings, &mut user),
            Err(DriverError::Timeout) => {
                info!("Timeout before authentication for {addr}");
                d.conn.disconnect(
                    tobira_proto::DisconnectReason::ProtocolError,
                    "Timeout before authentication",
                );
                let _ = d.flush().await;
                return;
            }
            Err(e) => {
                while let Some(ev) = d.conn.poll_event() {
                    on_event(&ev, &addr, &settings, &mut user);
                }
                match e {
                    DriverError::Protocol(tobira_proto::Error::PeerDisconnected { code, message }) => {
                        info!("Received disconnect from {addr}:{code}: {message}{pre}");
                        info!("Disconnected from {addr}{pre}");
                    }
                    DriverError::Protocol(tobira_proto::Error::Local { message, .. }) => {
                        info!("error: {message} [{addr}]");
                        info!("Disconnected from {addr}{pre}");
                    }
                    _ => match &user {
                        Some(u) => info!("Connection closed by authenticating user {u} {addr}{pre}"),
                        None => info!("Connection closed by {addr}{pre}"),
                    },
                }
                return;
            }
        }
    }
}

fn on_event(ev: &Event, addr: &str, settings: &ServerSettings, user: &mut Option<String>) {
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
        Event::AuthRequest { user: u, method, .. } => {
            debug!("userauth-request for user {u} service ssh-connection method {method} [preauth]");
            *user = Some(u.clone());
        }
        _ => {}
    }
}
