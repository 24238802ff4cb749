//! The server's port forwarding (RFC 4254 §7, sshd_config(5)
//! `AllowTcpForwarding`, `PermitOpen`, `PermitListen`, `GatewayPorts`,
//! authorized_keys `no-port-forwarding`, `permitopen=`, `permitlisten=`):
//! `direct-tcpip` channels connect out; `tcpip-forward` requests listen and
//! open `forwarded-tcpip` channels back to the client.

use std::collections::HashMap;

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
    config: ServerConfig,
    key_options: Option<KeyOptions>,
    /// Channels waiting for their outgoing connection.
    connecting: HashMap<u32, ()>,
    /// Accepted connections waiting for the client to confirm the channel.
    pending: HashMap<u32, TcpStream>,
    /// Remote forwards: listener key → (address as requested, bound port).
    remote: HashMap<usize, (String, u32)>,
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
    pub fn new(config: ServerConfig, key_options: Option<KeyOptions>) -> Self {
        ServerForwards {
            fw: Forwards::new(),
            config,
            key_options,
            connecting: HashMap::new(),
            pending: HashMap::new(),
            remote: HashMap::new(),
        }
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
                    Ok(stream) => {
                        conn.channel_accept(id)?;
                        self.fw.attach_tcp(id, stream);
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
            other => self.fw.on_stream_msg(conn, &other),
        }
    }

    /// Channel events that concern forwarded channels. True when handled.
    pub fn on_channel_event(&mut self, conn: &mut Connection, ev: &tobira_proto::Event) -> bool {
        use tobira_proto::Event;
        match ev {
            Event::ChannelOpenConfirmed { id } => self.fw.confirmed(&mut self.pending, *id),
            Event::ChannelOpenFailed { id, .. } => self.pending.remove(id).is_some(),
            Event::ChannelData { id, data } => self.fw.on_data(conn, *id, data.clone()),
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
