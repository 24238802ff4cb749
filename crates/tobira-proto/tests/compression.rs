//! Compression in the connection (RFC 4253 §6.2, OpenSSH's delayed
//! `zlib@openssh.com`): data crosses intact and smaller, the delayed method
//! starts only after USERAUTH_SUCCESS, streams restart at every NEWKEYS,
//! and a packet that inflates past the packet limit ends the connection
//! with SSH_DISCONNECT_COMPRESSION_ERROR.

mod common;

use std::sync::Arc;

use common::*;
use tobira_proto::{Config, Connection, DisconnectReason, Event};

fn config(methods: &[&str]) -> Config {
    Config {
        compression: methods.iter().map(|s| s.to_string()).collect(),
        ..Config::default()
    }
}

/// Moves bytes until quiet; counts the bytes that crossed the wire.
fn pump_counting(c: &mut Connection, s: &mut Connection, wire: &mut usize) -> (Vec<Event>, Vec<Event>) {
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    loop {
        let co = c.pending_output().to_vec();
        c.consume_output(co.len());
        let so = s.pending_output().to_vec();
        s.consume_output(so.len());
        if co.is_empty() && so.is_empty() {
            return (ce, se);
        }
        *wire += co.len() + so.len();
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

/// Authenticated pair with a session channel: (client, server, cid, sid).
fn authed(client: Config, server: Config) -> (Connection, Connection, u32, u32) {
    let server = Config {
        host_keys: vec![Arc::new(key("host_ed25519"))],
        ..server
    };
    let mut c = Connection::client(Arc::new(client), rng(21));
    let mut s = Connection::server(Arc::new(server), rng(22));
    pump(&mut c, &mut s);
    c.userauth_password("u", "p", None).unwrap();
    pump(&mut c, &mut s);
    s.auth_accept().unwrap();
    pump(&mut c, &mut s);
    assert!(c.is_authenticated());
    let (cid, sid) = open_session(&mut c, &mut s);
    (c, s, cid, sid)
}

fn text(n: usize) -> Vec<u8> {
    let words = ["tobira ", "opens ", "the ", "door ", "to ", "secure ", "shells\n"];
    words.iter().cycle().flat_map(|w| w.bytes()).take(n).collect()
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

fn send_both_ways(c: &mut Connection, s: &mut Connection, cid: u32, sid: u32, data: &[u8]) -> usize {
    let mut wire = 0;
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for piece in data.chunks(64 * 1024) {
        c.channel_write(cid, None, piece).unwrap();
        s.channel_write(sid, None, piece).unwrap();
        let (ce, se) = pump_counting(c, s, &mut wire);
        down.extend(data_of(&ce, cid));
        up.extend(data_of(&se, sid));
    }
    assert_eq!(up, data, "client to server");
    assert_eq!(down, data, "server to client");
    wire
}

fn negotiated_comp(events: &[Event]) -> Option<(String, String)> {
    events.iter().find_map(|e| match e {
        Event::Negotiated { algorithms, .. } => Some((algorithms.comp_c2s.clone(), algorithms.comp_s2c.clone())),
        _ => None,
    })
}

#[test]
fn each_method_carries_data_smaller() {
    for method in ["zlib@openssh.com", "zlib"] {
        let (mut c, mut s, cid, sid) = authed(config(&[method, "none"]), config(&["none", method]));
        let data = text(2 << 20);
        let wire = send_both_ways(&mut c, &mut s, cid, sid, &data);
        // 4 MiB of text crossed; compressed it is a small fraction.
        assert!(
            wire < data.len() / 10,
            "{method}: {wire} bytes on the wire for 2 x {}",
            data.len()
        );
        // A re-exchange restarts the streams; data still flows.
        c.start_rekey();
        let (ce, _) = pump(&mut c, &mut s);
        assert_eq!(negotiated_comp(&ce), Some((method.to_string(), method.to_string())));
        let wire = send_both_ways(&mut c, &mut s, cid, sid, &text(300_000));
        assert!(wire < 60_000, "{method} after rekey: {wire}");
    }
}

#[test]
fn no_compression_when_either_side_says_none() {
    let (mut c, mut s, cid, sid) = authed(config(&["zlib@openssh.com", "none"]), config(&["none"]));
    let data = text(1 << 20);
    let wire = send_both_ways(&mut c, &mut s, cid, sid, &data);
    assert!(wire > 2 * data.len(), "{wire}");
}

/// The delayed method: nothing is compressed before USERAUTH_SUCCESS (a
/// 20 KB password of repeated text crosses at full size), everything after.
#[test]
fn delayed_method_waits_for_authentication() {
    let cfg = config(&["zlib@openssh.com"]);
    let server = Config {
        host_keys: vec![Arc::new(key("host_ed25519"))],
        ..cfg.clone()
    };
    let mut c = Connection::client(Arc::new(cfg), rng(23));
    let mut s = Connection::server(Arc::new(server), rng(24));
    let mut wire = 0;
    pump_counting(&mut c, &mut s, &mut wire);
    // A 20 KiB password of repeated text crosses uncompressed before auth.
    let before = wire;
    let password = String::from_utf8(text(20_000)).unwrap();
    c.userauth_password("u", &password, None).unwrap();
    let (_, se) = pump_counting(&mut c, &mut s, &mut wire);
    assert!(
        wire - before > 20_000,
        "pre-auth request was compressed: {}",
        wire - before
    );
    assert!(se.iter().any(|e| matches!(e, Event::AuthRequest(_))));
    s.auth_accept().unwrap();
    pump(&mut c, &mut s);
    let (cid, sid) = open_session(&mut c, &mut s);
    let data = text(1 << 20);
    let wire = send_both_ways(&mut c, &mut s, cid, sid, &data);
    assert!(wire < data.len() / 10, "{wire}");
}

/// A packet that inflates past 256 KiB: DISCONNECT with
/// SSH_DISCONNECT_COMPRESSION_ERROR, no allocation of the whole.
#[test]
fn inflation_past_the_packet_limit_is_refused() {
    let (mut c, mut s, _, _) = authed(config(&["zlib@openssh.com"]), config(&["zlib@openssh.com"]));
    // 4 MiB of zeros deflate to a few KiB: a bomb for a 256 KiB limit.
    let mut bomb = vec![2u8]; // SSH_MSG_IGNORE
    bomb.extend(std::iter::repeat_n(0u8, 4 << 20));
    c.send_payload(bomb).unwrap();
    let bytes = c.pending_output().to_vec();
    assert!(bytes.len() < 64 * 1024, "{}", bytes.len());
    let e = s.feed(&bytes).unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::CompressionError), "{e}");
    assert!(s.is_closed());
    // The DISCONNECT is queued for the peer.
    assert!(!s.pending_output().is_empty());
}
