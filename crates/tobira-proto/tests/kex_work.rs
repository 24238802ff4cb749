//! The server's slow key-exchange step handed to the driver
//! (`Config::offload_slow_kex`, `Connection::take_kex_work`): the same
//! bytes on the wire as when it runs inline, nothing sent and no input
//! processed while it is out, and the fast methods still inline.

mod common;

use std::sync::Arc;

use common::{key, rng};
use tobira_proto::{Config, Connection, Error, Event};

fn only(name: &str) -> Vec<String> {
    vec![name.to_string()]
}

fn server_config(offload: bool) -> Config {
    Config {
        kex: tobira_proto::algorithms::KEX_SUPPORTED
            .iter()
            .map(|s| s.to_string())
            .collect(),
        host_key: tobira_proto::algorithms::HOSTKEY_SUPPORTED
            .iter()
            .map(|s| s.to_string())
            .collect(),
        host_keys: vec![
            Arc::new(key("host_ed25519")),
            Arc::new(key("host_ecdsa")),
            Arc::new(key("host_rsa")),
            Arc::new(key("host_dsa")),
        ],
        offload_slow_kex: offload,
        ..Config::default()
    }
}

fn client_config(kex: &str, host_key: &str) -> Config {
    Config {
        kex: only(kex),
        host_key: only(host_key),
        ..Config::default()
    }
}

/// What a run of [`pump`] saw.
#[derive(Default)]
struct Run {
    /// Every byte the server sent, in order.
    server_bytes: Vec<u8>,
    client_events: Vec<Event>,
    /// Key exchange steps handed out by the server.
    works: usize,
}

/// Moves bytes until quiet; the server's slow steps, when handed out, run
/// on another thread (which also shows [`tobira_proto::connection::KexWork`]
/// is `Send`).
fn pump(c: &mut Connection, s: &mut Connection, run: &mut Run) {
    loop {
        let co = c.pending_output().to_vec();
        c.consume_output(co.len());
        let so = s.pending_output().to_vec();
        s.consume_output(so.len());
        run.server_bytes.extend_from_slice(&so);
        if co.is_empty() && so.is_empty() {
            return;
        }
        s.feed(&co).unwrap();
        while let Some(work) = s.take_kex_work() {
            run.works += 1;
            assert!(s.kex_work_running());
            // Nothing of the exchange goes out before its step is done;
            // only a KEXINIT answering the client's re-exchange may wait
            // when the step is the RSA exchange's first (the transient key,
            // which the server sends first).
            let before = s.pending_output().len();
            let opens_rsa = format!("{work:?}").contains("rsa_transient_key");
            assert!(
                before == 0 || opens_rsa,
                "the server sent something of the exchange before its step was done"
            );
            assert!(s.take_kex_work().is_none(), "the same step was handed out twice");
            let done = std::thread::spawn(move || work.run()).join().unwrap();
            s.finish_kex_work(done).unwrap();
            assert!(!s.kex_work_running());
            assert!(
                s.pending_output().len() > before,
                "the step's message did not follow it"
            );
        }
        c.feed(&so).unwrap();
        while let Some(ev) = c.poll_event() {
            if let Event::HostKey { .. } = ev {
                c.accept_host_key().unwrap();
            }
            run.client_events.push(ev);
        }
        while s.poll_event().is_some() {}
    }
}

/// A handshake and one re-exchange; the server's step offloaded or not.
fn handshake_and_rekey(kex: &str, host_key: &str, offload: bool) -> Run {
    let mut c = Connection::client(Arc::new(client_config(kex, host_key)), rng(11));
    let mut s = Connection::server(Arc::new(server_config(offload)), rng(12));
    let mut run = Run::default();
    pump(&mut c, &mut s, &mut run);
    assert!(
        run.client_events
            .contains(&Event::ServiceAccepted("ssh-userauth".into())),
        "{kex} {host_key}: no service accept"
    );
    assert_eq!(c.session_id(), s.session_id());
    c.start_rekey();
    pump(&mut c, &mut s, &mut run);
    assert_eq!(
        (c.completed_kex_count(), s.completed_kex_count()),
        (2, 2),
        "{kex} {host_key}"
    );
    assert!(!c.is_closed() && !s.is_closed());
    run
}

#[test]
fn slow_steps_are_handed_out_and_send_the_same_bytes() {
    for (kex, host_key) in [
        ("diffie-hellman-group14-sha256", "ssh-ed25519"),
        ("diffie-hellman-group16-sha512", "ssh-ed25519"),
        ("diffie-hellman-group-exchange-sha256", "rsa-sha2-256"),
        ("curve25519-sha256", "rsa-sha2-512"),
        ("curve25519-sha256", "ssh-dss"),
    ] {
        let inline = handshake_and_rekey(kex, host_key, false);
        let offloaded = handshake_and_rekey(kex, host_key, true);
        assert_eq!(inline.works, 0, "{kex} {host_key}: work handed out with offload off");
        assert_eq!(offloaded.works, 2, "{kex} {host_key}: one step per exchange");
        assert!(
            inline.server_bytes == offloaded.server_bytes,
            "{kex} {host_key}: the offloaded exchange sent other bytes"
        );
    }
}

#[test]
fn rsa_key_exchange_hands_out_its_transient_key_and_decryption() {
    // RFC 4432: the server opens with a transient RSA key (a third of a
    // second to make for 2048 bits), then decrypts the client's secret
    // with it; both are steps of their own, drawn from the connection's
    // generator as inline, so the bytes are the same.
    for kex in ["rsa2048-sha256", "rsa1024-sha1"] {
        let inline = handshake_and_rekey(kex, "ssh-ed25519", false);
        let offloaded = handshake_and_rekey(kex, "ssh-ed25519", true);
        assert_eq!(inline.works, 0, "{kex}");
        assert_eq!(offloaded.works, 4, "{kex}: two steps per exchange");
        assert!(
            inline.server_bytes == offloaded.server_bytes,
            "{kex}: the offloaded exchange sent other bytes"
        );
    }
}

#[test]
fn randomized_signatures_are_handed_out_too() {
    // ECDSA signatures and aws-lc's ML-KEM encapsulation are randomized,
    // so only the count is compared: RSA host keys and finite-field DH are
    // slow, ECDSA and the hybrids are not.
    for (kex, host_key, works) in [
        ("mlkem768x25519-sha256", "rsa-sha2-256", 2),
        ("diffie-hellman-group14-sha256", "ecdsa-sha2-nistp256", 2),
        ("curve25519-sha256", "ecdsa-sha2-nistp256", 0),
    ] {
        assert_eq!(
            handshake_and_rekey(kex, host_key, true).works,
            works,
            "{kex} {host_key}"
        );
    }
}

#[test]
fn fast_exchanges_stay_inline() {
    for (kex, host_key) in [
        ("curve25519-sha256", "ssh-ed25519"),
        ("mlkem768x25519-sha256", "ssh-ed25519"),
        ("ecdh-sha2-nistp256", "ecdsa-sha2-nistp256"),
        ("sntrup761x25519-sha512@openssh.com", "ssh-ed25519"),
    ] {
        assert_eq!(handshake_and_rekey(kex, host_key, true).works, 0, "{kex} {host_key}");
    }
}

/// Brings a group14 exchange to the point where the server's step is
/// queued: the KEXDH_INIT went in and no reply came out.
fn to_queued_step() -> (Connection, Connection) {
    let mut c = Connection::client(
        Arc::new(client_config("diffie-hellman-group14-sha256", "ssh-ed25519")),
        rng(21),
    );
    let mut s = Connection::server(Arc::new(server_config(true)), rng(22));
    // Identifications and KEXINITs, then the client's KEXDH_INIT.
    for _ in 0..2 {
        let co = c.pending_output().to_vec();
        c.consume_output(co.len());
        s.feed(&co).unwrap();
        let so = s.pending_output().to_vec();
        s.consume_output(so.len());
        c.feed(&so).unwrap();
    }
    assert!(c.pending_output().is_empty() && s.pending_output().is_empty());
    assert!(s.kex_in_progress() && !s.kex_work_running());
    (c, s)
}

/// [`to_queued_step`], the step taken.
fn to_running_step() -> (Connection, Connection, tobira_proto::connection::KexWork) {
    let (c, mut s) = to_queued_step();
    let work = s.take_kex_work().expect("the server handed out no step");
    (c, s, work)
}

#[test]
fn input_waits_while_the_step_is_out() {
    let (mut c, mut s, work) = to_running_step();
    // The client gives up meanwhile: its DISCONNECT must wait behind the
    // exchange, in order.
    c.disconnect(tobira_proto::DisconnectReason::ByApplication, "bye");
    let co = c.pending_output().to_vec();
    s.feed(&co).unwrap();
    assert!(!s.is_closed(), "input was processed while the step was out");
    assert!(s.pending_output().is_empty());
    let e = s.finish_kex_work(work.run()).unwrap_err();
    assert!(matches!(e, Error::PeerDisconnected { .. }), "{e:?}");
    assert!(s.is_closed());
    // The reply and NEWKEYS went out before the DISCONNECT was read.
    assert!(!s.pending_output().is_empty());
}

#[test]
fn a_result_that_is_not_awaited_is_refused() {
    // None out: the connection's step was finished already.
    let (_c, mut s, work) = to_running_step();
    s.finish_kex_work(work.run()).unwrap();
    let (_, _, stray) = to_running_step();
    assert!(s.finish_kex_work(stray.run()).is_err());
    assert!(s.is_closed());
    // Another connection's result while this one's step is out.
    let (_c1, mut s1, _mine) = to_running_step();
    let (_, _, theirs) = to_running_step();
    let e = s1.finish_kex_work(theirs.run()).unwrap_err();
    assert!(e.to_string().contains("not awaited"), "{e}");
    assert!(s1.is_closed());
}

#[test]
fn a_closed_connection_hands_out_no_step() {
    // The application ends the connection while the step is queued.
    let (_c, mut s) = to_queued_step();
    s.disconnect(tobira_proto::DisconnectReason::ByApplication, "shutting down");
    assert!(s.take_kex_work().is_none());
    assert!(!s.kex_work_running());
}

#[test]
fn a_bad_public_value_is_refused_before_any_step_is_handed_out() {
    // e = 1 in a KEXDH_INIT: refused at once with KEY_EXCHANGE_FAILED, as
    // inline; no work is handed out for it.
    use tobira_proto::wire::Writer;
    let c = Connection::client(
        Arc::new(client_config("diffie-hellman-group14-sha256", "ssh-ed25519")),
        rng(31),
    );
    let mut s = Connection::server(Arc::new(server_config(true)), rng(32));
    // Identification and KEXINIT only: the client's KEXDH_INIT is replaced.
    let co = c.pending_output().to_vec();
    let kexinit_end = {
        let ident_end = co.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let len = u32::from_be_bytes(co[ident_end..ident_end + 4].try_into().unwrap()) as usize;
        ident_end + 4 + len
    };
    s.feed(&co[..kexinit_end]).unwrap();
    let mut payload = vec![30u8];
    payload.put_mpint(&[1]);
    let pad = 8 - (5 + payload.len()) % 8 + 8;
    let e = s.feed(&common::packet(&payload, pad)).unwrap_err();
    assert!(s.take_kex_work().is_none());
    assert!(s.is_closed());
    assert!(e.to_string().contains("invalid DH public value"), "{e}");
}

#[test]
fn a_bad_rsa_secret_is_refused_before_any_step_is_handed_out() {
    // A KEXRSA_SECRET one byte short of the transient key's modulus:
    // refused at once with KEY_EXCHANGE_FAILED, no decryption handed out.
    use tobira_proto::wire::Writer;
    let mut c = Connection::client(Arc::new(client_config("rsa2048-sha256", "ssh-ed25519")), rng(41));
    let mut s = Connection::server(Arc::new(server_config(true)), rng(42));
    // Identifications and KEXINITs; the server's first step, its
    // transient key, is handed out and done.
    let co = c.pending_output().to_vec();
    c.consume_output(co.len());
    s.feed(&co).unwrap();
    let work = s.take_kex_work().expect("the transient key was not handed out");
    s.finish_kex_work(work.run()).unwrap();
    assert!(!s.pending_output().is_empty(), "no KEXRSA_PUBKEY");
    let mut payload = vec![31u8];
    payload.put_string(&[7u8; 255]);
    let pad = 8 - (5 + payload.len()) % 8 + 8;
    let e = s.feed(&common::packet(&payload, pad)).unwrap_err();
    assert!(s.take_kex_work().is_none());
    assert!(s.is_closed());
    assert!(e.to_string().contains("encrypted RSA secret has length 255"), "{e}");
}
