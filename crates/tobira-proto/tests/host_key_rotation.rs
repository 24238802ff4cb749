//! Host key rotation through the sans-IO core (OpenSSH PROTOCOL §2.5): the
//! server's `hostkeys-00@openssh.com` after authentication, proofs of
//! possession by `hostkeys-prove-00@openssh.com`, and the requests a
//! hostile client can make of it.

mod common;

use std::sync::Arc;

use common::{key, pump, rng};
use tobira_proto::wire::Writer;
use tobira_proto::{Config, Connection, Event};

const PROVE: &str = "hostkeys-prove-00@openssh.com";

/// A client and a server holding `keys`, authenticated; the client's
/// events from the authentication on.
fn authed(client: Config, server: Config) -> (Connection, Connection, Vec<Event>) {
    let mut c = Connection::client(Arc::new(client), rng(1));
    let mut s = Connection::server(Arc::new(server), rng(2));
    pump(&mut c, &mut s);
    c.userauth_password("u", "p", None).unwrap();
    pump(&mut c, &mut s);
    s.auth_accept().unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert!(c.is_authenticated());
    (c, s, ce)
}

fn server_with(names: &[&str]) -> Config {
    Config {
        host_keys: names.iter().map(|n| Arc::new(key(n))).collect(),
        ..Config::default()
    }
}

fn blob(name: &str) -> Vec<u8> {
    key(name).public_blob().to_vec()
}

fn offered(events: &[Event]) -> Vec<Vec<Vec<u8>>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::HostKeysOffered { keys } => Some(keys.clone()),
            _ => None,
        })
        .collect()
}

fn outcome(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| matches!(e, Event::HostKeysProven { .. } | Event::HostKeysNotProven { .. }))
        .cloned()
        .collect()
}

fn strings(blobs: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    for b in blobs {
        d.put_string(b);
    }
    d
}

#[test]
fn the_server_lists_each_host_key_once_after_authentication() {
    let server = server_with(&["host_ed25519", "host_rsa", "host_ecdsa", "host_ed25519"]);
    let (_, _, ce) = authed(Config::default(), server);
    assert_eq!(
        offered(&ce),
        vec![vec![blob("host_ed25519"), blob("host_rsa"), blob("host_ecdsa")]]
    );
    // Before authentication nothing is said.
    let mut c = Connection::client(Arc::new(Config::default()), rng(1));
    let mut s = Connection::server(Arc::new(server_with(&["host_ed25519"])), rng(2));
    let (ce, _) = pump(&mut c, &mut s);
    assert!(offered(&ce).is_empty());
    // And not at all when turned off.
    let quiet = Config {
        announce_host_keys: false,
        ..server_with(&["host_ed25519", "host_rsa"])
    };
    let (_, _, ce) = authed(Config::default(), quiet);
    assert!(offered(&ce).is_empty());
}

#[test]
fn every_key_type_is_proven_over_this_session() {
    let server = server_with(&["host_ed25519", "host_rsa", "host_ecdsa", "host_dsa"]);
    let (mut c, mut s, _) = authed(Config::default(), server);
    let want = vec![blob("host_rsa"), blob("host_ecdsa"), blob("host_dsa")];
    c.prove_host_keys(want.clone()).unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert_eq!(outcome(&ce), vec![Event::HostKeysProven { keys: want }]);
    // The application's own global requests still get their replies.
    c.global_request("example@tobira", true, &[]).unwrap();
    let (ce, se) = pump(&mut c, &mut s);
    assert!(se
        .iter()
        .any(|e| matches!(e, Event::GlobalRequest { name, .. } if name == "example@tobira")));
    s.global_request_reply(false, &[]).unwrap();
    let (ce2, _) = pump(&mut c, &mut s);
    assert!(outcome(&ce).is_empty() && outcome(&ce2).is_empty());
    assert!(ce2.contains(&Event::GlobalReply {
        success: false,
        data: Vec::new()
    }));
}

#[test]
fn an_rsa_key_proven_with_sha1_only_is_left_out() {
    // A client that offers no rsa-sha2 algorithm gets an ssh-rsa (SHA-1)
    // proof, which OpenSSH's client, and ours, do not take.
    let client = Config {
        host_key: vec!["ssh-ed25519".into(), "ssh-rsa".into()],
        ..Config::default()
    };
    let (mut c, mut s, _) = authed(client, server_with(&["host_ed25519", "host_rsa"]));
    c.prove_host_keys(vec![blob("host_rsa"), blob("host_ed25519")]).unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert_eq!(
        outcome(&ce),
        vec![Event::HostKeysProven {
            keys: vec![blob("host_ed25519")]
        }]
    );
}

#[test]
fn a_key_the_server_does_not_hold_is_refused_and_the_connection_goes_on() {
    let (mut c, mut s, _) = authed(Config::default(), server_with(&["host_ed25519"]));
    c.prove_host_keys(vec![blob("host_ed25519"), blob("host_rsa")]).unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert!(
        matches!(&outcome(&ce)[..], [Event::HostKeysNotProven { reason }] if reason.contains("failed to confirm")),
        "{ce:?}"
    );
    assert!(!c.is_closed() && !s.is_closed());
}

/// Requests a client builds by hand: each gets REQUEST_FAILURE, never a
/// disconnect, and a client cannot make the server sign without end.
#[test]
fn hostile_proof_requests_get_failures() {
    let (mut c, mut s, _) = authed(Config::default(), server_with(&["host_ed25519", "host_rsa"]));
    let ed = blob("host_ed25519");
    let mut truncated = strings(std::slice::from_ref(&ed));
    truncated.pop();
    let too_many = strings(&[ed.clone(), blob("host_rsa"), ed.clone()]);
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        truncated,
        strings(&[ed.clone(), ed.clone()]),
        too_many,
        vec![0xff, 0xff, 0xff, 0xff],
    ];
    for data in cases {
        c.global_request(PROVE, true, &data).unwrap();
        let (ce, _) = pump(&mut c, &mut s);
        assert!(
            ce.contains(&Event::GlobalReply {
                success: false,
                data: Vec::new()
            }),
            "{data:?}: {ce:?}"
        );
    }
    assert!(!s.is_closed());
    // Well-formed requests: two are answered, then no more.
    for answered in [true, true, false, false] {
        c.global_request(PROVE, true, &strings(std::slice::from_ref(&ed)))
            .unwrap();
        let (ce, _) = pump(&mut c, &mut s);
        let reply = ce.iter().find_map(|e| match e {
            Event::GlobalReply { success, .. } => Some(*success),
            _ => None,
        });
        assert_eq!(reply, Some(answered));
    }
}

#[test]
fn a_client_ignores_requests_meant_for_servers() {
    // A server asking its client for proofs gets a failure.
    let (mut c, mut s, _) = authed(Config::default(), server_with(&["host_ed25519"]));
    s.global_request(PROVE, true, &strings(&[blob("host_ed25519")]))
        .unwrap();
    let (_, se) = pump(&mut c, &mut s);
    assert!(se.contains(&Event::GlobalReply {
        success: false,
        data: Vec::new()
    }));
    // A second announcement is not passed on.
    s.global_request("hostkeys-00@openssh.com", false, &strings(&[blob("host_rsa")]))
        .unwrap();
    let (ce, _) = pump(&mut c, &mut s);
    assert!(offered(&ce).is_empty(), "{ce:?}");
    assert!(!c.is_closed());
}
