//! Rekeying (RFC 4253 §9, RFC 4344 §3): byte limits on either side, the
//! 64-bit block cipher limit, re-exchanges that switch methods, and a
//! KEXINIT during a re-exchange.

mod common;

use std::sync::Arc;

use common::*;
use tobira_proto::{Config, Connection, DisconnectReason, Event};

fn server_config(base: Config) -> Config {
    Config {
        host_keys: vec![Arc::new(key("host_ed25519"))],
        ..base
    }
}

/// A client and a server with the given configurations, authenticated,
/// with one session channel open: (client, server, client id, server id).
fn authed(client: Config, server: Config) -> (Connection, Connection, u32, u32) {
    let mut c = Connection::client(Arc::new(client), rng(11));
    let mut s = Connection::server(Arc::new(server_config(server)), rng(12));
    pump(&mut c, &mut s);
    c.userauth_password("u", "p", None).unwrap();
    pump(&mut c, &mut s);
    s.auth_accept().unwrap();
    pump(&mut c, &mut s);
    assert!(c.is_authenticated());
    let (cid, sid) = open_session(&mut c, &mut s);
    (c, s, cid, sid)
}

fn blob(n: usize, salt: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ salt) as u8)
        .collect()
}

fn data_of(events: &[Event], want: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        if let Event::ChannelData { id, data } = e {
            if *id == want {
                out.extend_from_slice(data);
            }
        }
    }
    out
}

fn rekeys(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::KexDone { first: false }))
        .count()
}

/// Moves `data` from `from` to `to` in window-sized pieces; the events of
/// the receiving side and the sending side.
fn transfer(
    c: &mut Connection,
    s: &mut Connection,
    cid: u32,
    sid: u32,
    data: &[u8],
    server_sends: bool,
) -> (Vec<Event>, Vec<Event>) {
    let (mut recv, mut send) = (Vec::new(), Vec::new());
    for piece in data.chunks(256 * 1024) {
        let r = if server_sends {
            s.channel_write(sid, None, piece)
        } else {
            c.channel_write(cid, None, piece)
        };
        r.unwrap();
        let (ce, se) = pump(c, s);
        let (r, w) = if server_sends { (ce, se) } else { (se, ce) };
        recv.extend(r);
        send.extend(w);
    }
    (recv, send)
}

/// The client's `RekeyLimit` starts re-exchanges for the data it receives
/// and for the data it sends; nothing is lost.
#[test]
fn client_byte_limit_rekeys_both_directions() {
    let client = Config {
        rekey_bytes: 1 << 20,
        ..Config::default()
    };
    let (mut c, mut s, cid, sid) = authed(client, Config::default());
    let down = blob(8 << 20, 1);
    let (ce, se) = transfer(&mut c, &mut s, cid, sid, &down, true);
    assert_eq!(data_of(&ce, cid), down);
    assert!(rekeys(&ce) >= 6, "client saw {} re-exchanges", rekeys(&ce));
    assert_eq!(rekeys(&ce), rekeys(&se));
    let up = blob(8 << 20, 2);
    let (se, ce) = transfer(&mut c, &mut s, cid, sid, &up, false);
    assert_eq!(data_of(&se, sid), up);
    assert!(rekeys(&ce) >= 6, "client saw {} re-exchanges", rekeys(&ce));
}

/// The same with the limit on the server only.
#[test]
fn server_byte_limit_rekeys() {
    let server = Config {
        rekey_bytes: 1 << 20,
        ..Config::default()
    };
    let (mut c, mut s, cid, sid) = authed(Config::default(), server);
    let down = blob(6 << 20, 3);
    let (ce, se) = transfer(&mut c, &mut s, cid, sid, &down, true);
    assert_eq!(data_of(&ce, cid), down);
    assert!(rekeys(&se) >= 4, "server saw {} re-exchanges", rekeys(&se));
    let up = blob(6 << 20, 4);
    let (se, _) = transfer(&mut c, &mut s, cid, sid, &up, false);
    assert_eq!(data_of(&se, sid), up);
    assert!(rekeys(&se) >= 4, "server saw {} re-exchanges", rekeys(&se));
}

/// Without a configured limit nothing happens for a few MiB of AES.
#[test]
fn default_limit_is_not_reached_early() {
    let (mut c, mut s, cid, sid) = authed(Config::default(), Config::default());
    let down = blob(4 << 20, 5);
    let (ce, _) = transfer(&mut c, &mut s, cid, sid, &down, true);
    assert_eq!(data_of(&ce, cid), down);
    assert_eq!(rekeys(&ce), 0);
    assert!(!c.rekey_due() && !s.rekey_due());
}

/// 3DES has 64-bit blocks: RFC 4344 §3.2 wants new keys every 2^16 blocks
/// (512 KiB) whatever the byte limit says.
#[test]
fn triple_des_rekeys_by_its_block_limit() {
    let legacy = |base: Config| Config {
        cipher: vec!["3des-cbc".into()],
        mac: vec!["hmac-sha2-256".into()],
        ..base
    };
    let (mut c, mut s, cid, sid) = authed(legacy(Config::default()), legacy(Config::default()));
    let down = blob(3 << 20, 6);
    let (ce, _) = transfer(&mut c, &mut s, cid, sid, &down, true);
    assert_eq!(data_of(&ce, cid), down);
    assert!(rekeys(&ce) >= 4, "{} re-exchanges for 3 MiB of 3DES", rekeys(&ce));
}

/// A re-exchange may pick another method when the lists changed in
/// between; the connection carries on under the new keys.
#[test]
fn rekey_switches_methods() {
    let both = |kex: &[&str], cipher: &str| Config {
        kex: kex.iter().map(|s| s.to_string()).collect(),
        cipher: vec![cipher.into(), "aes256-ctr".into()],
        ..Config::default()
    };
    let (mut c, mut s, cid, sid) = authed(
        both(
            &["curve25519-sha256", "diffie-hellman-group16-sha512"],
            "chacha20-poly1305@openssh.com",
        ),
        both(
            &["curve25519-sha256", "diffie-hellman-group16-sha512"],
            "chacha20-poly1305@openssh.com",
        ),
    );
    c.set_config(Arc::new(both(&["diffie-hellman-group16-sha512"], "aes256-ctr")));
    c.start_rekey();
    let (ce, _) = pump(&mut c, &mut s);
    let negotiated = ce
        .iter()
        .find_map(|e| match e {
            Event::Negotiated { algorithms, .. } => Some(algorithms.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(negotiated.kex, "diffie-hellman-group16-sha512");
    assert_eq!(negotiated.cipher_c2s, "aes256-ctr");
    assert_eq!(rekeys(&ce), 1);
    let up = blob(300_000, 7);
    let (se, _) = transfer(&mut c, &mut s, cid, sid, &up, false);
    assert_eq!(data_of(&se, sid), up);
}

/// A second KEXINIT while a re-exchange runs is a protocol error with a
/// DISCONNECT, not a panic or a second exchange.
#[test]
fn kexinit_during_rekey_disconnects() {
    let (mut c, mut s, _, _) = authed(Config::default(), Config::default());
    // The client's state machine never sends two, so forge the first one as
    // an opaque message (sealed with the current keys like any other), then
    // let the client start a real re-exchange.
    let d = Config::default();
    let forged = tobira_proto::msg::transport::KexInit {
        kex: d.kex.clone(),
        host_key: d.host_key.clone(),
        cipher_c2s: d.cipher.clone(),
        cipher_s2c: d.cipher.clone(),
        mac_c2s: d.mac.clone(),
        mac_s2c: d.mac.clone(),
        comp_c2s: d.compression.clone(),
        comp_s2c: d.compression.clone(),
        ..Default::default()
    };
    c.send_payload(forged.encode()).unwrap();
    c.start_rekey();
    let bytes = c.pending_output().to_vec();
    let e = s.feed(&bytes).unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError), "{e}");
    assert!(e.to_string().contains("duplicate KEXINIT"), "{e}");
    assert!(s.is_closed());
}

/// Data held when a byte limit starts a re-exchange must go out before
/// data written after our NEWKEYS but before the peer's (a regression:
/// newer data used to overtake it, found by the 1 GiB interop test).
#[test]
fn held_data_keeps_its_order_across_newkeys() {
    let server = Config {
        rekey_bytes: 64 * 1024,
        ..Config::default()
    };
    let (mut c, mut s, cid, sid) = authed(Config::default(), server);
    let first = blob(200 * 1024, 8);
    let second = blob(50 * 1024, 9);
    // Past the limit: the server starts a re-exchange and holds the rest.
    s.channel_write(sid, None, &first).unwrap();
    assert!(s.kex_in_progress());
    let mut ce = Vec::new();
    let out = s.pending_output().to_vec();
    s.consume_output(out.len());
    c.feed(&out).unwrap();
    ce.extend(std::iter::from_fn(|| c.poll_event()));
    // The client's KEXINIT and ECDH init reach the server, which replies
    // and sends NEWKEYS; the client's NEWKEYS has not arrived yet.
    let out = c.pending_output().to_vec();
    c.consume_output(out.len());
    s.feed(&out).unwrap();
    // The application writes more in this window.
    s.channel_write(sid, None, &second).unwrap();
    let (more, _) = pump(&mut c, &mut s);
    ce.extend(more);
    let mut want = first.clone();
    want.extend_from_slice(&second);
    let got = data_of(&ce, cid);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "channel data reordered across the re-exchange");
}
