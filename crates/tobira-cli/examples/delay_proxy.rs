//! A TCP proxy that delays every byte by a fixed time in each direction:
//! a long-distance path on loopback, for `bench/`'s round-trip section
//! (this machine has no `netem`). Bandwidth is whatever the machine gives;
//! only latency is added, so a transfer's speed over it is bounded by
//! window ÷ round-trip time, as over a real long path.
//!
//! `delay_proxy LISTEN_PORT TARGET_PORT ONE_WAY_MS`: accepts on
//! 127.0.0.1:LISTEN_PORT, connects each client to 127.0.0.1:TARGET_PORT.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Bytes read at a time.
const CHUNK: usize = 256 * 1024;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, target, ms] = args.as_slice() else {
        eprintln!("usage: delay_proxy LISTEN_PORT TARGET_PORT ONE_WAY_MS");
        std::process::exit(2);
    };
    let (Ok(listen), Ok(target), Ok(ms)) = (listen.parse::<u16>(), target.parse::<u16>(), ms.parse::<u64>()) else {
        eprintln!("delay_proxy: ports and delay are numbers");
        std::process::exit(2);
    };
    let delay = Duration::from_millis(ms);
    let listener = TcpListener::bind(("127.0.0.1", listen)).await?;
    loop {
        let (client, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::join!(forward(cr, sw, delay), forward(sr, cw, delay));
        });
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read; end of
/// input is passed on (as a shutdown) after the same delay.
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        loop {
            let mut buf = Vec::with_capacity(CHUNK);
            match from.read_buf(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = tx.send((Instant::now() + delay, Vec::new()));
                    return;
                }
                Ok(_) => {
                    if tx.send((Instant::now() + delay, buf)).is_err() {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, buf)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if buf.is_empty() || to.write_all(&buf).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
