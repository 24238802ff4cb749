//! A light SSH client for `bench/run`'s handshake rate: `N` connections,
//! `P` at a time, each a full key exchange, publickey authentication, a
//! session running `true`, its exit status and the close — from one thread,
//! so that the figure measures the server rather than client start-up.
//!
//! ```text
//! handshake_load HOST PORT USER KEY N P [KEX HOSTKEY CIPHER]
//! ```
//!
//! Prints `seconds=<wall time> ok=<n> failed=<n>` and the first failures.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tobira::client::ClientSettings;
use tobira::client_auth::{AuthSettings, Authenticator, NoPrompter};
use tobira_proto::msg::connection::{ChannelKind, ChannelRequest};
use tobira_proto::{DisconnectReason, Event};
use tokio::sync::Semaphore;

/// One connection: log in, run `true`, wait for its status and the close.
async fn one(settings: Arc<ClientSettings>, auth: AuthSettings) -> Result<(), String> {
    let mut verify = |_: &str, _: &[u8]| Ok(());
    let mut authn = Authenticator::new(auth);
    let (mut d, _) = tobira::client::connect(&settings, &mut verify, &mut authn, &mut NoPrompter, &mut |_| {})
        .await
        .map_err(|e| e.to_string())?;
    let id = d.conn.channel_open(ChannelKind::Session).map_err(|e| e.to_string())?;
    let mut status = None;
    loop {
        match d.next_event().await.map_err(|e| e.to_string())? {
            Event::ChannelOpenConfirmed { id: c } if c == id => {
                d.conn
                    .channel_request(id, &ChannelRequest::Exec { command: "true".into() }, false)
                    .map_err(|e| e.to_string())?;
            }
            Event::ChannelOpenFailed { message, .. } => return Err(format!("open failed: {message}")),
            Event::ChannelRequest {
                request: ChannelRequest::ExitStatus { status: s },
                ..
            } => status = Some(s),
            Event::ChannelClosed { id: c } if c == id => break,
            _ => {}
        }
    }
    d.conn
        .disconnect(DisconnectReason::ByApplication, "disconnected by user");
    let _ = d.flush().await;
    match status {
        Some(0) => Ok(()),
        other => Err(format!("exit status {other:?}")),
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 7 {
        eprintln!("usage: handshake_load HOST PORT USER KEY N P [KEX HOSTKEY CIPHER]");
        std::process::exit(2);
    }
    let port: u16 = a[2].parse().expect("port");
    let n: usize = a[5].parse().expect("N");
    let parallel: usize = a[6].parse().expect("P");
    let pick = |i: usize, default: &str| vec![a.get(i).cloned().unwrap_or_else(|| default.to_string())];
    let proto = tobira_proto::Config {
        kex: pick(7, "curve25519-sha256"),
        host_key: pick(8, "ssh-ed25519"),
        cipher: pick(9, "aes128-gcm@openssh.com"),
        ..tobira_proto::Config::default()
    };
    let settings = Arc::new(ClientSettings {
        host: a[1].clone(),
        port,
        user: a[3].clone(),
        proto: Arc::new(proto),
        connect_timeout: Some(Duration::from_secs(60)),
        rekey_interval: None,
        address_family: tobira::config::client::AddressFamily::Any,
        bind_address: None,
        connection_attempts: 1,
    });
    let auth = AuthSettings::publickey_only(&a[3], &a[1], PathBuf::from(&a[4]));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let began = Instant::now();
    let results = rt.block_on(async {
        let slots = Arc::new(Semaphore::new(parallel.max(1)));
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let (s, au, sl) = (settings.clone(), auth.clone(), slots.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = sl.acquire_owned().await.map_err(|e| e.to_string())?;
                one(s, au).await
            }));
        }
        let mut out = Vec::with_capacity(n);
        for t in tasks {
            out.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        out
    });
    let secs = began.elapsed().as_secs_f64();
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    println!("seconds={secs:.4} ok={} failed={}", n - failed.len(), failed.len());
    for f in failed.iter().take(5) {
        println!("failure: {f}");
    }
}
