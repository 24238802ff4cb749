//! Forwarded channels (RFC 4254 §7): byte streams (TCP connections, or the
//! client's stdin/stdout for `-W`) joined to channels, with flow control
//! both ways, in tasks that report to the connection task.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tobira_proto::msg::connection::open_failure;
use tobira_proto::Connection;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

/// Output queued toward the peer before a stream's reader waits.
const HIGH_WATER: usize = 1024 * 1024;

/// A boxed reading half.
pub type Reader = Box<dyn AsyncRead + Unpin + Send>;
/// A boxed writing half.
pub type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// What forwarding tasks tell the connection task.
pub enum FwdMsg {
    /// Bytes read from the local stream, for the channel. The second field
    /// of these four is the attachment's generation: channel ids are reused,
    /// so messages of an earlier stream on the same id are ignored.
    Data(u32, u64, Vec<u8>),
    /// The local stream's reading side ended.
    Eof(u32, u64),
    /// The local stream took this many bytes of channel data.
    Consumed(u32, u64, usize),
    /// The local stream's writing side is done (or failed).
    WriteDone(u32, u64),
    /// A connection arrived on listener `key` (-L, -D, or a remote forward).
    Incoming {
        /// The listener's key.
        key: usize,
        /// The accepted stream.
        stream: TcpStream,
        /// Who connected.
        peer: SocketAddr,
    },
    /// An outgoing connection for channel `id` finished (TCP or Unix
    /// socket), as its two halves.
    Connected(u32, std::io::Result<(Reader, Writer)>),
    /// A connection arrived on Unix listener `key` (streamlocal forward,
    /// forwarded agent socket).
    IncomingUnix {
        /// The listener's key.
        key: usize,
        /// The accepted stream.
        stream: tokio::net::UnixStream,
    },
    /// A SOCKS client (`-D`) asked for `host:port`.
    Socks {
        /// The SOCKS client's stream, handshake read.
        stream: TcpStream,
        /// Who connected.
        peer: SocketAddr,
        /// Requested host.
        host: String,
        /// Requested port.
        port: u16,
        /// SOCKS version (4 or 5), for the reply.
        version: u8,
    },
}

/// Reads a SOCKS4/4a or SOCKS5 CONNECT request (no authentication), as
/// ssh's `-D` accepts, and reports it as [`FwdMsg::Socks`].
pub async fn socks_handshake(mut stream: TcpStream, peer: SocketAddr, tx: mpsc::Sender<FwdMsg>) {
    let r: std::io::Result<(String, u16, u8)> = async {
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad SOCKS request");
        let version = stream.read_u8().await?;
        match version {
            4 => {
                let cmd = stream.read_u8().await?;
                let port = stream.read_u16().await?;
                let mut ip = [0u8; 4];
                stream.read_exact(&mut ip).await?;
                read_cstr(&mut stream).await?; // user id
                let host = if ip[..3] == [0, 0, 0] && ip[3] != 0 {
                    read_cstr(&mut stream).await? // SOCKS4a host name
                } else {
                    std::net::Ipv4Addr::from(ip).to_string()
                };
                if cmd != 1 {
                    return Err(bad());
                }
                Ok((host, port, 4))
            }
            5 => {
                let n = stream.read_u8().await?;
                let mut methods = vec![0u8; n as usize];
                stream.read_exact(&mut methods).await?;
                if !methods.contains(&0) {
                    stream.write_all(&[5, 0xff]).await?;
                    return Err(bad());
                }
                stream.write_all(&[5, 0]).await?;
                let mut head = [0u8; 4];
                stream.read_exact(&mut head).await?;
                if head[0] != 5 || head[1] != 1 {
                    stream.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
                    return Err(bad());
                }
                let host = match head[3] {
                    1 => {
                        let mut a = [0u8; 4];
                        stream.read_exact(&mut a).await?;
                        std::net::Ipv4Addr::from(a).to_string()
                    }
                    3 => {
                        let len = stream.read_u8().await?;
                        let mut h = vec![0u8; len as usize];
                        stream.read_exact(&mut h).await?;
                        String::from_utf8(h).map_err(|_| bad())?
                    }
                    4 => {
                        let mut a = [0u8; 16];
                        stream.read_exact(&mut a).await?;
                        std::net::Ipv6Addr::from(a).to_string()
                    }
                    _ => return Err(bad()),
                };
                let port = stream.read_u16().await?;
                Ok((host, port, 5))
            }
            _ => Err(bad()),
        }
    }
    .await;
    if let Ok((host, port, version)) = r {
        let _ = tx
            .send(FwdMsg::Socks {
                stream,
                peer,
                host,
                port,
                version,
            })
            .await;
    }
}

async fn read_cstr(s: &mut TcpStream) -> std::io::Result<String> {
    let mut out = Vec::new();
    loop {
        let b = s.read_u8().await?;
        if b == 0 {
            break;
        }
        if out.len() > 255 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "SOCKS string too long",
            ));
        }
        out.push(b);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The SOCKS reply for a request of `version`, success or not.
pub fn socks_reply(version: u8, ok: bool) -> Vec<u8> {
    if version == 4 {
        vec![0, if ok { 0x5a } else { 0x5b }, 0, 0, 0, 0, 0, 0]
    } else {
        vec![5, if ok { 0 } else { 5 }, 0, 1, 0, 0, 0, 0, 0, 0]
    }
}

impl std::fmt::Debug for FwdMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FwdMsg::Data(id, _, d) => write!(f, "Data({id}, {} bytes)", d.len()),
            FwdMsg::Eof(id, _) => write!(f, "Eof({id})"),
            FwdMsg::Consumed(id, _, n) => write!(f, "Consumed({id}, {n})"),
            FwdMsg::WriteDone(id, _) => write!(f, "WriteDone({id})"),
            FwdMsg::Incoming { key, peer, .. } => write!(f, "Incoming({key}, {peer})"),
            FwdMsg::IncomingUnix { key, .. } => write!(f, "IncomingUnix({key})"),
            FwdMsg::Connected(id, r) => write!(f, "Connected({id}, ok: {})", r.is_ok()),
            FwdMsg::Socks { host, port, .. } => write!(f, "Socks({host}:{port})"),
        }
    }
}

struct Fwd {
    gen: u64,
    to_local: Option<mpsc::UnboundedSender<Option<Vec<u8>>>>,
    queued: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    read_done: bool,
    write_done: bool,
}

/// The forwarded channels of one connection.
pub struct Forwards {
    map: HashMap<u32, Fwd>,
    /// Sender for listener and connect tasks.
    pub tx: mpsc::Sender<FwdMsg>,
    /// Messages from the tasks.
    pub rx: mpsc::Receiver<FwdMsg>,
    listeners: HashMap<usize, tokio::task::JoinHandle<()>>,
    next_key: usize,
    next_gen: u64,
}

impl Default for Forwards {
    fn default() -> Self {
        Self::new()
    }
}

impl Forwards {
    /// An empty set.
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel(64);
        Forwards {
            map: HashMap::new(),
            tx,
            rx,
            listeners: HashMap::new(),
            next_key: 0,
            next_gen: 0,
        }
    }

    /// Accepts connections on `listener`, reporting each as
    /// [`FwdMsg::Incoming`] with the returned key.
    pub fn listen(&mut self, listener: TcpListener) -> usize {
        let key = self.next_key;
        self.next_key += 1;
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                if tx.send(FwdMsg::Incoming { key, stream, peer }).await.is_err() {
                    return;
                }
            }
        });
        self.listeners.insert(key, task);
        key
    }

    /// Stops listener `key`.
    pub fn unlisten(&mut self, key: usize) {
        if let Some(t) = self.listeners.remove(&key) {
            t.abort();
        }
    }

    /// Connects to `host:port` in a task; the result comes as
    /// [`FwdMsg::Connected`] for channel `id`.
    pub fn connect(&self, id: u32, host: String, port: u16) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let r = TcpStream::connect((host.as_str(), port)).await.map(|s| {
                let _ = s.set_nodelay(true);
                let (r, w) = s.into_split();
                (Box::new(r) as Reader, Box::new(w) as Writer)
            });
            let _ = tx.send(FwdMsg::Connected(id, r)).await;
        });
    }

    /// Connects to a Unix socket in a task; the result comes as
    /// [`FwdMsg::Connected`] for channel `id`.
    pub fn connect_unix(&self, id: u32, path: std::path::PathBuf) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let r = tokio::net::UnixStream::connect(&path).await.map(|s| {
                let (r, w) = s.into_split();
                (Box::new(r) as Reader, Box::new(w) as Writer)
            });
            let _ = tx.send(FwdMsg::Connected(id, r)).await;
        });
    }

    /// Accepts connections on a Unix listener, reporting each as
    /// [`FwdMsg::IncomingUnix`] with the returned key.
    pub fn listen_unix(&mut self, listener: tokio::net::UnixListener) -> usize {
        let key = self.next_key;
        self.next_key += 1;
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if tx.send(FwdMsg::IncomingUnix { key, stream }).await.is_err() {
                    return;
                }
            }
        });
        self.listeners.insert(key, task);
        key
    }

    /// Joins channel `id` to a Unix stream.
    pub fn attach_unix(&mut self, id: u32, stream: tokio::net::UnixStream) {
        let (r, w) = stream.into_split();
        self.attach(id, Box::new(r), Box::new(w));
    }

    /// Joins channel `id` to a stream (its two halves).
    pub fn attach(&mut self, id: u32, reader: Reader, writer: Writer) {
        let (to_tx, to_rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        self.next_gen += 1;
        let gen = self.next_gen;
        tokio::spawn(read_local(
            id,
            gen,
            reader,
            self.tx.clone(),
            queued.clone(),
            wake.clone(),
        ));
        tokio::spawn(write_local(id, gen, writer, to_rx, self.tx.clone()));
        self.map.insert(
            id,
            Fwd {
                gen,
                to_local: Some(to_tx),
                queued,
                wake,
                read_done: false,
                write_done: false,
            },
        );
    }

    /// Joins channel `id` to a TCP stream.
    pub fn attach_tcp(&mut self, id: u32, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        self.attach(id, Box::new(r), Box::new(w));
    }

    /// Whether channel `id` is one of the forwardings'.
    pub fn owns(&self, id: u32) -> bool {
        self.map.contains_key(&id)
    }

    /// Channel data for the local stream. False when `id` is not ours.
    pub fn on_data(&mut self, conn: &mut Connection, id: u32, data: Vec<u8>) -> bool {
        let Some(f) = self.map.get(&id) else { return false };
        match &f.to_local {
            Some(tx) => {
                let n = data.len();
                if tx.send(Some(data)).is_err() {
                    let _ = conn.channel_consumed(id, n);
                }
            }
            None => {
                let _ = conn.channel_consumed(id, data.len());
            }
        }
        true
    }

    /// The peer's EOF: the local stream's writing side is shut down.
    pub fn on_eof(&mut self, id: u32) -> bool {
        let Some(f) = self.map.get_mut(&id) else { return false };
        if let Some(tx) = f.to_local.take() {
            let _ = tx.send(None);
        }
        true
    }

    /// The channel is gone: the local stream is dropped.
    pub fn on_closed(&mut self, id: u32) -> bool {
        self.map.remove(&id).is_some()
    }

    /// Refreshes the flow-control view of each stream.
    pub fn refresh(&self, conn: &Connection) {
        for (id, f) in &self.map {
            f.queued.store(conn.channel_queued(*id), Ordering::Relaxed);
            f.wake.notify_one();
        }
    }

    /// Applies a task message about an attached stream (`Incoming` and
    /// `Connected` are for the caller, which decides).
    pub fn on_stream_msg(&mut self, conn: &mut Connection, msg: &FwdMsg) -> Result<(), tobira_proto::Error> {
        // Messages of an earlier stream on a reused channel id are stale.
        let current = |map: &HashMap<u32, Fwd>, id: &u32, gen: &u64| map.get(id).is_some_and(|f| f.gen == *gen);
        match msg {
            FwdMsg::Data(id, gen, data) if current(&self.map, id, gen) && conn.channel_exists(*id) => {
                conn.channel_write(*id, None, data)?
            }
            FwdMsg::Eof(id, gen) if current(&self.map, id, gen) => {
                if let Some(f) = self.map.get_mut(id) {
                    f.read_done = true;
                }
                conn.channel_eof(*id)?;
            }
            FwdMsg::Consumed(id, gen, n) if current(&self.map, id, gen) && conn.channel_exists(*id) => {
                conn.channel_consumed(*id, *n)?
            }
            FwdMsg::WriteDone(id, gen) if current(&self.map, id, gen) => {
                if let Some(f) = self.map.get_mut(id) {
                    f.write_done = true;
                }
            }
            _ => {}
        }
        // Both directions finished: close the channel (after queued data).
        let done: Vec<u32> = self
            .map
            .iter()
            .filter(|(_, f)| f.read_done && f.write_done)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            conn.channel_close(id)?;
        }
        Ok(())
    }

    /// Attaches a pending stream once its channel is open.
    pub fn confirmed(&mut self, pending: &mut HashMap<u32, TcpStream>, id: u32) -> bool {
        match pending.remove(&id) {
            Some(s) => {
                self.attach_tcp(id, s);
                true
            }
            None => false,
        }
    }

    /// Refuses a channel whose outgoing connection failed.
    pub fn refuse(conn: &mut Connection, id: u32, e: &std::io::Error) -> Result<(), tobira_proto::Error> {
        conn.channel_reject(id, open_failure::CONNECT_FAILED, &e.to_string())
    }

    /// Ends every stream and listener.
    pub fn shutdown(&mut self) {
        self.map.clear();
        for (_, t) in self.listeners.drain() {
            t.abort();
        }
    }
}

async fn read_local(
    id: u32,
    gen: u64,
    mut r: Reader,
    tx: mpsc::Sender<FwdMsg>,
    queued: Arc<AtomicUsize>,
    wake: Arc<Notify>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        while queued.load(Ordering::Relaxed) > HIGH_WATER {
            wake.notified().await;
        }
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                queued.fetch_add(n, Ordering::Relaxed);
                if tx.send(FwdMsg::Data(id, gen, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.send(FwdMsg::Eof(id, gen)).await;
}

async fn write_local(
    id: u32,
    gen: u64,
    mut w: Writer,
    mut rx: mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    tx: mpsc::Sender<FwdMsg>,
) {
    let mut broken = false;
    while let Some(item) = rx.recv().await {
        let Some(data) = item else { break };
        if !broken && (w.write_all(&data).await.is_err() || w.flush().await.is_err()) {
            broken = true;
        }
        if tx.send(FwdMsg::Consumed(id, gen, data.len())).await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
    let _ = tx.send(FwdMsg::WriteDone(id, gen)).await;
}
