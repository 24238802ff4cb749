//! Sans-IO handshakes between a tobira client and a tobira server, and the
//! hostile-input cases of the transport layer: each checks the DISCONNECT
//! reason and message, and that nothing panics.

mod common;

use std::sync::Arc;

use common::packet;
use rand::SeedableRng;
use tobira_proto::hostkey::SigningKey;
use tobira_proto::wire::Writer;
use tobira_proto::{Config, Connection, DisconnectReason, Error, Event};

fn key(name: &str) -> Arc<SigningKey> {
    let path = format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let k = ssh_key::PrivateKey::from_openssh(text).unwrap();
    Arc::new(SigningKey::from_ssh_key(&k).unwrap())
}

fn server_config() -> Config {
    let all = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Config {
        kex: all(tobira_proto::algorithms::KEX_SUPPORTED),
        mac: all(tobira_proto::algorithms::MAC_SUPPORTED),
        cipher: all(tobira_proto::algorithms::CIPHER_SUPPORTED),
        host_key: all(tobira_proto::algorithms::HOSTKEY_SUPPORTED),
        host_keys: vec![
            key("host_ed25519"),
            key("host_ecdsa"),
            key("host_rsa"),
            key("user_ecdsa384"),
            key("user_ecdsa521"),
            key("host_dsa"),
            Arc::new(SigningKey::from_ed448(&[7u8; 57], None).unwrap()),
        ],
        trace: true,
        ..Config::default()
    }
}

fn rng(seed: u64) -> Box<rand::rngs::StdRng> {
    Box::new(rand::rngs::StdRng::seed_from_u64(seed))
}

/// Moves bytes both ways until neither side has output; accepts host keys.
fn pump(c: &mut Connection, s: &mut Connection) -> (Vec<Event>, Vec<Event>, Result<(), Error>) {
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let co = c.pending_output().to_vec();
        c.consume_output(co.len());
        let so = s.pending_output().to_vec();
        s.consume_output(so.len());
        if co.is_empty() && so.is_empty() {
            return (ce, se, Ok(()));
        }
        if !co.is_empty() {
            if let Err(e) = s.feed(&co) {
                while let Some(ev) = s.poll_event() {
                    se.push(ev);
                }
                return (ce, se, Err(e));
            }
        }
        if !so.is_empty() {
            if let Err(e) = c.feed(&so) {
                while let Some(ev) = c.poll_event() {
                    ce.push(ev);
                }
                return (ce, se, Err(e));
            }
        }
        while let Some(ev) = c.poll_event() {
            if let Event::HostKey { .. } = ev {
                c.accept_host_key().unwrap();
            }
            if let Event::ServiceAccepted(_) = ev {
                c.userauth_none("alice").unwrap();
            }
            ce.push(ev);
        }
        while let Some(ev) = s.poll_event() {
            if let Event::AuthRequest(_) = ev {
                let methods = s_methods();
                s.auth_reject(&methods, false).unwrap();
            }
            se.push(ev);
        }
    }
    panic!("no quiescence");
}

fn s_methods() -> Vec<String> {
    vec!["publickey".into(), "password".into(), "keyboard-interactive".into()]
}

fn handshake(client: Config, server: Config) -> (Vec<Event>, Vec<Event>) {
    let mut c = Connection::client(Arc::new(client), rng(1));
    let mut s = Connection::server(Arc::new(server), rng(2));
    let (ce, se, r) = pump(&mut c, &mut s);
    r.unwrap();
    assert!(c.strict_kex() && s.strict_kex());
    assert_eq!(c.session_id(), s.session_id());
    (ce, se)
}

fn only(list: &str) -> Vec<String> {
    vec![list.to_string()]
}

#[test]
fn every_algorithm_reaches_userauth_failure() {
    let mut cases: Vec<Config> = Vec::new();
    for k in tobira_proto::algorithms::KEX_SUPPORTED {
        cases.push(Config {
            kex: only(k),
            ..Config::default()
        });
    }
    for h in tobira_proto::algorithms::HOSTKEY_SUPPORTED {
        cases.push(Config {
            host_key: only(h),
            ..Config::default()
        });
    }
    for ci in tobira_proto::algorithms::CIPHER_SUPPORTED {
        for m in tobira_proto::algorithms::MAC_SUPPORTED {
            cases.push(Config {
                cipher: only(ci),
                mac: only(m),
                ..Config::default()
            });
        }
    }
    for cfg in cases {
        let label = format!("{:?} {:?} {:?} {:?}", cfg.kex, cfg.host_key, cfg.cipher, cfg.mac);
        let (ce, se) = handshake(cfg.clone(), server_config());
        let neg = ce.iter().find_map(|e| match e {
            Event::Negotiated { algorithms, .. } => Some(algorithms.clone()),
            _ => None,
        });
        let neg = neg.unwrap();
        if cfg.kex.len() == 1 {
            assert_eq!(neg.kex, cfg.kex[0], "{label}");
        }
        if cfg.host_key.len() == 1 {
            assert_eq!(neg.host_key, cfg.host_key[0], "{label}");
        }
        assert!(ce.contains(&Event::ServiceAccepted("ssh-userauth".into())), "{label}");
        assert!(ce.iter().any(|e| matches!(e, Event::ExtInfo(_))), "{label}");
        assert!(
            ce.contains(&Event::AuthFailure {
                methods: vec!["publickey".into(), "password".into(), "keyboard-interactive".into()],
                partial: false
            }),
            "{label}"
        );
        assert!(se.iter().any(
            |e| matches!(e, Event::AuthRequest(r) if r.request.user == "alice" && r.request.method.name() == "none")
        ));
    }
}

#[test]
fn seed_suite_traces_group_exchange() {
    let cfg = Config {
        kex: only("diffie-hellman-group-exchange-sha256"),
        host_key: vec!["rsa-sha2-256".into()],
        cipher: only("aes256-ctr"),
        mac: only("hmac-sha2-256"),
        trace: true,
        ..Config::default()
    };
    let (ce, _) = handshake(cfg, server_config());
    let trace: String = ce
        .iter()
        .filter_map(|e| match e {
            Event::Trace(t) => Some(t.clone() + "\n"),
            _ => None,
        })
        .collect();
    for needle in [
        ">> SSH_MSG_KEX_DH_GEX_REQUEST (34)",
        "<< SSH_MSG_KEX_DH_GEX_GROUP (31)",
        ">> SSH_MSG_KEX_DH_GEX_INIT (32)",
        "<< SSH_MSG_KEX_DH_GEX_REPLY (33)",
        "p (DH modulus): mpint, 8192 bits",
        "host key type: ssh-rsa",
        "signature: rsa-sha2-256, 256 bytes",
        "== client->server: cipher aes256-ctr MAC hmac-sha2-256 compression none",
        ">> SSH_MSG_NEWKEYS (21)",
        ">> SSH_MSG_SERVICE_REQUEST (5)",
        "kex_algorithms string: diffie-hellman-group-exchange-sha256,ext-info-c,kex-strict-c-v00@openssh.com",
    ] {
        assert!(trace.contains(needle), "missing {needle:?} in\n{trace}");
    }
}

/// Runs a client against a server whose bytes are replaced by `tamper`
/// after the identification exchange; returns the client's error.
fn client_error(server_bytes: &[u8]) -> Error {
    let mut c = Connection::client(Arc::new(Config::default()), rng(3));
    let e = c.feed(server_bytes).unwrap_err();
    // A DISCONNECT was queued (after the ident and KEXINIT).
    assert!(c.is_closed());
    e
}

const IDENT: &[u8] = b"SSH-2.0-OpenSSH_9.2p1\r\n";

#[test]
fn oversized_or_unaligned_packet_is_refused() {
    let mut b = IDENT.to_vec();
    b.put_u32(1_000_000);
    let e = client_error(&b);
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
    assert_eq!(e.to_string(), "Bad packet length 1000000.");
    let mut b = IDENT.to_vec();
    b.extend(packet(&[20; 7], 5)); // 4+1+7+5 = 17: not a multiple of 8
    let e = client_error(&b);
    assert!(e.to_string().contains("not a multiple of the block size"), "{e}");
}

#[test]
fn padding_under_four_bytes_is_refused() {
    let mut b = IDENT.to_vec();
    b.extend(packet(&[2, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1)); // 4+1+10+1 = 16
    let e = client_error(&b);
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
    assert!(e.to_string().starts_with("Bad padding length 1"), "{e}");
}

#[test]
fn bad_identification_lines() {
    let mut s = Connection::server(Arc::new(server_config()), rng(4));
    let long = format!("SSH-2.0-{}\r\n", "x".repeat(300));
    let e = s.feed(long.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("too long"), "{e}");
    let mut s = Connection::server(Arc::new(server_config()), rng(4));
    let e = s.feed(b"SSH-1.5-ancient\r\n").unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolVersionNotSupported));
    let mut s = Connection::server(Arc::new(server_config()), rng(4));
    let e = s.feed(b"GET / HTTP/1.1\r\n").unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
}

#[test]
fn no_common_algorithm_names_category_and_lists() {
    let client = Config {
        cipher: only("aes128-ctr"),
        ..Config::default()
    };
    let server = Config {
        cipher: only("aes256-gcm@openssh.com"),
        ..server_config()
    };
    let mut c = Connection::client(Arc::new(client), rng(1));
    let mut s = Connection::server(Arc::new(server), rng(2));
    let (_, _, r) = pump(&mut c, &mut s);
    let e = r.unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::KeyExchangeFailed));
    assert_eq!(
        e.to_string(),
        "no matching cipher found. Their offer: aes256-gcm@openssh.com"
    );
}

/// Feeds the server a plaintext message after a valid client KEXINIT.
fn server_after_kexinit(extra: &[u8]) -> Error {
    server_after_kexinit_with("curve25519-sha256", extra)
}

/// A server that received a client's KEXINIT offering only `kex`, then
/// `extra` as the next packet: the error it ends with.
fn server_after_kexinit_with(kex: &str, extra: &[u8]) -> Error {
    let client = Config {
        kex: only(kex),
        ..Config::default()
    };
    let c = Connection::client(Arc::new(client), rng(1));
    let mut s = Connection::server(Arc::new(server_config()), rng(2));
    let hello = c.pending_output().to_vec();
    s.feed(&hello).unwrap();
    s.feed(&packet_aligned(extra)).unwrap_err()
}

fn packet_aligned(payload: &[u8]) -> Vec<u8> {
    let mut pad = 8 - (5 + payload.len()) % 8;
    if pad < 4 {
        pad += 8;
    }
    packet(payload, pad)
}

#[test]
fn newkeys_before_reply_is_refused() {
    let e = server_after_kexinit(&[21]);
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
    assert_eq!(e.to_string(), "NEWKEYS before the key exchange reply");
}

#[test]
fn kexdh_reply_sent_to_server_is_refused() {
    let mut m = vec![31u8];
    m.put_string(b"key");
    m.put_string(b"q");
    m.put_string(b"sig");
    let e = server_after_kexinit(&m);
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
    assert!(
        e.to_string().contains("unexpected message SSH_MSG_KEX_ECDH_REPLY (31)"),
        "{e}"
    );
}

#[test]
fn ignore_during_strict_initial_kex_is_refused() {
    let e = server_after_kexinit(&[2, 0, 0, 0, 0]);
    assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
    assert_eq!(
        e.to_string(),
        "strict KEX violation: unexpected message type 2 during initial key exchange"
    );
}

#[test]
fn ignore_before_kexinit_under_strict_kex_is_refused() {
    // Terrapin-style: an IGNORE injected before the server's KEXINIT shifts
    // sequence numbers; with strict KEX the client refuses it.
    let s = Connection::server(Arc::new(server_config()), rng(2));
    let out = s.pending_output().to_vec();
    let ident_end = out.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut tampered = out[..ident_end].to_vec();
    tampered.extend(packet_aligned(&[2, 0, 0, 0, 0]));
    tampered.extend_from_slice(&out[ident_end..]);
    let e = client_error(&tampered);
    assert_eq!(e.to_string(), "strict KEX violation: KEXINIT was not the first packet");
}

#[test]
fn zero_x25519_value_is_refused() {
    let mut q = vec![30u8];
    q.put_string(&[0u8; 32]);
    let e = server_after_kexinit(&q);
    assert_eq!(e.reason(), Some(DisconnectReason::KeyExchangeFailed));
    assert!(e.to_string().contains("ECDH"), "{e}");
}

/// Hybrid and curve448 public values of the wrong length or of small
/// order: KEY_EXCHANGE_FAILED, no panic.
#[test]
fn bad_hybrid_and_curve448_values_are_refused() {
    for (kex, len) in [
        ("mlkem768x25519-sha256", 1216),
        ("sntrup761x25519-sha512", 1190),
        ("sntrup761x25519-sha512@openssh.com", 1190),
        ("mlkem768nistp256-sha256", 1249),
        ("mlkem1024nistp384-sha384", 1665),
    ] {
        for bad in [0, 32, len - 1, len + 1, 30_000] {
            let mut q = vec![30u8];
            q.put_string(&vec![7u8; bad]);
            let e = server_after_kexinit_with(kex, &q);
            assert_eq!(
                e.reason(),
                Some(DisconnectReason::KeyExchangeFailed),
                "{kex} {bad}: {e}"
            );
        }
    }
    // Small-order curve448 points (RFC 7748 §6.2: 0 and 1 give an all-zero
    // secret), and a wrong length.
    for point in [
        vec![0u8; 56],
        {
            let mut p = vec![0u8; 56];
            p[0] = 1;
            p
        },
        vec![5u8; 57],
    ] {
        let mut q = vec![30u8];
        q.put_string(&point);
        let e = server_after_kexinit_with("curve448-sha512", &q);
        assert_eq!(e.reason(), Some(DisconnectReason::KeyExchangeFailed), "{e}");
    }
}

/// An RSA key exchange where the client sends a secret of the wrong size.
#[test]
fn bad_rsa_kex_secret_is_refused() {
    for bad in [0usize, 1, 255, 257, 4096] {
        let mut m = vec![31u8];
        m.put_string(&vec![1u8; bad]);
        let e = server_after_kexinit_with("rsa2048-sha256", &m);
        assert_eq!(e.reason(), Some(DisconnectReason::KeyExchangeFailed), "{bad}: {e}");
    }
}

/// A KEXINIT with 10,000 names, and one with a 1 MiB name-list: refused
/// by the packet limits before any allocation of that size, with a
/// DISCONNECT and no panic.
#[test]
fn oversized_kexinit_is_refused() {
    let c = Connection::client(Arc::new(Config::default()), rng(1));
    let hello = c.pending_output().to_vec();
    let ident_end = hello.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    for names in [
        (0..10_000)
            .map(|i| format!("x{i}@example.com"))
            .collect::<Vec<_>>()
            .join(","),
        "a".repeat(1 << 20),
    ] {
        let mut s = Connection::server(Arc::new(server_config()), rng(2));
        s.feed(&hello[..ident_end]).unwrap();
        let mut ki = vec![20u8];
        ki.extend_from_slice(&[0u8; 16]);
        for _ in 0..10 {
            ki.put_string(names.as_bytes());
        }
        ki.push(0);
        ki.put_u32(0);
        let e = s.feed(&packet_aligned(&ki)).unwrap_err();
        assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError), "{e}");
        assert!(e.to_string().contains("Bad packet length"), "{e}");
        assert!(s.is_closed());
    }
}

/// 10,000 names that do fit in a packet: parsed and negotiated without
/// trouble (the one real method at the end is chosen).
#[test]
fn kexinit_with_ten_thousand_short_names_negotiates() {
    let d = Config::default();
    let mut kex = vec!["x".to_string(); 10_000];
    kex.push("curve25519-sha256".into());
    let ki = tobira_proto::msg::transport::KexInit {
        kex,
        host_key: d.host_key.clone(),
        cipher_c2s: d.cipher.clone(),
        cipher_s2c: d.cipher.clone(),
        mac_c2s: d.mac.clone(),
        mac_s2c: d.mac.clone(),
        comp_c2s: d.compression.clone(),
        comp_s2c: d.compression.clone(),
        ..Default::default()
    };
    let c = Connection::client(Arc::new(Config::default()), rng(1));
    let hello = c.pending_output().to_vec();
    let ident_end = hello.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut s = Connection::server(Arc::new(server_config()), rng(2));
    s.feed(&hello[..ident_end]).unwrap();
    s.feed(&packet_aligned(&ki.encode())).unwrap();
    let neg = std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        Event::Negotiated { algorithms, .. } => Some(algorithms.kex),
        _ => None,
    });
    assert_eq!(neg.as_deref(), Some("curve25519-sha256"));
}

#[test]
fn dh_values_outside_range_are_refused() {
    for bad in [vec![0u8], vec![1u8], vec![0xffu8; 256], vec![0xffu8; 300]] {
        let client = Config {
            kex: only("diffie-hellman-group14-sha256"),
            ..Config::default()
        };
        let c = Connection::client(Arc::new(client), rng(1));
        let mut s = Connection::server(Arc::new(server_config()), rng(2));
        let hello = c.pending_output().to_vec();
        s.feed(&hello).unwrap();
        let mut m = vec![30u8];
        m.put_mpint(&bad);
        let e = s.feed(&packet_aligned(&m)).unwrap_err();
        assert_eq!(e.reason(), Some(DisconnectReason::KeyExchangeFailed), "{e}");
        assert!(
            e.to_string().contains("DH") || e.to_string().contains("not in [2, p-2]"),
            "{e}"
        );
    }
}

#[test]
fn invalid_p256_point_is_refused() {
    let client = Config {
        kex: only("ecdh-sha2-nistp256"),
        ..Config::default()
    };
    let c = Connection::client(Arc::new(client), rng(1));
    let mut s = Connection::server(Arc::new(server_config()), rng(2));
    let hello = c.pending_output().to_vec();
    s.feed(&hello).unwrap();
    let mut m = vec![30u8];
    let mut point = vec![4u8];
    point.extend_from_slice(&[0x11; 64]);
    m.put_string(&point);
    let e = s.feed(&packet_aligned(&m)).unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::KeyExchangeFailed));
}

/// A man in the middle replaces the server's signature: the client aborts.
#[test]
fn bad_host_key_signature_aborts() {
    let mut c = Connection::client(Arc::new(Config::default()), rng(1));
    let mut s = Connection::server(Arc::new(server_config()), rng(2));
    let co = c.pending_output().to_vec();
    c.consume_output(co.len());
    s.feed(&co).unwrap();
    let co = c.pending_output().to_vec();
    c.consume_output(co.len());
    let so = s.pending_output().to_vec();
    s.consume_output(so.len());
    c.feed(&so).unwrap();
    let co = c.pending_output().to_vec();
    c.consume_output(co.len());
    s.feed(&co).unwrap();
    let mut so = s.pending_output().to_vec();
    // The reply is the first packet; flip a byte of the signature near its end.
    let reply_len = u32::from_be_bytes([so[0], so[1], so[2], so[3]]) as usize;
    let pad = so[4] as usize;
    let sig_last = 4 + reply_len - pad - 1;
    so[sig_last] ^= 0x01;
    let e = c.feed(&so).unwrap_err();
    assert_eq!(e.reason(), Some(DisconnectReason::KeyExchangeFailed));
    assert!(e.to_string().contains("host key signature verification failed"), "{e}");
    while let Some(ev) = c.poll_event() {
        assert!(
            !matches!(ev, Event::HostKey { .. }),
            "host key offered despite a bad signature"
        );
    }
}

/// After keys are in force, a flipped bit anywhere in a packet is a MAC error.
#[test]
fn corrupted_encrypted_packet_is_a_mac_error() {
    for (cipher, mac) in [
        ("chacha20-poly1305@openssh.com", "hmac-sha2-256"),
        ("aes128-gcm@openssh.com", "hmac-sha2-256"),
        ("aes256-ctr", "hmac-sha2-256"),
        ("aes128-ctr", "hmac-sha2-512-etm@openssh.com"),
        ("aes256-cbc", "hmac-sha2-256"),
        ("3des-cbc", "hmac-sha1-etm@openssh.com"),
        ("aes192-ctr", "hmac-sha1-96"),
    ] {
        for offset in [6usize, 10, 20, 30] {
            let cfg = Config {
                cipher: only(cipher),
                mac: only(mac),
                ..Config::default()
            };
            let mut c = Connection::client(Arc::new(cfg), rng(1));
            let mut s = Connection::server(Arc::new(server_config()), rng(2));
            let (_, _, r) = pump(&mut c, &mut s);
            r.unwrap();
            c.userauth_none("bob").unwrap();
            let mut bytes = c.pending_output().to_vec();
            let i = offset.min(bytes.len() - 1);
            bytes[i] ^= 0x40;
            let e = s.feed(&bytes).unwrap_err();
            let ok = e.reason() == Some(DisconnectReason::MacError)
                || (e.reason() == Some(DisconnectReason::ProtocolError)
                    && e.to_string().starts_with("Bad packet length"));
            assert!(ok, "{cipher}/{mac} offset {offset}: {e}");
            while let Some(ev) = s.poll_event() {
                assert!(
                    !matches!(ev, Event::AuthRequest { .. }),
                    "corrupted request was delivered"
                );
            }
        }
    }
}

#[test]
fn connection_messages_and_client_success_before_auth_are_refused() {
    let mut channel_open = vec![90u8];
    channel_open.put_string(b"session");
    channel_open.put_u32(0);
    channel_open.put_u32(1 << 20);
    channel_open.put_u32(32768);
    for (msg, want) in [
        (
            channel_open,
            "connection protocol message type 90 before authentication",
        ),
        (
            vec![80u8, 0, 0, 0, 1, b'x', 1],
            "connection protocol message type 80 before authentication",
        ),
        (vec![52u8], "unexpected SSH_MSG_USERAUTH_SUCCESS (52) from the client"),
    ] {
        let mut c = Connection::client(Arc::new(Config::default()), rng(1));
        let mut s = Connection::server(Arc::new(server_config()), rng(2));
        let (_, _, r) = pump(&mut c, &mut s);
        r.unwrap();
        c.send_payload(msg).unwrap();
        let bytes = c.pending_output().to_vec();
        let e = s.feed(&bytes).unwrap_err();
        assert_eq!(e.reason(), Some(DisconnectReason::ProtocolError));
        assert_eq!(e.to_string(), want);
        // The server's DISCONNECT reaches the client with the reason.
        let out = s.pending_output().to_vec();
        let ce = c.feed(&out).unwrap_err();
        assert_eq!(
            ce,
            Error::PeerDisconnected {
                code: 2,
                message: want.into()
            }
        );
    }
}

/// Random bytes after a valid identification never panic either side.
#[test]
fn random_input_never_panics() {
    use rand::RngCore;
    let mut r = rand::rngs::StdRng::seed_from_u64(99);
    for i in 0..300 {
        let mut junk = vec![0u8; (r.next_u32() % 2000) as usize];
        r.fill_bytes(&mut junk);
        if i % 3 == 0 && junk.len() > 5 {
            // A plausible length prefix so the parser gets further.
            let len = (junk.len() - 4) as u32;
            junk[..4].copy_from_slice(&len.to_be_bytes());
            junk[5] = 20;
        }
        let mut s = Connection::server(Arc::new(server_config()), rng(i));
        let mut input = IDENT.to_vec();
        input.extend_from_slice(&junk);
        let _ = s.feed(&input);
        let mut c = Connection::client(Arc::new(Config::default()), rng(i));
        let _ = c.feed(&input);
    }
}

/// Splits plaintext packets (before NEWKEYS) after the identification line.
fn plaintext_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    let start = bytes.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut at = start;
    let mut out = Vec::new();
    while at + 5 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let pad = bytes[at + 4] as usize;
        out.push(bytes[at + 5..at + 4 + len - pad].to_vec());
        at += 4 + len;
    }
    out
}

fn client_kexinit(kex: &[&str], follows: bool) -> Vec<u8> {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    tobira_proto::msg::transport::KexInit {
        kex: v(kex),
        host_key: v(&["ssh-ed25519"]),
        cipher_c2s: v(&["aes128-ctr"]),
        cipher_s2c: v(&["aes128-ctr"]),
        mac_c2s: v(&["hmac-sha2-256"]),
        mac_s2c: v(&["hmac-sha2-256"]),
        comp_c2s: v(&["none"]),
        comp_s2c: v(&["none"]),
        first_kex_packet_follows: follows,
        ..Default::default()
    }
    .encode()
}

fn ecdh_init() -> Vec<u8> {
    let kp = tobira_proto::kex::ecdh::EcdhKeyPair::generate(tobira_proto::kex::Curve::X25519, &mut rand::rngs::OsRng)
        .unwrap();
    let mut m = vec![30u8];
    m.put_string(&kp.public);
    m
}

/// RFC 4253 §7.1: a wrongly guessed kex packet is ignored; a right guess
/// is used.
#[test]
fn first_kex_packet_follows_wrong_and_right_guess() {
    // Wrong guess: the client guessed group14, the server only speaks curve25519.
    let server = Config {
        kex: only("curve25519-sha256"),
        ..server_config()
    };
    let mut s = Connection::server(Arc::new(server.clone()), rng(5));
    let mut input = b"SSH-2.0-guesser\r\n".to_vec();
    input.extend(packet_aligned(&client_kexinit(
        &["diffie-hellman-group14-sha256", "curve25519-sha256"],
        true,
    )));
    let mut guess = vec![30u8];
    guess.put_mpint(&[0x42; 256]);
    input.extend(packet_aligned(&guess));
    input.extend(packet_aligned(&ecdh_init()));
    s.feed(&input).unwrap();
    let replies = plaintext_payloads(s.pending_output());
    assert_eq!(
        replies.iter().map(|p| p[0]).collect::<Vec<_>>(),
        vec![20, 31, 21],
        "KEXINIT, ECDH reply, NEWKEYS"
    );

    // Right guess: the same packet is the real ECDH init.
    let mut s = Connection::server(Arc::new(server), rng(5));
    let mut input = b"SSH-2.0-guesser\r\n".to_vec();
    input.extend(packet_aligned(&client_kexinit(&["curve25519-sha256"], true)));
    input.extend(packet_aligned(&ecdh_init()));
    s.feed(&input).unwrap();
    let replies = plaintext_payloads(s.pending_output());
    assert_eq!(replies.iter().map(|p| p[0]).collect::<Vec<_>>(), vec![20, 31, 21]);
}

/// RFC 4253 §9: either side re-exchanges keys; the session identifier stays,
/// data sent meanwhile is held and then delivered.
#[test]
fn rekey_from_either_side_keeps_session_and_holds_data() {
    for client_starts in [true, false] {
        let cfg = Config {
            trace: false,
            ..Config::default()
        };
        let mut c = Connection::client(Arc::new(cfg), rng(11));
        let mut s = Connection::server(Arc::new(server_config()), rng(12));
        let (_, _, r) = pump(&mut c, &mut s);
        r.unwrap();
        let sid = c.session_id().unwrap().to_vec();
        if client_starts {
            c.start_rekey();
        } else {
            s.start_rekey();
        }
        assert!(c.kex_in_progress() || s.kex_in_progress());
        // Sent during the re-exchange: held until NEWKEYS.
        c.userauth_none("carol").unwrap();
        let (ce, se, r) = pump(&mut c, &mut s);
        r.unwrap();
        assert!(
            ce.contains(&Event::KexDone { first: false }),
            "client_starts={client_starts}"
        );
        assert!(se.contains(&Event::KexDone { first: false }));
        assert!(
            !ce.iter().any(|e| matches!(e, Event::HostKey { .. })),
            "same host key is not asked about again"
        );
        assert_eq!(c.session_id().unwrap(), &sid[..]);
        assert_eq!(s.session_id().unwrap(), &sid[..]);
        let done = se.iter().position(|e| *e == Event::KexDone { first: false }).unwrap();
        let req = se
            .iter()
            .position(|e| matches!(e, Event::AuthRequest(r) if r.request.user == "carol"))
            .unwrap();
        if client_starts {
            assert!(req > done, "held request delivered after the re-exchange");
        } else {
            // The client had not seen the server's KEXINIT yet, so it sent
            // at once, which the server accepts (RFC 4253 §7.1).
            assert!(req < done);
        }
    }
}

/// Unknown message numbers after the key exchange get UNIMPLEMENTED with
/// the packet's sequence number; DEBUG with always_display surfaces.
#[test]
fn unimplemented_and_debug() {
    let mut c = Connection::client(Arc::new(Config::default()), rng(1));
    let mut s = Connection::server(Arc::new(server_config()), rng(2));
    let (_, _, r) = pump(&mut c, &mut s);
    r.unwrap();
    c.send_payload(vec![200, 1, 2, 3]).unwrap();
    let mut dbg = vec![4u8, 1];
    dbg.put_string(b"hello from the client");
    dbg.put_string(b"");
    c.send_payload(dbg).unwrap();
    let bytes = c.pending_output().to_vec();
    c.consume_output(bytes.len());
    s.feed(&bytes).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&Event::Debug("hello from the client".into())));
    // Strict KEX reset the client's sequence numbers at NEWKEYS: SERVICE_REQUEST
    // was 0, USERAUTH_REQUEST 1, so the unknown message is 2.
    let trace: String = events
        .iter()
        .filter_map(|e| match e {
            Event::Trace(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!(trace.contains(">> SSH_MSG_UNIMPLEMENTED (3)"), "{trace}");
    assert!(trace.contains("rejected sequence number: 2"), "{trace}");
    let back = s.pending_output().to_vec();
    c.feed(&back).unwrap();
    assert!(!c.is_closed());
}
