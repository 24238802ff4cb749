//! Shared pieces of the sans-IO tests: fixture keys, a seeded RNG, and a
//! pump that moves bytes between a client and a server until both are quiet.
#![allow(dead_code)]

use std::sync::Arc;

use rand::SeedableRng;
use tobira_proto::hostkey::SigningKey;
use tobira_proto::msg::connection::ChannelKind;
use tobira_proto::wire::Writer;
use tobira_proto::{Config, Connection, Event};

/// A fixture key from `tests/keys` (made by OpenSSH's ssh-keygen).
pub fn key(name: &str) -> SigningKey {
    let path = format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    let k = ssh_key::PrivateKey::from_openssh(std::fs::read_to_string(path).unwrap()).unwrap();
    SigningKey::from_ssh_key(&k).unwrap()
}

/// A deterministic RNG.
pub fn rng(seed: u64) -> Box<rand::rngs::StdRng> {
    Box::new(rand::rngs::StdRng::seed_from_u64(seed))
}

/// Moves bytes until quiet (host keys accepted); the events of each side.
pub fn pump(c: &mut Connection, s: &mut Connection) -> (Vec<Event>, Vec<Event>) {
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    loop {
        let co = c.pending_output().to_vec();
        c.consume_output(co.len());
        let so = s.pending_output().to_vec();
        s.consume_output(so.len());
        if co.is_empty() && so.is_empty() {
            return (ce, se);
        }
        s.feed(&co).unwrap();
        c.feed(&so).unwrap();
        while let Some(ev) = c.poll_event() {
            if let Event::HostKey { .. } = ev {
                c.accept_host_key().unwrap();
            }
            ce.push(ev);
        }
        se.extend(std::iter::from_fn(|| s.poll_event()));
    }
}

/// Everything `c` has to send, as a driver writes it: channel data is
/// sealed in bursts as the output drains (`OUTPUT_BURST`), so the output
/// is taken until it stays empty.
pub fn drain_output(c: &mut Connection) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        let out = c.pending_output().to_vec();
        if out.is_empty() {
            return all;
        }
        c.consume_output(out.len());
        all.extend_from_slice(&out);
    }
}

/// A client and a server up to SERVICE_ACCEPT (ssh-userauth).
pub fn pair() -> (Connection, Connection) {
    pair_with(Config::default())
}

/// [`pair`] with the client's configuration.
pub fn pair_with(client: Config) -> (Connection, Connection) {
    let server = Config {
        host_keys: vec![Arc::new(key("host_ed25519"))],
        ..Config::default()
    };
    let mut c = Connection::client(Arc::new(client), rng(1));
    let mut s = Connection::server(Arc::new(server), rng(2));
    let (ce, _) = pump(&mut c, &mut s);
    assert!(ce.contains(&Event::ServiceAccepted("ssh-userauth".into())));
    (c, s)
}

/// Opens a session channel from the client and accepts it on the server;
/// returns (client id, server id).
pub fn open_session(c: &mut Connection, s: &mut Connection) -> (u32, u32) {
    let cid = c.channel_open(ChannelKind::Session).unwrap();
    let (_, se) = pump(c, s);
    let sid = se
        .iter()
        .find_map(|e| match e {
            Event::ChannelOpenRequest { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap();
    s.channel_accept(sid).unwrap();
    pump(c, s);
    (cid, sid)
}

/// An unencrypted binary packet (RFC 4253 §6): `payload` and `pad` zero
/// bytes of padding, no MAC.
pub fn packet(payload: &[u8], pad: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.put_u32((1 + payload.len() + pad) as u32);
    v.push(pad as u8);
    v.extend_from_slice(payload);
    v.extend(std::iter::repeat_n(0u8, pad));
    v
}
