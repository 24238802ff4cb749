//! The client's port forwarding (ssh(1) `-L`, `-R`, `-D`, `-W`;
//! `LocalForward`, `RemoteForward`, `DynamicForward`,
//! `ExitOnForwardFailure`), over RFC 4254 §7.

use std::collections::{HashMap, VecDeque};

use tobira::config::client::{Forward, ForwardEndpoint};
use tobira::forward::{socks_handshake, socks_reply, Forwards, FwdMsg};
use tobira_proto::msg::connection::{open_failure, ChannelKind};
use tobira_proto::wire::{Reader, Writer};
use tobira_proto::{Connection, Event};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

enum Target {
    Fixed(String, u16),
    Unix(std::path::PathBuf),
    Socks,
}

fn streamlocal_kind(path: &std::path::Path) -> ChannelKind {
    let mut data = Vec::new();
    data.put_string(path.to_string_lossy().as_bytes());
    data.put_string(b"");
    data.put_u32(0);
    ChannelKind::Other("direct-streamlocal@openssh.com".into(), data)
}

struct Pending {
    stream: TcpStream,
    socks: Option<u8>,
}

/// Forwarding state of the client's connection.
pub struct ClientForwards {
    /// Streams and listeners.
    pub fw: Forwards,
    local: HashMap<usize, Target>,
    /// Remote forwards requested: (listen address, listen port, target host, target port, bound port).
    remote: Vec<(String, u32, String, u16, u32)>,
    /// Our tcpip-forward requests awaiting replies, in order (index into `remote`).
    replies: VecDeque<usize>,
    pending: HashMap<u32, Pending>,
    exit_on_failure: bool,
    /// The `-W` channel, whose close ends the client.
    pub stdio_channel: Option<u32>,
    /// The local agent to forward (`-A`).
    agent: Option<std::path::PathBuf>,
    /// Remote Unix-socket forwards: (remote path, local target).
    remote_unix: Vec<(String, Target)>,
    /// Accepted local Unix connections waiting for their channel.
    pending_unix: HashMap<u32, tokio::net::UnixStream>,
}

fn endpoint(e: &ForwardEndpoint) -> Result<(Option<String>, u16), String> {
    match e {
        ForwardEndpoint::Tcp { host, port } => Ok((host.clone(), *port)),
        ForwardEndpoint::Unix(p) => Err(format!(
            "Unix-domain socket forwarding is not supported yet: {}",
            p.display()
        )),
    }
}

/// The local bind address of a listening forward (ssh: loopback unless a
/// host is given; `*` or empty means every address).
fn bind_address(host: &Option<String>) -> String {
    match host.as_deref() {
        None | Some("localhost") => "127.0.0.1".into(),
        Some("*") | Some("") => "0.0.0.0".into(),
        Some(h) => h.to_string(),
    }
}

impl ClientForwards {
    /// Replies to our `tcpip-forward` requests are still to come.
    pub fn awaiting_replies(&self) -> bool {
        !self.replies.is_empty()
    }

    /// Binds local and dynamic listeners and asks for remote forwards.
    /// Failures are reported (fatal with `ExitOnForwardFailure`).
    pub async fn setup(
        conn: &mut Connection,
        local: &[Forward],
        remote: &[Forward],
        dynamic: &[Forward],
        exit_on_failure: bool,
    ) -> Result<Self, String> {
        let mut me = ClientForwards {
            fw: Forwards::new(),
            local: HashMap::new(),
            remote: Vec::new(),
            replies: VecDeque::new(),
            pending: HashMap::new(),
            exit_on_failure,
            stdio_channel: None,
            agent: None,
            remote_unix: Vec::new(),
            pending_unix: HashMap::new(),
        };
        for (f, dynamic) in local
            .iter()
            .map(|f| (f, false))
            .chain(dynamic.iter().map(|f| (f, true)))
        {
            let target = match (&f.connect, dynamic) {
                (_, true) | (None, _) => Target::Socks,
                (Some(ForwardEndpoint::Unix(p)), false) => Target::Unix(p.clone()),
                (Some(c), false) => {
                    let (h, p) = endpoint(c)?;
                    Target::Fixed(h.unwrap_or_else(|| "localhost".into()), p)
                }
            };
            if let ForwardEndpoint::Unix(path) = &f.listen {
                let _ = std::fs::remove_file(path);
                let l = tokio::net::UnixListener::bind(path).map_err(|e| format!("bind {}: {e}", path.display()))?;
                let key = me.fw.listen_unix(l);
                me.local.insert(key, target);
                continue;
            }
            let (host, port) = endpoint(&f.listen)?;
            let addr = bind_address(&host);
            match TcpListener::bind((addr.as_str(), port)).await {
                Ok(l) => {
                    let key = me.fw.listen(l);
                    me.local.insert(key, target);
                }
                Err(e) => {
                    let msg = format!("bind [{addr}]:{port}: {e}");
                    if exit_on_failure {
                        return Err(format!("Could not request local forwarding. {msg}"));
                    }
                    eprintln!("Warning: Could not request local forwarding. {msg}");
                }
            }
        }
        for f in remote {
            if let ForwardEndpoint::Unix(path) = &f.listen {
                let target = match &f.connect {
                    Some(ForwardEndpoint::Unix(p)) => Target::Unix(p.clone()),
                    Some(ForwardEndpoint::Tcp { host, port }) => {
                        Target::Fixed(host.clone().unwrap_or_else(|| "localhost".into()), *port)
                    }
                    None => return Err("dynamic remote forwarding is not supported yet".into()),
                };
                let mut data = Vec::new();
                data.put_string(path.to_string_lossy().as_bytes());
                conn.global_request("streamlocal-forward@openssh.com", true, &data)
                    .map_err(|e| e.to_string())?;
                me.remote_unix.push((path.to_string_lossy().into_owned(), target));
                // Replies come in order with the TCP ones: a placeholder entry.
                me.remote
                    .push((path.to_string_lossy().into_owned(), 0, String::new(), 0, u32::MAX));
                me.replies.push_back(me.remote.len() - 1);
                continue;
            }
            let (host, port) = endpoint(&f.listen)?;
            let Some(c) = &f.connect else {
                return Err("dynamic remote forwarding is not supported yet".into());
            };
            let (th, tp) = endpoint(c)?;
            let addr = host.unwrap_or_default();
            let mut data = Vec::new();
            data.put_string(addr.as_bytes());
            data.put_u32(u32::from(port));
            conn.global_request("tcpip-forward", true, &data)
                .map_err(|e| e.to_string())?;
            me.remote.push((
                addr,
                u32::from(port),
                th.unwrap_or_else(|| "localhost".into()),
                tp,
                u32::from(port),
            ));
            me.replies.push_back(me.remote.len() - 1);
        }
        Ok(me)
    }

    /// `-A`: forward the agent at `path` when the server asks.
    pub fn set_agent(&mut self, path: Option<std::path::PathBuf>) {
        self.agent = path;
    }

    /// `-W host:port`: joins stdin and stdout to a `direct-tcpip` channel.
    pub fn open_stdio(&mut self, conn: &mut Connection, host: &str, port: u16) -> Result<(), String> {
        let id = conn
            .channel_open(ChannelKind::DirectTcpip {
                host: host.to_string(),
                port: u32::from(port),
                originator: "127.0.0.1".into(),
                originator_port: 65535,
            })
            .map_err(|e| e.to_string())?;
        self.stdio_channel = Some(id);
        Ok(())
    }

    /// Handles a forwarding task's message.
    pub fn on_msg(&mut self, conn: &mut Connection, msg: FwdMsg) -> Result<(), tobira_proto::Error> {
        match msg {
            FwdMsg::IncomingUnix { key, stream } => {
                let kind = match self.local.get(&key) {
                    Some(Target::Fixed(host, port)) => ChannelKind::DirectTcpip {
                        host: host.clone(),
                        port: u32::from(*port),
                        originator: "127.0.0.1".into(),
                        originator_port: 0,
                    },
                    Some(Target::Unix(p)) => streamlocal_kind(p),
                    _ => return Ok(()),
                };
                let id = conn.channel_open(kind)?;
                self.pending_unix.insert(id, stream);
                Ok(())
            }
            FwdMsg::Incoming { key, stream, peer } => match self.local.get(&key) {
                Some(Target::Unix(p)) => {
                    let id = conn.channel_open(streamlocal_kind(p))?;
                    self.pending.insert(id, Pending { stream, socks: None });
                    Ok(())
                }
                Some(Target::Fixed(host, port)) => {
                    let id = conn.channel_open(ChannelKind::DirectTcpip {
                        host: host.clone(),
                        port: u32::from(*port),
                        originator: peer.ip().to_string(),
                        originator_port: u32::from(peer.port()),
                    })?;
                    self.pending.insert(id, Pending { stream, socks: None });
                    Ok(())
                }
                Some(Target::Socks) => {
                    tokio::spawn(socks_handshake(stream, peer, self.fw.tx.clone()));
                    Ok(())
                }
                None => Ok(()),
            },
            FwdMsg::Socks {
                stream,
                peer,
                host,
                port,
                version,
            } => {
                let id = conn.channel_open(ChannelKind::DirectTcpip {
                    host,
                    port: u32::from(port),
                    originator: peer.ip().to_string(),
                    originator_port: u32::from(peer.port()),
                })?;
                self.pending.insert(
                    id,
                    Pending {
                        stream,
                        socks: Some(version),
                    },
                );
                Ok(())
            }
            FwdMsg::Connected(id, r) => match r {
                Ok((rd, wr)) => {
                    conn.channel_accept(id)?;
                    self.fw.attach(id, rd, wr);
                    Ok(())
                }
                Err(e) => Forwards::refuse(conn, id, &e),
            },
            other => self.fw.on_stream_msg(conn, &other),
        }
    }

    /// Channel and global events for forwarding; true when handled.
    /// `Err(message)` when `ExitOnForwardFailure` makes a failure fatal.
    pub async fn on_event(&mut self, conn: &mut Connection, ev: &mut Event) -> Result<bool, String> {
        match ev {
            Event::ChannelOpenConfirmed { id } => {
                if Some(*id) == self.stdio_channel {
                    self.fw
                        .attach(*id, Box::new(tokio::io::stdin()), Box::new(tokio::io::stdout()));
                    return Ok(true);
                }
                if let Some(u) = self.pending_unix.remove(id) {
                    self.fw.attach_unix(*id, u);
                    return Ok(true);
                }
                let Some(mut p) = self.pending.remove(id) else {
                    return Ok(false);
                };
                if let Some(v) = p.socks {
                    let _ = p.stream.write_all(&socks_reply(v, true)).await;
                }
                self.fw.attach_tcp(*id, p.stream);
                Ok(true)
            }
            Event::ChannelOpenFailed { id, message, .. } => {
                if Some(*id) == self.stdio_channel {
                    return Err(format!("stdio forwarding failed: {message}"));
                }
                if self.pending_unix.remove(id).is_some() {
                    eprintln!("channel {id}: open failed: {}", crate::safe_text::printable(message));
                    return Ok(true);
                }
                let Some(mut p) = self.pending.remove(id) else {
                    return Ok(false);
                };
                if let Some(v) = p.socks {
                    let _ = p.stream.write_all(&socks_reply(v, false)).await;
                }
                eprintln!("channel {id}: open failed: {}", crate::safe_text::printable(message));
                Ok(true)
            }
            Event::ChannelOpenRequest {
                id,
                kind: ChannelKind::Other(name, data),
            } => {
                match name.as_str() {
                    "auth-agent@openssh.com" => match &self.agent {
                        Some(p) => self.fw.connect_unix(*id, p.clone()),
                        None => {
                            let _ = conn.channel_reject(
                                *id,
                                open_failure::ADMINISTRATIVELY_PROHIBITED,
                                "agent forwarding not requested",
                            );
                        }
                    },
                    "forwarded-streamlocal@openssh.com" => {
                        let path = Reader::new(data).utf8().unwrap_or_default().to_string();
                        match self.remote_unix.iter().find(|(p, _)| *p == path).map(|(_, t)| t) {
                            Some(Target::Fixed(h, p)) => self.fw.connect(*id, h.clone(), *p),
                            Some(Target::Unix(p)) => self.fw.connect_unix(*id, p.clone()),
                            _ => {
                                let _ = conn.channel_reject(
                                    *id,
                                    open_failure::ADMINISTRATIVELY_PROHIBITED,
                                    "no such forward",
                                );
                            }
                        }
                    }
                    _ => {
                        let _ = conn.channel_reject(*id, open_failure::UNKNOWN_CHANNEL_TYPE, "unknown channel type");
                    }
                }
                Ok(true)
            }
            Event::ChannelOpenRequest {
                id,
                kind: ChannelKind::ForwardedTcpip { port, .. },
            } => {
                let target = self
                    .remote
                    .iter()
                    .find(|r| r.4 == *port || r.1 == *port)
                    .map(|r| (r.2.clone(), r.3));
                match target {
                    Some((h, p)) => self.fw.connect(*id, h, p),
                    None => {
                        let _ = conn.channel_reject(*id, open_failure::ADMINISTRATIVELY_PROHIBITED, "no such forward");
                    }
                }
                Ok(true)
            }
            Event::GlobalReply { success, data } => {
                let Some(i) = self.replies.pop_front() else {
                    return Ok(false);
                };
                let (addr, port, host, tport, bound0) = self.remote[i].clone();
                if bound0 == u32::MAX {
                    if !*success {
                        let msg = format!("remote port forwarding failed for listen path {addr}");
                        if self.exit_on_failure {
                            return Err(format!("Error: {msg}"));
                        }
                        eprintln!("Warning: {msg}");
                    }
                    return Ok(true);
                }
                if !*success {
                    let msg = format!("remote port forwarding failed for listen port {port}");
                    if self.exit_on_failure {
                        return Err(format!("Error: {msg}"));
                    }
                    eprintln!("Warning: {msg}");
                } else if port == 0 {
                    if let Ok(bound) = Reader::new(data).u32() {
                        self.remote[i].4 = bound;
                        eprintln!("Allocated port {bound} for remote forward to {host}:{tport}");
                    }
                }
                let _ = addr;
                Ok(true)
            }
            // Moved, not copied, and only when the channel is a forwarding's.
            Event::ChannelData { id, data } if self.fw.owns(*id) => {
                Ok(self.fw.on_data(conn, *id, std::mem::take(data)))
            }
            Event::ChannelEof { id } => Ok(self.fw.on_eof(*id)),
            Event::ChannelClosed { id } => Ok(self.fw.on_closed(*id)),
            _ => Ok(false),
        }
    }
}
