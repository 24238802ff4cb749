//! The server's port forwarding (RFC 4254 §7, sshd_config(5)
//! `AllowTcpForwarding`, `PermitOpen`, `PermitListen`, `GatewayPorts`,
//! authorized_keys `no-port-forwarding`, `permitopen=`, `permitlisten=`):
//! `direct-tcpip` channels connect out; `tcpip-forward` requests listen and
//! open `forwarded-tcpip` channels back to the client.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tobira_proto::msg::connection::{open_failure, ChannelKind};
use tobira_proto::wire::{Reader, Writer};
use tobira_proto::Connection;
use tokio::net::{TcpListener, TcpStream};
use tracing::info;

use crate::authorized_keys::KeyOptions;
use crate::config::server::{AllowTcpForwarding, GatewayPorts, ServerConfig};
use crate::forward::{Forwards, FwdMsg};

/// Forwarding state of one connection.
pub struct ServerForwards {
    /// The streams and listeners.
    pub fw: Forwards,
    config: Arc<ServerConfig>,
    key_options: Option<KeyOptions>,
    /// Channels waiting for their outgoing connection.
    connecting: HashMap<u32, ()>,
    /// Accepted connections waiting for the client to confirm the channel.
    pending: HashMap<u32, TcpStream>,
    /// Remote forwards: listener key → (address as requested, bound port).
    remote: HashMap<usize, (String, u32)>,
    /// Remote Unix-socket forwards: listener key → socket path.
    remote_unix: HashMap<usize, PathBuf>,
    /// Accepted Unix connections waiting for the client's confirmation.
    pending_unix: HashMap<u32, tokio::net::UnixStream>,
    /// The forwarded agent: listener key and its private directory.
    agent: Option<(usize, PathBuf)>,
    /// The logged-in user (owner of forwarded sockets).
    user: (u32, u32),
}

impl Drop for ServerForwards {
    fn drop(&mut self) {
        if let Some((_, dir)) = &self.agent {
            let _ = std::fs::remove_dir_all(dir);
        }
        for p in self.remote_unix.values() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A Unix socket the user may use: the socket (or, to create one, its
/// directory) must belong to the user. tobirad runs as root, so this keeps
/// streamlocal forwarding from reaching other users' or root's sockets.
fn user_owns(path: &Path, uid: u32, for_bind: bool) -> bool {
    use std::os::unix::fs::MetadataExt;
    let target = if for_bind {
        path.parent().map(Path::to_path_buf)
    } else {
        Some(path.to_path_buf())
    };
    target
        .and_then(|t| std::fs::metadata(t).ok())
        .is_some_and(|m| m.uid() == uid)
}

fn host_port_allowed(list: &[String], host: &str, port: u32) -> bool {
    if list.iter().any(|p| p == "none") {
        return false;
    }
    list.is_empty()
        || list.iter().any(|p| {
            p == "any"
                || p.rsplit_once(':').is_some_and(|(h, pt)| {
                    let h = h.trim_start_matches('[').trim_end_matches(']');
                    (h == "*" || h.eq_ignore_ascii_case(host))
                        && (pt == "*" || pt.parse::<u32>().is_ok_and(|x| x == port))
                })
        })
}

impl ServerForwards {
    /// Forwarding for an authenticated user.
    pub fn new(config: Arc<ServerConfig>, key_options: Option<KeyOptions>, user: (u32, u32)) -> Self {
        ServerForwards {
            fw: Forwards::new(),
            config,
            key_options,
            connecting: HashMap::new(),
            pending: HashMap::new(),
            remote: HashMap::new(),
            remote_unix: HashMap::new(),
            pending_unix: HashMap::new(),
            agent: None,
            user,
        }
    }

    fn streamlocal(&self, remote: bool) -> bool {
        let want = if remote {
            AllowTcpForwarding::Remote
        } else {
            AllowTcpForwarding::Local
        };
        (self.config.allow_stream_local_forwarding == AllowTcpForwarding::Yes
            || self.config.allow_stream_local_forwarding == want)
            && !self.key_options.as_ref().is_some_and(|o| o.no_port_forwarding)
    }

    /// `auth-agent-req@openssh.com` (OpenSSH PROTOCOL §2.1 of agent
    /// forwarding): a private socket for the session; returns its path for
    /// SSH_AUTH_SOCK, or None when refused.
    pub fn agent_socket(&mut self) -> Option<PathBuf> {
        if !self.config.allow_agent_forwarding || self.key_options.as_ref().is_some_and(|o| o.no_agent_forwarding) {
            return None;
        }
        if let Some((_, dir)) = &self.agent {
            return Some(dir.join("agent"));
        }
        let mut rnd = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut rnd);
        let name: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("ssh-{name}"));
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(&dir).ok()?;
        let path = dir.join("agent");
        let listener = tokio::net::UnixListener::bind(&path).ok()?;
        let (uid, gid) = self.user;
        let _ = std::os::unix::fs::chown(&dir, Some(uid), Some(gid));
        let _ = std::os::unix::fs::chown(&path, Some(uid), Some(gid));
        let key = self.fw.listen_unix(listener);
        self.agent = Some((key, dir));
        Some(path)
    }

    fn local_allowed(&self) -> bool {
        matches!(
            self.config.allow_tcp_forwarding,
            AllowTcpForwarding::Yes | AllowTcpForwarding::Local
        ) && !self.key_options.as_ref().is_some_and(|o| o.no_port_forwarding)
    }

    fn remote_allowed(&self) -> bool {
        matches!(
            self.config.allow_tcp_forwarding,
            AllowTcpForwarding::Yes | AllowTcpForwarding::Remote
        ) && !self.key_options.as_ref().is_some_and(|o| o.no_port_forwarding)
    }

    /// A `direct-tcpip` open: connect out if allowed. True when handled.
    pub fn on_open(&mut self, conn: &mut Connection, id: u32, kind: &ChannelKind) -> Result<bool, tobira_proto::Error> {
        if let ChannelKind::Other(name, data) = kind {
            if name != "direct-streamlocal@openssh.com" {
                return Ok(false);
            }
            let path = Reader::new(data).utf8().map(PathBuf::from).unwrap_or_default();
            if !self.streamlocal(false) || !user_owns(&path, self.user.0, false) {
                info!("refused streamlocal forward to {}", path.display());
                conn.channel_reject(id, open_failure::ADMINISTRATIVELY_PROHIBITED, "open failed")?;
                return Ok(true);
            }
            self.connecting.insert(id, ());
            self.fw.connect_unix(id, path);
            return Ok(true);
        }
        let ChannelKind::DirectTcpip {
            host,
            port,
            originator,
            originator_port,
        } = kind
        else {
            return Ok(false);
        };
        let key_ok = self
            .key_options
            .as_ref()
            .is_none_or(|o| o.permit_open.is_empty() || host_port_allowed(&o.permit_open, host, *port));
        if !self.local_allowed() || !host_port_allowed(&self.config.permit_open, host, *port) || !key_ok {
            info!(
                "refused local port forward: originator {originator} port {originator_port}, target {host} port {port}"
            );
            conn.channel_reject(id, open_failure::ADMINISTRATIVELY_PROHIBITED, "open failed")?;
            return Ok(true);
        }
        let Ok(p) = u16::try_from(*port) else {
            conn.channel_reject(id, open_failure::CONNECT_FAILED, "bad port")?;
            return Ok(true);
        };
        self.connecting.insert(id, ());
        self.fw.connect(id, host.clone(), p);
        Ok(true)
    }

    /// `tcpip-forward` / `cancel-tcpip-forward` (RFC 4254 §7.1). True when handled.
    pub async fn on_global(
        &mut self,
        conn: &mut Connection,
        name: &str,
        want_reply: bool,
        data: &[u8],
    ) -> Result<bool, tobira_proto::Error> {
        if name == "streamlocal-forward@openssh.com" || name == "cancel-streamlocal-forward@openssh.com" {
            let path = Reader::new(data).utf8().map(PathBuf::from).unwrap_or_default();
            let ok = if name.starts_with("cancel-") {
                let key = self.remote_unix.iter().find(|(_, p)| **p == path).map(|(k, _)| *k);
                if let Some(k) = key {
                    self.fw.unlisten(k);
                    self.remote_unix.remove(&k);
                    let _ = std::fs::remove_file(&path);
                }
                key.is_some()
            } else if self.streamlocal(true) && user_owns(&path, self.user.0, true) {
                match tokio::net::UnixListener::bind(&path) {
                    Ok(l) => {
                        let _ = std::os::unix::fs::chown(&path, Some(self.user.0), Some(self.user.1));
                        let key = self.fw.listen_unix(l);
                        self.remote_unix.insert(key, path);
                        true
                    }
                    Err(_) => false,
                }
            } else {
                info!("refused remote streamlocal forward at {}", path.display());
                false
            };
            if want_reply {
                conn.global_request_reply(ok, &[])?;
            }
            return Ok(true);
        }
        if name != "tcpip-forward" && name != "cancel-tcpip-forward" {
            return Ok(false);
        }
        let mut r = Reader::new(data);
        let (addr, port) = match (r.utf8(), r.u32()) {
            (Ok(a), Ok(p)) => (a.to_string(), p),
            _ => {
                if want_reply {
                    conn.global_request_reply(false, &[])?;
                }
                return Ok(true);
            }
        };
        if name == "cancel-tcpip-forward" {
            let key = self
                .remote
                .iter()
                .find(|(_, (a, p))| *a == addr && *p == port)
                .map(|(k, _)| *k);
            if let Some(k) = key {
                self.fw.unlisten(k);
                self.remote.remove(&k);
            }
            if want_reply {
                conn.global_request_reply(key.is_some(), &[])?;
            }
            return Ok(true);
        }
        let listen_ok = self
            .key_options
            .as_ref()
            .is_none_or(|o| o.permit_listen.is_empty() || host_port_allowed(&o.permit_listen, &addr, port));
        let allowed = self.remote_allowed()
            && host_port_allowed(&self.config.permit_listen, &addr, port)
            && listen_ok
            && port <= 65535;
        let bind = match self.config.gateway_ports {
            GatewayPorts::No => "127.0.0.1".to_string(),
            GatewayPorts::Yes => "0.0.0.0".to_string(),
            GatewayPorts::ClientSpecified => match addr.as_str() {
                "" | "*" | "0.0.0.0" => "0.0.0.0".into(),
                "localhost" => "127.0.0.1".into(),
                a => a.to_string(),
            },
        };
        let listener = if allowed {
            TcpListener::bind((bind.as_str(), port as u16)).await.ok()
        } else {
            None
        };
        match listener {
            Some(l) => {
                let bound = l.local_addr().map(|a| u32::from(a.port())).unwrap_or(port);
                let key = self.fw.listen(l);
                self.remote.insert(key, (addr.clone(), bound));
                info!("remote forward listening on {bind} port {bound}");
                if want_reply {
                    let mut reply = Vec::new();
                    if port == 0 {
                        reply.put_u32(bound);
                    }
                    conn.global_request_reply(true, &reply)?;
                }
            }
            None => {
                info!("refused remote port forward for {addr} port {port}");
                if want_reply {
                    conn.global_request_reply(false, &[])?;
                }
            }
        }
        Ok(true)
    }

    /// A message from a forwarding task.
    pub fn on_msg(&mut self, conn: &mut Connection, msg: FwdMsg) -> Result<(), tobira_proto::Error> {
        match msg {
            FwdMsg::Connected(id, r) => {
                self.connecting.remove(&id);
                match r {
                    Ok((r, w)) => {
                        conn.channel_accept(id)?;
                        self.fw.attach(id, r, w);
                    }
                    Err(e) => Forwards::refuse(conn, id, &e)?,
                }
                Ok(())
            }
            FwdMsg::Incoming { key, stream, peer } => {
                let Some((addr, port)) = self.remote.get(&key).cloned() else {
                    return Ok(());
                };
                let id = conn.channel_open(ChannelKind::ForwardedTcpip {
                    address: addr,
                    port,
                    originator: peer.ip().to_string(),
                    originator_port: u32::from(peer.port()),
                })?;
                self.pending.insert(id, stream);
                Ok(())
            }
            FwdMsg::IncomingUnix { key, stream } => {
                let kind = if self.agent.as_ref().is_some_and(|(k, _)| *k == key) {
                    ChannelKind::Other("auth-agent@openssh.com".into(), Vec::new())
                } else if let Some(path) = self.remote_unix.get(&key) {
                    let mut data = Vec::new();
                    data.put_string(path.to_string_lossy().as_bytes());
                    data.put_string(b"");
                    ChannelKind::Other("forwarded-streamlocal@openssh.com".into(), data)
                } else {
                    return Ok(());
                };
                let id = conn.channel_open(kind)?;
                self.pending_unix.insert(id, stream);
                Ok(())
            }
            other => self.fw.on_stream_msg(conn, &other),
        }
    }

    /// Channel events that concern forwarded channels. True when handled.
    pub fn on_channel_event(&mut self, conn: &mut Connection, ev: &mut tobira_proto::Event) -> bool {
        use tobira_proto::Event;
        match ev {
            Event::ChannelOpenConfirmed { id } => match self.pending_unix.remove(id) {
                Some(s) => {
                    self.fw.attach_unix(*id, s);
                    true
                }
                None => self.fw.confirmed(&mut self.pending, *id),
            },
            Event::ChannelOpenFailed { id, .. } => {
                self.pending.remove(id).is_some() || self.pending_unix.remove(id).is_some()
            }
            // The data moves to the forwarding only when the channel is one
            // of its own (no copy per packet).
            Event::ChannelData { id, data } if self.fw.owns(*id) => self.fw.on_data(conn, *id, std::mem::take(data)),
            Event::ChannelEof { id } => self.fw.on_eof(*id),
            Event::ChannelClosed { id } => self.fw.on_closed(*id),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permit_lists() {
        let any = vec!["any".to_string()];
        assert!(host_port_allowed(&any, "h", 1));
        assert!(!host_port_allowed(&["none".to_string()], "h", 1));
        let l = vec!["db.example:5432".to_string(), "*:80".to_string(), "[::1]:*".to_string()];
        assert!(host_port_allowed(&l, "db.example", 5432));
        assert!(!host_port_allowed(&l, "db.example", 5433));
        assert!(host_port_allowed(&l, "anything", 80));
        assert!(host_port_allowed(&l, "::1", 22));
    }
}
